"""iALS: matrix factorisation with every item as a weighted negative, solved by alternating least squares.

``MatrixFactorization(loss="ials")`` (or ``loss=WeightedSquared(...)``, with ``sampler=AllItems()`` or none)
returns an :class:`ALSMatrixFactorization`. All items are the negatives, each unobserved pair with
weight ``alpha0`` (:class:`~recneg.models.losses.WeightedSquared` states the loss); the Gramian trick
makes an epoch cost O(nnz d + (users + items) d^2) with the CG solver instead of O(users items d)::

    from recneg.models import MatrixFactorization
    from recneg.models.losses import WeightedSquared
    als = MatrixFactorization(loss="ials").fit(train)        # defaults chosen leave-one-dataset-out
    rendle = MatrixFactorization(loss=WeightedSquared(alpha0=0.01, nu=1.0), sampler=AllItems(exclude_seen=False))
    plays = MatrixFactorization(loss=WeightedSquared(alpha0=1.0, alpha=40.0, nu=0.0), reg=0.01)  # Hu et al.
    plays.fit(lastfm_train)   # c_ui = 1 + 40 * plays_ui: the matrix's values are the confidences
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Iterable

import numpy as np
import scipy.sparse as sp

from ..data.interactions import as_csr
from ..engine.divergence import TrainingDivergedError
from ..sampling import AllItems
from . import _implicit_api as _api
from .losses import WeightedSquared, as_loss
from .mf import MatrixFactorization, _as_sampler, _check_int, _check_pos

logger = logging.getLogger(__name__)

__all__ = ["ALSMatrixFactorization"]


class ALSMatrixFactorization(MatrixFactorization):
    """iALS (:class:`~recneg.models.losses.WeightedSquared`) by alternating exact block solves, numba, CPU.

    Each epoch solves every user's factors with the items fixed, then every item's: per row the d x d
    system ``(alpha0 G + sum_{i in I_u} (c_ui - off) h_i h_i^T + lam_u I) w_u = sum_{i in I_u} c_ui h_i``
    (:mod:`recneg.engine.als`), ``G = H^T H`` computed once per half-step.

    The defaults (``unobserved_ratio=10, nu=1``, ``reg=0.01``, 8 epochs, CG with 3 steps) were chosen on
    validation splits carved from the training sets of Gowalla, Last.fm and ML-100k (benchmarks/RESULTS.md,
    "All items as weighted negatives: iALS"); at 64 factors they beat implicit's ALS (alpha 40, 15 iterations)
    on all three test splits in 0.16-0.27x its fit time (benchmarks/bench_unseen.py).

    Args:
        factors: embedding size d.
        loss: a :class:`WeightedSquared` (``"ials"``: its defaults): alpha0 or unobserved_ratio, alpha
            (confidence from the matrix's values, or None for binary), nu.
        sampler: ``AllItems()`` (default): ``exclude_seen=True`` (default) makes only unseen items negatives
            (Hu et al., implicit); ``AllItems(exclude_seen=False)`` every item (Rendle et al.).
        reg: L2 coefficient lambda (>= 0), scaled per row by the row's total weight to the power ``nu``.
        epochs: ALS iterations (one user and one item half-step each).
        init_std: std of the normal initialisation (only the item factors' start matters).
        solver: ``"cg"`` (default: ``cg_steps`` conjugate-gradient steps per row, warm-started, as implicit)
            or ``"cholesky"`` (exact solve; cost grows with d^3 per row).
        cg_steps: CG steps per row and half-step (>= 1).
        workers: numba threads. device: "cpu" only.
        seed: seed of the initialisation.
        calculate_training_loss: compute the objective L after every epoch (implicit's option and default:
            False). It costs O(nnz d + (users + items) d^2), 16-35% of an epoch here, and training does not
            need it.

    Attributes (after fit):
        user_factors (n_users, d), item_factors (n_items, d), float32; history: per-epoch dicts with
        ``loss`` (the objective L after the epoch, summed over all pairs; NaN unless
        ``calculate_training_loss``) and ``seconds``; ``alpha0_``: the
        unobserved weight used (``loss.alpha0``, or the one ``loss.unobserved_ratio`` gave on this data).
    """

    backend = "als"
    _OPTIONS = ("factors", "loss", "sampler", "reg", "epochs", "init_std", "solver", "cg_steps", "workers", "seed",
                "device", "calculate_training_loss")

    def __init__(self, factors: int = 64, loss: Any = "ials", sampler: Any = None, reg: float = 0.01,
                 epochs: int = 8, init_std: float = 0.01, solver: str = "cg", cg_steps: int = 3, workers: int = 2,
                 seed: int | None = 0, device: str = "cpu", calculate_training_loss: bool = False) -> None:
        self.factors = _check_int("factors", factors, 1)
        self.loss = as_loss(loss)
        if not isinstance(self.loss, WeightedSquared):
            raise ValueError(f"ALSMatrixFactorization trains loss='ials' (WeightedSquared); got {self.loss!r}: "
                             f"use MatrixFactorization(loss=...) for the sampled losses")
        if sampler is None:
            sampler = AllItems()
        self.sampler = _as_sampler(sampler, self.loss)
        if not isinstance(self.sampler, AllItems):
            raise ValueError(f"loss='ials' weights every item (sampler=AllItems(), or leave sampler=None); got "
                             f"sampler={self.sampler!r}: sampled negatives train with loss='bpr', 'bce', 'softmax' "
                             f"or 'ccl'")
        self.reg = _check_pos("reg", reg, strict=False)
        if self.reg == 0.0 and (self.loss.alpha0 == 0.0 or self.loss.unobserved_ratio == 0.0):
            raise ValueError("reg=0 with alpha0=0 leaves singular systems (a user's solve sees only its own items): "
                             "give reg > 0 or alpha0 > 0")
        self.epochs = _check_int("epochs", epochs, 0)
        self.init_std = _check_pos("init_std", init_std)
        if solver not in ("cg", "cholesky"):
            raise ValueError(f"solver must be 'cg' or 'cholesky', got {solver!r}")
        self.solver = solver
        self.cg_steps = _check_int("cg_steps", cg_steps, 1)
        self.workers = _check_int("workers", workers, 1)
        if str(device) != "cpu":
            raise ValueError(f"ALSMatrixFactorization runs on the CPU (numba); got device={device!r}: use "
                             f"device='cpu' (a CUDA solver is not implemented)")
        self.device = "cpu"
        self.seed = seed
        if not isinstance(calculate_training_loss, (bool, np.bool_)):
            raise ValueError(f"calculate_training_loss must be True or False, got {calculate_training_loss!r}")
        self.calculate_training_loss = bool(calculate_training_loss)
        self.lr = 0.0  # no step size: read by nothing, kept for the base class's attribute set
        self.lr_decay = None
        self.average_epochs = 0
        self._U: np.ndarray | None = None
        self._V: np.ndarray | None = None
        self._b: np.ndarray | None = None
        self._conf: sp.csr_matrix | None = None
        self.alpha0_: float | None = None  # the unobserved weight the last fit used
        self.history: list[dict] = []

    def confidences(self, user_items: Any) -> sp.csr_matrix:
        """The users x items CSR of ``c_ui`` (float32) that training weights each pair with: 1 (``alpha=None``)
        or ``confidence_offset + alpha * r_ui`` from the stored values (the offset is 1 unless the loss says).

        Raises:
            TypeError for a matrix of the wrong type; ValueError naming ``user_items`` for NaN, inf or negative
            values when the values are used.
        """
        alpha = self.loss.alpha
        if alpha is None:
            return as_csr(user_items, binary=True)
        X = as_csr(user_items)
        data = np.asarray(X.data, dtype=np.float64)
        if data.size and not np.isfinite(data).all():
            raise ValueError(f"user_items has NaN or inf values, and loss=WeightedSquared(alpha={alpha:g}) uses them "
                             f"as confidences: clean them, or use alpha=None (binary)")
        if data.size and (data < 0).any():
            raise ValueError(f"user_items has negative values (min {data.min():g}); loss=WeightedSquared("
                             f"alpha={alpha:g}) needs counts/weights >= 0 (c = {self.loss.confidence_offset:g} + "
                             f"alpha * value)")
        X = X.astype(np.float32)
        X.data = (self.loss.confidence_offset + alpha * data).astype(np.float32)
        return X

    def fit(self, user_items: Any, show_progress: bool = True, callbacks: Iterable[Callable] | None = None,
            validation: Callable[[int, MatrixFactorization], Any] | None = None,
            patience: int | None = None, monitor: str | None = None,
            callback: Callable[..., Any] | None = None) -> "ALSMatrixFactorization":
        """Train on ``user_items`` (Interactions or scipy sparse, users x items): every stored pair is a positive
        with confidence ``c_ui`` (see :meth:`confidences`), every other pair a negative with weight ``alpha0``.
        Arguments as :meth:`MatrixFactorization.fit` (callbacks, validation with patience keeping the best
        epoch's factors); ``history`` records the objective after each epoch as ``loss``."""
        _api.warn_if_not_csr(user_items)
        if sp.issparse(user_items) and user_items.format != "csr":
            user_items = user_items.tocsr()  # converted once, warned once
        self._conf = self.confidences(user_items)
        try:
            return super().fit(user_items, show_progress=show_progress, callbacks=callbacks, validation=validation,
                               patience=patience, monitor=monitor, callback=callback)
        finally:
            self._conf = None

    def recalculate_user(self, userid: int | np.ndarray, user_items: Any) -> np.ndarray:
        """Users' factors solved exactly from ``user_items`` (CSR, one row per user; values as at fit) against the
        stored item factors, without storing them: implicit's ``recalculate_user``. A user need not be a trained
        one (fold-in). Returns float32 (d,) for an int ``userid`` else (n, d)."""
        scalar, ids = _api.check_query_ids(userid, None, "userid")
        rows = _api.query_rows(user_items, ids, scalar, self.n_items)
        X = self._solve_rows(rows, self._V)
        return X[0] if scalar else X

    def recalculate_item(self, itemid: int | np.ndarray, item_users: Any) -> np.ndarray:
        """Items' factors solved exactly from ``item_users`` (items x users CSR, one row per item) against the
        stored user factors, without storing them: implicit's ``recalculate_item``. Returns float32 (d,) for an
        int ``itemid`` else (n, d)."""
        scalar, ids = _api.check_query_ids(itemid, None, "itemid")
        rows = _api.query_rows(item_users, ids, scalar, self.n_users, name="item_users", what="item")
        X = self._solve_rows(rows, self._U)
        return X[0] if scalar else X

    def _solve_rows(self, rows: sp.csr_matrix, Y: np.ndarray) -> np.ndarray:
        """Exact (Cholesky) block solves of the rows of ``rows`` (their confidences from the stored values, as at
        fit) with the other side ``Y`` fixed: the solve an epoch's half-step approximates."""
        from ..engine.als import row_regularization, solve_rows_cholesky

        self._check_fitted()
        if self.alpha0_ is None:
            raise RuntimeError("this model's unobserved weight alpha0_ is unknown (a file saved before recneg kept "
                               "it): fit the model again to recalculate users or items")
        C = self.confidences(rows)
        lam = row_regularization(C, self.reg, self.alpha0_, self.loss.nu, self.sampler.exclude_seen)
        Y64 = Y.astype(np.float64)
        G = self.alpha0_ * (Y64.T @ Y64)
        X = np.zeros((C.shape[0], Y.shape[1]), dtype=np.float32)
        solve_rows_cholesky(C.indptr.astype(np.int64), C.indices.astype(np.int32), C.data.astype(np.float32), X,
                            np.ascontiguousarray(Y, dtype=np.float32), G, lam,
                            self.alpha0_ if self.sampler.exclude_seen else 0.0)
        return X

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {} if self.alpha0_ is None else {"alpha0_": np.float64(self.alpha0_)}

    def _set_state_arrays(self, z: dict[str, np.ndarray]) -> None:
        if "alpha0_" in z:
            self.alpha0_ = float(z["alpha0_"])
        elif self._U is not None and self.loss.alpha0 is not None:  # a fitted file from before alpha0_ was kept
            self.alpha0_ = self.loss.alpha0

    def _make_trainer(self, X: sp.csr_matrix, rng: np.random.Generator):
        from ..engine.als import ALSTrainer

        C = self._conf if self._conf is not None else X
        loss = self.loss
        self.alpha0_ = loss.unobserved_weight(float(C.data.sum(dtype=np.float64)), *C.shape)
        logger.info("iALS: unobserved weight alpha0=%.6g%s", self.alpha0_, "" if loss.alpha0 is not None else
                    f" (unobserved_ratio={loss.unobserved_ratio:g} x the observed weight / (users x items))")
        return ALSTrainer(C, self._U, self._V, alpha0=self.alpha0_, reg=self.reg, nu=loss.nu,
                          exclude_seen=self.sampler.exclude_seen, solver=self.solver, cg_steps=self.cg_steps,
                          workers=self.workers, track_loss=self.calculate_training_loss)

    def _apply_schedules(self, trainer: Any, epoch: int) -> dict[str, Any]:
        return {}

    def _check_diverged(self, trainer: Any, epoch: int, loss: float) -> None:
        """A non-finite objective (NaN when it is not computed) or factor means a singular block system: raise,
        leaving the model unfitted."""
        loss_ok = math.isfinite(loss) or not self.calculate_training_loss
        if loss_ok and np.isfinite(self._U).all() and np.isfinite(self._V).all():
            return
        self._U = self._V = self._b = None
        raise TrainingDivergedError(
            f"ALS produced non-finite factors at epoch {epoch + 1} of {self.epochs}: a block system was singular "
            f"(reg={self.reg:g}, alpha0={self.alpha0_:g}); raise reg (e.g. {max(self.reg * 10, 1e-3):g}); the "
            f"model was left unfitted")

    def __repr__(self) -> str:
        return (f"ALSMatrixFactorization(factors={self.factors}, loss={self.loss!r}, sampler={self.sampler!r}, "
                f"reg={self.reg:g}, solver={self.solver!r}"
                + (", calculate_training_loss=True" if self.calculate_training_loss else "") + ")")
