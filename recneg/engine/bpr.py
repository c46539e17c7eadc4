"""Numba kernels for BPR matrix factorisation (Hogwild SGD on CPU).

One epoch is one pass over the (user, positive item) pairs in a shuffled order.
The pairs are cut into ``n_chunks`` contiguous chunks of that order; ``prange``
runs chunks in parallel and each chunk owns one xorshift state from
:func:`recneg.sampling._rng.seed_states`, so the negatives drawn do not depend on
the thread count (updates race Hogwild-style, as in implicit/word2vec).

Negatives are drawn inside the kernel:

* proposal: uniform over items (``mode=0``) or an alias table (``mode=1``, e.g.
  popularity^alpha) through :func:`recneg.sampling.alias.alias_draw`;
* exclusion: a draw the user has already interacted with (``is_seen`` on the
  training CSR) is redrawn, up to ``max_tries`` draws; if all are seen the
  negative is skipped and counted;
* DNS (Zhang et al. 2013): ``dns_m > 1`` draws ``dns_m`` candidates and keeps the
  one the current model scores highest; with ``pool_size > 0`` the candidates come
  from a pool drawn and scored once per user visit (cheap with the user-block order
  of :func:`user_block_order`).

Update for one triple (u, i, j), with ``x = u.(v_i - v_j) + b_i - b_j`` and
``g = sigmoid(-x)`` (the gradient of ``log sigmoid(x)``)::

    u   += lr * ( g * (v_i - v_j) - reg * u)
    v_i += lr * ( g * u           - reg * v_i)
    v_j += lr * (-g * u           - reg * v_j)
    b_i += lr * ( g - reg * b_i);  b_j += lr * (-g - reg * b_j)

(all right-hand sides use the values before the update).

The float kernels use numba's ``error_model="numpy"``: a diverging run (lr far too high)
turns the factors into inf/NaN instead of raising mid-kernel; the model's once-per-epoch
check then stops it (:class:`~recneg.engine.divergence.TrainingDivergedError`).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..sampling._rng import rng_next, rng_uniform
from ..sampling.alias import alias_draw
from ..sampling.exclusion import is_seen

__all__ = ["bpr_update", "draw_negative", "bpr_epoch", "sample_negatives", "shuffle_inplace", "user_block_order",
           "MODE_UNIFORM",
           "MODE_ALIAS"]

MODE_UNIFORM = 0
MODE_ALIAS = 1


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def bpr_update(U, V, b, u, i, j, lr, reg, use_bias):
    """One in-place SGD step of BPR on the triple (u, i, j).

    Args:
        U: float32 (n_users, d); V: float32 (n_items, d); b: float32 (n_items,).
        lr, reg: learning rate and L2 coefficient.
        use_bias: update and use the item bias ``b``.

    Returns:
        The loss ``-log sigmoid(x)`` before the step (float).
    """
    d = U.shape[1]
    lr32 = np.float32(lr)
    reg32 = np.float32(reg)
    x = np.float32(0.0)
    for f in range(d):
        x += U[u, f] * (V[i, f] - V[j, f])
    if use_bias:
        x += b[i] - b[j]
    # g = sigmoid(-x), computed stably (scalar math in float64, vector math in float32)
    xd = float(x)
    if xd >= 0.0:
        e = math.exp(-xd)
        gd = e / (1.0 + e)
        loss = math.log1p(e)
    else:
        e = math.exp(xd)
        gd = 1.0 / (1.0 + e)
        loss = -xd + math.log1p(e)
    g = np.float32(gd)
    for f in range(d):
        uf = U[u, f]
        vif = V[i, f]
        vjf = V[j, f]
        U[u, f] = uf + lr32 * (g * (vif - vjf) - reg32 * uf)
        V[i, f] = vif + lr32 * (g * uf - reg32 * vif)
        V[j, f] = vjf + lr32 * (-g * uf - reg32 * vjf)
    if use_bias:
        bi = b[i]
        bj = b[j]
        b[i] = bi + lr32 * (g - reg32 * bi)
        b[j] = bj + lr32 * (-g - reg32 * bj)
    return loss


@njit(cache=True)
def shuffle_inplace(order, state):
    """Fisher-Yates shuffle of ``order`` in place with a xorshift state; returns the new state.

    Cheaper than ``Generator.permutation`` (no allocation), so the per-epoch
    reshuffle of ~1M pairs costs a few milliseconds.
    """
    n = order.shape[0]
    for t in range(n - 1, 0, -1):
        state = rng_next(state)
        k = int(rng_uniform(state) * (t + 1))
        if k > t:
            k = t
        tmp = order[t]
        order[t] = order[k]
        order[k] = tmp
    return state


@njit(cache=True)
def user_block_order(indptr, users, order, state):
    """Fill ``order`` with the pair indices grouped by user, users in a new random order.

    Pairs are CSR-ordered (user u owns pairs ``indptr[u]:indptr[u+1]``). ``users``
    (int64, n_users) is shuffled in place, then each user's pairs are written as one
    contiguous block, itself shuffled. Consecutive updates then share the user's
    factor row and history row (cache-resident), which is what makes DNS and
    exclusion cheap; the visit order of users and of items within a user stays random.
    Returns the new RNG state.
    """
    state = shuffle_inplace(users, state)
    t = 0
    for k in range(users.shape[0]):
        u = users[k]
        start = t
        for p in range(indptr[u], indptr[u + 1]):
            order[t] = p
            t += 1
        state = shuffle_inplace(order[start:t], state)
    return state


@njit(cache=True, inline="always")
def _draw_one(state, mode, prob, alias, n_items):
    state = rng_next(state)
    r = rng_uniform(state)
    if mode == MODE_ALIAS:
        j = alias_draw(prob, alias, r)
    else:
        j = int(r * n_items)
        if j >= n_items:
            j = n_items - 1
    return j, state


@njit(cache=True, inline="always")
def draw_negative(state, u, mode, prob, alias, n_items, indptr, indices, exclude, max_tries):
    """Draw one negative for user ``u``; returns ``(item or -1, new_state)``.

    ``-1`` means every one of ``max_tries`` draws was an item the user has seen.
    """
    for _ in range(max_tries):
        j, state = _draw_one(state, mode, prob, alias, n_items)
        if not exclude or not is_seen(indptr, indices, u, j):
            return j, state
    return -1, state


@njit(fastmath=True, error_model="numpy", inline="always")
def _score(U, V, b, u, j, use_bias):
    """Score ``U[u] . V[j] (+ b[j])`` in float32."""
    s = np.float32(0.0)
    for f in range(U.shape[1]):
        s += U[u, f] * V[j, f]
    if use_bias:
        s += b[j]
    return s


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _dns_negative(state, U, V, b, u, use_bias, m, mode, prob, alias, n_items, indptr, indices, exclude, max_tries):
    """Best-scoring of ``m`` drawn candidates (dynamic negative sampling)."""
    best = -1
    best_s = np.float32(-np.inf)
    for _ in range(m):
        j, state = draw_negative(state, u, mode, prob, alias, n_items, indptr, indices, exclude, max_tries)
        if j < 0:
            continue
        s = _score(U, V, b, u, j, use_bias)
        if s > best_s:
            best_s = s
            best = j
    return best, state


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def bpr_epoch(U, V, b, pair_u, pair_i, order, indptr, indices, mode, prob, alias, exclude, max_tries,
              k, dns_m, lr, reg, use_bias, states, pool_size=0):
    """One Hogwild epoch of BPR-SGD over ``order``; updates ``U``, ``V``, ``b`` and ``states`` in place.

    Args:
        U, V, b: float32 factors (n_users, d), (n_items, d) and item bias (n_items,).
        pair_u, pair_i: int32 (nnz,) user and positive item of each training pair.
        order: int64 (n,) indices into the pairs, the visit order of this epoch.
        indptr, indices: training CSR (int64, int32, sorted rows) for exclusion.
        mode: ``MODE_UNIFORM`` or ``MODE_ALIAS``; prob/alias: the alias table (ignored if uniform).
        exclude: redraw negatives the user has seen, up to ``max_tries`` draws.
        k: negatives (updates) per positive pair.
        dns_m: candidates per negative for DNS; 1 disables DNS.
        lr, reg: learning rate and L2 coefficient; use_bias: learn item biases.
        states: uint64 (n_chunks,) per-chunk RNG states; the chunk count sets the parallel grain.
        pool_size: DNS from a per-user candidate pool (0 = off): when the visit reaches a new
            user, ``pool_size`` distinct candidates are drawn (with exclusion) and scored once;
            each DNS negative is then the best of ``dns_m`` distinct pool slots (a window at a
            random start) and its score is refreshed after its update. With the user-block
            visit order this scores ~pool_size items per user instead of dns_m per update.

    Returns:
        (loss_sum, n_updates, n_skipped): summed BPR loss, number of updates made,
        number of negatives skipped because all draws were seen items.
    """
    n = order.shape[0]
    n_items = V.shape[0]
    n_chunks = states.shape[0]
    losses = np.zeros(n_chunks, dtype=np.float64)
    done = np.zeros(n_chunks, dtype=np.int64)
    skipped = np.zeros(n_chunks, dtype=np.int64)
    per = (n + n_chunks - 1) // n_chunks
    P = max(pool_size, 1)
    H = 2
    while H < 2 * P:
        H *= 2
    pool_items = np.empty((n_chunks, P), dtype=np.int64)
    pool_scores = np.empty((n_chunks, P), dtype=np.float32)
    pool_seen = np.empty((n_chunks, H), dtype=np.int64)  # open-addressing set: one pool slot per item
    for c in prange(n_chunks):
        state = states[c]
        start = c * per
        end = min(n, start + per)
        cur = -1
        for t in range(start, end):
            p = order[t]
            u = pair_u[p]
            i = pair_i[p]
            if pool_size > 0 and dns_m > 1 and u != cur:
                cur = u
                for h in range(H):
                    pool_seen[c, h] = -1
                for q in range(P):
                    j = -1
                    for _try in range(4):  # redraw an item already in the pool (rare on large catalogues)
                        j, state = draw_negative(state, u, mode, prob, alias, n_items, indptr, indices, exclude,
                                                 max_tries)
                        if j < 0:
                            break
                        h = (j * 40503) & (H - 1)
                        while pool_seen[c, h] >= 0 and pool_seen[c, h] != j:
                            h = (h + 1) & (H - 1)
                        if pool_seen[c, h] != j:
                            pool_seen[c, h] = j
                            break
                        j = -1
                    pool_items[c, q] = j
                    pool_scores[c, q] = _score(U, V, b, u, j, use_bias) if j >= 0 else np.float32(-np.inf)
            for _ in range(k):
                if pool_size > 0 and dns_m > 1:
                    # dns_m distinct picks: a window of consecutive slots at a random start (the pool
                    # was drawn i.i.d., so its order is random); one random number per negative
                    bq = -1
                    bs = np.float32(-np.inf)
                    state = rng_next(state)
                    q = int(rng_uniform(state) * P)
                    for _m in range(min(dns_m, P)):
                        if q >= P:
                            q -= P
                        if pool_items[c, q] >= 0 and (bq < 0 or pool_scores[c, q] > bs):
                            bq = q
                            bs = pool_scores[c, q]
                        q += 1
                    if bq < 0:
                        skipped[c] += 1
                        continue
                    j = pool_items[c, bq]
                    losses[c] += bpr_update(U, V, b, u, i, j, lr, reg, use_bias)
                    done[c] += 1
                    pool_scores[c, bq] = _score(U, V, b, u, j, use_bias)  # pool items are distinct
                    continue
                if dns_m > 1:
                    j, state = _dns_negative(state, U, V, b, u, use_bias, dns_m, mode, prob, alias, n_items,
                                             indptr, indices, exclude, max_tries)
                else:
                    j, state = draw_negative(state, u, mode, prob, alias, n_items, indptr, indices,
                                             exclude, max_tries)
                if j < 0:
                    skipped[c] += 1
                    continue
                losses[c] += bpr_update(U, V, b, u, i, j, lr, reg, use_bias)
                done[c] += 1
        states[c] = state
    return losses.sum(), done.sum(), skipped.sum()


@njit(parallel=True, cache=True)
def sample_negatives(users, mode, prob, alias, n_items, indptr, indices, exclude, max_tries, states):
    """Draw one negative per entry of ``users`` with the kernel's own sampler (for tests and tools).

    Returns:
        int64 (len(users),) items; -1 where every draw was a seen item.
    """
    n = users.shape[0]
    out = np.empty(n, dtype=np.int64)
    n_chunks = states.shape[0]
    per = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        state = states[c]
        for t in range(c * per, min(n, (c + 1) * per)):
            j, state = draw_negative(state, users[t], mode, prob, alias, n_items, indptr, indices, exclude,
                                     max_tries)
            out[t] = j
        states[c] = state
    return out
