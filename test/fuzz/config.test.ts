/**
 * Fuzzing the train config loader: parseTrainConfig on arbitrary values and on valid configs with one or two
 * fields broken (wrong type, NaN, Infinity, negative, fractional, huge, unknown keys and reward names), and
 * loadTrainConfig on arbitrary and near-valid YAML text. Only a UserError may escape, and a config that
 * parses satisfies the schema's promises (finite numbers in range, integers, known rewards, absolute paths,
 * batch_size a multiple of micro_batch_size).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { loadTrainConfig, parseTrainConfig, type TrainConfig } from '../../src/rl/config.js';
import { REWARD_NAMES } from '../../src/rewards/names.js';
import { fc, fuzzParams, userErrorOr } from './fuzz.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-fuzz-config-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const FILE = path.join(root, 'train.yaml');

// ---- valid configs ----------------------------------------------------------------------------------------

const posInt = fc.integer({ min: 1, max: 64 });
const natInt = fc.integer({ min: 0, max: 64 });
const posNum = fc.double({ min: 1e-6, max: 10, noNaN: true });
const nonNeg = fc.oneof(fc.constant(0), posNum);
const weights = (names: readonly string[]) =>
  fc.dictionary(fc.constantFrom(...names), nonNeg, { maxKeys: names.length });

/** Optional fields with valid values (batch_size / micro_batch_size are set together below). */
const OPTIONAL: Record<string, fc.Arbitrary<unknown>> = {
  eval_data: fc.string({ maxLength: 8 }),
  seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  steps: posInt,
  tasks: fc.subarray(['t2i', 'mm2t'], { minLength: 1 }),
  alternate: fc.boolean(),
  num_generations: fc.integer({ min: 2, max: 16 }),
  lr: posNum,
  weight_decay: nonNeg,
  lr_schedule: fc.constantFrom('constant', 'linear', 'cosine'),
  warmup_steps: natInt,
  max_grad_norm: posNum,
  num_iterations: posInt,
  epsilon: posNum,
  epsilon_high: posNum,
  beta: nonNeg,
  kl_estimator: fc.constantFrom('k1', 'k3'),
  loss_aggregation: fc.constantFrom('token-mean', 'seq-mean-token-mean', 'dr_grpo'),
  advantage: fc.constantFrom('unify_reward', 'unify_advantage', 'separate'),
  lambda: nonNeg,
  scale_rewards: fc.constantFrom('group', 'batch', 'none'),
  rewards: fc.record(
    { image: weights(REWARD_NAMES.image), text: weights(REWARD_NAMES.text) },
    { requiredKeys: [] },
  ),
  image_similarity: fc.constantFrom('ssim', 'rmse'),
  lpips: fc.string({ maxLength: 8 }),
  recaption_temperature: nonNeg,
  recaption_max_tokens: posInt,
  cfg_weight: nonNeg,
  temperature: posNum,
  image_logprob_mode: fc.constantFrom('cond', 'cfg', 'cfg_detach_uncond'),
  text_temperature: posNum,
  top_k: natInt,
  top_p: fc.double({ min: 1e-6, max: 1, noNaN: true }),
  max_completion_length: posInt,
  trainable: fc.subarray([
    'language_model',
    'vision_model',
    'aligner',
    'gen_aligner',
    'gen_head',
    'gen_embed',
  ]),
  shuffle_rewards: fc.boolean(),
  log_every: posInt,
  sample_every: natInt,
  save_every: natInt,
  eval_rows: natInt,
};
const FIELDS = ['model', 'data', 'out', 'batch_size', 'micro_batch_size', ...Object.keys(OPTIONAL)];

const validConfig: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    model: fc.string({ maxLength: 8 }),
    data: fc.string({ maxLength: 8 }),
    out: fc.string({ maxLength: 8 }),
    micro: fc.integer({ min: 1, max: 8 }),
    times: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    optional: fc.record(OPTIONAL, { requiredKeys: [] }),
  })
  .map(({ model, data, out, micro, times, optional }) => ({
    model,
    data,
    out,
    ...(times === undefined ? {} : { batch_size: micro * times, micro_batch_size: micro }),
    ...optional,
  }));

// ---- breaking one field -----------------------------------------------------------------------------------

const badValue = fc.oneof(
  fc.constantFrom(
    NaN,
    Infinity,
    -Infinity,
    -1,
    0,
    0.5,
    -0.5,
    1e300,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 60),
    Number.MIN_VALUE,
    '',
    '1',
    'NaN',
    true,
    null,
    [],
    {},
    ['t2i', 't2i'],
    ['x'],
  ),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 6 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const rewardName = fc.oneof(
  fc.constantFrom(...REWARD_NAMES.image, ...REWARD_NAMES.text, 'accuracy', 'Format', '', '__proto__', 'a\nb'),
  fc.string({ maxLength: 8 }),
);

/** A broken config, as data (so a counterexample prints it). */
type Mutation =
  | { op: 'set'; key: string; v: unknown }
  | { op: 'delete'; key: string }
  | { op: 'unknown'; key: string; v: unknown }
  | { op: 'reward'; modality: 'image' | 'text'; name: string; v: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...FIELDS), v: badValue }),
  fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('model', 'data', 'out') }),
  fc.record({
    op: fc.constant('unknown' as const),
    key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'Steps', 'a\nb')),
    v: badValue,
  }),
  fc.record({
    op: fc.constant('reward' as const),
    modality: fc.constantFrom('image' as const, 'text' as const),
    name: rewardName,
    v: fc.oneof(nonNeg, badValue),
  }),
);

function mutate(c: Record<string, unknown>, m: Mutation): void {
  const define = (o: object, key: string, value: unknown): void => {
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  };
  switch (m.op) {
    case 'set':
      return define(c, m.key, m.v);
    case 'delete':
      delete c[m.key];
      return;
    case 'unknown':
      return define(c, m.key, m.v);
    case 'reward': {
      const rewards = (c.rewards ??= {}) as Record<string, unknown>;
      if (typeof rewards !== 'object' || rewards === null) return;
      const mod = (rewards[m.modality] ??= {}) as Record<string, unknown>;
      if (typeof mod === 'object' && mod !== null) define(mod, m.name, m.v);
      return;
    }
  }
}

const nearValid = fc.tuple(validConfig, fc.array(mutation, { minLength: 1, maxLength: 2 })).map(([c, ms]) => {
  // structuredClone: generated values are shared (constants, shrinking) and must not be mutated
  for (const m of ms) mutate(c, structuredClone(m));
  return c;
});

// ---- what a parsed config promises ------------------------------------------------------------------------

const INTS = [
  'seed',
  'steps',
  'batch_size',
  'num_generations',
  'micro_batch_size',
  'warmup_steps',
  'num_iterations',
  'recaption_max_tokens',
  'top_k',
  'max_completion_length',
  'log_every',
  'sample_every',
  'save_every',
  'eval_rows',
] as const;

function checkConfig(c: TrainConfig): void {
  for (const p of [c.model, c.data, c.out, c.eval_data, c.lpips])
    if (p !== undefined) assert.ok(path.isAbsolute(p), `path ${p} is absolute`);
  for (const [k, v] of Object.entries(c))
    if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} = ${v} is finite`);
  for (const k of INTS) assert.ok(Number.isSafeInteger(c[k]), `${k} = ${c[k]} is an integer`);
  assert.equal(c.batch_size % c.micro_batch_size, 0);
  assert.ok(c.batch_size >= 1 && c.micro_batch_size >= 1 && c.steps >= 1 && c.num_generations >= 2);
  assert.ok(c.lr > 0 && c.top_p > 0 && c.top_p <= 1 && c.temperature > 0 && c.beta >= 0);
  assert.ok(c.tasks.length >= 1);
  for (const m of ['image', 'text'] as const)
    for (const [name, w] of Object.entries(c.rewards[m])) {
      assert.ok((REWARD_NAMES[m] as readonly string[]).includes(name), `${m} reward ${name}`);
      assert.ok(Number.isFinite(w) && w >= 0, `${m} reward ${name} weight ${w}`);
    }
}

/** parseTrainConfig: a UserError naming the source, or a config keeping the schema's promises. */
function parses(raw: unknown): void {
  const r = userErrorOr(() => parseTrainConfig(raw, 'fuzz.yaml', root));
  if (r.ok) checkConfig(r.value);
  else assert.ok(r.error.message.startsWith('fuzz.yaml: '), r.error.message);
}

test('fuzz parseTrainConfig: valid configs parse and keep their values', () => {
  fc.assert(
    fc.property(validConfig, (c) => {
      const cfg = parseTrainConfig(c, 'fuzz.yaml', root);
      checkConfig(cfg);
      for (const [k, v] of Object.entries(c))
        if (!['model', 'data', 'out', 'eval_data', 'lpips', 'rewards'].includes(k))
          assert.deepEqual(cfg[k as keyof TrainConfig], v, k);
      const model = c.model as string;
      assert.equal(cfg.model, path.isAbsolute(model) ? model : path.resolve(root, model));
    }),
    fuzzParams(1000),
  );
});

test('fuzz parseTrainConfig: arbitrary values', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.anything({
          withNullPrototype: true,
          withBoxedValues: true,
          withMap: true,
          withSet: true,
          withBigInt: true,
          withDate: true,
          withTypedArray: true,
          withSparseArray: true,
        }),
        fc.dictionary(fc.constantFrom(...FIELDS), fc.anything({ maxDepth: 2 })),
      ),
      parses,
    ),
    fuzzParams(1500),
  );
});

test('fuzz parseTrainConfig: valid configs with one or two fields broken', () => {
  fc.assert(fc.property(nearValid, parses), fuzzParams(3000));
});

/** YAML text: near-valid configs written out (non-finite numbers as .nan / .inf), edited, or arbitrary. */
const yamlText = fc.oneof(
  { weight: 3, arbitrary: nearValid.map((c) => toYaml(c)) },
  validConfig.map((c) => toYaml(c)),
  fc.tuple(validConfig, fc.nat(), fc.string({ maxLength: 6 })).map(([c, at, junk]) => {
    const t = toYaml(c);
    const k = at % (t.length + 1);
    return t.slice(0, k) + junk + t.slice(k);
  }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  // deep nesting: yaml composes recursively (a stack overflow there once aborted the next parse)
  fc
    .tuple(fc.integer({ min: 50, max: 1000 }), fc.constantFrom('flow', 'seq', 'map'))
    .map(([n, kind]) =>
      kind === 'flow'
        ? `model: ${'['.repeat(n)}${']'.repeat(n)}`
        : kind === 'seq'
          ? `${'- '.repeat(n)}x`
          : Array.from({ length: Math.min(n, 400) }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1',
    ),
  fc.constantFrom(
    '',
    '---',
    '- a\n- b',
    'just text',
    'model: [unclosed',
    'model: m\nmodel: n\ndata: d\nout: o',
    'a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    'model: !!binary aGVsbG8=\ndata: d\nout: o',
    'model: m\ndata: d\nout: o\n<<: {steps: 3}',
    'model: m\ndata: d\nout: o\nsteps: .nan',
    'model: m\ndata: d\nout: o\nlr: .inf',
    'model: m\ndata: d\nout: o\nseed: 0x10',
    'model: m\ndata: d\nout: o\nsteps: 1_000',
    'model: 1\ndata: d\nout: o',
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    `${'- '.repeat(3000)}x`,
    '? [a]\n: b',
    '%YAML 9.9\n---\nmodel: m',
    '!!set {a, b}',
    '\ufeffmodel: m\ndata: d\nout: o',
  ),
);

test('fuzz loadTrainConfig: arbitrary and near-valid YAML', () => {
  fc.assert(
    fc.property(
      yamlText,
      fc.option(fc.dictionary(fc.constantFrom('steps', 'seed', 'out', 'extra'), badValue), {
        nil: undefined,
      }),
      (text, overrides) => {
        fs.writeFileSync(FILE, text);
        const r = userErrorOr(() => loadTrainConfig(FILE, overrides));
        if (r.ok) checkConfig(r.value);
        else assert.ok(r.error.message.includes(FILE), r.error.message);
      },
    ),
    fuzzParams(1000),
  );
});
