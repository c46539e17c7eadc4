"""The lab as a tuner with a clock: search losses, negatives and optimiser settings within a time budget.

:func:`tune` (``recneg lab --budget SECONDS``) searches MatrixFactorization configurations on a
validation split carved from train (never the test split), refits the winner on the full train
split, and evaluates only the winner (and the reference rows) on test.

**Search space** (:func:`suggest`, define-by-run, conditional on the loss and the backend):

- loss: ``bpr`` (numba SGD), ``softmax``, ``ccl`` (torch Adam), plus ``bce`` when asked, ``nce`` when
  :data:`recneg.models.losses.LOSS_NAMES` has it and ``ials`` (all items as weighted negatives, solved
  by ALS) when the factory knows it, both looked up at run time;
- negatives: per-example ``NegativeSampler`` (k log-uniform in 1..20), shared by the batch (k
  log-uniform in 8..2048; softmax/ccl/nce), in-batch + logQ and mixed (softmax/ccl); popularity
  exponent alpha in [-0.5, 1]; exclusion of seen items; DNS hard negatives for bpr (best of m in
  2..32, optionally from a per-user pool); a schedule (alpha moving to its value, or k growing);
- optimiser: lr and reg on log scales whose ranges depend on the backend (numba SGD around its
  default 0.05 / 0.01, torch Adam around 1e-3 / 1e-4), linear lr decay or not, batch size and user
  batches (torch), weight averaging over the last half of the epochs (torch); epochs (log scale,
  up to a per-backend cap) with early stopping on validation (patience, best epoch restored; an
  averaging trial runs to its last epoch, as ``fit`` takes patience or averaging, not both).

**Searchers**: ``"tpe"`` (optuna's seeded TPE sampler, multivariate over the conditional space:
``pip install "recneg[tune]"``) or ``"halving"`` (random sampling, no extra dependency); ``"auto"``
is tpe when optuna imports, else halving. The first trial is the library default
(``MatrixFactorization()``: iALS); after it, every other trial is a local step from the incumbent
(:func:`local_step`: one or two parameters moved one notch, a pattern search) and the others are
the other losses' defaults, then the searcher's own draws; so a short budget refines the default
before it explores. The best :data:`FINALISTS` configurations are then fitted again on
:data:`EXTRA_SPLITS` more validation splits and the winner is the best mean over all splits (the
time for this is kept out of the search). Trials are pruned with :class:`TimeHalving`: asynchronous successive halving whose
resource is **the trial's seconds** (the budget's currency), not its epochs, so a slow
configuration is compared with what cheaper ones reached in the same time; a trial that finished
before a rung counts at that rung with its final value (optuna's SuccessiveHalvingPruner would
compare a trial only with those that reached the rung, which lets a slow trial through whenever the
fast ones finished early), and a torch trial still in its first epoch at a rung counts there with 0
(no model yet), checked between batches, and cut before the rung once its pace projects its first epoch
past it. The first rung is at a tenth of the budget
(:data:`FIRST_RUNG`), the next ones three times further each. A loss whose first :data:`DROP_AFTER` trials were all pruned before
finishing an epoch (an epoch costs more than the first rung on this data and machine: torch losses
on a few CPU cores) is dropped from the rest of the search; its later draws are told to the
sampler as pruned without running. The validation Recall@K is measured on at most ``monitor_users``
validation users every few epochs (as often as costs at most ~25% of the training time) through
``fit(validation=...)``; a trial's value is the Recall@K of its best epoch on the same users (on
Gowalla, scoring all 29k validation users took 3.5 s against 1.5 s for the default's whole fit).

**The clock**: every trial is timed; no trial starts once the remaining budget is below the median
trial's seconds (the first trial always starts), and a trial still running at the deadline stops
after its current epoch, keeping its best epoch (status "cut (budget)"). Time counts from the
call, so the reference rows (run first) and the validation split come out of the budget; the
refit of the winner on the full train split comes after it: the lab takes the budget plus one
refit, plus at most one epoch and one evaluation of the trial the deadline interrupted.

**Reference rows**: implicit's ALS (the lab's factors, alpha 40, 15 iterations, regularization
0.01) and BPR (the lab's factors, 100 iterations), when ``import implicit`` works, fitted on the
full train split and evaluated with :func:`recneg.evaluation.ranking.ranking_metrics` on the same
test split as the winner.
"""
from __future__ import annotations

import json
import logging
import math
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .data import Interactions, split_random
from .evaluation.ranking import ranking_metrics
from .lab import LabResult

logger = logging.getLogger(__name__)

__all__ = ["tune", "suggest", "TuneResult", "TimeHalving", "available_losses", "reference_rows", "build_best",
           "SEARCHES", "TUNABLE_LOSSES"]

SEARCHES = ("auto", "tpe", "halving")
# the losses the tuner knows how to search, in the order they are tried first; those absent from
# recneg.models.losses.LOSS_NAMES at run time (nce, ials before their branches are merged) are skipped
TUNABLE_LOSSES = ("bpr", "ials", "softmax", "ccl", "nce", "bce")
DEFAULT_LOSSES = ("bpr", "ials", "softmax", "ccl", "nce")  # bce only when asked: NCE/softmax supersede it
# the most epochs a trial may run, per backend, when ``max_epochs`` is not given
EPOCH_CAPS = {"numba": 200, "torch": 40, "als": 20}
# a loss none of whose trials finished an epoch is dropped after this many were pruned in their first epoch
# (on this data and machine its epoch costs more than the first rung: e.g. torch losses on 2 CPU cores)
DROP_AFTER = 3
_MAX_SKIPS = 200  # configurations of dropped losses drawn in a row before the search gives up
_CANDIDATE = ("done", "cut (budget)")  # and "early stop at N": the statuses whose value is a full validation
_SCORE_BEFORE_REPORT = 0.25  # evaluate when the training since the last evaluation is >= 4x its cost
_PROJECT_AFTER = 3  # batches timed before a first epoch's end is projected
_PROJECT_MARGIN = 0.8  # a first epoch projected to end past the rung even when 20% faster than its pace so far


def available_losses() -> tuple[str, ...]:
    """The losses :func:`tune` can search in this installation (``nce``/``ials`` only when they exist)."""
    from .models.losses import LOSS_NAMES

    return tuple(name for name in TUNABLE_LOSSES if name in LOSS_NAMES)


# ---------------------------------------------------------------------------------------- search space
@dataclass
class Config:
    """One sampled configuration: ``params`` are :class:`~recneg.models.mf.MatrixFactorization` constructor
    arguments (loss and sampler as JSON specs), so ``build_model("mf", **params)`` builds it."""

    loss: str
    backend: str
    params: dict
    label: str
    flat: dict = field(default_factory=dict)  # the columns of lab.csv: k, alpha, exclusion, lr, reg, ...


def _caps(max_epochs: int | None) -> dict[str, int]:
    return dict(EPOCH_CAPS) if max_epochs is None else {b: int(max_epochs) for b in EPOCH_CAPS}


def _epochs(trial: Any, name: str, lo: int, cap: int) -> int:
    lo = max(1, min(lo, cap))
    return trial.suggest_int(name, lo, cap, log=True) if cap > lo else cap


def _sched(trial: Any, epochs: int, k: int, alpha: float, shared: bool) -> tuple[Any, Any, str]:
    """(k, alpha) as numbers or LinearSchedules over the epochs, and the schedule's label."""
    from .sampling import LinearSchedule

    kind = trial.suggest_categorical("schedule", ["none", "alpha", "k"])
    steps = max(epochs - 1, 1)
    if kind == "alpha":
        a0 = 1.0 if alpha < 0.75 else 0.0
        return k, LinearSchedule(a0, alpha, steps), f"pop^{a0:g}→{alpha:.2f}"
    if kind == "k":
        k0, k1 = (max(1, k // 16), k) if shared else (1, 2 * k)
        if k1 > k0:
            return LinearSchedule(k0, k1, steps), alpha, f"k {k0}→{k1}"
    return k, alpha, ""


def suggest(trial: Any, losses: Sequence[str], factors: int | Sequence[int] = 64, max_epochs: int | None = None,
            seed: int = 0,
            workers: int = 2) -> Config:
    """Sample one configuration through ``trial`` (an optuna trial, or anything with its
    ``suggest_float/suggest_int/suggest_categorical``); parameter names are unique per distribution, so
    the conditional space is valid define-by-run.

    Args:
        losses: the losses to choose among (a subset of :func:`available_losses`).
        factors: embedding size d, or the sizes to choose among (searched as "factors", the first being the
            defaults' size).
        max_epochs: cap on a trial's epochs (None: :data:`EPOCH_CAPS` per backend).
    """
    from .models.factory import build_sampler

    caps = _caps(max_epochs)
    loss = trial.suggest_categorical("loss", list(losses))
    flat: dict[str, Any] = {}
    dims = [int(factors)] if isinstance(factors, (int, np.integer)) else [int(f) for f in factors]
    factors = dims[0] if len(dims) == 1 else int(trial.suggest_categorical("factors", dims))
    flat["factors"] = factors
    dim = f", d {factors}" if len(dims) > 1 else ""
    if loss == "ials":
        # the unobserved weight as a multiple of the observed weight (WeightedSquared.unobserved_ratio): unlike
        # alpha0 it does not scale with the data's density, and the library default (10) is a point of the space
        ratio = trial.suggest_float("ials_unobserved_ratio", 0.3, 300.0, log=True)
        nu = trial.suggest_categorical("ials_nu", [0.0, 1.0])
        reg = trial.suggest_float("reg_als", 1e-4, 1.0, log=True)
        excl = trial.suggest_categorical("exclude_seen", [True, False])
        epochs = _epochs(trial, "epochs_als", 3, caps["als"])
        params = dict(factors=factors, loss={"name": "ials", "unobserved_ratio": ratio, "nu": nu},
                      sampler=build_sampler(k="all", exclude_seen=excl).to_spec(), reg=reg, epochs=epochs,
                      workers=workers, seed=seed)
        flat.update(negatives="all items", unobserved_ratio=ratio, nu=nu, exclude_seen=excl, reg=reg, epochs=epochs)
        label = f"ials unobserved×{ratio:.3g} ν={nu:g}{'' if excl else ' (seen too)'} reg {reg:.2g}{dim}"
        return Config(loss, "als", params, label, flat)

    if loss == "bpr":
        kind = trial.suggest_categorical("bpr_negatives", ["proposal", "dns"])
    elif loss == "bce":
        kind = "per-example"
    elif loss == "nce":
        kind = trial.suggest_categorical("nce_negatives", ["per-example", "shared", "in-batch"])
    else:
        kind = trial.suggest_categorical(f"{loss}_negatives", ["shared", "per-example", "in-batch", "mixed"])
    numba = loss == "bpr"
    backend = "numba" if numba else "torch"
    epochs = _epochs(trial, "epochs_sgd" if numba else "epochs_adam", 10 if numba else 5, caps[backend])
    shared = kind in ("shared", "mixed")
    excl = trial.suggest_categorical("exclude_seen", [True, False])
    k: Any = 1
    alpha: Any = 0.0
    sched = ""
    if kind != "in-batch":
        k = trial.suggest_int("k_shared", 8, 2048, log=True) if shared else trial.suggest_int(
            "k_per_example", 1, 20, log=True)
        alpha = trial.suggest_float("alpha", -0.5, 1.0)
        k, alpha, sched = _sched(trial, epochs, k, alpha, shared)
    dns_m = dns_pool = 0
    if kind == "dns":
        dns_m = trial.suggest_int("dns_m", 2, 32, log=True)
        dns_pool = trial.suggest_categorical("dns_pool", [0, 64, 256])
    sampler = build_sampler(k=k, alpha=alpha, exclude_seen=excl, dns=dns_m or None, dns_pool=dns_pool,
                            in_batch=kind in ("in-batch", "mixed"), mixed=kind == "mixed",
                            shared=True if kind == "shared" else False if kind == "per-example" and not numba
                            else None, seed=seed)
    loss_spec: dict[str, Any] = {"name": loss}
    if loss == "softmax":
        loss_spec["score"] = trial.suggest_categorical("softmax_score", ["dot", "cosine"])
        loss_spec["temperature"] = trial.suggest_float("temperature", 0.05, 1.0, log=True)
    elif loss == "ccl":
        loss_spec["margin"] = trial.suggest_float("ccl_margin", 0.3, 0.95)
        loss_spec["negative_weight"] = trial.suggest_float("ccl_negative_weight", 1.0, 300.0, log=True)
    if numba:
        lr = trial.suggest_float("lr_sgd", 0.005, 0.3, log=True)
        reg = trial.suggest_float("reg_sgd", 1e-4, 0.1, log=True)
    else:
        lr = trial.suggest_float("lr_adam", 1e-4, 3e-2, log=True)
        reg = trial.suggest_float("reg_adam", 1e-8, 1e-2, log=True)
    decay = trial.suggest_categorical("lr_decay", ["none", "linear"])
    params: dict[str, Any] = dict(factors=factors, loss=loss_spec, sampler=sampler.to_spec(), lr=lr, reg=reg,
                                  epochs=epochs, lr_decay=None if decay == "none" else decay, workers=workers,
                                  seed=seed)
    average = 0
    if not numba:
        batching = trial.suggest_categorical("batching", ["pairs", "users"]) if kind == "shared" else "pairs"
        params["batching"] = batching
        params["batch_size"] = 128 if batching == "users" else trial.suggest_categorical("batch_size", [1024, 4096])
        if trial.suggest_categorical("average", [False, True]):
            average = max(1, epochs // 2)
        params["average_epochs"] = average
    k0 = int(round(k(0))) if callable(k) else int(k)
    a0 = float(alpha(epochs)) if callable(alpha) else float(alpha)
    neg = ("in-batch + logQ" if kind == "in-batch" else
           f"{'in-batch + ' if kind == 'mixed' else ''}{'shared' if shared else 'per example'} "
           f"k={k0 if not sched.startswith('k') else sched[2:]}, pop^{a0:.2f}")
    if sched and not sched.startswith("k"):
        neg += f" ({sched})"
    if dns_m:
        neg += f", DNS m={dns_m}" + (f" pool {dns_pool}" if dns_pool else "")
    if not excl:
        neg += ", no exclusion"
    opts = ", ".join(f"{key} {v:.3g}" if isinstance(v, float) else f"{key} {v}"
                     for key, v in loss_spec.items() if key != "name")
    label = (f"{loss}{' (' + opts + ')' if opts else ''}: {neg}; lr {lr:.2g} reg {reg:.2g}"
             + (", lr decay" if decay != "none" else "") + (f", avg last {average}" if average else "") + dim)
    flat.update(negatives=kind, k=k0 if kind != "in-batch" else math.nan, k_schedule=sched.startswith("k"),
                alpha=a0 if kind != "in-batch" else math.nan, alpha_schedule=sched.startswith("pop"),
                exclude_seen=excl, dns_m=dns_m, dns_pool=dns_pool, lr=lr, reg=reg, lr_decay=decay != "none",
                epochs=epochs, average_epochs=average, batch_size=params.get("batch_size", math.nan),
                batching=params.get("batching", "pairs"))
    return Config(loss, backend, params, label, flat)


def default_trials(losses: Sequence[str], max_epochs: int | None = None, factors: int | None = None) -> list[dict]:
    """The library's defaults of each loss as fixed trial parameters (the searches start from them)."""
    caps = _caps(max_epochs)
    out = []
    # the library default (iALS) first: the search's first trial is what MatrixFactorization() trains, and as the
    # first value at every rung it is never pruned, so a lab's winner is never below the defaults on validation
    for loss in sorted(losses, key=lambda name: name != "ials"):
        if loss == "ials":
            # exactly MatrixFactorization()'s default (recneg.models.als): unobserved_ratio 10, nu 1, reg 0.01, 8 epochs
            out.append(dict(loss="ials", ials_unobserved_ratio=10.0, ials_nu=1.0, reg_als=0.01, exclude_seen=True,
                            epochs_als=min(8, caps["als"])))
        elif loss == "bpr":
            out.append(dict(loss="bpr", bpr_negatives="proposal", k_per_example=1, alpha=0.0, schedule="none",
                            exclude_seen=True, lr_sgd=0.05, reg_sgd=0.01, lr_decay="none",
                            epochs_sgd=min(100, caps["numba"])))
        else:
            shared = loss in ("softmax", "ccl")
            d: dict[str, Any] = dict(loss=loss, exclude_seen=True, alpha=0.0, schedule="none", lr_adam=1e-3,
                                     reg_adam=1e-4, lr_decay="none", batch_size=1024, average=False,
                                     epochs_adam=min(30, caps["torch"]))
            if shared:
                d.update({f"{loss}_negatives": "shared", "k_shared": 1024, "batching": "pairs"})
            else:
                d.update(k_per_example=4)
                if loss == "nce":
                    d["nce_negatives"] = "per-example"
            if loss == "softmax":
                d.update(softmax_score="dot", temperature=1.0)
            if loss == "ccl":
                d.update(ccl_margin=0.9, ccl_negative_weight=150.0)
            out.append(d)
    if factors is not None:  # searching the embedding size: the defaults at the lab's base size
        for d in out:
            d["factors"] = int(factors)
    return out


# ---------------------------------------------------------------------------------------- searchers
class TimeHalving:
    """Asynchronous successive halving on a trial's seconds (steps in deciseconds).

    Rung r sits at ``min_resource * reduction_factor**r`` steps. A trial reaching a rung records its best
    value so far there, and goes on only if that value is in the top ``1/reduction_factor`` of the values
    recorded at the rung (for the first ``reduction_factor - 1`` values: the best), as optuna's
    SuccessiveHalvingPruner; unlike it, a trial that finished before a rung also counts there with its
    final value (it reached that value with less time), and at a rung it passed after its last report
    with that value too. ``min_resource=None`` puts the first rung at
    ``1 / reduction_factor**3`` of the first finished trial's steps (three rungs before its length).
    """

    def __init__(self, min_resource: int | None = None, reduction_factor: int = 3) -> None:
        if min_resource is not None and int(min_resource) < 1:
            raise ValueError(f"min_resource must be an integer >= 1 or None, got {min_resource!r}")
        if int(reduction_factor) < 2:
            raise ValueError(f"reduction_factor must be an integer >= 2, got {reduction_factor!r}")
        self.min_resource = None if min_resource is None else int(min_resource)
        self.eta = int(reduction_factor)
        self.rungs: dict[int, list[float]] = {}
        self._finished: list[tuple[int, float]] = []  # (steps, final value) of trials that ended unpruned
        self._rung_of: dict[int, int] = {}  # trial number -> next rung
        self._early: list[tuple[int, int, float]] = []  # (trial, step, value) reported before min_resource was set

    def _rung_step(self, r: int) -> int:
        assert self.min_resource is not None
        return self.min_resource * self.eta ** r

    def should_prune(self, number: int, step: int, value: float, record: bool = True) -> bool:
        """Record trial ``number``'s best value at ``step``; True when it should stop. ``record=False``: judge
        without recording (a trial with no model yet, judged as 0, must not lower the bar for the others)."""
        if self.min_resource is None:  # no rungs yet: keep the reports, to place them once there are
            if record:
                self._early.append((number, int(step), float(value)))
            return False
        if math.isnan(value):
            return True
        r = self._rung_of.get(number, 0)
        while step >= self._rung_step(r):
            at = self.rungs.setdefault(r, [])
            if record:
                at.append(value)
            competing = (at if record else at + [value]) + [v for s, v in self._finished if s < self._rung_step(r)]
            idx = max(len(competing) // self.eta - 1, 0)
            if value < sorted(competing, reverse=True)[idx]:
                self._rung_of[number] = r + 1
                return True
            r += 1
        self._rung_of[number] = r
        return False

    def would_prune(self, number: int, step: int, value: float) -> bool:
        """What :meth:`should_prune` would say for trial ``number`` at ``step`` with ``value``, changing nothing."""
        rung_of, rungs = dict(self._rung_of), {r: list(v) for r, v in self.rungs.items()}
        try:
            return self.should_prune(number, step, value, record=False)
        finally:
            self._rung_of, self.rungs = rung_of, rungs

    def next_rung(self, number: int) -> float:
        """The step at which trial ``number`` is judged next (inf before any rung exists)."""
        if self.min_resource is None:
            return math.inf
        return self._rung_step(self._rung_of.get(number, 0))

    def finished(self, number: int, steps: int, value: float) -> None:
        """A trial ended unpruned after ``steps`` with ``value``: it counts at the rungs it did not reach."""
        if self.min_resource is None:
            self.min_resource = max(int(steps) // self.eta ** 3, 1)
            for n, st, v in self._early:  # the reports made before the rungs existed, at the rungs they passed
                r = self._rung_of.get(n, 0)
                while st >= self._rung_step(r):
                    self.rungs.setdefault(r, []).append(v)
                    r += 1
                self._rung_of[n] = r
            self._early = []
        if not math.isnan(value):
            # the rungs it passed after its last report get its final value (as optuna records the first report
            # at or after a rung); the later rungs count it through _finished
            r = self._rung_of.get(number, 0)
            while int(steps) >= self._rung_step(r):
                self.rungs.setdefault(r, []).append(float(value))
                r += 1
            self._rung_of[number] = r
            self._finished.append((int(steps), float(value)))


class _RandomTrial:
    """optuna's ``suggest_*`` over a numpy Generator (the halving search without optuna); ``fixed`` values first."""

    def __init__(self, number: int, rng: np.random.Generator, fixed: dict | None = None) -> None:
        self.number, self._rng, self._fixed, self.params = number, rng, dict(fixed or {}), {}

    def _take(self, name: str, draw: Callable[[], Any]) -> Any:
        v = self._fixed[name] if name in self._fixed else draw()
        self.params[name] = v
        return v

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        def draw() -> float:
            if log:
                return float(math.exp(self._rng.uniform(math.log(low), math.log(high))))
            return float(self._rng.uniform(low, high))

        return float(self._take(name, draw))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        def draw() -> int:
            if log:
                return int(min(high, math.floor(math.exp(self._rng.uniform(math.log(low), math.log(high + 1))))))
            return int(self._rng.integers(low, high + 1))

        return int(self._take(name, draw))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._take(name, lambda: choices[int(self._rng.integers(len(choices)))])


class _SpaceTrial(_RandomTrial):
    """A fully fixed trial that records each parameter's distribution as :func:`suggest` asks for it:
    ``space[name] = ("float" | "int", low, high, log)`` or ``("cat", choices)``."""

    def __init__(self, fixed: dict) -> None:
        super().__init__(0, np.random.default_rng(0), fixed)
        self.space: dict[str, tuple] = {}

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        self.space[name] = ("float", low, high, log)
        return super().suggest_float(name, low, high, log=log)

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        self.space[name] = ("int", low, high, log)
        return super().suggest_int(name, low, high, log=log)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.space[name] = ("cat", list(choices))
        return super().suggest_categorical(name, choices)


#: the pruner's first rung sits at budget / FIRST_RUNG seconds (the next ones 3x further each)
FIRST_RUNG = 10

#: before the winner is chosen, the best FINALISTS configurations are fitted again on EXTRA_SPLITS more validation
#: splits (other seeds) and ranked by their mean validation Recall@K over all splits: one split's winner owes part
#: of its lead to that split's noise (the winner's curse), which a refit on the full train does not keep
FINALISTS = 3
EXTRA_SPLITS = 2

#: a local step multiplies or divides a log-scale parameter by this factor (a linear one moves by LOCAL_LINEAR of
#: its range); it changes one parameter, or two with probability LOCAL_TWO
LOCAL_FACTOR = 1.6
LOCAL_LINEAR = 0.1
LOCAL_TWO = 0.3


def local_step(params: dict, losses: Sequence[str], rng: np.random.Generator, max_epochs: int | None = None,
               factors: int | Sequence[int] = 8) -> dict:
    """A neighbour of the configuration ``params`` (a trial's parameters) in the search space of ``losses``: the
    same configuration with one parameter (two with probability :data:`LOCAL_TWO`) moved one notch, as a pattern
    search would: a log-scale number multiplied or divided by :data:`LOCAL_FACTOR` (an integer by at least 1), a
    linear one moved by :data:`LOCAL_LINEAR` of its range, clipped to the range; a categorical other than the
    loss set to another choice. Parameters a new branch needs are drawn at random by the trial."""
    t = _SpaceTrial(params)
    suggest(t, losses, factors=factors, max_epochs=max_epochs)
    out = dict(t.params)
    movable = [n for n, spec in t.space.items() if n != "loss" and not (spec[0] == "cat" and len(spec[1]) < 2)
               and not (spec[0] != "cat" and spec[1] == spec[2])]
    if not movable:
        return out
    for name in rng.choice(movable, size=min(len(movable), 2 if rng.random() < LOCAL_TWO else 1), replace=False):
        spec, v = t.space[name], t.params[name]
        if spec[0] == "cat":
            out[name] = [c for c in spec[1] if c != v][int(rng.integers(len(spec[1]) - 1))]
            continue
        _, low, high, log = spec
        up = bool(rng.random() < 0.5)
        if log:
            x = v * LOCAL_FACTOR if up else v / LOCAL_FACTOR
        else:
            x = v + (1 if up else -1) * LOCAL_LINEAR * (high - low)
        if spec[0] == "int":
            x = max(int(round(x)), v + 1) if up else min(int(round(x)), v - 1)
            out[name] = int(min(max(x, low), high))
        else:
            out[name] = float(min(max(x, low), high))
    return out


class _HalvingSearch:
    """Random configurations (after the enqueued defaults), pruned by :class:`TimeHalving`."""

    name = "halving"

    def __init__(self, seed: int, pruner: TimeHalving, enqueue: list[dict]) -> None:
        self._rng = np.random.default_rng(seed)
        self._queue = list(enqueue)
        self.pruner = pruner
        self._n = 0

    def enqueue(self, params: dict) -> None:
        """Run ``params`` (fixed trial parameters) as the next trial."""
        self._queue.append(params)

    def ask(self) -> _RandomTrial:
        t = _RandomTrial(self._n, self._rng, self._queue.pop(0) if self._queue else None)
        self._n += 1
        return t

    def report(self, trial: Any, step: int, value: float, record: bool = True) -> bool:
        return self.pruner.should_prune(trial.number, step, value, record)

    def next_rung(self, number: int) -> float:
        return self.pruner.next_rung(number)

    def would_prune(self, number: int, step: int, value: float) -> bool:
        return self.pruner.would_prune(number, step, value)

    def tell(self, trial: Any, value: float, state: str, steps: int) -> None:
        if state == "complete":
            self.pruner.finished(trial.number, steps, value)


class _OptunaSearch(_HalvingSearch):
    """optuna's TPE sampler (seeded, multivariate, grouped for the conditional space) with the same pruner;
    intermediate values are reported to optuna so TPE ranks pruned trials by them."""

    name = "tpe"

    def __init__(self, seed: int, pruner: TimeHalving, enqueue: list[dict]) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.pruner = pruner
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate/group are flagged experimental
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=5)
        self.study = optuna.create_study(direction="maximize", sampler=sampler, pruner=optuna.pruners.NopPruner())
        for params in enqueue:
            self.study.enqueue_trial(params)

    def enqueue(self, params: dict) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.study.enqueue_trial(params, skip_if_exists=True)

    def ask(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _WarningsOff(self.study.ask())

    def report(self, trial: Any, step: int, value: float, record: bool = True) -> bool:
        trial.raw.report(value, step)
        return self.pruner.should_prune(trial.number, step, value, record)

    def tell(self, trial: Any, value: float, state: str, steps: int) -> None:
        from optuna.trial import TrialState

        super().tell(trial, value, state, steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if state == "complete":
                self.study.tell(trial.raw, value)
            else:
                self.study.tell(trial.raw, state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL)


class _WarningsOff:
    """An optuna trial whose ``suggest_*`` run with warnings silenced (TPE's experimental-feature notes)."""

    def __init__(self, trial: Any) -> None:
        self.raw = trial
        self.number = trial.number

    @property
    def params(self) -> dict:
        return dict(self.raw.params)

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.raw, name)

        def call(*a: Any, **kw: Any) -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn(*a, **kw)

        return call


def _make_search(search: str, seed: int, pruner: TimeHalving, enqueue: list[dict]) -> _HalvingSearch:
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(repr(s) for s in SEARCHES)} (or 'grid' for run_lab's "
                         f"staged grid), got {search!r}")
    if search in ("auto", "tpe"):
        try:
            import optuna  # noqa: F401
        except ImportError:
            if search == "tpe":
                raise ImportError("search='tpe' needs optuna: pip install 'recneg[tune]' (or use search='halving', "
                                  "which needs nothing more)") from None
            logger.info("optuna is not installed: the lab searches by random sampling with successive halving")
            return _HalvingSearch(seed, pruner, enqueue)
        return _OptunaSearch(seed, pruner, enqueue)
    return _HalvingSearch(seed, pruner, enqueue)


# ---------------------------------------------------------------------------------------- one trial
@dataclass
class _Outcome:
    status: str
    value: float = math.nan
    ndcg: float = math.nan
    epochs_run: int = 0
    best_epochs: int = 0
    steps: int = 0
    refit_seconds: float = math.nan  # estimated: training to best_epochs (no checks) plus one evaluation


class _PastDeadline(Exception):
    """Raised between two torch batches once the deadline has passed (an epoch can outlast a budget)."""


class _PrunedMidEpoch(Exception):
    """Raised between two torch batches when a trial that has not finished an epoch is pruned."""


def _between_batches(model: Any, check: Callable[[float], None]) -> None:
    """Run ``check(position)`` (the fractional epoch, e.g. 0.25) before every torch batch but an epoch's first
    (through the trainer's per-batch ``before_step`` hook, chained to the model's own schedule hook); the numba
    and ALS epochs are single kernel calls and have no such point."""
    make = model._make_trainer

    def make_checked(X: Any, rng: Any) -> Any:
        trainer = make(X, rng)
        if hasattr(trainer, "before_step"):
            inner = trainer.before_step

            def hook(t: float) -> None:
                check(t)
                if inner is not None:
                    inner(t)

            trainer.before_step = hook
        return trainer

    model._make_trainer = make_checked


def _recall(m: Any, train: Interactions, valid: Interactions, K: int, users: np.ndarray | None = None) -> float:
    return float(ranking_metrics(m, train, valid, K=K, users=users, metrics=["recall"]).metrics[f"recall@{K}"])


def _monitor(valid: Interactions, n: int | None, seed: int) -> np.ndarray:
    """The validation users scored: those with a validation item, at most ``n`` of them (a seeded subset)."""
    users = np.flatnonzero(np.asarray(valid.user_counts) > 0)
    if n is not None and users.size > n:
        users = np.sort(np.random.default_rng(seed).choice(users, n, replace=False))
    return users


def _top(rows: list[dict], rk: str, n: int) -> list[dict]:
    """The ``n`` best rows with a full validation value (ties: NDCG), one per configuration."""
    ok = [r for r in rows if (r["status"] in _CANDIDATE or r["status"].startswith("early stop"))
          and math.isfinite(r[rk])]
    ok.sort(key=lambda r: (r[rk], next((r[k] for k in r if k.startswith("ndcg@") and math.isfinite(r[k])),
                                       -math.inf)), reverse=True)
    out, seen = [], set()
    for r in ok:
        key = (r["strategy"], r["best_epochs"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out[:n]


def _run_trial(cfg: Config, searcher: _HalvingSearch, trial: Any, fit_train: Interactions, valid: Interactions,
               monitor: np.ndarray, K: int, patience: int, clock: Callable[[], float], deadline: float | None
               ) -> _Outcome:
    """Fit one configuration with validation checks, pruning and the deadline; the value is the full
    validation Recall@K of the restored best epoch (or of the averaged factors)."""
    from .engine.divergence import TrainingDivergedError
    from .models.factory import build_model

    t0 = clock()
    st: dict[str, Any] = dict(last=t0, eval_s=0.0, fit_s=0.0, since=0.0, best=-math.inf, best_epoch=-1, step=-1,
                              pruned=False, cut=False, reported=False, value=math.nan)
    model = build_model("mf", **cfg.params)
    epochs = int(cfg.params["epochs"])
    averaging = bool(cfg.params.get("average_epochs"))

    def validation(epoch: int, m: Any) -> dict | None:
        now = clock()
        st["since"] += now - st["last"]
        st["fit_s"] += now - st["last"]
        st["reported"] = False
        due = epoch == 0 or epoch == epochs - 1 or st["since"] * _SCORE_BEFORE_REPORT >= st["eval_s"]
        if not due:
            st["last"] = now
            return None
        r = _recall(m, fit_train, valid, K, monitor)
        after = clock()
        st.update(eval_s=after - now, since=0.0, last=after, value=r, reported=True)
        if r > st["best"]:
            st["best"], st["best_epoch"] = r, epoch
        return {f"recall@{K}": r}

    def check(epoch: int, m: Any) -> bool:
        now = clock()
        if st["reported"]:
            step = max(int((now - t0) * 10), st["step"] + 1)
            st["step"] = step
            if searcher.report(trial, step, st["best"]):
                st["pruned"] = True
                return True
        if deadline is not None and now >= deadline and epoch < epochs - 1:
            st["cut"] = True
            return True
        return False

    def mid_epoch(position: float) -> None:
        """Before a torch batch: the deadline; and before the first evaluation, the pruner with the value of
        a trial that has no model yet (0): a first epoch slower than what others needed to finish is cut, at
        the rung or as soon as its pace (after :data:`_PROJECT_AFTER` batches) projects its end past the rung
        by :data:`_PROJECT_MARGIN` and 0 would be pruned there."""
        now = clock()
        if deadline is not None and now >= deadline:
            raise _PastDeadline
        if st["best"] == -math.inf:
            step = max(int((now - t0) * 10), st["step"] + 1)
            rung = searcher.next_rung(trial.number)
            if step >= rung:
                st["step"] = step
                if searcher.report(trial, step, 0.0, record=False):
                    raise _PrunedMidEpoch
            elif position < 1.0 and math.isfinite(rung):
                first = st.setdefault("pace", (now, position, 0))
                st["pace"] = (first[0], first[1], first[2] + 1)
                if st["pace"][2] > _PROJECT_AFTER and position > first[1]:
                    end = now + (1.0 - position) * (now - first[0]) / (position - first[1])
                    if _PROJECT_MARGIN * (end - t0) * 10 >= rung and searcher.would_prune(
                            trial.number, int(rung), 0.0):
                        st["step"] = step
                        raise _PrunedMidEpoch

    _between_batches(model, mid_epoch)
    try:
        model.fit(fit_train, show_progress=False, validation=validation, callbacks=[check],
                  patience=None if averaging else patience)
    except (_PastDeadline, _PrunedMidEpoch) as e:  # the factors are mid-epoch, the best epoch's gone: no candidate
        return _Outcome("cut mid-epoch (budget)" if isinstance(e, _PastDeadline) else "pruned in epoch 1",
                        value=st["best"] if st["best"] > -math.inf else math.nan, epochs_run=len(model.history),
                        best_epochs=st["best_epoch"] + 1, steps=max(int((clock() - t0) * 10), st["step"] + 1))
    except TrainingDivergedError as e:
        logger.info("trial %d diverged: %s", trial.number, e)
        return _Outcome("diverged", epochs_run=len(getattr(model, "history", [])), steps=int((clock() - t0) * 10))
    run = len(model.history)
    if st["pruned"]:
        return _Outcome("pruned", value=st["best"], epochs_run=run, best_epochs=st["best_epoch"] + 1,
                        steps=st["step"])
    before = clock()
    met = ranking_metrics(model, fit_train, valid, K=K, users=monitor, metrics=["recall", "ndcg"]).metrics
    best_epochs = max(run if averaging else st["best_epoch"] + 1, 1)
    status = "cut (budget)" if st["cut"] else (f"early stop at {run}" if run < epochs else "done")
    return _Outcome(status, value=float(met[f"recall@{K}"]), ndcg=float(met[f"ndcg@{K}"]), epochs_run=run,
                    best_epochs=best_epochs, steps=max(int((clock() - t0) * 10), st["step"] + 1),
                    refit_seconds=st["fit_s"] * best_epochs / max(run, 1) + clock() - before)


# ---------------------------------------------------------------------------------------- reference rows
def reference_rows(train: Interactions, test: Interactions, factors: int = 64, K: int = 20, workers: int = 2,
                   seed: int = 0, clock: Callable[[], float] = time.perf_counter) -> list[dict]:
    """implicit's ALS (alpha 40, 15 iterations, regularization 0.01) and BPR (100 iterations) with ``factors``,
    fitted on ``train`` and evaluated on ``test`` with recneg's ``ranking_metrics``; [] when implicit does not
    import (it is never a dependency). Rows: ``model``, ``recall@K``, ``ndcg@K``, ``fit_seconds``."""
    try:
        import implicit  # noqa: F401  (first: a blocked top-level package fails even if submodules were imported)
        from implicit.als import AlternatingLeastSquares
        from implicit.bpr import BayesianPersonalizedRanking
    except ImportError:
        logger.info("implicit is not installed: no reference rows")
        return []
    from contextlib import nullcontext

    from .data.interactions import as_csr

    try:  # implicit asks for a single-threaded BLAS (its own threads do the work); a fair reference honours that
        from threadpoolctl import threadpool_limits

        blas_one: Callable[[], Any] = lambda: threadpool_limits(1, "blas")  # noqa: E731
    except ImportError:
        blas_one = nullcontext
    X = as_csr(train, binary=True).astype(np.float32)
    makers = [
        (f"implicit ALS ({factors} factors, α 40, 15 it, reg 0.01)",
         lambda: AlternatingLeastSquares(factors=factors, regularization=0.01, alpha=40.0, iterations=15,
                                         use_gpu=False, num_threads=workers, random_state=seed)),
        (f"implicit BPR ({factors} factors, 100 it)",
         lambda: BayesianPersonalizedRanking(factors=factors, iterations=100, use_gpu=False, num_threads=workers,
                                             random_state=seed)),
    ]
    rows = []
    for name, make in makers:
        t0 = clock()
        try:
            with blas_one():
                m = make()
                m.fit(X, show_progress=False)
        except Exception as e:  # a reference that fails to fit is reported, not fatal
            logger.warning("reference %s failed: %s", name, e)
            continue
        secs = clock() - t0
        met = ranking_metrics(m, train, test, K=K, metrics=["recall", "ndcg"]).metrics
        rows.append({"model": name, f"recall@{K}": float(met[f"recall@{K}"]), f"ndcg@{K}": float(met[f"ndcg@{K}"]),
                     "fit_seconds": round(secs, 2)})
    return rows


# ---------------------------------------------------------------------------------------- the tuner
@dataclass
class TuneResult(LabResult):
    """:class:`~recneg.lab.LabResult` (rows: one per trial; best: the winner's row; test_metrics: the refitted
    winner's) plus the search that ran, the winner's model arguments and the reference rows."""

    search: str = ""
    dropped: list[str] = field(default_factory=list)
    params: dict | None = None
    stop_after_epochs: int | None = None
    reference: list[dict] = field(default_factory=list)
    refit_seconds: float = math.nan
    search_seconds: float = math.nan


def _check_args(budget: float | None, trials: int | None, search: str, losses: Sequence[str] | None,
                max_epochs: int | None, valid_fraction: float, patience: int, monitor_users: int) -> tuple[str, ...]:
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not math.isfinite(budget) or budget <= 0):
        raise ValueError(f"budget must be a number of seconds > 0 (or None with trials=N), got {budget!r}")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1):
        raise ValueError(f"trials must be a positive integer (or None with a budget), got {trials!r}")
    if budget is None and trials is None:
        raise ValueError("give budget (seconds) or trials (a count), or both: the search needs a limit")
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(repr(s) for s in SEARCHES)}, got {search!r}")
    if max_epochs is not None and (isinstance(max_epochs, bool) or not isinstance(max_epochs, (int, np.integer))
                                   or max_epochs < 1):
        raise ValueError(f"max_epochs must be a positive integer or None, got {max_epochs!r}")
    if not 0.0 < float(valid_fraction) < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction!r}")
    for name, v in (("patience", patience), ("monitor_users", monitor_users)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    avail = available_losses()
    if losses is None:
        return tuple(name for name in DEFAULT_LOSSES if name in avail)
    chosen = tuple(dict.fromkeys(losses))
    bad = [name for name in chosen if name not in avail]
    if not chosen or bad:
        raise ValueError(f"losses must be a non-empty list among {', '.join(avail)} (this installation's tunable "
                         f"losses), got {list(losses)!r}")
    return tuple(sorted(chosen, key=TUNABLE_LOSSES.index))  # the cheap families' defaults run first


def tune(
    train: Interactions,
    test: Interactions,
    out: str | Path,
    *,
    budget: float | None = None,
    trials: int | None = None,
    search: str = "auto",
    losses: Sequence[str] | None = None,
    factors: int = 64,
    factors_search: Sequence[int] | None = None,
    max_epochs: int | None = None,
    K: int = 20,
    seed: int = 0,
    workers: int = 2,
    valid_fraction: float = 0.1,
    patience: int = 3,
    monitor_users: int = 5000,
    finalists: int = FINALISTS,
    extra_splits: int = EXTRA_SPLITS,
    reference: bool = True,
    description: str = "",
    plot: bool = True,
    echo: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TuneResult:
    """Search MF configurations within ``budget`` seconds (and/or ``trials`` trials); write lab.csv, lab.md,
    lab.png, best.json and meta.json to ``out``, the table after every trial.

    Args:
        train, test: a split in one index space (users x items); the validation split is carved from
            train per user (``valid_fraction`` of each user's items, ``seed``); test is used only for the
            refitted winner and the reference rows.
        budget: wall seconds (> 0) for the search, reference rows included; the refit comes after it (and a
            one-time torch import, about a second, before it when torch losses are searched).
        trials: the most trials to run (None: as many as the budget allows).
        search: "auto" (tpe when optuna imports, else halving), "tpe" or "halving".
        losses: losses to search (default: bpr, ials, softmax, ccl, nce, those that exist here).
        factors: embedding size d of every trial (with ``factors_search``: of the defaults) and of the reference
            rows.
        factors_search: more embedding sizes to search (e.g. ``[128, 256, 512, 1024]``; None: d is fixed): a
            larger d often pays, most for iALS, whose epoch grows as (users + items) d^2.
        max_epochs: cap on a trial's epochs (None: :data:`EPOCH_CAPS` per backend).
        K: metric cut-off (Recall@K is the objective; NDCG@K is reported).
        patience: stop a trial after this many validation checks without improvement (best epoch restored).
        monitor_users: validation users scored at each check and for a trial's value (a fixed random subset
            when there are more; the finalists' extra splits likewise).
        finalists, extra_splits: the best ``finalists`` configurations are fitted again on ``extra_splits`` more
            validation splits and the winner is the best mean over all splits (0: the best on the first split).
        reference: add implicit's ALS and BPR rows when implicit imports.
        echo: called with one progress line per trial (e.g. ``print``); None for silence.
        clock: seconds as a float (``time.perf_counter``; injectable for tests).

    Returns:
        :class:`TuneResult`.

    Raises:
        ValueError naming the argument (budget, trials, search, losses, ...); ImportError for search="tpe"
        without optuna.
    """
    losses = _check_args(budget, trials, search, losses, max_epochs, valid_fraction, patience, monitor_users)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(loss != "ials" and loss != "bpr" for loss in losses):
        _warm_torch_optim()  # a one-time import (~1 s) the first torch trial would otherwise pay from the budget
    t_start = clock()
    deadline = None if budget is None else t_start + float(budget)
    fit_train, valid = split_random(train, valid_fraction, seed=seed)
    users = _monitor(valid, monitor_users, seed)
    if users.size == 0:
        raise ValueError("train is too small to carve a validation split (no user has 2 or more items)")
    pruner = TimeHalving(None if budget is None else max(1, int(budget * 10 / FIRST_RUNG)), 3)  # first rung
    dims: int | list[int] = factors
    if factors_search:
        bad = [f for f in factors_search if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 1]
        if bad:
            raise ValueError(f"factors_search must be positive integers, got {list(factors_search)!r}")
        dims = [int(factors)] + sorted({int(f) for f in factors_search} - {int(factors)})
    defaults = default_trials(losses, max_epochs, factors if factors_search else None)  # the default (iALS) first
    searcher = _make_search(search, seed, pruner, [])
    local_rng = np.random.default_rng([seed, 1])
    result = TuneResult(search=searcher.name)
    rk, nk = f"recall@{K}", f"ndcg@{K}"
    header = dict(search=searcher.name, budget=budget, trials=trials, losses=list(losses), K=K, factors=dims,
                  description=description, valid_fraction=valid_fraction)

    def save(final: bool) -> None:
        _write(result, out, header, clock() - t_start, plot and final)

    if reference:
        result.reference = reference_rows(train, test, factors=factors, K=K, workers=workers, seed=seed, clock=clock)
        for r in result.reference:
            if echo is not None:
                echo(f"lab reference {r['model']}: {rk} {r[rk]:.4f} on test, fit {r['fit_seconds']:.1f} s")
    durations: list[float] = []
    refit_cost: dict[int, float] = {}  # trial -> estimated seconds of one fit at its best epochs plus a check
    cfgs: dict[int, Config] = {}
    trained: set[str] = set()  # losses with a trial that finished an epoch
    slow: dict[str, int] = {}  # loss -> its trials pruned before finishing an epoch (while none ever did)
    skipped = skipped_total = 0
    while True:
        if trials is not None and len(result.rows) >= trials:
            break
        if deadline is not None and result.rows:
            remaining = deadline - clock()
            reserve = extra_splits * sum(refit_cost.get(r["trial"], r["train_seconds"])
                                         for r in _top(result.rows, rk, finalists))
            if remaining <= 0 or remaining < statistics.median(durations) + reserve:
                logger.info("lab: %.1f s left, a typical trial takes %.1f s: no more trials", remaining,
                            statistics.median(durations))
                break
        # the schedule of trials: the first is the library default; then every other trial is a local step from
        # the incumbent (exploitation) and the others are the remaining losses' defaults, then the searcher's own
        # draws (exploration); so a short budget refines the default before it explores the slow families
        started = len(result.rows) + skipped_total
        done = [r for r in result.rows if (r["status"] in _CANDIDATE or r["status"].startswith("early stop"))
                and math.isfinite(r[rk])]
        if started % 2 == 1 and done:
            incumbent = max(done, key=lambda r: r[rk])
            searcher.enqueue(local_step(json.loads(incumbent["params"]), losses, local_rng, max_epochs, dims))
        elif defaults:
            searcher.enqueue(defaults.pop(0))
        trial = searcher.ask()
        cfg = suggest(trial, losses, factors=dims, max_epochs=max_epochs, seed=seed, workers=workers)
        if cfg.loss in result.dropped:  # told as pruned without running: the sampler learns, no time spent
            searcher.tell(trial, math.nan, "pruned", 0)
            skipped += 1
            skipped_total += 1
            if skipped > _MAX_SKIPS:
                break
            continue
        skipped = 0
        number = len(result.rows)
        t0 = clock()
        try:
            o = _run_trial(cfg, searcher, trial, fit_train, valid, users, K, patience, clock, deadline)
        except (ValueError, TypeError, RuntimeError) as e:  # a configuration the model refuses: record, go on
            logger.warning("trial %d (%s) failed: %s", trial.number, cfg.label, e)
            o = _Outcome(f"failed: {' '.join(str(e).split())[:120]}", steps=int((clock() - t0) * 10))
        secs = clock() - t0
        durations.append(secs)
        if math.isfinite(o.refit_seconds):
            refit_cost[len(result.rows)] = o.refit_seconds
        if o.status in _CANDIDATE or o.status.startswith("early stop"):
            state = "complete"
        else:
            state = "pruned" if o.status.startswith("pruned") or math.isfinite(o.value) else "fail"
        searcher.tell(trial, o.value, state, o.steps)
        cfgs[number] = cfg
        row = dict(trial=number, loss=cfg.loss, backend=cfg.backend, strategy=cfg.label, **cfg.flat)
        row.update({rk: o.value, nk: o.ndcg, "epochs_run": o.epochs_run, "best_epochs": o.best_epochs,
                    "train_seconds": round(secs, 2), "started_s": round(t0 - t_start, 2), "status": o.status,
                    "params": json.dumps(getattr(trial, "params", {}), default=float, sort_keys=True)})
        result.rows.append(row)
        logger.info("lab trial %d: %s -> %s=%.4f (%s, %.1fs)", number, cfg.label, rk, o.value, o.status, secs)
        if echo is not None:
            echo(f"lab trial {number + 1} [{searcher.name}] {cfg.label}: {rk} {o.value:.4f} on validation"
                 f"{' (partial)' if o.status == 'pruned' else ''}, {o.epochs_run} epochs, {secs:.1f} s"
                 + ("" if o.status == "done" else f" ({o.status})"))
        if o.epochs_run > 0:
            trained.add(cfg.loss)
        elif o.status == "pruned in epoch 1" and cfg.loss not in trained:
            slow[cfg.loss] = slow.get(cfg.loss, 0) + 1
            if slow[cfg.loss] >= DROP_AFTER:
                result.dropped.append(cfg.loss)
                why = (f"lab: no more {cfg.loss} trials: {DROP_AFTER} of them could not finish one epoch by the first "
                       f"rung ({pruner.min_resource / 10:g} s)")
                logger.info(why)
                if echo is not None:
                    echo(why)
        save(False)
        if set(losses) <= set(result.dropped):
            break
    top = _top(result.rows, rk, finalists)
    if len(top) > 1 and extra_splits > 0:
        _revalidate(top, cfgs, train, K, seed, valid_fraction, extra_splits, clock, deadline, echo, monitor_users,
                    refit_cost)
        full = [r for r in top if len(r.get("revalidation", ())) == extra_splits]
        for r in full:
            r[f"{rk} (mean of {extra_splits + 1} splits)"] = float(np.mean([r[rk], *r["revalidation"]]))
        save(False)
    result.search_seconds = clock() - t_start
    if top:
        mean_key = f"{rk} (mean of {extra_splits + 1} splits)"
        full = [r for r in top if math.isfinite(r.get(mean_key, math.nan))]
        best = (max(full, key=lambda r: r[mean_key]) if len(full) > 1
                else max(top, key=lambda r: (r[rk], r[nk] if math.isfinite(r[nk]) else -math.inf)))  # ties: NDCG
        result.best = best
        cfg = cfgs[best["trial"]]
        n = int(best["best_epochs"])
        # stopping after n epochs equals training n epochs when nothing depends on the horizon
        params, result.stop_after_epochs = _at_best_epochs(cfg, best)
        result.params = params
        if echo is not None:
            echo(f"lab: refitting the best, trial {best['trial'] + 1} ({cfg.label}), on the full train split for "
                 f"{n} epochs")
        t0 = clock()
        model, fit_kw = build_best({"params": params, "stop_after_epochs": result.stop_after_epochs})
        model.fit(train, show_progress=False, **fit_kw)
        result.refit_seconds = clock() - t0
        met = ranking_metrics(model, train, test, K=K, metrics=["recall", "ndcg"]).metrics
        result.test_metrics = {rk: float(met[rk]), nk: float(met[nk])}
    save(True)
    return result


def _warm_torch_optim() -> None:
    """Build one torch optimizer: the first one imports torch._dynamo (about a second), once per process."""
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _at_best_epochs(cfg: Config, row: dict) -> tuple[dict, int | None]:
    """The model arguments that train ``row``'s configuration for its best epoch count, and the epoch to stop
    after when the epoch count cannot simply be lowered (lr decay, averaging and schedules span all epochs)."""
    params = dict(cfg.params)
    n = int(row["best_epochs"])
    horizon = (params.get("lr_decay") is not None or params.get("average_epochs")
               or row.get("k_schedule") or row.get("alpha_schedule"))
    if n < params["epochs"] and not horizon:
        params["epochs"] = n
    return params, (n if n < params["epochs"] else None)


def _revalidate(finalists: list[dict], cfgs: dict[int, Config], train: Interactions, K: int, seed: int,
                valid_fraction: float, extra_splits: int, clock: Callable[[], float], deadline: float | None,
                echo: Callable[[str], None] | None, monitor_users: int | None = None,
                costs: dict[int, float] | None = None) -> None:
    """Fit each finalist (a trial's row) at its best epoch count on ``extra_splits`` more validation splits of
    ``train`` (seeds ``seed + 1, ...``); append each split's Recall@K to ``row["revalidation"]``. Stops (leaving
    the lists short) before a fit that would end past ``deadline`` (by ``costs[trial]``, its estimated seconds)."""
    for j in range(1, extra_splits + 1):
        fit_train, valid = split_random(train, valid_fraction, seed=seed + j)
        users = _monitor(valid, monitor_users, seed + j)
        for row in finalists:
            if deadline is not None and clock() + (costs or {}).get(row["trial"], 0.0) > deadline:
                return
            params, stop = _at_best_epochs(cfgs[row["trial"]], row)
            model, fit_kw = build_best({"params": params, "stop_after_epochs": stop})
            try:
                model.fit(fit_train, show_progress=False, **fit_kw)
                value = _recall(model, fit_train, valid, K, users)
            except (ValueError, TypeError, RuntimeError) as e:
                logger.warning("finalist trial %d failed on validation split %d: %s", row["trial"], j + 1, e)
                value = math.nan
            row.setdefault("revalidation", []).append(value)
            if echo is not None:
                echo(f"lab finalist trial {row['trial'] + 1}: recall@{K} {value:.4f} on validation split {j + 1}")


def build_best(best: "dict | str | Path") -> tuple[Any, dict]:
    """The unfitted winner of a lab and its ``fit`` arguments, from best.json (a path or its dict)::

        model, fit_kw = build_best("runs/lab/best.json")
        model.fit(train, **fit_kw)      # stops after the winner's best epoch count when needed
    """
    from .models.factory import build_model
    from .models.mf import StopTraining

    if not isinstance(best, dict):
        best = json.loads(Path(best).read_text())
    if not isinstance(best.get("params"), dict):
        raise ValueError("best must be a lab's best.json (with a 'params' object); the grid search writes none")
    model = build_model("mf", **best["params"])
    n = best.get("stop_after_epochs")
    if not n:
        return model, {}

    def stop(epoch: int, m: Any) -> None:
        if epoch + 1 >= n:
            raise StopTraining

    return model, {"callbacks": [stop]}


# ---------------------------------------------------------------------------------------- outputs
def train_command(params: dict, stop_after: int | None) -> str | None:
    """The ``recneg train mf`` flags that train ``params``, or None when the flags cannot express them."""
    if stop_after:
        return None
    loss, s = dict(params["loss"]), params["sampler"]
    name = loss.pop("name")
    if name == "ials":
        if set(loss) - {"unobserved_ratio", "nu"} or s.get("sampler") != "AllItems":
            return None  # alpha0 / confidences have no flag
        flags = ["--loss", "ials", "--factors", str(params["factors"]), "--epochs", str(params["epochs"]),
                 "--reg", f"{params['reg']:.6g}"]
        flags += [f"--{k.replace('_', '-')}" + f" {loss[k]:.6g}" for k in ("unobserved_ratio", "nu") if k in loss]
        flags += [] if s.get("exclude_seen", True) else ["--no-exclude-seen"]
        return "recneg train mf " + " ".join(flags + ["--seed", str(params.get("seed", 0))])
    if name not in ("bpr", "bce", "softmax", "ccl", "nce"):
        return None
    flags = ["--loss", name, "--factors", str(params["factors"]), "--epochs", str(params["epochs"]),
             "--lr", f"{params['lr']:.6g}", "--reg", f"{params['reg']:.6g}"]

    def sched(v: Any) -> str:
        if isinstance(v, dict):
            return f"{v['start']:g}:{v['end']:g}"
        return f"{v:g}"

    kind = s["sampler"]
    prop = s.get("base") if kind == "DynamicNegativeSampler" else s.get("proposal") if kind == "MixedSampler" else s
    if kind == "InBatchSampler":
        flags += ["--in-batch"] + ([] if s["mask_seen"] else ["--no-exclude-seen"])
    else:
        if prop.get("shared") not in (None, name in ("softmax", "ccl")) and kind != "MixedSampler":
            return None  # sharing other than the loss's default has no flag
        flags += ["--negatives", sched(prop["k"]), "--ns-exponent", sched(prop["alpha"])]
        flags += [] if prop["exclude_seen"] else ["--no-exclude-seen"]
        if kind == "MixedSampler":
            flags.append("--mixed")
        if kind == "DynamicNegativeSampler":
            flags += ["--hard", f"dns:{s['m']}"] + (["--dns-pool", str(s["pool"])] if s["pool"] else [])
    flag_of = {"temperature": "--temperature", "margin": "--margin", "negative_weight": "--negative-weight",
               "score": "--score"}
    for key, v in loss.items():
        if key == "score" and name == "ccl":
            continue
        flags += [flag_of[key], f"{v:.6g}" if isinstance(v, float) else str(v)]
    if params.get("lr_decay"):
        flags += ["--lr-decay", params["lr_decay"]]
    if params.get("average_epochs"):
        flags += ["--average-epochs", str(params["average_epochs"])]
    if params.get("batching") == "users":
        flags += ["--batching", "users"]
    if "batch_size" in params:
        flags += ["--batch-size", str(params["batch_size"])]
    flags += ["--seed", str(params.get("seed", 0))]
    return "recneg train mf " + " ".join(flags)


def _fmt(v: Any, spec: str = ".4f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else "-"


def _write(result: TuneResult, out: Path, header: dict, seconds: float, plot: bool) -> None:
    from ._io import atomic_write

    def write_text(name: str, text: str) -> None:
        atomic_write(out / name, lambda f: f.write(text.encode()))

    K = header["K"]
    rk, nk = f"recall@{K}", f"ndcg@{K}"
    df = result.to_frame()
    meta = dict(kind="lab", model="mf", search=header["search"], loss="tuned", losses=header["losses"], K=K,
                budget=header["budget"], trials=header["trials"], factors=header["factors"],
                description=header["description"], dropped=result.dropped, seconds=round(seconds, 2),
                search_seconds=_round(
                    result.search_seconds), refit_seconds=_round(result.refit_seconds))
    try:
        import optuna

        meta["optuna"] = optuna.__version__
    except ImportError:
        pass
    write_text("meta.json", json.dumps(meta, indent=2) + "\n")
    write_text("lab.csv", df.to_csv(index=False))
    n_pruned = sum(r["status"].startswith("pruned") for r in result.rows)
    search = "TPE (optuna, seeded)" if header["search"] == "tpe" else "random sampling"
    budget = f"budget {header['budget']:g} s" if header["budget"] is not None else f"{header['trials']} trials"
    lines = [f"# recneg lab: tuned MF on {header['description'] or 'data'}", "",
             f"Search: {search} with successive halving on trial seconds; {budget}; losses "
             f"{', '.join(header['losses'])}; d = {_dims(header['factors'])}. {len(result.rows)} trials ({n_pruned} pruned) "
             f"in {_fmt(result.search_seconds, '.0f') if math.isfinite(result.search_seconds) else f'{seconds:.0f}'} s"
             + (f", refit {result.refit_seconds:.1f} s" if math.isfinite(result.refit_seconds) else "") + ".",
             *([f"Dropped after {DROP_AFTER} trials each pruned before finishing an epoch: "
                f"{', '.join(result.dropped)}."] if result.dropped else []),
             f"Validation: {header['valid_fraction']:g} of each user's train items; pruned trials show the best "
             f"value they reached on the monitored users (partial). Only the last table touches the test split.", "",
             *_finalist_lines(result.rows, rk),
             f"| # | configuration | {rk} (valid) | {nk} (valid) | epochs (best) | s | status |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(result.rows, key=lambda r: -r[rk] if math.isfinite(r[rk]) else math.inf):
        lines.append(f"| {r['trial'] + 1} | {r['strategy']} | {_fmt(r[rk])} | {_fmt(r[nk])} | {r['epochs_run']} "
                     f"({r['best_epochs']}) | {r['train_seconds']:.1f} | {r['status']} |")
    cmd = None
    if result.best is not None and result.test_metrics is not None:
        b, t = result.best, result.test_metrics
        lines += ["", "On test (each fitted on the full train split):", "",
                  f"| model | {rk} (test) | {nk} (test) | fit s |", "|---|---|---|---|",
                  f"| recneg lab winner (trial {b['trial'] + 1}): {b['strategy']}, "
                  f"{result.stop_after_epochs or result.params['epochs']} epochs | {t[rk]:.4f} | {t[nk]:.4f} | "
                  f"{result.refit_seconds:.1f} |"]
        for r in result.reference:
            lines.append(f"| {r['model']} | {r[rk]:.4f} | {r[nk]:.4f} | {r['fit_seconds']:.1f} |")
        cmd = train_command(result.params, result.stop_after_epochs)
        lines += ["", f"**Recommended:** {b['strategy']} — on test (refit on full train): {rk} = {t[rk]:.4f}, "
                      f"{nk} = {t[nk]:.4f}.",
                  "", "Reproduce: " + (f"`{cmd}`" if cmd else "`recneg.tuning.build_best('best.json')` (the flags of "
                                       "`recneg train` cannot express this configuration)") + "."]
    elif result.reference:
        lines += ["", f"| model | {rk} (test) | {nk} (test) | fit s |", "|---|---|---|---|"]
        lines += [f"| {r['model']} | {r[rk]:.4f} | {r[nk]:.4f} | {r['fit_seconds']:.1f} |" for r in result.reference]
    write_text("lab.md", "\n".join(lines) + "\n")
    best = {"best": result.best, "test": result.test_metrics, "params": result.params,
            "stop_after_epochs": result.stop_after_epochs, "train_command": cmd, "reference": result.reference,
            "search": header["search"]}
    write_text("best.json", json.dumps(_clean(best), indent=2, allow_nan=False) + "\n")
    if plot and not df.empty:
        try:
            _plot(df, out / "lab.png", rk)
        except ImportError as e:
            logger.warning("no plot: %s", e)
    logger.info("lab written to %s", out)


def _dims(factors: int | list[int]) -> str:
    return str(factors) if isinstance(factors, int) else f"{factors[0]} (searched: {', '.join(map(str, factors))})"


def _finalist_lines(rows: list[dict], rk: str) -> list[str]:
    """The lab.md lines on the finalists' re-validation (none when there was none)."""
    fin = [r for r in rows if r.get("revalidation")]
    if not fin:
        return []
    mean_key = next((k for r in fin for k in r if k.startswith(f"{rk} (mean of")), None)
    parts = [f"trial {r['trial'] + 1}: {_fmt(r[rk])}, then "
             + ", ".join(_fmt(v) for v in r["revalidation"])
             + (f" (mean {_fmt(r[mean_key])})" if mean_key and mean_key in r else " (cut by the budget)")
             for r in fin]
    return ["", f"Finalists, fitted again on more validation splits (other seeds) and ranked by their mean "
                f"{rk}: " + "; ".join(parts) + "."]


def _round(x: float) -> float | None:
    return round(x, 2) if math.isfinite(x) else None


def _clean(v: Any) -> Any:
    """``v`` as strict JSON values: numpy scalars as Python's, NaN/inf as None (JSON has no NaN)."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    return v


def _plot(df: Any, path: Path, metric: str) -> Path:
    """Validation metric against the time each trial started, one colour per loss (hollow: pruned), and the
    best-so-far line."""
    from .plots import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    d = df[np.isfinite(df[metric].astype(float))]
    for loss, g in d.groupby("loss"):
        pr = g["status"] == "pruned"
        line = ax.scatter(g.loc[~pr, "started_s"] + g.loc[~pr, "train_seconds"], g.loc[~pr, metric], s=18,
                          label=str(loss))
        ax.scatter(g.loc[pr, "started_s"] + g.loc[pr, "train_seconds"], g.loc[pr, metric], s=18,
                   facecolors="none", edgecolors=line.get_facecolor())
    done = d[d["status"] != "pruned"].sort_values("started_s")
    if not done.empty:
        ax.step(done["started_s"] + done["train_seconds"], done[metric].cummax(), where="post", color="k", lw=1,
                label="best so far")
    ax.set_xlabel("seconds since the lab started (trial end)")
    ax.set_ylabel(f"{metric} (validation)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
