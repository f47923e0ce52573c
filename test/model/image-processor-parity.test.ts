/**
 * Parity of corl's image processor with Janus's VLMImageProcessor: PNGs of odd sizes (landscape and portrait
 * shrunk, a small one enlarged, one already square, a strip whose short side becomes min_size) go through
 * corl's preprocessImage and through a NumPy/PyTorch re-implementation of VLMImageProcessor's steps in /usr/bin/python3 (or $CORL_PYTHON): PIL's
 * Image.open(...).convert('RGB'), the long side to image_size with PIL's resize(BICUBIC) (what torchvision's
 * resize does to a PIL image), expand2square's paste onto the background colour, transformers' rescale
 * (float64 multiply, float32 result) and normalize (float32), torch.from_numpy. The padded bytes must be equal
 * and the pixel tensors within 1e-6. Settings from Janus-Pro's preprocessor_config.json, and once with
 * CLIP's mean/std at 224 px. Without PIL, NumPy or torch the test fails (CORL_SKIP_PARITY=1
 * skips it with the reason shown).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { presetConfig } from '../../src/model/config.js';
import { readPNG, writePNG } from '../../src/model/image-io.js';
import {
  imageProcessorOf,
  preprocessImage,
  resizeAndPad,
  withPreprocessorConfig,
  type RGBImage,
} from '../../src/model/preprocess.js';
import { missingReference, paritySkip } from '../helpers/python-fixture.js';

const PYTHON = process.env.CORL_PYTHON ?? '/usr/bin/python3';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-improc-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Janus-Pro-1B's preprocessor_config.json as released. */
const JANUS_PRO = {
  background_color: [127, 127, 127],
  do_normalize: true,
  image_mean: [0.5, 0.5, 0.5],
  image_processor_type: 'VLMImageProcessor',
  image_size: 384,
  image_std: [0.5, 0.5, 0.5],
  min_size: 14,
  processor_class: 'VLChatProcessor',
  rescale_factor: 0.00392156862745098,
};
/** A CLIP-normalised processor at 224 px (the background follows the mean: int(mean * 255)). */
const CLIP_224 = {
  image_size: 224,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
  min_size: 14,
};

/** Colourful content: smooth gradients, rings, hard-edged blocks and noise (exercises the bicubic overshoot). */
function picture(w: number, h: number, seed: number): RGBImage {
  const data = new Uint8Array(w * h * 3);
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24) & 255;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      const ring = Math.sin(Math.hypot(x - w / 3, y - h / 2) / 4) > 0;
      const block = ((x >> 5) + (y >> 5)) % 3;
      data[o] = Math.round((255 * x) / (w - 1)) ^ (ring ? 0 : 0x40);
      data[o + 1] = block === 0 ? 255 : block === 1 ? 0 : Math.round((255 * y) / (h - 1));
      data[o + 2] = (x + y) % 7 === 0 ? rnd() : Math.round(127 + 127 * Math.sin((x * y) / 500));
    }
  return { width: w, height: h, data };
}

const IMAGES: [string, number, number][] = [
  ['landscape', 517, 301],
  ['portrait', 203, 611],
  ['small', 150, 97],
  ['square', 400, 400],
  ['strip', 900, 25], // the short side at min_size (14)
];
const PROCESSORS = { 'janus-pro': JANUS_PRO, 'clip-224': CLIP_224 } as const;

const SCRIPT = String.raw`
import json, sys
import numpy as np
import torch
from PIL import Image

def expand2square(img, background):
    w, h = img.size
    if w == h:
        return img
    s = max(w, h)
    out = Image.new(img.mode, (s, s), background)
    out.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out

job = json.load(sys.stdin)
for case in job['cases']:
    pc = case['processor']
    size, min_size = pc['image_size'], pc.get('min_size', 14)
    mean, std = pc['image_mean'], pc['image_std']
    rescale = pc.get('rescale_factor', 1.0 / 255.0)
    background = tuple(int(m * 255) for m in mean)
    img = Image.open(case['png']).convert('RGB')
    w, h = img.size
    long = max(w, h)
    hw = [max(int(h / long * size), min_size), max(int(w / long * size), min_size)]
    img = img.resize((hw[1], hw[0]), resample=Image.BICUBIC)
    img = expand2square(img, background)
    x = np.transpose(np.asarray(img), (2, 0, 1))
    x.tofile(case['out'] + '.u8')
    x = (x.astype(np.float64) * rescale).astype(np.float32)
    x = ((x.T - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)).T
    t = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(0)
    assert t.dtype == torch.float32 and tuple(t.shape) == (1, 3, size, size), t.shape
    t[0].numpy().tofile(case['out'] + '.f32')
print('ok')
`;

interface Case {
  name: string;
  png: string;
  out: string;
  processor: Record<string, unknown>;
}

const cases: Case[] = [];
for (const [name, w, h] of IMAGES) {
  const png = path.join(tmp, `${name}-${w}x${h}.png`);
  writePNG(png, picture(w, h, w * 7 + h));
  for (const [pname, processor] of Object.entries(PROCESSORS))
    cases.push({
      name: `${name} ${w}x${h} / ${pname}`,
      png,
      out: path.join(tmp, `${name}-${pname}`),
      processor,
    });
}

function runPython(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ['-c', SCRIPT], {
    input: JSON.stringify({ cases }),
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error) return { ok: false, reason: `${PYTHON} could not run (${r.error.message})` };
  const missing = /No module named '?(PIL|numpy|torch)/.exec(r.stderr);
  if (r.status !== 0 && missing) return { ok: false, reason: `${PYTHON} cannot import ${missing[1]}` };
  assert.equal(r.status, 0, `the reference script failed: ${r.stderr}`);
  return { ok: true };
}

const py = runPython();
const skip = paritySkip(py, 'Python PIL/NumPy/torch');

test(
  "corl's image processor gives VLMImageProcessor's pixels (bytes equal, tensor within 1e-6)",
  { skip },
  () => {
    if (!py.ok) return assert.fail(missingReference(py));
    const worst: Record<string, number> = {};
    for (const c of cases) {
      const base = presetConfig('janus-pro-1b');
      base.vision_config.params.image_size = c.processor.image_size as number;
      const cfg = withPreprocessorConfig(base, c.processor, c.name);
      const S = cfg.vision_config.params.image_size;
      const image = readPNG(c.png);
      // the bytes after resize + pad, channels first as the reference wrote them
      const sq = resizeAndPad(image, imageProcessorOf(cfg));
      const ref8 = new Uint8Array(fs.readFileSync(c.out + '.u8'));
      assert.equal(ref8.length, 3 * S * S, c.name);
      let bad = 0;
      for (let ch = 0; ch < 3; ch++)
        for (let p = 0; p < S * S; p++) if (sq.data[p * 3 + ch] !== ref8[ch * S * S + p]) bad++;
      assert.equal(bad, 0, `${c.name}: ${bad} bytes differ after resize + pad`);
      const ours = preprocessImage(image, cfg);
      assert.deepEqual(ours.shape, [3, S, S]);
      const got = ours.toFloat32Array();
      ours.dispose();
      const buf = fs.readFileSync(c.out + '.f32');
      const want = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      assert.equal(want.length, got.length);
      let d = 0;
      for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
      assert.ok(d <= 1e-6, `${c.name}: max |difference| ${d}`);
      const pname = c.name.split(' / ')[1]!;
      worst[pname] = Math.max(worst[pname] ?? 0, d);
    }
    const figures = Object.entries(worst).map(([p, d]) => `${p} ${d.toExponential(2)}`);
    console.log(
      `# image processor parity, max |difference| over ${IMAGES.length} images: ${figures.join(', ')}`,
    );
  },
);

test('preprocessor_config.json: mismatched sizes, other resampling, bad fields are UserErrors naming the file', () => {
  const cfg = presetConfig('janus-pro-1b');
  const bad = (json: unknown, msg: RegExp) =>
    assert.throws(
      () => withPreprocessorConfig(cfg, json, 'P/preprocessor_config.json'),
      (e: Error) => {
        assert.match(e.message, /P\/preprocessor_config\.json/);
        assert.match(e.message, msg);
        return e.name === 'UserError';
      },
    );
  bad({ image_size: 224 }, /image size 224 but the ViT takes 384/);
  bad({ size: { height: 384, width: 256 } }, /not square/);
  bad({ resample: 2 }, /bicubic/);
  bad({ image_mean: [0.5, 0.5] }, /image_mean/);
  // transformers' form: size {height, width}, do_rescale false
  const hf = withPreprocessorConfig(
    cfg,
    { size: { height: 384, width: 384 }, do_rescale: false, resample: 3 },
    'x',
  );
  assert.equal(imageProcessorOf(hf).rescaleFactor, 1);
  // absent fields: Janus's defaults; the background follows the mean
  const clip = imageProcessorOf(withPreprocessorConfig(cfg, { image_mean: CLIP_224.image_mean }, 'x'));
  assert.deepEqual(clip.background, [122, 116, 104]);
  assert.equal(clip.minSize, 14);
  assert.equal(imageProcessorOf(cfg).rescaleFactor, 1 / 255);
});
