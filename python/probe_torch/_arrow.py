"""The trace file: an Arrow IPC file that is valid after every checkpoint (docs/trace-format.md).

pyarrow encodes the messages (schema, dictionaries, record batches, as a stream writer does);
the file's footer is written here, because pyarrow writes a file's footer only when the file is
closed, and a trace must be whole after every checkpoint, not only at the end. The footer is a
small flatbuffer (Arrow's File.fbs: version, schema, dictionary and record-batch blocks) whose
schema is pyarrow's own serialized schema, copied in whole.

Checkpoint rule, the same as probe's TypeScript writer (src/trace/writer.ts): the bytes that
extend the file are written and synced first, beyond the old footer; only then is the old footer
overwritten in place, its closing magic first cleared and the new one written last. A process
killed at any point leaves either the previous checkpoint whole or a file without closing magic
whose batches a reader recovers in order from the start.

Layout choices that change the bytes (rows per batch, compression) are in LAYOUT, one place.
"""
import json
import math
import os
import struct

import numpy as np
import pyarrow as pa

from . import _names as N

#: How rows are laid out in the file, as probe's TypeScript writer lays them out
#: (src/trace/writer.ts, codec.ts): record batches of at most 16,384 rows, bodies compressed with
#: Arrow IPC's LZ4_FRAME codec (pyarrow's "lz4").
LAYOUT = {"batch_rows": 16384, "compression": "lz4"}

PARTIAL_SUFFIX = ".partial"
_EOS = struct.pack("<iI", -1, 0)
_MAGIC = N.ARROW_MAGIC
_V5 = 4  # MetadataVersion.V5


def trace_schema(metadata=None) -> pa.Schema:
    """Columns and types, as src/trace/schema.ts declares them (dictionary ids 0, 1, 2 by order)."""
    return pa.schema(
        [
            pa.field("run", pa.dictionary(pa.int8(), pa.utf8()), nullable=False),
            pa.field("step", pa.int32(), nullable=False),
            pa.field("epoch", pa.int16(), nullable=False),
            pa.field("layer", pa.int8(), nullable=False),
            pa.field("probe", pa.dictionary(pa.int8(), pa.utf8()), nullable=False),
            pa.field("metric", pa.dictionary(pa.int16(), pa.utf8()), nullable=False),
            pa.field("value", pa.float32(), nullable=False),
        ],
        metadata=metadata,
    )


def json_value(v):
    """JSON as JavaScript writes it: NaN and ±Infinity become null."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, (np.floating,)):
        return json_value(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def dumps(v) -> str:
    return json.dumps(json_value(v), allow_nan=False, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- flatbuffers, the few bits needed


def _u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def _field(b, table, slot):
    """Absolute position of a table's field `slot`, or None when absent."""
    vt = table - struct.unpack_from("<i", b, table)[0]
    at = 4 + 2 * slot
    if at >= _u16(b, vt):
        return None
    off = _u16(b, vt + at)
    return table + off if off else None


def _message_info(b, at):
    """(header type, metadata length incl. prefix, body length) of the IPC message at `at`."""
    cont, length = struct.unpack_from("<iI", b, at)
    if cont != -1:
        raise ValueError("unexpected IPC message prefix")
    fb = at + 8
    table = fb + struct.unpack_from("<I", b, fb)[0]
    t = _field(b, table, 1)
    body = _field(b, table, 3)
    return (b[t] if t is not None else 0), 8 + length, (struct.unpack_from("<q", b, body)[0] if body is not None else 0)


def _schema_flatbuffer(schema: pa.Schema):
    """pyarrow's serialized schema: (flatbuffer bytes, position of the Schema table in them)."""
    msg = schema.serialize().to_pybytes()
    length = struct.unpack_from("<I", msg, 4)[0]
    fb = msg[8:8 + length]
    table = struct.unpack_from("<I", fb, 0)[0]
    header = _field(fb, table, 2)
    return fb, header + struct.unpack_from("<I", fb, header)[0]


def _pad(n, to=8):
    return (to - n % to) % to


def footer_bytes(schema: pa.Schema, dictionaries, batches) -> bytes:
    """Arrow's Footer table {version V5, schema, dictionaries, recordBatches}, laid out front to back
    (every offset points forward): root offset, vtable, table, the two Block vectors, the schema."""
    out = bytearray(struct.pack("<I", 0))
    vtable = len(out)
    out += struct.pack("<HHHHHH", 12, 20, 4, 8, 12, 16)  # 4 fields: version, schema, dictionaries, recordBatches
    out += bytes(_pad(len(out)))
    table = len(out)
    out += bytes(20)
    struct.pack_into("<I", out, 0, table)
    struct.pack_into("<ih", out, table, table - vtable, _V5)

    def blocks(slot_at, items):
        # the length sits 4 bytes before 8-aligned elements (Block: int64, int32, pad, int64)
        out.extend(bytes(_pad(len(out) + 4)))
        at = len(out)
        out.extend(struct.pack("<I", len(items)))
        for off, meta, body in items:
            out.extend(struct.pack("<qiiq", off, meta, 0, body))
        struct.pack_into("<I", out, slot_at, at - slot_at)

    blocks(table + 12, dictionaries)
    blocks(table + 16, batches)
    fb, schema_at = _schema_flatbuffer(schema)
    out.extend(bytes(_pad(len(out))))
    start = len(out)
    out.extend(fb)
    struct.pack_into("<I", out, table + 8, start + schema_at - (table + 8))
    return bytes(out)


# ---------------------------------------------------------------- the writer


class _Sink:
    """What pyarrow's stream writer writes, collected in memory until the next checkpoint."""

    closed = False

    def __init__(self):
        self.chunks = []

    def write(self, b):
        self.chunks.append(bytes(b))
        return len(b)

    def flush(self):
        pass

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks = []
        return data


class TraceWriteError(OSError):
    pass


class TraceFile:
    """Rows in, a crash-safe trace out. `probes` and `metrics` are every name rows may use (the
    dictionaries are fixed per file); `metadata` maps META_CONFIG / META_FACTS to JSON values.

    The first checkpoint is written under `<path>.partial` and published at `path` (by a hard link,
    never over a file that appeared meanwhile); with `replace`, the trace stays at `<path>.partial`
    until it closes finished and then takes the old file's place by a rename.
    """

    def __init__(self, path, run, probes, metrics, metadata, progress, replace=False):
        if len(probes) > 127 or len(metrics) > 32767:
            raise ValueError(f"too many probe ({len(probes)}, at most 127) or metric ({len(metrics)}, at most 32767) names")
        self.path = path
        self.file = path + PARTIAL_SUFFIX
        self.replacing = replace
        self.probe_index = {p: i for i, p in enumerate(probes)}
        self.metric_index = {m: i for i, m in enumerate(metrics)}
        self._base = {N.META_VERSION: N.TRACE_VERSION}
        self._base.update({k: dumps(v) for k, v in metadata.items()})
        self.schema = trace_schema(self._base)
        self._dicts = (pa.array([run], pa.utf8()), pa.array(list(probes), pa.utf8()), pa.array(list(metrics), pa.utf8()))
        cap = LAYOUT["batch_rows"]
        self._cap = cap
        self._cols = (np.zeros(cap, np.int32), np.zeros(cap, np.int16), np.zeros(cap, np.int8),
                      np.zeros(cap, np.int8), np.zeros(cap, np.int16), np.zeros(cap, np.float32))
        self._n = 0
        self.rows_written = 0
        self._sink = _Sink()
        opts = pa.ipc.IpcWriteOptions(compression=LAYOUT["compression"])
        self._stream = pa.ipc.new_stream(self._sink, self.schema, options=opts)
        self._pending = bytearray()  # encoded messages not yet in the file
        self._started = False
        self._dict_blocks = []
        self._batch_blocks = []
        self._written = 0  # where the footer starts: everything before it is final
        self._end = 0  # the file's length: the end of the last checkpoint's footer
        self._failure = None
        try:
            self._fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as e:
            raise TraceWriteError(e.errno, f"output directory {os.path.dirname(path) or '.'} is not writable ({e.strerror}): give out= a folder you can write to") from e
        try:
            self.checkpoint(progress)
            if not replace:
                self._publish()
        except BaseException:
            self._abandon()
            raise

    def set_metadata(self, metadata):
        """Replaces metadata values in the footers from the next checkpoint on (facts learnt while
        running: the epoch's length, the test set's size); the schema message keeps the first ones."""
        self._base.update({k: dumps(v) for k, v in metadata.items()})

    @property
    def rows(self):
        return self.rows_written + self._n

    def _publish(self):
        try:
            os.link(self.file, self.path)
            os.unlink(self.file)
        except FileExistsError:
            raise FileExistsError(f"trace {self.path} already exists: pass force=True to replace it, or choose another out=")
        except OSError:
            os.rename(self.file, self.path)  # no hard links here: the run's lock keeps other writers away
        self.file = self.path
        self.replacing = False

    def _abandon(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.file != self.path:
            try:
                os.unlink(self.file)
            except OSError:
                pass

    # -- rows

    def append_rows(self, step, epoch, layers, probes, metrics, values):
        """One row per value; `layers`, `probes`, `metrics` are int arrays of dictionary codes;
        `step` and `epoch` are one number for all rows or an array of one per row."""
        if self._fd is None:
            raise ValueError("the trace is closed")
        n = len(values)
        done = 0
        while done < n:
            k = min(n - done, self._cap - self._n)
            s, e = self._n, self._n + k
            st, ep, ly, pr, me, va = self._cols
            st[s:e] = step if np.ndim(step) == 0 else step[done:done + k]
            ep[s:e] = epoch if np.ndim(epoch) == 0 else epoch[done:done + k]
            ly[s:e] = layers[done:done + k]
            pr[s:e] = probes[done:done + k]
            me[s:e] = metrics[done:done + k]
            va[s:e] = values[done:done + k]
            self._n = e
            done += k
            if self._n == self._cap:
                self._encode()

    def append(self, step, epoch, layer, probe, metric, value):
        self.append_rows(step, epoch, (layer,), (self.probe_index[probe],), (self.metric_index[metric],), (value,))

    def _encode(self, allow_empty=False):
        n = self._n
        if n == 0 and not allow_empty:
            return
        st, ep, ly, pr, me, va = (c[:n].copy() for c in self._cols)
        run, probes, metrics = self._dicts
        batch = pa.RecordBatch.from_arrays(
            [
                pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), run),
                pa.array(st), pa.array(ep), pa.array(ly),
                pa.DictionaryArray.from_arrays(pa.array(pr), probes),
                pa.DictionaryArray.from_arrays(pa.array(me), metrics),
                pa.array(va),
            ],
            schema=self.schema,
        )
        self._stream.write_batch(batch)
        data = self._sink.take()
        if not self._started:
            data = _MAGIC + b"\0\0" + data
            self._started = True
        # where each message lands in the file: after what is written, and what is pending
        base = self._written + len(self._pending)
        at = 8 if base == 0 else 0
        while at < len(data):
            kind, meta, body = _message_info(data, at)
            if kind == 2:
                self._dict_blocks.append((base + at, meta, body))
            elif kind == 3:
                self._batch_blocks.append((base + at, meta, body))
            at += meta + body
        self._pending += data
        self.rows_written += n
        self._n = 0

    # -- checkpoints

    def checkpoint(self, progress):
        """Makes every row appended so far durable, with `progress` in the footer's metadata."""
        if self._fd is None:
            raise ValueError("the trace is closed")
        if self._failure is not None:
            raise self._failure
        self._encode(allow_empty=not self._started)
        meta = dict(self._base)
        meta[N.META_PROGRESS] = dumps(progress)
        fb = footer_bytes(self.schema.with_metadata(meta), self._dict_blocks, self._batch_blocks)
        buf = bytes(self._pending) + _EOS + fb + struct.pack("<i", len(fb)) + _MAGIC
        start, old_end = self._written, self._end
        new_end = start + len(buf)
        magic_at = new_end - len(_MAGIC)
        fd = self._fd
        try:
            # 1. beyond the old end first, without the closing magic: only this needs new space,
            #    and failing here leaves the old checkpoint untouched
            if new_end > old_end:
                tail = bytearray(buf[old_end - start:])
                cut = max(0, magic_at - old_end)
                tail[cut:] = bytes(len(tail) - cut)
                _pwrite_all(fd, bytes(tail), old_end)
                os.fdatasync(fd)
            # 2. in place: clear the old closing magic, write the rest, close with the magic last
            if old_end > 0:
                _pwrite_all(fd, bytes(len(_MAGIC)), old_end - len(_MAGIC))
            _pwrite_all(fd, buf[:min(old_end, magic_at) - start], start)
            if new_end < old_end:
                os.ftruncate(fd, new_end)
            _pwrite_all(fd, _MAGIC, magic_at)
            os.fdatasync(fd)
        except OSError as e:
            try:
                os.ftruncate(fd, old_end)
                os.fdatasync(fd)
            except OSError:
                pass
            self._failure = TraceWriteError(e.errno, f"writing trace {self.file} failed ({e.strerror}); it holds the last checkpoint")
            raise self._failure from e
        self._written = start + len(self._pending)
        self._pending = bytearray()
        self._end = new_end

    def close(self, progress):
        """Final checkpoint, then the file is closed; a trace that closes finished replaces the older
        file at `path`, if any."""
        if self._fd is None:
            return
        try:
            if self._failure is None:
                self.checkpoint(progress)
        finally:
            os.close(self._fd)
            self._fd = None
            self._stream.close()
        if self.replacing and progress["status"] in N.FINISHED:
            os.rename(self.file, self.path)
            self.file = self.path
            self.replacing = False


def _pwrite_all(fd, data, pos):
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, pos)
        view = view[n:]
        pos += n
