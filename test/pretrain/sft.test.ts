/**
 * SFT maths and data: the shared-image-prefix losses equal each row scored alone (teacher-forced log-probs of
 * the model's own scorer), gradients reach the ViT through the shared prefix, nothing leaks; the rows carry
 * the intended completions (MC in 'text' and 'letter' modes, POPE think texts, captions, CFG-unconditional
 * generation prompts); time budgets and the warm-up + cosine schedule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { MultiModalityCausalLM } from '../../src/model/ulm.js';
import { leftPad, rightPad, withImages, type UnderstandingBatch } from '../../src/model/inputs.js';
import { scoreText } from '../../src/model/logprobs.js';
import { pretrainPreset } from '../../src/pretrain/presets.js';
import { textTokenLosses, worldTokenizer } from '../../src/pretrain/sft.js';
import { SftData, mcFact, popeThink, positionThink } from '../../src/pretrain/data.js';
import { vitPixels } from '../../src/model/preprocess.js';
import { Budget, LogEvery, warmupCosine } from '../../src/pretrain/schedule.js';
import { mcqAccuracy, formatReward } from '../../src/world/answers.js';

torch.setNumThreads(1);
const tok = worldTokenizer();
const cfg = pretrainPreset('world-micro').model(tok.vocabSize);

test('shared image prefixes give exactly the per-row losses, with gradients into the ViT, and leak nothing', () => {
  const model = new MultiModalityCausalLM(cfg, { generator: new torch.Generator(3) });
  const data = new SftData(tok, model.numImageTokens, {
    seed: 2,
    perImage: 3,
    mcAnswer: 'text',
    popeThink: 'shape',
  });
  const b = data.batch({ caption: 2, oe: 2, mcq: 2, pope: 2, mcq_text: 2 });
  assert.equal(b.text.length, 10);
  assert.equal(
    new Set(b.text.filter((r) => r.image).map((r) => r.image)).size,
    3,
    '8 image rows on 3 scenes',
  );
  const live = torch.liveTensors();
  const order: [number, number][] = [];
  const got = torch.tidy(() => {
    const { losses, release } = textTokenLosses(model, tok, b.text, (row, j) =>
      order.push([b.text.indexOf(row), j]),
    );
    losses.sum().backward();
    release();
    return losses.toArray();
  });
  const vitGrad = model.vision_model.parameters()[0]!.grad;
  assert.ok(vitGrad && torch.tidy(() => vitGrad.abs().sum().item()) > 0, 'the ViT gets gradients');
  vitGrad.dispose(); // .grad hands out a new handle
  model.zeroGrad();
  assert.equal(torch.liveTensors(), live);
  assert.equal(
    got.length,
    b.text.reduce((a, r) => a + r.completion.length, 0),
  );
  let err = 0;
  torch.noGrad(() =>
    torch.tidy(() =>
      b.text.forEach((row, r) => {
        const prompt = leftPad([row.prompt], tok.special.pad);
        const batch: UnderstandingBatch | typeof prompt = row.image
          ? withImages(prompt, tok.special.image, [vitPixels([row.image], cfg).squeeze(0)])
          : prompt;
        const lp = scoreText(model, batch, rightPad([row.completion], tok.special.pad)).toArray();
        order.forEach(([rr, j], i) => {
          if (rr === r) err = Math.max(err, Math.abs(got[i]! + lp[j]!));
        });
      }),
    ),
  );
  assert.ok(err < 1e-4, `max |shared - alone| = ${err}`);
  model.dispose();
});

test('rows: MC answered by option text or letter, POPE think texts, captions, unconditional prompts', () => {
  const text = new SftData(tok, 16, { seed: 5, mcAnswer: 'text', popeThink: 'shape', uncondProb: 0.5 });
  const letter = new SftData(tok, 16, { seed: 5, mcAnswer: 'letter' });
  for (let i = 0; i < 20; i++) {
    const t = text.textRow('mcq');
    const c = tok.decode(t.completion);
    const problem = tok.decode(t.prompt);
    assert.equal(formatReward(c), 1, c);
    assert.deepEqual(t.letters, []);
    assert.match(c, /<answer> \S+ <\/answer>$/);
    const l = letter.textRow('mcq');
    const lc = tok.decode(l.completion);
    assert.match(lc, /\. ([A-D]) is \S+ <\/think> <answer> \1 <\/answer>$/);
    assert.equal(l.letters.length, 2);
    assert.ok(['A', 'B', 'C', 'D'].includes(tok.idToToken(l.completion[l.letters[0]!]!)!));
    assert.ok(problem.includes('Options'));
  }
  // a text answer scores through the options: build one from a known question
  const solution = '<answer>B</answer>';
  const problem =
    'Question: what color is the circle?\nOptions:\nA. blue\nB. red\nC. green\nD. white\nthink ...';
  assert.equal(
    mcqAccuracy('<think> the circle is red </think> <answer> red </answer>', solution, problem),
    1,
  );
  assert.equal(mcFact('the circle is red . B is red'), 'the circle is red');
  const scene = {
    objects: [
      { shape: 'circle' as const, color: 'red' as const, size: 'small' as const, x: 0.2, y: 0.5 },
      { shape: 'square' as const, color: 'blue' as const, size: 'large' as const, x: 0.7, y: 0.5 },
    ],
  };
  assert.equal(popeThink('shape', 'is there a blue circle in the image?', scene), 'i see a red circle');
  assert.equal(popeThink('shape', 'is there a red triangle in the image?', scene), 'i see no triangle');
  assert.equal(popeThink('object', 'is there a red triangle in the image?', scene), 'red triangle');
  assert.equal(popeThink('colors', 'is there a blue circle in the image?', scene), 'the circle is red');
  // cells on the 8 x 8 grid: x 0.2 -> column 1, 0.7 -> 5; y 0.5 -> row 4
  assert.equal(
    positionThink('where is the circle relative to the blue square?', scene),
    'the circle is in 1 4 . the blue square is in 5 4',
  );
  assert.throws(() => positionThink('where is the triangle relative to the circle?', scene), /no object/);
  const cap = text.textRow('caption');
  assert.match(tok.decode(cap.completion), /^a (small|large) \w+ \w+/);
  let uncond = 0;
  for (let i = 0; i < 40; i++) {
    const g = text.genRow();
    assert.equal(g.prompt[0], tok.special.bos);
    assert.equal(g.prompt.at(-1), tok.special.boi);
    if (g.unconditional) {
      uncond++;
      assert.ok(g.prompt.slice(1, -1).every((t) => t === tok.special.pad));
    }
  }
  assert.ok(uncond > 5 && uncond < 35, `${uncond} unconditional of 40`);
});

test('budgets and the warm-up + cosine schedule', () => {
  const s = warmupCosine(0.1, 0.1);
  assert.ok(Math.abs(s(0.05) - 0.5) < 1e-9);
  assert.equal(s(0.1), 1);
  assert.ok(Math.abs(s(0.55) - 0.55) < 1e-9);
  assert.ok(Math.abs(s(1) - 0.1) < 1e-9);
  const b = new Budget({ steps: 4 });
  for (let i = 0; i < 4; i++) {
    assert.equal(b.done(), false);
    b.tick();
  }
  assert.equal(b.done(), true);
  assert.equal(b.progress(), 1);
  assert.throws(() => new Budget({ seconds: 0 }), /positive/);
  assert.deepEqual(Budget.of({ steps: 3, seconds: 9 }, 60).limit, { steps: 3 });
  assert.deepEqual(Budget.of({ seconds: 9 }, 60).limit, { seconds: 9 });
  assert.deepEqual(Budget.of({}, 60).limit, { seconds: 60 });
  // logs at 0.25, then the next quarter after wherever progress jumped, and always at the end
  const every = new LogEvery(0.25);
  const fired = [0.1, 0.25, 0.3, 0.6, 0.7, 0.74, 0.75, 0.9].filter((p) => every.due(p, false));
  assert.deepEqual(fired, [0.25, 0.6, 0.75]);
  assert.equal(every.due(0.95, true), true);
});

test('pope_text rows: the colours of the asked shape in the prompt, no image, the POPE completion whose yes / no the fact decides', () => {
  const data = new SftData(tok, 16, { seed: 9, popeThink: 'match' });
  const seen = { yes: 0, no: 0 };
  for (let i = 0; i < 40; i++) {
    const r = data.textRow('pope_text');
    assert.equal(r.image, null);
    assert.ok(!r.prompt.includes(tok.special.image), 'no image span');
    const prompt = tok.decode(r.prompt);
    const c = tok.decode(r.completion);
    const q = /is there a (\w+) (\w+) in the image ?\?/.exec(prompt);
    assert.ok(q, prompt);
    const [, color, shape] = q;
    // the fact: "the circle is red" / "the circles are red and blue" / "i see no circle"
    const fact = new RegExp(`(the ${shape}s? (is|are) ([a-z ,]+)|i see no ${shape}) \\.`).exec(prompt);
    assert.ok(fact, prompt);
    const colors = fact[3] === undefined ? [] : fact[3].split(/ , | and /).map((s) => s.trim());
    const answer = colors.includes(color!) ? 'yes' : 'no';
    seen[answer]++;
    const m = new RegExp(`<think> ${shape} : ([a-z ]+) = ${color} </think> <answer> (yes|no) </answer>`).exec(
      c,
    );
    assert.ok(m, c);
    assert.equal(m[2], answer, `${prompt} -> ${c}`);
    assert.equal(m[1], colors.length === 0 ? 'no' : colors.join(' '));
    assert.equal(tok.decode([r.completion[r.answerAt!]!]), answer);
  }
  assert.ok(seen.yes > 5 && seen.no > 5, JSON.stringify(seen));
  const b = data.batch({ pope_text: 3, mcq_text: 2, pope: 3 });
  assert.deepEqual(
    b.text.map((r) => r.kind),
    ['mcq_text', 'mcq_text', 'pope_text', 'pope_text', 'pope_text', 'pope', 'pope', 'pope'],
  );
});
