/**
 * corl's mark on the PNG files it writes for a user (`corl generate --out`, `corl world show --out`): a tEXt
 * chunk "Software" = "corl" right after the header. Viewers ignore it; `checkOutFile` replaces an existing
 * PNG only when it carries the mark, so corl never overwrites a picture it did not write.
 */
import * as fs from 'node:fs';
import { crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const TEXT = Buffer.from('Software\0corl', 'latin1');
/** End of the IHDR chunk: signature (8) + length (4) + type (4) + data (13) + CRC (4). */
const AFTER_IHDR = 33;

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

const MARK = chunk('tEXt', TEXT);

/** The PNG `png` with corl's mark inserted after its header. */
export function markPng(png: Buffer): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR')
    throw new Error('markPng: not a PNG');
  return Buffer.concat([png.subarray(0, AFTER_IHDR), MARK, png.subarray(AFTER_IHDR)]);
}

/** True when `file` is a PNG that carries corl's mark. */
export function isCorlPng(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(AFTER_IHDR + MARK.length);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return (
      n === head.length && head.subarray(0, 8).equals(SIGNATURE) && head.subarray(AFTER_IHDR).equals(MARK)
    );
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
