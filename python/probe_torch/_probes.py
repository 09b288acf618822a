"""The per-step probes, computed with torch ops on the tensors the step already made.

Each probe issues its reductions as tensors at its step (no readback); the recorder gathers the
tensors of a block of steps into one and reads it back once (Recorder._flush); each probe then
turns its numbers into the figures the trace records. Meanings, names and order are the engine's (docs/trace-format.md):

  loss           loss, accuracy (arg-max of the model's output vs the targets, when given)
  saturation     sat_frac, sat_low, [sat_high,] mean_deriv — layers whose activation saturates;
                 on the output layer also sat_wrong_frac: entries at an extreme while dL/da points
                 back out of it (the gradient of the loss at the model's output, when that is a)
  dead-relu      inactive_frac, dead_units, dead_rows, [active_u{k}] — layers whose activation dies
  gradients      [w_grad_norm, w_grad_max,] [b_grad_norm, b_grad_max,] z_grad_norm, z_grad_max, [update_ratio]
  distribution   z_p{q}, a_p{q} for q in QUANTILES — every distributionEvery steps
  unit-activity  u{k}: share of entries with z > at per unit, averaged over a window of steps

A value a step could not measure (a layer it did not run through, a gradient that is None) is NaN,
never a made-up number.

Cost: every op here runs on every probed step, right after the training step, when each small op
costs ~3x what it costs in a loop of its own (measured: the step's work has pushed torch's and
Python's code and data out of the caches), so each figure takes as few ops and passes as its
meaning allows (bench/torch_attach.py): norms are dot products (one BLAS pass, 2-3× faster than
vector_norm on torch 1.13's CPU build); comparisons write float32 1.0/0.0 into kept buffers (3x
cheaper than bool); dead-relu's totals are counted on the host from the per-unit counts and
per-sample maxima it reads back anyway; quantiles are selected, not sorted: by numpy's introselect
on a CPU tensor's memory, by a histogram of the values' bit patterns on other devices.
The one place the figures may differ from the engine's loops: a step whose z holds NaN (its loss is
then NaN and the run is marked diverged at that step) counts NaN entries as inactive (and a unit
with NaN on every sample as dead). A non-decreasing activation's quantiles of a are its function of
z's order statistics: the same values as selecting them on a, up to how the function rounds.
"""
import math

import numpy as np
import torch

from . import _names as N
from ._activations import f32_down, f32_up
from ._plan import flat_units, unit_max

NAN = float("nan")
F32 = torch.float32


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
        plain = ["sat_frac", "sat_low", "mean_deriv"] if hi == math.inf else ["sat_frac", "sat_low", "sat_high", "mean_deriv"]
        return plain + (["sat_wrong_frac"] if layer.is_output else [])
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
    """The tensors a step issued, read back together: 0-d float32 ones, 0-d integer ones (counts:
    summing a mask to int64 costs less than summing it to float32, which copies it first) and 1-d
    float32 ones. Scalar indices of counts are negative (-1 the first)."""

    __slots__ = ("scalars", "counts", "vectors", "vlen")

    def __init__(self):
        self.scalars = []
        self.counts = []
        self.vectors = []
        self.vlen = 0  # the vectors' entries

    def s(self, t):
        self.scalars.append(t)
        return len(self.scalars) - 1

    def c(self, t):
        """A count (an integer tensor); its value is read as s[i] like the others."""
        self.counts.append(t)
        return -len(self.counts)

    def v(self, t):
        at = self.vlen
        self.vectors.append(t)
        self.vlen += t.numel()
        return at


# ---------------------------------------------------------------- quantiles

_BUCKET_SHIFT = 20  # 12 leading bits of the ordered key: sign, exponent, 3 mantissa bits
_BUCKETS = 1 << (32 - _BUCKET_SHIFT)
_SORT_BELOW = 4096  # fewer values than this: a plain sort is cheaper than the histogram


def _quantile_ranks(n):
    h = [(n - 1) * p / 100 for p in N.QUANTILES]
    lo = [math.floor(x) for x in h]
    return h, lo, [min(l + 1, n - 1) for l in lo]


def order_statistics(flat, ranks):
    """The values of `flat` at these ranks of its ascending order (NaN last), as torch.sort would
    give them, selected without sorting all of it."""
    if flat.dtype in _HALF:
        # float16 and bfloat16 are float32 numbers: the same order statistics, selected in float32
        flat = flat.float()
    if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
        # on the CPU, numpy on the tensor's own memory: its calls are cheaper than the ~20 small
        # torch ops of _by_histogram (3-10x, bench/torch_attach.py); the same order statistics
        values = flat.detach().contiguous().numpy()
        return torch.from_numpy(_select_numpy(values, ranks))
    return _by_histogram(flat, ranks)


def _select_numpy(values, ranks):
    """The order statistics of a 1-D numpy array at these ranks (NaN last): for float32 of
    _SORT_BELOW values or more, as _by_histogram does on a device (a histogram of the values'
    leading bits tells which buckets hold the ranks; only those values are sorted): ~1.6x cheaper
    than numpy's introselect on the study's 16,000 z (measured right after a training step: 220
    against 360 µs); with an infinity or NaN (their buckets are the first and last 8), and
    otherwise, numpy's introselect (np.partition puts NaN last, as torch.sort does)."""
    if values.dtype != np.float32 or values.size < _SORT_BELOW:
        return np.partition(values, ranks)[ranks]
    bits = values.view(np.int32)
    # the bit pattern mapped so that integer order is numeric order (-0.0 just before +0.0)
    bucket = ((bits ^ ((bits >> 31) & 0x7FFFFFFF)) >> _BUCKET_SHIFT) + _BUCKETS // 2
    counts = np.bincount(bucket, minlength=_BUCKETS)
    if counts[:8].any() or counts[-8:].any():
        return np.partition(values, ranks)[ranks]
    upto = np.cumsum(counts)  # values in the buckets up to each
    r = np.asarray(ranks)
    rb = np.searchsorted(upto, r, side="right")  # the bucket holding each rank
    wanted = np.zeros(_BUCKETS, dtype=bool)
    wanted[rb] = True
    chosen = np.sort(values[wanted[bucket]])
    kept = np.where(wanted, counts, 0)
    return chosen[(np.cumsum(kept) - kept)[rb] + r - (upto[rb] - counts[rb])]


_HALF = (torch.float16, torch.bfloat16)


def _by_histogram(flat, ranks):
    """order_statistics on a device: selected by a histogram of the values' leading bits (the bit
    pattern of a float32 mapped so that integer order is numeric order), which tells which buckets
    hold the ranks; only those buckets' values are sorted. float16 and bfloat16 values are read as
    the float32 numbers they are; other types are sorted."""
    if flat.dtype in _HALF:
        flat = flat.float()
    n = flat.numel()
    if n < _SORT_BELOW or flat.dtype != torch.float32:
        return torch.sort(flat).values.index_select(0, torch.tensor(ranks, device=flat.device))
    # NaN of either sign as a positive NaN, which the key orders after +inf
    flat = torch.nan_to_num(flat.contiguous(), nan=math.nan, posinf=math.inf, neginf=-math.inf)
    bits = flat.view(torch.int32)
    key = bits ^ ((bits >> 31) & 0x7FFFFFFF)
    bucket = ((key >> _BUCKET_SHIFT) + _BUCKETS // 2).long()
    counts = torch.bincount(bucket, minlength=_BUCKETS)
    before = counts.cumsum(0) - counts  # values in the buckets below each
    r = torch.tensor(ranks, device=flat.device)
    rb = torch.searchsorted(before + counts, r, right=True)
    wanted = torch.zeros(_BUCKETS, dtype=torch.bool, device=flat.device)
    wanted[rb] = True
    chosen = torch.sort(flat[wanted[bucket]]).values
    kept = counts * wanted
    kept_before = kept.cumsum(0) - kept
    return chosen.index_select(0, kept_before[rb] + r - before[rb])


def issue_distribution(out, z, a, f=None):
    """For z and a: the neighbouring order statistics of each quantile; the linear interpolation
    between them (numpy's default) happens on the host, in float64. With `f`, the layer's
    activation when it is non-decreasing, a's order statistics are f of z's: one selection, not two."""
    flat = z.reshape(-1)
    h, lo, hi = _quantile_ranks(flat.numel())
    zs = order_statistics(flat, lo + hi)
    tokens = [(out.v(zs.to(F32)), h, lo)]
    if f is not None:
        tokens.append((out.v(f(zs).to(F32)), h, lo))
    else:
        flat = a.reshape(-1)
        h, lo, hi = _quantile_ranks(flat.numel())
        tokens.append((out.v(order_statistics(flat, lo + hi).to(F32)), h, lo))
    return tokens


def finish_distribution(tokens, v):
    out = []
    for at, h, lo in tokens:
        k = len(lo)
        for i in range(k):
            a, b = v[at + i], v[at + k + i]
            out.append(a + (h[i] - lo[i]) * (b - a))
    return out


# ---------------------------------------------------------------- one layer

class LayerStep:
    """What a probed step captured of one layer: z, a, dL/dz, and for the output layer dL/da
    (any may be None)."""

    __slots__ = ("z", "a", "dz", "da")

    def __init__(self):
        self.z = self.a = self.dz = self.da = None


def _sq_min_max(out, t):
    """(‖t‖² index, min index, max index) among the scalars, or None for a missing tensor."""
    if t is None:
        return None
    flat = t.view(-1) if t.is_contiguous() else t.reshape(-1)
    mn, mx = torch.aminmax(flat)
    return out.s(torch.dot(flat, flat)), out.s(mn), out.s(mx)


def _norm_max(s, ix):
    if ix is None:
        return [NAN, NAN]
    sq, mn, mx = ix
    return [math.sqrt(s[sq]), max(-s[mn], s[mx])]


class LayerProgram:
    """What one layer's probes compute each probed step, with everything that does not change from
    step to step (thresholds as float32, which figures apply) decided once."""

    def __init__(self, layer, probes, settings):
        spec = layer.spec
        self.layer = layer
        self.spec = spec
        self.sat = N.SATURATION in probes and spec is not None and spec.saturates
        if self.sat:
            lo, hi = spec.band(settings)
            self.lo32, self.hi32 = f32_up(lo), (None if hi == math.inf else f32_down(hi))
        self.dies = spec is not None and spec.dies
        self.dead = N.DEAD_RELU in probes and self.dies
        self.window = N.UNIT_ACTIVITY in probes and self.dies
        self.at = spec.dies_at if self.dies else None
        self.small = layer.units <= settings["perUnitMax"]
        self.grad = N.GRADIENTS in probes
        self.dist = N.DISTRIBUTION in probes
        # a non-decreasing activation: its own function (a module's forward, without hooks) maps z's
        # order statistics to a's
        self.f = (layer.act_module.forward if layer.act_module is not None else spec.fn) if spec is not None and spec.monotone else None
        self.needs_a = self.sat or (self.dist and self.f is None)
        self.weight, self.bias = layer.weight, layer.bias
        self.plain = len(layer.shape) == 1  # a Linear's [samples, units]: z is its own unit maximum
        self._mask = None  # _above's buffer
        self.n_dead = len(layer_metrics(layer, N.DEAD_RELU, settings))
        self.n_sat = len(layer_metrics(layer, N.SATURATION, settings))
        self.wrong = self.sat and layer.is_output

    def issue(self, out, cap, due_every, due_dist, update):
        """Issues the layer's due probes (the per-step ones when `due_every`, distribution when
        `due_dist`; unit-activity is the recorder's, over blocks of steps). Returns
        finish(s, v) -> figures."""
        z = cap.z if cap is not None else None
        a = cap.a if cap is not None else None
        if z is not None and a is None and self.needs_a and self.spec is not None:
            a = self.spec.fn(z)
        parts = []
        if due_every and self.sat:
            if a is None:
                parts.append(lambda s, v, k=self.n_sat: [NAN] * k)
            else:
                n = a.numel()
                i_lo = out.c((a < self.lo32).sum())
                i_d = out.s(self.spec.deriv_sum(z, a))
                if self.hi32 is None:
                    parts.append(lambda s, v: [s[i_lo] / n, s[i_lo] / n, s[i_d] / n])
                else:
                    i_hi = out.c((a > self.hi32).sum())
                    parts.append(lambda s, v: [(s[i_lo] + s[i_hi]) / n, s[i_lo] / n, s[i_hi] / n, s[i_d] / n])
                if self.wrong:
                    parts.append(self._wrong_side(out, a, cap.da))
        if due_every and self.dead:
            if z is None:
                parts.append(lambda s, v, k=self.n_dead: [NAN] * k)
            else:
                parts.append(self._dead(out, z))
        if due_every and self.grad:
            parts.append(self._gradients(out, cap, update))
        if due_dist and self.dist:
            if z is None or (a is None and self.f is None):
                parts.append(lambda s, v: [NAN] * (2 * len(N.QUANTILES)))
            else:
                tokens = issue_distribution(out, z, a, self.f)
                parts.append(lambda s, v: finish_distribution(tokens, v))

        def finish(s, v):
            vals = []
            for p in parts:
                vals += p(s, v)
            return vals
        return finish

    def _wrong_side(self, out, a, da):
        """sat_wrong_frac: entries below the band with dL/da < 0 or above it with dL/da > 0 (NaN
        without dL/da: never the plain share in its place)."""
        if da is None or da.shape != a.shape:
            return lambda s, v: [NAN]
        wrong = (a < self.lo32) & (da < 0)
        if self.hi32 is not None:
            wrong |= (a > self.hi32) & (da > 0)
        i_w, n = out.c(wrong.sum()), a.numel()
        return lambda s, v: [s[i_w] / n]

    def _dead(self, out, z):
        """dead-relu: with per-unit figures (units <= perUnitMax) the per-unit counts and each
        sample's largest z are read back and the totals counted on the host (exact: integers in
        float64); otherwise the totals are counted on the device."""
        at = self.at
        zu = z if self.plain else unit_max(z, self.layer)  # [samples, units]
        rows, units = zu.shape
        pairs = rows * units
        if self.small:
            # per unit: samples with z above the death point, as float32 1.0/0.0 summed (exact)
            i_u = out.v(self._above(zu).sum(0))
            i_m = out.v(zu.amax(1).to(F32))

            def dead(s, v):
                counts = v[i_u:i_u + units]
                # NaN is never <= at: a sample with NaN is not a dead row, as on the device
                dead_rows = sum(1 for m in v[i_m:i_m + rows] if m <= at)
                return [1 - sum(counts) / pairs, counts.count(0.0) / units, dead_rows / rows] + [c / rows for c in counts]
            return dead
        active = (zu > at).sum(0)  # per unit: samples with z above the death point (int64)
        i_act = out.c(active.sum())
        i_du = out.c((active == 0).sum())
        i_dr = out.c((zu.amax(1) <= at).sum())
        return lambda s, v: [1 - s[i_act] / pairs, s[i_du] / units, s[i_dr] / rows]

    def _above(self, zu):
        """zu > at as float32 1.0/0.0, into a buffer kept between steps (for float32 zu; torch's
        comparison into bool is ~3x slower)."""
        if zu.dtype != F32:
            return (zu > self.at).to(F32)
        buf = self._mask
        if buf is None or buf.shape != zu.shape or buf.device != zu.device:
            buf = self._mask = torch.empty(zu.shape, dtype=F32, device=zu.device)
        return torch.gt(zu, self.at, out=buf)

    def step_shares(self, z):
        """unit-activity of one step: (active entries per unit as float32, 1 / entries); NaN per
        unit for a step that did not run through the layer."""
        if z is None:
            return torch.full((self.layer.units,), math.nan), 1.0
        counts, scale = unit_counts(self.layer, z)
        return counts.to(F32), scale

    def _gradients(self, out, cap, update):
        w, b = self.weight, self.bias
        gw = w.grad if w is not None else None
        iw = _sq_min_max(out, gw)
        ib = _sq_min_max(out, b.grad) if b is not None else None
        iz = _sq_min_max(out, cap.dz if cap is not None else None)
        ratio = update.issue(out, self.layer, iw) if w is not None else None

        def finish(s, v):
            vals = []
            if w is not None:
                vals += _norm_max(s, iw)
            if b is not None:
                vals += _norm_max(s, ib)
            vals += _norm_max(s, iz)
            if w is not None:
                vals.append(ratio(s) if ratio is not None else NAN)
            return vals
        return finish


def unit_counts(layer, z):
    """Per unit, the entries (samples × positions) of z above the activation's death point, and
    1 / the number of entries: their share is the product."""
    zf = flat_units(z, layer)
    return (zf > layer.spec.dies_at).sum(0), 1 / zf.shape[0]
