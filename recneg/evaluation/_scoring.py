"""Scoring adapters of the evaluator: a model, factor matrices or a score function -> score rows.

:class:`_Scorer` turns whatever :func:`recneg.evaluation.ranking_metrics` is given into
``scorer(users, out) -> (B, n_items)`` score rows (numpy BLAS on the CPU, torch elsewhere);
:class:`PopularityScorer` is the most-popular baseline. Shared helpers of the full-ranking
(:mod:`recneg.evaluation.ranking`) and sampled (:mod:`recneg.evaluation.sampled`) evaluators live here too.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from numba import njit

from recneg.data.interactions import as_csr as _as_csr

__all__ = ["PopularityScorer", "most_popular_scores"]

_DEFAULT_BATCH_BYTES = 256 * 2**20  # score buffer bound when batch_size is None
_CPU_MATMUL = "numpy"  # "numpy" (BLAS via numpy) or "torch" (torch.mm, the path used on CUDA)
_NAN_MSG = "scores contain NaN (from the model / user_factors / item_factors / score_fn); check the model's training (diverged?)"


@njit(cache=True)
def _gather_rows(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray, n_items: int) -> np.ndarray:
    """Flat positions ``local_row * n_items + item`` of the CSR rows of ``users``."""
    total = 0
    for b in range(users.shape[0]):
        total += indptr[users[b] + 1] - indptr[users[b]]
    out = np.empty(total, dtype=np.int64)
    k = 0
    for b in range(users.shape[0]):
        u = users[b]
        for j in range(indptr[u], indptr[u + 1]):
            out[k] = b * n_items + indices[j]
            k += 1
    return out


class PopularityScorer:
    """Most-popular baseline: every user gets the item's training count as score.

    Attributes:
        scores: float32 (n_items,) interactions per item in ``train``.
    Call with int64 user indices (B,) -> float32 torch tensor (B, n_items) (a broadcast view).
    """

    def __init__(self, train: Any) -> None:
        csr = _as_csr(train, "train")
        self.scores = np.bincount(csr.indices, minlength=csr.shape[1]).astype(np.float32)
        self._t = torch.from_numpy(self.scores)

    def __call__(self, users: np.ndarray) -> torch.Tensor:
        return self._t.unsqueeze(0).expand(len(users), -1)


def most_popular_scores(train: Any) -> PopularityScorer:
    """Popularity scores usable as ``score_fn`` (see :class:`PopularityScorer`)."""
    return PopularityScorer(train)


def _to_tensor(x: Any, name: str, device: torch.device) -> torch.Tensor:
    if hasattr(x, "to_numpy") and not isinstance(x, (np.ndarray, torch.Tensor)):  # implicit.gpu.Matrix
        x = x.to_numpy()
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a 2-D numeric array or torch tensor: {e}") from None
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x dim), got shape {tuple(t.shape)}")
    t = t.to(device=device, dtype=torch.float32).contiguous()
    # on the CPU numpy's check: torch's wakes its thread pool, ~6 ms per call after numba's threads ran
    finite = np.isfinite(t.numpy()).all() if t.device.type == "cpu" else torch.isfinite(t).all()
    if not bool(finite):
        raise ValueError(f"{name} contains NaN or inf; check the model's training (diverged?)")
    return t


class _Scorer:
    """Writes (B, n_items) float32 scores for int64 users into a caller-owned buffer."""

    def __init__(self, n_users: int, n_items: int, device: torch.device, model: Any, user_factors: Any,
                 item_factors: Any, score_fn: Callable | None) -> None:
        self.n_items = n_items
        self.device = device
        self.U = self.V = None
        self.fn = None
        self.rec = None
        given = sum(x is not None for x in (model, score_fn)) + (user_factors is not None or item_factors is not None)
        if given != 1:
            raise TypeError("pass exactly one score source: model=..., (user_factors=..., item_factors=...) "
                            "or score_fn=...")
        if model is not None:
            if hasattr(model, "user_factors") and hasattr(model, "item_factors"):
                user_factors, item_factors = model.user_factors, model.item_factors
            elif callable(getattr(model, "score", None)):
                score_fn = model.score
            elif callable(getattr(model, "recommend", None)):
                self.rec = model.recommend  # implicit-style top-N lists (e.g. Item2Vec: no user factors)
                return
            else:
                raise TypeError(f"model ({type(model).__name__}) needs user_factors and item_factors attributes, a "
                                "score(users) -> (B, n_items) method or an implicit-style recommend(userid, "
                                "user_items, N); or pass score_fn=")
        if score_fn is not None:
            if not callable(score_fn):
                raise TypeError("score_fn must be callable: score_fn(user_indices int64 (B,)) -> (B, n_items) scores")
            self.fn = score_fn
            return
        if user_factors is None or item_factors is None:
            raise TypeError("pass both user_factors and item_factors")
        U = _to_tensor(user_factors, "user_factors", device)
        V = _to_tensor(item_factors, "item_factors", device)
        if U.shape[0] != n_users:
            raise ValueError(f"user_factors has {U.shape[0]} rows but train/test have n_users={n_users}")
        if V.shape[0] != n_items:
            raise ValueError(f"item_factors has {V.shape[0]} rows but train/test have n_items={n_items}")
        if U.shape[1] != V.shape[1]:
            raise ValueError(f"user_factors dim {U.shape[1]} != item_factors dim {V.shape[1]}")
        self.U, self.VT = U, V.T.contiguous()
        # On CPU numpy's BLAS (OpenBLAS) beat torch's MKL sgemm here (AMD EPYC, ~1.1-1.5x in
        # CPU seconds); both write into the same buffer, so the choice is invisible to callers.
        self._np = (U.numpy(), V.numpy()) if device.type == "cpu" and _CPU_MATMUL == "numpy" else None

    def __call__(self, users: np.ndarray, out: torch.Tensor) -> torch.Tensor:
        """Scores (B, n_items) float32 written into ``out`` (B rows) and returned."""
        if self.fn is None:
            if self._np is not None:
                Un, Vn = self._np
                np.matmul(Un[users], Vn.T, out=out.numpy())
                return out
            u = self.U[torch.from_numpy(users).to(self.device)]
            return torch.mm(u, self.VT, out=out)
        s = self.fn(users.copy())
        if not isinstance(s, torch.Tensor):
            s = torch.as_tensor(np.asarray(s))
        if tuple(s.shape) != (len(users), self.n_items):
            raise ValueError(f"score_fn returned shape {tuple(s.shape)}, expected (len(users)={len(users)}, "
                             f"n_items={self.n_items})")
        out.copy_(s.detach())  # never mutate the caller's memory
        return out
