/**
 * Trainer checkpoints: DIR/checkpoint-N/ holds the policy (HF layout, model/), the optimizer moments
 * (optimizer.safetensors) and trainer_state.json (step = data position, sampler and default RNG states), so
 * `--resume` continues bit-exactly on CPU. Each checkpoint is written into a temp folder and renamed.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { loadULM, saveULM, type LoadedULM } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { writeDirAtomically } from '../util/atomic-dir.js';
import type { Policy } from './rollout.js';

export interface TrainerState {
  /** Optimizer steps done; also the index of the next data batch. */
  step: number;
  /** base64 of the sampling generator's state and of libtorch's default generator's state. */
  samplerRng: string;
  defaultRng: string;
  /** The config the run was started with (for a human reading the folder). */
  config: unknown;
}

const STATE_FILE = 'trainer_state.json';
const OPTIM_FILE = 'optimizer.safetensors';

export function checkpointDir(out: string, step: number): string {
  return join(out, `checkpoint-${step}`);
}

/** The newest complete checkpoint folder under `out`, or null. */
export function latestCheckpoint(out: string): string | null {
  if (!existsSync(out)) return null;
  const steps = readdirSync(out)
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(out, m[0], STATE_FILE)))
    .map((m) => Number(m[1]));
  return steps.length === 0 ? null : checkpointDir(out, Math.max(...steps));
}

export function saveTrainerCheckpoint(
  dir: string,
  policy: Policy,
  opt: torch.optim.AdamW,
  sampler: torch.Generator,
  step: number,
  config: unknown,
): void {
  writeDirAtomically(dir, (tmp) => {
    saveULM(policy.model, policy.tok, join(tmp, 'model'));
    const o = opt.stateDict();
    torch.safetensors.saveSafetensors(join(tmp, OPTIM_FILE), o.tensors, { step: String(o.step) });
    const state: TrainerState = {
      step,
      samplerRng: Buffer.from(sampler.getState()).toString('base64'),
      defaultRng: Buffer.from(torch.getRngState()).toString('base64'),
      config,
    };
    writeFileSync(join(tmp, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  });
}

export interface ResumedRun {
  loaded: LoadedULM;
  state: TrainerState;
  /** Restores the optimizer moments and RNG states once the optimizer exists. */
  restore(opt: torch.optim.AdamW, sampler: torch.Generator): void;
}

export function loadTrainerCheckpoint(dir: string): ResumedRun {
  const stateFile = join(dir, STATE_FILE);
  if (!existsSync(stateFile)) throw new UserError(`${dir} is not a trainer checkpoint (no ${STATE_FILE})`);
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as TrainerState;
  } catch {
    throw new UserError(`${stateFile} is not valid JSON`);
  }
  if (!Number.isInteger(state.step) || typeof state.samplerRng !== 'string') {
    throw new UserError(`${stateFile} is missing step or RNG state`);
  }
  const loaded = loadULM(join(dir, 'model'));
  return {
    loaded,
    state,
    restore(opt, sampler) {
      const { tensors, metadata } = torch.safetensors.loadSafetensors(join(dir, OPTIM_FILE));
      opt.loadStateDict({ step: Number(metadata.step ?? state.step), tensors });
      torch.dispose([...tensors.values()]);
      sampler.setState(new Uint8Array(Buffer.from(state.samplerRng, 'base64')));
      torch.setRngState(new Uint8Array(Buffer.from(state.defaultRng, 'base64')));
    },
  };
}
