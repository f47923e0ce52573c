/**
 * The readable form of an evaluation result (evaluate.ts): one block per benchmark, the headline scores with
 * the 95% interval of this evaluation over its items (bootstrap, intervals.ts). Torch-free.
 */
import type { EvalResult } from './evaluate.js';
import { evalIntervals, headlineScores, type HeadlineKey } from './intervals.js';

const f3 = (v: number) => v.toFixed(3);

function row(name: string, value: string, n?: number): string {
  return `  ${name.padEnd(24)} ${value.padStart(6)}${n === undefined ? '' : `   (n=${n})`}`;
}

export function formatEvalTable(r: EvalResult): string {
  const out: string[] = [];
  const ci = r.items ? evalIntervals(r.items) : undefined;
  /** A headline score with its interval (a result written before items existed has none). */
  const withCi = (v: number, k: HeadlineKey) =>
    ci && Number.isFinite(ci[k]) ? `${f3(v)} ± ${f3(ci[k])}` : f3(v);
  if (r.geneval) {
    const g = r.geneval;
    out.push(
      `GenEval-style generation (${g.prompts} prompts, ${g.images} images, ${g.objects_per_image.toFixed(2)} objects/image)`,
    );
    out.push(row('overall', withCi(g.overall, 'geneval/overall')));
    for (const [c, a] of Object.entries(g.categories)) out.push(row(c, f3(a.accuracy), a.n));
  }
  for (const fam of ['mcq', 'oe'] as const) {
    const a = r[fam];
    if (!a) continue;
    out.push(fam === 'mcq' ? 'Multiple choice (chance 0.25)' : 'Open-ended');
    out.push(row('accuracy', withCi(a.accuracy, `${fam}/accuracy`), a.n));
    for (const [k, v] of Object.entries(a.by_kind)) out.push(row(k, f3(v.accuracy), v.n));
  }
  if (r.pope) {
    const p = r.pope;
    out.push('POPE (yes / no)');
    out.push(row('accuracy', f3(p.accuracy), p.n));
    out.push(row('precision', f3(p.precision)));
    out.push(row('recall', f3(p.recall)));
    out.push(row('f1', withCi(p.f1, 'pope/f1')));
    out.push(row('yes ratio', f3(p.yes_ratio)));
    for (const [s, m] of Object.entries(p.splits))
      out.push(row(`${s} acc / f1`, `${f3(m.accuracy)} / ${f3(m.f1)}`, m.n));
  }
  if (r.items && r.mcq && r.oe && r.pope)
    out.push(
      row('understanding mean', withCi(headlineScores(r.items)['understanding/mean'], 'understanding/mean')),
    );
  if (r.format) {
    out.push('Format (<think> ... </think> <answer> ... </answer>)');
    out.push(row('rate', f3(r.format.rate), r.format.n));
    for (const [k, v] of Object.entries(r.format.by_family)) out.push(row(k, f3(v.accuracy), v.n));
  }
  if (ci) out.push('(± : the 95% interval of this evaluation over its items, bootstrap)');
  out.push(`(${r.seconds.toFixed(1)} s)`);
  return out.join('\n');
}
