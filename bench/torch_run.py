#!/usr/bin/env python3
"""PyTorch reference for a whole `probe run` process: read MNIST's idx files, train the MLP
784-500-256-10 for N steps of batch 32 (SGD with momentum, shuffled), evaluate on the first M
test images, print one JSON line. The caller times the process from spawn to exit, as it times
`probe run`, so interpreter start-up and `import torch` count like Node's start-up does.

  python3 bench/torch_run.py DATA_DIR [--steps 1000] [--test 1000] [--threads 1] [--combo relu-sigmoid-relu]
"""
import argparse
import gzip
import json
import os
import sys

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("data")
p.add_argument("--steps", type=int, default=1000)
p.add_argument("--test", type=int, default=1000)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--combo", default="relu-sigmoid-relu")
args = p.parse_args()
if args.threads > 0:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

if args.threads > 0:
    torch.set_num_threads(args.threads)


def idx(name):
    path = os.path.join(args.data, name)
    opener = open if os.path.exists(path) else gzip.open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def images(name, n):
    x = torch.from_numpy(idx(name)[:n].reshape(-1, 784).astype(np.float32))
    return ((x / 255) - 0.1307) / 0.3081


n_train = args.steps * 32
xtr, ytr = images("train-images-idx3-ubyte", n_train), torch.from_numpy(idx("train-labels-idx1-ubyte")[:n_train].astype(np.int64))
xte, yte = images("t10k-images-idx3-ubyte", args.test), torch.from_numpy(idx("t10k-labels-idx1-ubyte")[:args.test].astype(np.int64))
acts = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "selu": torch.selu}
fs = [acts[a] for a in args.combo.split("-")]
torch.manual_seed(1)
layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip((784, 500, 256), (500, 256, 10)))


def forward(x):
    for lin, f in zip(layers, fs):
        x = f(lin(x))
    return x


opt = torch.optim.SGD(layers.parameters(), lr=0.01, momentum=0.5)  # probe run's defaults
order = torch.randperm(n_train)
total = 0.0
for s in range(args.steps):
    i = order[s * 32:(s + 1) * 32]
    opt.zero_grad(set_to_none=True)
    loss = F.nll_loss(F.log_softmax(forward(xtr[i]), dim=1), ytr[i])
    loss.backward()
    opt.step()
    total += loss.item()
with torch.no_grad():
    logp = F.log_softmax(forward(xte), dim=1)
    acc = (logp.argmax(1) == yte).float().mean().item()
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": args.steps,
                  "train_loss": total / args.steps, "test_acc": acc}))
