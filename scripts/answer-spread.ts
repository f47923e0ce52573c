/**
 * How sure a model is of its answers (a diagnostic for docs/recipe.md, not CI): for each held-out question of
 * a ShapesWorld evaluation split, the greedy answer (what `corl eval` scores) and G answers sampled at
 * temperature 1 (what a GRPO rollout draws), scored by the `qa_accuracy` reward. Prints one JSON line per
 * family (MCQ, OE, POPE):
 *   greedy      accuracy of the greedy answers
 *   sampled     mean accuracy of the sampled answers
 *   all_right / all_wrong / mixed   questions whose G samples were all right, all wrong, or some of each
 *                                   (a GRPO group carries a learning signal only when mixed)
 *   flippable   greedy wrong, at least a quarter of the samples right
 *   fragile     greedy right, at most 60% of the samples right
 * and per question kind (colour, count, position, ...) the greedy and sampled accuracy.
 *
 *   npx tsx scripts/answer-spread.ts --model DIR [--seed S] [--scenes N] [--g G]
 *
 * The questions are `worldEvalRows(seed, N)`: the same rows `corl world build --seed S --test N` writes to
 * eval/ (N MCQ, N open-ended, 3N POPE questions). Sampling is seeded (generator seed 1).
 */
import * as torch from '../src/torch/index.js';
import { loadULM } from '../src/model/index.js';
import { questionFamily, worldEvalRows } from '../src/eval/evaluate.js';
import { rolloutAnswers, type SamplingConfig } from '../src/rl/rollout.js';
import { qaAccuracy } from '../src/rewards/accuracy.js';
import type { RLExample } from '../src/rl/data.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback?: string): string => {
  const i = args.indexOf(name);
  const v = i >= 0 ? args[i + 1] : fallback;
  if (v === undefined) {
    console.error(`usage: npx tsx scripts/answer-spread.ts --model DIR [--seed S] [--scenes N] [--g G]`);
    process.exit(2);
  }
  return v;
};
const modelDir = flag('--model');
const seed = Number(flag('--seed', '1000'));
const scenes = Number(flag('--scenes', '100'));
const G = Number(flag('--g', '16'));

const { model, tokenizer: tok } = loadULM(modelDir);
const policy = { model, tok };
const rows = worldEvalRows(seed, scenes).filter((r) => questionFamily(r) !== null);
const sampling = (textTemperature: number): SamplingConfig => ({
  cfgWeight: 5,
  temperature: 1,
  textTemperature,
  topK: 0,
  topP: 1,
  maxCompletionLength: 48,
  recaptionTemperature: 0,
  recaptionMaxTokens: 40,
});
const generator = new torch.Generator(1);

interface Tally {
  n: number;
  greedy: number;
  sampled: number;
  all_right: number;
  all_wrong: number;
  mixed: number;
  flippable: number;
  fragile: number;
  kinds: Record<string, { n: number; greedy: number; sampled: number }>;
}
const tallies = new Map<string, Tally>();

torch.noGrad(() => {
  for (let i = 0; i < rows.length; i += 16) {
    const part = rows.slice(i, i + 16);
    const examples: RLExample[] = part.map((r, k) => ({
      id: String(i + k),
      prompt: r.prompt ?? '',
      realImage: r.image,
      qaProblem: r.qa_problem!,
      qaSolution: r.qa_solution!,
      qaType: r.qa_type ?? 'OE',
      spec: r.spec,
    }));
    torch.tidy(() => {
      const sampled = rolloutAnswers(policy, examples, G, sampling(1), generator);
      const greedy = rolloutAnswers(policy, examples, 1, sampling(0), generator);
      part.forEach((r, k) => {
        const score = (completion: string): number =>
          qaAccuracy({
            completion,
            qa_solution: r.qa_solution!,
            qa_type: r.qa_type ?? 'OE',
            qa_problem: r.qa_problem!,
          });
        const p = sampled.texts.slice(k * G, (k + 1) * G).reduce((s, c) => s + score(c), 0) / G;
        const g = score(greedy.texts[k]!);
        const family = questionFamily(r)!;
        let t = tallies.get(family);
        if (t === undefined) {
          t = {
            n: 0,
            greedy: 0,
            sampled: 0,
            all_right: 0,
            all_wrong: 0,
            mixed: 0,
            flippable: 0,
            fragile: 0,
            kinds: {},
          };
          tallies.set(family, t);
        }
        t.n++;
        t.greedy += g;
        t.sampled += p;
        if (p === 1) t.all_right++;
        else if (p === 0) t.all_wrong++;
        else t.mixed++;
        if (g === 0 && p >= 0.25) t.flippable++;
        if (g === 1 && p <= 0.6) t.fragile++;
        const kind = (t.kinds[r.qa_kind ?? '?'] ??= { n: 0, greedy: 0, sampled: 0 });
        kind.n++;
        kind.greedy += g;
        kind.sampled += p;
      });
    });
  }
});
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
for (const [family, t] of tallies) {
  const kinds = Object.fromEntries(
    Object.entries(t.kinds).map(([k, v]) => [
      k,
      { n: v.n, greedy: r3(v.greedy / v.n), sampled: r3(v.sampled / v.n) },
    ]),
  );
  console.log(
    JSON.stringify({
      family,
      n: t.n,
      greedy: r3(t.greedy / t.n),
      sampled: r3(t.sampled / t.n),
      all_right: t.all_right,
      all_wrong: t.all_wrong,
      mixed: t.mixed,
      flippable: t.flippable,
      fragile: t.fragile,
      kinds,
    }),
  );
}
