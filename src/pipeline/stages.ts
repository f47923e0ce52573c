/**
 * A resumable sequence of stages. Each stage runs a `corl` subcommand in its own process (so a stage's native
 * memory is released when it ends, and independent stages can run side by side on the two cores), logs to
 * DIR/logs/<stage>.log, and is recorded in DIR/pipeline.json when it finishes; a rerun skips finished stages,
 * so an interrupted pipeline resumes from its last finished stage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { withNproc } from '../util/data-parallel.js';
import { MultiProgress, describe, parseProgressLine, type ProgressState } from '../util/progress.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'corl.js');

export interface StageRecord {
  status: 'done' | 'failed';
  seconds: number;
  /** The last JSON line the stage printed (its result), if any. */
  result?: unknown;
  finished: string;
}

export interface PipelineState {
  preset: string;
  stages: Record<string, StageRecord>;
}

export class StageRunner {
  readonly state: PipelineState;
  private readonly file: string;
  /** How each stage of this invocation went: 'done' (ran now) or 'cached' (finished in an earlier run). */
  readonly timeline: { name: string; status: 'done' | 'cached' | 'failed'; seconds: number }[] = [];

  /**
   * Data parallel: stages of the commands that run data-parallel (train, pretrain, eval) get `--nproc N`
   * when N > 1 (docs/distributed.md); 1 leaves every command line as it was.
   */
  nproc = 1;

  /** The live view of the running stages (their children report progress as JSON lines). */
  private readonly display: MultiProgress;
  private readonly log: (line: string) => void;

  constructor(
    readonly dir: string,
    preset: string,
    display: MultiProgress = new MultiProgress(),
  ) {
    this.display = display;
    this.log = (l) => display.log(l);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    this.file = join(dir, 'pipeline.json');
    this.state = existsSync(this.file) ? this.read() : { preset, stages: {} };
    if (this.state.preset !== preset) {
      throw new UserError(
        `${dir} holds a pipeline of preset ${this.state.preset}, not ${preset}: use another --out`,
      );
    }
  }

  private read(): PipelineState {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as PipelineState;
    } catch {
      throw new UserError(`${this.file} is not valid JSON (delete it to start the pipeline over)`);
    }
  }

  private save(): void {
    const tmp = `${this.file}.tmp-${process.pid}-${Date.now()}`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 2) + '\n');
    renameSync(tmp, this.file);
  }

  /** Runs `corl ...args` as stage `name` unless it already finished; returns its last JSON output line. */
  async run<T = unknown>(name: string, args: string[], env: Record<string, string> = {}): Promise<T> {
    const prev = this.state.stages[name];
    if (prev?.status === 'done') {
      this.timeline.push({ name, status: 'cached', seconds: prev.seconds });
      this.log(`  ${name}: done earlier (${prev.seconds.toFixed(0)} s)`);
      return prev.result as T;
    }
    const t0 = Date.now();
    args = withNproc(args, this.nproc);
    this.log(`  ${name}: running  corl ${args.join(' ')}`);
    const logFile = join(this.dir, 'logs', `${name.replace(/[^\w.-]+/g, '_')}.log`);
    const { code, lastJson } = await runCli(args, env, logFile, (p) => this.display.update(name, p));
    this.display.done(name);
    const seconds = (Date.now() - t0) / 1000;
    if (code !== 0) {
      this.state.stages[name] = { status: 'failed', seconds, finished: new Date().toISOString() };
      this.save();
      this.timeline.push({ name, status: 'failed', seconds });
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-1)[0] ?? '';
      throw new UserError(`stage ${name} failed (exit ${code}): ${tail} (log: ${logFile})`);
    }
    this.state.stages[name] = {
      status: 'done',
      seconds,
      result: lastJson,
      finished: new Date().toISOString(),
    };
    this.save();
    this.timeline.push({ name, status: 'done', seconds });
    this.log(`  ${name}: done in ${seconds.toFixed(0)} s`);
    return lastJson as T;
  }

  /** Runs stages side by side, at most `jobs` at a time. */
  async parallel<T>(jobs: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
    const out: T[] = new Array<T>(tasks.length);
    let next = 0;
    const worker = async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, tasks.length)) }, worker));
    return out;
  }
}

/** The stages running now, in every runner of this process. */
const running = new Set<ChildProcess>();
let forwarding = false;

/**
 * A signal that ends corl (SIGINT, SIGTERM, SIGHUP: Ctrl-C, `kill`, a closed terminal or a scheduler's
 * timeout) is passed on to the running stages before corl exits, so no stage outlives its pipeline and goes on
 * writing into a folder that a rerun would resume into.
 */
function forwardSignals(): void {
  if (forwarding) return;
  forwarding = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      for (const child of running) child.kill(signal);
      process.exit(128 + constants.signals[signal]);
    });
  }
}

/** A stage's result line: a JSON object printed on one line (other output lines are not). */
function jsonLine(line: string): unknown {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

/**
 * Runs `corl ...args` with its progress as JSON lines (CORL_PROGRESS=json): each goes to `onProgress`, and the
 * log gets a plain line per tenth of the work instead; every other line goes to the log as it is.
 */
function runCli(
  args: string[],
  env: Record<string, string>,
  logFile: string,
  onProgress: (p: ProgressState) => void,
): Promise<{ code: number; lastJson: unknown }> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(logFile);
    let last: unknown = undefined;
    let buf = '';
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env, CORL_PROGRESS: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    forwardSignals();
    running.add(child);
    let errBuf = '';
    const logged = new Map<string, number>();
    const stderrLine = (line: string) => {
      const p = parseProgressLine(line);
      if (p === null) {
        log.write(line + '\n');
        return;
      }
      onProgress(p);
      const decile = Math.floor((p.total > 0 ? p.done / p.total : 0) * 10 + 1e-9);
      if (decile > (logged.get(p.label) ?? -1)) {
        logged.set(p.label, decile);
        log.write(`${p.label}: ${describe(p)}\n`);
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      log.write(d);
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) last = jsonLine(l) ?? last;
    });
    child.stderr.on('data', (d: Buffer) => {
      errBuf += d.toString();
      const lines = errBuf.split('\n');
      errBuf = lines.pop() ?? '';
      lines.forEach(stderrLine);
    });
    child.on('error', (e) => {
      running.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      running.delete(child);
      last = jsonLine(buf) ?? last;
      if (errBuf !== '') stderrLine(errBuf);
      log.end(() => resolve({ code: code ?? 1, lastJson: last }));
    });
  });
}
