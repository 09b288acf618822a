"""probe_torch's own tests: which layers it finds, what it refuses, how a run ends, the lock, and
the probes on convolutions against plain reference loops. The study's MLP against probe's engine
is test/torch-differential.test.ts; reading these traces with probe's CLI is test/torch.test.ts.

    python -m unittest discover -s python/tests
"""
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import warnings

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F
from torch import nn

from probe_torch import attach
from probe_torch import _lock

torch.manual_seed(0)


def read(path):
    """(rows as dicts keyed by (step, epoch, layer, probe, metric), metadata)."""
    with pa.ipc.open_file(path) as f:
        t = f.read_all()
        meta = {k.decode(): v.decode() for k, v in f.schema.metadata.items()}
    cols = {n: t.column(n).to_pylist() for n in t.column_names}
    rows = {}
    for i in range(t.num_rows):
        rows[(cols["step"][i], cols["epoch"][i], cols["layer"][i], cols["probe"][i], cols["metric"][i])] = cols["value"][i]
    import json
    return rows, {k: (json.loads(v) if k != "probe.trace_version" else v) for k, v in meta.items()}


def content(path):
    with open(path, "rb") as f:
        return f.read()


class Tmp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="probe-torch-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def batches(n=4, b=8, dim=20, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(b, dim, generator=g), torch.randint(0, classes, (b,), generator=g)) for _ in range(n)]


def train(model, rec, data, opt, epochs=1, target=True, test=None):
    for _ in range(epochs):
        for x, y in data:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss, y if target else None)
        rec.evaluate(test or data)


class Layers(Tmp):
    def test_activation_modules_pair_with_the_layer_whose_output_they_take_even_a_shared_one(self):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b, self.c = nn.Linear(20, 16), nn.Linear(16, 12), nn.Linear(12, 5)
                self.act = nn.ReLU()  # one module used after two layers
                self.drop = nn.Dropout(0.0)

            def forward(self, x):
                return self.c(self.drop(self.act(self.b(self.act(self.a(x))))))

        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with attach(model, out=self.dir, run="shared", optimizer=opt) as rec:
            train(model, rec, batches(), opt)
            self.assertEqual(rec.layers, [(1, "a", "relu"), (2, "b", "relu"), (3, "c", "linear")])
        rows, meta = read(os.path.join(self.dir, "shared.arrow"))
        facts = meta["probe.facts"]
        self.assertEqual([(l["name"], l["className"], l["fanIn"], l["fanOut"]) for l in facts["layers"]], [("a", "Linear", 20, 16), ("b", "Linear", 16, 12), ("c", "Linear", 12, 5)])
        self.assertEqual([(u["name"], u["className"]) for u in facts["unprobed"]], [("drop", "Dropout")])
        self.assertIn("dropout", facts["unprobed"][0]["reason"])
        # the shared ReLU's figures land on both layers; the linear output gets none
        self.assertIn((0, 1, 1, "dead-relu", "dead_units"), rows)
        self.assertIn((0, 1, 2, "dead-relu", "dead_units"), rows)
        self.assertNotIn((0, 1, 3, "dead-relu", "dead_units"), rows)
        self.assertEqual(facts["combo"], "relu-relu-linear")

    def test_a_convolution_with_batch_norm_is_one_layer_whose_z_is_after_the_norm(self):
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5), nn.LogSoftmax(dim=1))
        data = [(torch.randn(6, 1, 8, 8), torch.randint(0, 5, (6,))) for _ in range(3)]
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        with attach(model, out=self.dir, run="conv", optimizer=opt) as rec:
            train(model, rec, data, opt)
        rows, meta = read(os.path.join(self.dir, "conv.arrow"))
        layers = meta["probe.facts"]["layers"]
        self.assertEqual([(l["name"], l["activation"], l["unitKind"], l["fanIn"], l["fanOut"], l["outputShape"]) for l in layers],
                         [("0", "relu", "channel", 9, 4, [4, 6, 6]), ("5", "linear", "unit", 36, 5, [5])])
        unprobed = {u["className"]: u["reason"] for u in meta["probe.facts"]["unprobed"]}
        self.assertEqual(set(unprobed), {"MaxPool2d", "Flatten", "LogSoftmax"})
        self.assertIn("softmax belongs to the loss", unprobed["LogSoftmax"])
        self.assertEqual(len([k for k in rows if k[3] == "unit-activity" and k[2] == 1 and k[0] == 0]), 4)

    def test_functional_activations_are_named_and_misnamed_ones_refused_at_once(self):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(20, 8), nn.Linear(8, 5)
                self.out = nn.Sigmoid()

            def forward(self, x):
                return self.out(self.fc2(torch.tanh(self.fc1(x))))

        model = Net()
        with self.assertRaisesRegex(ValueError, r"activations= names 'fc3', which is not a module of the model: name one of fc1, fc2"):
            attach(model, out=self.dir, run="x", activations={"fc3": "relu"})
        with self.assertRaisesRegex(ValueError, r"activation 'tanhh' is not one probe knows: use one of .*tanh"):
            attach(model, out=self.dir, run="x", activations={"fc1": "tanhh"})
        with self.assertRaisesRegex(ValueError, r"'out', which is not a Linear or convolution"):
            attach(model, out=self.dir, run="x", activations={"out": "relu"})
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        rec = attach(model, out=self.dir, run="x", activations={"fc2": "relu"}, optimizer=opt)
        x, y = batches(1)[0]
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        with self.assertRaisesRegex(ValueError, r"names 'fc2' as relu, but its output goes through the module 'out' \(Sigmoid\)"):
            rec.step(loss, y)
        rec.close()
        with attach(model, out=self.dir, run="y", activations={"fc1": "tanh"}, optimizer=opt) as rec:
            train(model, rec, batches(), opt)
            self.assertEqual(rec.layers, [(1, "fc1", "tanh"), (2, "fc2", "sigmoid")])


class Refusals(Tmp):
    def test_bad_arguments_get_one_clear_error_naming_the_value(self):
        model = nn.Linear(3, 2)
        cases = [
            (dict(run="a/b"), ValueError, r"run='a/b' is not a usable run name"),
            (dict(run=""), ValueError, r"run='' is not a usable run name"),
            (dict(run="x", every=0), ValueError, r"every=0 is not valid: give an integer >= 1"),
            (dict(run="x", probes=["loss", "dead"]), ValueError, r"unknown 'dead'; use 'all' or some of loss, saturation"),
            (dict(run="x", thresholds={"sigmoidLo": 0.1}), ValueError, r"unknown setting 'sigmoidLo'"),
            (dict(run="x", checkpoint_seconds=0), ValueError, r"checkpoint_seconds=0 is not valid"),
        ]
        for kwargs, kind, says in cases:
            with self.assertRaisesRegex(kind, says):
                attach(model, out=self.dir, **kwargs)
        self.assertEqual(os.listdir(self.dir), [], "no file left by a refused attach")
        with self.assertRaisesRegex(TypeError, r"model must be a torch.nn.Module, not list"):
            attach([model], out=self.dir, run="x")

    def test_an_existing_trace_is_kept_unless_force_and_then_replaced_only_when_the_run_finishes(self):
        model = nn.Sequential(nn.Linear(20, 5))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with attach(model, out=self.dir, run="r", optimizer=opt) as rec:
            train(model, rec, batches(2), opt)
        path = os.path.join(self.dir, "r.arrow")
        before = content(path)
        with self.assertRaisesRegex(FileExistsError, r"trace .*r.arrow already exists: pass force=True"):
            attach(model, out=self.dir, run="r")
        rec = attach(model, out=self.dir, run="r", optimizer=opt, force=True)
        train(model, rec, batches(2), opt)
        self.assertEqual(content(path), before, "the old trace stays until the new one finishes")
        self.assertTrue(os.path.exists(path + ".partial"))
        rec.close()
        self.assertNotEqual(content(path), before)
        self.assertFalse(os.path.exists(path + ".partial"))

    def test_a_file_that_holds_nothing_is_redone_without_force(self):
        path = os.path.join(self.dir, "empty.arrow")
        open(path, "wb").close()
        model = nn.Sequential(nn.Linear(20, 5))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with attach(model, out=self.dir, run="empty", optimizer=opt) as rec:
            train(model, rec, batches(2), opt)
        _, meta = read(path)
        self.assertEqual(meta["probe.progress"]["status"], "complete")

    def test_a_second_recorder_of_the_same_run_is_refused_while_the_first_holds_its_lock(self):
        model = nn.Linear(3, 2)
        first = attach(model, out=self.dir, run="busy")
        try:
            with self.assertRaisesRegex(_lock.RunBusy, rf"busy.arrow is being computed by pid {os.getpid()} on "):
                attach(model, out=self.dir, run="busy")
        finally:
            first.close()
        attach(model, out=self.dir, run="busy", force=True).close()

    def test_a_lock_left_by_a_killed_process_is_taken_over(self):
        code = ("import sys, os, signal; sys.path[:0] = %r; from probe_torch import _lock; "
                "_lock.acquire(sys.argv[1]); os.kill(os.getpid(), signal.SIGKILL)") % (sys.path,)
        path = os.path.join(self.dir, "dead.arrow")
        r = subprocess.run([sys.executable, "-c", code, path])
        self.assertEqual(r.returncode, -signal.SIGKILL)
        self.assertTrue(os.path.exists(path + ".lock"))
        lock = _lock.acquire(path)
        self.assertEqual(lock.info["pid"], os.getpid())
        lock.release()
        self.assertFalse(os.path.exists(path + ".lock"))


class Ending(Tmp):
    def model(self):
        m = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
        return m, torch.optim.SGD(m.parameters(), lr=0.1)

    def test_without_targets_the_loss_probe_records_the_loss_only(self):
        model, opt = self.model()
        with attach(model, out=self.dir, run="r", optimizer=opt) as rec:
            train(model, rec, batches(), opt, target=False)
        rows, _ = read(os.path.join(self.dir, "r.arrow"))
        self.assertIn((0, 1, 0, "loss", "loss"), rows)
        self.assertFalse(any(k[4] == "accuracy" for k in rows))

    def test_every_n_probes_steps_0_n_2n_and_distribution_keeps_its_own_schedule(self):
        model, opt = self.model()
        with attach(model, out=self.dir, run="r", optimizer=opt, every=3, thresholds={"distributionEvery": 5}) as rec:
            train(model, rec, batches(12), opt)
        rows, meta = read(os.path.join(self.dir, "r.arrow"))
        self.assertEqual(sorted({k[0] for k in rows if k[3] == "gradients"}), [0, 3, 6, 9])
        self.assertEqual(sorted({k[0] for k in rows if k[3] == "distribution"}), [0, 5, 10])
        # loss and unit activity every step, whatever `every` says (light steps are read back in
        # blocks: their rows are all there)
        self.assertEqual(sorted(k[0] for k in rows if k[3] == "loss" and k[4] == "loss"), list(range(12)))
        self.assertEqual(sorted(k[0] for k in rows if k[3] == "loss" and k[4] == "accuracy"), list(range(12)))
        self.assertEqual(meta["probe.config"]["every"], 3)
        # train_loss averages every step, probed or not
        self.assertTrue(math.isfinite(rows[(12, 1, 0, "eval", "train_loss")]))

    def test_each_steps_accuracy_is_its_own_batchs_whatever_the_batch_sizes_and_blocks(self):
        # one batch size, and sizes that change within a block (the buffer of targets fits the
        # first), over more than one block of steps, and blocks ended early by checkpoints
        from probe_torch import _recorder
        g = torch.Generator().manual_seed(4)
        for run, seconds, sizes in (("same", 10.0, [8] * 45), ("blocks", 10.0, [8, 8, 5, 8, 3] * 9),
                                    ("checkpoints", 1e-9, [8, 8, 5, 8, 3] * 9)):
            data = [(torch.randn(b, 20, generator=g), torch.randint(0, 5, (b,), generator=g)) for b in sizes]
            self.assertGreater(len(data), _recorder.BLOCK_STEPS)
            model, opt = self.model()
            want = []
            with attach(model, out=self.dir, run=run, optimizer=opt, checkpoint_seconds=seconds) as rec:
                for x, y in data:
                    opt.zero_grad()
                    out = model(x)
                    want.append((out.argmax(1) == y).sum().item() / len(y))
                    loss = F.cross_entropy(out, y)
                    loss.backward()
                    opt.step()
                    rec.step(loss, y)
            rows, _ = read(os.path.join(self.dir, f"{run}.arrow"))
            got = [rows[(i, 1, 0, "loss", "accuracy")] for i in range(len(data))]
            self.assertEqual(got, [float(np.float32(a)) for a in want], run)

    def test_a_loss_that_stops_being_a_number_ends_the_trace_as_diverged(self):
        model, opt = self.model()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with attach(model, out=self.dir, run="r", optimizer=opt) as rec:
                data = batches(6)
                for i, (x, y) in enumerate(data):
                    opt.zero_grad()
                    loss = F.cross_entropy(model(x), y) * (float("nan") if i == 2 else 1)
                    loss.backward()
                    rec.step(loss, y)
                self.assertIsNone(rec.evaluate(data))
        self.assertTrue(any("diverged at step 2 (loss NaN)" in str(x.message) for x in w))
        rows, meta = read(os.path.join(self.dir, "r.arrow"))
        p = meta["probe.progress"]
        self.assertEqual((p["status"], p["diverged"]), ("diverged", {"step": 2, "reason": "loss NaN"}))
        self.assertEqual(max(k[0] for k in rows if k[3] == "loss"), 2)

    def test_ctrl_c_closes_the_trace_as_interrupted_and_an_error_as_failed(self):
        for exc, status in ((KeyboardInterrupt, "interrupted"), (RuntimeError, "failed")):
            model, opt = self.model()
            with self.assertRaises(exc):
                with attach(model, out=self.dir, run=status, optimizer=opt) as rec:
                    train(model, rec, batches(2), opt)
                    raise exc()
            _, meta = read(os.path.join(self.dir, status + ".arrow"))
            self.assertEqual(meta["probe.progress"]["status"], status)
            self.assertFalse(os.path.exists(os.path.join(self.dir, status + ".arrow.lock")))

    def test_evaluate_again_without_a_step_records_nothing_and_says_so(self):
        model, opt = self.model()
        with attach(model, out=self.dir, run="r", optimizer=opt) as rec:
            train(model, rec, batches(2), opt)
            with self.assertWarnsRegex(UserWarning, "evaluate\\(\\) again without a training step"):
                self.assertIsNone(rec.evaluate(batches(2)))
        _, meta = read(os.path.join(self.dir, "r.arrow"))
        self.assertEqual(meta["probe.progress"]["epochsDone"], 1)


class Determinism(Tmp):
    def rows_in_order(self, path):
        """The rows as (step, epoch, layer, probe, metric, value) in file order; timing values
        (wall time) as None."""
        with pa.ipc.open_file(path) as f:
            t = f.read_all()
        cols = [t.column(n).to_pylist() for n in ("step", "epoch", "layer", "probe", "metric", "value")]
        return [r[:5] + ((None,) if r[3] == "timing" else (r[5],)) for r in zip(*cols)]

    def test_the_same_run_writes_its_rows_in_the_same_order_wherever_its_checkpoints_fall(self):
        data = batches(20)
        traces = []
        for run, seconds in (("often", 1e-9), ("rarely", 1e9)):
            torch.manual_seed(3)
            model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.Sigmoid(), nn.Linear(12, 5), nn.ReLU())
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
            # windows of 2 steps; blocks of steps that end at checkpoints (every step) or not
            with attach(model, out=self.dir, run=run, optimizer=opt, steps_per_epoch=20, every=3,
                        checkpoint_seconds=seconds) as rec:
                train(model, rec, data, opt)
            traces.append(self.rows_in_order(os.path.join(self.dir, run + ".arrow")))
        self.assertTrue(any(r[3] == "unit-activity" for r in traces[0]))
        self.assertEqual(traces[0], traces[1])


class OrderStatistics(unittest.TestCase):
    def test_both_selections_give_the_values_a_full_sort_puts_at_the_ranks_nan_last(self):
        from probe_torch import _probes as P
        g = torch.Generator().manual_seed(5)
        special = torch.tensor([1.0, math.nan, -2.0, math.inf, 0.0, -0.0, 3.0, -math.inf, -math.nan])
        cases = [torch.randn(16000, generator=g), torch.randn(300, generator=g), special.repeat(700),
                 torch.zeros(5000), torch.randn(8192, generator=g).clamp(min=0), torch.randn(6000, generator=g).double()]
        # the CPU's histogram: zeros of both signs among values; magnitudes over many octaves (ranks
        # in many buckets); values in a few buckets with ties; one infinity (its bucket: numpy's path)
        signed_zeros = torch.randn(16000, generator=g)
        signed_zeros[::3], signed_zeros[1::7] = 0.0, -0.0
        wide = torch.randn(12000, generator=g) * torch.pow(10.0, torch.randint(-30, 30, (12000,), generator=g).float())
        one_inf = torch.randn(9000, generator=g)
        one_inf[4321] = math.inf
        cases += [signed_zeros, wide, torch.randint(0, 4, (7000,), generator=g).float() - 1.5, one_inf, -one_inf]
        # a half-precision z (a model trained in float16 or bfloat16): its values are float32 numbers
        cases += [torch.randn(16000, generator=g).to(torch.float16), torch.randn(6001, generator=g).to(torch.bfloat16),
                  special.repeat(700).to(torch.float16), torch.randn(300, generator=g).to(torch.bfloat16)]
        for flat in cases:
            _, lo, hi = P._quantile_ranks(flat.numel())
            ranks = lo + hi
            # sorted as float32 or float64 (exact for both halves; torch 1.13 cannot sort float16 on the CPU)
            want = torch.sort(flat if flat.dtype == torch.float64 else flat.float()).values[torch.tensor(ranks)]
            # the histogram is the selection on devices other than the CPU: run here on the CPU
            for name, select in (("order_statistics", P.order_statistics), ("histogram", P._by_histogram)):
                got = select(flat, ranks).to(want.dtype)
                self.assertTrue(torch.equal(got.isnan(), want.isnan()), name)
                self.assertTrue(torch.equal(got[~got.isnan()], want[~want.isnan()]), f"{name}: {got} != {want}")


class Overflow(Tmp):
    def test_update_ratio_is_nan_not_0_where_the_weights_norm_overflows_float32(self):
        # layer 1's weights at 1e19: ‖W‖² = 320·1e38 is beyond float32; with inputs of zeros its
        # output, the loss and every gradient stay finite (its own update is 0), and the ratio of a
        # finite update to an infinite norm read 0 ("no update")
        m = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
        with torch.no_grad():
            m[0].weight.fill_(1e19)
        for momentum, give in ((0.5, True), (0.0, False)):
            opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=momentum)
            run = f"r{momentum}{give}"
            with attach(m, out=self.dir, run=run, optimizer=opt if give else None, every=1) as rec:
                train(m, rec, [(torch.zeros_like(x), y) for x, y in batches(3)], opt)
            rows, _ = read(os.path.join(self.dir, f"{run}.arrow"))
            ratio = lambda layer: [v for k, v in rows.items() if k[2] == layer and k[3] == "gradients" and k[4] == "update_ratio"]
            self.assertTrue(ratio(1) and all(math.isnan(v) for v in ratio(1)), (run, ratio(1)))
            self.assertTrue(ratio(2) and all(math.isfinite(v) and v > 0 for v in ratio(2)), (run, ratio(2)))


class ConvProbes(Tmp):
    """The probes on a convolution against plain loops over the captured z and a."""

    def test_dead_relu_unit_activity_and_saturation_of_a_convolution_match_plain_loops(self):
        torch.manual_seed(3)
        model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv2d(3, 4, 2), nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))
        with torch.no_grad():
            model[0].bias.fill_(-0.3)  # some channels off on some samples
            model[2].weight.mul_(60)  # a sigmoid with outputs at its extremes
        seen = {}
        model[0].register_forward_hook(lambda m, i, o: seen.__setitem__("z1", o.detach().clone()))
        model[2].register_forward_hook(lambda m, i, o: seen.__setitem__("z2", o.detach().clone()))
        x, y = torch.randn(5, 2, 6, 6), torch.randint(0, 5, (5,))
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        with attach(model, out=self.dir, run="c", optimizer=opt, thresholds={"perUnitMax": 4}) as rec:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss, y)
        rows, _ = read(os.path.join(self.dir, "c.arrow"))
        z1 = seen["z1"].numpy().astype(np.float64)  # [samples, channels, h, w]
        S, C = z1.shape[:2]
        inactive = [[all(v <= 0 for v in z1[s, c].ravel()) for c in range(C)] for s in range(S)]
        want = {
            "inactive_frac": sum(map(sum, inactive)) / (S * C),
            "dead_units": sum(all(inactive[s][c] for s in range(S)) for c in range(C)) / C,
            "dead_rows": sum(all(inactive[s]) for s in range(S)) / S,
        }
        for c in range(C):
            want[f"active_u{c}"] = sum(not inactive[s][c] for s in range(S)) / S
        for metric, v in want.items():
            self.assertAlmostEqual(rows[(0, 1, 1, "dead-relu", metric)], v, places=6, msg=metric)
        for c in range(C):
            entries = z1[:, c].ravel()
            self.assertAlmostEqual(rows[(0, 1, 1, "unit-activity", f"u{c}")], sum(v > 0 for v in entries) / len(entries), places=6)
        a2 = 1 / (1 + np.exp(-seen["z2"].numpy().astype(np.float64))).ravel()
        low, high = sum(v < 0.01 for v in a2) / len(a2), sum(v > 0.99 for v in a2) / len(a2)
        self.assertGreater(low + high, 0.05, "the fixture saturates")
        self.assertAlmostEqual(rows[(0, 1, 2, "saturation", "sat_low")], low, places=6)
        self.assertAlmostEqual(rows[(0, 1, 2, "saturation", "sat_high")], high, places=6)
        self.assertAlmostEqual(rows[(0, 1, 2, "saturation", "mean_deriv")], float(np.mean(a2 * (1 - a2))), places=5)
        q = np.quantile(seen["z2"].numpy().astype(np.float64).ravel(), [0.01, 0.5, 0.99])
        for p, v in zip((1, 50, 99), q):
            self.assertAlmostEqual(rows[(0, 1, 2, "distribution", f"z_p{p}")], v, places=5)


class OutputSaturation(Tmp):
    """sat_wrong_frac of the output layer against a float64 reference: dL/da of the study's loss
    (softmax(a) - onehot(y)) / batch from the captured a, counted where a sits at an extreme the
    loss pushes it away from."""

    def test_wrong_side_saturation_of_the_output_matches_a_plain_loop(self):
        torch.manual_seed(7)

        class Functional(nn.Module):
            def __init__(self, inner_log_softmax):
                super().__init__()
                self.fc1, self.fc2, self.inner = nn.Linear(6, 4), nn.Linear(4, 3), inner_log_softmax

            def forward(self, x):
                a = torch.sigmoid(self.fc2(torch.tanh(self.fc1(x))))
                return F.log_softmax(a, dim=1) if self.inner else a

        cases = {
            "modules": (nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3), nn.Sigmoid()), None, False),
            "returns-a": (Functional(False), {"fc1": "tanh", "fc2": "sigmoid"}, False),
            "log-softmax-inside": (Functional(True), {"fc1": "tanh", "fc2": "sigmoid"}, True),
        }
        for run, (model, acts, inner) in cases.items():
            out_fc = model[2] if isinstance(model, nn.Sequential) else model.fc2
            with torch.no_grad():
                out_fc.bias.copy_(torch.tensor([50.0, -50.0, 0.0]))  # unit 0 pinned at 1, unit 1 at 0, unit 2 free
                out_fc.weight.mul_(0.1)
            seen = []
            out_fc.register_forward_hook(lambda m, i, o: seen.append(torch.sigmoid(o.detach()).double()))
            opt = torch.optim.SGD(model.parameters(), lr=0.0)
            data = [(torch.randn(8, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])) for _ in range(2)]
            with attach(model, out=self.dir, run=run, optimizer=opt, activations=acts, every=1) as rec:
                for x, y in data:
                    opt.zero_grad()
                    out = model(x)
                    loss = F.nll_loss(out if inner else F.log_softmax(out, dim=1), y)
                    loss.backward()
                    opt.step()
                    rec.step(loss, y)
            rows, _ = read(os.path.join(self.dir, f"{run}.arrow"))
            for step, ((_, y), a) in enumerate(zip(data, seen)):
                got = rows[(step, 1, 2, "saturation", "sat_wrong_frac")]
                if inner:
                    # a functional output activation transformed further inside forward: dL/da is never seen
                    self.assertTrue(math.isnan(got), (run, step, got))
                    continue
                a = a.numpy()
                p = np.exp(a - a.max(1, keepdims=True))
                g = (p / p.sum(1, keepdims=True) - np.eye(3)[y.numpy()]) / len(y)
                wrong = sum(1 for s in range(8) for c in range(3) if (a[s, c] < 0.01 and g[s, c] < 0) or (a[s, c] > 0.99 and g[s, c] > 0))
                # units 0 and 1 pinned: the labels 1 (unit 1 at 0) and 0, 2 (unit 0 at 1) put 3 + 5 entries on the wrong side
                self.assertEqual(wrong, 8, (run, step))
                self.assertAlmostEqual(got, wrong / 24, places=6, msg=(run, step))
                self.assertAlmostEqual(rows[(step, 1, 2, "saturation", "sat_frac")], 16 / 24, places=6, msg=(run, step))
                self.assertNotIn((step, 1, 1, "saturation", "sat_wrong_frac"), rows, "a hidden layer has no wrong side")


class DiagnosisErrorShares(Tmp):
    """The diagnosis's per-layer shares of the errors against a per-input float64 reference: each
    test input run alone, its own backward pass for ‖∂L_x/∂z‖ (the recorder takes one batched one)."""

    def test_layer_error_shares_match_a_per_input_reference(self):
        torch.manual_seed(5)
        model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.Sigmoid(), nn.Linear(12, 5), nn.ReLU())
        with torch.no_grad():
            model[0].bias.fill_(-0.1)  # many units off on many inputs
            model[2].weight.mul_(40)  # sigmoid outputs at their extremes
            model[4].bias.copy_(torch.tensor([-0.6, -0.3, 0.0, 0.2, -0.5]))  # every output unit off for some inputs
        test = batches(3, b=40, seed=7)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)  # the weights stay: both evaluations see the same model
        with attach(model, out=self.dir, run="d", optimizer=opt) as rec:
            rec.evaluate(test)  # before training: its own gradient reference
            train(model, rec, batches(1), opt, test=test)
        rows, _ = read(os.path.join(self.dir, "d.arrow"))

        # reference: every input alone, float64
        m64 = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.Sigmoid(), nn.Linear(12, 5), nn.ReLU()).double()
        m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
        zs = {}

        def keep(i):
            def hook(mod, inp, out):
                out.retain_grad()
                zs[i] = out
            return hook
        for i in (0, 2, 4):
            m64[i].register_forward_hook(keep(i))
        wrong, off1, sat2, off3, gnorm = [], [], [], [], {0: [], 2: [], 4: []}
        for x, y in test:
            for k in range(x.shape[0]):
                out = m64(x[k:k + 1].double())
                F.cross_entropy(out, y[k:k + 1]).backward()
                wrong.append(int(out.argmax(1)) != int(y[k]))
                off1.append(int((zs[0] <= 0).sum()) > 0.5 * 16)
                a2 = torch.sigmoid(zs[2])
                sat2.append(int(((a2 < 0.01) | (a2 > 0.99)).sum()) > 0.5 * 12)
                off3.append(int((zs[4] <= 0).sum()) > 0.5 * 5)
                for i in gnorm:
                    gnorm[i].append(float(zs[i].grad.norm()))
                m64.zero_grad()
        errs = [j for j, w in enumerate(wrong) if w]
        self.assertTrue(0 < len(errs) < len(wrong), "the fixture has errors and hits")
        means = {i: sum(g) / len(g) for i, g in gnorm.items()}
        share = lambda flags: sum(flags[j] for j in errs) / len(errs)  # noqa: E731
        want = {
            (1, "layer_err_most_off"): share(off1),
            (2, "layer_err_most_sat"): share(sat2),
            (3, "layer_err_most_off"): share(off3),
        }
        for layer, i in ((1, 0), (2, 2), (3, 4)):
            want[(layer, "layer_err_grad_zero")] = share([g == 0 for g in gnorm[i]])
            want[(layer, "layer_err_grad_vanished")] = share([g < 0.1 * means[i] for g in gnorm[i]])
        self.assertGreater(want[(1, "layer_err_most_off")], 0, "the fixture has dying units on errors")
        self.assertGreater(want[(2, "layer_err_most_sat")], 0, "the fixture saturates on errors")
        self.assertGreater(want[(3, "layer_err_grad_zero")], 0, "the fixture has a dead output on errors")
        for step, epoch in ((0, 0), (1, 1)):
            for (layer, metric), v in want.items():
                self.assertAlmostEqual(rows[(step, epoch, layer, "diagnosis", metric)], v, places=6, msg=f"{step}/{layer}/{metric}")
            # what cannot apply is not written: a ReLU layer does not saturate, a sigmoid does not die
            self.assertNotIn((step, epoch, 1, "diagnosis", "layer_err_most_sat"), rows)
            self.assertNotIn((step, epoch, 2, "diagnosis", "layer_err_most_off"), rows)


if __name__ == "__main__":
    unittest.main()
