"""The file a process killed during a checkpoint leaves, at every point of the checkpoint's writes.

Writes a trace with a first checkpoint of N1 rows, adds rows up to N2, and starts the second
checkpoint with the writes cut short: after k whole writes, and halfway through write k+1, for
every k. Each resulting file is copied to OUT/k-<kind>.arrow; a manifest.json lists them with N1
and N2. test/torch.test.ts reads every one with probe's reader: each must open, with the first
checkpoint's rows at least (from its footer, or recovered message by message), never an error.

    python kill_points.py OUT
"""
import json
import os
import shutil
import sys

import numpy as np

from probe_torch import _arrow

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


class Killed(Exception):
    pass


def write_trace(path, budget=None, half=False):
    """Returns (N1, N2) after the second checkpoint, or raises Killed at the budget."""
    facts = {"run": "k", "combo": "relu", "seed": 0, "backend": "test", "engine": "pytorch", "versions": {},
             "startedAt": "2026-01-01T00:00:00.000Z", "host": {"platform": "linux", "arch": "x64", "cpus": 1},
             "dataset": {"name": "none", "source": "test", "trainSize": 0, "testSize": 0},
             "layers": [{"layer": 1, "activation": "relu", "fanIn": 1, "fanOut": 1}], "stepsPerEpoch": 0}
    progress = {"status": "running", "epochsDone": 0, "stepsDone": 0, "updatedAt": "x", "endedAt": None,
                "epochSeconds": [], "probeOverhead": None, "writeOverhead": None}
    t = _arrow.TraceFile(path, "k", ["loss"], ["loss"], {"probe.config": {"source": "pytorch"}, "probe.facts": facts}, progress)
    codes = (np.zeros(1, np.int8), np.zeros(1, np.int8), np.zeros(1, np.int16))
    for s in range(700):
        t.append_rows(s, 1, *codes, np.array([s], np.float32))
    t.checkpoint(dict(progress, stepsDone=700))
    n1 = t.rows
    for s in range(700, 2000):  # past a full batch of rows (LAYOUT batch_rows is larger: one more batch)
        t.append_rows(s, 1, *codes, np.array([s], np.float32))
    real = _arrow._pwrite_all
    calls = [0]

    def cut(fd, data, pos):
        if budget is not None and calls[0] >= budget:
            if half:
                real(fd, bytes(data)[: len(data) // 2], pos)
            raise Killed()
        calls[0] += 1
        real(fd, data, pos)

    _arrow._pwrite_all = cut
    try:
        t.checkpoint(dict(progress, stepsDone=2000))
    finally:
        _arrow._pwrite_all = real
    return n1, t.rows, calls[0]


tmp = os.path.join(out, "work.arrow")
_, _, writes = write_trace(os.path.join(out, "whole.arrow"))
manifest = []
for k in range(writes + 1):
    for half in (False, True):
        if half and k == writes:
            continue
        for f in (tmp, tmp + ".partial"):
            if os.path.exists(f):
                os.unlink(f)
        try:
            n1, n2, _ = write_trace(tmp, budget=k, half=half)
        except Killed:
            n1, n2 = 700, 2000
        name = f"{k}-{'half' if half else 'whole'}.arrow"
        shutil.copyfile(tmp, os.path.join(out, name))
        manifest.append({"file": name, "after": k, "half": half, "n1": n1, "n2": n2})
json.dump({"writes": writes, "files": manifest}, open(os.path.join(out, "manifest.json"), "w"))
print(json.dumps({"writes": writes, "files": len(manifest)}))
