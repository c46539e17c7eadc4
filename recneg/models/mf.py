"""Matrix factorisation trained through recneg's samplers.

One front door, :class:`MatrixFactorization`, and behind it one class per backend, as implicit
splits CPU and GPU: :class:`NumbaMatrixFactorization` (per-pair Hogwild SGD in a numba kernel:
BPR and WARP, CPU) and :class:`TorchMatrixFactorization` (mini-batch Adam on torch: BPR, BCE, NCE,
sampled softmax and CCL, on any device, with shared, in-batch, mixed or all-item negatives).
``MatrixFactorization(...)`` returns the one that honours what it was asked for (``backend=``
forces one); each class lists only the options it honours.

Negatives come from a sampler object of :mod:`recneg.sampling`, exactly the one given::

    from recneg.sampling import NegativeSampler, DynamicNegativeSampler, InBatchSampler
    mf = MatrixFactorization(loss="bpr", sampler=NegativeSampler(k=1, alpha=0.0, exclude_seen=True))
    dns = MatrixFactorization(sampler=DynamicNegativeSampler(NegativeSampler(alpha=0.0), m=16, pool=64))
    sm = MatrixFactorization(loss=Softmax(temperature=0.1), sampler=NegativeSampler(k=1024, shared=True))
    mf.fit(train)                     # Interactions or scipy CSR (users x items)
    ids, scores = mf.recommend(0, train.csr[0], N=10)

An unbound sampler (no ``train``) is bound to the training matrix at ``fit``. Schedules
(``k``, ``alpha``, DNS ``m``, softmax ``temperature``) run over epochs: the numba kernels
evaluate them at the start of every epoch, the torch trainer before every batch at the
fractional epoch ``epoch + batch / batches`` (a scheduled alpha rebuilds the proposal once it
has moved 0.01). The values at each epoch's start are recorded in ``model.history``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from types import SimpleNamespace
from typing import IO, Any, Callable, ClassVar, Iterable

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .._io import atomic_savez, load_npz
from ..data.interactions import as_csr
from ..engine.divergence import TrainingDivergedError, check_finite
from ..sampling import (AllItems, DynamicNegativeSampler, InBatchSampler, MixedSampler, NegativeSampler, WarpSampler,
                        sampler_from_spec)
from ..sampling.schedules import ALPHA_REBUILD_STEP, ConstantSchedule, Schedule, is_constant
from . import _implicit_api as _api
from .losses import LOSS_NAMES, Loss, Softmax, as_loss

logger = logging.getLogger(__name__)

__all__ = ["MatrixFactorization", "NumbaMatrixFactorization", "TorchMatrixFactorization",
           "BayesianPersonalizedRanking", "StopTraining", "TrainingDivergedError", "UserBatches", "LOSSES"]

LOSSES = LOSS_NAMES
_SAMPLERS = (NegativeSampler, DynamicNegativeSampler, InBatchSampler, MixedSampler, WarpSampler, AllItems)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm (all-zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class StopTraining(Exception):
    """Raise from a callback to end :meth:`MatrixFactorization.fit` after the current epoch."""


class UserBatches:
    """``batching=UserBatches(positives_per_row=n)``: torch steps over batches of users (each with all
    its positives, the shared negatives scored once per user); ``positives_per_row`` cuts a user's
    positives, reshuffled every epoch, into rows of at most n (several updates per user per epoch).
    ``batching="users"`` is ``UserBatches()``."""

    def __init__(self, positives_per_row: int | None = None) -> None:
        if positives_per_row is not None and (isinstance(positives_per_row, bool) or not isinstance(
                positives_per_row, (int, np.integer)) or positives_per_row < 1):
            raise ValueError(f"positives_per_row must be a positive integer or None, got {positives_per_row!r}")
        self.positives_per_row = None if positives_per_row is None else int(positives_per_row)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserBatches) and other.positives_per_row == self.positives_per_row

    def __repr__(self) -> str:
        return f"UserBatches(positives_per_row={self.positives_per_row})"


def default_sampler(loss: Loss):
    """The sampler a loss trains with when none is given: uniform negatives with exact exclusion,
    one per positive for BPR/WARP, 4 for BCE and NCE (the same draws, so the two differ only by NCE's
    log(k q) correction), 1024 shared by the batch for softmax/CCL."""
    if loss.name == "warp":
        return WarpSampler(NegativeSampler(k=1, alpha=0.0), max_trials=100)
    if loss.name in ("softmax", "ccl"):
        return NegativeSampler(k=1024, alpha=0.0, shared=True)
    return NegativeSampler(k=4 if loss.name in ("bce", "nce") else 1, alpha=0.0)


def _as_sampler(sampler: Any, loss: Loss):
    if sampler is None:
        return default_sampler(loss)
    if isinstance(sampler, str) and sampler == "all":
        return AllItems()
    if isinstance(sampler, dict):
        return sampler_from_spec(sampler)
    if not isinstance(sampler, _SAMPLERS):
        raise TypeError(
            f"sampler must be a recneg.sampling sampler (NegativeSampler, DynamicNegativeSampler, InBatchSampler, "
            f"MixedSampler, WarpSampler, AllItems) or 'all', got {type(sampler).__name__}")
    return sampler


def _numba_can_train(loss: Loss, sampler: Any) -> bool:
    if loss.name not in ("bpr", "warp") or loss.score != "dot":
        return False
    if loss.name == "warp":
        return isinstance(sampler, WarpSampler)
    if isinstance(sampler, DynamicNegativeSampler):
        return sampler.score_fn is None and sampler.mode == "topk" and sampler.k == 1 and isinstance(
            sampler.base, NegativeSampler) and not sampler.base.shared
    return isinstance(sampler, NegativeSampler) and not sampler.shared


# options only the torch trainer honours: asking for one picks it
_TORCH_ONLY = ("batch_size", "batching", "history_weight", "device")


def _als_class() -> type:
    from .als import ALSMatrixFactorization  # imported late: als.py builds on this module

    return ALSMatrixFactorization


def _multi_process() -> bool:
    """Whether this process is one of several: torchrun's WORLD_SIZE > 1 or a torch.distributed group is up
    (checked without importing torch when no one has)."""
    if os.environ.get("WORLD_SIZE", "1").strip() not in ("", "1"):
        return True
    d = sys.modules.get("torch.distributed")
    return bool(d is not None and d.is_available() and d.is_initialized() and d.get_world_size() > 1)


def _is_main_process() -> bool:
    """False on the ranks of a process group but rank 0 (they stay quiet)."""
    d = sys.modules.get("torch.distributed")
    return not (d is not None and d.is_available() and d.is_initialized() and d.get_rank() != 0)


def _pick_backend(args: tuple, kwargs: dict) -> type:
    backend = kwargs.get("backend", "auto")
    if backend not in ("auto", "numba", "torch", "als"):
        raise ValueError(f"backend must be 'auto', 'numba', 'torch' or 'als', got {backend!r}")
    if backend == "als":
        return _als_class()
    if backend == "numba":
        return NumbaMatrixFactorization
    if backend == "torch":
        return TorchMatrixFactorization
    if _wants_default(args, kwargs):  # no loss, no sampler, no SGD option: the default chosen leave-one-dataset-out
        return _als_class()
    loss = as_loss(kwargs.get("loss", args[1] if len(args) > 1 else "bpr"))
    if loss.name == "ials":  # all items as weighted negatives, solved in closed form
        return _als_class()
    sampler = _as_sampler(kwargs.get("sampler", args[2] if len(args) > 2 else None), loss)
    torch_asked = [k for k in _TORCH_ONLY if k in kwargs and not (k == "device" and str(kwargs[k]) == "cpu")]
    if loss.name == "warp" or (_numba_can_train(loss, sampler) and not torch_asked):
        return NumbaMatrixFactorization
    return TorchMatrixFactorization


# options only the SGD trainers take: giving one (without a loss) asks for the sampled-negative default, BPR
_SGD_ONLY = ("lr", "lr_decay", "average_epochs", "use_bias", "pair_order", "batch_size", "batching", "history_weight")


def _wants_default(args: tuple, kwargs: dict) -> bool:
    """``MatrixFactorization()`` with neither a loss nor a sampler nor an SGD-only option nor a non-CPU device:
    the library's default configuration, iALS (every unseen item a weighted negative; chosen on validation splits
    of Gowalla, Last.fm and ML-100k, checked leave-one-dataset-out in benchmarks/RESULTS.md). Anything else keeps
    the sampled default, BPR."""
    if len(args) > 1 or kwargs.get("loss") is not None or kwargs.get("sampler") is not None:
        return False
    if str(kwargs.get("device", "cpu")) != "cpu":
        return False
    return not any(k in kwargs for k in _SGD_ONLY)


def _check_int(name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _check_pos(name: str, v: Any, strict: bool = True) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {v!r}") from None
    if isinstance(v, bool) or not math.isfinite(f) or (f <= 0 if strict else f < 0):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {v!r}")
    return f


class _FrontDoor(type):
    """``MatrixFactorization(...)`` builds the backend class that honours its arguments (see :func:`_pick_backend`);
    a backend class called directly builds itself."""

    def __call__(cls, *args: Any, **kwargs: Any):
        backend = kwargs.pop("backend", "auto")
        if cls is MatrixFactorization:
            cls = _pick_backend(args, dict(kwargs, backend=backend))
        elif backend not in ("auto", cls.backend):
            raise ValueError(f"{cls.__name__} is the {cls.backend} backend; got backend={backend!r}")
        return super().__call__(*args, **kwargs)


class MatrixFactorization(metaclass=_FrontDoor):
    """Matrix factorisation trained with a sampler's negatives: the front door.

    ``MatrixFactorization(...)`` returns a :class:`NumbaMatrixFactorization` (loss ``"bpr"``/``"warp"``
    with per-example proposal, DNS or WARP negatives, on the CPU) or a :class:`TorchMatrixFactorization`
    (everything else: shared, in-batch, mixed or all-item negatives, softmax/CCL/BCE/NCE, ``batch_size``,
    ``device``); ``backend="numba"``/``"torch"`` forces one. Their docstrings list their options.
    ``loss="ials"`` (every item a weighted negative) returns an :class:`~recneg.models.als.ALSMatrixFactorization`.

    **Defaults.** ``MatrixFactorization()`` with no loss, no sampler, no SGD-only option (``lr``,
    ``lr_decay``, ``average_epochs``, ``use_bias``, ``pair_order``, ``batch_size``, ``batching``,
    ``history_weight``) and a CPU device is iALS (unobserved ratio 10, reg 0.01, 8 epochs): the one
    configuration that beat implicit's ALS on Gowalla, Last.fm and ML-100k at under half its fit time,
    chosen on validation splits (leave-one-dataset-out table in benchmarks/RESULTS.md). Give a loss or a
    sampler for the sampled-negative models; their default loss is ``"bpr"``.

    Common args:
        factors: embedding size d (> 0).
        loss: ``"bpr"``, ``"warp"``, ``"bce"``, ``"nce"``, ``"softmax"``, ``"ccl"`` or a
            :mod:`recneg.models.losses` object with its options (e.g. ``Softmax(temperature=0.1)``).
            ``"nce"`` (noise-contrastive estimation: BCE on logits minus ``log(k q)``, ``q`` the sampler's
            law) trains on torch: the front door routes it there, the numba backend refuses it.
        sampler: a :mod:`recneg.sampling` sampler, bound to the training matrix at ``fit`` if it has
            none: ``NegativeSampler`` (k, alpha or weights, exact exclusion, shared), ``DynamicNegativeSampler``
            (hard negatives: best of m, optionally from a per-user pool), ``InBatchSampler``,
            ``MixedSampler``, ``WarpSampler`` or ``AllItems()`` (``"all"``: every item, the exact full
            softmax). Default: see :func:`default_sampler`.
        lr, reg, epochs, lr_decay ("linear" or None), init_std (normal init std), average_epochs (end with
        the mean of the factors after each of the last k epochs), workers, seed.

    Attributes (after fit):
        user_factors (n_users, d[+1]) and item_factors (n_items, d[+1]), float32; history: per-epoch dicts
        (loss, seconds, the sampler's k/alpha/m and the temperature in force, validation values).
    """

    backend: ClassVar[str] = ""
    _OPTIONS: ClassVar[tuple[str, ...]] = ()

    def _init_common(self, factors: int, loss: Any, sampler: Any, lr: float, reg: float, epochs: int,
                     lr_decay: str | None, init_std: float, average_epochs: int, workers: int, seed: int | None) -> None:
        self.factors = _check_int("factors", factors, 1)
        self.loss = as_loss(loss)
        if self.loss.name == "ials":
            raise ValueError(f"loss='ials' is solved by alternating least squares: use backend='als' (or 'auto'), "
                             f"not the {self.backend} backend")
        self.sampler = _as_sampler(sampler, self.loss)
        self.lr = _check_pos("lr", lr)
        self.reg = _check_pos("reg", reg, strict=False)
        self.epochs = _check_int("epochs", epochs, 0)
        if lr_decay not in (None, "linear"):
            raise ValueError(f"lr_decay must be None or 'linear', got {lr_decay!r}")
        self.lr_decay = lr_decay
        self.init_std = _check_pos("init_std", init_std)
        self.average_epochs = _check_int("average_epochs", average_epochs, 0)
        if self.average_epochs > self.epochs:
            raise ValueError(f"average_epochs must be an integer in [0, epochs={epochs}], got {average_epochs!r}")
        self.workers = _check_int("workers", workers, 1)
        self.seed = seed
        self._U: np.ndarray | None = None
        self._V: np.ndarray | None = None
        self._b: np.ndarray | None = None
        self.history: list[dict] = []

    # ------------------------------------------------------------------ config
    @property
    def score(self) -> str:
        """``"dot"`` or ``"cosine"`` (the loss's)."""
        return self.loss.score

    @property
    def use_bias(self) -> bool:
        return bool(getattr(self, "_use_bias", False))

    def get_params(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict (sampler and loss as specs)."""
        out: dict[str, Any] = {}
        for k in self._OPTIONS:
            v = getattr(self, k)
            if k == "loss":
                v = v.to_spec()
            elif k == "sampler":
                v = v.to_spec()
            elif k == "batching" and isinstance(v, UserBatches):
                v = {"positives_per_row": v.positives_per_row}
            out[k] = v
        out["backend"] = self.backend
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(factors={self.factors}, loss={self.loss!r}, sampler={self.sampler!r})"

    # --------------------------------------------------------------- factors
    def _check_fitted(self) -> None:
        if self._U is None:
            raise RuntimeError("model is not fitted: call fit(user_items) or MatrixFactorization.load(path) first")

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return self._U.shape[0]

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self._V.shape[0]

    def _item_vecs(self) -> np.ndarray:
        V = self._V
        if self.score == "cosine":
            V = _unit_rows(V)
        return V

    @property
    def user_factors(self) -> np.ndarray:
        """float32 (n_users, d), plus a column of ones when ``use_bias`` (so ``U @ V.T`` is the score)."""
        self._check_fitted()
        U = self._U
        if self.score == "cosine":
            U = _unit_rows(U)
        if self.use_bias:
            U = np.hstack([U, np.ones((U.shape[0], 1), np.float32)])
        return np.ascontiguousarray(U, dtype=np.float32)

    @property
    def item_factors(self) -> np.ndarray:
        """float32 (n_items, d), plus the item-bias column when ``use_bias``; unit rows for cosine scores."""
        self._check_fitted()
        V = self._item_vecs()
        if self.use_bias:
            V = np.hstack([V, self._b[:, None]])
        return np.ascontiguousarray(V, dtype=np.float32)

    # ------------------------------------------------------------------- fit
    def fit(self, user_items: Any, show_progress: bool = True, callbacks: Iterable[Callable] | None = None,
            validation: Callable[[int, "MatrixFactorization"], Any] | None = None,
            patience: int | None = None, monitor: str | None = None,
            callback: Callable[..., Any] | None = None) -> "MatrixFactorization":
        """Train on ``user_items`` (Interactions or scipy sparse, users x items; non-zeros are positives).

        A scipy matrix in another format than CSR is converted, with a warning
        (:class:`~recneg.models._implicit_api.ParameterWarning`, implicit's ``ParameterWarning`` when implicit
        is imported), as implicit does.

        Args:
            show_progress: a tqdm bar over the epochs (implicit's name).
            callbacks: callables ``cb(epoch, model)`` run after every epoch; a truthy
                return value or raising :class:`StopTraining` stops training.
            callback: implicit's hook: ``callback(epoch, elapsed, loss)`` after every epoch, with the epoch's
                seconds and its loss (as implicit's ALS calls it; iALS's loss is NaN unless
                ``calculate_training_loss=True``, where implicit passes None; implicit's BPR passes
                ``(epoch, elapsed, correct, skipped)`` instead, counts recneg's kernels do not keep). Its
                return value is ignored, as in implicit; raising :class:`StopTraining` stops training.
            validation: ``fn(epoch, model)`` returning a number or a dict of numbers
                (e.g. ``{"recall@20": ...}``); recorded in ``history``.
            patience: with ``validation``, stop after this many epochs without
                improvement (higher is better) and restore the best factors.
            monitor: key of the validation dict to watch (default: its first key).

        Returns:
            self

        Raises:
            TrainingDivergedError: (a ValueError) the loss or factors became NaN/inf, checked after
                every epoch (lr too high); the model is then left unfitted.
        """
        self._check_processes()
        _api.warn_if_not_csr(user_items)
        X = as_csr(user_items, binary=True)
        n_users, n_items = X.shape
        if X.nnz == 0:
            raise ValueError("user_items has no interactions: nothing to train on")
        if patience is not None and validation is None:
            raise ValueError("patience needs a validation callable (validation=fn(epoch, model))")
        if patience is not None and self.average_epochs:
            raise ValueError("patience keeps the best epoch's factors and average_epochs averages the last ones; "
                             "use one of them (set average_epochs=0 or patience=None)")
        callbacks = list(callbacks or [])
        self.sampler.bind(X)
        rng = np.random.default_rng(self.seed)
        d = self.factors
        self._U = (rng.standard_normal((n_users, d)) * self.init_std).astype(np.float32)
        self._V = (rng.standard_normal((n_items, d)) * self.init_std).astype(np.float32)
        self._b = np.zeros(n_items, dtype=np.float32)
        self.history = []
        self.sampler.set_step(0)
        trainer = self._make_trainer(X, rng)

        best_val, best_state, bad = -math.inf, None, 0
        avg: list = []  # [n, sum of U, sum of V, sum of b] over the averaged epochs
        main = _is_main_process()  # in a torchrun job only rank 0 shows progress
        level = logging.INFO if main else logging.DEBUG  # and only rank 0 speaks for the job
        bar = tqdm(range(self.epochs), desc=f"mf-{self.loss.name}", disable=not show_progress or not main, leave=False)
        try:
            for epoch in bar:
                t0 = time.perf_counter()
                rec: dict[str, Any] = {"epoch": epoch, **self._apply_schedules(trainer, epoch)}
                loss = trainer(epoch)
                rec.update(loss=loss, seconds=time.perf_counter() - t0)
                self._check_diverged(trainer, epoch, loss)  # before averaging, validation and callbacks see factors
                averaging = self.average_epochs and epoch >= self.epochs - self.average_epochs
                if averaging or validation is not None or callbacks or callback is not None:
                    self._sync_from_trainer(trainer)  # once: the consumers below only read the factors
                if averaging:
                    self._accumulate(avg)
                stop = False
                if validation is not None:
                    val = validation(epoch, self)
                    if isinstance(val, dict):
                        rec.update(val)
                        key = monitor or (next(iter(val)) if val else None)
                        cur = val.get(key) if key is not None else None
                    elif val is not None:
                        rec["val"] = cur = float(val)
                    else:
                        cur = None
                    if cur is not None and patience is not None:
                        if cur > best_val:
                            best_val, bad = cur, 0
                            best_state = (self._U.copy(), self._V.copy(), self._b.copy())
                        else:
                            bad += 1
                            if bad >= patience:
                                stop = True
                self.history.append(rec)
                if loss == loss:  # NaN: not computed (iALS without calculate_training_loss)
                    bar.set_postfix(loss=f"{loss:.4f}")
                logger.debug("epoch %d: %s", epoch, rec)
                for cb in callbacks:
                    try:
                        if cb(epoch, self):
                            stop = True
                    except StopTraining:
                        stop = True
                if callback is not None:
                    try:
                        callback(epoch, rec["seconds"], loss)
                    except StopTraining:
                        stop = True
                agree = getattr(trainer, "agree_stop", None)  # data-parallel: a stop on any rank stops all
                if agree is not None:
                    stop = agree(stop)
                if stop:
                    logger.log(level, "stopping after epoch %d", epoch)
                    break
        finally:  # a bar left open (Ctrl-C, a diverged epoch) would garble the next line on stderr
            bar.close()
        self._sync_from_trainer(trainer)
        if best_state is not None and patience is not None:
            self._U, self._V, self._b = best_state
        if avg:
            n = avg[0]
            self._U, self._V, self._b = (x / np.float32(n) for x in avg[1:])
            logger.log(level, "factors averaged over the last %d epochs", n)
        return self

    def _check_processes(self) -> None:
        """ValueError when this process is one of several and this backend cannot train data-parallel."""
        if self.backend == "torch" or not _multi_process():
            return
        from .. import distributed

        what = ("iALS (loss='ials', also what MatrixFactorization() without arguments trains)" if self.backend == "als"
                else "the numba backend (per-pair Hogwild SGD on one machine's cores)")
        distributed.require_single_process(
            what, "for data-parallel training use MatrixFactorization(loss=..., backend='torch', device=...) "
                  "(e.g. loss='softmax'), or start one process without torchrun")

    def _sampler_values(self, epoch: int) -> dict[str, Any]:
        """Set every schedule to ``epoch``; returns the values now in force (recorded in history)."""
        s = self.sampler
        s.set_step(epoch)
        vals: dict[str, Any] = {}
        base = s.base if isinstance(s, (DynamicNegativeSampler, WarpSampler)) else (
            s.proposal if isinstance(s, MixedSampler) else s)
        if isinstance(base, NegativeSampler):
            vals.update(k=base.k, alpha=base.alpha)
        if isinstance(s, DynamicNegativeSampler):
            vals["m"] = s.m
        if isinstance(self.loss, Softmax):
            vals["temperature"] = self._temperature(epoch)
        return vals

    def _temperature(self, epoch: int) -> float:
        t = getattr(self.loss, "temperature", 1.0)
        return float(t(epoch)) if callable(t) else float(t)

    def _check_diverged(self, trainer: Any, epoch: int, loss: float) -> None:
        """Once per epoch: raise :class:`TrainingDivergedError` on a non-finite loss or factor,
        leaving the model unfitted."""
        params = getattr(trainer, "params", None)  # torch trainer: its tensors; numba: self's arrays, in place
        arrays = params() if params is not None else {
            "user factors": self._U, "item factors": self._V, "item biases": self._b}
        try:
            check_finite(epoch, self.epochs, loss, arrays, "lr", self.lr)
        except TrainingDivergedError:
            self._U = self._V = self._b = None
            raise

    def _accumulate(self, avg: list) -> None:
        """Add the current factors (unit rows for cosine scores) to the running sums in ``avg``."""
        U, V = self._U, self._V
        if self.score == "cosine":
            U, V = _unit_rows(U), _unit_rows(V)
        if not avg:
            avg.extend([0, np.zeros_like(U), np.zeros_like(V), np.zeros_like(self._b)])
        avg[0] += 1
        avg[1] += U
        avg[2] += V
        avg[3] += self._b

    def _sync_from_trainer(self, trainer) -> None:
        sync = getattr(trainer, "sync", None)
        if sync is not None:
            sync()

    def _make_trainer(self, X: sp.csr_matrix, rng: np.random.Generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply_schedules(self, trainer: Any, epoch: int) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------- inference
    def _scores(self, users: np.ndarray) -> np.ndarray:
        return self._score_vectors(self._U[users])

    def _score_vectors(self, U: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """Scores (len(U), n_items or len(items)) of user vectors ``U`` (rows of ``_U``'s kind) against the items."""
        V = self._item_vecs()
        if items is not None:
            V = V[items]
        s = U @ V.T
        if self.use_bias:
            s = s + (self._b if items is None else self._b[items])[None, :]
        return s

    def recommend(self, userid: int | np.ndarray, user_items: Any = None, N: int = 10,
                  filter_already_liked_items: bool = True, filter_items: np.ndarray | None = None,
                  recalculate_user: bool = False, items: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Top-N items for one user or an array of users (implicit's ``recommend``, same arguments and rules).

        Args:
            userid: int or int array of user indices.
            user_items: CSR of the users' known items, one row per requested user (implicit's rule; for an
                array of users the full (n_users, n_items) matrix is accepted too, its rows picked by
                ``userid``); needed to filter liked items or to recalculate users. A CSC/COO matrix raises
                ValueError, as in implicit.
            N: list length (at most the number of candidate items).
            filter_already_liked_items: drop the items in ``user_items`` (with ``items``, they rank last).
            filter_items: item indices never to recommend.
            recalculate_user: compute the users' factors from ``user_items`` instead of the stored ones
                (then ``userid`` need not be a trained user). Only iALS
                (:class:`~recneg.models.als.ALSMatrixFactorization`) can; other models raise NotImplementedError.
            items: rank only these item indices (not together with ``filter_items``); an index outside the
                model raises IndexError.

        Returns:
            (ids int32, scores float32), shape (N,) for an int ``userid`` else (n, N).
        """
        self._check_fitted()
        scalar, users = _api.check_query_ids(userid, None if recalculate_user else self.n_users, "userid")
        if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive integer, got {N!r}")
        rows = None
        if filter_already_liked_items or recalculate_user:
            if user_items is None:
                raise ValueError(f"{'recalculate_user' if recalculate_user else 'filter_already_liked_items'}=True "
                                 f"needs user_items (CSR of the users' known items, one row per user); pass it"
                                 + ("" if recalculate_user else " or set filter_already_liked_items=False"))
            rows = _api.query_rows(user_items, users, scalar, self.n_items,
                                   n_full=None if recalculate_user else self.n_users)
        cand = _api.candidate_ids(items, filter_items, self.n_items)
        excl = _api.check_filter(filter_items, self.n_items)
        U = self.recalculate_user(users, rows) if recalculate_user else self._U[users]
        scores = np.asarray(self._score_vectors(U, cand), dtype=np.float32)
        if filter_already_liked_items:
            _api.mask_rows(scores, rows, cand)
        if excl is not None:
            scores[:, excl] = -np.inf
        ids, sc = _api.rank_top_n(scores, N, cand)
        return (ids[0], sc[0]) if scalar else (ids, sc)

    def recalculate_user(self, userid: int | np.ndarray, user_items: Any) -> np.ndarray:
        """Users' factors computed from ``user_items`` (one row per user) without storing them (implicit's name).

        Raises:
            NotImplementedError: only iALS solves a user in closed form; sampled-loss models have no such solve.
        """
        raise NotImplementedError(f"recalculate_user needs a closed-form user solve, which only loss='ials' "
                                  f"(ALSMatrixFactorization) has; {type(self).__name__} (loss={self.loss.name!r}) "
                                  f"scores stored users only")

    def recalculate_item(self, itemid: int | np.ndarray, item_users: Any) -> np.ndarray:
        """Items' factors computed from ``item_users`` (items x users, one row per item), not stored.

        Raises:
            NotImplementedError: only iALS solves an item in closed form.
        """
        raise NotImplementedError(f"recalculate_item needs a closed-form item solve, which only loss='ials' "
                                  f"(ALSMatrixFactorization) has; {type(self).__name__} (loss={self.loss.name!r}) "
                                  f"compares stored items only")

    def similar_items(self, itemid: int | np.ndarray, N: int = 10, recalculate_item: bool = False,
                      item_users: Any = None, filter_items: np.ndarray | None = None,
                      items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Most cosine-similar items (implicit's ``similar_items``, same arguments).

        The query item itself comes first with score 1.0, its similarity to itself (unless it is filtered out,
        not among ``items``, or its vector is zero). It is placed first by construction: cos(x, x) = 1 is the
        maximum, but items with identical interactions get parallel vectors whose float32 cosine can round
        above the item's own (1.0000001 vs 0.99999994); with ``recalculate_item`` the query is the recalculated
        vector, which stands for the item itself.

        Args:
            itemid: int or int array of item indices.
            N: list length.
            recalculate_item: use factors computed from ``item_users`` (items x users CSR, one row per item)
                instead of the stored ones; only iALS can (others raise NotImplementedError). ``item_users`` is
                ignored otherwise, as in implicit.
            filter_items: item indices never to return. items: only these item indices (not with ``filter_items``).

        Returns:
            (ids int32, scores float32 cosines), shape (N,) for an int ``itemid`` else (n, N).
        """
        self._check_fitted()
        scalar, q = _api.check_query_ids(itemid, None if recalculate_item else self.n_items, "itemid")
        if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive integer, got {N!r}")
        cand = _api.candidate_ids(items, filter_items, self.n_items)
        excl = _api.check_filter(filter_items, self.n_items)
        if recalculate_item:
            rows = _api.query_rows(item_users, q, scalar, self.n_users, name="item_users", what="item")
            Q = self.recalculate_item(q, rows).reshape(q.size, -1)
        else:
            Q = self._V[q]
        ids, sc = _api.cosine_top_n(Q, _unit_rows(self._V), N, cand=cand, exclude=excl,
                                    self_ids=q if q.size == 0 or q.max() < self.n_items else None)
        return (ids[0], sc[0]) if scalar else (ids, sc)

    def similar_users(self, userid: int | np.ndarray, N: int = 10, filter_users: np.ndarray | None = None,
                      users: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Most cosine-similar users by their factors (implicit's ``similar_users``); the user itself first.

        Args:
            userid: int or int array of user indices. N: list length.
            filter_users: user indices never to return. users: only these (not with ``filter_users``).

        Returns:
            (ids int32, scores float32 cosines), shape (N,) for an int ``userid`` else (n, N).
        """
        self._check_fitted()
        scalar, q = _api.check_query_ids(userid, self.n_users, "userid")
        if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive integer, got {N!r}")
        cand = _api.candidate_ids(users, filter_users, self.n_users, name="users", exclude_name="filter_users")
        excl = _api.check_filter(filter_users, self.n_users, "filter_users")
        ids, sc = _api.cosine_top_n(self._U[q], _unit_rows(self._U), N, cand=cand, exclude=excl, self_ids=q)
        return (ids[0], sc[0]) if scalar else (ids, sc)

    # ------------------------------------------------------------ save/load
    def save(self, file: str | os.PathLike | IO[bytes]) -> None:
        """Write the configuration (loss and sampler as specs) and the factors to an ``.npz`` file, atomically,
        or to an open binary file object (implicit's ``save``).

        The file also follows implicit's layout: ``user_factors`` and ``item_factors`` hold the scoring factors
        (``user_factors @ item_factors.T`` are the scores; with ``use_bias`` the user side ends with a column of
        ones and the item side with the biases, as implicit's BPR), so ``implicit``'s ``load`` reads a recneg
        file and recommends the same items. An unfitted model saves its configuration only.
        """
        arrays: dict[str, np.ndarray] = {"config": np.array(json.dumps(self.get_params()))}
        if self._U is not None:
            arrays.update(user_factors=self.user_factors, item_factors=self.item_factors)
            if self.score == "cosine":  # the unit rows above do not give back the raw factors
                arrays.update(U=self._U, V=self._V)
            arrays.update(self._state_arrays())
        atomic_savez(file, **arrays)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Fitted state beyond the factors that :meth:`save` writes (subclasses add theirs)."""
        return {}

    def _set_state_arrays(self, z: dict[str, np.ndarray]) -> None:
        """Read back what :meth:`_state_arrays` wrote."""

    @staticmethod
    def load(file: str | os.PathLike | IO[bytes]) -> "MatrixFactorization":
        """Read a model written by :meth:`save` (files of the API before samplers too), from a path or an open
        binary file object; also reads files saved by implicit's ``BayesianPersonalizedRanking`` and
        ``AlternatingLeastSquares`` (see :func:`recneg.compat.implicit.from_implicit_arrays`)."""
        z = load_npz(file, "MatrixFactorization")
        shown = _api.file_name(file)
        if "config" not in z:
            if "user_factors" in z or "item_factors" in z or "factors" in z:
                from ..compat.implicit import from_implicit_arrays

                return from_implicit_arrays(z, shown)
            raise ValueError(f"{shown} is not a recneg MatrixFactorization .npz file written by "
                             f"MatrixFactorization.save: it is missing the array(s) config")
        try:
            cfg = json.loads(str(z["config"]))
            if "sampler" not in cfg:
                cfg = _legacy_params(cfg)
            model = MatrixFactorization(**cfg)
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{shown}: its model configuration is not valid ({e}); save the model again") from e
        if "U" in z and "V" in z:  # raw factors: files before the implicit layout, and cosine-score models
            model._U = z["U"].astype(np.float32)
            model._V = z["V"].astype(np.float32)
            if "b" in z:
                model._b = z["b"].astype(np.float32)
            elif model.use_bias:
                model._b = np.ascontiguousarray(z["item_factors"][:, -1], dtype=np.float32)
            else:
                model._b = np.zeros(model._V.shape[0], dtype=np.float32)
        elif "user_factors" in z and "item_factors" in z:
            uf, itf = z["user_factors"], z["item_factors"]
            if model.use_bias:
                uf, b, itf = uf[:, :-1], itf[:, -1], itf[:, :-1]
            else:
                b = np.zeros(itf.shape[0], dtype=np.float32)
            model._U = np.ascontiguousarray(uf, dtype=np.float32)
            model._V = np.ascontiguousarray(itf, dtype=np.float32)
            model._b = np.ascontiguousarray(b, dtype=np.float32)
        model._set_state_arrays(z)
        return model


class NumbaMatrixFactorization(MatrixFactorization):
    """Per-pair Hogwild SGD in a numba kernel (:class:`recneg.engine.bpr.NumbaBPRTrainer`), on the CPU.

    Trains ``loss="bpr"`` with a ``NegativeSampler`` (k negatives per positive, not shared) or a
    ``DynamicNegativeSampler`` over one (best of m, optionally from a per-user pool of candidates),
    and ``loss="warp"`` with a ``WarpSampler``. Every negative is drawn by the sampler's numba
    draw functions (:mod:`recneg.sampling.kernels`), with exact exclusion.

    Args:
        factors, loss, sampler, epochs, lr_decay, init_std, average_epochs, workers, seed: see
            :class:`MatrixFactorization`.
        lr: step (default 0.05): plain SGD for BPR, adagrad for WARP (as LightFM's).
        reg: L2 coefficient per update, ``lr * reg * param`` (default 0.01 for BPR, 0 for WARP as in LightFM).
        init_std: std of the normal initialisation (default 0.1 for BPR, 0.01 for WARP). The WARP defaults
            were chosen on validation splits carved from the ML-100k and Last.fm training sets and checked
            on Gowalla (benchmarks/RESULTS.md, "WARP").
        use_bias: learn an item bias (appended as an extra factor column).
        device: "cpu" only (accepted so that ``device="cpu"`` picks no other backend).
        pair_order: "user" (default: users in a new random order each epoch, each user's pairs in one
            block: about 2x faster on Gowalla at the same Recall) or "shuffle" (all pairs shuffled).
    """

    backend = "numba"
    _OPTIONS = ("factors", "loss", "sampler", "lr", "reg", "epochs", "lr_decay", "init_std", "use_bias",
                "average_epochs", "workers", "seed", "pair_order", "device")

    def __init__(self, factors: int = 64, loss: Any = "bpr", sampler: Any = None, lr: float | None = None,
                 reg: float | None = None, epochs: int = 30, lr_decay: str | None = None, init_std: float | None = None,
                 use_bias: bool = False, average_epochs: int = 0, workers: int = 2, seed: int | None = 0,
                 pair_order: str = "user", device: str = "cpu") -> None:
        warp = as_loss(loss).name == "warp"
        if lr is None:
            lr = 0.05
        if reg is None:
            reg = 0.0 if warp else 0.01
        if init_std is None:
            init_std = 0.01 if warp else 0.1
        self._init_common(factors, loss, sampler, lr, reg, epochs, lr_decay, init_std, average_epochs, workers,
                          seed)
        if self.loss.name not in ("bpr", "warp") or self.loss.score != "dot":
            why = (" (the numba kernel is pairwise; NCE, like BCE, is pointwise and trains on torch with the "
                   "sampler's per-example log q)" if self.loss.name == "nce" else "")
            raise ValueError(f"the numba backend trains loss='bpr' or 'warp' on dot products; got loss="
                             f"{self.loss!r}{why}: use backend='torch' (or leave backend='auto'; "
                             f"device= works on torch)")
        if not _numba_can_train(self.loss, self.sampler):
            need = ("a WarpSampler" if self.loss.name == "warp" else
                    "a NegativeSampler (not shared) or a DynamicNegativeSampler over one (topk, k=1, no score_fn)")
            raise ValueError(f"the numba backend draws per-example negatives: loss={self.loss.name!r} needs {need}, "
                             f"got {self.sampler!r}; use backend='torch' for shared, in-batch, mixed or all-item "
                             f"negatives")
        if pair_order not in ("shuffle", "user"):
            raise ValueError(f"pair_order must be 'shuffle' or 'user', got {pair_order!r}")
        if str(device) != "cpu":
            raise ValueError(f"the numba backend runs on the CPU; got device={device!r}: use backend='torch' for "
                             f"other devices")
        self.device = "cpu"
        self._use_bias = bool(use_bias)
        self.pair_order = pair_order

    def _proposal(self) -> NegativeSampler:
        s = self.sampler
        return s.base if isinstance(s, (DynamicNegativeSampler, WarpSampler)) else s

    def _make_trainer(self, X: sp.csr_matrix, rng: np.random.Generator):
        from ..engine.bpr import NumbaBPRTrainer

        s, base = self.sampler, self._proposal()
        dns = isinstance(s, DynamicNegativeSampler)
        kw: dict[str, Any] = {}
        if self.loss.name == "warp":
            kw.update(loss="warp", warp_trials=s.max_trials, margin=self.loss.margin)
        return NumbaBPRTrainer(
            X, self._U, self._V, self._b, base.kernel_sampler(), negatives=base.k,
            dns_candidates=s.m if dns else 1, dns_pool=s.pool if dns else 0, lr=self.lr, reg=self.reg,
            use_bias=self.use_bias, epochs=self.epochs, lr_decay=self.lr_decay, workers=self.workers,
            pair_order=self.pair_order, seed=self.seed, shuffle_state=int(rng.integers(1, 2**63, dtype=np.int64)),
            **kw)

    def _apply_schedules(self, trainer: Any, epoch: int) -> dict[str, Any]:
        vals = self._sampler_values(epoch)
        base = self._proposal()
        trainer.negatives = base.k
        if isinstance(self.sampler, DynamicNegativeSampler):
            trainer.dns_m = self.sampler.m
        ks = base.kernel_sampler()  # the same object unless a schedule changed alpha
        if ks is not trainer.sampler:
            trainer.sampler = ks
        return vals


class TorchMatrixFactorization(MatrixFactorization):
    """Mini-batch training on torch (:class:`recneg.engine.mf_torch.TorchTrainer`), any device.

    Trains every loss but WARP with any sampler but ``WarpSampler``: per-example or shared
    ``NegativeSampler`` negatives (softmax/CCL share theirs by default), DNS (bpr/bce), in-batch
    negatives with logQ, mixed (in-batch + proposal), or ``AllItems()`` (the exact full softmax).
    NCE needs negatives with a known law q: a ``NegativeSampler`` (per-example or shared; q its
    proposal, untruncated also with exclusion) or an ``InBatchSampler(logq=True)`` (q the batch
    popularity); it refuses DNS, mixed and all-item negatives.
    Every negative is drawn by :mod:`recneg.sampling.torch_draws`.

    Args:
        factors, loss, sampler, epochs, lr_decay, init_std, average_epochs, workers, seed: see
            :class:`MatrixFactorization`.
        lr: Adam step (default 1e-3). reg: ``reg/2 * mean squared norm`` of a batch's embeddings (default 1e-4).
        batch_size: rows per step: pairs, or users with ``batching="users"``.
        batching: ``"pairs"`` (shuffled (user, item) pairs), ``"users"`` or :class:`UserBatches` (users with
            all their positives; shared negatives scored once per user: n_users x N GEMM work per epoch).
        history_weight: h in [0, 1); h > 0 represents a user as SimpleX does,
            ``(1 - h) e_u + h W mean(e_j over the user's training items)`` with a learned d x d ``W``.
        use_bias: learn an item bias (appended as an extra factor column).
        device: torch device ("cpu", "cuda", ...); workers: CPU threads when on the CPU.

    Started by ``torchrun --nproc_per_node=N`` (or in any torch.distributed group), ``fit`` trains
    data-parallel (:mod:`recneg.engine.mf_torch_dist`): each rank trains its block of users
    (:func:`recneg.distributed.user_block`), item parameters are replicated with gradients averaged every
    step, ``batch_size`` is per rank, and every rank ends with the full model. Every rank must call ``fit``
    with the same matrix and arguments; ``validation`` and ``callbacks`` run on every rank, and a stop on any
    rank (a callback, patience) stops every rank after that epoch.
    The optimiser is Adam at ``lr``: torch's SparseAdam for pair batches, dense Adam with all-item negatives
    or ``history_weight``, and for user batches with sampled negatives dense Adam's trajectory computed on the
    rows each step reads (:class:`recneg.engine.row_adam.RowAdam`), so a step costs what its users and
    negatives touch, not the catalogue.
    """

    backend = "torch"
    _OPTIONS = ("factors", "loss", "sampler", "lr", "reg", "epochs", "batch_size", "batching", "lr_decay", "init_std",
                "history_weight", "use_bias", "average_epochs", "device", "workers", "seed")

    def __init__(self, factors: int = 64, loss: Any = "bpr", sampler: Any = None, lr: float = 1e-3,
                 reg: float = 1e-4, epochs: int = 30, batch_size: int = 1024, batching: Any = "pairs",
                 lr_decay: str | None = None, init_std: float = 0.1, history_weight: float = 0.0,
                 use_bias: bool = False, average_epochs: int = 0, device: str = "cpu", workers: int = 2,
                 seed: int | None = 0) -> None:
        self._init_common(factors, loss, sampler, lr, reg, epochs, lr_decay, init_std, average_epochs, workers,
                          seed)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        if isinstance(batching, dict):
            batching = UserBatches(**batching)
        if batching == "users":
            batching = UserBatches()
        if batching != "pairs" and not isinstance(batching, UserBatches):
            raise ValueError(f"batching must be 'pairs', 'users' or UserBatches(...), got {batching!r}")
        self.batching = batching
        try:
            h = math.nan if isinstance(history_weight, bool) else float(history_weight)
        except (TypeError, ValueError):
            h = math.nan
        if not 0.0 <= h < 1.0:
            raise ValueError(f"history_weight must be a number in [0, 1) (0 = plain MF), got {history_weight!r}")
        self.history_weight = h
        self._use_bias = bool(use_bias)
        self.device = str(device)
        self._check_sampler()

    @property
    def shared(self) -> bool:
        """Whether the batch shares one set of negatives (softmax/CCL by default; always for all-item)."""
        s = self.sampler
        if isinstance(s, AllItems):
            return True
        if isinstance(s, MixedSampler):
            return True
        if isinstance(s, NegativeSampler):
            return self.loss.name in ("softmax", "ccl") if s.shared is None else bool(s.shared)
        return False

    def _check_sampler(self) -> None:
        """Five rules: WARP is numba's; DNS here is per example; mixed negatives are shared; in-batch needs a
        logQ-corrected loss; user batches need shared proposal negatives."""
        s, name = self.sampler, self.loss.name
        if name == "nce":
            _check_nce_sampler(s)
        if name == "warp" or isinstance(s, WarpSampler):
            raise ValueError("WARP runs in the numba kernel: use loss='warp' with a WarpSampler and backend='numba' "
                             "(or 'auto')")
        if isinstance(s, DynamicNegativeSampler) and (
                name not in ("bpr", "bce") or not isinstance(s.base, NegativeSampler) or s.base.shared or s.pool):
            raise ValueError(
                f"DynamicNegativeSampler on the torch path picks one hard negative per example from a per-example "
                f"NegativeSampler base (shared=False), without a pool, for loss='bpr' or 'bce' (got loss={name!r}, "
                f"base={s.base!r}, pool={s.pool}); for pool=... use the numba backend with loss='bpr'")
        if isinstance(s, MixedSampler) and not s.shared:
            raise ValueError("MatrixFactorization trains mixed negatives as Yang et al. (2020): the proposal part is "
                             "shared by the batch; use MixedSampler(..., shared=True)")
        if isinstance(s, (InBatchSampler, MixedSampler)) and name == "bce":
            raise ValueError("in-batch negatives with loss='bce' are not supported (no logQ correction for BCE); "
                             "use loss='softmax' or 'bpr'")
        if isinstance(self.batching, UserBatches) and (not self.shared or isinstance(s, (InBatchSampler,
                                                                                         MixedSampler))):
            raise ValueError(
                "batching='users' needs shared negatives (it scores proposal negatives shared by the batch once per "
                "user): use "
                "NegativeSampler(shared=True) (softmax/ccl share by default) or AllItems() (in-batch negatives come "
                f"from a batch of pairs), or batching='pairs' (got sampler={s!r})")

    def _cfg(self) -> SimpleNamespace:
        """The trainer's configuration (its attribute names), derived from the loss and the sampler."""
        s, loss = self.sampler, self.loss
        base = s.base if isinstance(s, DynamicNegativeSampler) else s.proposal if isinstance(s, MixedSampler) else s
        prop = base if isinstance(base, NegativeSampler) else None
        return SimpleNamespace(
            factors=self.factors, loss=loss.name, score=loss.score,
            negatives="all" if isinstance(s, AllItems) else (prop.k if prop is not None else 1),
            share_negatives=self.shared, in_batch=isinstance(s, (InBatchSampler, MixedSampler)),
            mixed=isinstance(s, MixedSampler), sampler=prop,
            alpha=prop.alpha if prop is not None else 0.0,
            exclude_seen=(s.exclude_seen if isinstance(s, AllItems) else s.inbatch.mask_seen if isinstance(
                s, MixedSampler) else s.mask_seen if isinstance(s, InBatchSampler) else prop.exclude_seen),
            hard="dns" if isinstance(s, DynamicNegativeSampler) else None,
            dns_candidates=s.m if isinstance(s, DynamicNegativeSampler) else 1,
            logq=getattr(loss, "logq", True) if not isinstance(s, (InBatchSampler, MixedSampler)) else (
                (s.inbatch if isinstance(s, MixedSampler) else s).logq),
            lr=self.lr, reg=self.reg, lr_decay=self.lr_decay, epochs=self.epochs, batch_size=self.batch_size,
            batching="users" if isinstance(self.batching, UserBatches) else "pairs",
            positives_per_row=self.batching.positives_per_row if isinstance(self.batching, UserBatches) else None,
            device=self.device, seed=self.seed, margin=getattr(loss, "margin", 0.9),
            negative_weight=getattr(loss, "negative_weight", 1.0), temperature=self._temperature(0),
            use_bias=self.use_bias, max_tries=64, history_weight=self.history_weight, workers=self.workers,
            _U=self._U, _V=self._V, _b=self._b,
        )

    def _make_trainer(self, X: sp.csr_matrix, rng: np.random.Generator):
        from ..engine.mf_torch import TorchTrainer

        self._tcfg = self._cfg()
        counts = np.asarray(X.getnnz(axis=0), dtype=np.int64)
        prop = self._tcfg.sampler
        weights = prop.p if prop is not None else np.full(X.shape[1], 1.0 / X.shape[1])
        if self.loss.name == "nce" and prop is not None:
            _check_nce_support(weights, counts)
        from .. import distributed

        di = distributed.init(self.device)  # joins the torchrun job's process group, if any (idempotent)
        if di.is_distributed:
            from ..engine.mf_torch_dist import DistributedTorchTrainer

            trainer = DistributedTorchTrainer(self._tcfg, X, weights, counts, di)
        else:
            trainer = TorchTrainer(self._tcfg, X, weights, counts)
        if self._scheduled():  # schedules move per step on the torch path (per epoch in the numba kernels)
            trainer.before_step = lambda t: self._step_schedules(trainer, t)
        return trainer

    def _scheduled(self) -> bool:
        """Whether any of k, alpha, m or the softmax temperature follows a non-constant schedule."""
        s, prop = self.sampler, self._tcfg.sampler
        scheds = [] if prop is None else [prop.k_schedule, getattr(prop, "alpha_schedule", None)]
        if isinstance(s, DynamicNegativeSampler):
            scheds.append(s.m_schedule)
        t = getattr(self.loss, "temperature", None)
        return any(not is_constant(x) for x in scheds if isinstance(x, Schedule)) or callable(t) and not isinstance(
            t, ConstantSchedule)

    def _step_schedules(self, trainer: Any, t: float) -> None:
        """Per step (before each batch): k, m and the temperature at the fractional epoch ``t``; alpha too, but
        the proposal is rebuilt only once alpha has moved :data:`~recneg.sampling.schedules.ALPHA_REBUILD_STEP`
        from the table's (rebuilding tables every batch would cost more than the batch)."""
        cfg, s, prop = self._tcfg, self.sampler, self._tcfg.sampler
        if prop is not None:
            if cfg.negatives != "all":
                cfg.negatives = max(1, int(round(prop.k_schedule(t))))
            if prop.weights is None and abs(float(prop.alpha_schedule(t)) - cfg.alpha) >= ALPHA_REBUILD_STEP:
                prop.set_step(t)
                cfg.alpha = prop.alpha
                trainer.set_proposal(prop.p)
        if isinstance(s, DynamicNegativeSampler):
            cfg.dns_candidates = s.m_schedule.int_value(t)
        if isinstance(self.loss, Softmax):
            cfg.temperature = self._temperature(t)

    def _apply_schedules(self, trainer: Any, epoch: int) -> dict[str, Any]:
        vals = self._sampler_values(epoch)
        cfg = self._tcfg
        if cfg.sampler is not None and cfg.negatives != "all":
            cfg.negatives = cfg.sampler.k
        if isinstance(self.sampler, DynamicNegativeSampler):
            cfg.dns_candidates = self.sampler.m
        if isinstance(self.loss, Softmax):
            cfg.temperature = vals["temperature"]
        if cfg.sampler is not None and cfg.sampler.alpha != cfg.alpha:
            cfg.alpha = cfg.sampler.alpha
            if self.loss.name == "nce":
                _check_nce_support(cfg.sampler.p, trainer.item_counts)
            trainer.set_proposal(cfg.sampler.p)
        return vals

    def _sync_from_trainer(self, trainer) -> None:
        trainer.sync()
        self._U, self._V, self._b = self._tcfg._U, self._tcfg._V, self._tcfg._b


def _check_nce_sampler(s: Any) -> None:
    """ValueError unless ``s`` draws negatives from a law q that NCE can correct by (naming the fix)."""
    fix = ("use a NegativeSampler (per-example or shared=True: q is its proposal) or InBatchSampler(logq=True) "
           "(q is the batch popularity)")
    no_law = "loss='nce' corrects each logit by log(k q) of the law the negatives are drawn from; "
    problem = (
        f"{no_law}a WarpSampler's negatives (drawn until one violates the margin) follow no known law: {fix}"
        if isinstance(s, WarpSampler) else
        f"{no_law}a DynamicNegativeSampler's best-of-m negatives follow no known law: {fix}, or loss='bce' with DNS"
        if isinstance(s, DynamicNegativeSampler) else
        f"loss='nce' contrasts with sampled noise, but AllItems() scores the whole catalogue (no sample, no q): "
        f"{fix}, or loss='softmax' for the exact full softmax"
        if isinstance(s, AllItems) else
        f"loss='nce' is not supported with MixedSampler (two noise laws in one row): {fix}"
        if isinstance(s, MixedSampler) else
        "loss='nce' needs the in-batch negatives' law: InBatchSampler(logq=False) turns it off; use "
        "InBatchSampler(logq=True)"
        if isinstance(s, InBatchSampler) and not s.logq else None)
    if problem is not None:
        raise ValueError(problem)


def _check_nce_support(weights: np.ndarray, counts: np.ndarray) -> None:
    """ValueError when the proposal gives q = 0 to an item with training positives (its NCE logit would be
    ``s - log(k * 0) = +inf``). ``weights`` float (n_items,), ``counts`` int (n_items,) positives per item."""
    bad = np.flatnonzero((np.asarray(counts) > 0) & ~(np.asarray(weights) > 0))
    if bad.size:
        raise ValueError(f"loss='nce' needs q(i) > 0 for every item with training positives (its logit is "
                         f"s - log(k q)), but the sampler's proposal gives q = 0 to {bad.size} of them (e.g. item "
                         f"{bad[0]}); give them a positive weight in NegativeSampler(weights=...), or an alpha "
                         f"closer to 0")


def _legacy_params(cfg: dict) -> dict:
    """Constructor arguments of the API before models took samplers (files saved by recneg <= 0.1)."""
    name = cfg.get("loss", "bpr")
    loss: dict[str, Any] = {"name": name}
    if name in ("bpr", "bce", "softmax"):
        loss["score"] = cfg.get("score") or "dot"
    if name == "softmax":
        loss.update(temperature=cfg.get("temperature", 1.0), logq=cfg.get("logq", True))
    if name == "ccl":
        nw = cfg.get("negative_weight")
        loss.update(margin=cfg.get("margin", 0.9), negative_weight=150.0 if nw is None else nw)
    if name == "bce":
        nw = cfg.get("negative_weight")
        loss["negative_weight"] = 1.0 if nw is None else nw
    excl = cfg.get("exclude_seen", True)
    prop = {"sampler": "NegativeSampler", "k": cfg.get("negatives") or 1, "alpha": cfg.get("alpha", 0.0),
            "exclude_seen": excl, "shared": cfg.get("share_negatives")}
    if cfg.get("negatives") == "all":
        sampler: dict = {"sampler": "AllItems", "exclude_seen": excl}
    elif cfg.get("in_batch"):
        sampler = {"sampler": "InBatchSampler", "mask_seen": excl, "logq": cfg.get("logq", True)}
    elif cfg.get("hard") == "dns":
        sampler = {"sampler": "DynamicNegativeSampler", "base": prop, "m": cfg.get("dns_candidates", 8),
                   "pool": cfg.get("dns_pool", 0)}
    else:
        sampler = prop
    out = dict(factors=cfg.get("factors", 64), loss=loss, sampler=sampler, lr=cfg["lr"], reg=cfg["reg"],
               epochs=cfg.get("epochs", 30), lr_decay=cfg.get("lr_decay"), init_std=cfg.get("init_std") or 0.1,
               average_epochs=cfg.get("average_epochs", 0), workers=cfg.get("workers", 2), seed=cfg.get("seed", 0),
               backend=cfg.get("backend", "auto"))
    if out["backend"] == "numba":
        out.update(use_bias=cfg.get("use_bias", False), pair_order=cfg.get("pair_order", "user"))
    else:
        batching: Any = cfg.get("batching", "pairs")
        if batching == "users":
            batching = {"positives_per_row": cfg.get("positives_per_row")}
        out.update(batch_size=cfg.get("batch_size", 1024), batching=batching, use_bias=cfg.get("use_bias", False),
                   history_weight=cfg.get("history_weight", 0.0), device=cfg.get("device", "cpu"))
    return out


_IMPLICIT_NAMES = ("learning_rate", "regularization", "iterations", "num_threads", "random_state", "use_gpu",
                   "verify_negative_samples", "dtype")


def BayesianPersonalizedRanking(factors: int = 64, **kwargs: Any) -> MatrixFactorization:
    """``MatrixFactorization(loss="bpr", ...)`` under implicit's name, with recneg's parameter names (``lr``,
    ``reg``, ``epochs``, ...); :func:`recneg.compat.implicit.BayesianPersonalizedRanking` takes implicit's."""
    theirs = [k for k in _IMPLICIT_NAMES if k in kwargs]
    if theirs:
        raise TypeError(f"recneg.models.BayesianPersonalizedRanking takes recneg's parameter names (lr, reg, epochs, "
                        f"workers, seed), not implicit's {theirs}: use recneg.compat.implicit."
                        f"BayesianPersonalizedRanking for implicit's names and defaults")
    if kwargs.get("loss", "bpr") not in ("bpr",) and getattr(kwargs.get("loss"), "name", None) != "bpr":
        raise ValueError("BayesianPersonalizedRanking trains loss='bpr'; use MatrixFactorization for other losses")
    kwargs["loss"] = kwargs.get("loss", "bpr")
    return MatrixFactorization(factors=factors, **kwargs)
