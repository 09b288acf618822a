import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';

/** The idx magic numbers of unsigned-byte tensors of rank 1 (labels) and 3 (images). */
export const IDX_LABELS = 0x00000801;
export const IDX_IMAGES = 0x00000803;

export interface IdxTensor {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

/**
 * Reads an idx file (the MNIST container format, gzipped or not) and checks everything its header promises:
 * the magic number (type ubyte, expected rank), and that the body length is exactly the product
 * of the dimensions.
 */
export function readIdx(path: string, magic: number): IdxTensor {
  let buf: Buffer;
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    buf = readFileSync(path);
  } catch (cause) {
    throw new ProbeError(ErrorCode.data, msg.idxMissing(path), { cause });
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (cause) {
      throw new ProbeError(ErrorCode.data, msg.idxGzip(path, (cause as Error).message), { cause });
    }
  }
  if (buf.length < 4) throw new ProbeError(ErrorCode.data, msg.idxShort(path, buf.length, 4));
  const got = buf.readUInt32BE(0);
  if (got !== magic) throw new ProbeError(ErrorCode.data, msg.idxMagic(path, got, magic));
  const rank = magic & 0xff;
  const header = 4 + 4 * rank;
  if (buf.length < header) throw new ProbeError(ErrorCode.data, msg.idxShort(path, buf.length, header));
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = buf.readUInt32BE(4 + 4 * i);
    dims.push(d);
    count *= d;
  }
  const want = header + count;
  if (buf.length < want) throw new ProbeError(ErrorCode.data, msg.idxShort(path, buf.length, want));
  if (buf.length > want) throw new ProbeError(ErrorCode.data, msg.idxLong(path, buf.length, want));
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + header, count) };
}

/** Encodes an idx file; used to write fixtures and by tests that corrupt them on purpose. */
export function encodeIdx(magic: number, dims: readonly number[], data: Uint8Array): Uint8Array {
  const header = 4 + 4 * dims.length;
  const out = Buffer.alloc(header + data.length);
  out.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, header);
  return out;
}
