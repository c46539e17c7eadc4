"""Numba kernels for BPR matrix factorisation (Hogwild SGD on CPU).

One epoch is one pass over the (user, positive item) pairs in a shuffled order.
The pairs are cut into ``n_chunks`` contiguous chunks of that order; ``prange``
runs chunks in parallel and each chunk owns one xorshift state from
:func:`recneg.sampling._rng.seed_states`, so the negatives drawn do not depend on
the thread count (updates race Hogwild-style, as in implicit/word2vec).

Every negative is drawn through :mod:`recneg.sampling.kernels` on the arrays of one
:class:`~recneg.sampling.kernels.KernelSampler` (proposal: uniform or an alias table, e.g.
popularity^alpha):

* exclusion: exact -- each negative follows the proposal truncated to the items the user
  has not seen (rejection, then a draw from the complement); never a seen item, never a skip;
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

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ..sampling._rng import rng_next, rng_uniform, row_state, seed_states
from ..sampling.kernels import (KernelSampler, dns_draw, draw_negative_at, pool_fill, pool_pick, score, warp_draw,
                               user_context)

__all__ = ["bpr_update", "bpr_epoch", "warp_update", "warp_epoch", "shuffle_inplace", "user_block_order",
           "NumbaBPRTrainer"]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _bpr_step(U, V, b, u, i, j, lr, reg, use_bias, rescore):
    """One in-place SGD step of BPR on (u, i, j); returns (loss before the step, s(u, j) after it if
    ``rescore`` else 0). ``rescore`` is a constant at every call site, so the branch compiles away."""
    d = U.shape[1]
    lr32 = np.float32(lr)
    reg32 = np.float32(reg)
    x = np.float32(0.0)
    for f in range(d):
        x += U[u, f] * (V[i, f] - V[j, f])
    if use_bias:
        x += b[i] - b[j]
    # g = sigmoid(-x) and the loss log(1 + exp(-x)), computed stably in float32 (expf/log1pf: the loss
    # is a per-epoch monitor, and the float64 libm calls cost ~10% of a DNS-pool epoch)
    if x >= np.float32(0.0):
        e = math.exp(-x)
        g = e / (np.float32(1.0) + e)
        loss = math.log1p(e)
    else:
        e = math.exp(x)
        g = np.float32(1.0) / (np.float32(1.0) + e)
        loss = -x + math.log1p(e)
    sj = np.float32(0.0)
    for f in range(d):
        uf = U[u, f]
        vif = V[i, f]
        vjf = V[j, f]
        un = uf + lr32 * (g * (vif - vjf) - reg32 * uf)
        vjn = vjf + lr32 * (-g * uf - reg32 * vjf)
        U[u, f] = un
        V[i, f] = vif + lr32 * (g * uf - reg32 * vif)
        V[j, f] = vjn
        if rescore:
            sj += un * vjn
    if use_bias:
        bi = b[i]
        bj = b[j]
        b[i] = bi + lr32 * (g - reg32 * bi)
        b[j] = bj + lr32 * (-g - reg32 * bj)
        if rescore:
            sj += b[j]
    return loss, sj


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
    return _bpr_step(U, V, b, u, i, j, lr, reg, use_bias, False)[0]


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


@njit(cache=True, parallel=True)
def user_block_order(indptr, users, order, state):
    """Fill ``order`` with the pair indices grouped by user, users in a new random order.

    Pairs are CSR-ordered (user u owns pairs ``indptr[u]:indptr[u+1]``). ``users``
    (int64, n_users) is shuffled in place, then each user's pairs are written as one
    contiguous block, itself shuffled. Consecutive updates then share the user's
    factor row and history row (cache-resident), which is what makes DNS and
    exclusion cheap; the visit order of users and of items within a user stays random.
    The blocks are written in parallel, each shuffled with its own stream
    (:func:`~recneg.sampling._rng.row_state` of one draw and the block's position), so
    the order depends on ``state`` only, not on the thread count. Returns the new RNG state.
    """
    state = shuffle_inplace(users, state)
    n_users = users.shape[0]
    starts = np.empty(n_users + 1, dtype=np.int64)
    starts[0] = 0
    for k in range(n_users):
        u = users[k]
        starts[k + 1] = starts[k] + indptr[u + 1] - indptr[u]
    state = rng_next(state)
    base = state
    for k in prange(n_users):
        u = users[k]
        t0 = starts[k]
        lo = indptr[u]
        n = indptr[u + 1] - lo
        blk = order[t0:t0 + n]
        for q in range(n):
            blk[q] = lo + q
        if n > 1:
            shuffle_inplace(blk, row_state(base, k))
    return state


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def bpr_epoch(U, V, b, pair_u, pair_i, order, k, dns_m, pool_size, lr, reg, use_bias, states, trace,
              exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries):
    """One Hogwild epoch of BPR-SGD over ``order``; updates ``U``, ``V``, ``b`` and ``states`` in place.

    Args:
        U, V, b: float32 factors (n_users, d), (n_items, d) and item bias (n_items,).
        pair_u, pair_i: int32 (nnz,) user and positive item of each training pair.
        order: int64 (n,) indices into the pairs, the visit order of this epoch.
        k: negatives (updates) per positive pair.
        dns_m: candidates per negative for DNS; 1 disables DNS.
        pool_size: DNS from a per-user candidate pool (0 = off): when the visit reaches a new
            user, ``pool_size`` distinct candidates are drawn and scored once
            (:func:`~recneg.sampling.kernels.pool_fill`); each DNS negative is then the best of
            ``dns_m`` distinct pool slots (:func:`~recneg.sampling.kernels.pool_pick`; a fresh
            draw if the window holds no candidate) and its score is refreshed after its update.
            With the user-block visit order this scores ~pool_size items per user instead of
            dns_m per update.
        lr, reg: learning rate and L2 coefficient; use_bias: learn item biases.
        states: uint64 (n_chunks,) per-chunk RNG states; the chunk count sets the parallel grain.
        trace: int64 (n * k, 2) debug record, row ``t * k + c`` = (user, negative) of the c-th update
            of visit t; pass shape (0, 2) to record nothing.
        exclude ... tries: the :attr:`~recneg.sampling.kernels.KernelSampler.args` of the sampler.

    Returns:
        (loss_sum, n_updates): summed BPR loss and number of updates made (always n * k).
    """
    n = order.shape[0]
    n_chunks = states.shape[0]
    losses = np.zeros(n_chunks, dtype=np.float64)
    done = np.zeros(n_chunks, dtype=np.int64)
    per = (n + n_chunks - 1) // n_chunks
    use_pool = pool_size > 0 and dns_m > 1
    record = trace.shape[0] > 0
    # pool scratch: one row per chunk, allocated once per epoch (empty rows when the pool is off)
    P = pool_size if use_pool else 0
    H = 2
    while H < 2 * P:
        H *= 2
    all_items = np.empty((n_chunks, P), dtype=np.int64)
    all_scores = np.empty((n_chunks, P), dtype=np.float32)
    all_slots = np.empty((n_chunks, H if use_pool else 0), dtype=np.int64)  # open-addressing set per pool
    for c in prange(n_chunks):
        pool_items = all_items[c]
        pool_scores = all_scores[c]
        pool_slots = all_slots[c]
        state = states[c]
        start = c * per
        end = min(n, start + per)
        loss_c = 0.0
        cur = -1
        ctx = user_context(0, False, hoff, tries)
        for t in range(start, end):
            p_ = order[t]
            u = pair_u[p_]
            i = pair_i[p_]
            if u != cur:  # per-user values, looked up once per user block
                cur = u
                ctx = user_context(u, exclude, hoff, tries)
                if use_pool:
                    state = pool_fill(state, pool_items, pool_scores, pool_slots, U, V, b, u, use_bias, exclude,
                                      mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries)
            for kk in range(k):
                q = -1
                if use_pool:
                    q, state = pool_pick(state, pool_items, pool_scores, dns_m)
                    if q >= 0:
                        j = pool_items[q]
                    else:  # the window holds no candidate (tiny catalogue): a fresh draw
                        j, state = draw_negative_at(state, u, ctx, exclude, mode, prob, alias, p, cum, indptr,
                                                    indices, seen_cum, htab)
                elif dns_m > 1:
                    j, state = dns_draw(state, U, V, b, u, use_bias, dns_m, exclude, mode, prob, alias, p, cum,
                                        indptr, indices, seen_cum, hoff, htab, tries)
                else:
                    j, state = draw_negative_at(state, u, ctx, exclude, mode, prob, alias, p, cum, indptr, indices,
                                                seen_cum, htab)
                if record:
                    trace[t * k + kk, 0] = u
                    trace[t * k + kk, 1] = j
                if q >= 0:  # refresh the picked slot's score in the same pass (pool items are distinct)
                    step_loss, pool_scores[q] = _bpr_step(U, V, b, u, i, j, lr, reg, use_bias, True)
                    loss_c += step_loss
                else:
                    loss_c += bpr_update(U, V, b, u, i, j, lr, reg, use_bias)
        losses[c] = loss_c
        done[c] = (end - start) * k if end > start else 0
        states[c] = state
    return losses.sum(), done.sum()


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def warp_update(U, V, b, GU, GV, Gb, u, i, j, w, lr, reg, use_bias):
    """One adagrad step (as LightFM's) on the ``w``-weighted hinge ``margin - s(u,i) + s(u,j)`` (> 0).

    ``GU``, ``GV``, ``Gb`` are the per-element sums of squared gradients (start at 1), updated in place;
    each parameter moves by ``lr * g / sqrt(G)`` and then shrinks by ``lr * reg`` (L2). Uses the values
    before the step.
    """
    d = U.shape[1]
    w = np.float32(w)
    lr32 = np.float32(lr)
    shrink = np.float32(lr * reg)
    for f in range(d):
        uf = U[u, f]
        vif = V[i, f]
        vjf = V[j, f]
        gu = w * (vjf - vif)
        gi = -w * uf
        gj = w * uf
        GU[u, f] += gu * gu
        GV[i, f] += gi * gi
        GV[j, f] += gj * gj
        U[u, f] = uf - lr32 * gu / np.float32(math.sqrt(GU[u, f])) - shrink * uf
        V[i, f] = vif - lr32 * gi / np.float32(math.sqrt(GV[i, f])) - shrink * vif
        V[j, f] = vjf - lr32 * gj / np.float32(math.sqrt(GV[j, f])) - shrink * vjf
    if use_bias:
        Gb[i] += w * w
        Gb[j] += w * w
        b[i] = b[i] + lr32 * w / np.float32(math.sqrt(Gb[i])) - shrink * b[i]
        b[j] = b[j] - lr32 * w / np.float32(math.sqrt(Gb[j])) - shrink * b[j]


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def warp_epoch(U, V, b, GU, GV, Gb, pair_u, pair_i, order, max_trials, margin, lr, reg, use_bias, states, trace,
               exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries):
    """One Hogwild epoch of WARP (LightFM's rank-weighted pairwise loss) over ``order``.

    For each positive pair (u, i): :func:`~recneg.sampling.kernels.warp_draw` draws negatives until one
    scores above ``s(u,i) - margin`` (at most ``max_trials``); with a violator j found after n draws the
    hinge ``margin - s(u,i) + s(u,j)`` takes an adagrad step (:func:`warp_update`; ``GU, GV, Gb`` are the
    squared-gradient sums) weighted by ``log(max(1, floor((n_items - 1) / n)))`` (the rank estimate of
    LightFM); without one, no step. Other arguments as :func:`bpr_epoch`; ``trace`` rows are (user,
    violating negative or -1), one per visit.

    Returns:
        (weighted hinge loss summed over the steps made, number of steps made).
    """
    n = order.shape[0]
    n_items = V.shape[0]
    n_chunks = states.shape[0]
    losses = np.zeros(n_chunks, dtype=np.float64)
    done = np.zeros(n_chunks, dtype=np.int64)
    per = (n + n_chunks - 1) // n_chunks
    record = trace.shape[0] > 0
    for c in prange(n_chunks):
        state = states[c]
        start = c * per
        end = min(n, start + per)
        loss_c = 0.0
        steps = 0
        cur = -1
        ctx = user_context(0, False, hoff, tries)
        for t in range(start, end):
            p_ = order[t]
            u = pair_u[p_]
            i = pair_i[p_]
            if u != cur:
                cur = u
                ctx = user_context(u, exclude, hoff, tries)
            pos = score(U, V, b, u, i, use_bias)
            j, trials, state = warp_draw(state, U, V, b, u, ctx, use_bias, pos - margin, max_trials, exclude, mode,
                                         prob, alias, p, cum, indptr, indices, seen_cum, htab)
            if record:
                trace[t, 0] = u
                trace[t, 1] = j
            if j < 0:
                continue
            w = math.log(max(1.0, math.floor((n_items - 1) / trials)))
            loss_c += w * (margin - pos + score(U, V, b, u, j, use_bias))
            warp_update(U, V, b, GU, GV, Gb, u, i, j, w, lr, reg, use_bias)
            steps += 1
        losses[c] = loss_c
        done[c] = steps
        states[c] = state
    return losses.sum(), done.sum()


class NumbaBPRTrainer:
    """BPR-SGD epochs with the numba kernel (Hogwild over ``workers`` threads), the counterpart of
    :class:`recneg.engine.mf_torch.TorchTrainer`.

    Args:
        X: users x items training CSR (sorted rows); its non-zeros are the positive pairs.
        U, V, b: float32 (n_users, d), (n_items, d), (n_items,) factors, trained in place.
        sampler: the :class:`~recneg.sampling.kernels.KernelSampler` every negative is drawn from;
            with exclusion, a user who has seen every drawable item raises ValueError here.
        negatives: negatives (updates) per positive pair.
        dns_candidates: DNS candidates per negative (1 = plain proposal negatives).
        dns_pool: per-user DNS candidate pool size (0 = fresh candidates per negative).
        lr, reg, use_bias: SGD step, L2 coefficient, item biases.
        epochs, lr_decay: with ``lr_decay="linear"`` the step decays to 0 over ``epochs``.
        workers: threads; chunks: parallel work chunks (fixes the RNG streams, so draws do not depend
            on the thread count).
        pair_order: "user" (user blocks, see :func:`user_block_order`) or "shuffle".
        seed: seed of the per-chunk negative streams; shuffle_state: non-zero seed of the visit order.
        record: keep the (user, negative) pairs of the last epoch in :attr:`trace` (debug/tests).
        loss: "bpr" or "warp" (:func:`warp_epoch`, adagrad steps as LightFM's: ``negatives`` and DNS do not
            apply; ``warp_trials`` caps the draws per positive and ``margin`` is the hinge margin).

    Calling ``trainer(epoch)`` runs one epoch and returns its mean loss per update (WARP: per step made).
    """

    def __init__(self, X: sp.csr_matrix, U: np.ndarray, V: np.ndarray, b: np.ndarray, sampler: KernelSampler, *,
                 negatives: int = 1, dns_candidates: int = 1, dns_pool: int = 0, lr: float = 0.05,
                 reg: float = 0.01, use_bias: bool = False, epochs: int = 1, lr_decay: str | None = None,
                 workers: int = 2, chunks: int = 256, pair_order: str = "user", seed: int | None = 0,
                 shuffle_state: int = 1, record: bool = False, loss: str = "bpr", warp_trials: int = 100,
                 margin: float = 1.0) -> None:
        if pair_order not in ("shuffle", "user"):
            raise ValueError(f"pair_order must be 'shuffle' or 'user', got {pair_order!r}")
        if loss not in ("bpr", "warp"):
            raise ValueError(f"loss must be 'bpr' or 'warp', got {loss!r}")
        self.loss = loss
        self._G: tuple | None = None
        self.warp_trials = int(warp_trials)
        self.margin = float(margin)
        if sampler.n_items != V.shape[0]:
            raise ValueError(f"sampler draws from {sampler.n_items} items but V has {V.shape[0]} rows")
        if sampler.exclude:
            sampler.check_drawable()
        coo = X.tocoo()
        self.pair_u = coo.row.astype(np.int32)
        self.pair_i = coo.col.astype(np.int32)
        self.indptr = X.indptr.astype(np.int64)
        self.U, self.V, self.b = U, V, b
        self.sampler = sampler
        self.negatives = int(negatives)
        self.dns_m = int(dns_candidates)
        self.dns_pool = int(dns_pool)
        self.lr, self.reg, self.use_bias = float(lr), float(reg), bool(use_bias)
        self.epochs, self.lr_decay = int(epochs), lr_decay
        self.workers = int(workers)
        self.pair_order = pair_order
        self.record = bool(record)
        self.states = seed_states(seed, chunks)
        self.order = np.arange(self.pair_u.shape[0], dtype=np.int64)
        self.user_perm = np.arange(X.shape[0], dtype=np.int64)
        self.shuffle_state = np.uint64(shuffle_state)
        self.trace: np.ndarray | None = None  # int64 (n_pairs * negatives, 2) (user, negative), with record

    def __call__(self, epoch: int) -> float:
        """Run epoch ``epoch`` (0-based); returns the mean BPR loss per update."""
        lr = self.lr
        if self.lr_decay == "linear":
            lr = self.lr * max(1.0 - epoch / max(self.epochs, 1), 1e-4)
        per_visit = 1 if self.loss == "warp" else self.negatives
        n_rec = self.order.shape[0] * per_visit if self.record else 0
        trace = np.full((n_rec, 2), -1, dtype=np.int64)
        old = numba.get_num_threads()
        numba.set_num_threads(min(self.workers, numba.config.NUMBA_NUM_THREADS))
        try:
            if self.pair_order == "user":
                self.shuffle_state = np.uint64(user_block_order(self.indptr, self.user_perm, self.order,
                                                                self.shuffle_state))
            else:
                self.shuffle_state = np.uint64(shuffle_inplace(self.order, self.shuffle_state))
            if self.loss == "warp":
                if self._G is None:  # adagrad accumulators, as LightFM's (start at 1)
                    self._G = (np.ones_like(self.U), np.ones_like(self.V), np.ones_like(self.b))
                loss, done = warp_epoch(self.U, self.V, self.b, *self._G, self.pair_u, self.pair_i, self.order,
                                        self.warp_trials,
                                        self.margin, lr, self.reg, self.use_bias, self.states, trace,
                                        *self.sampler.args)
            else:
                loss, done = bpr_epoch(self.U, self.V, self.b, self.pair_u, self.pair_i, self.order, self.negatives,
                                       self.dns_m, self.dns_pool, lr, self.reg, self.use_bias, self.states, trace,
                                       *self.sampler.args)
        finally:
            numba.set_num_threads(old)
        if self.record:
            self.trace = trace
        return float(loss / max(done, 1))
