/**
 * Pipeline presets and recipes: a recipe is a folder of stage YAMLs under configs/, a preset only sizes; the
 * image-reward override (`--image-rewards`) and the rewards each kind of run gets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  SIZE_FIELDS,
  branchFields,
  parseImageRewards,
  pipelinePreset,
  recipeNote,
  rewardsFor,
  rewardsNote,
  runFields,
} from '../../src/pipeline/presets.js';
import { CONFIGS_DIR, STAGES, recipeByName, recipeNames, readStage } from '../../src/pipeline/recipes.js';
import { DEFAULT_REWARDS } from '../../src/rl/config.js';

const yaml = (file: string) => parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const PAPER_IMAGE = yaml(join(CONFIGS_DIR, 'paper', 'stage1.yaml')).rewards as { image: object };

test('recipes: one folder each under configs/, found by their recipe.yaml', () => {
  assert.deepEqual(recipeNames(), ['corl', 'paper']);
  assert.equal(recipeByName('corl').dir, join(CONFIGS_DIR, 'world'));
  assert.equal(recipeByName('paper').dir, join(CONFIGS_DIR, 'paper'));
  assert.throws(
    () => pipelinePreset('world-tiny', { recipe: 'nope' }),
    /unknown --recipe "nope" \(known: corl, paper\)/,
  );
});

test("pipelinePreset('world-tiny') is the recipe's YAMLs as written, for every recipe", () => {
  for (const name of recipeNames()) {
    const p = pipelinePreset('world-tiny', { recipe: name });
    for (const s of STAGES)
      assert.deepEqual(p.stages[s], yaml(join(p.recipe.dir, `${s}.yaml`)), `${name} ${s}`);
    const r = yaml(join(p.recipe.dir, 'recipe.yaml'));
    assert.deepEqual(
      [p.recipe.name, p.recipe.description, p.recipe.departures, p.recipe.mergeLambda],
      [r.name, r.description, r.departures, r.merge_lambda],
    );
    assert.deepEqual(p.imageRewards, (p.stages.stage1.rewards as { image: object }).image);
  }
});

test('world-micro: the same YAMLs with only sizes overridden, each differing from the YAML', () => {
  for (const recipe of recipeNames()) {
    const tiny = pipelinePreset('world-tiny', { recipe });
    const micro = pipelinePreset('world-micro', { recipe });
    for (const s of STAGES) {
      const changed = Object.keys({ ...tiny.stages[s], ...micro.stages[s] }).filter(
        (k) => JSON.stringify(tiny.stages[s][k]) !== JSON.stringify(micro.stages[s][k]),
      );
      for (const k of changed) assert.ok((SIZE_FIELDS as readonly string[]).includes(k), `${s}.${k}`);
      assert.ok(changed.includes('steps'), `${recipe} ${s}: micro runs are shorter`);
      const f = micro.stages[s];
      assert.equal(Number(f.batch_size) % Number(f.micro_batch_size), 0, 'micro batch divides the batch');
    }
    assert.deepEqual(micro.recipe.departures, tiny.recipe.departures);
  }
});

test('parseImageRewards: names, weights, "paper", and one clear error for anything else', () => {
  assert.deepEqual(parseImageRewards('geneval'), { geneval: 1 });
  assert.deepEqual(parseImageRewards('geneval=2, t2i_ti_sim=0.5'), { geneval: 2, t2i_ti_sim: 0.5 });
  assert.deepEqual(parseImageRewards('paper'), PAPER_IMAGE.image);
  assert.deepEqual(parseImageRewards('paper'), DEFAULT_REWARDS.image, "the schema's default is the paper's");
  assert.throws(() => parseImageRewards('clip'), /unknown image reward "clip"/);
  assert.throws(() => parseImageRewards('geneval=-1'), /positive number/);
  assert.throws(() => parseImageRewards('geneval=x'), /positive number/);
});

test('rewards: image rewards only for runs that generate, text rewards only for runs that answer', () => {
  const p = pipelinePreset('world-tiny', { recipe: 'paper' });
  const s1 = p.stages.stage1;
  assert.deepEqual(p.imageRewards, PAPER_IMAGE.image);
  assert.deepEqual(rewardsFor(s1, ['t2i', 'mm2t']), s1.rewards);
  assert.deepEqual(rewardsFor(s1, ['t2i']), { image: s1.rewards.image, text: {} });
  assert.deepEqual(rewardsFor(s1, ['mm2t']), { image: {}, text: s1.rewards.text });
  const run = runFields(p, 'stage1', { model: 'm', data: 'd', seed: 3, tasks: ['mm2t'] });
  assert.deepEqual([run.tasks, run.rewards, run.seed], [['mm2t'], { image: {}, text: s1.rewards.text }, 3]);
  assert.deepEqual(runFields(p, 'stage2-gen', { model: 'm', data: 'd', seed: 0 }).tasks, ['t2i']);

  // --image-rewards replaces the image rewards of every stage that generates, and nothing else
  const g = pipelinePreset('world-tiny', { imageRewards: 'geneval', recipe: 'paper' });
  assert.deepEqual(g.imageRewards, { geneval: 1 });
  assert.deepEqual(branchFields(g, 'gen').rewards.image, { geneval: 1 });
  assert.deepEqual(branchFields(g, 'mcq').rewards, branchFields(p, 'mcq').rewards);
  assert.deepEqual(g.stages.stage1.rewards.text, s1.rewards.text);
  assert.match(rewardsNote(g), /: geneval x 1; text rewards: qa_accuracy \+ format\.$/);
  // the recipe itself is not modified by an override
  assert.deepEqual(pipelinePreset('world-tiny', { recipe: 'paper' }).imageRewards, PAPER_IMAGE.image);
});

test("--recipe paper: Table 5 of the paper, steps scaled to the corl recipe's prompts per run", () => {
  const p = pipelinePreset('world-tiny', { recipe: 'paper' });
  const d = pipelinePreset('world-tiny');
  for (const [k, v] of Object.entries({
    num_generations: 8,
    beta: 0,
    batch_size: 16,
    lr: 4e-6,
    lambda: 0.8,
    advantage: 'unify_reward',
    image_logprob_mode: 'cond',
  }))
    assert.equal(p.stages.stage1[k], v, `stage1.${k}`);
  const prompts = (f: Record<string, unknown>) => Number(f.steps) * Number(f.batch_size);
  assert.equal(prompts(p.stages.stage1), prompts(d.stages.stage1), '80 steps x 4 = 20 x 16');
  for (const [branch, batch] of [
    ['gen', 16],
    ['mcq', 32],
    ['oe', 32],
  ] as const) {
    const f = branchFields(p, branch);
    assert.deepEqual([f.num_generations, f.beta, f.lr, f.batch_size], [16, 0.02, 1e-6, batch], branch);
    assert.equal(f.steps, Math.max(1, Math.round(prompts(branchFields(d, branch)) / batch)), branch);
  }
  assert.match(recipeNote(p), /Recipe "paper"/);
  assert.match(recipeNote(d), /departs from the paper in: .*--recipe paper/);
});

test("stage YAMLs: the run fields are the pipeline's, tasks and rewards are the stage's", () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-recipe-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  assert.throws(
    () => readStage(file('a.yaml', 'model: m\nseed: 1\n')),
    /a\.yaml: model, seed are filled in by the pipeline for each run/,
  );
  assert.throws(
    () => readStage(file('b.yaml', 'tasks: [t2i]\nbeta: -1\n')),
    /b\.yaml: invalid config \(beta/,
  );
  assert.throws(() => readStage(file('c.yaml', 'tasks: [t2i]\n')), /names its tasks and both its image/);
  assert.throws(() => readStage(file('d.yaml', 'tasks: [t2i]\nbetta: 1\n')), /Unrecognized key: "betta"/);

  // a recipe folder elsewhere: found by its recipe.yaml, every stage read
  mkdirSync(join(dir, 'r'));
  writeFileSync(
    join(dir, 'r', 'recipe.yaml'),
    'name: mine\ndescription: x\nmerge_lambda: 1\ndepartures: []\n',
  );
  assert.deepEqual(recipeNames(dir), ['mine']);
  assert.throws(() => recipeByName('mine', dir), /stage1\.yaml/);
});
