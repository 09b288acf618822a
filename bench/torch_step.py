#!/usr/bin/env python3
"""PyTorch reference: ms per SGD training step of the MNIST MLP 784-500-256-10.

  python3 bench/torch_step.py --combos relu-sigmoid-relu,sigmoid-sigmoid-relu \
      --steps 400 --warmup 50 [--threads N] [--repeats 5]

Prints one JSON line on stdout; messages go to stderr.
A step = zero_grad, forward, nll_loss(log_softmax), backward, SGD step, loss.item().
"""
import argparse
import ctypes
import json
import os
import re
import statistics
import sys
import time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--combos", default="relu-sigmoid-relu,sigmoid-sigmoid-relu,relu-relu-relu")
p.add_argument("--steps", type=int, default=400, help="steps per timed repeat")
p.add_argument("--warmup", type=int, default=50)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--threads", type=int, default=0, help="0 = torch default")
p.add_argument("--batch", type=int, default=32)
p.add_argument("--pool", type=int, default=64, help="distinct random batches, cycled")
args = p.parse_args()

if args.threads > 0:
    # A BLAS that torch was not built against (Debian's torch calls libblas.so.3,
    # which may be OpenBLAS) ignores torch.set_num_threads: cap it before loading.
    # An explicit OPENBLAS_NUM_THREADS etc. in the environment wins.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"torch_step.py: {sys.executable}: {e} (run bench/setup-python.sh)")

if args.threads > 0:
    torch.set_num_threads(args.threads)

ACTS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "selu": torch.selu}
SIZES = (784, 500, 256, 10)


def blas_info():
    """(BLAS in use, its kernel set, BLAS_INFO of the build, resolved libblas.so or None)."""
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=(\w+)", cfg)
    built = m.group(1) if m else ("mkl" if "Math Kernel Library" in cfg else "unknown")
    names = {"mkl": "MKL", "open": "OpenBLAS", "openblas": "OpenBLAS", "blis": "BLIS",
             "flexi": "FlexiBLAS", "accelerate": "Accelerate", "generic": "generic"}
    blas, core, lib = names.get(built.lower(), built), None, None
    if built == "generic":  # linked to plain libblas.so.3: see what the system resolved it to
        try:
            with open("/proc/self/maps") as f:
                lib = next((ln.split()[-1] for ln in f if "/libblas.so" in ln), None)
        except OSError:
            pass
        for key, name in (("openblas", "OpenBLAS"), ("blis", "BLIS"), ("atlas", "ATLAS")):
            if lib and key in lib:
                blas = name
        if blas == "OpenBLAS":  # kernel set in use (OPENBLAS_CORETYPE can force it)
            try:
                get = ctypes.CDLL(lib).openblas_get_corename
                get.restype = ctypes.c_char_p
                core = get().decode()
            except (OSError, AttributeError):
                pass
    return blas, core, built, lib


class MLP(nn.Module):
    def __init__(self, acts):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(SIZES, SIZES[1:]))
        self.acts = [ACTS[a] for a in acts]

    def forward(self, x):
        for lin, act in zip(self.layers, self.acts):
            x = act(lin(x))  # the activation is applied to the logits too
        return x


def bench(combo, xs, ys):
    torch.manual_seed(0)
    model = MLP(combo.split("-"))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    n = len(xs)
    i = 0

    def run(steps):
        nonlocal i
        for _ in range(steps):
            x, y = xs[i % n], ys[i % n]
            i += 1
            opt.zero_grad(set_to_none=True)
            loss = F.nll_loss(F.log_softmax(model(x), dim=1), y)
            loss.backward()
            opt.step()
            loss.item()

    run(args.warmup)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run(args.steps)
        times.append((time.perf_counter() - t0) * 1000 / args.steps)
    ms = statistics.median(times)
    print(f"{combo}: {ms:.3f} ms/step (repeats {', '.join(f'{t:.3f}' for t in times)})",
          file=sys.stderr)
    return {"combo": combo, "ms_per_step": round(ms, 4),
            "min_ms": round(min(times), 4), "max_ms": round(max(times), 4)}


def main():
    combos = [c.strip() for c in args.combos.split(",") if c.strip()]
    for c in combos:
        acts = c.split("-")
        if len(acts) != 3 or any(a not in ACTS for a in acts):
            sys.exit(f"bad combo {c!r}: want a-b-c with each of {'|'.join(ACTS)}")
    g = torch.Generator().manual_seed(1234)
    xs = torch.randn(args.pool, args.batch, SIZES[0], generator=g).unbind(0)
    ys = torch.randint(0, 10, (args.pool, args.batch), generator=g).unbind(0)
    blas, blas_core, blas_build, blas_lib = blas_info()
    results = [bench(c, xs, ys) for c in combos]
    env = {k: v for k, v in os.environ.items()
           if k.startswith("OPENBLAS_") or k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    print(json.dumps({
        "torch": torch.__version__, "python": sys.version.split()[0],
        "blas": blas, "blas_core": blas_core, "blas_build": blas_build, "blas_lib": blas_lib,
        "threads": torch.get_num_threads(),
        "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
        "batch": args.batch, "env": env, "results": results,
    }))


if __name__ == "__main__":
    main()
