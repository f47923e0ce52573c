/** Learning-rate schedules: a function from the step (0-based) to a multiplier of the base rate. */
export type Schedule = (step: number) => number;

export function constant(): Schedule {
  return () => 1;
}

/** Linear warm-up from 0 over `warmup` steps, then constant. */
export function linearWarmup(warmup: number): Schedule {
  return (step) => (warmup > 0 && step < warmup ? (step + 1) / warmup : 1);
}

/** Linear warm-up, then linear decay to `final` (a fraction of the base) at `total` steps (HF's default is 0). */
export function linearDecay(total: number, warmup = 0, final = 0): Schedule {
  return (step) => {
    if (warmup > 0 && step < warmup) return (step + 1) / warmup;
    const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
    return 1 - (1 - final) * t;
  };
}

/** Linear warm-up, then cosine decay to `final` (a fraction of the base) at `total` steps. */
export function cosine(total: number, warmup = 0, final = 0): Schedule {
  return (step) => {
    if (warmup > 0 && step < warmup) return (step + 1) / warmup;
    const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
    return final + (1 - final) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}

export function scheduleByName(
  name: 'constant' | 'linear' | 'cosine',
  total: number,
  warmup = 0,
  final = 0,
): Schedule {
  switch (name) {
    case 'constant':
      return warmup > 0 ? linearWarmup(warmup) : constant();
    case 'linear':
      return linearDecay(total, warmup, final);
    case 'cosine':
      return cosine(total, warmup, final);
  }
}
