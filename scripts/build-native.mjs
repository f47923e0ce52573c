#!/usr/bin/env node
// Builds the libtorch Node-API addon (native/ -> native/build/Release/corl_torch.node) with cmake-js.
//
// libtorch is looked for, in order:
//   1. $LIBTORCH: an unpacked libtorch folder (for example a CUDA build of libtorch 2.x);
//   2. the Python torch install: torch.utils.cmake_prefix_path (if it ships TorchConfig.cmake);
//   3. the system: Debian/Ubuntu's libtorch-dev (what CI and the default machines use).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const output = join(nativeDir, 'build', 'Release', 'corl_torch.node');

function hasTorchConfig(prefix) {
  return existsSync(join(prefix, 'Torch', 'TorchConfig.cmake')) || existsSync(join(prefix, 'TorchConfig.cmake'));
}

function fromEnv() {
  const dir = process.env.LIBTORCH;
  if (!dir) return null;
  const prefix = existsSync(join(dir, 'share', 'cmake')) ? join(dir, 'share', 'cmake') : dir;
  if (!hasTorchConfig(prefix)) {
    fail(`LIBTORCH=${dir} has no share/cmake/Torch/TorchConfig.cmake`);
  }
  return { prefix, source: `LIBTORCH (${dir})` };
}

function fromPython() {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], {
      encoding: 'utf8',
    });
    const prefix = r.status === 0 ? r.stdout.trim() : '';
    if (prefix && hasTorchConfig(prefix)) return { prefix, source: `Python torch (${py})` };
  }
  return null;
}

function fromSystem() {
  const candidates = ['/usr/lib/x86_64-linux-gnu/cmake', '/usr/lib/aarch64-linux-gnu/cmake', '/usr/lib/cmake', '/usr/local/lib/cmake', '/usr/share/cmake'];
  for (const c of candidates) if (hasTorchConfig(c)) return { prefix: c, source: `system (${c})` };
  return null;
}

function fail(msg) {
  console.error(`corl: error: ${msg}`);
  process.exit(1);
}

const found = fromEnv() ?? fromPython() ?? fromSystem();
if (!found) {
  fail(
    'libtorch not found. Get it one of three ways: (1) set LIBTORCH to an unpacked libtorch folder; ' +
      '(2) install PyTorch for python3 (pip install torch) so torch.utils.cmake_prefix_path exists; ' +
      '(3) on Debian/Ubuntu: sudo apt-get install libtorch-dev libopenblas0-pthread.',
  );
}

function newestMtime(dir) {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return t;
}

const force = process.argv.includes('--force');
if (!force && existsSync(output)) {
  const srcTime = Math.max(newestMtime(join(nativeDir, 'src')), statSync(join(nativeDir, 'CMakeLists.txt')).mtimeMs);
  if (statSync(output).mtimeMs > srcTime) {
    console.log(`native addon up to date (${output})`);
    process.exit(0);
  }
}

console.log(`building the libtorch addon against ${found.source}`);
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const parallel = String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length));
const r = spawnSync(
  process.execPath,
  [cmakeJs, 'build', '--directory', nativeDir, '--out', join(nativeDir, 'build'), '--parallel', parallel, '--config', 'Release', `--CDCMAKE_PREFIX_PATH=${found.prefix}`],
  { stdio: 'inherit', cwd: root },
);
if (r.status !== 0) fail('native build failed (see the compiler output above)');
if (!existsSync(output)) fail(`build finished but ${output} is missing`);
console.log(`built ${output}`);
