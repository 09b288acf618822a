"""The per-step probes, computed with torch ops on the tensors the step already made.

Each probe issues its reductions as tensors (no readback); the recorder stacks all of a step's
tensors into one and reads it back once; each probe then turns its numbers into the figures the
trace records. Meanings, names and order are the engine's (docs/trace-format.md):

  loss           loss, accuracy (arg-max of the model's output vs the targets, when given)
  saturation     sat_frac, sat_low, [sat_high,] mean_deriv — layers whose activation saturates
  dead-relu      inactive_frac, dead_units, dead_rows, [active_u{k}] — layers whose activation dies
  gradients      [w_grad_norm, w_grad_max,] [b_grad_norm, b_grad_max,] z_grad_norm, z_grad_max, [update_ratio]
  distribution   z_p{q}, a_p{q} for q in QUANTILES — every distributionEvery steps
  unit-activity  u{k}: share of entries with z > at per unit, averaged over a window of steps

A value a step could not measure (a layer it did not run through, a gradient that is None) is NaN,
never a made-up number.
"""
import math

import torch

from . import _names as N
from ._activations import f32_down, f32_up
from ._plan import flat_units, unit_max

NAN = float("nan")
F64 = torch.float64


class Slot:
    __slots__ = ("layer", "probe", "metric")

    def __init__(self, layer, probe, metric):
        self.layer, self.probe, self.metric = layer, probe, metric


def layer_metrics(layer, probe, settings):
    """The metric names `probe` records for `layer` (empty when it does not apply)."""
    spec = layer.spec
    if probe == N.SATURATION:
        if spec is None or not spec.saturates:
            return []
        _, hi = spec.band(settings)
        return ["sat_frac", "sat_low", "mean_deriv"] if hi == math.inf else ["sat_frac", "sat_low", "sat_high", "mean_deriv"]
    if probe == N.DEAD_RELU:
        if spec is None or not spec.dies:
            return []
        base = ["inactive_frac", "dead_units", "dead_rows"]
        return base + ([N.active_metric(k) for k in range(layer.units)] if layer.units <= settings["perUnitMax"] else [])
    if probe == N.GRADIENTS:
        w = layer.weight is not None
        b = layer.bias is not None
        return ((["w_grad_norm", "w_grad_max"] if w else []) + (["b_grad_norm", "b_grad_max"] if b else [])
                + ["z_grad_norm", "z_grad_max"] + (["update_ratio"] if w else []))
    if probe == N.DISTRIBUTION:
        return [N.quantile_metric("z", p) for p in N.QUANTILES] + [N.quantile_metric("a", p) for p in N.QUANTILES]
    if probe == N.UNIT_ACTIVITY:
        return [N.unit_metric(k) for k in range(layer.units)] if spec is not None and spec.dies else []
    raise ValueError(probe)


def slots_of(layers, probes, settings, with_accuracy):
    """Every value a probed step may record, in the engine's order: network probes, then per layer
    the per-step probes (in PROBE_IDS order), then the windowed ones (unit-activity) last."""
    slots = []
    if N.LOSS in probes:
        slots += [Slot(0, N.LOSS, "loss")] + ([Slot(0, N.LOSS, "accuracy")] if with_accuracy else [])
    per_step = [p for p in N.PROBE_IDS if p in probes and p not in (N.LOSS, N.UNIT_ACTIVITY)]
    for layer in layers:
        for p in per_step:
            slots += [Slot(layer.index, p, m) for m in layer_metrics(layer, p, settings)]
    windowed = []
    if N.UNIT_ACTIVITY in probes:
        for layer in layers:
            windowed += [Slot(layer.index, N.UNIT_ACTIVITY, m) for m in layer_metrics(layer, N.UNIT_ACTIVITY, settings)]
    return slots, windowed


class Issued:
    """The tensors a step issued: 0-d ones (stacked) and 1-d ones, read back together."""

    def __init__(self):
        self.scalars = []
        self.vectors = []
        self._vlen = 0

    def s(self, t):
        self.scalars.append(t)
        return len(self.scalars) - 1

    def v(self, t):
        at = self._vlen
        self.vectors.append(t)
        self._vlen += t.numel()
        return at

    def read(self):
        """One readback: (scalars, vectors) as Python floats."""
        parts = ([torch.stack(self.scalars)] if self.scalars else []) + self.vectors
        if not parts:
            return [], []
        flat = torch.cat(parts).tolist() if len(parts) > 1 else parts[0].reshape(-1).tolist()
        k = len(self.scalars)
        return flat[:k], flat[k:]


def _quantile_ranks(n):
    h = [(n - 1) * p / 100 for p in N.QUANTILES]
    lo = [math.floor(x) for x in h]
    return h, lo, [min(l + 1, n - 1) for l in lo]


def issue_distribution(out, z, a):
    """14 pairs of neighbouring order statistics of z and a (torch.sort puts NaN last, as the
    engine's sort does); linear interpolation between them happens on the host, in float64."""
    tokens = []
    for t in (z, a):
        flat = t.reshape(-1)
        n = flat.numel()
        h, lo, hi = _quantile_ranks(n)
        idx = torch.tensor(lo + hi, device=flat.device)
        tokens.append((out.v(torch.sort(flat).values.index_select(0, idx)), h, lo))
    return tokens


def finish_distribution(tokens, v):
    out = []
    for at, h, lo in tokens:
        k = len(lo)
        for i in range(k):
            a, b = v[at + i], v[at + k + i]
            out.append(a + (h[i] - lo[i]) * (b - a))
    return out


class LayerStep:
    """What a probed step captured of one layer: z, a, dL/dz (any may be None)."""

    __slots__ = ("z", "a", "dz")

    def __init__(self):
        self.z = self.a = self.dz = None


def issue_layer(out, layer, cap, settings, probes, due_every, due_dist, update):
    """Issues the layer's due probes; returns the function that gives their figures."""
    spec = layer.spec
    z = cap.z if cap is not None else None
    a = cap.a if cap is not None else None
    if z is not None and a is None and (N.SATURATION in probes or due_dist):
        a = spec.fn(z) if spec is not None else None
    parts = []
    if due_every and N.SATURATION in probes and spec is not None and spec.saturates:
        lo, hi = spec.band(settings)
        if a is None:
            parts.append(lambda s, v, k=len(layer_metrics(layer, N.SATURATION, settings)): [NAN] * k)
        else:
            n = a.numel()
            i_lo = out.s((a < f32_up(lo)).sum(dtype=F64))
            i_hi = out.s((a > f32_down(hi)).sum(dtype=F64)) if hi != math.inf else None
            i_d = out.s(spec.deriv_sum(z, a))
            if i_hi is None:
                parts.append(lambda s, v: [s[i_lo] / n, s[i_lo] / n, s[i_d] / n])
            else:
                parts.append(lambda s, v: [(s[i_lo] + s[i_hi]) / n, s[i_lo] / n, s[i_hi] / n, s[i_d] / n])
    if due_every and N.DEAD_RELU in probes and spec is not None and spec.dies:
        names = layer_metrics(layer, N.DEAD_RELU, settings)
        if z is None:
            parts.append(lambda s, v, k=len(names): [NAN] * k)
        else:
            at = spec.dies_at
            zu = unit_max(z, layer)  # [samples, units]: a unit is inactive on a sample iff z <= at everywhere
            rows, units = zu.shape
            i_in = out.s((zu <= at).sum(dtype=F64))
            i_du = out.s((zu.amax(0) <= at).sum(dtype=F64))
            i_dr = out.s((zu.amax(1) <= at).sum(dtype=F64))
            i_u = out.v((zu > at).sum(0, dtype=torch.float32)) if len(names) > 3 else None
            pairs = rows * units

            def dead(s, v):
                vals = [s[i_in] / pairs, s[i_du] / units, s[i_dr] / rows]
                if i_u is not None:
                    vals += [c / rows for c in v[i_u:i_u + units]]
                return vals
            parts.append(dead)
    if due_every and N.GRADIENTS in probes:
        parts.append(_issue_gradients(out, layer, cap, update))
    if due_dist and N.DISTRIBUTION in probes:
        if z is None or a is None:
            parts.append(lambda s, v: [NAN] * (2 * len(N.QUANTILES)))
        else:
            tokens = issue_distribution(out, z, a)
            parts.append(lambda s, v: finish_distribution(tokens, v))

    def finish(s, v):
        vals = []
        for p in parts:
            vals += p(s, v)
        return vals
    return finish


def _norm_max(out, t):
    """(index of ‖t‖, index of min, index of max) among the scalars, or None for a missing tensor."""
    if t is None:
        return None
    mn, mx = torch.aminmax(t)
    return out.s(torch.linalg.vector_norm(t)), out.s(mn), out.s(mx)


def _fig(s, ix):
    if ix is None:
        return [NAN, NAN]
    n, mn, mx = ix
    return [s[n], max(-s[mn], s[mx])]


def _issue_gradients(out, layer, cap, update):
    w, b = layer.weight, layer.bias
    iw = _norm_max(out, w.grad) if w is not None else None
    ib = _norm_max(out, b.grad) if b is not None else None
    iz = _norm_max(out, cap.dz if cap is not None else None)
    ratio = update.issue(out, layer) if w is not None else None

    def finish(s, v):
        vals = []
        if w is not None:
            vals += _fig(s, iw)
        if b is not None:
            vals += _fig(s, ib)
        vals += _fig(s, iz)
        if w is not None:
            vals.append(ratio(s) if ratio is not None else NAN)
        return vals
    return finish


def unit_counts(layer, z):
    """Per unit, the share of z's entries (samples × positions) above the activation's death point."""
    zf = flat_units(z, layer)
    return (zf > layer.spec.dies_at).sum(0, dtype=torch.float32), zf.shape[0]
