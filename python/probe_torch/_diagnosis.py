"""The diagnosis at an evaluation: per layer the hypotheses' measures on the test set, and per
misclassified input which candidate causes apply — the engine's rows (src/probes/diagnosis.ts,
docs/trace-format.md), from the evaluation's own forward and one backward pass.

Per misclassified input a cause applies when:
- true_unit_off: the output layer dies (ReLU) and the true class's unit has z <= 0;
- prev_saturated: the layer before the output saturates (sigmoid/tanh/selu) and more than half of
  its units (entries, for a convolution) are at their extremes (the run's thresholds);
- grad_vanished: ‖∂L_x/∂u‖ at the layer before the output (u its pre-activation, before batch
  normalization) is below GRAD_VANISHED × its mean over the test set before training.

For a convolution a channel is a unit: death counts (input, channel) pairs inactive at every
position; saturation counts every entry (channel × position) of an input.
"""
import math

import torch

from . import _names as N
from ._activations import f32_down, f32_up
from ._plan import unit_max

F64 = torch.float64


def _bands(spec, settings):
    if spec is None or not spec.saturates:
        return None
    return [tuple(f(x) for f, x in zip((f32_up, f32_down), spec.band(t))) for t in (settings, N.SAT_STRICT, N.SAT_LOOSE)]


def _outside(a, band):
    lo, hi = band
    m = a < lo
    return m | (a > hi) if hi != math.inf else m


def applies(acts):
    """Whether each cause can apply to a network with these layer activations (spec names or None)."""
    from ._activations import spec_of

    def dies(x):
        s = spec_of(x)
        return s is not None and s.dies

    def saturates(x):
        s = spec_of(x)
        return s is not None and s.saturates

    L = len(acts)
    return {
        "true_unit_off": L >= 1 and dies(acts[-1]),
        "prev_saturated": L >= 2 and saturates(acts[-2]),
        "grad_vanished": L >= 2,
    }


class Accumulator:
    """Adds up an evaluation chunk by chunk; `finish` gives the rows."""

    def __init__(self, layers, settings):
        self.layers = layers
        self.settings = settings
        self.specs = [l.spec for l in layers]
        self.bands = [_bands(s, settings) for s in self.specs]
        self.n = 0
        z = lambda: torch.zeros((), dtype=F64)  # noqa: E731
        self.sums = [{k: z() for k in ("inactive", "dead", "majority", "sat", "strict", "loose", "sat_inputs", "deriv", "grad")} for _ in layers]
        self.true_inactive = z()
        self.flags = []  # per chunk: [n] int8, bit 0 wrong, bit 1 true_unit_off, bit 2 prev_saturated
        self.prev_grad = []
        # per layer, over the misclassified inputs: most units off / saturated, gradient exactly 0, each one's gradient
        self.err_off = [0] * len(layers)
        self.err_sat = [0] * len(layers)
        self.err_zero = [0] * len(layers)
        self.err_grad = [[] for _ in layers]
        self.classes_match = True
        self.loss_sum = z()
        self.correct = z()

    def add(self, output, target, caps, grads, loss_sum):
        """One chunk: the model's output, targets, per layer the captured z/a and ‖∂L_x/∂u‖ rows."""
        n = target.shape[0]
        L = len(self.layers)
        sat_by = [None] * L
        off_by = [None] * L
        entries_of = [None] * L
        gnorms = []
        for i, (layer, spec, cap) in enumerate(zip(self.layers, self.specs, caps)):
            s = self.sums[i]
            g = grads[i]
            gn = g.reshape(n, -1).norm(dim=1) if g is not None else torch.full((n,), math.nan)
            gnorms.append(gn)
            s["grad"] += gn.sum(dtype=F64)
            z, a = cap.z, cap.a
            if a is None and spec is not None:
                a = spec.fn(z)
            bands = self.bands[i]
            if spec is not None and spec.dies:
                zu = unit_max(z, layer)
                units = zu.shape[1]
                off = (zu <= spec.dies_at).sum(1)
                off_by[i] = off > N.MOST * units
                s["inactive"] += off.sum(dtype=F64)
                s["dead"] += (off == units).sum(dtype=F64)
                s["majority"] += (off > N.MOST * units).sum(dtype=F64)
                cap.zu = zu
                # an activation that dies and saturates (relu6) reads as dying; its saturation per input
                # still serves prev_saturated (before the output) and the share of errors at the extremes
                if bands:
                    sat_by[i] = _outside(a, bands[0]).reshape(n, -1).sum(1)
                    entries_of[i] = a.reshape(n, -1).shape[1]
            elif bands:
                per = a.reshape(n, -1)
                run = _outside(per, bands[0]).sum(1)
                sat_by[i] = run
                entries_of[i] = per.shape[1]
                s["sat"] += run.sum(dtype=F64)
                s["strict"] += _outside(per, bands[1]).sum(dtype=F64)
                s["loose"] += _outside(per, bands[2]).sum(dtype=F64)
                s["deriv"] += spec.deriv_sum(z, a)
                s["sat_inputs"] += (run > N.MOST * per.shape[1]).sum(dtype=F64)
        wrong = output.argmax(1) != target
        flags = wrong.to(torch.int8)
        for i in range(L):
            if off_by[i] is not None:
                self.err_off[i] += int((off_by[i] & wrong).sum())
            if sat_by[i] is not None:
                self.err_sat[i] += int(((sat_by[i] > N.MOST * entries_of[i]) & wrong).sum())
            g = gnorms[i][wrong]
            self.err_zero[i] += int((g == 0).sum())
            self.err_grad[i].append(g)
        out_layer, out_spec = self.layers[-1], self.specs[-1]
        if out_spec is not None and out_spec.dies:
            zu = caps[-1].zu
            if zu.shape[1] == output.shape[1] and int(target.max()) < zu.shape[1]:
                off = (zu.gather(1, target.reshape(-1, 1)).reshape(-1) <= out_spec.dies_at)
                flags |= off.to(torch.int8) << 1
                self.true_inactive += off.sum(dtype=F64)
            else:
                self.classes_match = False
        if L >= 2 and sat_by[L - 2] is not None:
            entries = caps[L - 2].a.reshape(n, -1).shape[1] if caps[L - 2].a is not None else self.layers[L - 2].units
            flags |= (sat_by[L - 2] > N.MOST * entries).to(torch.int8) << 2
        self.flags.append(flags)
        self.prev_grad.append(gnorms[L - 2] if L >= 2 else torch.full((n,), math.nan))
        self.loss_sum += loss_sum.detach().to(F64)
        self.n += n

    def finish(self, grad_ref):
        """(rows [(layer, metric, value)], per-layer mean ‖∂L_x/∂u‖, loss sum, n).

        `grad_ref`: the evaluation before training's means; None for that one, its own reference."""
        L, n = len(self.layers), self.n
        names = [k for k in self.sums[0]] if self.sums else []
        flat = torch.stack([s[k] for s in self.sums for k in names] + [self.true_inactive, self.loss_sum]).tolist()
        sums = [dict(zip(names, flat[i * len(names):(i + 1) * len(names)])) for i in range(L)]
        true_inactive, loss_sum = flat[-2], flat[-1]
        flags = torch.cat(self.flags).tolist() if self.flags else []
        prev_grad = torch.cat(self.prev_grad).tolist() if self.prev_grad else []
        rows = []
        put = lambda layer, metric, value: rows.append((layer, metric, value))  # noqa: E731
        grad_means = [s["grad"] / n if n else math.nan for s in sums]
        ref = grad_ref if grad_ref is not None else grad_means
        for i, (layer, spec, s) in enumerate(zip(self.layers, self.specs, sums)):
            l = i + 1
            if spec is not None and spec.dies:
                pairs = n * layer.units
                put(l, N.Diag.inactive_pairs, s["inactive"] / pairs)
                put(l, N.Diag.dead_inputs, s["dead"] / n)
                put(l, N.Diag.majority_inactive, s["majority"] / n)
                if l == L:
                    put(l, N.Diag.true_inactive, true_inactive / n if self.classes_match else math.nan)
            elif spec is not None and spec.saturates:
                pairs = n * math.prod(layer.shape) if layer.shape else n * layer.units
                put(l, N.Diag.sat_pairs, s["sat"] / pairs)
                put(l, N.Diag.sat_pairs_strict, s["strict"] / pairs)
                put(l, N.Diag.sat_pairs_loose, s["loose"] / pairs)
                put(l, N.Diag.sat_inputs, s["sat_inputs"] / n)
                put(l, N.Diag.mean_deriv, s["deriv"] / pairs)
            put(l, N.Diag.grad_norm, grad_means[i])
            put(l, N.Diag.grad_ratio, grad_means[i] / ref[i] if ref[i] > 0 else math.nan)
        # per layer, the share of the errors each finding's per-input form applies to (NaN without errors)
        for i, spec in enumerate(self.specs):
            l, g = i + 1, torch.cat(self.err_grad[i]) if self.err_grad[i] else torch.zeros(0)
            k_err = g.shape[0]
            share = (lambda v: v / k_err if k_err else math.nan)  # noqa: E731
            if spec is not None and spec.dies:
                put(l, N.LayerErrorShare.most_off, share(self.err_off[i]))
            if self.bands[i]:
                put(l, N.LayerErrorShare.most_sat, share(self.err_sat[i]))
            put(l, N.LayerErrorShare.grad_zero, share(self.err_zero[i]))
            put(l, N.LayerErrorShare.grad_vanished, share(int((g < N.GRAD_VANISHED * ref[i]).sum())) if ref[i] > 0 else math.nan)
        # attribution
        prev_ref = ref[L - 2] if L >= 2 else math.nan
        can = applies([l.activation for l in self.layers])
        if not self.classes_match:
            can["true_unit_off"] = False
        k = len(N.CAUSES)
        in_count, err_count, cells = [0] * k, [0] * k, [0] * len(N.CAUSE_SETS)
        errors = 0
        limit = N.GRAD_VANISHED * prev_ref
        for f, g in zip(flags, prev_grad):
            on = ((f & 2) != 0, (f & 4) != 0, g < limit)
            mask = 0
            for c in range(k):
                if on[c]:
                    in_count[c] += 1
                    mask |= 1 << c
            if f & 1:
                errors += 1
                for c in range(k):
                    if on[c]:
                        err_count[c] += 1
                cells[mask] += 1
        self.errors = errors
        put(0, N.Diag.errors, errors / n if n else math.nan)
        for c, cause in enumerate(N.CAUSES):
            na = not can[cause]
            put(0, N.input_share(cause), math.nan if na else in_count[c] / n)
            put(0, N.error_share(cause), math.nan if na or not errors else err_count[c] / errors)
        for m, cset in enumerate(N.CAUSE_SETS):
            put(0, N.error_cell(cset), cells[m] / errors if errors else math.nan)
        return rows, grad_means, loss_sum, n
