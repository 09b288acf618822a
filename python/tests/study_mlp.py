"""The study's MLP in PyTorch, trained on the very batches probe's engine trains on, recorded (or
not) with probe_torch. Used by the differential test (test/torch.test.ts) and the bench
(bench/torch-attach.ts), which write SPEC: the engine's initial weights, its normalized-input
lookup table, the images and labels, and each epoch's sample order.

    python study_mlp.py SPEC --out DIR --run NAME [--combo relu-sigmoid-relu] [--epochs 2]
        [--model functional|sequential] [--no-record] [--every N] [--evaluate-first]
        [--checkpoint-seconds S] [--kill-after-steps N] [--hold FILE] [--threads 1] [--force]
        [--time-steps] [--json]
"""
import argparse
import json
import os
import signal
import time

p = argparse.ArgumentParser()
p.add_argument("spec")
p.add_argument("--out", default="runs")
p.add_argument("--run", default=None)
p.add_argument("--combo", default="relu-sigmoid-relu")
p.add_argument("--epochs", type=int, default=None)
p.add_argument("--model", choices=("functional", "sequential"), default="functional")
p.add_argument("--no-record", action="store_true")
p.add_argument("--every", type=int, default=None, help="probe every N-th step (default: attach's)")
p.add_argument("--evaluate-first", action="store_true", help="call rec.evaluate before training (else the recorder evaluates the initial weights itself)")
p.add_argument("--no-optimizer", action="store_true", help="do not tell attach() the optimizer (update_ratio is then measured)")
p.add_argument("--checkpoint-seconds", type=float, default=None)
p.add_argument("--kill-after-steps", type=int, default=None, help="SIGKILL this process after that many steps")
p.add_argument("--hold", default=None, help="after epoch e, wait until this file holds a number >= e")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=None, help="stop after this many steps (bench)")
p.add_argument("--force", action="store_true", help="replace an existing trace")
p.add_argument("--json", action="store_true", help="print one JSON line: ms per step, steps, seconds")
args = p.parse_args()
if args.threads > 0:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

if args.threads > 0:
    torch.set_num_threads(args.threads)

with open(os.path.join(args.spec, "spec.json")) as f:
    spec = json.load(f)
read = lambda name, dt: np.fromfile(os.path.join(args.spec, name), dtype=dt)  # noqa: E731
lut = read("lut.f32", np.float32)
dim = spec["dim"]
xtr = torch.from_numpy(lut[read("train.u8", np.uint8)].reshape(-1, dim))
ytr = torch.from_numpy(read("train-labels.u8", np.uint8).astype(np.int64))
xte = torch.from_numpy(lut[read("test.u8", np.uint8)].reshape(-1, dim))
yte = torch.from_numpy(read("test-labels.u8", np.uint8).astype(np.int64))
init = read("init.f32", np.float32)
sizes = spec["sizes"]
acts = args.combo.split("-")
fns = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "selu": F.selu}
mods = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "selu": nn.SELU}


class Net(nn.Module):
    """As the study wrote it: activations applied functionally, log-softmax on the output."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = (nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for fc, a in zip((self.fc1, self.fc2, self.fc3), acts):
            x = fns[a](fc(x))
        return F.log_softmax(x, dim=1)


if args.model == "functional":
    model = Net()
    linears = [model.fc1, model.fc2, model.fc3]
    activations = {f"fc{i + 1}": a for i, a in enumerate(acts)}
else:
    layers = []
    for a, b, act in zip(sizes[:-1], sizes[1:], acts):
        layers += [nn.Linear(a, b), mods[act]()]
    model = nn.Sequential(*layers, nn.LogSoftmax(dim=1))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    activations = None
with torch.no_grad():
    at = 0
    for lin in linears:
        w, b = lin.weight, lin.bias
        w.copy_(torch.from_numpy(init[at:at + w.numel()].reshape(w.shape))); at += w.numel()
        b.copy_(torch.from_numpy(init[at:at + b.numel()])); at += b.numel()
opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
batch = spec["batch"]
epochs = args.epochs or spec["epochs"]
test = [(xte[i:i + 1000], yte[i:i + 1000]) for i in range(0, len(yte), 1000)]
n = len(ytr)
spe = (n + batch - 1) // batch
rec = None
if not args.no_record:
    from probe_torch import attach
    opts = {} if args.checkpoint_seconds is None else {"checkpoint_seconds": args.checkpoint_seconds}
    if args.every is not None:
        opts["every"] = args.every
    rec = attach(model, out=args.out, run=args.run or f"{args.combo}_s{spec['seed']}", activations=activations,
                 optimizer=None if args.no_optimizer else opt, seed=spec["seed"], epochs=epochs,
                 dataset=spec.get("dataset", "mnist"), force=args.force, **opts)
    if args.evaluate_first:
        rec.evaluate(test)
steps = 0
t0 = time.perf_counter()
done = False
for epoch in range(1, epochs + 1):
    order = torch.from_numpy(read(f"order-{epoch}.i32", np.int32).astype(np.int64))
    for s in range(spe):
        idx = order[s * batch:(s + 1) * batch]
        x, y = xtr[idx], ytr[idx]
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        if rec is not None:
            rec.step(loss, y)
        steps += 1
        if args.kill_after_steps is not None and steps >= args.kill_after_steps:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.steps is not None and steps >= args.steps:
            done = True
            break
    if done:
        break
    if rec is not None:
        rec.evaluate(test)
    if args.hold:
        while True:
            try:
                with open(args.hold) as f:
                    if int(f.read().strip() or 0) >= epoch:
                        break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
seconds = time.perf_counter() - t0
if rec is not None:
    rec.close()
if args.json:
    print(json.dumps({"torch": torch.__version__, "steps": steps, "seconds": seconds, "msPerStep": 1000 * seconds / max(1, steps)}))
