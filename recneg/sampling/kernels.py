"""Per-draw numba functions that every numba kernel draws its negatives through.

A kernel holds one sampler state as plain arrays (built once, in Python, by
:class:`KernelSampler`) and calls, per negative, one of:

* :func:`proposal_draw` -- one draw from the proposal ``p`` (uniform, or an alias table);
* :func:`draw_unseen` -- one draw from ``p`` truncated to the items outside the user's
  training row (and != ``extra``): rejection for up to ``tries`` draws, then an exact
  draw from the complement by bisection (:func:`complement_draw`). Never a seen item and
  never a skip; -1 only when the user has no unseen item with positive mass, which
  :meth:`KernelSampler.check_drawable` refuses before training;
* :func:`draw_negative` -- :func:`draw_unseen` or :func:`proposal_draw` by ``exclude``;
  :func:`user_context` + :func:`draw_negative_at` are the same draw with the per-user values
  (``tries[u]``, the row's hash slots) looked up once for a run of draws of one user;
* :func:`dns_draw` -- dynamic negative sampling: the best-scoring of ``m`` fresh draws;
* :func:`pool_fill` / :func:`pool_pick` -- DNS from a per-user pool of distinct
  candidates scored once per user visit, each negative the best of a window of ``m`` slots;
* :func:`draw_avoiding` -- word2vec's law: alias draws != the centre word, redrawn up to
  ``MAX_REDRAW`` times, then left out (gensim/C-tool compatible);
* :func:`sg_draws` / :func:`sg_dns_draws` -- the skip-gram kernels' negatives of a centre word in a
  sequence of user ``u`` with a :attr:`KernelSampler.args` state: exact exclusion of the user's items
  (:func:`draw_unseen`) or word2vec's law, and DNS: each slot the best of ``m`` such draws by the
  skip-gram score ``h . V[j]`` (``h`` the input-side vector, ``V`` the output vectors);
* :func:`draw_rows` -- ``k`` negatives per row in parallel (evaluation, tools, tests).

The kernel argument tuple of a sampler is :attr:`KernelSampler.args`, in the order the
functions take it: ``exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum,
hoff, htab, tries``. RNG states are xorshift64 ``uint64`` from :mod:`._rng`; every
function returns the advanced state.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ._rng import rng_next, rng_uniform, row_state
from .alias import AliasTable, alias_draw
from .exclusion import build_row_hash, in_hash_slots, is_seen

logger = logging.getLogger(__name__)

__all__ = [
    "MODE_UNIFORM", "MODE_ALIAS", "MAX_REJECT", "MAX_REDRAW", "KernelSampler",
    "proposal_draw", "draw_unseen", "draw_unseen_at", "user_context", "draw_negative", "draw_negative_at",
    "complement_draw", "score", "dns_draw", "pool_fill", "pool_pick", "warp_draw", "draw_avoiding", "sg_draw_one",
    "sg_draws", "sg_dns_draws", "draw_rows", "log_expected_count",
]

MODE_UNIFORM = 0
MODE_ALIAS = 1
MAX_REJECT = 64  # rejection trials per draw before the complement draw (light users)
MAX_REDRAW = 8  # word2vec: redraws of a negative equal to the centre word before leaving it out
POOL_REDRAW = 4  # DNS pool: redraws of an item already in the pool before leaving the slot empty
EXACT_NORM_BELOW = 1e-6  # recompute unseen mass by summation when 1 - seen mass is this small


# --------------------------------------------------------------------------- exact exclusion machinery


@njit(cache=True)
def row_stats(indptr, indices, p):
    """Per-user seen mass, exact unseen mass, number of seen positive-weight items, and
    the within-row inclusive prefix sums of p (aligned with ``indices``).

    Returns:
        float64 (n_users,), float64 (n_users,), int64 (n_users,), float64 (nnz,).
    """
    n_users = indptr.shape[0] - 1
    n_items = p.shape[0]
    seen_mass = np.zeros(n_users)
    unseen = np.zeros(n_users)
    npos_seen = np.zeros(n_users, dtype=np.int64)
    seen_cum = np.empty(indices.shape[0])
    total = 0.0
    for i in range(n_items):
        total += p[i]
    for u in range(n_users):
        acc = 0.0
        c = 0
        for t in range(indptr[u], indptr[u + 1]):
            w = p[indices[t]]
            acc += w
            if w > 0:
                c += 1
            seen_cum[t] = acc
        seen_mass[u] = acc
        npos_seen[u] = c
        rest = total - acc
        if rest < EXACT_NORM_BELOW:
            rest = 0.0
            for i in range(n_items):
                if not is_seen(indptr, indices, u, i):
                    rest += p[i]
        unseen[u] = rest
    return seen_mass, unseen, npos_seen, seen_cum


@njit(cache=True, inline="always")
def _seen_upto(indptr, indices, seen_cum, u, j):
    """Sum of p over the items of row u with index <= j."""
    lo = indptr[u]
    hi = indptr[u + 1]
    start = lo
    while lo < hi:  # first position with indices > j
        mid = (lo + hi) >> 1
        if indices[mid] <= j:
            lo = mid + 1
        else:
            hi = mid
    if lo > start:
        return seen_cum[lo - 1]
    return 0.0


@njit(cache=True, inline="always")
def unseen_cdf(cum, p, indptr, indices, seen_cum, u, extra, j):
    """Mass of the unseen items (not in row u, not ``extra``) with index <= j."""
    f = cum[j + 1] - _seen_upto(indptr, indices, seen_cum, u, j)
    if extra >= 0 and extra <= j:
        f -= p[extra]
    return f


@njit(cache=True)
def complement_draw(cum, p, indptr, indices, seen_cum, u, extra, r):
    """One draw from p restricted to items outside row u and != extra, for a uniform r.

    Bisects the unseen cumulative mass in O(log row + log V); a landing on an excluded or zero-weight item
    (possible only through rounding) moves to the nearest valid item. Returns -1 if
    there is no valid item.
    """
    n = p.shape[0]
    r0 = indptr[u]
    r1 = indptr[u + 1]
    pe = p[extra] if extra >= 0 else 0.0
    z = cum[n] - (seen_cum[r1 - 1] if r1 > r0 else 0.0) - pe  # == unseen_cdf(..., n - 1)
    t = r * z
    # 1) the gap between seen items holding the draw: the first seen position i whose unseen
    #    mass up to s_i exceeds t (O(log row)); 2) bisect inside the gap, where the seen mass
    #    below j is the constant seen_cum[i - 1] (O(log V)). Total O(log row + log V).
    lo = r0
    hi = r1
    while lo < hi:
        mid = (lo + hi) >> 1
        si = indices[mid]
        g = cum[si + 1] - seen_cum[mid]
        if extra >= 0 and extra < si:
            g -= pe
        if g > t:
            hi = mid
        else:
            lo = mid + 1
    base = seen_cum[lo - 1] if lo > r0 else 0.0
    jlo = indices[lo - 1] + 1 if lo > r0 else 0
    jhi = indices[lo] - 1 if lo < r1 else n - 1
    if jhi < jlo:  # empty gap, only through rounding
        jlo = 0
        jhi = n - 1
        base = -1.0
    lo = jlo
    hi = jhi
    while lo < hi:
        mid = (lo + hi) >> 1
        if base >= 0.0:
            f = cum[mid + 1] - base
            if extra >= 0 and extra <= mid:
                f -= pe
        else:
            f = unseen_cdf(cum, p, indptr, indices, seen_cum, u, extra, mid)
        if f > t:
            hi = mid
        else:
            lo = mid + 1
    j = lo
    if p[j] > 0 and j != extra and not is_seen(indptr, indices, u, j):
        return j
    for d in range(1, n):
        a = j + d
        if a < n and p[a] > 0 and a != extra and not is_seen(indptr, indices, u, a):
            return a
        b = j - d
        if b >= 0 and p[b] > 0 and b != extra and not is_seen(indptr, indices, u, b):
            return b
        if a >= n and b < 0:
            break
    return -1


# --------------------------------------------------------------------------- per-draw functions


@njit(cache=True, inline="always")
def proposal_draw(s, mode, prob, alias, n_items):
    """One draw from the proposal: uniform over ``n_items`` (``MODE_UNIFORM``) or the alias
    table ``prob`` float64 (n,), ``alias`` int32 (n,) (``MODE_ALIAS``). Returns (item, state)."""
    s = rng_next(s)
    r = rng_uniform(s)
    if mode == MODE_ALIAS:
        j = alias_draw(prob, alias, r)
    else:
        j = int(r * n_items)
        if j >= n_items:
            j = n_items - 1
    return j, s


@njit(cache=True, inline="always")
def draw_unseen_at(s, u, extra, tries, hstart, hmask, mode, prob, alias, p, cum, indptr, indices, seen_cum, htab):
    """:func:`draw_unseen` with user u's hash slots (``htab[hstart:hstart + hmask + 1]``) already looked up,
    so a loop of draws for one user reads them once (see :func:`user_context`)."""
    for _t in range(tries):
        cand, s = proposal_draw(s, mode, prob, alias, p.shape[0])
        if cand != extra and not in_hash_slots(htab, hstart, hmask, cand):
            return cand, s
    s = rng_next(s)
    return complement_draw(cum, p, indptr, indices, seen_cum, u, extra, rng_uniform(s)), s


@njit(cache=True, inline="always")
def draw_unseen(s, u, extra, tries, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab):
    """One draw from p restricted to the items outside user u's row and != ``extra`` (-1: none).

    Rejection for up to ``tries`` proposal draws (membership by the row hash ``hoff``/``htab``),
    then one exact complement draw. Returns (item, state); item is -1 only when the user has no
    valid item with positive mass.
    """
    hstart = hoff[u]
    return draw_unseen_at(s, u, extra, tries, hstart, hoff[u + 1] - hstart - 1, mode, prob, alias, p, cum, indptr,
                          indices, seen_cum, htab)


@njit(cache=True, inline="always")
def user_context(u, exclude, hoff, tries):
    """The per-user values every :func:`draw_negative` of user u reads: (rejection trials ``tries[u]``,
    hash start, hash mask), or (0, 0, -1) when not excluding. Look them up once per user (or per
    run of draws for one user) and draw with :func:`draw_negative_at`."""
    if exclude:
        hstart = hoff[u]
        return np.int64(tries[u]), hstart, hoff[u + 1] - hstart - 1
    return np.int64(0), np.int64(0), np.int64(-1)


@njit(cache=True, inline="always")
def draw_negative_at(s, u, ctx, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, htab):
    """:func:`draw_negative` with ``ctx = user_context(u, exclude, hoff, tries)``; returns (item, state)."""
    if exclude:
        return draw_unseen_at(s, u, -1, ctx[0], ctx[1], ctx[2], mode, prob, alias, p, cum, indptr, indices,
                              seen_cum, htab)
    return proposal_draw(s, mode, prob, alias, p.shape[0])


@njit(cache=True, inline="always")
def draw_negative(s, u, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries):
    """One negative for user u with a :attr:`KernelSampler.args` state; returns (item, state).

    ``exclude``: the truncated law of :func:`draw_unseen` (``tries[u]`` rejection trials),
    else a plain :func:`proposal_draw`. Kernels drawing many negatives for one user hoist
    :func:`user_context` and call :func:`draw_negative_at` (same draws).
    """
    return draw_negative_at(s, u, user_context(u, exclude, hoff, tries), exclude, mode, prob, alias, p, cum, indptr,
                            indices, seen_cum, htab)


@njit(fastmath=True, error_model="numpy", inline="always")
def score(U, V, b, u, j, use_bias):
    """Score ``U[u] . V[j] (+ b[j])`` in float32 (U, V float32 (n, d), b float32 (n_items,))."""
    acc = np.float32(0.0)
    for f in range(U.shape[1]):
        acc += U[u, f] * V[j, f]
    if use_bias:
        acc += b[j]
    return acc


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def dns_draw(s, U, V, b, u, use_bias, m, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff,
             htab, tries):
    """Dynamic negative sampling: the best-scoring of ``m`` fresh :func:`draw_negative` draws.

    Returns (item, state); -1 only for a user with no drawable item.
    """
    best = -1
    best_s = np.float32(-np.inf)
    ctx = user_context(u, exclude, hoff, tries)
    for _ in range(m):
        j, s = draw_negative_at(s, u, ctx, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, htab)
        if j < 0:
            continue
        sc = score(U, V, b, u, j, use_bias)
        if best < 0 or sc > best_s:
            best_s = sc
            best = j
    return best, s


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def pool_fill(s, items, scores, slots, U, V, b, u, use_bias, exclude, mode, prob, alias, p, cum, indptr, indices,
              seen_cum, hoff, htab, tries):
    """Fill a DNS pool for user u: ``items`` int64 (P,) distinct negatives, ``scores`` float32 (P,).

    Each slot is a :func:`draw_negative` draw, redrawn up to ``POOL_REDRAW`` times while it is already
    in the pool (then the slot stays empty: item -1, score -inf). ``slots`` int64 (H,), H a power of
    two >= 2P, is the scratch open-addressing set. Returns the state.
    """
    P = items.shape[0]
    H = slots.shape[0]
    for h in range(H):
        slots[h] = -1
    ctx = user_context(u, exclude, hoff, tries)
    for q in range(P):
        j = -1
        for _try in range(POOL_REDRAW):
            j, s = draw_negative_at(s, u, ctx, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, htab)
            if j < 0:
                break
            h = (j * 40503) & (H - 1)
            while slots[h] >= 0 and slots[h] != j:
                h = (h + 1) & (H - 1)
            if slots[h] != j:
                slots[h] = j
                break
            j = -1
        items[q] = j
        scores[q] = score(U, V, b, u, j, use_bias) if j >= 0 else np.float32(-np.inf)
    return s


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def warp_draw(s, U, V, b, u, ctx, use_bias, threshold, max_trials, exclude, mode, prob, alias, p, cum, indptr,
              indices, seen_cum, htab):
    """WARP trials (Weston et al. 2011): draw negatives for user u (exact exclusion, as :func:`draw_negative_at`
    with ``ctx = user_context(u, ...)``) until one scores above ``threshold`` (the positive's score minus the
    margin), at most ``max_trials`` draws.

    Returns:
        (item or -1 when no draw violated the margin, number of draws made, state).
    """
    for t in range(1, max_trials + 1):
        j, s = draw_negative_at(s, u, ctx, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, htab)
        if score(U, V, b, u, j, use_bias) > threshold:
            return j, t, s
    return -1, max_trials, s


@njit(cache=True, inline="always")
def pool_pick(s, items, scores, m):
    """The best-scoring of ``min(m, P)`` consecutive pool slots from a random start (the pool was drawn
    i.i.d., so its order is random); one random number per pick. Returns (slot or -1 if all the window's
    slots are empty, state). Empty slots score -inf (:func:`pool_fill`), so the strict ``>`` never picks
    one; the window is scanned as (at most) two unbroken runs so the loop has no wrap test."""
    P = items.shape[0]
    w = min(m, P)
    s = rng_next(s)
    q0 = int(rng_uniform(s) * P)
    if q0 >= P:
        q0 = P - 1
    bq = -1
    bs = np.float32(-np.inf)
    end = min(q0 + w, P)
    for q in range(q0, end):
        sc = scores[q]
        bq = q if sc > bs else bq
        bs = max(bs, sc)
    for q in range(0, q0 + w - end):
        sc = scores[q]
        bq = q if sc > bs else bq
        bs = max(bs, sc)
    return bq, s


@njit(cache=True, inline="always")
def draw_avoiding(neg, k, avoid, prob, alias, s):
    """word2vec negatives: fill ``neg[:k']`` with alias draws != ``avoid`` (each redrawn up to
    ``MAX_REDRAW`` times, then left out); returns (k', state)."""
    n = 0
    for _ in range(k):
        x = avoid
        for _r in range(MAX_REDRAW):
            s = rng_next(s)
            x = alias_draw(prob, alias, rng_uniform(s))
            if x != avoid:
                break
        if x != avoid:
            neg[n] = x
            n += 1
    return n, s


@njit(cache=True, inline="always")
def sg_draw_one(s, avoid, u, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries):
    """One skip-gram negative for centre word ``avoid`` in a sequence of user ``u``; returns (item, state).

    ``exclude``: :func:`draw_unseen` for user ``u`` (the centre is one of the user's items, so it is
    excluded with them; never -1 for a user :meth:`KernelSampler.check_drawable` accepts). Otherwise
    word2vec's law: proposal draws != ``avoid``, redrawn up to ``MAX_REDRAW`` times, else -1 (left out).
    """
    if exclude:
        return draw_unseen(s, u, -1, tries[u], mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab)
    x = avoid
    for _r in range(MAX_REDRAW):
        x, s = proposal_draw(s, mode, prob, alias, p.shape[0])
        if x != avoid:
            return x, s
    return -1, s


@njit(cache=True, inline="always")
def sg_draws(neg, k, avoid, u, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries, s):
    """Fill ``neg[:k']`` with :func:`sg_draw_one` negatives (left-out slots dropped); returns (k', state).

    Without exclusion and with an alias proposal this is :func:`draw_avoiding`, draw for draw."""
    n = 0
    for _ in range(k):
        x, s = sg_draw_one(s, avoid, u, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab,
                           tries)
        if x >= 0:
            neg[n] = x
            n += 1
    return n, s


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def sg_dns_draws(neg, k, m, h, V, avoid, u, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff,
                 htab, tries, s):
    """Skip-gram DNS: each of ``k`` slots is the best of ``m`` :func:`sg_draw_one` candidates by the
    current skip-gram score ``h . V[j]`` (``h`` float32 (d,) the input-side vector: the context word's
    input vector, or the mean of the context's for CBOW / shared negatives; ``V`` the output vectors).
    A slot whose ``m`` candidates were all left out is dropped. Returns (k', state)."""
    n = 0
    d = h.shape[0]
    for _ in range(k):
        best = -1
        best_s = np.float32(-np.inf)
        for _c in range(m):
            j, s = sg_draw_one(s, avoid, u, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff,
                               htab, tries)
            if j < 0:
                continue
            sc = np.float32(0.0)
            for f in range(d):
                sc += h[f] * V[j, f]
            if best < 0 or sc > best_s:
                best_s = sc
                best = j
        if best >= 0:
            neg[n] = best
            n += 1
    return n, s


@njit(cache=True, parallel=True)
def draw_rows(users, k, base, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries):
    """``k`` :func:`draw_negative` negatives per entry of ``users`` (int64 (R,)); row r draws from
    ``row_state(base, r)``, so the result depends on ``base`` only, not on the thread count.

    Returns:
        int64 (R, k); -1 only in rows of users with no drawable item.
    """
    R = users.shape[0]
    out = np.empty((R, k), dtype=np.int64)
    for r in prange(R):
        s = row_state(base, r)
        u = users[r]
        ctx = user_context(u, exclude, hoff, tries)
        for c in range(k):
            j, s = draw_negative_at(s, u, ctx, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, htab)
            out[r, c] = j
    return out


# --------------------------------------------------------------------------- Python-side state


def log_expected_count(p: np.ndarray, k: int) -> np.ndarray:
    """``log(k * q(j))`` per item: the log of the expected number of times item j appears among
    ``k`` i.i.d. draws from the proposal ``q = p / sum(p)`` (TensorFlow's "expected count" of a
    non-unique candidate sampler). NCE subtracts it from every logit.

    Args:
        p: float (n_items,) proposal weights, >= 0 (normalised here).
        k: draws per positive (>= 1).

    Returns:
        float32 (n_items,); ``-inf`` where ``p`` is 0 (an item the proposal never draws).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer (draws per positive), got {k!r}")
    q = np.asarray(p, dtype=np.float64)
    total = q.sum()
    if q.ndim != 1 or not np.isfinite(total) or total <= 0 or (q < 0).any():
        raise ValueError("p must be a 1-D array of finite weights >= 0 with a positive sum")
    with np.errstate(divide="ignore"):
        return (np.log(q) + (np.log(float(k)) - np.log(total))).astype(np.float32)


def _csr_arrays(csr: Any, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(indptr int64, indices int32) of a users x items scipy matrix with sorted, merged rows."""
    if not sp.issparse(csr):
        raise TypeError(f"csr must be a scipy.sparse users x items matrix, got {type(csr).__name__}")
    if csr.shape[1] != n_items:
        raise ValueError(f"csr has {csr.shape[1]} item columns but the proposal has {n_items} items; "
                         "give one weight per item")
    m = sp.csr_matrix(csr, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32)


@dataclass(frozen=True)
class KernelSampler:
    """One sampler state as the plain arrays the numba draw functions take (see :attr:`args`).

    Build it with :meth:`from_weights` or :meth:`uniform`.

    Attributes:
        exclude: draw from the proposal truncated to each user's unseen items.
        mode: ``MODE_UNIFORM`` or ``MODE_ALIAS``.
        prob, alias: float64 / int32 (n_items,) alias table (length 1 placeholders when uniform).
        p: float64 (n_items,) normalised proposal; cum: float64 (n_items + 1,) its prefix sums.
        indptr, indices: int64 (n_users + 1,), int32 (nnz,) training CSR (sorted rows).
        seen_cum: float64 (nnz,) within-row prefix sums of p.
        hoff, htab: int64 (n_users + 1,), int32 per-row hash sets for O(1) membership.
        tries: int32 (n_users,) rejection trials per draw (0 for heavy users, who draw from the
            complement directly).
        unseen_mass: float64 (n_users,) proposal mass of each user's unseen items.
        exhausted_users: int64 user ids with no unseen item of positive mass (empty if not excluding).
        table: the :class:`AliasTable` (None when uniform).
    """

    exclude: bool
    mode: int
    prob: np.ndarray
    alias: np.ndarray
    p: np.ndarray
    cum: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    seen_cum: np.ndarray
    hoff: np.ndarray
    htab: np.ndarray
    tries: np.ndarray
    unseen_mass: np.ndarray
    exhausted_users: np.ndarray
    table: AliasTable | None

    @classmethod
    def from_weights(cls, weights: np.ndarray, csr: Any = None, exclude_seen: bool = False,
                     heavy_threshold: float = 0.95, stats: tuple | None = None) -> "KernelSampler":
        """Alias-table proposal over ``weights`` (float (n_items,), >= 0, not all zero).

        Args:
            csr: users x items scipy matrix of the seen items; needed when ``exclude_seen``.
            exclude_seen: truncate the proposal to each user's unseen items.
            heavy_threshold: users whose seen mass exceeds it skip rejection (complement draw only).
            stats: ``(seen_mass, unseen_mass, npos_seen, seen_cum, hoff, htab)`` already computed for this
                proposal and ``csr`` (:func:`row_stats` and ``build_row_hash``), e.g. by a NegativeSampler;
                None computes them.
        """
        table = AliasTable(weights)
        return cls._build(MODE_ALIAS, table.prob, table.alias, table.p, table, csr, exclude_seen, heavy_threshold,
                          stats)

    @classmethod
    def uniform(cls, n_items: int, csr: Any = None, exclude_seen: bool = False,
                heavy_threshold: float = 0.95, stats: tuple | None = None) -> "KernelSampler":
        """Uniform proposal over ``n_items`` (no alias table; arguments as in :meth:`from_weights`)."""
        if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
            raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
        n = int(n_items)
        return cls._build(MODE_UNIFORM, np.ones(1), np.zeros(1, np.int32), np.full(n, 1.0 / n), None, csr,
                          exclude_seen, heavy_threshold, stats)

    @classmethod
    def _build(cls, mode: int, prob: np.ndarray, alias: np.ndarray, p: np.ndarray, table: AliasTable | None,
               csr: Any, exclude_seen: bool, heavy_threshold: float, stats: tuple | None = None) -> "KernelSampler":
        n_items = p.shape[0]
        if mode == MODE_UNIFORM:
            cum = np.arange(n_items + 1, dtype=np.float64) / n_items
        else:
            cum = np.concatenate(([0.0], np.cumsum(p)))
        exclude = bool(exclude_seen)
        if exclude and csr is None:
            raise ValueError("exclude_seen=True needs csr, the users x items matrix of seen items")
        if not 0.0 < float(heavy_threshold) < 1.0:
            raise ValueError(f"heavy_threshold must be in (0, 1), got {heavy_threshold!r}")
        if not exclude:
            e64, e32 = np.zeros(1, np.int64), np.zeros(0, np.int32)
            return cls(False, mode, prob, alias, p, cum, e64, e32, np.zeros(0), e64, e32, e32, np.ones(0),
                       np.zeros(0, np.int64), table)
        indptr, indices = _csr_arrays(csr, n_items)
        if stats is None:
            seen_mass, unseen, npos_seen, seen_cum = row_stats(indptr, indices, p)
            hoff, htab = build_row_hash(indptr, indices)
        else:
            seen_mass, unseen, npos_seen, seen_cum, hoff, htab = stats
        tries = np.where(seen_mass > heavy_threshold, 0, MAX_REJECT).astype(np.int32)
        exhausted = np.flatnonzero(npos_seen >= np.count_nonzero(p > 0)).astype(np.int64)
        return cls(True, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries, unseen,
                   exhausted, table)

    @property
    def n_items(self) -> int:
        """Number of items the proposal ranges over."""
        return int(self.p.shape[0])

    def log_expected_count(self, k: int) -> np.ndarray:
        """float32 (n_items,) ``log(k * p)`` under the (untruncated) proposal: see :func:`log_expected_count`."""
        return log_expected_count(self.p, k)

    @property
    def args(self) -> tuple:
        """The kernel argument tuple: ``exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum,
        hoff, htab, tries``."""
        return (self.exclude, self.mode, self.prob, self.alias, self.p, self.cum, self.indptr, self.indices,
                self.seen_cum, self.hoff, self.htab, self.tries)

    def check_drawable(self) -> None:
        """Raise ValueError naming a user who has seen every item the sampler can draw (exclusion on)."""
        if self.exhausted_users.size:
            first = int(self.exhausted_users[0])
            more = f" (and {self.exhausted_users.size - 1} more users)" if self.exhausted_users.size > 1 else ""
            raise ValueError(
                f"user {first} has seen every item the sampler can draw{more}, so no negative exists for it; "
                "drop such users from the training data, give the proposal more support (e.g. an alpha closer "
                "to 0), or turn off seen-item exclusion")

    def sample(self, users: np.ndarray, k: int, seed: int | np.uint64 | None = None) -> np.ndarray:
        """``k`` negatives per user with :func:`draw_rows` (for tools and plots).

        Args:
            users: int (R,) user ids (any ids in [0, 2**63) when not excluding).
            seed: int seed.

        Returns:
            int64 (R, k).
        """
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if self.exclude and users.size and (users.min() < 0 or users.max() >= self.indptr.shape[0] - 1):
            raise ValueError(f"users must be in [0, {self.indptr.shape[0] - 1}), got values in "
                             f"[{users.min()}, {users.max()}]")
        base = np.uint64(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0])
        return draw_rows(users, int(k), base, *self.args)
