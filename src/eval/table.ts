/** The readable form of an evaluation result (evaluate.ts): one block per benchmark. Torch-free. */
import type { EvalResult } from './evaluate.js';

const f3 = (v: number) => v.toFixed(3);

function row(name: string, value: string, n?: number): string {
  return `  ${name.padEnd(24)} ${value.padStart(6)}${n === undefined ? '' : `   (n=${n})`}`;
}

export function formatEvalTable(r: EvalResult): string {
  const out: string[] = [];
  if (r.geneval) {
    const g = r.geneval;
    out.push(
      `GenEval-style generation (${g.prompts} prompts, ${g.images} images, ${g.objects_per_image.toFixed(2)} objects/image)`,
    );
    out.push(row('overall', f3(g.overall)));
    for (const [c, a] of Object.entries(g.categories)) out.push(row(c, f3(a.accuracy), a.n));
  }
  for (const fam of ['mcq', 'oe'] as const) {
    const a = r[fam];
    if (!a) continue;
    out.push(fam === 'mcq' ? 'Multiple choice (chance 0.25)' : 'Open-ended');
    out.push(row('accuracy', f3(a.accuracy), a.n));
    for (const [k, v] of Object.entries(a.by_kind)) out.push(row(k, f3(v.accuracy), v.n));
  }
  if (r.pope) {
    const p = r.pope;
    out.push('POPE (yes / no)');
    out.push(row('accuracy', f3(p.accuracy), p.n));
    out.push(row('precision', f3(p.precision)));
    out.push(row('recall', f3(p.recall)));
    out.push(row('f1', f3(p.f1)));
    out.push(row('yes ratio', f3(p.yes_ratio)));
    for (const [s, m] of Object.entries(p.splits))
      out.push(row(`${s} acc / f1`, `${f3(m.accuracy)} / ${f3(m.f1)}`, m.n));
  }
  if (r.format) {
    out.push('Format (<think> ... </think> <answer> ... </answer>)');
    out.push(row('rate', f3(r.format.rate), r.format.n));
    for (const [k, v] of Object.entries(r.format.by_family)) out.push(row(k, f3(v.accuracy), v.n));
  }
  out.push(`(${r.seconds.toFixed(1)} s)`);
  return out.join('\n');
}
