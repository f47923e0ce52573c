/**
 * Bad input through the real CLI: every option of every command is checked before any work (integers are
 * safe and in range, floats finite, text non-empty, output folders exist), corrupt numbers in a model (NaN
 * weights), an overlong prompt and data rows naming images outside their dataset each end in one line and
 * exit code 2, never a stack trace and never a silent success.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadULM, saveULM } from '../../src/model/index.js';
import { makeFixture, writeConfig } from '../rl/fixture.js';
import { corl, userMistake } from './helpers.js';

const fx = makeFixture();
const dir = fx.dir;
const png = path.join(dir, 'world', 'images', fs.readdirSync(path.join(dir, 'world', 'images'))[0]!);
const model = fx.model;
const gen = (...args: string[]) => ['generate', '--model', model, '--prompt', 'a red circle', ...args];
const ask = (...args: string[]) => ['ask', '--model', model, '--image', png, '--question', 'what?', ...args];

test('every numeric option is checked when the command line is parsed', () => {
  const invalid = /argument .* is invalid/;
  const cases: string[][] = [
    gen('--seed', '1e30'),
    gen('--seed', '-1'),
    gen('--seed', '1.5'),
    gen('--seed', '4294967296'),
    gen('--n', '0'),
    gen('--n', '1000'),
    gen('--cfg', 'nan'),
    gen('--cfg', 'Infinity'),
    gen('--cfg', '-1'),
    gen('--temperature', '-0.1'),
    gen('--temperature', '1e400'),
    ask('--max-tokens', '0'),
    ask('--max-tokens', '99999999999999999999'),
    ask('--seed', '0x10'),
    ['merge', '--base', model, '--models', model, model, '--out', path.join(dir, 'm'), '--lambda', '0'],
    ['merge', '--base', model, '--models', model, model, '--out', path.join(dir, 'm'), '--lambda', 'NaN'],
    ['train', '--config', 'x.yaml', '--steps', '0'],
    ['train', '--config', 'x.yaml', '--steps', '1e3'],
    ['train', '--config', 'x.yaml', '--seed', '-3'],
    ['world', 'build', '--out', path.join(dir, 'w'), '--size', '7'],
    ['world', 'build', '--out', path.join(dir, 'w'), '--train', '-1'],
    ['world', 'build', '--out', path.join(dir, 'w'), '--train', '9999999'],
    ['world', 'build', '--out', path.join(dir, 'w'), '--bg-noise', '2'],
    ['eval', '--model', model, '--data', fx.test, '--images-per-prompt', '0'],
    ['eval', '--model', model, '--data', fx.test, '--cfg', 'inf'],
    ['pretrain', 'vq', '--out', path.join(dir, 'v'), '--seconds', '0'],
    ['pretrain', 'vq', '--out', path.join(dir, 'v'), '--steps', '2.5'],
    ['pipeline', '--out', path.join(dir, 'p'), '--jobs', '0'],
    ['pilot', '--out', path.join(dir, 'p'), '--base', model, '--seeds', '0'],
  ];
  for (const args of cases) userMistake(args, invalid);
  userMistake(gen('--method', 'x'), /unknown option/);
  userMistake(
    ['merge', '--base', model, '--models', model, model, '--out', path.join(dir, 'm'), '--method', 'max'],
    /Allowed choices/,
  );
  userMistake(['generate', '--model', model, '--prompt', '  '], /must not be empty/);
  userMistake(['bench', 'sample', '--threads', '0'], /--threads "0": must be an integer in \[1, 1024\]/);
  userMistake(['bench', 'sample', '--steps', '-5'], /--steps "-5": must be an integer in \[10, 100000\]/);
  userMistake(['pipeline', '--out', path.join(dir, 'p'), '--preset', 'nope'], /unknown .*preset "nope"/);
});

test('outputs are checked before any work: a missing folder, an existing picture corl did not write', () => {
  userMistake(
    gen('--out', path.join(dir, 'no-such-folder', 'grid.png')),
    /the folder .*no-such-folder does not exist/,
  );
  const theirs = path.join(dir, 'holiday.png');
  fs.copyFileSync(png, theirs); // a picture corl did not write (world images carry no mark)
  const before = fs.readFileSync(theirs);
  userMistake(gen('--out', theirs, '--overwrite'), /exists and corl did not write it/);
  userMistake(['world', 'show', '--data', fx.test, '--out', theirs, '--overwrite'], /corl did not write it/);
  assert.ok(fs.readFileSync(theirs).equals(before));
  const ours = path.join(dir, 'grid.png');
  const a = corl(gen('--out', ours, '--n', '1'));
  assert.equal(a.status, 0, a.stderr);
  userMistake(gen('--out', ours, '--n', '1'), /exists; pass --overwrite/);
  const b = corl(gen('--out', ours, '--n', '1', '--overwrite'));
  assert.equal(b.status, 0, b.stderr);
});

test('a model with NaN weights is refused by every command that loads it, naming the tensor', () => {
  const nan = path.join(dir, 'nan-model');
  const { model: m, tokenizer } = loadULM(model);
  torch.noGrad(() => {
    const [name, w] = [...m.stateDict()].find(([n]) => n.includes('gen_head'))!;
    w.fill_(NaN);
    assert.ok(name.length > 0);
  });
  saveULM(m, tokenizer, nan);
  m.dispose();
  const bad = /weights are not all finite: .*gen_head/;
  userMistake(
    ['generate', '--model', nan, '--prompt', 'a red circle', '--out', path.join(dir, 'nan.png')],
    bad,
  );
  userMistake(['ask', '--model', nan, '--image', png, '--question', 'what?'], bad);
  userMistake(['eval', '--model', nan, '--data', fx.test], bad);
  userMistake(['merge', '--base', model, '--models', nan, model, '--out', path.join(dir, 'nan-merged')], bad);
  assert.ok(!fs.existsSync(path.join(dir, 'nan.png')) && !fs.existsSync(path.join(dir, 'nan-merged')));
});

test('a prompt or question longer than the context is refused before sampling', () => {
  const long = Array.from({ length: 400 }, () => 'red').join(' ');
  userMistake(
    ['generate', '--model', model, '--prompt', long, '--out', path.join(dir, 'long.png')],
    /context/,
  );
  userMistake(['ask', '--model', model, '--image', png, '--question', long], /context/);
  assert.ok(!fs.existsSync(path.join(dir, 'long.png')));
});

test('data rows may name images only inside their dataset folder', () => {
  const data = path.join(dir, 'outside');
  fs.mkdirSync(data);
  const row = JSON.parse(fs.readFileSync(fx.test, 'utf8').split('\n')[0]!) as Record<string, unknown>;
  for (const image of ['../world/images/x.png', png, '/etc/hostname']) {
    const file = path.join(data, 'rows.jsonl');
    fs.writeFileSync(file, JSON.stringify({ ...row, real_image: image }) + '\n');
    userMistake(['world', 'detect', '--data', file], /lies outside the dataset folder/);
    userMistake(['eval', '--model', model, '--data', file], /lies outside the dataset folder/);
  }
});

test('a device this build or machine lacks is refused in one line before any work', () => {
  const cfg = writeConfig(fx, 'device-run', {});
  const out = path.join(fx.dir, 'device-run');
  // this repository's CI builds against Debian's CPU libtorch; on a CUDA build the line names the devices
  const noCuda = torch.cudaBuild()
    ? /device cuda:7: this machine has \d+ CUDA device|libtorch sees no CUDA device/
    : /device cuda:7: corl's addon is built against a libtorch without CUDA; rebuild it against a CUDA one/;
  const badName = (name: string) =>
    new RegExp(`option '--device <d>' argument '${name}' is invalid. expected cpu, cuda or cuda:N`);
  userMistake(['train', '--config', cfg, '--device', 'cuda:7'], noCuda);
  userMistake(['train', '--config', cfg, '--device', 'gpu'], badName('gpu'));
  userMistake(
    ['train', '--config', cfg, '--device', 'cuda', '--nproc', '2'],
    /data parallel runs on the CPU only \(Gloo\); on cuda it needs NCCL/,
  );
  // a config's own device is checked as the file is read
  userMistake(
    ['train', '--config', writeConfig(fx, 'device-bad', { device: 'gpu' })],
    /device: expected cpu, cuda or cuda:N/,
  );
  userMistake(['eval', '--model', model, '--data', fx.test, '--device', 'cuda:7'], noCuda);
  userMistake(['eval', '--model', model, '--data', fx.test, '--device', 'tpu'], badName('tpu'));
  userMistake(gen('--out', path.join(dir, 'device.png'), '--device', 'cuda:7'), noCuda);
  userMistake(ask('--device', 'cuda:7'), noCuda);
  assert.ok(!fs.existsSync(out) && !fs.existsSync(path.join(dir, 'device.png')), 'nothing written');
});

test('without the addon built, help and option checks still work, and a command that needs it is one line', () => {
  const env = { CORL_ADDON: path.join(dir, 'no-such-addon.node') };
  for (const args of [['--help'], ['pipeline', '--help'], ['pretrain', 'all', '--help']]) {
    const r = corl(args, { env });
    assert.equal(r.status, 0, `corl ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: corl/);
  }
  userMistake(['pretrain', 'vq', '--out', path.join(dir, 'v'), '--steps', '2.5'], /is invalid/, { env });
  userMistake(gen(), /the libtorch addon is not built .*no-such-addon\.node.*run "npm run build:native"/, {
    env,
  });
});
