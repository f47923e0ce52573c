#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) with Node's built-in test runner, each file in its own process
// (the libtorch addon is loaded once per process). Pass file or folder names to run a subset:
//   npm test -- test/torch
// The tests write their folders under os.tmpdir(): the run points TMPDIR at a folder of its own and removes it
// at the end (pass or fail), so repeated runs leave nothing behind (they left ~100 MB each in /tmp).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args : ['test'];
const files = roots.flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}`);
  process.exit(1);
}
const concurrency = process.env.CORL_TEST_CONCURRENCY ?? '2';
const scratch = mkdtempSync(join(tmpdir(), 'corl-test-run-'));
let res;
try {
  res = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...process.env, CORL_TEST: '1', TMPDIR: scratch } },
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(res.status ?? 1);
