/**
 * The trace's body compression: Arrow IPC's own LZ4_FRAME buffer compression, which pyarrow,
 * Polars and arrow-js read as they are (docs/trace-format.md). A long-format row is 15 bytes of
 * which 11 are its keys (step, epoch, layer, probe, metric), repeated almost unchanged from row to
 * row: compressed, a study-sized trace takes about a quarter of its bytes.
 *
 * arrow-js 21 compresses when asked, but writes each buffer's compressed length where the format
 * wants the uncompressed one (pyarrow then rejects the file), so {@link compressBuffers} lays the
 * buffers out itself; its reader needs only the codec, registered here on import.
 */
import { createRequire } from 'node:module';
import { compressionRegistry, CompressionType } from 'apache-arrow';
import { BufferRegion } from 'apache-arrow/ipc/metadata/message';

interface Lz4 {
  compress(src: Uint8Array): Uint8Array;
  /** an upper bound of the frame's content size, from its block headers */
  decompressBound(src: Uint8Array): number;
  /** decompresses into `dst`, returning the content's length */
  decompressFrame(src: Uint8Array, dst: Uint8Array): number;
}
const lz4 = createRequire(import.meta.url)('lz4js') as Lz4;

/** The codec traces are written with. */
export const TRACE_COMPRESSION = CompressionType.LZ4_FRAME;
/** How docs and errors name it. */
export const TRACE_COMPRESSION_NAME = 'lz4_frame';

/**
 * Frames are decompressed into one scratch buffer that grows as needed: lz4js's own `decompress`
 * allocates a whole block's maximum (4 MB) per buffer, which made reading a trace 10× slower.
 */
let scratch = new Uint8Array(0);
function decode(data: Uint8Array): Uint8Array {
  const bound = lz4.decompressBound(data);
  if (scratch.length < bound) scratch = new Uint8Array(Math.max(bound, 2 * scratch.length));
  return scratch.slice(0, lz4.decompressFrame(data, scratch));
}

compressionRegistry.set(CompressionType.LZ4_FRAME, { encode: (data: Uint8Array) => lz4.compress(data), decode });

/** Arrow's marker for a buffer stored as it is (compressing it would not have made it smaller). */
const NOT_COMPRESSED = -1n;
const pad8 = (n: number) => (n + 7) & ~7;

/**
 * What arrow-js's writer does with a batch's buffers when it compresses (`_compressBodyBuffers`),
 * with the uncompressed length in each prefix as the format says: per buffer a pair of pieces, the
 * length (int64, little-endian; −1 when stored as is because compressing did not make it smaller)
 * and the LZ4 frame; the writer pads each pair to 8 bytes, as the regions here assume.
 */
export function compressBuffers(buffers: readonly ArrayBufferView[]): { buffers: Uint8Array[]; bufferRegions: BufferRegion[]; byteLength: number } {
  const out: Uint8Array[] = [];
  const bufferRegions: BufferRegion[] = [];
  let at = 0;
  for (const b of buffers) {
    const raw = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    if (raw.length === 0) {
      out.push(new Uint8Array(0), new Uint8Array(0));
      bufferRegions.push(new BufferRegion(at, 0));
      continue;
    }
    const packed = lz4.compress(raw);
    const smaller = packed.length < raw.length;
    const data = smaller ? packed : raw;
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigInt64(0, smaller ? BigInt(raw.length) : NOT_COMPRESSED, true);
    at = pad8(at);
    bufferRegions.push(new BufferRegion(at, 8 + data.length));
    out.push(prefix, data);
    at += 8 + data.length;
  }
  return { buffers: out, bufferRegions, byteLength: pad8(at) };
}
