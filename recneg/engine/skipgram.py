"""Skip-gram / CBOW with negative sampling: the numba CPU kernel.

word2vec semantics (Mikolov et al. 2013, the C tool and gensim agree):

* ``syn0`` (input vectors) and ``syn1neg`` (output vectors) are float32 (V, d).
* Skip-gram pair (centre ``w``, context ``c``): ``l1 = syn0[c]``; for the target
  ``w`` (label 1) and each negative ``n`` (label 0):
  ``g = (label - sigmoid(l1 . syn1neg[t])) * lr``; ``neu1e += g * syn1neg[t]``;
  ``syn1neg[t] += g * l1`` (in that order); finally ``syn0[c] += neu1e``.
* Shared negatives (pWord2Vec, Ji et al. 2016): one set of k negatives per centre
  word, used by all its context words. With contexts ``C`` (m, d) and targets
  ``T`` (k+1, d): ``G = (labels - sigmoid(C T^T)) * lr`` (m, k+1);
  ``syn0[ctx] += G T``; ``syn1neg[targets] += G^T C`` (both from the old values).
* CBOW: ``h = mean(syn0[ctx])``; per target as above with ``l1 = h``; every
  context word then receives the full ``neu1e`` (the word2vec C tool's and gensim's
  ``cbow_mean=1`` convention: the error is not divided by the context size; the
  exact gradient of the mean, ``neu1e / len(ctx)``, trains much worse at the
  usual learning rates).
* Subsampling: token ``w`` is kept with probability ``keep_prob[w]``, decided per
  epoch in the kernel; windows are taken over the kept tokens.
* Dynamic window: effective size uniform in 1..window per centre word.
* Negatives come from an alias table (popularity**ns_exponent) through
  :func:`recneg.sampling.kernels.draw_avoiding`: a negative equal to the target is
  redrawn (up to 8 times, then left out). With a sampler state (``draws`` of
  :func:`train_embeddings`: a :class:`~recneg.sampling.kernels.KernelSampler` per epoch) they
  come from :func:`recneg.sampling.kernels.sg_draws`: with exclusion, the proposal truncated to
  the items of the sequence's user (``seq_users``), never skipped; with DNS
  (:func:`~recneg.sampling.kernels.sg_dns_draws`), each negative the best of ``m`` such draws by
  the current score (input-side vector . output vector of the candidate).
* The learning rate decays linearly with the fraction of raw words processed.
* NCE (``loss="nce"``; Gutmann & Hyvärinen 2010, Mnih & Teh 2012, TensorFlow's ``nce_loss``):
  the same updates with every logit corrected by the noise, ``f - log(k q(t))`` for the target
  and for each negative (``k`` the negatives per positive, ``q`` the proposal the negatives are
  drawn from, normalised), i.e. ``g = (label - sigmoid(f - log(k q(t)))) * lr``. SGNS is NCE
  without the correction. ``q`` is the untruncated proposal, also with exclusion and with
  word2vec's redraw of a negative equal to the centre word (as TensorFlow's ``nce_loss`` without
  ``remove_accidental_hits``): under exclusion the positive is one of the user's own items,
  where the truncated law is 0. DNS negatives (best of ``m``) follow no known law: refused.

Parallelism is Hogwild: ``prange`` over work chunks (whole sentences), one RNG
state per chunk, so a run with one thread is exactly reproducible.

The float kernels use numba's ``error_model="numpy"``: a diverging run (learning rate far
too high) turns the vectors into inf/NaN instead of raising ZeroDivisionError mid-kernel,
and :func:`train_embeddings` stops it after the epoch with a
:class:`~recneg.engine.divergence.TrainingDivergedError`.
"""
from __future__ import annotations

import logging
import math

import numpy as np
from numba import njit, prange

from ..sampling._rng import rng_next, rng_uniform, seed_states
from ..sampling.kernels import MODE_ALIAS, KernelSampler, draw_avoiding, log_expected_count, sg_dns_draws, sg_draws
from .divergence import check_finite

logger = logging.getLogger(__name__)


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _softplus(x: float) -> float:
    """log(1 + exp(x)) without overflow."""
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(cache=True, fastmath=True, error_model="numpy")
def sg_pair_update(syn0, syn1neg, neu1e, context, centre, negatives, n_neg, lr, compute_loss, noise=None):
    """Classic skip-gram update for one (centre, context) pair; returns its loss (0 if not computed).

    Args:
        syn0, syn1neg: float32 (V, d), updated in place.
        neu1e: float32 (d,) scratch buffer.
        context: index whose input vector ``syn0[context]`` is trained.
        centre: the positive target (output vector ``syn1neg[centre]``).
        negatives: int array, the first ``n_neg`` entries are used.
        lr: float32 learning rate.
        noise: None (SGNS) or float32 (V,) ``log(k q(w))`` (NCE: every logit is ``f - noise[target]``).
            None is a compile-time branch: the SGNS specialisation has no NCE code at all.
    """
    d = syn0.shape[1]
    lr = np.float32(lr)
    for j in range(d):
        neu1e[j] = 0.0
    loss = 0.0
    for t in range(n_neg + 1):
        if t == 0:
            target = centre
            label = np.float32(1.0)
        else:
            target = negatives[t - 1]
            label = np.float32(0.0)
        f = np.float32(0.0)
        for j in range(d):
            f += syn0[context, j] * syn1neg[target, j]
        if noise is not None:
            f -= noise[target]
        if compute_loss:
            loss += _softplus(-f) if t == 0 else _softplus(f)
        g = np.float32((label - np.float32(_sigmoid(f))) * lr)
        for j in range(d):
            neu1e[j] += g * syn1neg[target, j]
        for j in range(d):
            syn1neg[target, j] += g * syn0[context, j]
    for j in range(d):
        syn0[context, j] += neu1e[j]
    return loss


@njit(cache=True, fastmath=True, error_model="numpy")
def sg_shared_update(syn0, syn1neg, G, E, contexts, n_ctx, targets, n_tg, lr, compute_loss, noise=None):
    """Skip-gram update of one centre word with shared negatives; returns the loss.

    Args:
        G: float32 (>= n_ctx, >= n_tg) scratch; E: float32 (>= n_ctx, d) scratch.
        contexts: int array, first ``n_ctx`` entries are the context words.
        targets: int array, ``targets[0]`` is the centre word (label 1), the next
            ``n_tg - 1`` are negatives (label 0).
        noise: None (SGNS) or float32 (V,) ``log(k q(w))`` (NCE), as in :func:`sg_pair_update`.
    """
    d = syn0.shape[1]
    lr = np.float32(lr)
    loss = 0.0
    for a in range(n_ctx):
        c = contexts[a]
        for t in range(n_tg):
            tg = targets[t]
            f = np.float32(0.0)
            for j in range(d):
                f += syn0[c, j] * syn1neg[tg, j]
            if noise is not None:
                f -= noise[tg]
            if compute_loss:
                loss += _softplus(-f) if t == 0 else _softplus(f)
            label = np.float32(1.0) if t == 0 else np.float32(0.0)
            G[a, t] = (label - np.float32(_sigmoid(f))) * lr
    for a in range(n_ctx):
        for j in range(d):
            E[a, j] = 0.0
        for t in range(n_tg):
            g = G[a, t]
            tg = targets[t]
            for j in range(d):
                E[a, j] += g * syn1neg[tg, j]
    for t in range(n_tg):
        tg = targets[t]
        for a in range(n_ctx):
            g = G[a, t]
            c = contexts[a]
            for j in range(d):
                syn1neg[tg, j] += g * syn0[c, j]
    for a in range(n_ctx):
        c = contexts[a]
        for j in range(d):
            syn0[c, j] += E[a, j]
    return loss


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _ctx_mean(h, syn0, ctx, nc):
    """h = mean of the input vectors ``syn0[ctx[:nc]]`` (CBOW's hidden layer; the DNS score's input side)."""
    d = syn0.shape[1]
    for f in range(d):
        h[f] = 0.0
    for a in range(nc):
        c = ctx[a]
        for f in range(d):
            h[f] += syn0[c, f]
    inv = np.float32(1.0 / nc)
    for f in range(d):
        h[f] *= inv


@njit(cache=True, fastmath=True, error_model="numpy")
def cbow_update(syn0, syn1neg, neu1, neu1e, contexts, n_ctx, centre, negatives, n_neg, lr, compute_loss,
                noise=None):
    """CBOW update (mean of context) for one centre word; returns the loss.

    Each context word receives the full ``neu1e`` (word2vec / gensim convention).

    Args:
        neu1, neu1e: float32 (d,) scratch buffers.
        contexts: first ``n_ctx`` entries are the context words (n_ctx >= 1).
        negatives: first ``n_neg`` entries are the negatives.
        noise: None (SGNS) or float32 (V,) ``log(k q(w))`` (NCE), as in :func:`sg_pair_update`.
    """
    d = syn0.shape[1]
    lr = np.float32(lr)
    for j in range(d):
        neu1e[j] = 0.0
    _ctx_mean(neu1, syn0, contexts, n_ctx)
    loss = 0.0
    for t in range(n_neg + 1):
        if t == 0:
            target = centre
            label = np.float32(1.0)
        else:
            target = negatives[t - 1]
            label = np.float32(0.0)
        f = np.float32(0.0)
        for j in range(d):
            f += neu1[j] * syn1neg[target, j]
        if noise is not None:
            f -= noise[target]
        if compute_loss:
            loss += _softplus(-f) if t == 0 else _softplus(f)
        g = np.float32((label - np.float32(_sigmoid(f))) * lr)
        for j in range(d):
            neu1e[j] += g * syn1neg[target, j]
        for j in range(d):
            syn1neg[target, j] += g * neu1[j]
    for a in range(n_ctx):
        c = contexts[a]
        for j in range(d):
            syn0[c, j] += neu1e[j]
    return loss


@njit(cache=True, inline="always")
def _subsample_keep(s, kp):
    """Subsampling: keep a token with probability ``kp`` (one draw); returns (keep, state)."""
    s = rng_next(s)
    return rng_uniform(s) < kp, s


@njit(cache=True, inline="always")
def _reduced_window(s, window):
    """Dynamic window: an effective size uniform in 1..window; returns (size, state)."""
    s = rng_next(s)
    b = 1 + int(rng_uniform(s) * window)
    if b > window:
        b = window
    return b, s


@njit(cache=True, inline="always")
def _record(trace, row0, seg, n_rec, centre, neg, nn, u):
    """Write (centre, neg[t][, user]) for t < nn into ``trace[row0 + n_rec:]`` while the segment has room."""
    for t in range(nn):
        if n_rec < seg:
            trace[row0 + n_rec, 0] = centre
            trace[row0 + n_rec, 1] = neg[t]
            if trace.shape[1] > 2:
                trace[row0 + n_rec, 2] = u
            n_rec += 1
    return n_rec


@njit(parallel=True, cache=True, fastmath=True, error_model="numpy")
def train_chunks(
    syn0, syn1neg, tokens, offsets, chunk_bounds, c0, c1, keep_prob, seq_user, states,
    window, negative, dns_m, sg, shared, dynamic, alpha, min_alpha, frac0, frac_span, compute_loss,
    out_loss, out_pairs, out_words, trace,
    exclude, mode, prob, alias, neg_p, cum, indptr, indices, seen_cum, hoff, htab, tries, noise=None,
):
    """Train over chunks ``c0 .. c1-1`` in parallel (one chunk per prange iteration).

    Args:
        syn0, syn1neg: float32 (V, d), updated in place (Hogwild).
        tokens: int32 (N,); offsets: int64 (S+1,) sentence boundaries.
        chunk_bounds: int64 (n_chunks+1,), sentence index ranges of the chunks.
        keep_prob: float32 (V,) subsampling keep probabilities (1 = always keep).
        seq_user: int64 (S,) the user of each sentence (exclusion), or empty.
        states: uint64 (n_chunks,), per-chunk RNG states, advanced in place.
        negative: negatives per positive; dns_m: 0 = plain draws, else DNS best of ``dns_m``.
        exclude .. tries: the negatives' :attr:`~recneg.sampling.kernels.KernelSampler.args`; with no
            exclusion, no DNS and an alias proposal the draws are word2vec's ``draw_avoiding``.
        window: max window; sg: 1 skip-gram, 0 CBOW; shared: shared negatives (sg only);
        dynamic: 1 = effective window uniform in 1..window, 0 = always ``window``.
        alpha, min_alpha: learning-rate schedule ends; the rate at a token is
            ``alpha - (alpha - min_alpha) * (frac0 + frac_span * pos / chunk_words)``.
        out_loss, out_pairs, out_words: float64 / int64 / int64 (n_chunks,) per-chunk
            loss sum, number of positive pairs (sg) or centre words (cbow), raw words.
        trace: int64 (R, 2) or (R, 3): (centre, negative[, user]) rows of the negatives drawn (debug).
        noise: None (SGNS) or float32 (V,) ``log(k q(w))`` (NCE): a compile-time branch, the SGNS
            specialisation has no NCE code.
    """
    plain = (not exclude) and dns_m == 0 and mode == MODE_ALIAS
    has_users = seq_user.shape[0] > 0
    d = syn0.shape[1]
    maxw = 2 * window
    seg = trace.shape[0] // states.shape[0]
    for ci in prange(c1 - c0):
        ch = c0 + ci
        s = states[ch]
        s_beg = chunk_bounds[ch]
        s_end = chunk_bounds[ch + 1]
        w_beg = offsets[s_beg]
        chunk_words = offsets[s_end] - w_beg
        maxlen = 0
        for si in range(s_beg, s_end):
            ln = offsets[si + 1] - offsets[si]
            if ln > maxlen:
                maxlen = ln
        sen = np.empty(maxlen, dtype=np.int32)
        neg = np.empty(max(negative, 1), dtype=np.int64)
        targets = np.empty(negative + 1, dtype=np.int64)
        ctx = np.empty(max(maxw, 1), dtype=np.int64)
        neu1 = np.empty(d, dtype=np.float32)
        neu1e = np.empty(d, dtype=np.float32)
        hbuf = np.empty(d, dtype=np.float32)
        G = np.empty((max(maxw, 1), negative + 1), dtype=np.float32)
        E = np.empty((max(maxw, 1), d), dtype=np.float32)
        loss = 0.0
        pairs = 0
        n_rec = 0
        for si in range(s_beg, s_end):
            a0 = offsets[si]
            a1 = offsets[si + 1]
            frac = frac0 + frac_span * (a0 - w_beg) / max(chunk_words, 1)
            lr = alpha - (alpha - min_alpha) * frac
            if lr < min_alpha:
                lr = min_alpha
            lr32 = np.float32(lr)
            u = seq_user[si] if has_users else -1
            n = 0
            for p in range(a0, a1):
                w = tokens[p]
                kp = keep_prob[w]
                if kp < 1.0:
                    keep, s = _subsample_keep(s, kp)
                    if not keep:
                        continue
                sen[n] = w
                n += 1
            for i in range(n):
                w = sen[i]
                b = window
                if dynamic:
                    b, s = _reduced_window(s, window)
                lo = i - b
                if lo < 0:
                    lo = 0
                hi = i + b + 1
                if hi > n:
                    hi = n
                if sg and not shared:
                    for j in range(lo, hi):
                        if j == i:
                            continue
                        if plain:
                            nn, s = draw_avoiding(neg, negative, w, prob, alias, s)
                        elif dns_m > 0:
                            nn, s = sg_dns_draws(neg, negative, dns_m, syn0[sen[j]], syn1neg, w, u, exclude, mode,
                                                 prob, alias, neg_p, cum, indptr, indices, seen_cum, hoff, htab,
                                                 tries, s)
                        else:
                            nn, s = sg_draws(neg, negative, w, u, exclude, mode, prob, alias, neg_p, cum, indptr,
                                             indices, seen_cum, hoff, htab, tries, s)
                        if seg > 0:
                            n_rec = _record(trace, ch * seg, seg, n_rec, w, neg, nn, u)
                        loss += sg_pair_update(syn0, syn1neg, neu1e, sen[j], w, neg, nn, lr32, compute_loss, noise)
                        pairs += 1
                else:
                    nc = 0
                    for j in range(lo, hi):
                        if j != i:
                            ctx[nc] = sen[j]
                            nc += 1
                    if nc == 0:
                        continue
                    if plain:
                        nn, s = draw_avoiding(neg, negative, w, prob, alias, s)
                    elif dns_m > 0:
                        _ctx_mean(hbuf, syn0, ctx, nc)
                        nn, s = sg_dns_draws(neg, negative, dns_m, hbuf, syn1neg, w, u, exclude, mode, prob, alias,
                                             neg_p, cum, indptr, indices, seen_cum, hoff, htab, tries, s)
                    else:
                        nn, s = sg_draws(neg, negative, w, u, exclude, mode, prob, alias, neg_p, cum, indptr, indices,
                                         seen_cum, hoff, htab, tries, s)
                    if seg > 0:
                        n_rec = _record(trace, ch * seg, seg, n_rec, w, neg, nn, u)
                    if sg:
                        targets[0] = w
                        for t in range(nn):
                            targets[t + 1] = neg[t]
                        loss += sg_shared_update(syn0, syn1neg, G, E, ctx, nc, targets, nn + 1, lr32, compute_loss,
                                                 noise)
                        pairs += nc
                    else:
                        loss += cbow_update(syn0, syn1neg, neu1, neu1e, ctx, nc, w, neg, nn, lr32, compute_loss, noise)
                        pairs += 1
        states[ch] = s
        out_loss[ch] = loss
        out_pairs[ch] = pairs
        out_words[ch] = chunk_words


def _noise_arrays(tokens: np.ndarray, n_words: int):
    """NCE's ``(k, p) -> float32 (V,) log(k p / sum p)``, the last array cached, refusing a proposal that
    gives ``q = 0`` to a word of the corpus (its corrected logit would be infinite)."""
    present = np.bincount(tokens, minlength=n_words) > 0
    cache: dict = {}

    def noise_of(k: int, p: np.ndarray) -> np.ndarray:
        if cache.get("k") != int(k) or cache.get("p") is not p:
            arr = log_expected_count(p, int(k))
            if arr.shape[0] != n_words:
                raise ValueError(f"the proposal has {arr.shape[0]} entries but the model has {n_words} words/items")
            bad = np.flatnonzero(present & ~np.isfinite(arr))
            if bad.size:
                raise ValueError(
                    f"loss='nce' needs q(w) > 0 for every word/item that occurs in the training data (its logit "
                    f"is s - log(k q)), but the proposal gives q = 0 to {bad.size} of them (e.g. index {bad[0]}); "
                    f"give them a positive weight in the sampler's weights, or use loss='sgns'")
            cache.update(k=int(k), p=p, arr=arr)
        return cache["arr"]

    return noise_of


def chunk_bounds(offsets: np.ndarray, n_chunks: int) -> np.ndarray:
    """Split sentences into ``n_chunks`` contiguous groups of roughly equal token count.

    Returns:
        int64 (n_chunks + 1,) sentence indices (some chunks may be empty).
    """
    n_tok = int(offsets[-1])
    targets = np.linspace(0, n_tok, int(n_chunks) + 1)
    b = np.searchsorted(offsets, targets, side="left").astype(np.int64)
    b[0] = 0
    b[-1] = offsets.shape[0] - 1
    return np.maximum.accumulate(np.minimum(b, offsets.shape[0] - 1))


def train_embeddings(
    syn0: np.ndarray,
    syn1neg: np.ndarray,
    tokens: np.ndarray,
    offsets: np.ndarray,
    keep_prob: np.ndarray,
    table,
    *,
    window: int,
    negative: int,
    sg: bool,
    shared_negatives: bool = False,
    dynamic_window: bool = True,
    alpha: float = 0.025,
    min_alpha: float = 1e-4,
    epochs: int = 5,
    workers: int = 2,
    seed: int = 1,
    backend: str = "numba",
    device: str = "cpu",
    batch_size: int = 4096,
    callbacks=(),
    compute_loss: bool = False,
    progress: bool = True,
    raw_words: int | None = None,
    trace: np.ndarray | None = None,
    draws=None,
    seq_users: np.ndarray | None = None,
    on_epoch=None,
    loss: str = "sgns",
    distributed: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Run SGNS / CBOW training for ``epochs`` passes over an encoded corpus.

    Args:
        syn0, syn1neg: float32 (V, d) initial input / output vectors (updated in place for numba).
        tokens: int32 (N,); offsets: int64 (S+1,).
        keep_prob: float32 (V,); table: :class:`AliasTable` of the negative distribution.
        backend: "numba" (CPU, Hogwild over ``workers`` threads) or "torch" (``device``).
        callbacks: callables ``fn(epoch, loss)`` run after each epoch (loss = mean per pair).
        raw_words: words per epoch shown by the progress bar (defaults to N).
        trace: numba only, debug: an int64 (R, 2) array that receives (centre word, negative) rows of the
            negatives the last epoch used (see :func:`train_chunks`; reset to -1 every epoch); with
            (R, 3) the third column is the sentence's user (-1 without ``seq_users``).
        draws: None (``negative`` word2vec draws from ``table``) or a callable ``epoch -> (k,
            KernelSampler, m)`` called at the start of each epoch: the negatives per positive, the
            sampler state they are drawn from (:func:`~recneg.sampling.kernels.sg_draws`; exact
            exclusion of the sequence's user's items when it excludes) and the DNS candidates per
            negative (0 = plain draws). ``table`` is then unused.
        seq_users: int (S,) the user of each sentence: needed by an excluding sampler.
        on_epoch: callable ``fn(epoch, loss)`` run after each epoch before ``callbacks`` (history).
        loss: "sgns" (negative sampling, the default) or "nce" (every logit minus ``log(k q(w))``, ``q`` the
            proposal the negatives are drawn from; see the module docstring). The reported loss is the
            mean per pair of the loss trained.
        distributed: torch backend only. None (default): data-parallel when a torch.distributed
            group with more than one rank is initialised (:func:`recneg.distributed.init`); False:
            train the whole corpus in this process; True: require a group. Data-parallel: rank r
            trains sentences ``r, r + world, r + 2 world, ...`` with ``ceil(batch_size / world)``
            pairs per step (the global step keeps ``batch_size`` pairs) and negatives from the same
            sampler law, seeded ``rank_seed(seed, r)``; the input and output vectors are synchronised
            by a dense all-reduce (sum) of each step's updates (synchronous SGD, no parameter
            averaging; see :meth:`TorchSkipGram._train_epoch_data_parallel`), so all ranks return
            identical vectors. Every rank must hold the same vocabulary and corpus (each builds
            them from the full corpus; checked here). The numba backend is not data-parallel.

    Returns:
        (syn0, syn1neg, per-epoch losses; NaN where the loss was not computed).

    Raises:
        TrainingDivergedError: after the first epoch whose loss or vectors are NaN/inf (alpha too high).
    """
    import numba
    from tqdm.auto import tqdm

    compute_loss = bool(compute_loss or callbacks)
    if loss not in ("sgns", "nce"):
        raise ValueError(f"loss must be 'sgns' (negative sampling) or 'nce' (noise-contrastive estimation), "
                         f"got {loss!r}")
    n_tok = int(tokens.shape[0])
    n_sent = int(offsets.shape[0]) - 1
    if seq_users is not None:
        seq_users = np.ascontiguousarray(seq_users, dtype=np.int64)
        if seq_users.shape != (n_sent,):
            raise ValueError(f"seq_users must hold one user per sentence ({n_sent}), got shape {seq_users.shape}")
    plain_args = None
    if draws is None:
        e64, e32 = np.zeros(1, np.int64), np.zeros(0, np.int32)
        plain_args = (False, MODE_ALIAS, table.prob, table.alias, table.p, np.zeros(1), e64, e32, np.zeros(0), e64,
                      e32, e32)

        def draws(ep, record=True, _k=int(negative)):
            return _k, None, 0
        per_step = False
    else:
        user_draws = draws
        per_step = bool(getattr(user_draws, "per_step", False))
        last: list = [None]

        def draws(ep, record=True):
            k, ks, m = user_draws(ep, record) if per_step else user_draws(ep)
            if ks is last[0]:
                return k, ks, m
            last[0] = ks
            if not isinstance(ks, KernelSampler):
                raise TypeError(f"draws must return (k, KernelSampler, m), got a {type(ks).__name__}")
            if ks.exclude:
                if seq_users is None:
                    raise ValueError("an excluding sampler needs seq_users, the user of each sentence")
                n_u = ks.indptr.shape[0] - 1
                if n_sent and (seq_users.min() < 0 or seq_users.max() >= n_u):
                    raise ValueError(f"seq_users must be user indices in [0, {n_u}) of the sampler's matrix")
                ks.check_drawable()
            return int(k), ks, int(m)
    noise_of = _noise_arrays(tokens, syn0.shape[0]) if loss == "nce" else None

    def noise_for(k: int, ks, m: int) -> np.ndarray | None:
        """NCE's float32 (V,) log(k q) for this epoch's draws (None for SGNS)."""
        if noise_of is None:
            return None
        if m > 0:
            raise ValueError(f"loss='nce' corrects each logit by log(k q) of the law the negatives are drawn from; "
                             f"DNS negatives (best of m={m}) follow no known law: use a NegativeSampler, or "
                             f"loss='sgns' with DNS")
        if k < 1:
            raise ValueError(f"loss='nce' needs at least one negative per positive, got negative={k}")
        return noise_of(k, table.p if ks is None else ks.p)

    losses: list[float] = []
    bar = tqdm(total=n_tok * epochs, unit="word", unit_scale=True, disable=not progress,
               desc="sgns" if sg else "cbow", leave=False)
    if backend == "torch":
        from .skipgram_torch import TorchSkipGram

        group = _skipgram_group(distributed, syn0, tokens, offsets, window, sg, epochs)
        if group is not None:
            tokens, offsets, seq_users = _shard_sentences(tokens, offsets, seq_users, group.rank, group.world_size)
            batch_size = -(-int(batch_size) // group.world_size)
            from ..distributed import rank_seed

            seed = rank_seed(seed, group.rank)
            logger.info("data-parallel skip-gram: rank %d of %d trains %d sentences, %d tokens, %d pairs per step",
                        group.rank, group.world_size, offsets.shape[0] - 1, tokens.shape[0], batch_size)
        tr = TorchSkipGram(syn0, syn1neg, tokens, offsets, keep_prob, table, window, negative, sg,
                           dynamic=dynamic_window, device=device, batch_size=batch_size, seed=seed,
                           shared=shared_negatives, seq_users=seq_users, group=group)
        applied: list = [None]

        def apply(k: int, ks, m: int) -> None:
            """Switch the trainer's draws (and NCE's log(k q)) when (k, sampler state, m) changed."""
            prev = applied[0]
            if prev is None or prev[0] != k or prev[1] is not ks or prev[2] != m:
                applied[0] = (k, ks, m)
                tr.set_draws(k, ks, m, noise=noise_for(k, ks, m))

        if per_step:  # schedules move per batch on the torch path (per epoch in the numba kernel)
            tr.before_batch = lambda t: apply(*draws(t, False))
        try:
            for ep in range(epochs):
                apply(*draws(ep))
                loss = tr.train_epoch(ep, epochs, alpha, min_alpha, progress=bar.update)
                losses.append(loss if compute_loss else float("nan"))
                check_finite(ep, epochs, loss if compute_loss else None,
                             {"input vectors": tr.syn0, "output vectors": tr.syn1neg}, "alpha", alpha)
                if compute_loss:
                    logger.info("epoch %d/%d: loss %.4f", ep + 1, epochs, loss)
                else:
                    logger.info("epoch %d/%d done", ep + 1, epochs)
                if on_epoch is not None:
                    on_epoch(ep, loss if compute_loss else float("nan"))
                for cb in callbacks:
                    cb(ep, loss)
        finally:
            bar.close()
        return tr.syn0.cpu().numpy(), tr.syn1neg.cpu().numpy(), losses
    if backend != "numba":
        raise ValueError(f"backend must be 'numba' or 'torch', got {backend!r}")
    if distributed:
        raise ValueError("distributed=True needs backend='torch' (the numba kernel is not data-parallel)")
    if distributed is None:
        from ..distributed import info as _dist_info

        if _dist_info().is_distributed:
            logger.warning("a process group is initialised but the numba backend trains the whole corpus in every "
                           "rank; use backend='torch' for data-parallel training")
    nthreads = max(1, min(int(workers), numba.config.NUMBA_NUM_THREADS))
    # waves of `nthreads` chunks: one chunk per thread per wave; the rate schedule
    # advances wave by wave, so it tracks global progress as word2vec's shared counter does
    n_waves = int(max(1, min(32, n_tok // max(1, 50000 * nthreads))))
    n_chunks = n_waves * nthreads
    bounds = chunk_bounds(offsets, n_chunks)
    states = seed_states(seed, n_chunks)
    out_loss = np.zeros(n_chunks, dtype=np.float64)
    out_pairs = np.zeros(n_chunks, dtype=np.int64)
    out_words = np.zeros(n_chunks, dtype=np.int64)
    if trace is None:
        trace = np.zeros((0, 2), dtype=np.int64)
    elif trace.ndim != 2 or trace.shape[1] not in (2, 3) or trace.dtype != np.int64:
        raise ValueError(f"trace must be an int64 array of shape (R, 2) or (R, 3), got {trace.dtype} {trace.shape}")
    su = np.zeros(0, np.int64) if seq_users is None else seq_users
    old_threads = numba.get_num_threads()
    numba.set_num_threads(nthreads)
    try:
        for ep in range(epochs):
            out_loss[:] = 0.0
            out_pairs[:] = 0
            trace[:] = -1
            k, ks, m = draws(ep)
            noise = noise_for(k, ks, m)
            args = plain_args if ks is None else ks.args
            for wv in range(n_waves):
                c0, c1 = wv * nthreads, (wv + 1) * nthreads
                frac0 = (ep + wv / n_waves) / epochs
                train_chunks(syn0, syn1neg, tokens, offsets, bounds, c0, c1, keep_prob, su, states, int(window),
                             int(k), int(m), int(bool(sg)), int(bool(shared_negatives)),
                             int(bool(dynamic_window)), float(alpha), float(min_alpha), float(frac0),
                             float(1.0 / (n_waves * epochs)), compute_loss, out_loss, out_pairs, out_words, trace,
                             *args, noise)
                bar.update(int(out_words[c0:c1].sum()))
            loss = float(out_loss.sum() / max(int(out_pairs.sum()), 1)) if compute_loss else float("nan")
            losses.append(loss)
            check_finite(ep, epochs, loss if compute_loss else None,
                         {"input vectors": syn0, "output vectors": syn1neg}, "alpha", alpha)
            if compute_loss:
                logger.info("epoch %d/%d: %d pairs, loss %.4f", ep + 1, epochs, int(out_pairs.sum()), loss)
            else:
                logger.info("epoch %d/%d: %d pairs", ep + 1, epochs, int(out_pairs.sum()))
            if on_epoch is not None:
                on_epoch(ep, loss)
            for cb in callbacks:
                cb(ep, loss)
    finally:
        numba.set_num_threads(old_threads)
        bar.close()
    return syn0, syn1neg, losses



def _skipgram_group(distributed: bool | None, syn0: np.ndarray, tokens: np.ndarray, offsets: np.ndarray,
                    window: int, sg: bool, epochs: int):
    """The process group to train data-parallel over (None: this process alone); checks that every rank
    holds the same vocabulary, corpus and settings, which the synchronous updates rely on."""
    import zlib

    import torch

    from .. import distributed as dist_mod

    if distributed is not None and not isinstance(distributed, bool):
        raise TypeError(f"distributed must be None (auto), True or False, got {distributed!r}")
    if distributed is False:
        return None
    di = dist_mod.info()
    if not di.is_distributed:
        if distributed:
            raise ValueError("distributed=True but no process group with more than one rank is initialised; start "
                             "the job with torchrun and call recneg.distributed.init(), or pass distributed=None")
        return None
    fields = {"vocabulary size": syn0.shape[0], "vector size": syn0.shape[1], "tokens": tokens.shape[0],
              "sentences": offsets.shape[0] - 1, "corpus checksum": zlib.crc32(np.ascontiguousarray(tokens).data),
              "window": int(window), "sg": int(bool(sg)), "epochs": int(epochs)}
    dev = torch.device("cuda", torch.cuda.current_device()) if di.backend == "nccl" else torch.device("cpu")
    rows = dist_mod.all_gather_cat(torch.tensor([list(fields.values())], dtype=torch.int64, device=dev)).cpu().numpy()
    bad = [k for j, k in enumerate(fields) if not np.all(rows[:, j] == rows[0, j])]
    if bad:
        raise ValueError(f"data-parallel skip-gram: the ranks disagree on {bad}; every rank must build the same "
                         "vocabulary from the same full corpus (same min_count, same sentences, same order)")
    return di


def _shard_sentences(tokens: np.ndarray, offsets: np.ndarray, seq_users: np.ndarray | None, rank: int,
                     world: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Sentences ``rank, rank + world, ...`` of an encoded corpus: (tokens, offsets, seq_users) of the shard."""
    sel = np.arange(rank, offsets.shape[0] - 1, world, dtype=np.int64)
    lens = np.diff(offsets)[sel]
    new_off = np.zeros(sel.size + 1, dtype=np.int64)
    np.cumsum(lens, out=new_off[1:])
    idx = np.repeat(offsets[sel] - new_off[:-1], lens) + np.arange(new_off[-1], dtype=np.int64)
    return tokens[idx], new_off, None if seq_users is None else seq_users[sel]
