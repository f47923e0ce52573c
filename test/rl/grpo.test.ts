/**
 * GRPO maths against hand-computed values (the arithmetic is in the comments).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';
import {
  aggregateLoss,
  groupAdvantages,
  jointAdvantages,
  klPerToken,
  policyLoss,
  rewardMetrics,
  unifiedLoss,
  unifyAdvantages,
  unifyRewards,
  type PolicyLossInput,
} from '../../src/rl/grpo.js';

function close(actual: number, expected: number, tol = 1e-6, what = ''): void {
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what} expected ${expected}, got ${actual}`,
  );
}
function closeAll(actual: readonly number[], expected: readonly number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  actual.forEach((a, i) => close(a, expected[i] as number, tol, `[${i}]`));
}
const f64 = (data: number[][]): Tensor => torch.tensor(data, { dtype: 'float64' });

// ---- advantages ------------------------------------------------------------------------------------------

test('group advantages: unbiased std, eps 1e-4, a zero-std group', () => {
  // group 0 = [1,0,0,1]: mean 0.5, deviations +-0.5, sum of squares 4 * 0.25 = 1,
  //   unbiased var 1/3, std = 0.5773502692; A = +-0.5 / (0.5773502692 + 1e-4) = +-0.8658754298
  // group 1 = [0.5 x4]: mean 0.5, std 0 -> A = 0 / (0 + 1e-4) = 0; one zero-std group of two -> 0.5
  const a = 0.8658754298;
  const r = groupAdvantages([1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5], 4);
  closeAll(r.advantages, [a, -a, -a, a, 0, 0, 0, 0]);
  closeAll(r.groupMean, [0.5, 0.5]);
  closeAll(r.groupStd, [Math.sqrt(1 / 3), 0]);
  assert.equal(r.fracZeroStd, 0.5);
  assert.equal(r.nanCount, 0);
});

test('group advantages: population std when unbiasedStd is false', () => {
  // group [1,0,0,1]: var = 1/4, std 0.5; A = +-0.5 / 0.5001 = +-0.9998000400
  const r = groupAdvantages([1, 0, 0, 1], 4, { unbiasedStd: false });
  closeAll(r.advantages, [0.99980004, -0.99980004, -0.99980004, 0.99980004]);
});

test('batch scale: group mean, batch std', () => {
  // all 8 rewards [1,0,0,1,.5,.5,.5,.5]: batch mean 0.5; deviations +-0.5 (x4) and 0 (x4), sum sq = 1,
  //   unbiased var 1/7, batch std = 0.3779644730; group 0: A = +-0.5 / 0.3780644730 = +-1.3225257481;
  //   group 1: r - mean_g = 0 -> 0. fracZeroStd still uses the group std: 1 of 2.
  const a = 1.3225257481;
  const r = groupAdvantages([1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5], 4, { scale: 'batch' });
  closeAll(r.advantages, [a, -a, -a, a, 0, 0, 0, 0]);
  close(r.batchStd, Math.sqrt(1 / 7));
  assert.equal(r.fracZeroStd, 0.5);
});

test('scale none: only the group mean is subtracted', () => {
  // group 0: mean 0.5 -> [0.5,-0.5,-0.5,0.5]; group [3,1]: mean 2 -> [1,-1]
  const r = groupAdvantages([1, 0, 0, 1, 3, 1], 2, { scale: 'none' });
  closeAll(r.advantages, [0.5, -0.5, -0.5, 0.5, 1, -1]);
});

test('NaN rewards are excluded from the statistics and get advantage 0', () => {
  // [1, NaN, 0, 2]: finite [1,0,2], mean 1, deviations [0,-1,1], sum sq 2, unbiased var 2/2 = 1, std 1;
  //   A = [0, 0 (NaN), -1/1.0001, 1/1.0001] = [0, 0, -0.99990001, 0.99990001]
  // [NaN, 5, NaN, NaN]: one finite value -> mean 5, std 0 (zero-std), A = 0 everywhere
  const r = groupAdvantages([1, NaN, 0, 2, NaN, 5, NaN, NaN], 4);
  closeAll(r.advantages, [0, 0, -0.99990001, 0.99990001, 0, 0, 0, 0]);
  closeAll(r.groupMean, [1, 5]);
  closeAll(r.groupStd, [1, 0]);
  assert.equal(r.nanCount, 4);
  assert.equal(r.fracZeroStd, 0.5);
  // a group with no finite reward: mean NaN, std 0, advantages 0
  const empty = groupAdvantages([NaN, NaN], 2);
  assert.ok(Number.isNaN(empty.groupMean[0]));
  closeAll(empty.advantages, [0, 0]);
  assert.equal(empty.fracZeroStd, 1);
});

test('group size must divide the batch', () => {
  assert.throws(() => groupAdvantages([1, 2, 3], 2), /whole number of groups/);
  assert.throws(() => groupAdvantages([1, 2], 0), /positive integer/);
});

test('joint rewards and advantages (ULM-R1 lambda 0.8)', () => {
  // 1 + 0.8*1 = 1.8; t2i NaN -> 0.8*0.5 = 0.4; mm2t NaN -> 0.5; both NaN -> NaN
  const r = unifyRewards([1, NaN, 0.5, NaN], [1, 0.5, NaN, NaN]);
  closeAll(r.slice(0, 3), [1.8, 0.4, 0.5]);
  assert.ok(Number.isNaN(r[3]));
  // [1,-1] + 0.8*[0.5,0.5] = [1.4, -0.6]; lambda 0.5: [1.25, -0.75]
  closeAll(unifyAdvantages([1, -1], [0.5, 0.5]), [1.4, -0.6]);
  closeAll(unifyAdvantages([1, -1], [0.5, 0.5], 0.5), [1.25, -0.75]);
  assert.throws(() => unifyRewards([1], [1, 2]), /mm2t/);
});

test('joint advantages: unify_reward, unify_advantage, separate', () => {
  const t2i = [1, 0];
  const mm2t = [0, 1];
  // unify_reward: r = [1 + 0, 0 + 0.8] = [1, 0.8]; mean 0.9, deviations +-0.1, unbiased var 0.02/1,
  //   std 0.1414213562; A = +-0.1 / 0.1415213562 = +-0.7066071345, the same for both tasks
  const ur = jointAdvantages(t2i, mm2t, 2);
  closeAll(ur.t2i, [0.7066071345, -0.7066071345]);
  closeAll(ur.mm2t, ur.t2i);
  closeAll(ur.unifiedReward ?? [], [1, 0.8]);
  // per task: [1,0] -> mean .5, std sqrt(0.5) = 0.7071067812, A = +-0.5/0.7072067812 = +-0.7070067953;
  //   mm2t is the mirror image: [-0.7070067953, +0.7070067953]
  const at = 0.7070067953;
  // unify_advantage: A_t2i + 0.8 A_mm2t = [at - 0.8 at, -at + 0.8 at] = [0.2 at, -0.2 at] = +-0.1414013591
  const ua = jointAdvantages(t2i, mm2t, 2, { mode: 'unify_advantage' });
  closeAll(ua.t2i, [0.1414013591, -0.1414013591]);
  closeAll(ua.mm2t, ua.t2i);
  const sep = jointAdvantages(t2i, mm2t, 2, { mode: 'separate' });
  closeAll(sep.t2i, [at, -at]);
  closeAll(sep.mm2t, [-at, at]);
});

test('reward metrics with TRL names, NaN-aware', () => {
  // total [1,0,0,1 | .5,.5,.5,.5]: group means .5, .5 -> reward 0.5; group stds sqrt(1/3), 0 ->
  //   reward_std = 0.5773502692 / 2 = 0.2886751346; one zero-std group of 2 -> 0.5
  // fmt [1,1,NaN,0]: finite [1,1,0], mean 2/3, deviations [1/3,1/3,-2/3], sum sq 6/9, unbiased var 1/3,
  //   std 0.5773502692
  const m = rewardMetrics(
    { format: [1, 1, NaN, 0, 1, 1, 1, 1], qa_accuracy: [NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN] },
    [1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5],
    4,
  );
  close(m['reward'] as number, 0.5);
  close(m['reward_std'] as number, 0.2886751346);
  close(m['frac_reward_zero_std'] as number, 0.5);
  // format over the batch: finite [1,1,0,1,1,1,1] (7 values), mean 6/7; deviations 1/7 (x6), -6/7:
  //   sum sq = 6/49 + 36/49 = 42/49, unbiased var = (42/49)/6 = 1/7, std = 0.3779644730
  close(m['rewards/format/mean'] as number, 6 / 7);
  close(m['rewards/format/std'] as number, 0.377964473);
  assert.ok(Number.isNaN(m['rewards/qa_accuracy/mean']));
  assert.ok(Number.isNaN(m['rewards/qa_accuracy/std']));
});

// ---- policy loss -----------------------------------------------------------------------------------------

/**
 * A 2x3 example with no clipping (eps 10): oldLogp = 0 and logp = ln(rho) with rho = [[1,2,5],[0.5,3,3]],
 * A = [1, 2], mask [[1,1,0],[1,0,0]]. Per-token loss -rho*A = [[-1,-2,-5],[-1,-6,-6]]; the masked tokens
 * are -1, -2 (row 0) and -1 (row 1).
 */
function aggInput(aggregation: PolicyLossInput['aggregation'], maxLen?: number): PolicyLossInput {
  const rho = [
    [1, 2, 5],
    [0.5, 3, 3],
  ];
  return {
    logp: f64(rho.map((row) => row.map(Math.log))),
    oldLogp: torch.zeros([2, 3], { dtype: 'float64' }),
    advantages: [1, 2],
    mask: torch.tensor([
      [1, 1, 0],
      [1, 0, 0],
    ]),
    epsLow: 10,
    aggregation,
    ...(maxLen !== undefined ? { maxLen } : {}),
  };
}

test('aggregation: token-mean, seq-mean-token-mean, dr_grpo on a masked 2x3 example', () => {
  torch.tidy(() => {
    // token-mean: (-1 - 2 - 1) / 3 tokens = -4/3
    close(policyLoss(aggInput('token-mean')).loss.item(), -4 / 3);
    // seq-mean-token-mean: row 0 (-1-2)/2 = -1.5, row 1 -1/1 = -1; mean -1.25
    close(policyLoss(aggInput('seq-mean-token-mean')).loss.item(), -1.25);
    // dr_grpo: -4 / (B * L) = -4 / (2*3) = -2/3; with maxLen 4: -4 / 8 = -0.5
    close(policyLoss(aggInput('dr_grpo')).loss.item(), -2 / 3);
    close(policyLoss(aggInput('dr_grpo', 4)).loss.item(), -0.5);
  });
});

test('aggregation: an empty sequence is left out of the seq mean; an empty batch gives 0', () => {
  torch.tidy(() => {
    const l = f64([
      [2, 4],
      [7, 7],
    ]);
    const m = torch
      .tensor([
        [1, 1],
        [0, 0],
      ])
      .double();
    // row 0: (2+4)/2 = 3; row 1 has no token -> mean over the one live row = 3
    close(aggregateLoss(l, m, 'seq-mean-token-mean').item(), 3);
    close(aggregateLoss(l, torch.zeros([2, 2], { dtype: 'float64' }), 'token-mean').item(), 0);
  });
});

test('clipping with epsHigh != epsLow: loss, clip ratios and zero gradient on clipped tokens', () => {
  torch.tidy(() => {
    // epsLow 0.2 -> clip range [0.8, 1.28] with epsHigh 0.28
    // row 0, A=+1, rho [1.5, 0.9]: tok0 min(1.5, 1.28) = 1.28 -> loss -1.28 (high-clipped);
    //                              tok1 min(0.9, 0.9)   -> -0.9
    // row 1, A=-1, rho [0.5, 1.1]: tok0 min(-0.5, -0.8) = -0.8 -> 0.8 (low-clipped); tok1 -> 1.1
    // row 2, A=-1, rho [1.5, 1.0]: tok0 min(-1.5, -1.28) = -1.5 -> 1.5 (unclipped side); tok1 -> 1.0
    // row 3, A=+1, rho [0.5, 2.0 (masked out)]: tok0 min(0.5, 0.8) = 0.5 -> -0.5; tok1 ignored (it would be
    //   high-clipped)
    // token-mean = (-1.28 - 0.9 + 0.8 + 1.1 + 1.5 + 1.0 - 0.5) / 7 = 1.72 / 7 = 0.2457142857
    // clip low 1/7, high 1/7, region 2/7; ratio mean (1.5+0.9+0.5+1.1+1.5+1.0+0.5)/7 = 7/7 = 1
    const rho = [
      [1.5, 0.9],
      [0.5, 1.1],
      [1.5, 1.0],
      [0.5, 2.0],
    ];
    const logp = f64(rho.map((row) => row.map(Math.log))).requiresGrad_();
    const { loss, metrics } = policyLoss({
      logp,
      oldLogp: torch.zeros([4, 2], { dtype: 'float64' }),
      advantages: [1, -1, -1, 1],
      mask: torch.tensor([
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 0],
      ]),
      epsLow: 0.2,
      epsHigh: 0.28,
    });
    close(loss.item(), 0.2457142857);
    close(metrics.clipRatioLowMean, 1 / 7);
    close(metrics.clipRatioHighMean, 1 / 7);
    close(metrics.clipRatioRegionMean, 2 / 7);
    close(metrics.ratioMean, 1);
    assert.equal(metrics.tokens, 7);
    assert.equal(metrics.klMean, undefined);
    // d loss / d logp = -A rho / 7 where the unclipped term is the min, 0 where the clipped one is (or masked):
    //   row 0: [0, -0.9/7]; row 1: [0, 1.1/7]; row 2: [1.5/7, 1/7]; row 3: [-0.5/7, 0]
    loss.backward();
    const g = (logp.grad as Tensor).toArray();
    closeAll(g, [0, -0.9 / 7, 0, 1.1 / 7, 1.5 / 7, 1 / 7, -0.5 / 7, 0]);
  });
});

test('KL: k3 and k1 values, the beta penalty, and the metric', () => {
  torch.tidy(() => {
    // logp [-1, -2], ref [-1.5, -1]: d = ref - logp = [-0.5, 1]
    // k3 = exp(d) - d - 1 = [0.6065306597 + 0.5 - 1, 2.7182818285 - 1 - 1] = [0.1065306597, 0.7182818285]
    //   mean 0.4124062441
    // k1 = logp - ref = [0.5, -1], mean -0.25
    const logp = f64([[-1, -2]]);
    const ref = f64([[-1.5, -1]]);
    closeAll(klPerToken(logp, ref, 'k3').toArray(), [0.1065306597, 0.7182818285]);
    closeAll(klPerToken(logp, ref, 'k1').toArray(), [0.5, -1]);
    const base = { logp, refLogp: ref, mask: torch.ones([1, 2]), beta: 0.1 } as const;
    // A = 0: the policy term is 0, loss = 0.1 * 0.4124062441 = 0.0412406244
    const k3 = policyLoss({ ...base, advantages: [0] });
    close(k3.loss.item(), 0.0412406244);
    close(k3.metrics.klMean as number, 0.4124062441);
    // k1: 0.1 * -0.25 = -0.025
    close(policyLoss({ ...base, advantages: [0], kl: 'k1' }).loss.item(), -0.025);
    // A = 2, ratio 1: -2 + 0.0412406244 = -1.9587593756
    close(policyLoss({ ...base, advantages: [2] }).loss.item(), -1.9587593756);
    // beta 0 with a reference: the loss ignores it, the metric still reports it
    const b0 = policyLoss({ ...base, beta: 0, advantages: [2] });
    close(b0.loss.item(), -2);
    close(b0.metrics.klMean as number, 0.4124062441);
    assert.throws(
      () => policyLoss({ logp, mask: torch.ones([1, 2]), advantages: [1], beta: 0.1 }),
      /refLogp/,
    );
  });
});

test('mu = 1 (oldLogp = logp.detach()): ratio exactly 1, loss = -mean(A) under token-mean', () => {
  torch.tidy(() => {
    const logp = torch.tensor([
      [-0.3, -1.2, -2.5],
      [-0.7, -0.1, -4.0],
    ]);
    // full mask: loss = -(0.5 + -1.5)/2 = 0.5
    const full = policyLoss({
      logp,
      oldLogp: logp.detach(),
      advantages: [0.5, -1.5],
      mask: torch.ones([2, 3]),
    });
    close(full.loss.item(), 0.5);
    assert.equal(full.metrics.ratioMean, 1);
    assert.equal(full.metrics.clipRatioRegionMean, 0);
    // ragged mask [[1,1,1],[1,1,0]]: token-weighted, -(0.5*3 - 1.5*2)/5 = 0.3; oldLogp defaults to detach
    const mask = torch.tensor([
      [true, true, true],
      [true, true, false],
    ]);
    close(policyLoss({ logp, advantages: [0.5, -1.5], mask }).loss.item(), 0.3);
  });
});

test('one SGD step raises logp where A > 0 and lowers it where A < 0', () => {
  torch.tidy(() => {
    // logits [B=2, L=3, V=4] all 0: every log-prob is ln(1/4) = -1.3862943611
    const logits = torch.zeros([2, 3, 4], { dtype: 'float64' }).requiresGrad_();
    const targets = torch.tensor([0, 1, 2, 3, 0, 1], { dtype: 'int64', shape: [2, 3] });
    const logp = F.logProbsOf(logits, targets);
    const { loss } = policyLoss({
      logp,
      advantages: [1, -1],
      mask: torch.ones([2, 3], { dtype: 'float64' }),
    });
    loss.backward();
    // loss = -(1/6) sum_b A_b sum_t logp_bt (ratio 1, gradient of rho = gradient of logp), so
    //   d loss / d logit_v = -(A_b/6)(onehot_v - 1/4): target -A_b/8, the other three +A_b/24.
    // SGD with lr 1: sample 0 target logit 0.125, others -1/24; sample 1 target -0.125, others +1/24.
    // new logp, sample 0: 0.125 - ln(e^0.125 + 3 e^(-1/24)) = 0.125 - ln(1.1331484531 + 2.8775683713)
    //   = -1.2639699845 > -1.3862943611
    // sample 1: -0.125 - ln(e^-0.125 + 3 e^(1/24)) = -1.5138255595 < -1.3862943611
    const stepped = torch.noGrad(() => logits.sub((logits.grad as Tensor).mul(1)));
    const after = F.logProbsOf(stepped, targets).toArray();
    closeAll(
      after,
      [-1.2639699845, -1.2639699845, -1.2639699845, -1.5138255595, -1.5138255595, -1.5138255595],
    );
  });
});

test('unified loss: each modality normalised on its own, losses summed, prefixed metrics', () => {
  torch.tidy(() => {
    // text: 2 sequences of 1 active token, A = [1, 3], ratio 1 -> token-mean -(1+3)/2 = -2
    // image: 1 sequence of 4 tokens, A = [0.5] -> -0.5
    // a shared token mean would give -(1 + 3 + 4*0.5)/6 = -1; separately: -2 + -0.5 = -2.5
    const text: PolicyLossInput = {
      logp: torch.zeros([2, 2]),
      advantages: [1, 3],
      mask: torch.tensor([
        [1, 0],
        [1, 0],
      ]),
    };
    const image: PolicyLossInput = { logp: torch.zeros([1, 4]), advantages: [0.5], mask: torch.ones([1, 4]) };
    const u = unifiedLoss({ text, image });
    close(u.loss.item(), -2.5);
    close(u.metrics['mm2t/loss'] as number, -2);
    close(u.metrics['t2i/loss'] as number, -0.5);
    close(u.metrics['loss'] as number, -2.5);
    assert.equal(u.metrics['t2i/clip_ratio/region_mean'], 0);
    assert.equal(u.metrics['mm2t/num_tokens'], 2);
    assert.equal(u.metrics['mm2t/kl'], undefined);
    close(unifiedLoss({ image }).loss.item(), -0.5);
    assert.throws(() => unifiedLoss({}), /needs/);
  });
});

test('bfloat16 log-probs are upcast: float32 loss, gradient reaches the bf16 leaf', () => {
  torch.tidy(() => {
    // ratio 1, A = 1, 2 tokens: loss -1; d loss / d logp = -A/2 = -0.5 per token (exact in bf16)
    const logp = torch.zeros([1, 2]).to('bfloat16').requiresGrad_();
    const { loss } = policyLoss({ logp, advantages: [1], mask: torch.ones([1, 2]) });
    assert.equal(loss.dtype, 'float32');
    assert.equal(loss.item(), -1);
    loss.backward();
    assert.deepEqual((logp.grad as Tensor).toArray(), [-0.5, -0.5]);
  });
});

test('shape checks', () => {
  torch.tidy(() => {
    const logp = torch.zeros([2, 3]);
    assert.throws(() => policyLoss({ logp, advantages: [1], mask: torch.ones([2, 3]) }), /1 advantages/);
    assert.throws(() => policyLoss({ logp, advantages: [1, 2], mask: torch.ones([2, 2]) }), /mask/);
  });
});

test('no native tensor leaks', () => {
  const before = torch.liveTensors();
  torch.tidy(() => {
    const logp = torch.randn([3, 5]).requiresGrad_();
    const r = unifiedLoss({
      text: {
        logp,
        advantages: [1, -1, 0.5],
        mask: torch.ones([3, 5]),
        refLogp: torch.randn([3, 5]),
        beta: 0.1,
      },
      image: { logp, oldLogp: logp.detach().add(0.1), advantages: [1, 0, -1], mask: torch.ones([3, 5]) },
    });
    r.loss.backward();
    policyLoss({ logp, advantages: [1, 2, 3], mask: torch.ones([3, 5]), aggregation: 'seq-mean-token-mean' });
  });
  assert.equal(torch.liveTensors(), before);
});
