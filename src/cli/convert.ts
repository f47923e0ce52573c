/**
 * `corl convert --from DIR --to DIR [--layout janus|hf] [--dtype bf16|f32]`: a Janus-Pro checkpoint in any
 * form corl reads (pytorch_model.bin or safetensors, single or sharded, Janus's names or transformers') written
 * as sharded safetensors with their index, config rewritten for the layout, processor and tokenizer files
 * copied (src/model/convert.ts).
 */
import { Option, type Command } from 'commander';
import { checkOutDir } from '../util/output-dir.js';
import { parseIntOption } from './options.js';

interface ConvertFlags {
  from: string;
  to: string;
  layout: 'janus' | 'hf';
  dtype?: 'bf16' | 'f32';
  shardMb: number;
  overwrite?: boolean;
}

export function registerConvertCommands(program: Command): void {
  program
    .command('convert')
    .description(
      "rewrite a Janus checkpoint (pytorch_model.bin or safetensors, Janus's or transformers' names) as sharded safetensors",
    )
    .requiredOption('--from <dir>', 'the checkpoint folder to read')
    .requiredOption('--to <dir>', 'where to write (a new or empty folder)')
    .addOption(
      new Option('--layout <l>', "tensor names: janus (the official release's) or hf (transformers')")
        .choices(['janus', 'hf'])
        .default('janus'),
    )
    .addOption(
      new Option('--dtype <d>', 'floating dtype to write (default: as stored)').choices(['bf16', 'f32']),
    )
    .option('--shard-mb <n>', 'largest shard in MB (1-100000)', parseIntOption(1, 100_000), 5000)
    .option('--overwrite', 'replace --to if it holds a model corl wrote')
    .action(async (f: ConvertFlags) => {
      checkOutDir(f.to, {
        kind: 'model',
        overwrite: f.overwrite,
        inputs: [['--from', f.from]],
        flag: '--to',
      });
      const { convertCheckpoint } = await import('../model/convert.js');
      const t0 = Date.now();
      const r = convertCheckpoint({
        from: f.from,
        to: f.to,
        layout: f.layout,
        dtype: f.dtype === undefined ? undefined : f.dtype === 'bf16' ? 'bfloat16' : 'float32',
        maxShardBytes: f.shardMb * 1_000_000,
      });
      const gb = (r.bytes / 1e9).toFixed(2);
      console.log(
        `converted ${r.tensors} tensors (${gb} GB) from ${r.from.format} (${r.from.layout} layout) to safetensors ` +
          `(${f.layout} layout) in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${f.to}: ${r.files.join(', ')}` +
          (r.copied.length > 0 ? `; copied ${r.copied.join(', ')}` : ''),
      );
    });
}
