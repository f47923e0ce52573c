/**
 * The ShapesWorld benchmarks (src/eval/evaluate.ts): row routing, GenEval-style scoring of real renders
 * (exact, so 1.0), a full evaluation of a tiny random model (well-formed numbers in [0, 1], every key), the
 * flat metrics, and no native-tensor leak.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { MultiModalityCausalLM } from '../../src/model/ulm.js';
import {
  evaluate,
  flattenEval,
  questionFamily,
  routeRows,
  scoreImages,
  worldEvalRows,
  type EvalResult,
} from '../../src/eval/evaluate.js';
import { formatEvalTable } from '../../src/eval/table.js';
import { evalIntervals } from '../../src/eval/intervals.js';
import { pretrainPreset } from '../../src/pretrain/presets.js';
import { worldTokenizer } from '../../src/pretrain/sft.js';
import { renderScene } from '../../src/world/render.js';
import { GENEVAL_CATEGORIES, summariseGeneval } from '../../src/world/geneval.js';
import type { WorldRow } from '../../src/world/dataset.js';

torch.setNumThreads(1);

test('worldEvalRows: N gen, N MCQ, N OE and 3N POPE rows, routed to their benchmarks', () => {
  const rows = worldEvalRows(7, 12);
  assert.equal(rows.length, 12 * 6);
  const r = routeRows(rows);
  assert.deepEqual([r.gen.length, r.mcq.length, r.oe.length, r.pope.length], [12, 12, 12, 36]);
  assert.ok(r.mcq.every((x) => x.qa_type === 'MC' && x.qa_options?.length === 4));
  assert.ok(r.pope.every((x) => x.pope_split !== undefined));
  const capped = routeRows(rows, { genPrompts: 5, maxQuestions: 4 });
  assert.deepEqual(
    [capped.gen.length, capped.mcq.length, capped.oe.length, capped.pope.length],
    [5, 4, 4, 4],
  );
});

test('routeRows: a stage-1 (unified) row feeds GenEval and the family of its question', () => {
  const [mcq, oe, pope] = ['mcq', 'oe', 'pope'].map((t) =>
    worldEvalRows(3, 2).find((r) => r.task === t),
  ) as WorldRow[];
  const unified = [mcq!, oe!, pope!].map((r) => ({ ...r, task: 'unified' as const }));
  assert.deepEqual(
    unified.map((r) => questionFamily(r)),
    ['mcq', 'oe', 'pope'],
  );
  const r = routeRows(unified);
  assert.deepEqual([r.gen.length, r.mcq.length, r.oe.length, r.pope.length], [3, 1, 1, 1]);
  // gen rows hold no question
  assert.equal(questionFamily({ ...mcq!, task: 'gen' }), null);
});

test('GenEval-style scoring of the real renders (the scorer evaluate() uses) is exact: 1.0 per category', () => {
  const rows = routeRows(worldEvalRows(11, 60)).gen;
  const images = rows.map((r) => renderScene(r.scene, { size: 32 }));
  const { results, objects } = scoreImages(rows, images);
  const s = summariseGeneval(results);
  assert.equal(s.overall, 1);
  for (const c of GENEVAL_CATEGORIES) assert.equal(s.categories[c]?.accuracy, 1, c);
  assert.equal(
    objects,
    rows.reduce((a, r) => a + r.scene.objects.length, 0),
  );
  // and an image that fails: blank
  const blank = { ...images[0]!, data: new Uint8Array(images[0]!.data.length) };
  assert.equal(scoreImages([rows[0]!], [blank]).results[0]!.correct, false);
});

function inUnit(name: string, v: number): void {
  assert.ok(Number.isFinite(v) && v >= 0 && v <= 1, `${name} = ${v} is not in [0, 1]`);
}

test('evaluate() on a tiny random model returns every benchmark with numbers in [0, 1], and leaks nothing', () => {
  const tok = worldTokenizer();
  const cfg = pretrainPreset('world-micro').model(tok.vocabSize);
  const model = new MultiModalityCausalLM(cfg, { generator: new torch.Generator(1) }).eval();
  const rows = worldEvalRows(5, 6);
  const before = torch.liveTensors();
  const r: EvalResult = evaluate(model, tok, rows, {
    imagesPerPrompt: 2,
    maxNewTokens: 12,
    examples: 1,
    genBatch: 4,
    textBatch: 8,
  });
  assert.equal(torch.liveTensors(), before);
  assert.ok(r.geneval && r.mcq && r.oe && r.pope && r.format);
  assert.equal(r.geneval.prompts, 6);
  assert.equal(r.geneval.images, 12);
  inUnit('geneval', r.geneval.overall);
  for (const c of GENEVAL_CATEGORIES) inUnit(c, r.geneval.categories[c]!.accuracy);
  assert.equal(r.mcq.n, 6);
  assert.equal(r.oe.n, 6);
  assert.equal(r.pope.n, 18);
  for (const k of ['accuracy', 'precision', 'recall', 'f1', 'yes_ratio'] as const)
    inUnit(`pope ${k}`, r.pope[k]);
  assert.deepEqual(Object.keys(r.pope.splits).sort(), ['adversarial', 'popular', 'random']);
  inUnit('format', r.format.rate);
  assert.equal(r.format.n, 30);
  assert.equal(r.examples?.length, 3);
  const flat = flattenEval(r);
  for (const k of [
    'geneval/overall',
    'mcq/accuracy',
    'oe/accuracy',
    'pope/f1',
    'pope/yes_ratio',
    'format/rate',
  ])
    assert.ok(k in flat, k);
  for (const [k, v] of Object.entries(flat)) inUnit(k, v);
  const table = formatEvalTable(r);
  assert.match(table, /GenEval-style generation[\s\S]*POPE[\s\S]*understanding mean[\s\S]*Format/);
  // the headline scores carry this evaluation's item interval
  const ci = evalIntervals(r.items!)['mcq/accuracy'];
  assert.ok(Number.isFinite(ci), String(ci));
  assert.ok(table.includes(`${r.mcq!.accuracy.toFixed(3)} ± ${ci.toFixed(3)}`), table);
  // the same seed gives the same result
  const again = evaluate(model, tok, rows, {
    imagesPerPrompt: 2,
    maxNewTokens: 12,
    genBatch: 4,
    textBatch: 8,
  });
  assert.deepEqual(flattenEval(again), flat);
  model.dispose();
});

test('evaluate() can skip a side and caps the work', () => {
  const tok = worldTokenizer();
  const model = new MultiModalityCausalLM(pretrainPreset('world-micro').model(tok.vocabSize), {
    generator: new torch.Generator(2),
  }).eval();
  const rows = worldEvalRows(5, 4);
  const und = evaluate(model, tok, rows, { geneval: false, maxQuestions: 2, maxNewTokens: 8 });
  assert.equal(und.geneval, null);
  assert.equal(und.mcq!.n, 2);
  assert.equal(und.pope!.n, 2);
  const gen = evaluate(model, tok, rows, { understanding: false, genPrompts: 2, imagesPerPrompt: 1 });
  assert.equal(gen.mcq, null);
  assert.equal(gen.format, null);
  assert.equal(gen.geneval!.images, 2);
  model.dispose();
});
