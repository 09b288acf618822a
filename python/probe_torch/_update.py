"""‖ΔW‖ of a step, the numerator of update_ratio = ‖ΔW‖ / ‖W‖ (W after the step).

- torch.optim.SGD without Nesterov: the weights moved by lr·buf (buf its momentum buffer after the
  step; without momentum and weight decay, lr·grad): the engine's very definition, read from the
  optimizer's state, with no pass over the weights beyond the norms.
- any other optimizer, or none known: measured, ‖W_before − W_after‖, from a copy of W taken
  after the previous step (or at attach, for the first step) when the next step is probed.

The optimizer is the one given to attach(); on torch >= 2 one that steps the model's parameters
is also found by a global step hook (torch 1.13 has no such hook: pass optimizer=).
"""
import math

import torch


def _group_of(optimizer, p):
    for g in optimizer.param_groups:
        for q in g["params"]:
            if q is p:
                return g
    return None


class Updates:
    def __init__(self, layers, initial):
        """`initial`: parameter -> its value at attach (the weights before the first step)."""
        self.optimizer = None
        self._layers = [l for l in layers if l.weight is not None]
        # copies: the snapshots are overwritten step after step, the initial weights are kept
        self._snap = {id(l.weight): initial[l.weight].clone() for l in self._layers if l.weight in initial}

    def use(self, optimizer):
        self.optimizer = optimizer

    def _sgd(self, w):
        opt = self.optimizer
        if not isinstance(opt, torch.optim.SGD):
            return None
        g = _group_of(opt, w)
        if g is None or g.get("nesterov", False):
            return None
        lr = float(g["lr"])
        if g.get("momentum", 0) != 0:
            buf = opt.state.get(w, {}).get("momentum_buffer")
            return (lr, buf) if buf is not None else None
        if g.get("weight_decay", 0) == 0 and w.grad is not None:
            return lr, w.grad
        return None

    def issue(self, out, layer, grad):
        """Issues the norms; returns s -> update_ratio, or None when the step cannot be measured.
        `grad`: the indices of ‖dL/dW‖² (and min, max) the gradients probe issued, or None."""
        w = layer.weight
        flat = w.detach().reshape(-1)
        # under the caller's torch.no_grad()
        sgd = self._sgd(w)
        if sgd is not None:
            lr, v = sgd
            if v is w.grad:
                if grad is None:
                    return None
                i_v = grad[0]
            else:
                v = v.reshape(-1)
                i_v = out.s(torch.dot(v, v))
            i_w = out.s(torch.dot(flat, flat))
            return lambda s: _ratio(lr * math.sqrt(s[i_v]) if math.isfinite(s[i_v]) else math.inf, s[i_w])
        before = self._snap.get(id(w))
        if before is None:
            return None
        i_d = out.s(torch.dist(before, w.detach()))
        i_w = out.s(torch.dot(flat, flat))
        return lambda s: _ratio(s[i_d], s[i_w])

    def after_step(self, next_probed):
        """Keeps a copy of W before the next step, when that step is probed and needs one."""
        if not next_probed:
            return
        with torch.no_grad():
            for l in self._layers:
                w = l.weight
                if self._sgd(w) is not None:
                    continue
                snap = self._snap.get(id(w))
                if snap is None or snap.shape != w.shape:
                    self._snap[id(w)] = w.detach().clone()
                else:
                    snap.copy_(w)


def _ratio(update, w_sq):
    """‖ΔW‖ / ‖W‖ from ‖ΔW‖ and ‖W‖² as float32 gave them: NaN, never 0, where either overflowed
    (an infinite ‖W‖² would make any update look like none), and where ‖W‖ is 0; as the engine."""
    if not (math.isfinite(update) and math.isfinite(w_sq)) or not w_sq > 0:
        return math.nan
    return update / math.sqrt(w_sq)
