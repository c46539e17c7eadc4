"""Full-ranking (and, on request, sampled) top-K evaluation of recommenders.

:func:`ranking_metrics` scores every item for every evaluated user (a GEMM per user
batch: numpy/BLAS on CPU, torch on other devices), masks the user's training items with ``-inf``, takes the top
``max(K)`` items and computes, per user, then averaged over users:

=============  ===============================================================
``recall@K``   hits@K / |relevant|  (LightGCN convention: the denominator is the
               number of test items, *not* ``min(K, |relevant|)``)
``ndcg@K``     DCG / IDCG, binary relevance, DCG = sum_{hit ranks r<=K} 1/log2(r+1),
               IDCG = sum_{r=1}^{min(K, |relevant|)} 1/log2(r+1)
``hitrate@K``  1 if hits@K > 0 else 0
``precision@K`` hits@K / K
``mrr@K``      1 / rank of the first hit within the top K, else 0
``map@K``      sum_{hit ranks r<=K} precision@r / min(K, |relevant|)
``coverage@K`` distinct items recommended in anyone's top K / n_items (a
               catalogue-level value; its per-user array is not defined)
=============  ===============================================================

Ranks are 1-based. "Relevant" items are the user's test items (all of them, also
those that are in train too: such an item is masked and can never be a hit; a
warning is logged when train and test overlap).

Ties: the ranking is the total order (score descending, item index ascending), i.e.
among equal scores the lower item index ranks first. It is implemented exactly:
``torch.topk`` gives the top ``max(K) + 1`` candidates, which are re-sorted by
(score, index); rows whose K-th and (K+1)-th scores are equal (a tie straddling the
cut) are redone over the full row. Items whose score is ``-inf`` (masked train items,
or items the scorer itself rules out) are never recommended: a user with fewer than K
candidate items simply gets a shorter list.

Models that only offer an implicit-style ``recommend`` (e.g. Item2Vec, which has no user
factors) are evaluated from their top-``max(K)`` lists, with the model's own tie order.

Versus implicit (0.7): ``implicit.evaluation.ranking_metrics_at_k(model, train, test, K)`` works on every
recneg model (it calls ``model.recommend(users, train[users], N=K)``). With ``hits_u`` the number of
user u's test items ``T_u`` in its top K, over the users with at least one test item:

* implicit's ``"precision"`` is pooled over users: ``sum_u hits_u / sum_u min(K, |T_u|)``. recneg's
  ``precision@K`` is the mean of ``hits_u / K`` and its ``recall@K`` the mean of ``hits_u / |T_u|``.
  implicit's number is ``sum(K * per_user["precision@K"]) / sum(min(K, |T_u|))`` from recneg's
  per-user values (``per_user=True``, ``skip_cold_users=False``; tests/compat/test_implicit_evaluation.py).
  It equals recneg's ``precision@K`` when every user has at least K test items, and is a pooled
  (micro-averaged) recall when every user has at most K.
* implicit's ``"map"`` and ``"ndcg"`` are recneg's ``map@K`` and ``ndcg@K`` (same formulas, same users).
* implicit evaluates users with test items but no training items; recneg skips them unless
  ``skip_cold_users=False``. implicit's ``"auc"`` (AUC limited to the top K) has no recneg counterpart.
* implicit ranks with the model's own ``recommend``; recneg scores factor models itself with the tie
  rule above, which is ``recommend``'s too (only float rounding can order near-ties differently).

Skipped users (counted, not evaluated): users without test items, and users with
test items but no training items ("cold" users; the model knows nothing about
them); pass ``skip_cold_users=False`` to evaluate the latter too.

Sampled evaluation (``n_sampled_negatives=N``, only on request): each (user, test
item) pair is ranked against N items drawn uniformly, with replacement, from the
user's non-interacted items (neither train nor test); the sampled rank is
``r = 1 + #{negatives ranked ahead}`` in 1..N+1 (same tie rule). Each pair is
scored as a single-relevant-item list (recall = hit, ndcg = 1/log2(r+1), mrr = map =
1/r, precision = hit/K), pairs are averaged per user, users averaged. Two values are
reported per metric: ``sampled_raw_<m>@K`` (the naive sampled metric) and
``sampled_<m>@K``, the corrected estimate of Krichene & Rendle, "On Sampled Metrics
for Item Recommendation" (KDD 2020), their bias-variance ("BV") corrected estimator:
with P[R, r] = Binomial(N, (R-1)/n).pmf(r-1) the law of the sampled rank given the
full rank R among the n non-interacted items plus the item itself, the corrected
metric value per sampled rank is

    x = argmin_x sum_R w_R [ (E[x_r | R] - M(R))^2 + gamma * Var[x_r | R] ]
      = ((1-gamma) P^T W P + gamma diag(P^T w))^{-1} P^T W M,

with a uniform prior w_R = 1/(n+1) and ``gamma=bv_gamma`` (default 0.01; gamma -> 0
is their minimal-bias estimator). Users are grouped by their universe size n (bins
of relative width 0.5%, the bin's mean n is used). Sampled mode reports recall, ndcg,
mrr, map and precision; hitrate and coverage have no per-item form and are refused.
Factor models are scored on the sampled pairs only (no full score rows).
"""
from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from numba import njit, prange

from recneg.sampling.exclusion import is_seen

from ._scoring import (_DEFAULT_BATCH_BYTES, _NAN_MSG, PopularityScorer, _as_csr, _gather_rows, _Scorer,
                       most_popular_scores)
from .sampled import _draw_negatives, _run_sampled, _union_sizes  # noqa: F401 (re-exported for tests and tools)

logger = logging.getLogger(__name__)

__all__ = ["ranking_metrics", "RankingResult", "most_popular_scores", "PopularityScorer", "ALL_METRICS",
           "SAMPLED_METRICS"]

ALL_METRICS: tuple[str, ...] = ("recall", "ndcg", "hitrate", "precision", "mrr", "map", "coverage")
SAMPLED_METRICS: tuple[str, ...] = ("recall", "ndcg", "precision", "mrr", "map")


# ----------------------------------------------------------------------------- result
@dataclass
class RankingResult:
    """Outcome of :func:`ranking_metrics`.

    Attributes:
        metrics: ``{"recall@20": mean, ...}`` (floats, means over evaluated users).
        K: the cut-offs, ascending.
        n_users_evaluated: users that entered the means.
        n_users_skipped: requested users left out (sum of the three counts below).
        n_users_skipped_no_test / n_users_skipped_cold / n_users_skipped_no_negatives:
            skipped for no test items / no train items / (sampled mode) no
            non-interacted item to sample.
        protocol: ``"full"`` or ``"sampled(N=..., gamma=...)"``.
        sampled: True for sampled evaluation.
        users: int64 (n_users_evaluated,) evaluated user indices when ``per_user``.
        per_user: ``{"recall@20": float64 (n_users_evaluated,), ...}`` when ``per_user``.
        top_items: int64 (n_users_evaluated, max(K)) recommended items by rank, -1 where a
            user has fewer candidates (full mode with ``per_user`` only).
    """

    metrics: dict[str, float]
    K: tuple[int, ...]
    n_users_evaluated: int
    n_users_skipped: int
    n_users_skipped_no_test: int = 0
    n_users_skipped_cold: int = 0
    n_users_skipped_no_negatives: int = 0
    protocol: str = "full"
    sampled: bool = False
    users: np.ndarray | None = None
    per_user: dict[str, np.ndarray] | None = field(default=None, repr=False)
    top_items: np.ndarray | None = field(default=None, repr=False)

    def __getitem__(self, key: str) -> float:
        try:
            return self.metrics[key]
        except KeyError:
            raise KeyError(f"no metric {key!r}; available: {sorted(self.metrics)}") from None

    def __contains__(self, key: str) -> bool:
        return key in self.metrics

    def to_markdown(self) -> str:
        """A one-row-per-metric Markdown table."""
        lines = [f"| metric ({self.protocol}, {self.n_users_evaluated} users) | value |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.6f} |" for k, v in self.metrics.items()]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- popularity


# ----------------------------------------------------------------------------- input handling


def _check_k(K: int | Sequence[int]) -> tuple[int, ...]:
    ks = [K] if isinstance(K, (int, np.integer)) else list(K)
    if not ks:
        raise ValueError("K must be a positive int or a non-empty list of positive ints")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"K must contain ints, got {k!r}")
        if k <= 0:
            raise ValueError(f"K must be positive, got {k}")
    return tuple(sorted(set(int(k) for k in ks)))


# ----------------------------------------------------------------------------- numba kernels


def _hits_py(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray, items: np.ndarray,
             valid: np.ndarray) -> np.ndarray:
    """hits[b, j] = items[b, j] is a test item of users[b] (and valid[b, j])."""
    B, k = items.shape
    out = np.zeros((B, k), dtype=np.bool_)
    for b in prange(B):
        u = users[b]
        for j in range(k):
            if valid[b, j]:
                out[b, j] = is_seen(indptr, indices, u, items[b, j])
    return out


_hits_parallel = njit(cache=True, parallel=True)(_hits_py)
_hits_serial = njit(cache=True)(_hits_py)
_SERIAL_HITS = 1 << 16  # below this many lookups one thread is faster: waking numba's pool costs ~4 ms


def _hits(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray, items: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    """hits[b, j] = items[b, j] is a test item of users[b] (and valid[b, j]); bool (B, k)."""
    run = _hits_serial if items.size < _SERIAL_HITS else _hits_parallel
    return run(indptr, indices, users, items, valid)


# ----------------------------------------------------------------------------- top-K
def _topk_exact(S: torch.Tensor, kmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``kmax`` items per row under (score desc, index asc); returns (items int64, scores float32) (B, k).

    ``k = min(kmax, n_items)``. Raises on NaN scores.
    """
    B, n = S.shape
    k1 = min(kmax + 1, n)
    vals, idx = torch.topk(S, k1, dim=1, largest=True, sorted=True)
    if bool(torch.isnan(vals[:, 0]).any()):  # topk ranks NaN above everything
        raise ValueError("scores contain NaN (from the model / user_factors / item_factors / score_fn); "
                         "fix the model (diverged training?) before evaluating")
    k = min(kmax, n)
    vals_np = vals.cpu().numpy()
    idx_np = idx.cpu().numpy()
    if k1 > k:
        tied = np.flatnonzero((vals_np[:, k] == vals_np[:, k - 1]) & (vals_np[:, k - 1] > -np.inf))
        if tied.size:
            rows = torch.from_numpy(tied).to(S.device)
            St = S[rows]
            t = torch.from_numpy(vals_np[tied, k - 1]).to(S.device).unsqueeze(1)
            gt = St > t
            eq = St == t
            need = (k - gt.sum(1, keepdim=True))
            sel = gt | (eq & (torch.cumsum(eq, dim=1, dtype=torch.int64) <= need))
            pos = sel.nonzero()[:, 1].reshape(len(tied), k)  # row-major: ascending item index
            sub_idx = pos.cpu().numpy()
            sub_val = torch.gather(St, 1, pos).cpu().numpy()
            idx_np = idx_np[:, :k].copy()
            vals_np = vals_np[:, :k].copy()
            idx_np[tied] = sub_idx
            vals_np[tied] = sub_val
    idx_np = idx_np[:, :k]
    vals_np = vals_np[:, :k]
    order = np.lexsort((idx_np, -vals_np), axis=-1)
    return np.take_along_axis(idx_np, order, 1), np.take_along_axis(vals_np, order, 1)


# ----------------------------------------------------------------------------- metrics
def _per_user_metrics(hits: np.ndarray, n_rel: np.ndarray, ks: Sequence[int], names: Iterable[str]) -> dict[str, np.ndarray]:
    """Per-user metric arrays from hits (U, kmax) bool (by rank) and n_rel (U,) > 0."""
    U, kmax = hits.shape
    ranks = np.arange(1, kmax + 1, dtype=np.float64)
    disc = 1.0 / np.log2(ranks + 1.0)
    cum_disc = np.concatenate([[0.0], np.cumsum(disc)])
    cumhits = np.cumsum(hits, axis=1, dtype=np.float64)
    n_rel = n_rel.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    first = np.where(hits.any(1), hits.argmax(1) + 1, 0)
    for K in ks:
        kk = min(K, kmax)
        h = hits[:, :kk]
        nh = cumhits[:, kk - 1] if kk > 0 else np.zeros(U)
        denom = np.minimum(K, n_rel)
        for m in names:
            if m == "recall":
                v = nh / n_rel
            elif m == "precision":
                v = nh / K
            elif m == "hitrate":
                v = (nh > 0).astype(np.float64)
            elif m == "ndcg":
                v = (h * disc[:kk]).sum(1) / cum_disc[denom.astype(np.int64)]
            elif m == "mrr":
                v = np.where((first > 0) & (first <= K), 1.0 / np.maximum(first, 1), 0.0)
            elif m == "map":
                v = (h * (cumhits[:, :kk] / ranks[:kk])).sum(1) / denom
            else:
                continue
            out[f"{m}@{K}"] = v
    return out


# ----------------------------------------------------------------------------- main entry
def ranking_metrics(
    model: Any = None,
    train: Any = None,
    test: Any = None,
    K: int | Sequence[int] = 20,
    *,
    user_factors: Any = None,
    item_factors: Any = None,
    score_fn: Callable[[np.ndarray], Any] | None = None,
    users: Sequence[int] | np.ndarray | None = None,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    per_user: bool = False,
    metrics: Sequence[str] | None = None,
    n_sampled_negatives: int | None = None,
    seed: int = 0,
    skip_cold_users: bool = True,
    bv_gamma: float = 0.01,
    progress: bool = False,
    distributed: bool | None = None,
) -> RankingResult:
    """Top-K ranking metrics of a recommender (see the module docstring for definitions).

    Args:
        model: fitted model with ``user_factors`` (n_users, d) and ``item_factors``
            (n_items, d) (numpy, torch or implicit GPU matrices; score = U @ V.T) - these
            take precedence - or a callable ``score(users) -> (B, n_items)`` method, or else an
            implicit-style ``recommend(userids, user_items_rows, N, filter_already_liked_items=True)
            -> (ids, scores)`` (e.g. Item2Vec): its lists are used as the ranking (its own tie
            order; returned train items / -1 ids / -inf scores are dropped; full mode only).
        train, test: ``recneg.data.Interactions`` or scipy sparse (n_users, n_items), same
            shape; non-zeros are interactions. Train items are masked; test items are relevant.
        K: cut-off or list of cut-offs (positive ints).
        user_factors, item_factors: alternative to ``model``.
        score_fn: alternative to ``model``: ``score_fn(users int64 (B,)) -> (B, n_items)``
            numpy or torch scores (higher = better). Its output is copied, never modified.
        users: user indices to evaluate (default: all); skipped ones are counted.
        batch_size: users per batch (default: B * n_items float32 scores <= 256 MiB).
        device: torch device of the scoring ("cpu", "cuda", ...).
        per_user: also return per-user arrays (``result.per_user``, ``result.users``).
        metrics: subset of :data:`ALL_METRICS` (sampled mode: :data:`SAMPLED_METRICS`).
        n_sampled_negatives: N -> sampled evaluation with BV correction instead of full ranking.
        seed: seed of the negative sampling (sampled mode only).
        skip_cold_users: skip users with test items but no train items (default True).
        bv_gamma: variance weight gamma of the BV correction (sampled mode).
        progress: tqdm bar over user batches.
        distributed: shard the evaluation over a torch.distributed process group (full mode only).
            None (default): when a group with more than one rank is initialised
            (:func:`recneg.distributed.init`). True: require such a group. False: evaluate
            everything in this process even inside a group. Sharded, every rank scores only the
            users it owns (:func:`recneg.distributed.user_block` over ``n_users``) and needs the
            train/test rows of those users only (e.g. :func:`recneg.data.read_parquet_partition`);
            ``users``, ``K``, ``metrics`` and the shapes must be the same on every rank. Every
            rank returns the same result, equal (``==``) to the single-process one: see
            :func:`_ranking_sharded`.

    Returns:
        :class:`RankingResult`.
    """
    if model is not None and (sp.issparse(model) or hasattr(model, "csr")):
        raise TypeError("the first argument is the model; pass the data by keyword: "
                        "ranking_metrics(model, train=..., test=...) or ranking_metrics(score_fn=..., train=..., test=...)")
    ks = _check_k(K)
    sampled = n_sampled_negatives is not None
    allowed = SAMPLED_METRICS if sampled else ALL_METRICS
    names = list(allowed if metrics is None else ([metrics] if isinstance(metrics, str) else metrics))
    for m in names:
        if m not in allowed:
            raise ValueError(f"metrics: unknown or unsupported metric {m!r}"
                             f"{' in sampled mode' if sampled else ''}; choose from {list(allowed)}")
    if train is None or test is None:
        raise TypeError("train and test are required (Interactions or scipy sparse, same shape)")
    tr = _as_csr(train, "train")
    te = _as_csr(test, "test")
    if tr.shape != te.shape:
        raise ValueError(f"train shape {tr.shape} != test shape {te.shape}; they must share one index space "
                         "(split with recneg.data.split_* or build both with the same n_users/n_items)")
    n_users, n_items = tr.shape
    if te.nnz == 0:
        raise ValueError("test has no interactions: nothing to evaluate")
    dev = torch.device(device)
    scorer = _Scorer(n_users, n_items, dev, model, user_factors, item_factors, score_fn)
    if sampled and scorer.rec is not None:
        raise TypeError(f"sampled evaluation needs scores of arbitrary items; {type(model).__name__} only offers "
                        "recommend(); pass score_fn= (or a model with user_factors/item_factors) instead")

    if users is None:
        cand = np.arange(n_users, dtype=np.int64)
    else:
        cand = np.asarray(users)
        if cand.ndim != 1 or not np.issubdtype(cand.dtype, np.integer):
            raise TypeError("users must be a 1-D array of integer user indices")
        cand = cand.astype(np.int64)
        if cand.size and (cand.min() < 0 or cand.max() >= n_users):
            raise ValueError(f"users must lie in [0, n_users={n_users})")
    group = _resolve_group(distributed)
    if group is not None:
        if sampled:
            raise ValueError("distributed: sampled evaluation (n_sampled_negatives) is not sharded; pass "
                             "distributed=False (each rank then needs the full train/test) or use full ranking")
        return _ranking_sharded(group, scorer, tr, te, cand, ks, names, batch_size, dev, per_user, skip_cold_users,
                                progress)
    tr_ptr, tr_ix = tr.indptr.astype(np.int64), tr.indices.astype(np.int64)
    te_ptr, te_ix = te.indptr.astype(np.int64), te.indices.astype(np.int64)
    n_test = np.diff(te_ptr)[cand]
    n_train = np.diff(tr_ptr)[cand]
    no_test = n_test == 0
    cold = (~no_test) & (n_train == 0) if skip_cold_users else np.zeros_like(no_test)
    ev = cand[~no_test & ~cold]
    n_no_test, n_cold = int(no_test.sum()), int(cold.sum())
    overlap = tr.multiply(te).nnz
    if overlap:
        logger.warning("train and test share %d (user, item) pairs; those test items are masked and can never be hit",
                       overlap)

    n_no_neg = 0
    if sampled:
        N = int(n_sampled_negatives)
        if isinstance(n_sampled_negatives, bool) or N != n_sampled_negatives or N <= 0:
            raise ValueError(f"n_sampled_negatives must be a positive int, got {n_sampled_negatives!r}")
        if not 0.0 <= bv_gamma <= 1.0:
            raise ValueError(f"bv_gamma must be in [0, 1], got {bv_gamma}")
        n_free = n_items - _union_sizes(tr_ptr, tr_ix, te_ptr, te_ix, ev)
        n_no_neg = int((n_free == 0).sum())
        ev, n_free = ev[n_free > 0], n_free[n_free > 0]
    B = _user_batch(ev.size, cand.size, n_no_test, n_cold, skip_cold_users, batch_size, n_items)

    need_rows = scorer.rec is None and not (sampled and scorer.fn is None)  # sampled + factors: pair dots only
    buf = torch.empty((B, n_items), dtype=torch.float32, device=dev) if need_rows else None
    batches = range(0, ev.size, B)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="evaluating", unit="batch")

    if sampled:
        res = _run_sampled(ev, n_free, batches, B, buf, scorer, tr_ptr, tr_ix, te_ptr, te_ix, n_items, N, ks, names,
                           seed, bv_gamma)
        protocol = f"sampled(N={N}, gamma={bv_gamma})"
    else:
        res = _run_full(ev, batches, B, buf, scorer, tr, tr_ptr, tr_ix, te_ptr, te_ix, n_items, ks, names)
        protocol = "full"
    pu, means, top = res
    return RankingResult(
        metrics=means, K=ks, n_users_evaluated=int(ev.size), n_users_skipped=n_no_test + n_cold + n_no_neg,
        n_users_skipped_no_test=n_no_test, n_users_skipped_cold=n_cold, n_users_skipped_no_negatives=n_no_neg,
        protocol=protocol, sampled=sampled, users=ev.copy() if per_user else None, per_user=pu if per_user else None,
        top_items=top if per_user else None,
    )


def _user_batch(n_ev: int, n_cand: int, n_no_test: int, n_cold: int, skip_cold_users: bool, batch_size: Any,
                n_items: int) -> int:
    """Users per scoring batch (default: B x n_items float32 scores <= 256 MiB, at most 8192), capped at the
    ``n_ev`` evaluated users; ValueError when no user is left to evaluate or ``batch_size`` is not a positive int."""
    if n_ev == 0:
        raise ValueError(f"no user to evaluate: of {n_cand} requested users, {n_no_test} have no test items and "
                         f"{n_cold} no train items (skip_cold_users={skip_cold_users}); check test / users")
    if batch_size is None:
        batch_size = max(1, min(8192, _DEFAULT_BATCH_BYTES // (4 * n_items)))
    elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(min(batch_size, n_ev))


def _recommend_lists(scorer, tr, u, kmax, tr_ptr, tr_ix) -> tuple[np.ndarray, np.ndarray]:
    """Top lists from ``model.recommend``: (items int64 (B, kmax), valid bool); train items, -1 ids and
    -inf scores the model returns are dropped (list compacted), short lists padded invalid."""
    ids, sc = scorer.rec(u.copy(), tr[u], N=kmax, filter_already_liked_items=True)
    ids, sc = np.asarray(ids), np.asarray(sc, dtype=np.float64)
    if ids.ndim == 1:
        ids, sc = ids[None, :], sc[None, :]
    if ids.shape[0] != u.size or ids.shape[1] > kmax or sc.shape != ids.shape:
        raise ValueError(f"model.recommend returned ids of shape {ids.shape} / scores {sc.shape}; expected "
                         f"({u.size}, <= {kmax}) for {u.size} users and N={kmax}")
    if np.isnan(sc).any():
        raise ValueError(_NAN_MSG)
    items = np.full((u.size, kmax), -1, dtype=np.int64)
    items[:, :ids.shape[1]] = ids
    valid = np.zeros((u.size, kmax), dtype=np.bool_)
    valid[:, :ids.shape[1]] = (ids >= 0) & (sc > -np.inf)
    valid &= ~_hits(tr_ptr, tr_ix, u, np.maximum(items, 0), valid)
    order = np.argsort(~valid, axis=1, kind="stable")
    return np.take_along_axis(items, order, 1), np.take_along_axis(valid, order, 1)


def _batch_lists(scorer, tr, u, buf, kmax, tr_ptr, tr_ix, n_items) -> tuple[np.ndarray, np.ndarray]:
    """Top lists of one user batch ``u`` (B,): (items int64 (B, kmax), valid bool (B, kmax))."""
    if scorer.rec is not None:
        return _recommend_lists(scorer, tr, u, kmax, tr_ptr, tr_ix)
    S = scorer(u, buf[: u.size])
    flat = torch.from_numpy(_gather_rows(tr_ptr, tr_ix, u, n_items)).to(S.device)
    S.view(-1).index_fill_(0, flat, -math.inf)
    items, vals = _topk_exact(S, kmax)
    return items, vals > -np.inf


def _run_full(ev, batches, B, buf, scorer, tr, tr_ptr, tr_ix, te_ptr, te_ix, n_items, ks, names):
    kmax = min(max(ks), n_items)
    all_items = np.empty((ev.size, kmax), dtype=np.int64)
    all_valid = np.empty((ev.size, kmax), dtype=np.bool_)
    with torch.inference_mode():
        for s in batches:
            u = ev[s:s + B]
            all_items[s:s + u.size], all_valid[s:s + u.size] = _batch_lists(scorer, tr, u, buf, kmax, tr_ptr, tr_ix,
                                                                            n_items)
    hits = _hits(te_ptr, te_ix, ev, all_items, all_valid)
    n_rel = np.diff(te_ptr)[ev]
    return _finish_full(all_items, all_valid, hits, n_rel, n_items, kmax, ks, names)


def _finish_full(all_items, all_valid, hits, n_rel, n_items, kmax, ks, names):
    """Per-user arrays, means and top lists from the evaluated users' top lists (U, kmax), in user order."""
    pu = _per_user_metrics(hits, n_rel, ks, names)
    means = {}
    for K in ks:
        for m in names:
            if m == "coverage":
                kk = min(K, kmax)
                it = all_items[:, :kk][all_valid[:, :kk]]
                means[f"coverage@{K}"] = float(np.unique(it).size / n_items)
            else:
                means[f"{m}@{K}"] = float(pu[f"{m}@{K}"].mean())
    order = [f"{m}@{K}" for K in ks for m in names]
    return pu, {k: means[k] for k in order}, np.where(all_valid, all_items, -1)




# ----------------------------------------------------------------------------- sharded (torch.distributed)
def _resolve_group(distributed: bool | None):
    """The :class:`recneg.distributed.DistInfo` to shard over, or None for a single-process evaluation."""
    from recneg import distributed as dist_mod

    if distributed is not None and not isinstance(distributed, bool):
        raise TypeError(f"distributed must be None (auto), True or False, got {distributed!r}")
    if distributed is False:
        return None
    di = dist_mod.info()
    if di.is_distributed:
        return di
    if distributed:
        raise ValueError("distributed=True but no process group with more than one rank is initialised; start the "
                         "job with torchrun and call recneg.distributed.init(), or pass distributed=None/False")
    return None


def _comm_device(di) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if di.backend == "nccl" else torch.device("cpu")


def _check_same_call(di, cdev, fields: dict[str, int]) -> None:
    """Raise (on every rank) when the ranks disagree on the call's shapes/arguments (they would deadlock)."""
    from recneg import distributed as dist_mod

    row = torch.tensor([list(fields.values())], dtype=torch.int64, device=cdev)
    rows = dist_mod.all_gather_cat(row).cpu().numpy()
    bad = [name for j, name in enumerate(fields) if not np.all(rows[:, j] == rows[0, j])]
    if bad:
        raise ValueError(f"distributed evaluation: the ranks disagree on {bad} (values per rank: "
                         f"{[rows[:, list(fields).index(b)].tolist() for b in bad]}); every rank must pass the same "
                         "users, K, metrics, batch_size and train/test shapes")


def _ranking_sharded(di, scorer, tr, te, cand, ks, names, batch_size, dev, per_user, skip_cold_users,
                     progress) -> RankingResult:
    """Full-ranking evaluation sharded over the process group ``di``; every rank returns the same result.

    Exactness: the evaluated users, their order and the user batches are the single-process ones
    (the skip status of each requested user is decided by its owner and all-reduced). A rank scores
    the batches holding at least one of its users, with the batch's size kept: rows of other ranks'
    users are filled with one of its own users (BLAS results can depend on the batch size, e.g. a
    one-row GEMM goes through GEMV), so each score row is bit-identical to the single-process row.
    The top-``max(K)`` lists, hits and test counts of the owned users are gathered (O(users x K)
    integers) and the metrics computed by the single-process code on the rank-ordered arrays, so
    means, per-user arrays, coverage (a union over ranks) and ties are equal, not approximately.
    """
    from recneg import distributed as dist_mod

    n_users, n_items = tr.shape
    rank, world = di.rank, di.world_size
    cdev = _comm_device(di)
    _check_same_call(di, cdev, {
        "n_users": n_users, "n_items": n_items, "len(users)": cand.size,
        "users checksum": int((cand * (np.arange(cand.size, dtype=np.int64) % 1009 + 1)).sum()),
        "K": zlib.crc32(repr(ks).encode()), "metrics": zlib.crc32(repr(list(names)).encode()), "batch_size": -1 if batch_size is None
        else int(batch_size), "skip_cold_users": int(skip_cold_users),
    })
    tr_ptr, tr_ix = tr.indptr.astype(np.int64), tr.indices.astype(np.int64)
    te_ptr, te_ix = te.indptr.astype(np.int64), te.indices.astype(np.int64)
    mine = dist_mod.owner_of(cand, n_users, world) == rank
    n_test = np.diff(te_ptr)[cand]
    n_train = np.diff(tr_ptr)[cand]
    code = np.where(n_test == 0, 2, np.where(skip_cold_users & (n_train == 0), 3, 1))  # 1 eval, 2 no test, 3 cold
    code = torch.from_numpy(np.where(mine, code, 0).astype(np.int32)).to(cdev)
    start, stop = dist_mod.user_block(n_users, rank, world)
    overlap = tr[start:stop].multiply(te[start:stop]).nnz
    counts = torch.tensor([overlap], dtype=torch.int64, device=cdev)
    dist_mod.all_reduce_sum(code)
    dist_mod.all_reduce_sum(counts)
    code = code.cpu().numpy()
    ev = cand[code == 1]
    n_no_test, n_cold = int((code == 2).sum()), int((code == 3).sum())
    if int(counts[0]) and di.is_main:
        logger.warning("train and test share %d (user, item) pairs; those test items are masked and can never be hit",
                       int(counts[0]))
    B = _user_batch(ev.size, cand.size, n_no_test, n_cold, skip_cold_users, batch_size, n_items)
    kmax = min(max(ks), n_items)
    own = mine[code == 1]  # ownership of ev's entries, in ev order
    own_pos = np.flatnonzero(own)
    items_own = np.empty((own_pos.size, kmax), dtype=np.int64)
    valid_own = np.empty((own_pos.size, kmax), dtype=np.bool_)
    batches = [s for s in range(0, ev.size, B) if own[s:s + B].any()]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=f"evaluating (rank {rank})", unit="batch")
    buf = torch.empty((B, n_items), dtype=torch.float32, device=dev) if scorer.rec is None else None
    failure: BaseException | None = None
    try:
        with torch.inference_mode():
            k = 0
            for s in batches:
                u = ev[s:s + B].copy()
                o = own[s:s + B]
                u[~o] = u[o][0]  # keep the batch size, touch only this rank's users
                items, valid = _batch_lists(scorer, tr, u, buf, kmax, tr_ptr, tr_ix, n_items)
                n_o = int(o.sum())
                items_own[k:k + n_o], valid_own[k:k + n_o] = items[o], valid[o]
                k += n_o
    except Exception as e:  # tell the other ranks before they wait in the gather below
        failure = e
    flag = torch.tensor([int(failure is not None)], dtype=torch.int64, device=cdev)
    dist_mod.all_reduce_sum(flag)
    if failure is not None:
        raise failure
    if int(flag[0]):
        raise RuntimeError("distributed evaluation failed on another rank (see its traceback)")
    ev_own = ev[own_pos]
    hits_own = _hits(te_ptr, te_ix, ev_own, items_own, valid_own)
    packed = np.concatenate([own_pos[:, None], np.diff(te_ptr)[ev_own][:, None], items_own,
                             valid_own.astype(np.int64), hits_own.astype(np.int64)], axis=1)
    allp = dist_mod.all_gather_cat(torch.from_numpy(packed).to(cdev)).cpu().numpy()
    allp = allp[np.argsort(allp[:, 0], kind="stable")]
    if allp.shape[0] != ev.size or not np.array_equal(allp[:, 0], np.arange(ev.size)):
        raise RuntimeError(f"distributed evaluation: gathered {allp.shape[0]} users' lists for {ev.size} evaluated "
                           "users; the ranks' train/test disagree")
    all_items = np.ascontiguousarray(allp[:, 2:2 + kmax])
    all_valid = allp[:, 2 + kmax:2 + 2 * kmax].astype(np.bool_)
    hits = allp[:, 2 + 2 * kmax:].astype(np.bool_)
    pu, means, top = _finish_full(all_items, all_valid, hits, allp[:, 1], n_items, kmax, ks, names)
    return RankingResult(
        metrics=means, K=ks, n_users_evaluated=int(ev.size), n_users_skipped=n_no_test + n_cold,
        n_users_skipped_no_test=n_no_test, n_users_skipped_cold=n_cold, protocol="full", sampled=False,
        users=ev.copy() if per_user else None, per_user=pu if per_user else None, top_items=top if per_user else None,
    )
