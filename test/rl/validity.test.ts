/**
 * The reward-validity check (src/rl/validity/validity.ts): pair and tie arithmetic, Spearman and the bootstrap
 * against hand-computed values; the candidate builder's variants are wrong in exactly the intended way (the
 * GenEval check fails them, the correct renders pass it); an end-to-end run on a tiny random model, whose
 * table has every reward row and where `geneval` (exact) ranks correct renders above empty frames always.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadULM } from '../../src/model/index.js';
import { detectObjects } from '../../src/world/detect.js';
import { GENEVAL_CATEGORIES, scoreGeneval } from '../../src/world/geneval.js';
import { samplePrompt, sceneForSpec } from '../../src/world/prompts.js';
import { renderScene } from '../../src/world/render.js';
import { Rng } from '../../src/world/rng.js';
import { sceneProblems } from '../../src/world/scene.js';
import { objectsF1, colorHistogram, foregroundRmse } from '../../src/rl/validity/alternatives.js';
import { loadValidityRows } from '../../src/cli/rewards.js';
import {
  INCORRECT_KINDS,
  PAPER_ROW,
  averageRanks,
  bootstrapInterval,
  correctScenes,
  formatValidityTable,
  poolPrompt,
  promptPairs,
  rewardStats,
  rewardValidity,
  renderedCandidates,
  spearman,
  wrongScenes,
  type Labelled,
} from '../../src/rl/validity/validity.js';
import { makeFixture } from './fixture.js';

test('pairs: strict wins, ties count half, NaN pairs left out, only within a prompt', () => {
  // prompt 0: correct real 0.9, render 0.5; incorrect empty 0.5, wrong colour 0.7, base wrong NaN
  // prompt 1: correct real 0.2; incorrect wrong shape 0.4
  const cands: Labelled[] = [
    { prompt: 0, kind: 'real', correct: true },
    { prompt: 0, kind: 'correct_render', correct: true },
    { prompt: 0, kind: 'empty', correct: false },
    { prompt: 0, kind: 'wrong_color', correct: false },
    { prompt: 0, kind: 'base_wrong', correct: false },
    { prompt: 1, kind: 'real', correct: true },
    { prompt: 1, kind: 'wrong_shape', correct: false },
  ];
  const scores = [0.9, 0.5, 0.5, 0.7, NaN, 0.2, 0.4];
  const pp = promptPairs(cands, scores, 2);
  // prompt 0: real>empty 1, real>colour 1, render=empty 0.5 (tie), render<colour 0 -> 2.5 of 4; 2 NaN pairs
  const p0 = poolPrompt(pp[0]!);
  assert.deepEqual(p0, { wins: 2.5, pairs: 4, ties: 1, skipped: 2 });
  // prompt 1: 0.2 < 0.4 -> 0 of 1; never paired with prompt 0's candidates
  assert.deepEqual(poolPrompt(pp[1]!), { wins: 0, pairs: 1, ties: 0, skipped: 0 });
  const s = rewardStats('r', cands, scores, [1, 1, 0, 0, 0, 1, 0], 2, { B: 200, seed: 1 });
  assert.equal(s.overall.accuracy, 2.5 / 5);
  assert.equal(s.overall.pairs, 5);
  assert.equal(s.overall.ties, 1);
  assert.equal(s.overall.skipped, 2);
  // the real image left out: only render vs empty (tie) and render vs colour (loss) -> 0.5 / 2
  assert.equal(s.not_real.accuracy, 0.25);
  assert.equal(s.by_kind.empty!.accuracy, 0.75); // real wins 1, render ties 0.5, of 2
  assert.equal(s.by_kind.wrong_color!.accuracy, 0.5);
  assert.equal(s.by_kind.wrong_shape!.accuracy, 0);
  assert.equal(s.by_kind.wrong_position, null);
  assert.equal(s.by_kind_not_real.empty!.accuracy, 0.5); // the render's tie alone
  assert.equal(s.by_kind_not_real.wrong_color!.accuracy, 0);
  assert.equal(s.by_kind_not_real.wrong_shape, null, 'prompt 1 has no correct image but the real one');
  assert.equal(s.samples_only.pairs, 0, 'no base sample judged correct');
  assert.equal(s.by_kind.base_wrong!.pairs, 0);
  assert.equal(s.by_kind.base_wrong!.skipped, 2);
  assert.equal(s.nan, 1);
  assert.equal(s.mean_by_kind.real, (0.9 + 0.2) / 2);
});

test('Spearman with average ranks matches hand-computed values', () => {
  assert.deepEqual(averageRanks([10, 20, 20, 5]), [2, 3.5, 3.5, 1]);
  // ranks y [1, 2, 3.5, 5, 3.5]: dx = [-2, -1, 0, 1, 2], dy = [-2, -1, 0.5, 2, 0.5] -> 8 / sqrt(10 * 9.5)
  assert.ok(Math.abs(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) - 8 / Math.sqrt(95)) < 1e-12);
  // x = [0.1, 0.4, 0.4, 0.9], y = [0, 1, 0, 1]: ranks x [1, 2.5, 2.5, 4], y [1.5, 3.5, 1.5, 3.5]
  // dx = [-1.5, 0, 0, 1.5], dy = [-1, 1, -1, 1]: sxy = 3, sxx = 4.5, syy = 4 -> 3 / sqrt(18)
  assert.ok(Math.abs(spearman([0.1, 0.4, 0.4, 0.9], [0, 1, 0, 1]) - 3 / Math.sqrt(18)) < 1e-12);
  assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [0, 1, 0])), 'no variance: NaN');
  // NaN scores are left out
  assert.equal(spearman([1, NaN, 3, 2], [0, 1, 1, 0.5]), 1);
});

test('bootstrap interval: fixed seed, inside [0, 1], degenerate when every prompt agrees', () => {
  const per = [
    { wins: 3, pairs: 4 },
    { wins: 1, pairs: 4 },
    { wins: 4, pairs: 4 },
    { wins: 2, pairs: 4 },
  ];
  const a = bootstrapInterval(per, { B: 500, seed: 3 });
  assert.deepEqual(a, bootstrapInterval(per, { B: 500, seed: 3 }));
  assert.ok(a[0] >= 0.25 && a[0] <= 0.625 && a[1] >= 0.625 && a[1] <= 1, `${a}`);
  assert.deepEqual(
    bootstrapInterval(
      [
        { wins: 2, pairs: 2 },
        { wins: 5, pairs: 5 },
      ],
      { B: 100 },
    ),
    [1, 1],
  );
  assert.ok(bootstrapInterval([], {}).every(Number.isNaN));
});

test('variants are wrong in exactly the intended way; other correct renders pass the GenEval check', () => {
  const rng = new Rng(11);
  const seen = new Set<string>();
  for (let t = 0; t < 120; t++) {
    const category = GENEVAL_CATEGORIES[t % GENEVAL_CATEGORIES.length]!;
    const { spec } = samplePrompt(rng, category);
    const scene = sceneForSpec(rng, spec);
    const check = (s: typeof scene) => scoreGeneval(spec, detectObjects(renderScene(s))).correct;
    assert.ok(check(scene), `the real scene passes (${spec.prompt})`);
    for (const s of correctScenes(rng, spec, scene, 2)) {
      assert.deepEqual(sceneProblems(s), []);
      assert.ok(check(s), `a correct render passes (${spec.prompt})`);
      assert.deepEqual(
        s.objects.map((o) => `${o.color} ${o.shape}`),
        scene.objects.map((o) => `${o.color} ${o.shape}`),
        'same colours, shapes and counts',
      );
    }
    for (const v of wrongScenes(rng, spec, scene)) {
      seen.add(`${category}:${v.kind}`);
      assert.deepEqual(sceneProblems(v.scene), [], `${v.kind} is a valid scene`);
      assert.ok(!check(v.scene), `${v.kind} (${v.change}) fails "${spec.prompt}"`);
      const before = scene.objects;
      const after = v.scene.objects;
      if (v.kind === 'wrong_color' || v.kind === 'wrong_shape') {
        const attr = v.kind === 'wrong_color' ? 'color' : 'shape';
        const other = v.kind === 'wrong_color' ? 'shape' : 'color';
        assert.equal(after.length, before.length);
        const diff = before.flatMap((o, i) => (o[attr] !== after[i]![attr] ? [i] : []));
        assert.equal(diff.length, 1, `exactly one ${attr} changed`);
        before.forEach((o, i) => {
          assert.equal(o[other], after[i]![other]);
          assert.equal(o.x, after[i]!.x);
          assert.equal(o.y, after[i]!.y);
          assert.equal(o.size, after[i]!.size);
        });
      }
      if (v.kind === 'wrong_count') assert.equal(Math.abs(after.length - before.length), 1);
      if (v.kind === 'wrong_position') {
        assert.equal(category, 'position');
        assert.deepEqual(
          after.map((o) => `${o.color} ${o.shape} ${o.size}`),
          before.map((o) => `${o.color} ${o.shape} ${o.size}`),
        );
      }
    }
  }
  for (const want of [
    'colors:wrong_color',
    'color_attr:wrong_color',
    'single_object:wrong_shape',
    'counting:wrong_count',
    'two_object:wrong_count',
    'position:wrong_position',
  ])
    assert.ok(seen.has(want), `${want} was built`);
  assert.ok(
    ![...seen].some((k) => k.startsWith('single_object:wrong_count') || k.startsWith('colors:wrong_count')),
  );
});

test('renderedCandidates keeps the labels of the GenEval check and drops nothing on clean renders', () => {
  const rng = new Rng(5);
  for (let t = 0; t < 24; t++) {
    const { spec } = samplePrompt(rng, GENEVAL_CATEGORIES[t % 6]!);
    const scene = sceneForSpec(rng, spec);
    const rc = renderedCandidates(t, spec, scene, renderScene(scene), { seed: t, correctRenders: 2 });
    assert.deepEqual(rc.dropped, []);
    const kinds = rc.candidates.map((c) => c.kind);
    assert.equal(kinds.filter((k) => k === 'real').length, 1);
    assert.equal(kinds.filter((k) => k === 'correct_render').length, 2);
    assert.equal(kinds.filter((k) => k === 'empty').length, 1);
    for (const c of rc.candidates) {
      assert.equal(c.prompt, t);
      assert.equal(c.correct, c.kind === 'real' || c.kind === 'correct_render', c.kind);
    }
  }
});

test('alternative image sides: identical images score 1, an empty frame scores low', () => {
  const rng = new Rng(2);
  const { spec } = samplePrompt(rng, 'two_object');
  const scene = sceneForSpec(rng, spec);
  const img = renderScene(scene);
  const empty = renderScene({ objects: [] });
  assert.equal(foregroundRmse(img, img), 1);
  assert.equal(colorHistogram(img, img), 1);
  assert.equal(objectsF1(img, scene), 1);
  assert.ok(foregroundRmse(empty, img) < 0.5);
  assert.equal(colorHistogram(empty, img), 0);
  assert.equal(objectsF1(empty, scene), 0);
});

test('end to end on a tiny random model: every reward row, geneval exact, flat live tensors', () => {
  const fx = makeFixture();
  const rows = loadValidityRows(join(fx.dir, 'world', 'eval', 'gen.jsonl'), 6);
  const { model, tokenizer } = loadULM(fx.model);
  const live0 = torch.liveTensors();
  const r = rewardValidity({ model, tok: tokenizer }, rows, {
    imagesPerPrompt: 2,
    correctRenders: 2,
    seed: 1,
    bootstrap: 200,
    recaptionMaxTokens: 6,
    chunk: 16,
  });
  assert.equal(torch.liveTensors(), live0, 'every tensor of the run is released');
  model.dispose();
  assert.equal(r.prompts, 6);
  assert.equal(r.dropped, 0);
  assert.equal(r.candidates.real, 6);
  assert.equal(r.candidates.correct_render, 12);
  assert.equal(r.candidates.empty, 6);
  assert.equal(r.candidates.base_correct + r.candidates.base_wrong, 12);
  assert.deepEqual(
    r.rewards.map((x) => x.name),
    [
      't2i_bid_cycle_reward',
      't2i_bid_cycle_reward.image_side',
      't2i_bid_cycle_reward.text_side',
      't2i_ti_sim',
      't2i_clip_sim',
      'geneval',
      PAPER_ROW,
    ],
  );
  const geneval = r.rewards.find((x) => x.name === 'geneval')!;
  assert.equal(geneval.by_kind.empty!.accuracy, 1, 'geneval ranks every correct image above the empty frame');
  assert.equal(geneval.overall.accuracy, 1);
  assert.equal(geneval.spearman, 1);
  for (const x of r.rewards) {
    assert.equal(x.nan, 0, `${x.name} scores every candidate`);
    assert.ok(x.overall.accuracy >= 0 && x.overall.accuracy <= 1);
    assert.ok(x.overall.ci[0] <= x.overall.accuracy + 1e-12 || x.overall.ci[1] >= x.overall.accuracy - 1e-12);
    for (const k of INCORRECT_KINDS) {
      const s = x.by_kind[k];
      if (s && s.pairs > 0) assert.ok(s.ci[0] <= s.ci[1]);
    }
  }
  // a correct render never scores 1 on the image side (only the real image itself does)
  const side = r.rewards.find((x) => x.name === 't2i_bid_cycle_reward.image_side')!;
  assert.equal(side.mean_by_kind.real, 1);
  const table = formatValidityTable(r);
  for (const s of ['pairwise accuracy', 'ties count half', 'Spearman', 'vs empty', PAPER_ROW, 'geneval'])
    assert.ok(table.includes(s), `table mentions ${s}`);
  JSON.parse(JSON.stringify(r));
});

test('corl rewards check: bad options are one line and exit 2, before the model loads', () => {
  const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, 'rewards', 'check', ...args], { encoding: 'utf8' });
  const cases: [string[], RegExp][] = [
    [['--model', '/nonexistent', '--data', '/nonexistent'], /model directory/],
    [['--model', '/tmp', '--data', '/x', '--prompts', '0'], /--prompts must be an integer in \[1,/],
    [['--model', '/tmp', '--data', '/x', '--prompts', '1e3'], /--prompts/],
    [['--model', '/tmp', '--data', '/x', '--images-per-prompt', '9007199254740993'], /--images-per-prompt/],
    [['--model', '/tmp', '--data', '/x', '--cfg', 'abc'], /--cfg must be a number/],
    [['--model', '/tmp', '--data', '/x', '--image-side', 'lpips'], /--image-side/],
    [['--model', '/tmp', '--data', '/x', '--background', '1,2'], /--background must be R,G,B/],
    [
      ['--model', '/tmp', '--data', '/x', '--background', '1,2,256'],
      /--background must be an integer in \[0, 255\]/,
    ],
    [['--model', '/tmp', '--data', '/x'], /config\.json/],
  ];
  for (const [args, re] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
