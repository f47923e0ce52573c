/**
 * The engine end to end: a tiny GPT written on src/torch learns to sort digits (> 95% token accuracy on fresh
 * sequences, greedy decoding) and the live native-tensor count stays flat over 1,000 training steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { GPT } from '../../src/bench/gpt.js';

const DIGITS = 10;
const SEP = 10;
const N = 6; // digits per sequence
const STEPS = 1000;

/** Rows of [x1..xN, SEP, sorted(x)...]; targets are the next tokens, with the prompt part ignored (-100). */
function batch(gen: torch.Generator, B: number) {
  return torch.tidy(() => {
    const x = torch.randint(0, DIGITS, [B, N], { generator: gen });
    const sorted = x.sort(1).values;
    const seq = torch.cat([x, torch.full([B, 1], SEP, { dtype: 'int64' }), sorted], 1); // [B, 2N+1]
    const ids = seq.slice(1, 0, 2 * N);
    const targets = seq.slice(1, 1, 2 * N + 1).clone();
    const promptMask = torch
      .arange(2 * N)
      .lt(N)
      .unsqueeze(0)
      .expand([B, 2 * N]);
    return { seq, ids, targets: targets.maskedFill(promptMask, -100) };
  });
}

test('a tiny GPT learns to sort digits, with a flat live-tensor count', () => {
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const gen = new torch.Generator(123);
  const model = new GPT({ vocab: DIGITS + 1, dModel: 48, layers: 2, heads: 4, maxSeq: 2 * N + 1 });
  const opt = new torch.optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  const schedule = torch.lr.cosine(STEPS, 50, 0.1);

  let liveAfterFirst = -1;
  let maxDrift = 0;
  let lastLoss = Infinity;
  for (let step = 0; step < STEPS; step++) {
    lastLoss = torch.tidy(() => {
      const { ids, targets } = batch(gen, 32);
      const logits = model.forward(ids);
      const loss = torch.F.crossEntropy(logits.reshape([-1, DIGITS + 1]), targets.reshape([-1]));
      opt.zeroGrad();
      loss.backward();
      torch.optim.clipGradNorm(model.parameters(), 1.0);
      opt.lr = 3e-3 * schedule(step);
      opt.step();
      return loss.item();
    });
    const live = torch.liveTensors();
    if (step === 0) liveAfterFirst = live;
    else maxDrift = Math.max(maxDrift, Math.abs(live - liveAfterFirst));
  }
  assert.equal(maxDrift, 0, `live tensors drifted by ${maxDrift} over ${STEPS} steps`);
  assert.ok(lastLoss < 0.2, `final loss ${lastLoss}`);

  // Greedy decoding of fresh sequences with the KV cache.
  const evalGen = new torch.Generator(999);
  const accuracy = torch.noGrad(() =>
    torch.tidy(() => {
      const { seq } = batch(evalGen, 256);
      const prompt = seq.slice(1, 0, N + 1);
      const cache = new torch.KVCache(); // no capacity hint: the buffers regrow as decoding goes on
      let logits = model.forward(prompt, cache);
      const outs: torch.Tensor[] = [];
      for (let i = 0; i < N; i++) {
        const tok = logits.select(1, -1).argmax(-1, true);
        outs.push(tok);
        logits = model.forward(tok, cache);
      }
      cache.dispose();
      const pred = torch.cat(outs, 1);
      return pred
        .eq(seq.slice(1, N + 1))
        .float()
        .mean()
        .item();
    }),
  );
  console.log(`sort task: final loss ${lastLoss.toFixed(4)}, greedy token accuracy ${accuracy.toFixed(4)}`);
  assert.ok(accuracy > 0.95, `token accuracy ${accuracy}`);
  opt.dispose();
  model.dispose();
});
