/**
 * `corl pipeline --preset world-micro` end to end: killed after stage 1 (its running stages with it), then
 * rerun with the same folder, it resumes after the last finished stage and writes a report whose main table
 * has every stage, and whose training curves carry the held-out evaluations of the runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

/** The processes whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after its last ')'
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

/** Whether process `pid` still runs (a zombie, exited but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

interface State {
  stages: Record<string, { status: string }>;
}

test('the micro pipeline resumes after an interruption and reports every stage', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'corl-pipe-')), 'run');
  const stateFile = join(out, 'pipeline.json');
  const state = () =>
    existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as State) : { stages: {} };

  // plain mode (stderr is a pipe): each running stage's progress as periodic lines; its own process group,
  // so that whatever is left of it can be cleaned up below
  const child = spawn(process.execPath, [CLI, 'pipeline', '--preset', 'world-micro', '--out', out], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let plain = '';
  child.stderr.on('data', (d: Buffer) => (plain += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  let stages: number[] = [];
  while (child.exitCode === null) {
    stages = childrenOf(child.pid!);
    if (state().stages['stage1']?.status === 'done' && stages.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // killed as `kill`, a closed terminal or a scheduler's timeout kills a job: the signal reaches corl alone,
  // which passes it on to its running stages (stage 2's) and exits as the signal would
  child.kill('SIGTERM');
  try {
    assert.equal(await exited, 143, 'exit code 128 + SIGTERM');
    assert.ok(stages.length > 0, 'a stage was running when corl was killed');
    const deadline = Date.now() + 20_000;
    while (stages.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(stages.filter(alive), [], 'no stage outlives its pipeline');
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone: nothing was left
    }
  }
  assert.equal(state().stages['stage1']?.status, 'done', 'stage 1 finished before the kill');
  assert.ok(!existsSync(join(out, 'report.json')), 'killed before the report');
  assert.match(
    plain,
    /^ {2}base: vq +\d+% \| \d+ s elapsed, ETA \d+ s \| recon/m,
    'plain progress lines of the base',
  );
  assert.match(plain, /^ {2}stage1: train +100% \| .*step 2\/2/m, 'and of stage 1, with its key metrics');
  // eslint-disable-next-line no-control-regex -- terminal codes are what is checked
  assert.doesNotMatch(plain, /corl_progress|\x1b\[/, 'no JSON and no terminal codes in plain mode');
  assert.match(
    readFileSync(join(out, 'logs', 'stage1.log'), 'utf8'),
    /^train: 100% \|/m,
    'the log keeps plain lines',
  );

  // on a terminal (a pseudo-terminal from script(1)): one live line per running stage, redrawn in place
  const cmd = [process.execPath, CLI, 'pipeline', '--preset', 'world-micro', '--out', out].map(
    (a) => `'${a}'`,
  );
  const r = spawnSync('script', ['-qec', cmd.join(' '), '/dev/null'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout);
  const screen = r.stdout;
  assert.match(screen, /world: done earlier/);
  assert.match(screen, /stage1: done earlier/);
  assert.match(screen, /stage2-(gen|mcq|oe): train +\d+% \| .* elapsed, ETA/, 'live stage-2 lines');
  // eslint-disable-next-line no-control-regex -- terminal codes are what is checked
  assert.match(screen, /\x1b\[\d+A\x1b\[J/, 'the live block is redrawn in place');

  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
    tables: { id: string; columns: string[]; rows: { label: string; cells: unknown[] }[] }[];
    stages: { name: string; status: string }[];
    grids: { rows: { images: (string | null)[] }[] }[];
    curves: { id: string; series: { name: string; style?: string; points: [number, number | null][] }[] }[];
  };
  const main = report.tables.find((t) => t.id === 'main')!;
  assert.deepEqual(
    main.rows.map((row) => row.label.split(':')[0]),
    ['base (pretrained)', 'stage 1', 'stage 2', 'stage 2', 'stage 2', 'MCQ + OE merged', 'CoRL (gen'],
  );
  for (const row of main.rows) assert.equal(row.cells.length, main.columns.length);
  // the POPE answer bias is shown beside POPE F1: a share in [0, 1], never marked best
  const yes = main.columns.indexOf('POPE yes');
  assert.equal(main.columns[yes - 1], 'POPE F1');
  for (const row of main.rows) {
    const cell = row.cells[yes] as { mean: number; best?: boolean };
    assert.ok(cell.mean >= 0 && cell.mean <= 1, `${row.label}: POPE yes ${cell.mean}`);
    assert.ok(!cell.best, 'a share of "yes" answers is not ranked');
  }
  // the base's reward validity: the exact check (geneval) ranks every correct image above every wrong one
  const validity = report.tables.find((t) => t.id === 'validity')!;
  const geneval = validity.rows.find((row) => row.label === 'geneval')!;
  assert.equal((geneval.cells[0] as { mean: number }).mean, 1);
  assert.ok(
    validity.rows.some((row) => row.label.startsWith('cycle + TIM')),
    'the paper reward row',
  );
  const status = Object.fromEntries(report.stages.map((s) => [s.name, s.status]));
  assert.equal(status['world'], 'cached');
  assert.equal(status['stage1'], 'cached');
  assert.equal(status['stage2-merge'], 'done');
  for (const img of report.grids[0]!.rows.flatMap((row) => row.images))
    assert.ok(img && existsSync(join(out, img)), `${img}`);
  assert.ok(existsSync(join(out, 'report.html')));

  // held-out evaluation during training (the preset's eval_every) on the world's test split, in the curves
  assert.match(readFileSync(join(out, 'configs', 'stage1.yaml'), 'utf8'), /eval_data: .*test\.jsonl/);
  const rewards = report.curves.find((c) => c.id === 'rewards-stage1')!;
  // 2 steps, shorter than the 10-step moving average: the raw values stand alone, with the held-out markers
  assert.deepEqual(
    rewards.series.filter((s) => s.style !== 'markers').map((s) => s.style),
    ['faint', 'faint'],
  );
  assert.deepEqual(
    rewards.series.find((s) => s.name.startsWith('held-out generation'))!.points.map(([x]) => x),
    [0, 1, 2],
    'held-out points before, during and after stage 1',
  );
  const accuracy = report.curves.find((c) => c.id === 'accuracy-stage2-gen')!;
  assert.ok(
    accuracy.series.some((s) => s.style === 'markers' && s.points.length === 2),
    'a generation-only branch still shows its held-out accuracy (before and after)',
  );
});
