"""Matrix factorisation with pluggable negatives and losses.

One class, :class:`MatrixFactorization`, trains user and item factors from
implicit feedback with any of four losses:

* ``"bpr"``: pairwise BPR. On CPU it runs a numba Hogwild SGD kernel
  (:mod:`recneg.engine.bpr`) that draws negatives itself (uniform or popularity^alpha
  alias table, seen-item exclusion, DNS hard negatives); elsewhere, or with
  ``in_batch=True`` / ``backend="torch"``, it runs on torch.
* ``"softmax"``: sampled softmax with logQ correction (Yi et al. 2019), many
  negatives shared by the batch (one [B, d] x [d, N] GEMM), temperature,
  accidental-hit and seen-item masking, optional in-batch negatives.
* ``"ccl"``: the cosine contrastive loss of SimpleX (Mao et al. 2021).
* ``"bce"``: binary cross-entropy on the positive and each negative (NCE-style).

The torch path uses lazy (sparse) Adam and is device-agnostic (``device="cuda"``).

Example::

    model = MatrixFactorization(factors=64, loss="bpr", alpha=0.0, epochs=30)
    model.fit(train)                  # Interactions or scipy CSR (users x items)
    ids, scores = model.recommend(0, train.csr[0], N=10)
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import Any, Callable, Iterable

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .._io import atomic_savez, load_npz
from ..engine.bpr import NumbaBPRTrainer
from ..engine.divergence import TrainingDivergedError, check_finite
from ..sampling.distributions import popularity
from ..sampling.kernels import KernelSampler

logger = logging.getLogger(__name__)

__all__ = ["MatrixFactorization", "BayesianPersonalizedRanking", "StopTraining", "TrainingDivergedError"]

LOSSES = ("bpr", "softmax", "ccl", "bce")
_SHARED_DEFAULT = {"bpr": False, "bce": False, "softmax": True, "ccl": True}
_NEG_DEFAULT = {"bpr": 1, "bce": 4, "softmax": 1024, "ccl": 1024}


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm (all-zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class StopTraining(Exception):
    """Raise from a callback to end :meth:`MatrixFactorization.fit` after the current epoch."""


def _as_csr(user_items: Any, name: str = "user_items") -> sp.csr_matrix:
    """Interactions or scipy sparse -> binary float32 CSR with sorted indices."""
    m = getattr(user_items, "csr", None)
    if m is None:
        m = user_items
    if not sp.issparse(m):
        raise TypeError(
            f"{name} must be a recneg Interactions or a scipy.sparse matrix (users x items), got "
            f"{type(user_items).__name__}; convert dense data with scipy.sparse.csr_matrix(x)"
        )
    if m.ndim != 2:
        raise ValueError(f"{name} must be 2-D (users x items), got shape {m.shape}")
    if m.format == "csr":  # read the arrays directly: tolerates mixed indptr/indices dtypes
        indptr = np.asarray(m.indptr, dtype=np.int64)
        row = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(indptr))
        col = np.asarray(m.indices, dtype=np.int64)
        data = np.asarray(m.data)
    else:
        coo = sp.coo_matrix(m)
        row, col, data = coo.row, coo.col, coo.data
    if (data < 0).any():
        raise ValueError(f"{name} contains negative values; give implicit feedback (counts/weights >= 0)")
    keep = data != 0
    m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (row[keep], col[keep])), shape=m.shape)
    m.sort_indices()
    m.data[:] = 1.0  # duplicates were summed
    return m


class MatrixFactorization:
    """Matrix factorisation trained with sampled negatives.

    Args:
        factors: embedding size d (> 0).
        loss: "bpr", "softmax", "ccl" or "bce".
        negatives: negatives per positive (per-example) or per batch (shared);
            default 1 for bpr, 4 for bce, 1024 for softmax/ccl. ``"all"`` scores every
            item as a negative (shared, torch path): the exact full softmax, no sampling.
        alpha: popularity exponent of the proposal, q_j ∝ count_j^alpha
            (0 = uniform over all items, 1 = frequency).
        exclude_seen: redraw (per-example) or mask (shared) negatives the user has seen.
        hard: None or "dns" (dynamic negative sampling: keep the best-scoring of
            ``dns_candidates`` draws). Per-example negatives only (bpr/bce).
        dns_candidates: candidates per DNS negative.
        dns_pool: numba kernel only: draw and score a pool of this many candidates once per
            user visit and pick each DNS negative as the best of ``dns_candidates`` picks from
            it (0 = fresh candidates for every negative). With the default user-block order this
            cuts DNS scoring from dns_candidates per update to dns_pool per user.
        in_batch: use the other positives of the batch as negatives (torch path);
            ``logq`` corrects for their popularity. ``negatives`` is then ignored.
        share_negatives: one set of negatives for the whole batch (default: True for
            softmax/ccl, False for bpr/bce).
        logq: subtract log q from logits (softmax) / importance-weight in-batch
            negatives (bpr). Default True.
        score: "dot" or "cosine" (ccl always uses cosine).
        lr: learning rate (default 0.05 for numba SGD, 1e-3 for torch Adam).
        reg: L2 coefficient (default 0.01 numba: ``reg * param`` per SGD update;
            1e-4 torch: ``reg/2 * mean squared norm`` of the batch's embeddings).
        epochs: passes over the training pairs.
        batch_size: rows per torch step (the numba kernel is per-pair SGD): pairs, or
            users with ``batching="users"``.
        batching: "pairs" (each torch step takes ``batch_size`` shuffled (user, item)
            pairs) or "users" (each step takes ``batch_size`` users with all their
            positives; the shared negatives are scored once per user, so the GEMM costs
            n_users x N instead of n_pairs x N per epoch; dense Adam). "users" needs
            shared negatives (softmax/ccl, or share_negatives=True, or negatives="all").
        positives_per_row: with batching="users", cut each user's positives (reshuffled every
            epoch) into rows of at most this many; each row is one unit of the batch, so a user
            gets several updates per epoch, each against fresh negatives. None = one row per user.
        workers: CPU threads (numba kernel, or torch on device="cpu").
        device: torch device for the torch path ("cpu", "cuda", ...).
        backend: "auto" (numba for bpr on CPU, else torch), "numba" or "torch".
        seed: seed of initialisation, shuffling and negatives.
        margin, negative_weight: CCL margin and negative weight (negative_weight
            also scales the bce negative term).
        temperature: softmax temperature.
        use_bias: learn an item bias (appended as an extra factor column).
        lr_decay: "linear" decays lr to 0 over ``epochs`` (per epoch on numba, per step on
            torch); None keeps it fixed.
        init_std: std of the normal initialisation (default 0.1).
        history_weight: h in [0, 1); h > 0 represents a user as SimpleX does (Mao et al. 2021),
            ``(1 - h) * e_u + h * W @ mean(e_j for j in the user's training items)`` with a learned
            d x d ``W`` (torch path). After fit, ``user_factors`` hold these representations of
            the training history, so ``recommend`` and the evaluator need nothing else; 0 = plain MF.
        average_epochs: k > 0 ends training with the average of the factors after each of the
            last k epochs (weight averaging, as in SWA; unit rows are averaged for cosine scores).
            Validation callbacks see the current, not the averaged, factors. 0 = the last epoch's.
        max_tries: torch path: draws per negative before giving up on finding an unseen item (the numba
            kernel's exclusion is exact and needs no limit).
        chunks: parallel work chunks per epoch in the numba kernel (fixed -> results
            independent of the thread count, up to Hogwild races).
        pair_order: visit order of the numba kernel's epoch: "user" (default: users in a new
            random order, each user's pairs in one block, shuffled within it; the user's factor
            and history rows stay in cache, about 2x faster per epoch on Gowalla at the same
            Recall) or "shuffle" (all pairs in a new random order).
        progress: show a tqdm bar over epochs.

    Attributes (after fit):
        user_factors: float32 (n_users, d[+1]); item_factors: float32 (n_items, d[+1]).
        history: list of per-epoch dicts (loss, seconds, validation values).
    """

    def __init__(
        self,
        factors: int = 64,
        loss: str = "bpr",
        negatives: int | str | None = None,
        alpha: float = 0.0,
        exclude_seen: bool = True,
        hard: str | None = None,
        dns_candidates: int = 8,
        dns_pool: int = 0,
        in_batch: bool = False,
        share_negatives: bool | None = None,
        logq: bool = True,
        score: str | None = None,
        lr: float | None = None,
        reg: float | None = None,
        epochs: int = 30,
        batch_size: int = 1024,
        batching: str = "pairs",
        positives_per_row: int | None = None,
        workers: int = 2,
        device: str = "cpu",
        backend: str = "auto",
        seed: int | None = 0,
        margin: float = 0.9,
        negative_weight: float | None = None,
        temperature: float = 1.0,
        use_bias: bool = False,
        lr_decay: str | None = None,
        init_std: float | None = None,
        history_weight: float = 0.0,
        average_epochs: int = 0,
        max_tries: int = 64,
        chunks: int = 256,
        pair_order: str = "user",
        progress: bool = True,
    ) -> None:
        if isinstance(factors, bool) or not isinstance(factors, (int, np.integer)) or factors <= 0:
            raise ValueError(f"factors must be a positive integer, got {factors!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if hard not in (None, "dns"):
            raise ValueError(f"hard must be None or 'dns', got {hard!r}")
        if backend not in ("auto", "numba", "torch"):
            raise ValueError(f"backend must be 'auto', 'numba' or 'torch', got {backend!r}")
        if score not in (None, "dot", "cosine"):
            raise ValueError(f"score must be 'dot' or 'cosine', got {score!r}")
        if loss == "ccl" and score == "dot":
            raise ValueError("loss='ccl' is defined on cosine scores; use score='cosine' (or leave score unset)")
        if lr_decay not in (None, "linear"):
            raise ValueError(f"lr_decay must be None or 'linear', got {lr_decay!r}")
        for name, v, lo in (("epochs", epochs, 0), ("batch_size", batch_size, 1), ("workers", workers, 1),
                            ("dns_candidates", dns_candidates, 1), ("max_tries", max_tries, 1),
                            ("chunks", chunks, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if negatives is not None and negatives != "all" and (
                isinstance(negatives, bool) or not isinstance(negatives, (int, np.integer)) or negatives < 1):
            raise ValueError(f"negatives must be a positive integer or 'all', got {negatives!r}")
        if positives_per_row is not None and (isinstance(positives_per_row, bool) or not isinstance(
                positives_per_row, (int, np.integer)) or positives_per_row < 1):
            raise ValueError(f"positives_per_row must be a positive integer or None, got {positives_per_row!r}")
        if positives_per_row is not None and batching != "users":
            raise ValueError("positives_per_row cuts user rows of batching='users'; set batching='users' or drop it")
        if pair_order not in ("shuffle", "user"):
            raise ValueError(f"pair_order must be 'shuffle' or 'user', got {pair_order!r}")
        if batching not in ("pairs", "users"):
            raise ValueError(f"batching must be 'pairs' or 'users', got {batching!r}")
        if not np.isfinite(alpha):
            raise ValueError(f"alpha must be a finite number, got {alpha!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        try:
            h = math.nan if isinstance(history_weight, bool) else float(history_weight)
        except (TypeError, ValueError):
            h = math.nan
        if not 0.0 <= h < 1.0:
            raise ValueError(f"history_weight must be a number in [0, 1) (0 = plain MF), got {history_weight!r}")

        self.factors = int(factors)
        self.loss = loss
        self.share_negatives = _SHARED_DEFAULT[loss] if share_negatives is None else bool(share_negatives)
        if negatives == "all":
            self.negatives: int | str = "all"
            if share_negatives is False:
                raise ValueError("negatives='all' scores the whole catalogue for every row (shared by "
                                 "definition); drop share_negatives=False")
            self.share_negatives = True
        else:
            self.negatives = int(negatives) if negatives is not None else _NEG_DEFAULT[loss]
        self.batching = batching
        self.positives_per_row = None if positives_per_row is None else int(positives_per_row)
        self.pair_order = pair_order
        self.alpha = float(alpha)
        self.exclude_seen = bool(exclude_seen)
        self.hard = hard
        self.dns_candidates = int(dns_candidates)
        if isinstance(dns_pool, bool) or not isinstance(dns_pool, (int, np.integer)) or dns_pool < 0:
            raise ValueError(f"dns_pool must be an integer >= 0, got {dns_pool!r}")
        self.dns_pool = int(dns_pool)
        self.in_batch = bool(in_batch)
        self.logq = bool(logq)
        self.score = "cosine" if loss == "ccl" else (score or "dot")
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.device = str(device)
        self.seed = seed
        self.margin = float(margin)
        self.temperature = float(temperature)
        self.use_bias = bool(use_bias)
        self.lr_decay = lr_decay
        self.history_weight = h
        if isinstance(average_epochs, bool) or not isinstance(average_epochs, (int, np.integer)) or not (
                0 <= average_epochs <= epochs):
            raise ValueError(f"average_epochs must be an integer in [0, epochs={epochs}], got {average_epochs!r}")
        self.average_epochs = int(average_epochs)
        self.max_tries = int(max_tries)
        self.chunks = int(chunks)
        self.progress = bool(progress)

        torch_only = self.in_batch or batching == "users" or self.negatives == "all" or self.history_weight > 0
        if backend == "auto":
            use_numba = (loss == "bpr" and self.device == "cpu" and not torch_only and self.score == "dot"
                         and not self.share_negatives)
            backend = "numba" if use_numba else "torch"
        if backend == "numba":
            if loss != "bpr":
                raise ValueError(f"backend='numba' implements loss='bpr' only; use backend='torch' for loss={loss!r}")
            if torch_only or self.share_negatives:
                raise ValueError("in_batch, shared negatives, batching='users', negatives='all' and history_weight "
                                 "need the torch path; use backend='torch' (or 'auto')")
            if self.score != "dot":
                raise ValueError("backend='numba' scores with dot products; use backend='torch' for score='cosine'")
            if self.device != "cpu":
                raise ValueError(f"backend='numba' runs on the CPU; got device={self.device!r}, use backend='torch'")
        self.backend = backend
        if hard == "dns" and loss in ("softmax", "ccl"):
            raise ValueError(
                f"hard='dns' is supported with loss='bpr' or 'bce' only: loss={loss!r} already weighs hard "
                "negatives through many negatives (and DNS would break the logQ correction); use hard=None"
            )
        if hard == "dns" and (self.share_negatives or self.in_batch):
            raise ValueError(
                f"hard='dns' picks a hard negative per example and is not supported with shared or in-batch "
                f"negatives (loss={loss!r}, share_negatives={self.share_negatives}, in_batch={self.in_batch}); "
                "use loss='bpr' or 'bce' with share_negatives=False, or hard=None"
            )
        if batching == "users" and (self.in_batch or not self.share_negatives):
            raise ValueError(
                "batching='users' scores negatives shared by the batch once per user; it needs shared negatives "
                f"(got in_batch={self.in_batch}, share_negatives={self.share_negatives}): use loss='softmax'/'ccl', "
                "share_negatives=True or negatives='all', or batching='pairs'")
        if self.in_batch and loss == "bce":
            raise ValueError("in_batch negatives with loss='bce' are not supported (no logQ correction for BCE); "
                             "use loss='softmax' or 'bpr' with in_batch=True, or in_batch=False")

        if self.dns_pool and (hard != "dns" or backend != "numba"):
            raise ValueError(f"dns_pool picks DNS negatives in the numba BPR kernel; it needs hard='dns' and the numba "
                             f"backend (got hard={hard!r}, backend={backend!r}); drop dns_pool or use loss='bpr' on CPU")
        numba = backend == "numba"
        self.lr = float(lr) if lr is not None else (0.05 if numba else 1e-3)
        self.reg = float(reg) if reg is not None else (0.01 if numba else 1e-4)
        self.init_std = float(init_std) if init_std is not None else 0.1
        self.negative_weight = float(negative_weight) if negative_weight is not None else (
            150.0 if loss == "ccl" else 1.0)
        if self.lr <= 0 or not np.isfinite(self.lr):
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if self.reg < 0:
            raise ValueError(f"reg must be >= 0, got {reg!r}")

        self._U: np.ndarray | None = None
        self._V: np.ndarray | None = None
        self._b: np.ndarray | None = None
        self.history: list[dict] = []

    # ------------------------------------------------------------------ config
    _CONFIG_KEYS = ("factors", "loss", "negatives", "alpha", "exclude_seen", "hard", "dns_candidates", "dns_pool",
                    "in_batch",
                    "share_negatives", "logq", "score", "lr", "reg", "epochs", "batch_size", "batching", "positives_per_row", "workers",
                    "device", "backend", "seed", "margin", "negative_weight", "temperature", "use_bias", "lr_decay", "init_std",
                    "history_weight", "average_epochs", "max_tries", "chunks", "pair_order", "progress")

    def get_params(self) -> dict:
        """Constructor arguments as a dict (JSON-serialisable)."""
        return {k: getattr(self, k) for k in self._CONFIG_KEYS}

    def __repr__(self) -> str:
        return (f"MatrixFactorization(factors={self.factors}, loss={self.loss!r}, negatives={self.negatives}, "
                f"alpha={self.alpha}, backend={self.backend!r})")

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
    def fit(self, user_items: Any, callbacks: Iterable[Callable] | None = None,
            validation: Callable[[int, "MatrixFactorization"], Any] | None = None,
            patience: int | None = None, monitor: str | None = None) -> "MatrixFactorization":
        """Train on ``user_items`` (Interactions or scipy sparse, users x items; non-zeros are positives).

        Args:
            callbacks: callables ``cb(epoch, model)`` run after every epoch; a truthy
                return value or raising :class:`StopTraining` stops training.
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
        X = _as_csr(user_items)
        n_users, n_items = X.shape
        if X.nnz == 0:
            raise ValueError("user_items has no interactions: nothing to train on")
        if patience is not None and validation is None:
            raise ValueError("patience needs a validation callable (validation=fn(epoch, model))")
        if patience is not None and self.average_epochs:
            raise ValueError("patience keeps the best epoch's factors and average_epochs averages the last ones; "
                             "use one of them (set average_epochs=0 or patience=None)")
        callbacks = list(callbacks or [])
        rng = np.random.default_rng(self.seed)
        d = self.factors
        self._U = (rng.standard_normal((n_users, d)) * self.init_std).astype(np.float32)
        self._V = (rng.standard_normal((n_items, d)) * self.init_std).astype(np.float32)
        self._b = np.zeros(n_items, dtype=np.float32)
        self.history = []

        counts = np.asarray(X.getnnz(axis=0), dtype=np.int64)
        weights = popularity(counts, alpha=self.alpha)
        trainer = self._numba_trainer(X, weights, rng) if self.backend == "numba" else self._torch_trainer(
            X, weights, counts)

        best_val, best_state, bad = -math.inf, None, 0
        avg: list = []  # [n, sum of U, sum of V, sum of b] over the averaged epochs
        bar = tqdm(range(self.epochs), desc=f"mf-{self.loss}", disable=not self.progress, leave=False)
        for epoch in bar:
            t0 = time.perf_counter()
            loss = trainer(epoch)
            rec: dict[str, Any] = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - t0}
            self._check_diverged(trainer, epoch, loss)  # before averaging, validation and callbacks see factors
            averaging = self.average_epochs and epoch >= self.epochs - self.average_epochs
            if averaging or validation is not None or callbacks:
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
            bar.set_postfix(loss=f"{loss:.4f}")
            logger.debug("epoch %d: %s", epoch, rec)
            for cb in callbacks:
                try:
                    if cb(epoch, self):
                        stop = True
                except StopTraining:
                    stop = True
            if stop:
                logger.info("stopping after epoch %d", epoch)
                break
        bar.close()
        self._sync_from_trainer(trainer)
        if best_state is not None and patience is not None:
            self._U, self._V, self._b = best_state
        if avg:
            n = avg[0]
            self._U, self._V, self._b = (x / np.float32(n) for x in avg[1:])
            logger.info("factors averaged over the last %d epochs", n)
        return self

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

    def _numba_trainer(self, X: sp.csr_matrix, weights: np.ndarray, rng: np.random.Generator) -> NumbaBPRTrainer:
        if self.alpha == 0.0:
            sampler = KernelSampler.uniform(X.shape[1], X, self.exclude_seen)
        else:
            sampler = KernelSampler.from_weights(weights, X, self.exclude_seen)
        return NumbaBPRTrainer(
            X, self._U, self._V, self._b, sampler, negatives=self.negatives,
            dns_candidates=self.dns_candidates if self.hard == "dns" else 1, dns_pool=self.dns_pool, lr=self.lr,
            reg=self.reg, use_bias=self.use_bias, epochs=self.epochs, lr_decay=self.lr_decay, workers=self.workers,
            chunks=self.chunks, pair_order=self.pair_order, seed=self.seed,
            shuffle_state=int(rng.integers(1, 2**63, dtype=np.int64)))

    def _torch_trainer(self, X: sp.csr_matrix, weights: np.ndarray, counts: np.ndarray):
        from ..engine.mf_torch import TorchTrainer

        return TorchTrainer(self, X, weights, counts)

    # ------------------------------------------------------------- inference
    def _scores(self, users: np.ndarray) -> np.ndarray:
        U = self._U[users]
        s = U @ self._item_vecs().T
        if self.use_bias:
            s = s + self._b[None, :]
        return s

    def recommend(self, userid: int | np.ndarray, user_items: Any = None, N: int = 10,
                  filter_already_liked_items: bool = True, filter_items: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Top-N items for one user or an array of users (implicit-style).

        Args:
            userid: int or int array of user indices.
            user_items: CSR of the users' known items, one row per requested user (or
                the full (n_users, n_items) matrix); needed when filtering liked items.
            N: list length.
            filter_already_liked_items: drop the items in ``user_items``.
            filter_items: item indices never to recommend.

        Returns:
            (ids int32, scores float32), shape (N,) for an int ``userid`` else (n, N).
        """
        self._check_fitted()
        scalar = np.isscalar(userid)
        users = np.atleast_1d(np.asarray(userid))
        if users.dtype.kind not in "iu":
            raise TypeError(f"userid must be an int or an int array, got dtype {users.dtype}")
        if users.size and (users.min() < 0 or users.max() >= self.n_users):
            raise ValueError(f"userid out of range [0, {self.n_users}); got values in [{users.min()}, {users.max()}]")
        if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive integer, got {N!r}")
        scores = self._scores(users).astype(np.float32)
        if filter_already_liked_items:
            if user_items is None:
                raise ValueError("filter_already_liked_items=True needs user_items (CSR of the users' known items); "
                                 "pass it or set filter_already_liked_items=False")
            M = _as_csr(user_items)
            if M.shape[1] != self.n_items:
                raise ValueError(f"user_items has {M.shape[1]} columns but the model has {self.n_items} items")
            if M.shape[0] == users.size:
                rows = M
            elif M.shape[0] == self.n_users:
                rows = M[users]
            else:
                raise ValueError(
                    f"user_items has {M.shape[0]} rows; give one row per requested user ({users.size}) or the full "
                    f"matrix ({self.n_users} rows)")
            r, c = rows.nonzero()
            scores[r, c] = -np.inf
        if filter_items is not None:
            scores[:, np.asarray(filter_items, dtype=np.int64)] = -np.inf
        N = min(int(N), self.n_items)
        part = np.argpartition(-scores, N - 1, axis=1)[:, :N]
        ps = np.take_along_axis(scores, part, axis=1)
        o = np.argsort(-ps, axis=1, kind="stable")
        ids = np.take_along_axis(part, o, axis=1).astype(np.int32)
        sc = np.take_along_axis(ps, o, axis=1)
        if scalar:
            return ids[0], sc[0]
        return ids, sc

    def similar_items(self, itemid: int | np.ndarray, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Most cosine-similar items (the item itself included, first).

        Returns:
            (ids int32, scores float32), shape (N,) for an int ``itemid`` else (n, N).
        """
        self._check_fitted()
        scalar = np.isscalar(itemid)
        items = np.atleast_1d(np.asarray(itemid))
        if items.dtype.kind not in "iu":
            raise TypeError(f"itemid must be an int or an int array, got dtype {items.dtype}")
        if items.size and (items.min() < 0 or items.max() >= self.n_items):
            raise ValueError(f"itemid out of range [0, {self.n_items})")
        if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive integer, got {N!r}")
        V = _unit_rows(self._V)
        s = V[items] @ V.T
        N = min(int(N), self.n_items)
        part = np.argpartition(-s, N - 1, axis=1)[:, :N]
        ps = np.take_along_axis(s, part, axis=1)
        o = np.argsort(-ps, axis=1, kind="stable")
        ids = np.take_along_axis(part, o, axis=1).astype(np.int32)
        sc = np.take_along_axis(ps, o, axis=1).astype(np.float32)
        return (ids[0], sc[0]) if scalar else (ids, sc)

    # ------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike) -> None:
        """Write factors and configuration to an ``.npz`` file atomically (temp file + os.replace)."""
        self._check_fitted()
        atomic_savez(path, U=self._U, V=self._V, b=self._b, config=np.array(json.dumps(self.get_params())))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MatrixFactorization":
        """Read a model written by :meth:`save`."""
        z = load_npz(path, "MatrixFactorization", required=("U", "V", "b", "config"))
        cfg = json.loads(str(z["config"]))
        model = cls(**cfg)
        model._U = z["U"].astype(np.float32)
        model._V = z["V"].astype(np.float32)
        model._b = z["b"].astype(np.float32)
        return model


class BayesianPersonalizedRanking(MatrixFactorization):
    """``MatrixFactorization(loss="bpr", ...)`` under the implicit-style name."""

    def __init__(self, factors: int = 64, **kwargs: Any) -> None:
        if kwargs.get("loss", "bpr") != "bpr":
            raise ValueError("BayesianPersonalizedRanking trains loss='bpr'; use MatrixFactorization for other losses")
        kwargs["loss"] = "bpr"
        super().__init__(factors=factors, **kwargs)
