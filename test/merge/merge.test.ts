/**
 * Weight merging against hand-computed values (the arithmetic is in the comments); whole checkpoints whose
 * merge is not finite are refused and nothing is written.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { mergeAverage, mergeGaussian, type StateDict } from '../../src/merge/merge.js';
import { mergeCheckpoints } from '../../src/merge/checkpoints.js';
import {
  MultiModalityCausalLM,
  ULMTokenizer,
  buildWordLevelTokenizer,
  presetConfig,
  saveULM,
} from '../../src/model/index.js';
import { UserError } from '../../src/util/errors.js';

function closeAll(actual: readonly number[], expected: readonly number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `[${i}] expected ${e}, got ${a}`);
  });
}
const sd = (entries: Record<string, torch.Tensor>): StateDict => new Map(Object.entries(entries));
const t = (xs: number[]): torch.Tensor => torch.tensor(xs);
const values = (m: StateDict, k: string): number[] => (m.get(k) as torch.Tensor).toArray();

/**
 * base = [1, 2, 3, 4, 5, 6]
 * d1 = [0, 0, 0, 0, 0, 6]  -> a = [1, 2, 3, 4, 5, 12]
 *   mean 1; deviations [-1 x5, 5], sum sq 5 + 25 = 30, unbiased var 30/5 = 6, std 2.4494897428
 * d2 = [-6, 1, 1, 1, 1, 2] -> b = [-5, 3, 4, 5, 6, 8]
 *   mean 0; sum sq 36 + 4*1 + 4 = 44, unbiased var 44/5 = 8.8, std 2.9664793948
 * mu = (1 + 0)/2 = 0.5; s = min(2.4494897428, 2.9664793948) = 2.4494897428
 * lambda 2: band (0.5 - 4.8989794856, 0.5 + 4.8989794856) = (-4.3989794856, 5.3989794856)
 *   d1: 0 inside (x5), 6 outside;  d2: -6 outside, 1 inside (x4), 2 inside
 * merged delta: [0.5*0 + (-6), 0.5*0 + 0.5*1 (x4), 6 + 0.5*2] = [-6, 0.5, 0.5, 0.5, 0.5, 7]
 * merged = base + delta = [-5, 2.5, 3.5, 4.5, 5.5, 13]
 */
const BASE = [1, 2, 3, 4, 5, 6];
const A = [1, 2, 3, 4, 5, 12];
const B = [-5, 3, 4, 5, 6, 8];

test('gaussian merge: deltas inside the band are averaged, outliers added whole', () => {
  torch.tidy(() => {
    const m = mergeGaussian(sd({ w: t(BASE) }), sd({ w: t(A) }), sd({ w: t(B) }));
    closeAll(values(m, 'w'), [-5, 2.5, 3.5, 4.5, 5.5, 13]);
    // lambda 3: band 0.5 +- 7.3484692283 = (-6.85, 7.85) holds every delta -> plain average (a + b)/2
    const wide = mergeGaussian(sd({ w: t(BASE) }), sd({ w: t(A) }), sd({ w: t(B) }), 3);
    closeAll(values(wide, 'w'), [-2, 2.5, 3.5, 4.5, 5.5, 10]);
    // statistics are per tensor, not per row: the same numbers as a [2, 3] tensor give the same result
    const r = (xs: number[]): torch.Tensor => t(xs).reshape([2, 3]);
    const m2 = mergeGaussian(sd({ w: r(BASE) }), sd({ w: r(A) }), sd({ w: r(B) }));
    assert.deepEqual(m2.get('w')?.shape, [2, 3]);
    closeAll(values(m2, 'w'), [-5, 2.5, 3.5, 4.5, 5.5, 13]);
  });
});

test('gaussian merge: a constant delta (std 0) makes the strict band empty -> task arithmetic', () => {
  torch.tidy(() => {
    // base 0; d1 = [1, 1, 1] (std 0), d2 = [0, 3, -3] (std 3): s = 0, mu = (1 + 0)/2 = 0.5, band (0.5, 0.5)
    //   is empty (strict), so nothing is inside: merged = d1 + d2 = [1, 4, -2]
    const m = mergeGaussian(sd({ w: torch.zeros([3]) }), sd({ w: t([1, 1, 1]) }), sd({ w: t([0, 3, -3]) }));
    closeAll(values(m, 'w'), [1, 4, -2]);
  });
});

test('gaussian merge: single-element tensors (no unbiased std) are averaged', () => {
  torch.tidy(() => {
    // base 1, a 3, b 5: d = 2, 4; averaged: 1 + 0.5*2 + 0.5*4 = 4 (ULM-R1's NaN std would give 1 + 2 + 4 = 7)
    const m = mergeGaussian(
      sd({ bias: t([1]), s: torch.scalarTensor(1) }),
      sd({ bias: t([3]), s: torch.scalarTensor(3) }),
      sd({ bias: t([5]), s: torch.scalarTensor(5) }),
    );
    closeAll(values(m, 'bias'), [4]);
    closeAll(values(m, 's'), [4]);
  });
});

test('gaussian merge: keys absent from base and non-floating tensors come from a; dtype kept', () => {
  torch.tidy(() => {
    const m = mergeGaussian(
      sd({ w: torch.tensor(BASE, { dtype: 'float64' }), step: torch.tensor([1], { dtype: 'int64' }) }),
      sd({
        w: torch.tensor(A, { dtype: 'float64' }),
        step: torch.tensor([7], { dtype: 'int64' }),
        head: t([9, 9]),
      }),
      sd({
        w: torch.tensor(B, { dtype: 'float64' }),
        step: torch.tensor([9], { dtype: 'int64' }),
        extra: t([0]),
      }),
    );
    assert.deepEqual([...m.keys()], ['w', 'step', 'head']);
    assert.equal(m.get('w')?.dtype, 'float64');
    closeAll(values(m, 'w'), [-5, 2.5, 3.5, 4.5, 5.5, 13], 1e-12);
    assert.deepEqual(values(m, 'step'), [7]);
    assert.equal(m.get('step')?.dtype, 'int64');
    assert.deepEqual(values(m, 'head'), [9, 9]);
  });
});

test('merging does not modify its inputs', () => {
  torch.tidy(() => {
    const a = sd({ w: t(A) });
    const m = mergeGaussian(sd({ w: t(BASE) }), a, sd({ w: t(B) }));
    assert.notEqual(m.get('w'), a.get('w'));
    assert.deepEqual(values(a, 'w'), A);
  });
});

test('average merge: (a + b) / 2', () => {
  torch.tidy(() => {
    // (A + B)/2 = [(1-5)/2, (2+3)/2, (3+4)/2, (4+5)/2, (5+6)/2, (12+8)/2] = [-2, 2.5, 3.5, 4.5, 5.5, 10]
    const m = mergeAverage(
      undefined,
      sd({ w: t(A), n: torch.tensor([3], { dtype: 'int64' }) }),
      sd({ w: t(B) }),
    );
    closeAll(values(m, 'w'), [-2, 2.5, 3.5, 4.5, 5.5, 10]);
    assert.deepEqual(values(m, 'n'), [3]);
    // with a base: keys absent from it come from a
    const withBase = mergeAverage(sd({ w: t(BASE) }), sd({ w: t(A), h: t([1]) }), sd({ w: t(B), h: t([3]) }));
    closeAll(values(withBase, 'w'), [-2, 2.5, 3.5, 4.5, 5.5, 10]);
    assert.deepEqual(values(withBase, 'h'), [1]);
  });
});

test('shape mismatch and missing tensors are UserErrors naming the tensor', () => {
  torch.tidy(() => {
    const base = sd({ 'layer.w': torch.zeros([2, 3]) });
    const a = sd({ 'layer.w': torch.zeros([2, 3]) });
    assert.throws(
      () => mergeGaussian(base, a, sd({ 'layer.w': torch.zeros([3, 2]) })),
      (e: unknown) => e instanceof UserError && /"layer\.w".*\[2, 3\].*\[3, 2\]/.test(e.message),
    );
    assert.throws(
      () => mergeGaussian(sd({ 'layer.w': torch.zeros([6]) }), a, a),
      (e: unknown) => e instanceof UserError && /"layer\.w".*base/.test(e.message),
    );
    assert.throws(
      () => mergeGaussian(base, a, sd({})),
      (e: unknown) => e instanceof UserError && /"layer\.w".*not in the second/.test(e.message),
    );
    assert.throws(
      () => mergeAverage(undefined, a, sd({ 'layer.w': torch.zeros([6]) })),
      (e: unknown) => e instanceof UserError && /"layer\.w"/.test(e.message),
    );
  });
});

test('no native tensor leaks', () => {
  const before = torch.liveTensors();
  torch.tidy(() => {
    const base = sd({
      w: torch.randn([4, 5]),
      b: torch.randn([1]),
      i: torch.tensor([1], { dtype: 'int64' }),
    });
    const a = sd({ w: torch.randn([4, 5]), b: torch.randn([1]), i: torch.tensor([2], { dtype: 'int64' }) });
    const b = sd({ w: torch.randn([4, 5]), b: torch.randn([1]), i: torch.tensor([3], { dtype: 'int64' }) });
    mergeGaussian(base, a, b);
    mergeAverage(base, a, b);
  });
  assert.equal(torch.liveTensors(), before);
});

test('merging checkpoints: an input with Inf, or a merge that overflows, is a UserError and writes nothing', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-merge-nan-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const tok = ULMTokenizer.fromJSON(buildWordLevelTokenizer(['a', 'red', 'circle']));
  const bias = 'gen_head.vision_head.bias';
  const write = (name: string, seed: number, value?: number) => {
    const m = new MultiModalityCausalLM(presetConfig('test-micro', { vocabSize: tok.vocabSize }), {
      generator: new torch.Generator(seed),
    });
    if (value !== undefined) torch.noGrad(() => m.gen_head.vision_head.bias!.fill_(value));
    saveULM(m, tok, path.join(root, name));
    m.dispose();
    return path.join(root, name);
  };
  const base = write('base', 1);
  const huge = [write('huge-a', 2, 3e38), write('huge-b', 3, 3e38)] as const;
  const withInf = write('inf', 4, Infinity);
  const live = torch.liveTensors();
  const nothingWritten = (out: string) => {
    assert.ok(!fs.existsSync(out), `${out} was written`);
    assert.deepEqual(
      fs.readdirSync(root).filter((f) => f.includes('.tmp-')),
      [],
    );
  };
  // 3e38 + 3e38 overflows float32: both methods give Inf for every value of the bias
  for (const method of ['average', 'gaussian'] as const) {
    const out = path.join(root, `out-${method}`);
    assert.throws(
      () => mergeCheckpoints({ method, base, a: huge[0], b: huge[1], out }),
      (e: Error) =>
        e instanceof UserError &&
        e.message ===
          `merge: the merged weights are not all finite: 1 tensor(s) hold NaN/Inf: ${bias} (all 32 values); ` +
            `nothing was written to ${out}`,
    );
    nothingWritten(out);
  }
  // an input holding Inf is refused when it loads
  const out = path.join(root, 'out-inf');
  assert.throws(
    () => mergeCheckpoints({ method: 'average', base, a: huge[0], b: withInf, out }),
    (e: Error) =>
      e instanceof UserError &&
      e.message.startsWith(`${withInf}: the checkpoint's weights are not all finite`),
  );
  nothingWritten(out);
  assert.equal(torch.liveTensors(), live);
});
