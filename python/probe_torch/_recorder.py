"""attach(): probe's recorder on a PyTorch model and its hand-written training loop.

    attach      hooks on the model's Linear/convolution, batch-norm and activation modules (and the
                model itself, for its output); takes the run's lock; keeps the initial weights
    forward     the first forward pass shows which modules make up each probed layer (_plan.py);
                on a probed step, the hooks keep z and a and a gradient hook keeps dL/dz
    rec.step    the due probes issued as torch ops on those tensors; kept with the step's loss
                and output for a block of steps (BLOCK_STEPS), whose figures come back with one
                readback and are written as rows; the trace is created at the first step and
                checkpointed every 10 seconds (a checkpoint ends the block: nothing computed is
                left out of it)
    evaluate    test loss and accuracy, the diagnosis (_diagnosis.py), timing; ends the epoch
                and checkpoints
    close       final checkpoint with the run's status; hooks removed, lock released
"""
import atexit
import hashlib
import math
import os
import platform
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torch.optim.optimizer as _optim_module

from . import _names as N
from . import _probes as P
from ._activations import canonical
from ._arrow import TraceFile, dumps
from ._clock import iso_now
from ._diagnosis import Accumulator
from ._lock import acquire
from ._plan import discover, role_of, unprobed_modules
from ._update import Updates

__version__ = "0.1.0"
CHECKPOINT_SECONDS = 10.0
#: steps kept on the device before one readback of them all: a block ends after each step s with
#: (s + 1) % BLOCK_STEPS == 0, and at checkpoints, evaluate and close (the rows come in the same
#: order wherever the blocks end: Recorder._flush)
BLOCK_STEPS = 32
#: optimizer options that choose an implementation, not the numbers: left out of the config
_IMPLEMENTATION = {"params", "foreach", "fused", "differentiable", "capturable"}


def _arch():
    m = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "i386": "ia32", "i686": "ia32"}.get(m, m)


def _fmt(x):
    """A number as JavaScript prints it in messages (NaN, Infinity)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def _holds_a_trace(path):
    """Whether the file starts as an Arrow file does (a trace, whole or damaged), not empty or other."""
    try:
        with open(path, "rb") as f:
            return f.read(6) == N.ARROW_MAGIC
    except OSError:
        return True


def _check_name(run):
    if not isinstance(run, str) or not run or run in (".", "..") or any(c in run for c in "/\\\0") or run.startswith("."):
        raise ValueError(f"run={run!r} is not a usable run name: give a name without '/' or a leading '.', "
                         "like 'relu-sigmoid-relu_s1' (the trace is <out>/<run>.arrow)")


def _check_int(name, v, low):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{name}={v!r} is not valid: give an integer >= {low}")


class _Cap(P.LayerStep):
    __slots__ = ("u", "zu")

    def __init__(self):
        super().__init__()
        self.u = self.zu = None


class Recorder:
    """Records one run; use `attach(...)` to make one. See README.md ("PyTorch")."""

    def __init__(self, model, out="runs", run=None, activations=None, optimizer=None, probes="all", every=N.DEFAULT_EVERY,
                 thresholds=None, seed=None, batch=None, epochs=None, steps_per_epoch=None, dataset=None,
                 config=None, force=False, loss_fn=None, checkpoint_seconds=CHECKPOINT_SECONDS):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"attach: model must be a torch.nn.Module, not {type(model).__name__}")
        run = run if run is not None else type(model).__name__
        _check_name(run)
        _check_int("every", every, 1)
        if steps_per_epoch is not None:
            _check_int("steps_per_epoch", steps_per_epoch, 1)
        # stored as the engine stores it: 'all', or the probes asked for, each once in the registry's order
        self._probes_setting = "all" if probes == "all" else [p for p in N.PROBE_IDS if p in probes]
        if probes == "all":
            probes = list(N.PROBE_IDS)
        bad = [p for p in probes if p not in N.PROBE_IDS]
        if bad or not probes:
            raise ValueError(f"probes={probes!r}: {'unknown ' + repr(bad[0]) if bad else 'none given'}; "
                             f"use 'all' or some of {', '.join(N.PROBE_IDS)}")
        settings = dict(N.DEFAULT_SETTINGS)
        for k, v in (thresholds or {}).items():
            if k not in settings:
                raise ValueError(f"thresholds: unknown setting {k!r}; the settings are {', '.join(settings)}")
            settings[k] = v
        self.activations = {str(k): canonical(v) for k, v in (activations or {}).items()}
        self.model = model
        self.run = run
        self.settings = settings
        self.probes = [p for p in N.PROBE_IDS if p in probes]
        self.every = every
        self.loss_fn = loss_fn
        self._given = {"seed": seed, "batch": batch, "epochs": epochs, "dataset": dataset}
        self._user_config = dict(config or {})
        self._spe = steps_per_epoch
        if not isinstance(checkpoint_seconds, (int, float)) or isinstance(checkpoint_seconds, bool) or not checkpoint_seconds > 0:
            raise ValueError(f"checkpoint_seconds={checkpoint_seconds!r} is not valid: give a number of seconds > 0")
        self.checkpoint_seconds = float(checkpoint_seconds)
        out = os.path.abspath(out)
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise OSError(e.errno, f"output directory {out} cannot be made ({e.strerror}): give out= a folder you can write to") from e
        self.path = os.path.join(out, run + ".arrow")
        if os.path.isdir(self.path):
            raise FileExistsError(f"{self.path} is a folder, not a trace: choose another run= or out=")
        # the replacement rule of probe's recorder, decided holding the run's lock: nothing there:
        # write; a file holding nothing (empty, not Arrow): redo it; a trace: refuse unless force
        self._lock = acquire(self.path)
        try:
            self._replace = os.path.exists(self.path)
            if self._replace and _holds_a_trace(self.path) and not force:
                raise FileExistsError(f"trace {self.path} already exists: pass force=True to replace it, or choose another out=")
        except BaseException:
            self._lock.release()
            raise
        self._closed = False
        try:
            self._setup(optimizer)
        except BaseException:
            self._lock.release()
            raise
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------ set-up

    def _setup(self, optimizer):
        model = self.model
        self._named = {m: (name or type(m).__name__) for name, m in model.named_modules()}
        for name in self.activations:
            mod = dict(model.named_modules()).get(name)
            if mod is None or role_of(mod) != "weighted":
                known = [n for n, m in model.named_modules() if role_of(m) == "weighted"]
                raise ValueError(f"activations= names {name!r}, which is {'not a module of the model' if mod is None else 'not a Linear or convolution'}: "
                                 f"name one of {', '.join(known) or '(none: the model has no Linear or convolution)'}")
        # the weights before the first step: for the first update_ratio and the diagnosis before training
        self._initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
        params = dict(model.named_parameters())
        self._initial_param = {p: self._initial[k] for k, p in params.items() if k in self._initial}
        self._optimizer = optimizer
        self._handles = []
        for module in model.modules():
            role = role_of(module)
            if role is not None:
                self._handles.append(module.register_forward_hook(self._hook(module, role)))
        self._handles.append(model.register_forward_hook(self._on_output))
        # torch >= 2 has a step hook for every optimizer: it finds the one that steps this model
        global_hook = getattr(_optim_module, "register_optimizer_step_post_hook", None)
        if optimizer is None and global_hook is not None:
            self._handles.append(global_hook(self._on_optimizer_step))
        self._mode = "discover"
        self._want_dz = True
        self._want_da = True
        self._da_read = N.SATURATION in self.probes  # until the layers' programs say (_open)
        self._pending = []
        self._probed = True  # whether the step to come runs probes beyond loss and unit activity
        self._window_layers = set()  # the layers whose unit activity is counted
        self._zbufs = {}  # per dying layer: a buffer for its z over a block of steps
        self._targets = None  # the block's targets, a row per step (_keep_target)
        self._target_rows = False  # whether a step of the block to come has its targets there
        self._programs = []
        self._wprogs = []
        self._events, self._disc = [], None
        self._disc_grads = {}
        self._plan = None
        self._caps = None
        self._output = None
        self._out_grads = {}  # id(model output) -> (output, [dL/d output]): this step's forward passes
        self._trace = None
        self._step = 0
        self._epoch = 1
        self._steps_in_epoch = 0
        self._status = N.Status.running
        self._diverged = None
        self._epoch_seconds = []
        self._t_epoch = None
        self._probe_s = self._write_s = self._wall_s = 0.0
        self._epoch_probe_s = self._epoch_write_s = 0.0
        self._loss_sum = 0.0
        self._last_checkpoint = time.monotonic()
        self._grad_ref = None
        self._initial_done = False
        self._initial_rows = None
        self._last_acc = math.nan
        self._final = None
        self._test_size = 0
        self._first_batch = None
        self._samples = 0

    def _on_optimizer_step(self, optimizer, args, kwargs):
        if self._optimizer is not None or self._closed:
            return
        mine = {id(p) for p in self.model.parameters()}
        if any(id(p) in mine for g in optimizer.param_groups for p in g["params"]):
            self._optimizer = optimizer
            if self._updates is not None:
                self._updates.use(optimizer)

    _updates = None

    # ------------------------------------------------------------------ hooks

    def _hook(self, module, role):
        def hook(mod, inputs, output):
            mode = self._mode
            if mode is None or not isinstance(output, torch.Tensor) or not inputs or not isinstance(inputs[0], torch.Tensor):
                return
            if mode == "discover":
                self._discover_event(module, role, inputs[0], output)
            else:
                self._capture(module, role, inputs[0], output, mode)
        return hook

    def _on_output(self, mod, inputs, output):
        mode = self._mode
        if mode is None:
            return
        self._output = output if isinstance(output, torch.Tensor) else None
        # dL/d(output): the output layer's dL/da when the model returns its a (sat_wrong_frac)
        if ((mode == "discover" or (mode == "train" and self._want_da)) and N.SATURATION in self.probes and self._output is not None
                and self._output.requires_grad and torch.is_grad_enabled()):
            kept = [None]
            self._out_grads[id(output)] = (output, kept)
            output.register_hook(self._grad_keeper(kept, 0))
        if mode == "discover" and self._events:
            # the forward pass ended: keep it as the one that shows the plan (one with gradients wins)
            grad = torch.is_grad_enabled()
            if self._disc is None or grad or not self._disc[1]:
                self._disc = (self._events, grad, output if isinstance(output, torch.Tensor) else None)
            self._events = []

    def _grad_keeper(self, store, key):
        def keep(g):
            store[key] = g
        return keep

    def _discover_event(self, module, role, x, y):
        self._events.append((module, role, x, y))
        if torch.is_grad_enabled():
            # an activation's output too: the output layer's a, whose gradient is its dL/da
            for t in ((y,) if role != "activation" else (x, y)):
                if t.requires_grad and id(t) not in self._disc_grads:
                    self._disc_grads[id(t)] = None
                    t.register_hook(self._grad_keeper(self._disc_grads, id(t)))

    def _capture(self, module, role, x, y, mode):
        caps = self._caps
        for layer in self._z_of.get(module, ()):
            c = caps[layer.index - 1]
            # an unprobed training step needs the z of the layers whose unit activity is counted, no
            # other: a z held is held through the backward pass, which that slows
            if c.z is None and (mode == "eval" or self._probed or layer.index in self._window_layers):
                c.z = y
                if mode == "train" and self._want_dz and y.requires_grad:
                    y.register_hook(self._keeper(c, "dz"))
        if mode == "eval" and role == "weighted":
            layer = self._layer_of.get(module)
            if layer is not None and caps[layer.index - 1].u is None:
                caps[layer.index - 1].u = y
        if role == "activation":
            for layer in self._act_of.get(module, ()):
                c = caps[layer.index - 1]
                if c.a is None and c.z is x:
                    c.a = y
                    if layer.is_output and mode == "train" and self._want_da and y.requires_grad:
                        y.register_hook(self._keeper(c, "da"))
                    return
            layer = self._alone.get(module)
            if layer is not None:
                c = caps[layer.index - 1]
                if c.z is None:
                    c.z, c.a, c.u = x, y, x
                    if mode == "train" and self._want_dz and x.requires_grad:
                        x.register_hook(self._keeper(c, "dz"))
                    if layer.is_output and mode == "train" and self._want_da and y.requires_grad:
                        y.register_hook(self._keeper(c, "da"))

    @staticmethod
    def _keeper(cap, field):
        """A gradient hook that keeps the gradient in the capture's `field` (dz, da)."""
        def keep(g):
            setattr(cap, field, g)
        return keep

    # ------------------------------------------------------------------ the plan and the file

    def _make_plan(self):
        if self._disc is None and self._events:
            self._disc = (self._events, torch.is_grad_enabled(), None)
        if self._disc is None:
            raise RuntimeError("probe: no forward pass of the model was seen yet: call rec.step(loss) after "
                               "loss.backward() and opt.step(), and rec.evaluate(...) with a loader of (input, target)")
        events = self._disc[0]
        plan = discover(self._named, events, self.activations)
        if not plan.layers:
            raise RuntimeError("probe: the model has no layer the probes can see (they see Linear and convolution "
                               "modules and activation modules)")
        plan.unprobed = unprobed_modules(self.model, self._named, plan)
        self._plan = plan
        self._z_of, self._act_of, self._alone, self._layer_of = {}, {}, {}, {}
        for l in plan.layers:
            if l.kind == "weighted":
                self._z_of.setdefault(l.z_module, []).append(l)
                self._layer_of[l.module] = l
                if l.act_module is not None:
                    self._act_of.setdefault(l.act_module, []).append(l)
            else:
                self._alone[l.module] = l
        # the discovery pass's own tensors, for the first step
        caps = [_Cap() for _ in plan.layers]
        for l, c in zip(plan.layers, caps):
            c.z, c.a = l._z, l._a
            c.u = l._u
            c.dz = self._disc_grads.get(id(l._z))
            if l.is_output and l._a is not None:
                c.da = self._disc_grads.get(id(l._a))
            del l._z, l._a, l._u
        self._output = self._disc[2] if self._output is None else self._output
        self._disc, self._events, self._disc_grads = None, [], {}
        self._updates = Updates(plan.layers, self._initial_param)
        if self._optimizer is not None:
            self._updates.use(self._optimizer)
        return caps

    def _open(self, with_accuracy):
        plan = self._plan
        self._slots, self._wslots = P.slots_of(plan.layers, self.probes, self.settings, with_accuracy)
        self._with_accuracy = with_accuracy
        probes = list(dict.fromkeys([s.probe for s in self._slots + self._wslots] + [N.EVAL, N.TIMING, N.DIAGNOSIS]))
        metrics = list(dict.fromkeys([s.metric for s in self._slots + self._wslots] + list(N.EVAL_METRICS)
                                     + list(N.TIMING_METRICS) + list(N.DIAGNOSIS_METRICS)))
        self._started_at = iso_now()
        self._trace = TraceFile(self.path, self.run, probes, metrics, self._metadata(), self._progress(), replace=self._replace)
        tf = self._trace
        # row layouts: loss every step; the `every` probes, distribution, both or neither besides
        codes = lambda slots: (np.array([s.layer for s in slots], np.int8), np.array([tf.probe_index[s.probe] for s in slots], np.int8),  # noqa: E731
                               np.array([tf.metric_index[s.metric] for s in slots], np.int16))
        self._layouts = {}
        for ev in (False, True):
            for di in (False, True):
                due = [s for s in self._slots if s.probe in N.EVERY_STEP or (s.probe == N.DISTRIBUTION and di)
                       or (s.probe not in N.EVERY_STEP and s.probe != N.DISTRIBUTION and ev)]
                self._layouts[ev, di] = (codes(due), np.array([self._slots.index(s) for s in due], dtype=np.intp))
        self._wcodes = codes(self._wslots)
        self._sums = np.zeros(len(self._slots))
        self._counts = np.zeros(len(self._slots))
        self._programs = [P.LayerProgram(l, self.probes, self.settings) for l in self._plan.layers]
        self._every_step_known = N.LOSS in self.probes or any(p.window for p in self._programs)
        self._wprogs = [(i, p) for i, p in enumerate(self._programs) if p.window]
        # dL/da at the output: read by the output layer's sat_wrong_frac only (a saturating output)
        self._da_read = any(p.wrong for p in self._programs)
        self._window_layers = {p.layer.index for _, p in self._wprogs}
        # per-unit activity: per dying layer, the running sum of the window's shares (on the device)
        self._wsum = None
        self._wcount = 0
        self._wstart = 0
        self._wbuffer = []  # before the epoch's length is known: (step, shares) per probed step
        self._write_initial()

    def _config(self):
        c = {"source": "pytorch", "model": type(self.model).__name__}
        opt = self._optimizer
        if opt is not None:
            g = opt.param_groups[0]
            o = {"className": type(opt).__name__}
            for k, v in g.items():
                # the settings that change the numbers; not how torch runs them (foreach, fused, …)
                if k in _IMPLEMENTATION or v is None:
                    continue
                if isinstance(v, (int, float, bool, str)):
                    o[k] = v
                elif isinstance(v, (tuple, list)) and all(isinstance(x, (int, float)) for x in v):
                    o[k] = list(v)
            c["optimizer"] = o
            for k in ("lr", "momentum"):
                if k in g:
                    c[k] = g[k]
        for k in ("batch", "epochs", "seed"):
            if self._given[k] is not None:
                c[k] = self._given[k]
        if "batch" not in c and self._first_batch:
            c["batch"] = self._first_batch
        c["dataset"] = self._given["dataset"] or "unknown"
        c["probes"] = self._probes_setting
        c["every"] = self.every
        c["thresholds"] = dict(self.settings)
        c.update(self._user_config)
        c["configHash"] = hashlib.sha256(dumps(c).encode()).hexdigest()[:16]
        return c

    def _facts(self):
        plan = self._plan
        acts = [l.activation for l in plan.layers]
        versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                    "pyarrow": __import__("pyarrow").__version__, "probe_torch": __version__}
        device = next((p.device.type for p in self.model.parameters()), "cpu")
        return {
            "run": self.run,
            "combo": "-".join(acts),
            "seed": self._given["seed"] if self._given["seed"] is not None else 0,
            "backend": f"pytorch-{device}",
            "engine": "pytorch",
            "versions": versions,
            "startedAt": self._started_at,
            "host": {"platform": sys.platform if sys.platform != "win32" else "win32", "arch": _arch(), "cpus": os.cpu_count() or 1},
            "dataset": {"name": self._given["dataset"] or "unknown", "source": "the caller",
                        "trainSize": self._train_size(), "testSize": self._test_size},
            "layers": [l.facts() for l in plan.layers],
            "unprobed": plan.unprobed,
            "stepsPerEpoch": self._spe or 0,
        }

    def _train_size(self):
        if self._epoch > 1 and self._samples:
            return self._samples
        return (self._spe or 0) * (self._first_batch or 0)

    def _metadata(self):
        self._config_cache = self._config()
        return {N.META_CONFIG: self._config_cache, N.META_FACTS: self._facts()}

    def _progress(self):
        p = {
            "status": self._status,
            "epochsDone": len(self._epoch_seconds),
            "stepsDone": self._step,
            "updatedAt": iso_now(),
            "endedAt": None if self._status == N.Status.running else iso_now(),
            "epochSeconds": list(self._epoch_seconds),
            "probeOverhead": self._probe_s / self._wall_s if self._wall_s > 0 else None,
            "writeOverhead": self._write_s / self._wall_s if self._wall_s > 0 else None,
        }
        if self._final is not None:
            p["final"] = self._final
        if self._diverged is not None:
            p["diverged"] = self._diverged
        return p

    def _checkpoint(self):
        self._flush()
        t0 = time.perf_counter()
        # facts learnt since the file was made (the epoch's length, the test set's size) go in the footer
        self._trace.set_metadata({N.META_FACTS: self._facts()})
        self._trace.checkpoint(self._progress())
        self._last_checkpoint = time.monotonic()
        dt = time.perf_counter() - t0
        self._epoch_write_s += dt

    # ------------------------------------------------------------------ steps

    def _due(self, step):
        """(the `every` probes, distribution) due at `step`; loss and unit-activity always are."""
        return step % self.every == 0, step % self.settings["distributionEvery"] == 0 and N.DISTRIBUTION in self.probes

    @property
    def _every_step(self):
        """Whether some probe runs every step (loss, unit-activity of a dying layer)."""
        return self._every_step_known if self._programs else N.LOSS in self.probes

    def step(self, loss, target=None):
        """Records the step that just ended: call it after `opt.step()`, with the step's loss (a
        tensor or a number) and, for the batch accuracy, the targets."""
        if self._closed:
            raise RuntimeError(f"probe: the recorder of {self.run} is closed")
        t0 = time.perf_counter()
        w0 = self._epoch_write_s
        if self._t_epoch is None:
            self._t_epoch = t0
        step = self._step
        if self._diverged is not None:
            self._advance(step)
            return
        caps = self._caps
        if self._plan is None:
            caps = self._make_plan()
        if self._trace is None:
            if self._first_batch is None:
                self._first_batch = self._batch_size(caps, target)
            self._open(target is not None)
        if self._epoch == 1:
            # the training set's size, as the first epoch's batches add up (when they are known)
            self._samples = self._samples + int(target.shape[0]) if isinstance(target, torch.Tensor) and target.dim() >= 1 and self._samples is not None else None
        self._keep(step, caps, loss, target)
        if (step + 1) % BLOCK_STEPS == 0:
            self._flush()
        self._advance(step)
        # the step's time in the recorder, but rows and checkpoints: those are write time
        self._epoch_probe_s += time.perf_counter() - t0 - (self._epoch_write_s - w0)

    def _batch_size(self, caps, target):
        if isinstance(target, torch.Tensor) and target.dim() >= 1:
            return int(target.shape[0])
        for c in caps or ():
            if c.z is not None and c.z.dim() >= 1:
                return int(c.z.shape[0])
        return None

    def _advance(self, step):
        self._step = step + 1
        self._steps_in_epoch += 1
        self._output = None
        self._out_grads = {}
        self._arm()
        if self._mode == "train":
            self._updates.after_step(self._due(self._step)[0] and N.GRADIENTS in self.probes)
        if self._trace is not None and time.monotonic() - self._last_checkpoint > self.checkpoint_seconds:
            self._checkpoint()

    def _keep(self, step, caps, loss, target):
        """Keeps the step's figures on the device until the end of its block (BLOCK_STEPS): its
        loss and output, z of the dying layers (their per-unit activity is counted for
        the whole block at once), and on a probed step the reductions of its due probes, issued
        now (they read this step's gradients and weights) and read back with the block. The block
        keeps z and the output detached: the step's autograd graph goes with the step (kept for
        the block, the graphs made the recorded copy ~1% slower in bench/torch_attach.py)."""
        l = loss.detach() if isinstance(loss, torch.Tensor) else torch.tensor(float(loss))
        if l.dtype != torch.float32 or l.dim() != 0:
            l = l.reshape(()).to(torch.float32)
        o = self._output
        if not (N.LOSS in self.probes and self._with_accuracy and o is not None and isinstance(target, torch.Tensor)
                and target.dim() == 1 and o.dim() == 2 and o.shape[0] == target.shape[0]):
            o = None
        zs = []
        for i, prog in self._wprogs:
            z = caps[i].z if caps is not None else None
            # a layer whose units are not a Linear's: counted now, so the block keeps no large z
            zs.append(z if z is None else z.detach() if prog.plain else prog.step_shares(z))
        due_ev, due_di = self._due(step)
        probed = None
        if due_ev and caps is not None and self._da_read:
            self._output_grad(caps)
        if due_ev or due_di:
            out = P.Issued()
            with torch.no_grad():
                finishers = [prog.issue(out, cap, due_ev, due_di, self._updates)
                             for prog, cap in zip(self._programs, caps or [None] * len(self._programs))]
            probed = (out, finishers, (due_ev, due_di))
        t = None
        if o is not None:
            o = o.detach()
            t = self._keep_target(target)
        self._pending.append((step, self._steps_in_epoch, l, o, t, zs, probed))

    def _keep_target(self, target):
        """The step's targets (for its accuracy at the block's end), copied into its row of a buffer
        kept from block to block: returns the number of targets; or the tensor itself, held, when
        it does not fit the buffer. Held, the targets made the training passes ~2% slower (the
        bench's loop holding them against copying them, alternated, torch 2.13, 150 rounds)."""
        k = len(self._pending)
        buf = self._targets
        fits = buf is not None and buf.device == target.device and buf.dtype == target.dtype and buf.shape[1:] == target.shape
        if not fits and not self._target_rows:  # no row of this block in use: a buffer for these targets
            buf = self._targets = torch.empty((BLOCK_STEPS,) + tuple(target.shape), dtype=target.dtype, device=target.device)
            fits = True
        if not fits or k >= BLOCK_STEPS:
            return target
        buf[k].copy_(target)
        self._target_rows = True
        return int(target.shape[0])

    def _output_grad(self, caps):
        """The output layer's dL/da: kept from its activation module's output (_capture), else
        the gradient of the model's output when that output is the layer's a: the activation
        module's own output tensor, or (a functional activation) a tensor equal to the activation
        of the layer's z. A functional activation whose output the model transforms further (the
        study's log_softmax inside forward) is never seen: dL/da stays None, NaN recorded."""
        layer = self._plan.layers[-1]
        c = caps[-1]
        if c.da is not None or not layer.is_output:
            return
        o = self._output
        got = self._out_grads.get(id(o)) if o is not None else None
        if got is None or got[0] is not o or got[1][0] is None or layer.spec is None:
            return
        if c.a is not None:
            same = c.a is o
        else:
            with torch.no_grad():
                same = c.z is not None and c.z.shape == o.shape and torch.equal(layer.spec.fn(c.z), o)
        if same:
            c.da = got[1][0]

    def _block_counts(self, j, zs, at):
        """[steps, units]: per step, the entries of z above `at` per unit (as float32), for the z
        of one dying Linear layer (float32, all of one shape, else None) over a block of steps.
        Stacked and compared in a buffer kept from block to block: a fresh stack and its mask cost
        more in page faults than the comparison, and torch's comparison into a bool tensor and its
        sum are ~3x slower than into float32 (1.0/0.0: the sum over samples is the count, exact)."""
        if not zs or any(z is None or isinstance(z, tuple) for z in zs):
            return None
        z0 = zs[0]
        if z0.dtype != torch.float32 or any(z.shape != z0.shape or z.dtype != z0.dtype or z.device != z0.device for z in zs):
            return None
        k = len(zs)
        buf = self._zbufs.get(j)
        if buf is None or buf.shape[1:] != z0.shape or buf.device != z0.device or buf.shape[0] < k:
            buf = self._zbufs[j] = torch.empty((max(k, BLOCK_STEPS),) + tuple(z0.shape), dtype=torch.float32, device=z0.device)
        values = buf[:k]
        torch.stack(zs, out=values)
        return torch.gt(values, at, out=values).sum(1)

    def _flush(self):
        """The kept steps: their losses, accuracies, per-unit activity and probe reductions
        gathered into one tensor and read back in one go, written as one block of rows in step
        order. A non-finite loss ends the block there: the rows up to that step, then the run is
        diverged at that step (as the engine's recorder)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._target_rows = False
        k = len(pending)
        with torch.no_grad():
            # (under no_grad: stacking the captured tensors records nothing; no detach needed)
            parts = [torch.stack([p[2] for p in pending])]
            with_acc = [i for i, p in enumerate(pending) if p[3] is not None]
            if with_acc:
                outs = self._stacked([pending[i][3] for i in with_acc])
                # the targets: row i of the buffer for step i of the block, or the tensor held
                whole = len(with_acc) == k and all(isinstance(p[4], int) for p in pending)
                tgs = None if whole else [self._targets[i] if isinstance(pending[i][4], int) else pending[i][4] for i in with_acc]
                if outs is not None:
                    correct = (outs.argmax(2) == (self._targets[:k] if whole else torch.stack(tgs))).sum(1)
                else:
                    tgs = tgs if tgs is not None else list(self._targets[:k])
                    correct = torch.stack([(pending[i][3].argmax(1) == t).sum() for i, t in zip(with_acc, tgs)])
                parts.append(correct.to(torch.float32))
            # per dying layer, per step: entries above the death point per unit, and 1 / entries
            counts = []
            for j, (_, prog) in enumerate(self._wprogs):
                zs = [p[5][j] for p in pending]
                block = self._block_counts(j, zs, prog.at) if prog.plain else None
                if block is not None:
                    counts.append(("block", block, 1 / zs[0].shape[0]))
                else:
                    counts.append(("each", [z if isinstance(z, tuple) else prog.step_shares(z) for z in zs], None))
            # every probed step's reductions: scalars, then vectors, then counts, each kind of all
            # steps in one stack
            probed = [p[6] for p in pending if p[6] is not None]
            scalars = [t for pr in probed for t in pr[0].scalars]
            counts_t = [t for pr in probed for t in pr[0].counts]
            vectors = [t for pr in probed for t in pr[0].vectors]
            at_s = sum(t.numel() for t in parts)
            if scalars:
                parts.append(torch.stack(scalars))
            at_v = at_s + len(scalars)
            parts += vectors
            at_c = at_v + sum(pr[0].vlen for pr in probed)
            if counts_t:
                parts.append(torch.stack(counts_t).to(torch.float32))
            flat = (torch.cat(parts) if len(parts) > 1 else parts[0]).tolist()
        t0 = time.perf_counter()
        acc_v = dict(zip(with_acc, flat[k:]))
        loss_on = N.LOSS in self.probes
        rows = []  # per step kept: (step, values, (layers, probes, metrics), slot index), or None
        for i, (step, _, _, _, target, _, pr) in enumerate(pending):
            lv = flat[i]
            self._loss_sum += lv
            head = (lv, acc_v[i] / (target if isinstance(target, int) else target.shape[0]) if i in acc_v else math.nan)
            if pr is None:
                codes, index = self._layouts[False, False]
                vals = list(head[:len(index)]) if loss_on else []
            else:
                out, finishers, due = pr
                ns, nc, nv = len(out.scalars), len(out.counts), out.vlen
                s = flat[at_s:at_s + ns] + flat[at_c:at_c + nc][::-1]
                v = flat[at_v:at_v + nv]
                at_s, at_c, at_v = at_s + ns, at_c + nc, at_v + nv
                vals = list(head[:2 if self._with_accuracy else 1]) if loss_on else []
                for f in finishers:
                    vals += f(s, v)
                codes, index = self._layouts[due]
                if len(vals) != len(index):
                    raise AssertionError(f"probe: {len(vals)} values for {len(index)} slots")
            rows.append((step, vals, codes, index) if vals else None)
            if not math.isfinite(lv):
                break
        n = len(rows)
        kept = pending[:n]
        # rows in one order whatever the blocks are (a checkpoint ends a block early): a window's
        # unit-activity rows come right before the rows of the first step after the window
        w = self._window_steps() if counts and self._spe else None
        i = 0
        while i < n:
            j = n
            if w is not None:
                start = kept[i][0] - kept[i][1] + (kept[i][1] // w) * w
                j = i + 1
                while j < n and kept[j][0] - kept[j][1] + (kept[j][1] // w) * w == start:
                    j += 1
                if start != self._wstart:
                    self._flush_window()
                    self._wstart = start
            self._write_rows([r for r in rows[i:j] if r is not None])
            if counts:
                self._add_window_steps(kept, counts, i, j)
            i = j
        self._epoch_write_s += time.perf_counter() - t0
        if not math.isfinite(flat[n - 1]):
            self._diverge(kept[-1][0], f"loss {_fmt(flat[n - 1])}")

    def _write_rows(self, rows):
        """Steps' rows [(step, values, (layers, probes, metrics), slot index)] in one append."""
        if not rows:
            return
        values = np.array([x for r in rows for x in r[1]], dtype=np.float64)
        index = np.concatenate([r[3] for r in rows])
        steps = np.repeat(np.array([r[0] for r in rows], dtype=np.int32), [len(r[1]) for r in rows])
        self._trace.append_rows(steps, self._epoch, np.concatenate([r[2][0] for r in rows]),
                                np.concatenate([r[2][1] for r in rows]), np.concatenate([r[2][2] for r in rows]),
                                values.astype(np.float32))
        self._sums += np.bincount(index, weights=values, minlength=len(self._sums))
        self._counts += np.bincount(index, minlength=len(self._counts))

    @staticmethod
    def _stacked(tensors):
        """The tensors stacked when they are all there and of one shape, else None."""
        if not tensors or any(t is None for t in tensors):
            return None
        shape = tensors[0].shape
        return torch.stack(tensors) if all(t.shape == shape for t in tensors) else None

    # ------------------------------------------------------------------ per-unit activity windows

    def _add_window_steps(self, pending, counts, i, j):
        """Per-unit activity of steps i..j-1 of a block (all in one window once the epoch's length
        is known): per dying layer, `counts` holds either a [steps, units] block of counts with
        one scale, or a list of per-step (counts, scale)."""
        if not self._spe:
            for k in range(i, j):
                self._wbuffer.append((pending[k][1], [(c[1][k], c[2]) if c[0] == "block" else c[1][k] for c in counts]))
            return
        sums = []
        for kind, data, scale in counts:
            if kind == "block":
                sums.append((data[i:j].sum(0), scale))
            else:
                acc = data[i][0] * data[i][1]
                for c, sc in data[i + 1:j]:
                    acc = acc + c * sc
                sums.append((acc, 1.0))
        self._accumulate(sums, j - i)

    def _accumulate(self, shares, steps=1):
        """`shares`: per dying layer (active counts per unit, 1 / entries) of `steps` steps (their
        counts summed when they are several); summed as shares."""
        if self._wsum is None:
            self._wsum = [counts * scale for counts, scale in shares]
        else:
            for acc, (counts, scale) in zip(self._wsum, shares):
                acc.add_(counts, alpha=scale)
        self._wcount += steps

    def _window_steps(self):
        return max(1, math.ceil(self._spe / N.UNIT_WINDOWS_PER_EPOCH))

    def _flush_window(self):
        if self._wcount == 0 or self._wsum is None:
            return
        means = (torch.cat(self._wsum) / self._wcount).tolist()
        layers, probes, metrics = self._wcodes
        self._trace.append_rows(self._wstart, self._epoch, layers, probes, metrics, np.asarray(means, np.float32))
        self._wsum = None
        self._wcount = 0

    def _flush_buffer(self, epoch_start):
        """The first epoch's windows, once its length is known."""
        w = self._window_steps()
        for in_epoch, shares in self._wbuffer:
            start = epoch_start + (in_epoch // w) * w
            if start != self._wstart:
                self._flush_window()
                self._wstart = start
            self._accumulate(shares)
        self._wbuffer = []

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, loader, loss_fn=None):
        """Test loss and accuracy and the diagnosis on `loader` (batches of (input, target)); after
        training steps it ends the epoch. Called before the first step, it is the evaluation before
        training (otherwise the first call also evaluates the weights the model had at attach).
        Returns {'test_loss', 'test_acc'}, or None when nothing was recorded.

        `loss_fn(output, target)` gives a batch's mean loss (default: attach's loss_fn, or
        cross-entropy, which is right for logits and for log-probabilities alike)."""
        if self._closed:
            raise RuntimeError(f"probe: the recorder of {self.run} is closed")
        if self._diverged is not None:
            return None
        loss_fn = loss_fn or self.loss_fn or F.cross_entropy
        t0 = time.perf_counter()
        self._flush()
        if self._diverged is not None:
            return None
        try:
            if self._plan is None:
                self._run_eval(loader, loss_fn, discover_only=True)
            if not self._initial_done:
                self._initial_done = True
                if self._step == 0:
                    rows, self._grad_ref, loss_sum, n = self._run_eval(loader, loss_fn)
                    self._initial_rows = rows
                    return {"test_loss": loss_sum / n, "test_acc": self._last_acc}
                current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                self.model.load_state_dict(self._initial)
                try:
                    self._initial_rows, self._grad_ref, _, _ = self._run_eval(loader, loss_fn)
                finally:
                    self.model.load_state_dict(current)
                self._write_initial()
            if self._steps_in_epoch == 0:
                warnings.warn("probe: evaluate() again without a training step since the last one: nothing recorded", stacklevel=2)
                return None
            bad = self._non_finite()
            if bad:
                self._diverge(self._step - 1, bad)
                return None
            rows, _, loss_sum, n = self._run_eval(loader, loss_fn)
            test_loss, test_acc = loss_sum / n, self._last_acc
            self._end_epoch(rows, test_loss, test_acc, t0)
            return {"test_loss": test_loss, "test_acc": test_acc}
        finally:
            self._arm()

    def _arm(self):
        """Sets the hooks for the next forward pass: what the step to come records."""
        if self._closed or self._diverged is not None:
            self._mode, self._caps = None, None
        elif self._plan is None:
            self._mode = "discover"
        else:
            ev, di = self._due(self._step)
            self._probed = ev or di or self._trace is None
            probed = self._probed or self._every_step
            self._mode = "train" if probed else None
            # dL/dz only where the gradients probe will read it
            self._want_dz = ev and N.GRADIENTS in self.probes
            # the output's dL/da where saturation will read it
            self._want_da = ev and self._da_read
            self._caps = [_Cap() for _ in self._plan.layers] if probed else None

    def _write_initial(self):
        if self._trace is not None and self._initial_rows is not None:
            self._write_diagnosis(0, 0, self._initial_rows)
            self._initial_rows = None

    def _run_eval(self, loader, loss_fn, discover_only=False):
        model = self.model
        was_training = model.training
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        acc = None
        saved_out = self._output
        try:
            for batch in loader:
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise TypeError("evaluate: the loader must give (input, target) batches")
                x, y = batch[0].to(device), batch[1].to(device)
                if discover_only:
                    self._mode = "discover"
                    with torch.enable_grad():
                        model(x)
                    self._make_plan()
                    return None
                self._mode = "eval"
                self._caps = caps = [_Cap() for _ in self._plan.layers]
                with torch.enable_grad():
                    output = model(x)
                    total = loss_fn(output, y) * y.shape[0]
                    us = [c.u if c.u is not None else c.z for c in caps]
                    want = [(i, u) for i, u in enumerate(us) if u is not None and u.requires_grad]
                    got = torch.autograd.grad(total, [u for _, u in want], allow_unused=True) if want else []
                grads = [None] * len(caps)
                for (i, _), g in zip(want, got):
                    grads[i] = g
                with torch.no_grad():
                    if acc is None:
                        acc = Accumulator(self._plan.layers, self.settings)
                    acc.add(output.detach(), y, caps, grads, total.detach())
        finally:
            model.train(was_training)
            self._mode, self._caps, self._output = None, None, saved_out
        if acc is None:
            raise ValueError("evaluate: the loader gave no batches")
        rows, grad_means, loss_sum, n = acc.finish(self._grad_ref)
        self._last_acc = (n - acc.errors) / n
        self._test_size = n
        return rows, grad_means, loss_sum, n

    def _write_diagnosis(self, step, epoch, rows):
        tf = self._trace
        p = tf.probe_index[N.DIAGNOSIS]
        tf.append_rows(step, epoch, np.array([r[0] for r in rows], np.int8), np.full(len(rows), p, np.int8),
                       np.array([tf.metric_index[r[1]] for r in rows], np.int16), np.array([r[2] for r in rows], np.float32))
        return {f"{l}/{m}": (v if math.isfinite(v) else None) for l, m, v in rows}

    def _non_finite(self):
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if not bool(torch.isfinite(p).all()):
                    bad = p[~torch.isfinite(p)].reshape(-1)[0].item()
                    return f"{name} holds {_fmt(bad)}"
        return None

    def _end_epoch(self, rows, test_loss, test_acc, t_eval):
        epoch, step = self._epoch, self._step
        if not self._spe:
            self._spe = self._steps_in_epoch
            self._flush_buffer(step - self._steps_in_epoch)
        self._flush_window()
        diag = self._write_diagnosis(step, epoch, rows)
        train_loss = self._loss_sum / self._steps_in_epoch if self._steps_in_epoch else math.nan
        now = time.perf_counter()
        seconds = now - (self._t_epoch if self._t_epoch is not None else t_eval)
        tf = self._trace
        ev, ti = tf.probe_index[N.EVAL], tf.probe_index[N.TIMING]
        for m, v in zip(N.EVAL_METRICS, (test_loss, test_acc, train_loss)):
            tf.append(step, epoch, 0, N.EVAL, m, v)
        write_s = self._epoch_write_s
        for m, v in zip(N.TIMING_METRICS, (seconds, self._epoch_probe_s, write_s)):
            tf.append(step, epoch, 0, N.TIMING, m, v)
        del ev, ti
        self._final = {
            "epoch": epoch, "testAcc": test_acc, "testLoss": test_loss, "trainLoss": train_loss,
            "means": {f"{s.layer}/{s.probe}/{s.metric}": (self._sums[k] / self._counts[k] if self._counts[k] else math.nan)
                      for k, s in enumerate(self._slots)},
            "diagnosis": diag,
        }
        self._epoch_seconds.append(seconds)
        self._wall_s += seconds
        self._probe_s += self._epoch_probe_s
        self._write_s += write_s
        self._sums[:] = 0
        self._counts[:] = 0
        self._loss_sum = 0.0
        self._epoch += 1
        self._steps_in_epoch = 0
        self._wstart = self._step
        self._checkpoint()
        # the epoch's closing checkpoint counts in neither epoch, as in the engine
        self._epoch_probe_s = self._epoch_write_s = 0.0
        self._t_epoch = time.perf_counter()

    # ------------------------------------------------------------------ ending

    def _diverge(self, step, reason):
        self._diverged = {"step": step, "reason": reason}
        self._status = N.Status.diverged
        self._mode = None
        warnings.warn(f"probe: {self.run} diverged at step {step} ({reason}): the trace stops here, with status diverged", stacklevel=3)
        if self._trace is not None:
            self._checkpoint()

    def checkpoint(self):
        """Makes every row so far durable now (it happens every 10 s and at each evaluate anyway)."""
        if self._trace is not None and not self._closed:
            self._checkpoint()

    def close(self, status=None):
        """Writes the final checkpoint with the run's status (complete, or diverged if it did),
        removes the hooks and releases the run's lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            for h in self._handles:
                h.remove()
            self._mode = None
            if self._status == N.Status.running:
                self._status = status or N.Status.complete
            self._flush()
            if self._trace is None and self._plan is not None:
                self._open(False)
            if self._trace is not None:
                if self._wbuffer:
                    self._spe = self._spe or self._steps_in_epoch
                    self._flush_buffer(self._step - self._steps_in_epoch)
                self._flush_window()
                self._trace.set_metadata({N.META_FACTS: self._facts()})
                self._trace.close(self._progress())
        finally:
            self._lock.release()
            atexit.unregister(self._at_exit)

    def _at_exit(self):
        if not self._closed:
            try:
                self.close(N.Status.interrupted)
            except Exception:  # noqa: BLE001 - nothing more can be done at exit
                pass

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        elif issubclass(kind, KeyboardInterrupt):
            self.close(N.Status.interrupted)
        else:
            self.close(N.Status.failed)
        return False

    @property
    def trace_path(self):
        """Where the trace is now: `path`, or `<path>.partial` while it waits to replace an older one."""
        return self._trace.file if self._trace is not None else self.path

    @property
    def layers(self):
        """The probed layers (after the first forward pass): [(index, name, activation)]."""
        return [(l.index, l.name, l.activation) for l in self._plan.layers] if self._plan else []


def attach(model, out="runs", run=None, activations=None, optimizer=None, **options):
    """Attaches probe's probes to `model`; use it as a context manager around the training loop.

    model         a torch.nn.Module
    out, run      the trace is <out>/<run>.arrow (run defaults to the model's class name)
    activations   {module name: activation} for Linear/conv modules whose output goes through a
                  functional activation (F.relu(self.fc1(x))); activation modules are found alone
    optimizer     the optimizer that steps the model: its settings go in the trace, and SGD's update
                  is read from its momentum buffer (found by itself on torch >= 2)
    options       probes ('all' or a list), every (probe every N-th step), thresholds ({name: value}),
                  seed, batch, epochs, steps_per_epoch, dataset (recorded), config (more settings
                  to record), force (replace an existing trace), loss_fn (for evaluate),
                  checkpoint_seconds (between checkpoints within an epoch; default 10)
    """
    return Recorder(model, out=out, run=run, activations=activations, optimizer=optimizer, **options)
