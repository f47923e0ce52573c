/**
 * `geneval`: an exact, verifiable generation reward on ShapesWorld. The world's scene parser reads the
 * generated image (src/world/detect.ts `detectObjects`: shape, colour, size, box of each object) and the
 * GenEval-style scorer checks the detections against the prompt's structured spec (src/world/geneval.ts
 * `scoreGeneval`: counts, colours, relations, exclusions, GenEval's own rules). Reward 1 when the image
 * satisfies the spec, else 0; NaN when the sample carries no spec. Binary, as GenEval's per-image `correct`.
 */
import { detectObjects, type DetectOptions } from '../world/detect.js';
import { GENEVAL_CATEGORIES, scoreGeneval, type GenevalSpec } from '../world/geneval.js';
import type { ImageBatch, ImageRewardFn, RewardOutput } from './types.js';

/** The spec, checked to be a GenEval spec (tag + include list); a malformed spec is a data bug and throws. */
export function asGenevalSpec(spec: unknown, i: number): GenevalSpec {
  const s = spec as Partial<GenevalSpec> | null;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    GENEVAL_CATEGORIES.includes(s.tag as GenevalSpec['tag']) &&
    Array.isArray(s.include) &&
    s.include.every((inc) => typeof inc?.class === 'string' && Number.isInteger(inc.count));
  if (!ok) throw new RangeError(`geneval reward: sample ${i} has a spec that is not a GenEval spec`);
  return s as GenevalSpec;
}

export function genevalReward(opts: DetectOptions = {}): ImageRewardFn {
  return {
    name: 'geneval',
    modality: 'image',
    score(batch: ImageBatch): RewardOutput {
      const objects: number[] = [];
      const values = batch.samples.map((s, i) => {
        if (s.spec === undefined) {
          objects.push(NaN);
          return NaN;
        }
        const spec = asGenevalSpec(s.spec, i);
        const dets = detectObjects(s.image, opts);
        objects.push(dets.length);
        return scoreGeneval(spec, dets).correct ? 1 : 0;
      });
      const missing = values.filter(Number.isNaN).length;
      return {
        values,
        parts: { objects_detected: objects },
        ...(missing > 0 ? { note: `${missing} without a spec` } : {}),
      };
    },
  };
}
