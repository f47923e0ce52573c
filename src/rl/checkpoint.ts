/**
 * Trainer checkpoints: DIR/checkpoint-N/ holds the policy (HF layout, model/; a LoRA run also adapter/, and
 * model/ has the adapter folded in), the optimizer moments
 * (optimizer.safetensors) and trainer_state.json (step = data position, sampler and default RNG states), so
 * `--resume` continues bit-exactly on CPU. Each checkpoint is written into a temp folder and renamed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { loadULM, saveULM, type LoadedULM } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { writeDirAtomically } from '../util/atomic-dir.js';
import type { Policy } from './rollout.js';
import { saveAdapter, type LoraAdapters } from '../model/lora.js';

export interface TrainerState {
  /** Optimizer steps done; also the index of the next data batch. */
  step: number;
  /** base64 of the sampling generator's state and of libtorch's default generator's state. */
  samplerRng: string;
  defaultRng: string;
  /** The config the run was started with (for a human reading the folder). */
  config: unknown;
  /** The run's fingerprint (run-dir.ts `runFingerprint`): a checkpoint resumes only its own run. */
  fingerprint: string;
  /** Data parallel: every rank's generator states, in rank order (samplerRng / defaultRng are rank 0's). */
  ranks?: RankRngStates;
}

/** Per-rank generator states of a data-parallel run (base64, index = rank). */
export interface RankRngStates {
  sampler: string[];
  default: string[];
}

const STATE_FILE = 'trainer_state.json';
const OPTIM_FILE = 'optimizer.safetensors';

export function checkpointDir(out: string, step: number): string {
  return join(out, `checkpoint-${step}`);
}

export function saveTrainerCheckpoint(
  dir: string,
  policy: Policy,
  opt: torch.optim.AdamW,
  sampler: torch.Generator,
  step: number,
  config: unknown,
  fingerprint: string,
  ranks?: RankRngStates,
  lora?: { adapters: LoraAdapters; baseModel: string },
  /** Write the model's floating tensors in this dtype (a bf16 run writes float32, as a float32 run). */
  modelDtype?: torch.DType,
): void {
  writeDirAtomically(dir, 'checkpoint', (tmp) => {
    // a LoRA run: the adapter (PEFT's files, what --resume reads) and the model with it folded in
    if (lora)
      saveAdapter(join(tmp, 'adapter'), lora.adapters, { baseModel: lora.baseModel, model: policy.model });
    torch.tidy(() =>
      saveULM(policy.model, policy.tok, join(tmp, 'model'), {
        replace: lora?.adapters.foldedWeights(),
        ...(modelDtype ? { dtype: modelDtype } : {}),
      }),
    );
    const o = opt.stateDict();
    torch.safetensors.saveSafetensors(join(tmp, OPTIM_FILE), o.tensors, { step: String(o.step) });
    const state: TrainerState = {
      step,
      samplerRng: Buffer.from(sampler.getState()).toString('base64'),
      defaultRng: Buffer.from(torch.getRngState()).toString('base64'),
      config,
      fingerprint,
      ...(ranks ? { ranks } : {}),
    };
    writeFileSync(join(tmp, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  });
}

export interface ResumedRun {
  loaded: LoadedULM;
  state: TrainerState;
  /**
   * Restores the optimizer moments and RNG states once the optimizer exists (frees the loaded moments). A
   * data-parallel rank passes its rank and gets its own generator states; false when the checkpoint has none
   * for it (saved by fewer ranks): its generators are left as they are.
   */
  restore(opt: torch.optim.AdamW, sampler: torch.Generator, rank?: number): boolean;
  /** Frees the model and the moments when the run does not go ahead. */
  dispose(): void;
}

/**
 * Loads a checkpoint: its state, model and optimizer moments (all read now, so a damaged checkpoint fails
 * here, before the run folder is touched). `expect` checks that it is the checkpoint of step `step` of the
 * run with fingerprint `fingerprint`.
 */
export function loadTrainerCheckpoint(
  dir: string,
  expect?: { step: number; fingerprint: string },
): ResumedRun {
  const stateFile = join(dir, STATE_FILE);
  if (!existsSync(stateFile)) throw new UserError(`${dir} is not a trainer checkpoint (no ${STATE_FILE})`);
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as TrainerState;
  } catch {
    throw new UserError(`${stateFile} is not valid JSON`);
  }
  if (
    typeof state !== 'object' ||
    state === null ||
    !Number.isSafeInteger(state.step) ||
    typeof state.samplerRng !== 'string' ||
    typeof state.defaultRng !== 'string'
  )
    throw new UserError(`${stateFile} is missing step or RNG state`);
  if (expect !== undefined && state.step !== expect.step)
    throw new UserError(`${stateFile} says step ${state.step}, not ${expect.step}`);
  if (expect !== undefined && state.fingerprint !== expect.fingerprint)
    throw new UserError(`${dir} belongs to another run (config fingerprint ${String(state.fingerprint)})`);
  const optim = torch.safetensors.loadSafetensors(join(dir, OPTIM_FILE));
  let loaded: LoadedULM;
  try {
    loaded = loadULM(join(dir, 'model'));
  } catch (e) {
    torch.dispose([...optim.tensors.values()]);
    throw e;
  }
  let moments = true;
  const freeMoments = () => {
    if (moments) torch.dispose([...optim.tensors.values()]);
    moments = false;
  };
  return {
    loaded,
    state,
    restore(opt, sampler, rank) {
      opt.loadStateDict({ step: Number(optim.metadata.step ?? state.step), tensors: optim.tensors });
      freeMoments();
      // rank 0 (or one process) has the top-level states; rank r > 0 its own, when the checkpoint has them
      const own =
        rank === undefined || rank === 0
          ? { sampler: state.samplerRng, default: state.defaultRng }
          : state.ranks?.sampler[rank] !== undefined && state.ranks.default[rank] !== undefined
            ? { sampler: state.ranks.sampler[rank], default: state.ranks.default[rank] }
            : null;
      if (own === null) return false;
      sampler.setState(new Uint8Array(Buffer.from(own.sampler, 'base64')));
      torch.setRngState(new Uint8Array(Buffer.from(own.default, 'base64')));
      return true;
    },
    dispose() {
      freeMoments();
      loaded.model.dispose();
    },
  };
}
