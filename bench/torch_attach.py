#!/usr/bin/env python3
"""probe_torch's cost: the study's MLP (784-500-256-10) in PyTorch on real MNIST batches, SGD lr 0.01
momentum 0.5, batch 32, the same loop without the recorder and with it (the default schedules:
loss and unit activity every step, the other probes every 10th; and every probe every step,
every=1), alternated over rounds in one process; and an epoch's evaluation with the diagnosis
against a plain evaluation of the same test set. Prints one JSON line.

    python bench/torch_attach.py SPEC [--steps 200] [--rounds 7] [--threads 1] [--combo relu-sigmoid-relu]

SPEC is written by bench/torch-attach.ts (test/torch-spec.ts): the engine's initial weights and
the MNIST images. Each "on" round attaches a fresh recorder and takes one untimed step (the first
forward pass shows the layers, the trace file is created), then times its steps; closing is
untimed too: the figure is the steady cost per step.
"""
import argparse
import json
import os
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("spec")
p.add_argument("--steps", type=int, default=200)
p.add_argument("--rounds", type=int, default=7)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--combo", default="relu-sigmoid-relu")
p.add_argument("--test", type=int, default=10000, help="test images in the evaluation timing")
args = p.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(args.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from probe_torch import attach  # noqa: E402

torch.set_num_threads(args.threads)
spec = json.load(open(os.path.join(args.spec, "spec.json")))
read = lambda name, dt: np.fromfile(os.path.join(args.spec, name), dtype=dt)  # noqa: E731
lut = read("lut.f32", np.float32)
dim = spec["dim"]
xtr = torch.from_numpy(lut[read("train.u8", np.uint8)].reshape(-1, dim))
ytr = torch.from_numpy(read("train-labels.u8", np.uint8).astype(np.int64))
xte = torch.from_numpy(lut[read("test.u8", np.uint8)].reshape(-1, dim))[:args.test]
yte = torch.from_numpy(read("test-labels.u8", np.uint8).astype(np.int64))[:args.test]
order = torch.from_numpy(read("order-1.i32", np.int32).astype(np.int64))
init = read("init.f32", np.float32)
sizes = spec["sizes"]
fns = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "selu": F.selu}
acts = [fns[a] for a in args.combo.split("-")]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = (nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for fc, f in zip((self.fc1, self.fc2, self.fc3), acts):
            x = f(fc(x))
        return F.log_softmax(x, dim=1)


model = Net()
with torch.no_grad():
    at = 0
    for lin in (model.fc1, model.fc2, model.fc3):
        for t in (lin.weight, lin.bias):
            t.copy_(torch.from_numpy(init[at:at + t.numel()].reshape(t.shape)))
            at += t.numel()
opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
batch = spec["batch"]
per_epoch = len(order) // batch
cursor = [0]
activations = {f"fc{i + 1}": a for i, a in enumerate(args.combo.split("-"))}
test = [(xte[i:i + 1000], yte[i:i + 1000]) for i in range(0, len(yte), 1000)]
out = tempfile.mkdtemp(prefix="probe-torch-bench-")


cpu = {}  # CPU seconds per step of the last timed block: less disturbed by other processes than wall time


def steps(n, rec=None):
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        s = cursor[0] % per_epoch
        cursor[0] += 1
        idx = order[s * batch:(s + 1) * batch]
        x, y = xtr[idx], ytr[idx]
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        if rec is not None:
            rec.step(loss, y)
        else:
            loss.item()  # the loop reads its loss, as a training loop logs it
    cpu["last"] = (time.process_time() - c0) / n * 1000
    return (time.perf_counter() - t0) / n * 1000


runs = [0]


def recorded(n, every=None):
    runs[0] += 1
    rec = attach(model, out=out, run=f"r{runs[0]}", activations=activations, optimizer=opt, steps_per_epoch=per_epoch,
                 **({} if every is None else {"every": every}))
    steps(1, rec)  # the layers are found and the file is made: not the steady cost
    ms = steps(n, rec)
    rec.close()
    return ms


def plain_eval():
    model.eval()
    with torch.no_grad():
        total, correct = 0.0, 0
        for x, y in test:
            o = model(x)
            total += F.nll_loss(o, y, reduction="sum").item()
            correct += int((o.argmax(1) == y).sum())
    model.train()
    return total, correct


modes = {"off": lambda: steps(args.steps), "default": lambda: recorded(args.steps), "every1": lambda: recorded(args.steps, 1)}
ms = {m: [] for m in modes}
ms_cpu = {m: [] for m in modes}
steps(50)
recorded(50)
for r in range(args.rounds):
    names = list(modes)
    for m in names[r % len(names):] + names[:r % len(names)]:  # each mode first in turn
        ms[m].append(modes[m]())
        ms_cpu[m].append(cpu["last"])

# an epoch's evaluation: the recorder's (test loss, accuracy and the diagnosis) against a plain one
ev = {"plain": [], "diagnosed": []}
rec = attach(model, out=out, run="eval", activations=activations, optimizer=opt)
steps(1, rec)
rec.evaluate(test)  # the first also evaluates the weights before training: untimed
for r in range(max(3, args.rounds // 2)):
    t0 = time.perf_counter()
    plain_eval()
    ev["plain"].append(time.perf_counter() - t0)
    steps(1, rec)
    t0 = time.perf_counter()
    rec.evaluate(test)
    ev["diagnosed"].append(time.perf_counter() - t0)
rec.close()
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": args.steps, "rounds": args.rounds,
                  "combo": args.combo, "msPerStep": ms, "cpuMsPerStep": ms_cpu, "evalSeconds": ev, "testImages": len(yte), "stepsPerEpoch": per_epoch}))
