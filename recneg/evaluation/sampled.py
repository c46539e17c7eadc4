"""Sampled evaluation: each test item ranked against N negatives, with Krichene & Rendle's BV correction.

The negatives are drawn by :func:`recneg.sampling.kernels.draw_rows` (uniform over the user's items in
neither train nor test); see :func:`recneg.evaluation.ranking_metrics` (``n_sampled_negatives``) for the
definitions. ``_NEGATIVE_TRACE`` is a debug hook: set it to a list and every call appends
``(pair_user int64 (P,), negatives int64 (P, N))``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from numba import njit, prange

from recneg.sampling._rng import seed_states
from recneg.sampling.kernels import KernelSampler, draw_rows

from ._scoring import _DEFAULT_BATCH_BYTES, _NAN_MSG, _gather_rows

_NEGATIVE_TRACE: list[tuple[np.ndarray, np.ndarray]] | None = None


@njit(cache=True)
def _union_sizes(ip1: np.ndarray, ix1: np.ndarray, ip2: np.ndarray, ix2: np.ndarray, users: np.ndarray) -> np.ndarray:
    """|row1(u) union row2(u)| for sorted CSR rows."""
    out = np.empty(users.shape[0], dtype=np.int64)
    for b in range(users.shape[0]):
        u = users[b]
        i, ie, j, je = ip1[u], ip1[u + 1], ip2[u], ip2[u + 1]
        c = 0
        while i < ie and j < je:
            if ix1[i] < ix2[j]:
                i += 1
            elif ix1[i] > ix2[j]:
                j += 1
            else:
                i += 1
                j += 1
            c += 1
        out[b] = c + (ie - i) + (je - j)
    return out


def _draw_negatives(tr_ptr: np.ndarray, tr_ix: np.ndarray, te_ptr: np.ndarray, te_ix: np.ndarray,
                    pair_user: np.ndarray, n_items: int, N: int, base: np.uint64) -> np.ndarray:
    """(P, N) int64 items drawn uniformly with replacement from the items in neither row of ``pair_user[p]``.

    Drawn by :func:`recneg.sampling.kernels.draw_rows` with a uniform
    :class:`~recneg.sampling.kernels.KernelSampler` whose seen rows are train | test; every
    user in ``pair_user`` must have at least one such item. Depends only on ``base`` (not threads).
    """
    n_users = tr_ptr.shape[0] - 1
    tr = sp.csr_matrix((np.ones(tr_ix.shape[0], np.int8), tr_ix, tr_ptr), shape=(n_users, n_items))
    te = sp.csr_matrix((np.ones(te_ix.shape[0], np.int8), te_ix, te_ptr), shape=(n_users, n_items))
    sampler = KernelSampler.uniform(n_items, tr + te, exclude_seen=True)
    negs = draw_rows(pair_user, N, base, *sampler.args)
    if _NEGATIVE_TRACE is not None:
        _NEGATIVE_TRACE.append((pair_user.copy(), negs.copy()))
    return negs


def _single_item_values(r: np.ndarray, K: int, m: str) -> np.ndarray:
    """Metric of a single relevant item at rank(s) ``r`` (1-based), cut-off K."""
    r = np.asarray(r, dtype=np.float64)
    hit = r <= K
    if m == "recall":
        return hit.astype(np.float64)
    if m == "precision":
        return hit / K
    if m == "ndcg":
        return np.where(hit, 1.0 / np.log2(r + 1.0), 0.0)
    if m in ("mrr", "map"):
        return np.where(hit, 1.0 / r, 0.0)
    raise ValueError(m)


def _binom_pmf_matrix(n: int, N: int) -> np.ndarray:
    """P[R-1, r-1] = Binomial(N, (R-1)/n).pmf(r-1) for R = 1..n+1, r = 1..N+1; float64 (n+1, N+1)."""
    from scipy.special import gammaln

    j = np.arange(N + 1, dtype=np.float64)
    logc = gammaln(N + 1.0) - gammaln(j + 1.0) - gammaln(N - j + 1.0)
    q = np.arange(n + 1, dtype=np.float64) / max(n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lq, l1q = np.log(q)[:, None], np.log1p(-q)[:, None]
        logp = logc[None, :] + j[None, :] * lq + (N - j)[None, :] * l1q
    logp[logp < -700.0] = -np.inf  # no denormals: they make the BLAS products below crawl
    logp[0, :] = -np.inf
    logp[0, 0] = 0.0  # q = 0: rank 1 surely
    logp[-1, :] = -np.inf
    logp[-1, N] = 0.0  # q = 1: all negatives ahead
    return np.exp(logp)


def _bv_correction(n: int, N: int, ks: Sequence[int], names: Sequence[str], gamma: float) -> dict[str, np.ndarray]:
    """Krichene-Rendle BV-corrected metric per sampled rank: {"m@K": float64 (N+1,)} for universe size n."""
    R = np.arange(1, n + 2, dtype=np.float64)  # full rank among n negatives + the item
    P = _binom_pmf_matrix(n, N)  # (n+1, N+1): P[r-1 | R]
    w = 1.0 / (n + 1)
    A = (1.0 - gamma) * w * (P.T @ P)
    A[np.diag_indices_from(A)] += gamma * w * P.sum(0)
    keys = [f"{m}@{K}" for K in ks for m in names]
    Mcols = np.stack([_single_item_values(R, K, m) for K in ks for m in names], axis=1)  # (n+1, M)
    b = w * (P.T @ Mcols)
    try:
        X = np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        X = np.linalg.lstsq(A, b, rcond=None)[0]
    return {key: X[:, j] for j, key in enumerate(keys)}


@njit(cache=True, parallel=True)
def _sampled_ranks_kernel(U: np.ndarray, V: np.ndarray, pair_user: np.ndarray, pair_item: np.ndarray,
                          negs: np.ndarray) -> np.ndarray:
    """ranks[p] = 1 + #negatives ahead (score desc, index asc) with float32 dot-product scores; -1 on NaN."""
    P, N = negs.shape
    d = U.shape[1]
    ranks = np.empty(P, dtype=np.int64)
    for p in prange(P):
        u = U[pair_user[p]]
        i = pair_item[p]
        acc = np.float32(0.0)
        for k in range(d):
            acc += u[k] * V[i, k]
        if np.isnan(acc):
            ranks[p] = -1
            continue
        r = 1
        for j in range(N):
            it = negs[p, j]
            s = np.float32(0.0)
            for k in range(d):
                s += u[k] * V[it, k]
            if np.isnan(s):
                r = -1
                break
            if s > acc or (s == acc and it < i):
                r += 1
        ranks[p] = r
    return ranks


def _sampled_ranks_factors(scorer, pair_user, pair_item, negs):
    """Sampled ranks (P,) from per-pair dot products (no full score rows): numba on CPU, torch bmm elsewhere."""
    U, V = scorer.U, scorer.VT.T
    if U.device.type == "cpu":
        ranks = _sampled_ranks_kernel(U.numpy(), np.ascontiguousarray(V.numpy()), pair_user, pair_item, negs)
        if (ranks < 0).any():
            raise ValueError("scores contain NaN (overflow in user_factors @ item_factors)")
        return ranks
    P, N = negs.shape
    ranks = np.empty(P, dtype=np.int64)
    chunk = max(1, _DEFAULT_BATCH_BYTES // (4 * (N + 1) * max(U.shape[1], 1)))
    for a in range(0, P, chunk):
        b = min(P, a + chunk)
        uu = torch.from_numpy(pair_user[a:b]).to(U.device)
        pos_i = torch.from_numpy(pair_item[a:b]).to(U.device)
        neg_i = torch.from_numpy(negs[a:b]).to(U.device)
        uvec = U[uu]  # (c, d)
        pos_s = (uvec * V[pos_i]).sum(1)
        neg_s = torch.bmm(V[neg_i], uvec.unsqueeze(2)).squeeze(2)  # (c, N)
        ranks[a:b] = _ranks_from_scores(pos_s, neg_s, pos_i, neg_i)
    return ranks


def _ranks_from_scores(pos_s, neg_s, pos_i, neg_i) -> np.ndarray:
    """1 + #negatives ahead of the positive under (score desc, index asc)."""
    if bool(torch.isnan(pos_s).any()) or bool(torch.isnan(neg_s).any()):
        raise ValueError(_NAN_MSG)
    ahead = (neg_s > pos_s[:, None]) | ((neg_s == pos_s[:, None]) & (neg_i < pos_i[:, None]))
    return (1 + ahead.sum(1)).cpu().numpy()


def _run_sampled(ev, n_free, batches, B, buf, scorer, tr_ptr, tr_ix, te_ptr, te_ix, n_items, N, ks, names, seed, gamma):
    cnt = np.diff(te_ptr)[ev]
    pair_user = np.repeat(ev, cnt)
    pair_local = np.repeat(np.arange(ev.size), cnt)
    # positions of the evaluated users' test entries (with n_items=0 _gather_rows returns the CSR positions)
    pair_item = te_ix[_gather_rows(te_ptr, np.arange(te_ix.size, dtype=np.int64), ev, 0)]
    base = seed_states(seed, 1)[0]
    negs = _draw_negatives(tr_ptr, tr_ix, te_ptr, te_ix, pair_user, n_items, N, base)
    starts = np.concatenate([[0], np.cumsum(cnt)])
    with torch.inference_mode():
        if scorer.fn is None:
            ranks = _sampled_ranks_factors(scorer, pair_user, pair_item, negs)
        else:
            ranks = np.empty(pair_user.size, dtype=np.int64)
            for s in batches:
                u = ev[s:s + B]
                S = scorer(u, buf[: u.size])
                p0, p1 = starts[s], starts[s + u.size]
                rows = torch.from_numpy(pair_local[p0:p1] - s).to(S.device)
                pos_i = torch.from_numpy(pair_item[p0:p1]).to(S.device)
                neg_i = torch.from_numpy(negs[p0:p1]).to(S.device)
                ranks[p0:p1] = _ranks_from_scores(S[rows, pos_i], S[rows.unsqueeze(1), neg_i], pos_i, neg_i)
    # BV correction per universe-size bin (relative width 0.5%)
    bins = np.floor(np.log(n_free.astype(np.float64)) / np.log(1.005)).astype(np.int64)
    ubins, inv = np.unique(bins, return_inverse=True)
    pair_bin = np.repeat(inv, cnt)
    corrected: dict[str, np.ndarray] = {f"{m}@{K}": np.empty(ranks.size) for K in ks for m in names}
    for b in range(ubins.size):
        n_rep = int(round(n_free[inv == b].mean()))
        tables = _bv_correction(n_rep, N, ks, names, gamma)
        sel = pair_bin == b
        r_sel = ranks[sel] - 1
        for key, x in tables.items():
            corrected[key][sel] = x[r_sel]
    pu: dict[str, np.ndarray] = {}
    means: dict[str, float] = {}
    for K in ks:
        for m in names:
            raw = _single_item_values(ranks, K, m)
            for key, vals in ((f"sampled_{m}@{K}", corrected[f"{m}@{K}"]), (f"sampled_raw_{m}@{K}", raw)):
                per = np.add.reduceat(vals, starts[:-1]) / cnt
                pu[key] = per
                means[key] = float(per.mean())
    return pu, means, None
