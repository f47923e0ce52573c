/**
 * A training run's folder and what may happen to it (output-dir.ts's rule, for `corl train`):
 *
 *   - absent or empty: a new run;
 *   - holding a run corl wrote: refused unless `--resume` (continue it) or `--overwrite` (clear its
 *     checkpoints, metrics and samples first, so no stale checkpoint survives, then start over);
 *   - anything else: refused (output-dir.ts).
 *
 * `--resume` continues only the same run: the run's fingerprint (a hash of the config fields that change
 * what it computes, seed included; see `runFingerprint`) must match the config's. It resumes from the newest
 * intact checkpoint whose step is within `steps`, falling back past damaged ones with a warning, and removes
 * leftovers of interrupted writes. Nothing here writes until `commit`, which the trainer calls once the model,
 * the data and the rewards have loaded, so a bad config never touches a finished run. While the run is
 * written its folder holds a lock with the writer's pid (output-dir.ts lockDir): a second writer is refused.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import {
  TEMP_ENTRY,
  checkOutDir,
  checkUnlocked,
  lockDir,
  clearOwnEntries,
  writeMarker,
  type OutDirState,
} from '../util/output-dir.js';
import type { TrainConfig } from './config.js';
import { checkpointDir, loadTrainerCheckpoint, type ResumedRun } from './checkpoint.js';

/** Fields that do not change what a run computes (where it writes, how often it logs, saves and evaluates). */
const NOT_FINGERPRINTED = [
  'out',
  'log_every',
  'sample_every',
  'save_every',
  'eval_rows',
  'eval_every',
  'eval_data',
] as const;

/** The config fields a run's results depend on; `steps` only when the learning-rate schedule depends on it. */
export function fingerprintFields(cfg: TrainConfig): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...cfg };
  for (const k of NOT_FINGERPRINTED) delete fields[k];
  if (cfg.lr_schedule === 'constant') delete fields.steps;
  return Object.fromEntries(Object.entries(fields).sort(([a], [b]) => a.localeCompare(b)));
}

/** A short hash of `fingerprintFields` (stable key order). */
export function runFingerprint(cfg: TrainConfig): string {
  return createHash('sha256')
    .update(JSON.stringify(fingerprintFields(cfg)))
    .digest('hex')
    .slice(0, 16);
}

/** The fields whose values differ between two fingerprinted configs (for the error message). */
function differingFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The `checkpoint-N` steps under `out`, newest first. */
export function checkpointSteps(out: string): number[] {
  if (!existsSync(out)) return [];
  return readdirSync(out)
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
}

export interface RunPlan {
  /** The checkpoint the run continues from (its model is loaded), or null for a run from step 0. */
  resumed: ResumedRun | null;
  /** Damaged checkpoints newer than `resumed`, removed at commit. */
  damaged: number[];
  state: OutDirState;
  /** Writes the run's marker and clears what the plan says must go. Call once everything has loaded. */
  commit(): void;
}

export interface RunDirOptions {
  resume?: boolean;
  overwrite?: boolean;
  warn?: (line: string) => void;
}

/** Checks the run folder against the rule and picks the checkpoint to resume from; writes nothing. */
export function planRunDir(cfg: TrainConfig, o: RunDirOptions = {}): RunPlan {
  const warn = o.warn ?? ((l: string) => process.stderr.write(`corl: warning: ${l}\n`));
  if (o.resume && o.overwrite) throw new UserError('give --resume or --overwrite, not both');
  const state = checkOutDir(cfg.out, {
    kind: 'run',
    overwrite: o.overwrite,
    resume: o.resume,
    inputs: [
      ['model', cfg.model],
      ['data', cfg.data],
      ['eval_data', cfg.eval_data],
      ['lpips', cfg.lpips],
    ],
  });
  if (state.state === 'own') checkUnlocked(cfg.out);
  const fingerprint = runFingerprint(cfg);
  let resumed: ResumedRun | null = null;
  const damaged: number[] = [];
  if (state.state === 'own' && o.resume) {
    const was = state.marker.fingerprint;
    if (was !== fingerprint) {
      const diff = differingFields(
        (state.marker.config as Record<string, unknown> | undefined) ?? {},
        fingerprintFields(cfg),
      );
      throw new UserError(
        `${cfg.out} holds a run of another config (differs in: ${diff.join(', ') || 'unknown fields'}); ` +
          'resume it with its own config, or pass --overwrite to start over',
      );
    }
    const steps = checkpointSteps(cfg.out);
    if (steps.length > 0 && steps[0]! > cfg.steps)
      throw new UserError(
        `${checkpointDir(cfg.out, steps[0]!)} is past steps = ${cfg.steps}; raise steps or pass --overwrite to start over`,
      );
    for (const step of steps) {
      try {
        resumed = loadTrainerCheckpoint(checkpointDir(cfg.out, step), { step, fingerprint });
        break;
      } catch (e) {
        warn(`${checkpointDir(cfg.out, step)} is damaged (${(e as Error).message}); trying the one before`);
        damaged.push(step);
      }
    }
    if (resumed === null) warn(`${cfg.out} has no intact checkpoint; the run starts again from step 0`);
  }
  const restart = state.state === 'own' && (o.overwrite || resumed === null);
  return {
    resumed,
    damaged,
    state,
    commit() {
      if (restart) clearOwnEntries(cfg.out, 'run');
      else if (state.state === 'own') {
        // leftovers of interrupted checkpoint writes, and checkpoints that failed to load
        clearOwnEntries(cfg.out, 'run', (name) => TEMP_ENTRY.test(name));
        for (const step of damaged) rmSync(checkpointDir(cfg.out, step), { recursive: true, force: true });
      }
      mkdirSync(cfg.out, { recursive: true });
      writeMarker(cfg.out, 'run', { fingerprint, config: fingerprintFields(cfg) });
      lockDir(cfg.out);
    },
  };
}
