#!/usr/bin/env python3
"""probe_torch's cost: the study's MLP (784-500-256-10) in PyTorch on real MNIST batches, SGD lr 0.01
momentum 0.5, batch 32, the same loop without the recorder and with it (the default schedules:
loss and unit activity every step, the other probes every 10th; and every probe every step,
every=1; and a second copy without it, the A/A check), alternated in short blocks over many
rounds in one process; and an epoch's evaluation
with the diagnosis against a plain evaluation of the same test set. Prints one JSON line.

    python bench/torch_attach.py SPEC [--steps 50] [--rounds 120] [--threads 1] [--combo relu-sigmoid-relu] [--seed 1]

SPEC is written by bench/torch-attach.ts (test/torch-spec.ts): the engine's initial weights and
the MNIST images. Each mode has its own copy of the model and optimizer, from the same initial
weights, trained on the same batches: the three loops take the same steps. A recorder stays
attached to its model for the whole bench, as in a run (blocks, windows and checkpoints as they
fall); its first step (the first forward pass shows the layers, the trace file is created) and
its closing are untimed: the figure is the steady cost per step. Each round times --steps steps
of each mode, in an order drawn at random for the round (seeded: --seed), so that no mode is
always first or always after the same other, and no rhythm of the machine's other load lines up
with the order; short blocks, many rounds: the machine's other load falls on all modes alike, and
a round's ratio is taken over steps a fraction of a second apart (bench/torch-attach.ts says what
is made of them).
"""
import argparse
import json
import os
import random
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("spec")
p.add_argument("--steps", type=int, default=50, help="steps of each mode in a round")
p.add_argument("--rounds", type=int, default=120)
p.add_argument("--seed", type=int, default=1, help="seeds the order of the modes in each round")
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
from probe_torch._names import DEFAULT_EVERY as N_DEFAULT  # noqa: E402

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


def study_model():
    """The MLP with the engine's initial weights, and its optimizer."""
    model = Net()
    with torch.no_grad():
        at = 0
        for lin in (model.fc1, model.fc2, model.fc3):
            for t in (lin.weight, lin.bias):
                t.copy_(torch.from_numpy(init[at:at + t.numel()].reshape(t.shape)))
                at += t.numel()
    return model, torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])


batch = spec["batch"]
per_epoch = len(order) // batch
activations = {f"fc{i + 1}": a for i, a in enumerate(args.combo.split("-"))}
test = [(xte[i:i + 1000], yte[i:i + 1000]) for i in range(0, len(yte), 1000)]
out = tempfile.mkdtemp(prefix="probe-torch-bench-")


cpu = {}  # CPU seconds per step of the last timed block: less disturbed by other processes than wall time


def steps(model, opt, rec, first, n):
    """n steps on batches first..first+n-1 (wrapping at the epoch's end); wall ms per step."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(first, first + n):
        s = i % per_epoch
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


loops = {}
# off2: a second copy of the loop without the recorder (A/A): what two copies of one loop differ by
# here (where their tensors lie in memory, the order within rounds), the floor under any overhead
for mode, every in (("off", None), ("off2", None), ("default", N_DEFAULT), ("every1", 1)):
    m, o = study_model()
    rec = None if every is None else attach(m, out=out, run=mode, activations=activations, optimizer=o,
                                            steps_per_epoch=per_epoch, every=every)
    loops[mode] = (m, o, rec)
# two sets of rounds: the figure (no recorder, A/A, default schedules), then every=1 against its own
# rounds without recorder. every=1 is kept out of the figure's rounds: alternated with them, its
# heavy steps made the default schedules' copy slower under torch 2.13 (24.5% against 18.7% without
# it, 2026-12-07; under torch 1.13 14.6% and 14.5%) while both copies without recorder stayed equal,
# and no run has an every=1 recorder stepping beside it
PHASES = ((("off", "off"), ("off2", "off2"), ("default", "default")), (("off", "offEvery1"), ("every1", "every1")))
ms = {key: [] for phase in PHASES for _, key in phase}
ms_cpu = {key: [] for key in ms}
warm = 50  # the recorders' first step, and the caches and allocator settling: untimed
for m in loops:
    steps(*loops[m], 0, warm)
orders = random.Random(args.seed)
first = warm
for phase in PHASES:
    for r in range(args.rounds):
        names = list(phase)
        orders.shuffle(names)
        for m, key in names:
            ms[key].append(steps(*loops[m], first, args.steps))
            ms_cpu[key].append(cpu["last"])
        first += args.steps
for _, _, rec in loops.values():
    if rec is not None:
        rec.close()
model, opt, _ = loops["off"]


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


# an epoch's evaluation: the recorder's (test loss, accuracy and the diagnosis) against a plain one
ev = {"plain": [], "diagnosed": []}
rec = attach(model, out=out, run="eval", activations=activations, optimizer=opt)
at = first
steps(model, opt, rec, at, 1)
rec.evaluate(test)  # the first also evaluates the weights before training: untimed
for r in range(max(3, min(7, args.rounds // 4))):
    t0 = time.perf_counter()
    plain_eval()
    ev["plain"].append(time.perf_counter() - t0)
    at += 1
    steps(model, opt, rec, at, 1)
    t0 = time.perf_counter()
    rec.evaluate(test)
    ev["diagnosed"].append(time.perf_counter() - t0)
rec.close()
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": args.steps, "rounds": args.rounds,
                  "combo": args.combo, "msPerStep": ms, "cpuMsPerStep": ms_cpu, "evalSeconds": ev, "testImages": len(yte), "stepsPerEpoch": per_epoch}))
