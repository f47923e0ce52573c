/**
 * One rank of the collectives tests (test/torch/distributed.test.ts): joins the group named by argv and runs
 * one scenario, printing one JSON line of results on stdout (or the error's message on a line starting "ERR").
 *   node --import tsx dist-worker.ts SCENARIO RANK WORLD INIT_METHOD [TIMEOUT_MS]
 */
import * as torch from '../../src/torch/index.js';
import * as dist from '../../src/torch/distributed.js';

const [scenario, rankS, worldS, initMethod, timeoutS] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string?,
];
const rank = Number(rankS);
const worldSize = Number(worldS);
const timeoutMs = timeoutS === undefined ? 20_000 : Number(timeoutS);

function out(x: unknown): void {
  process.stdout.write(JSON.stringify(x) + '\n');
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

try {
  dist.initProcessGroup({ backend: 'gloo', rank, worldSize, initMethod, timeoutMs });
  const live0 = torch.liveTensors();
  if (scenario === 'collectives') {
    const r = torch.tidy(() => {
      // a bucket of mixed dtypes and shapes, one of them a non-contiguous view
      const a = torch
        .tensor([1, 2, 3, 4, 5, 6], { dtype: 'float32' })
        .reshape([2, 3])
        .mul(rank + 1);
      const b = torch.tensor([0.5, -1.25], { dtype: 'float64' }).add(rank);
      const c = torch.tensor([10, 20, 30], { dtype: 'int64' }).add(rank);
      const base = torch.zeros([3, 2], { dtype: 'float32' }).add(rank * 100 + 7);
      const v = base.transpose(0, 1); // a non-contiguous view into base
      dist.allReduce([a, b, c, v], 'sum');
      const m = torch.tensor([rank, -rank, 3.5], { dtype: 'float32' });
      dist.allReduce(m, 'max');
      const avg = torch.tensor([rank * 2 + 1, 4], { dtype: 'float32' });
      dist.allReduce(avg, 'avg');
      const bc = [
        torch.full([4], rank + 0.25, { dtype: 'float32' }),
        torch.full([2, 2], rank * 3, { dtype: 'int64' }),
      ];
      dist.broadcast(bc, 1);
      const g = dist.allGather(torch.tensor([rank, rank * 10], { dtype: 'float32' }));
      const nums = dist.allGatherNumbers([rank, NaN, 1 / 3]);
      dist.barrier();
      return {
        a: a.toArray(),
        b: b.toArray(),
        c: c.toArray(),
        base: base.toArray(),
        m: m.toArray(),
        avg: avg.toArray(),
        bc: bc.map((t) => t.toArray()),
        g: g.map((t) => t.toArray()),
        nums: nums.map((row) => row.map((x) => (Number.isNaN(x) ? 'NaN' : x))),
      };
    });
    out({
      rank,
      worldSize: dist.getWorldSize(),
      getRank: dist.getRank(),
      ...r,
      liveDelta: torch.liveTensors() - live0,
    });
  } else if (scenario === 'grads') {
    // rank 0 has a gradient for p0 and p1, rank 1 only for p0; p2 has none anywhere
    const p = [0, 1, 2].map(() => torch.ones([3]).requiresGrad_(true).keep());
    torch.tidy(() => {
      p[0]!
        .mul(rank + 1)
        .sum()
        .backward();
      if (rank === 0) p[1]!.mul(5).sum().backward();
    });
    // a step's losses ride in the same collective
    const also = dist.allReduceGradients(p, 'sum', {}, [rank + 1, 10 * rank]);
    const gs = p.map((x) => torch.tidy(() => x.grad?.toArray() ?? null));
    torch.dispose(p);
    out({ rank, grads: gs, also, liveDelta: torch.liveTensors() - live0 });
  } else if (scenario === 'stall') {
    // rank 1 stalls past rank 0's collective timeout; rank 0 must get an error, not hang
    if (rank === 1) {
      sleepSync(Number(process.env.STALL_MS ?? 6000));
      out({ rank, stalled: true });
      process.exit(0);
    }
    const t0 = Date.now();
    try {
      torch.tidy(() => dist.allReduce(torch.ones([4]), 'sum', { timeoutMs: 1500 }));
      out({ rank, ok: true });
    } catch (e) {
      out({ rank, error: (e as Error).message, name: (e as Error).name, ms: Date.now() - t0 });
    }
    process.exit(0);
  } else if (scenario === 'die') {
    // rank 1 dies after joining; rank 0's next collective fails within the timeout
    if (rank === 1) process.exit(3);
    sleepSync(500);
    const t0 = Date.now();
    try {
      torch.tidy(() => dist.allReduce(torch.ones([4]), 'sum', { timeoutMs: 5000 }));
      out({ rank, ok: true });
    } catch (e) {
      out({ rank, error: (e as Error).message, ms: Date.now() - t0 });
    }
    process.exit(0);
  }
  dist.destroyProcessGroup();
} catch (e) {
  process.stdout.write(`ERR ${(e as Error).name}: ${(e as Error).message}\n`);
  process.exit(1);
}
