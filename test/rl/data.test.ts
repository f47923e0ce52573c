/**
 * The RL data loader: rows with their real images, one clear error line for a missing or broken image; real
 * data in the same fields (JPEG, any size, no scene).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDataset } from '../../src/world/dataset.js';
import { answerSample, imageSample, loadExamples, questionImage, type RLExample } from '../../src/rl/data.js';
import { jpegBytes, quadrants } from '../helpers/images.js';
import { UserError } from '../../src/util/errors.js';

test('loadExamples: images read once per file; a missing or broken image names the file and row', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-rl-data-'));
  try {
    buildDataset({ out: dir, seed: 3, train: 4, test: 2 });
    const train = path.join(dir, 'train.jsonl');
    const examples = loadExamples(train);
    assert.equal(examples.length, 4);
    for (const e of examples)
      assert.equal(e.realImage!.data.length, e.realImage!.width * e.realImage!.height * 3);
    const row = JSON.parse(fs.readFileSync(train, 'utf8').split('\n')[0]!);
    const twice = path.join(dir, 'twice.jsonl');
    fs.writeFileSync(twice, `${JSON.stringify(row)}\n${JSON.stringify({ ...row, id: 'again' })}\n`);
    const [a, b] = loadExamples(twice);
    assert.equal(a!.realImage, b!.realImage, 'the same PNG is read once');
    const missing = path.join(dir, 'missing.jsonl');
    fs.writeFileSync(
      missing,
      `${JSON.stringify(row)}\n${JSON.stringify({ ...row, real_image: 'images/x.png' })}\n`,
    );
    assert.throws(
      () => loadExamples(missing),
      (e: unknown) =>
        e instanceof UserError && /missing\.jsonl: row 2: image not found: .*x\.png$/.test(e.message),
    );
    fs.writeFileSync(path.join(dir, 'images', 'bad.png'), 'not a png');
    const broken = path.join(dir, 'broken.jsonl');
    fs.writeFileSync(broken, `${JSON.stringify({ ...row, real_image: 'images/bad.png' })}\n`);
    assert.throws(
      () => loadExamples(broken),
      /broken\.jsonl: row 1: cannot read image .*bad\.png: not a PNG or JPEG file/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('loadExamples: a row without a prompt, or with a broken spec, fails at load naming the row (found by fuzzing)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-rl-data-'));
  try {
    buildDataset({ out: dir, seed: 3, train: 2, test: 1 });
    const row = JSON.parse(fs.readFileSync(path.join(dir, 'train.jsonl'), 'utf8').split('\n')[0]!);
    const file = path.join(dir, 'rows.jsonl');
    const { prompt: _p, ...noPrompt } = row;
    for (const bad of [noPrompt, { ...row, prompt: '  ' }]) {
      fs.writeFileSync(file, `${JSON.stringify(row)}\n${JSON.stringify(bad)}\n`);
      assert.throws(
        () => loadExamples(file),
        (e: unknown) => e instanceof UserError && /rows\.jsonl: row 2 has no prompt$/.test(e.message),
      );
    }
    // the geneval reward used to throw a RangeError on this spec, mid-run
    fs.writeFileSync(file, `${JSON.stringify({ ...row, spec: { ...row.spec, include: 'circle' } })}\n`);
    assert.throws(
      () => loadExamples(file),
      (e: unknown) =>
        e instanceof UserError && /rows\.jsonl:1: not a data row \(spec\.include/.test(e.message),
    );
    // a question with an empty solution (found by fuzzing, seed 302671786) is no question
    for (const bad of [
      { ...row, qa_solution: '' },
      { ...row, qa_problem: ' ' },
    ]) {
      fs.writeFileSync(file, `${JSON.stringify(bad)}\n`);
      assert.throws(
        () => loadExamples(file),
        (e: unknown) => e instanceof UserError && /row 1 has no question/.test(e.message),
      );
      assert.equal(loadExamples(file, { requireQuestion: false }).length, 1);
    }
    // without an id the example is named by its row
    const { id: _i, ...noId } = row;
    fs.writeFileSync(file, `${JSON.stringify(noId)}\n`);
    assert.equal(loadExamples(file)[0]!.id, 'row 1');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('real data: rows without a scene, JPEG images of any size, prompt-only rows for generation', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-rl-real-'));
  try {
    fs.mkdirSync(path.join(dir, 'photos'));
    fs.writeFileSync(path.join(dir, 'photos', 'a.jpg'), jpegBytes(quadrants(40, 24)));
    const question = {
      id: 'q1',
      prompt: 'four coloured squares',
      real_image: 'photos/a.jpg',
      qa_problem: 'Question: what colour is the top left square?',
      qa_solution: '<answer>red</answer>',
      qa_type: 'OE',
    };
    const file = path.join(dir, 'x2x.jsonl');
    fs.writeFileSync(file, `${JSON.stringify(question)}\n`);
    const [e] = loadExamples(file);
    assert.equal(e!.realImage!.width, 40);
    assert.equal(e!.realImage!.height, 24);
    assert.equal(questionImage(e!), e!.realImage);
    // a generation-only file: prompts alone
    const gen = path.join(dir, 't2i.jsonl');
    fs.writeFileSync(gen, `${JSON.stringify({ prompt: 'a red square' })}\n`);
    const [g] = loadExamples(gen, { requireQuestion: false });
    assert.equal(g!.realImage, undefined);
    assert.throws(() => questionImage(g!), /has a question but no image/);
    // a question needs its image
    const { real_image: _r, ...noImage } = question;
    fs.writeFileSync(file, `${JSON.stringify(noImage)}\n`);
    assert.throws(
      () => loadExamples(file),
      (err: unknown) =>
        err instanceof UserError && /row 1 has a question but no real_image/.test(err.message),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A two-row world's first train row, raw and as loaded, in a temporary folder removed afterwards. */
function withFirstRow(fn: (row: Record<string, unknown>, e: RLExample, dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-rl-data-'));
  try {
    buildDataset({ out: dir, seed: 3, train: 2, test: 1 });
    const train = path.join(dir, 'train.jsonl');
    fn(JSON.parse(fs.readFileSync(train, 'utf8').split('\n')[0]!), loadExamples(train)[0]!, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('answerSample: an answer with the row’s solution, type, problem and reference think', () =>
  withFirstRow((row, e, dir) => {
    assert.deepEqual(answerSample('<think>x</think><answer>A</answer>', e), {
      completion: '<think>x</think><answer>A</answer>',
      qa_solution: row.qa_solution,
      qa_type: row.qa_type,
      qa_problem: row.qa_problem,
      qa_think: row.qa_think,
    });
    assert.equal(typeof row.qa_think, 'string');
    // a row without a reference think gives a sample without one (think_match: NaN, "cannot score")
    const bare = path.join(dir, 'bare.jsonl');
    fs.writeFileSync(bare, `${JSON.stringify({ ...row, qa_think: undefined })}\n`);
    assert.equal(answerSample('', loadExamples(bare)[0]!).qa_think, undefined);
  }));

test('imageSample: a drawn image with the row’s prompt, real image, spec and the given re-caption', () =>
  withFirstRow((row, e) => {
    const drawn = quadrants(8);
    const s = imageSample(drawn, e, 'a red circle');
    assert.equal(s.image, drawn);
    assert.equal(s.prompt, row.prompt);
    assert.equal(s.realImage, e.realImage);
    assert.ok(s.realImage !== undefined);
    assert.deepEqual(s.spec, row.spec);
    assert.ok(s.spec !== undefined);
    assert.equal(s.recaption, 'a red circle');
    assert.equal(
      imageSample(drawn, e).recaption,
      undefined,
      'no re-caption: the cycle reward’s text side is NaN',
    );
  }));
