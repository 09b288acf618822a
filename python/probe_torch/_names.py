"""The trace format's names and the study's rules, as docs/trace-format.md states them.

Every name here is also declared by probe's TypeScript writer (src/trace/schema.ts,
src/trace/metrics.ts, src/probes/*.ts, src/study.ts); `probe inspect --check` checks that a
trace uses them as the document says, whichever writer wrote it. This module imports nothing.
"""

#: Bump with the TypeScript writer's TRACE_VERSION when a column or a metadata key changes meaning.
TRACE_VERSION = "1"
ARROW_MAGIC = b"ARROW1"

#: Schema metadata keys (JSON values).
META_VERSION = "probe.trace_version"
META_CONFIG = "probe.config"
META_FACTS = "probe.facts"
META_PROGRESS = "probe.progress"


class Status:
    running = "running"
    complete = "complete"
    diverged = "diverged"
    interrupted = "interrupted"
    failed = "failed"


FINISHED = (Status.complete, Status.diverged)

#: Probe ids, in the order the engine's registry lists them (and rows of a step follow).
LOSS = "loss"
SATURATION = "saturation"
DEAD_RELU = "dead-relu"
GRADIENTS = "gradients"
UNIT_ACTIVITY = "unit-activity"
DISTRIBUTION = "distribution"
PROBE_IDS = (LOSS, SATURATION, DEAD_RELU, GRADIENTS, UNIT_ACTIVITY, DISTRIBUTION)

#: Rows that are not measurements of a step.
EVAL = "eval"
TIMING = "timing"
DIAGNOSIS = "diagnosis"
EVAL_METRICS = ("test_loss", "test_acc", "train_loss")
TIMING_METRICS = ("epoch_seconds", "probe_seconds", "write_seconds")

#: Quantile levels of the distribution probe, in percent.
QUANTILES = (1, 5, 25, 50, 75, 95, 99)


def quantile_metric(of: str, p: int) -> str:
    return f"{of}_p{p}"


def unit_metric(k: int) -> str:
    """unit-activity: share of the window's probed inputs for which unit k had z > 0."""
    return f"u{k}"


def active_metric(k: int) -> str:
    """dead-relu on small layers: share of the step's samples for which unit k had z > 0."""
    return f"active_u{k}"


#: Per-unit activity is written once per this share of an epoch (traces before 2026-12: 20).
UNIT_WINDOWS_PER_EPOCH = 10

#: Schedules. saturation, dead-relu and gradients run on steps 0, every, 2·every, … (`every=`,
#: default DEFAULT_EVERY); these run every step whatever `every` says (the training curve; a unit
#: is dead only if no training input woke it); distribution every distributionEvery steps.
DEFAULT_EVERY = 10
EVERY_STEP = (LOSS, UNIT_ACTIVITY)

#: Probe settings and their defaults (recorded in the config as `thresholds`).
DEFAULT_SETTINGS = {
    "sigmoidLow": 0.01,
    "sigmoidHigh": 0.99,
    "tanhSat": 0.99,
    "seluSat": 0.99,
    "perUnitMax": 16,
    "distributionEvery": 25,
}
SAT_STRICT = {"sigmoidLow": 0.001, "sigmoidHigh": 0.999, "tanhSat": 0.999, "seluSat": 0.999}
SAT_LOOSE = {"sigmoidLow": 0.05, "sigmoidHigh": 0.95, "tanhSat": 0.95, "seluSat": 0.95}


class Diag:
    """Metric names of the `diagnosis` rows (per layer unless marked layer 0)."""

    inactive_pairs = "test_inactive_pairs"
    dead_inputs = "test_dead_inputs"
    majority_inactive = "test_majority_inactive"
    true_inactive = "test_true_inactive"
    sat_pairs = "test_sat_pairs"
    sat_pairs_strict = "test_sat_pairs_strict"
    sat_pairs_loose = "test_sat_pairs_loose"
    sat_inputs = "test_sat_inputs"
    mean_deriv = "test_mean_deriv"
    grad_ratio = "test_grad_ratio"
    grad_norm = "test_grad_norm"
    errors = "test_error"  # layer 0


DIAG_NAMES = (
    Diag.inactive_pairs, Diag.dead_inputs, Diag.majority_inactive, Diag.true_inactive, Diag.sat_pairs,
    Diag.sat_pairs_strict, Diag.sat_pairs_loose, Diag.sat_inputs, Diag.mean_deriv, Diag.grad_ratio,
    Diag.grad_norm, Diag.errors,
)

#: Candidate causes of an error, bit k of a cause set is CAUSES[k].
CAUSES = ("true_unit_off", "prev_saturated", "grad_vanished")
CAUSE_SETS = tuple(tuple(c for k, c in enumerate(CAUSES) if m & (1 << k)) for m in range(1 << len(CAUSES)))


def input_share(c: str) -> str:
    return f"in_{c}"


def error_share(c: str) -> str:
    return f"err_{c}"


def error_cell(cause_set) -> str:
    return "errset_" + ("+".join(cause_set) if cause_set else "none")


class LayerErrorShare:
    """Per layer: the share of the misclassified inputs with most units off / at their extremes, or
    whose own gradient there is exactly 0 / below GRAD_VANISHED of its mean before training
    (src/trace/metrics.ts LayerErrorShare; the generic diagnosis's share of errors)."""
    most_off = "layer_err_most_off"
    most_sat = "layer_err_most_sat"
    grad_zero = "layer_err_grad_zero"
    grad_vanished = "layer_err_grad_vanished"


LAYER_ERROR_SHARES = (LayerErrorShare.most_off, LayerErrorShare.most_sat, LayerErrorShare.grad_zero, LayerErrorShare.grad_vanished)

DIAGNOSIS_METRICS = (
    DIAG_NAMES
    + LAYER_ERROR_SHARES
    + tuple(m for c in CAUSES for m in (input_share(c), error_share(c)))
    + tuple(error_cell(s) for s in CAUSE_SETS)
)

#: "Most" (H1's "for most inputs", H2's "saturates"): more than half.
MOST = 0.5
#: A gradient below this share of its size before training counts as vanished.
GRAD_VANISHED = 0.1
