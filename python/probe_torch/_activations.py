"""What the probes know about each activation: where it saturates, where it dies, its derivative.

The same rules as probe's activation specs (src/activations/*.ts, docs/trace-format.md):
saturation bands use the run's thresholds; "dies" means an exactly zero derivative for z <= at.
An activation with neither rule (linear, leaky ReLU, GELU, swish) gets gradient and distribution
figures only; one probe does not know gets no saturation or death figures, never zeros.

Thresholds are compared in float32 exactly as the TypeScript probes compare a float32 value with a
float64 threshold: `a < lo` is `a < up(lo)` with up(lo) the smallest float32 >= lo.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
LAMBDA_ALPHA = SELU_SCALE * SELU_ALPHA


def f32_up(x: float) -> float:
    """The smallest float32 >= x: for float32 a, `a < x` iff `a < f32_up(x)`."""
    if math.isinf(x):
        return x
    f = np.float32(x)
    return float(f if float(f) >= x else np.nextafter(f, np.float32(np.inf)))


def f32_down(x: float) -> float:
    """The largest float32 <= x: for float32 a, `a > x` iff `a > f32_down(x)`."""
    if math.isinf(x):
        return x
    f = np.float32(x)
    return float(f if float(f) <= x else np.nextafter(f, np.float32(-np.inf)))


class Spec:
    """name; `fn` computes a from z; `band(settings)` -> (low, high) or None; `dies_at` or None;
    `deriv_sum(z, a)` -> the sum of da/dz over all entries (a 0-d float32 tensor), for saturating
    ones: sigmoid's a(1 − a) summed as Σa − Σa², tanh's 1 − a² as n − Σa² (a dot product each)."""

    def __init__(self, name, fn, band=None, dies_at=None, deriv_sum=None, monotone=True):
        self.name = name
        #: non-decreasing: the order statistics of a are f of those of z (the distribution probe
        #: selects them on z only)
        self.monotone = monotone
        self.fn = fn
        self.band = band
        self.dies_at = dies_at
        self.deriv_sum = deriv_sum

    @property
    def saturates(self):
        return self.band is not None

    @property
    def dies(self):
        return self.dies_at is not None


def _selu_like(scale, scale_alpha):
    def deriv_sum(z, a):
        # z > 0: scale; z <= 0: a + scale·alpha, where a <= 0 exactly when z <= 0
        pos = (z > 0).sum(dtype=torch.float32)
        return scale * pos + a.clamp(max=0).sum() + scale_alpha * (z.numel() - pos)
    return deriv_sum


def _sq(a):
    """Σa² in one BLAS pass."""
    flat = a.reshape(-1)
    return torch.dot(flat, flat)


_RELU6_TOP = float(np.nextafter(np.float32(6), np.float32(0)))

SPECS = {
    "relu": Spec("relu", torch.relu, dies_at=0.0),
    "sigmoid": Spec("sigmoid", torch.sigmoid, band=lambda s: (s["sigmoidLow"], s["sigmoidHigh"]),
                    deriv_sum=lambda z, a: a.sum() - _sq(a)),
    "tanh": Spec("tanh", torch.tanh, band=lambda s: (-s["tanhSat"], s["tanhSat"]),
                 deriv_sum=lambda z, a: a.numel() - _sq(a)),
    "selu": Spec("selu", torch.selu, band=lambda s: (-s["seluSat"] * LAMBDA_ALPHA, math.inf),
                 deriv_sum=_selu_like(SELU_SCALE, LAMBDA_ALPHA)),
    "elu": Spec("elu", F.elu, band=lambda s: (-s["seluSat"], math.inf), deriv_sum=_selu_like(1.0, 1.0)),
    "relu6": Spec("relu6", F.relu6, band=lambda s: (0.0, _RELU6_TOP), dies_at=0.0,
                  deriv_sum=lambda z, a: ((z > 0) & (z < 6)).sum(dtype=torch.float32)),
    "softsign": Spec("softsign", F.softsign, band=lambda s: (-s["tanhSat"], s["tanhSat"]),
                     deriv_sum=lambda z, a: (1 - a.abs()).square().sum()),
    "leakyrelu": Spec("leakyrelu", F.leaky_relu),
    "gelu": Spec("gelu", F.gelu, monotone=False),
    "swish": Spec("swish", F.silu, monotone=False),
    "linear": Spec("linear", lambda z: z),
}

#: other spellings accepted in `activations=`
ALIASES = {"silu": "swish", "identity": "linear", "leaky_relu": "leakyrelu", "none": "linear"}


def spec_of(name):
    """The spec of an activation name, or None for one the probes have no rules for."""
    return SPECS.get(name)


def canonical(name: str) -> str:
    """An `activations=` value as the trace names it; ValueError for one the probes do not know."""
    key = str(name).lower()
    key = ALIASES.get(key, key)
    if key not in SPECS:
        raise ValueError(f"activation {name!r} is not one probe knows: use one of {', '.join(sorted(set(SPECS) | set(ALIASES)))}")
    return key


def module_activation(module):
    """(name, parameter) for an activation module, or None when the module is not an activation.
    Names follow probe's specs; an activation module the probes have no rules for keeps its class
    name in lower case and gets gradient and distribution figures only."""
    nn = torch.nn
    if isinstance(module, nn.ReLU6):
        return "relu6", None
    if isinstance(module, nn.ReLU):
        return "relu", None
    for cls, name in ((nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"), (nn.SELU, "selu"), (nn.GELU, "gelu"),
                      (nn.SiLU, "swish"), (nn.Softsign, "softsign")):
        if isinstance(module, cls):
            return name, None
    if isinstance(module, nn.LeakyReLU):
        return "leakyrelu", float(module.negative_slope)
    if isinstance(module, nn.ELU):
        # probe's elu rule is for alpha 1 (saturated below -seluSat); another alpha has no rule here
        return ("elu", None) if module.alpha == 1.0 else (f"elu(alpha={module.alpha:g})", float(module.alpha))
    # activations without rules, named so a reader knows them; torch's Hardsigmoid is not tfjs's
    # (slope 1/6, not 0.2), so it keeps its own name
    others = (nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus, nn.Mish, nn.PReLU, nn.RReLU,
              nn.CELU, nn.LogSigmoid, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold)
    if isinstance(module, others):
        return type(module).__name__.lower() + ("-torch" if isinstance(module, nn.Hardsigmoid) else ""), None
    return None
