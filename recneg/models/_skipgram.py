"""The shared core of :class:`~recneg.models.word2vec.Word2Vec` and :class:`~recneg.models.item2vec.Item2Vec`:
parameter checks, weight initialisation, the sampler the negatives are drawn from, and training.

Negatives are drawn through a :mod:`recneg.sampling` sampler: a
:class:`~recneg.sampling.NegativeSampler` (``k`` negatives per positive, popularity^``alpha`` or
custom ``weights``, ``exclude_seen``, schedules) or a :class:`~recneg.sampling.DynamicNegativeSampler`
over one (each negative the best of ``m`` by the current skip-gram score). gensim's
``negative`` / ``ns_exponent`` are the shorthand ``NegativeSampler(k=negative, alpha=ns_exponent,
exclude_seen=False)``.

The proposal is popularity^alpha over the *token counts* of the training corpus (word2vec's unigram
law; items/words below ``min_count`` get weight 0), or the sampler's custom weights (again 0 below
``min_count``). Schedules (k, alpha, DNS m) run over epochs: the numba kernel evaluates them at the
start of each epoch, the torch path before every batch (shared negatives: every segment) at the
fractional epoch, rebuilding the proposal once a scheduled alpha has moved 0.01. ``history`` records
the values at each epoch's start.

``loss`` is ``"sgns"`` (negative sampling, word2vec's and gensim's) or ``"nce"`` (noise-contrastive
estimation: every logit minus ``log(k q(w))``, ``q`` the proposal above, normalised, ``k`` the
negatives per positive of the epoch). gensim's ``hs=0, negative=k`` is SGNS; NCE needs a law to
correct by, so it does not take DNS negatives.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.divergence import TrainingDivergedError
from ..engine.skipgram import train_embeddings
from ..engine.vocab import EncodedCorpus, keep_probs
from ..sampling.distributions import popularity
from ..sampling.hard import DynamicNegativeSampler
from ..sampling.kernels import KernelSampler
from ..sampling.negative import NegativeSampler
from ..sampling.schedules import ALPHA_REBUILD_STEP, Schedule, is_constant


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _check_float(name: str, value, low: float | None = None, strict: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (strict and v == low)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
    return v


_DEFAULT_NEGATIVE = 5
_DEFAULT_NS_EXPONENT = 0.75
LOSSES = ("sgns", "nce")


def check_loss(loss: Any, sampler: Any, negative: int) -> str:
    """The skip-gram ``loss`` ("sgns" or "nce"), or a ValueError naming what does not fit it."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be 'sgns' (negative sampling, word2vec's loss) or 'nce' (noise-contrastive "
                         f"estimation: logits corrected by log(k q)), got {loss!r}")
    if loss == "nce":
        if isinstance(sampler, DynamicNegativeSampler):
            raise ValueError("loss='nce' corrects each logit by log(k q) of the law the negatives are drawn from; "
                             "a DynamicNegativeSampler's best-of-m negatives follow no known law: use a "
                             "NegativeSampler, or loss='sgns' with DNS")
        if negative < 1:
            raise ValueError(f"loss='nce' needs negatives to contrast with: negative must be >= 1, got {negative}")
    return loss


def check_sampler(sampler: Any) -> None:
    """Raise a clear error unless ``sampler`` is something the skip-gram engine can draw from."""
    if isinstance(sampler, DynamicNegativeSampler):
        if not isinstance(sampler.base, NegativeSampler):
            raise TypeError("a skip-gram DynamicNegativeSampler needs a NegativeSampler base, "
                            f"got {type(sampler.base).__name__}")
        if sampler.score_fn is not None:
            raise ValueError("the skip-gram model scores DNS candidates itself (input vector . output vector): "
                             "build the DynamicNegativeSampler without score_fn")
        if sampler.mode != "topk":
            raise ValueError(f"skip-gram DNS picks the best of m candidates (mode='topk'), got mode={sampler.mode!r}")
        if sampler.pool:
            raise ValueError("DynamicNegativeSampler(pool=...) is a matrix-factorisation kernel option; use pool=0")
        if sampler.k != 1:
            raise ValueError(f"skip-gram DNS makes each negative the best of m candidates: the number of negatives "
                             f"per positive is the base sampler's k; use DynamicNegativeSampler(..., k=1), "
                             f"got k={sampler.k}")
        base = sampler.base
    elif isinstance(sampler, NegativeSampler):
        base = sampler
    else:
        raise TypeError("sampler must be a recneg.sampling.NegativeSampler or a DynamicNegativeSampler over one, "
                        f"got {type(sampler).__name__}")
    if base.shared is not None:
        raise ValueError("NegativeSampler(shared=...) is a matrix-factorisation option; skip-gram models share "
                         "negatives with shared_negatives=")
    if base.on_exhausted != "raise":
        raise ValueError("skip-gram models need on_exhausted='raise' (a user with no negative is an error)")


class SkipGramBase:
    """Shared parameter handling, the negatives' sampler and training for Word2Vec and Item2Vec.

    Attributes:
        sampler: the sampler negatives are drawn from (the user's object, or the shorthand's).
        history: per-epoch dicts of the last training: ``epoch``, ``loss`` (when computed), ``k``,
            ``alpha`` (the popularity exponent; None with custom weights) and ``m`` (DNS only).
    """

    trace: np.ndarray | None = None  # debug: passed to the numba engine (see train_embeddings)

    def _set_params(self, vector_size, window, sample, sg, negative, ns_exponent, alpha, min_alpha, epochs,
                    workers, seed, device, shared_negatives, batch_size, backend=None, sampler=None,
                    loss: str = "sgns") -> None:
        self.vector_size = _check_int("vector_size", vector_size, 1)
        self.window = _check_int("window", window, 1)
        self.sample = _check_float("sample", sample, 0.0)
        if sg not in (0, 1, True, False):
            raise ValueError(f"sg must be 1 (skip-gram) or 0 (CBOW), got {sg!r}")
        self.sg = int(sg)
        self.negative = _check_int("negative", negative, 0)
        self.ns_exponent = _check_float("ns_exponent", ns_exponent)
        self.alpha = _check_float("alpha", alpha, 0.0, strict=True)
        self.min_alpha = _check_float("min_alpha", min_alpha, 0.0)
        if self.min_alpha > self.alpha:
            raise ValueError(f"min_alpha ({min_alpha}) must be <= alpha ({alpha})")
        self.epochs = _check_int("epochs", epochs, 1)
        self.workers = _check_int("workers", workers, 1)
        self.seed = int(seed)
        self.device = str(device)
        if shared_negatives == "auto":
            shared_negatives = bool(self.sg)
        self.shared_negatives = bool(shared_negatives)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        if backend is None:
            backend = "numba" if self.device == "cpu" else "torch"
        if backend not in ("numba", "torch"):
            raise ValueError(f"backend must be None (auto), 'numba' or 'torch', got {backend!r}")
        if backend == "numba" and self.device != "cpu":
            raise ValueError(f"the numba backend runs on CPU only; use device='cpu' or backend='torch' (got {device!r})")
        self.backend = backend
        if sampler is None:
            self.sampler_given = False
            # negative=0 (no negatives) trains nothing on the output side, as gensim; k=1 keeps the sampler valid
            self.sampler = NegativeSampler(k=max(self.negative, 1), alpha=self.ns_exponent, exclude_seen=False)
        else:
            if self.negative != _DEFAULT_NEGATIVE or self.ns_exponent != _DEFAULT_NS_EXPONENT:
                raise ValueError(f"give either sampler= or the shorthand negative/ns_exponent, not both (got "
                                 f"sampler={sampler!r}, negative={negative!r}, ns_exponent={ns_exponent!r}); "
                                 "set k and alpha on the NegativeSampler")
            check_sampler(sampler)
            self.sampler_given = True
            self.sampler = sampler
        self.loss = check_loss(loss, self.sampler, self.negative)
        self.history: list[dict] = []

    @property
    def _base_sampler(self) -> NegativeSampler:
        s = self.sampler
        return s.base if isinstance(s, DynamicNegativeSampler) else s

    def _init_weights(self, n: int) -> None:
        rng = np.random.default_rng(self.seed)
        d = self.vector_size
        self.syn0 = ((rng.random((n, d), dtype=np.float32) - np.float32(0.5)) / np.float32(d)).astype(np.float32)
        self.syn1neg = np.zeros((n, d), dtype=np.float32)

    def _epoch_draws(self, counts: np.ndarray, in_vocab: np.ndarray | None, csr: Any):
        """The engine's ``draws(epoch) -> (k, KernelSampler, m)``: schedules evaluated at the epoch start,
        the proposal rebuilt only when alpha changes; each epoch's values appended to ``history``."""
        s, base = self.sampler, self._base_sampler
        dns = isinstance(s, DynamicNegativeSampler)
        cache: dict = {}
        exclude = bool(base.exclude_seen)
        if exclude and csr is None:
            raise ValueError("exclude_seen=True needs each sequence's user: train with fit(interactions) (or "
                             "fit_sequences(..., users=...)), or use NegativeSampler(exclude_seen=False)")

        def draws(ep: float, record: bool = True):
            s.set_step(ep)
            k = self.negative if not self.sampler_given else base.k
            alpha = None if base.weights is not None else base.alpha
            m = s.m if dns else 0
            if dns and s.k != 1:
                raise ValueError(f"skip-gram DNS needs DynamicNegativeSampler k=1 at every epoch, got k={s.k} "
                                 f"at epoch {ep}")
            if not record and alpha is not None and "ks" in cache and abs(alpha - cache["alpha"]) < ALPHA_REBUILD_STEP:
                alpha = cache["alpha"]  # within an epoch (torch, per step): rebuild only once alpha has moved
            if cache.get("alpha", object()) != alpha or "ks" not in cache:
                if base.weights is not None:
                    w = np.asarray(base.weights, dtype=np.float64).copy()
                    if w.shape[0] != counts.shape[0]:
                        raise ValueError(f"the sampler's weights have {w.shape[0]} entries but the model has "
                                         f"{counts.shape[0]} items/words; give one weight per item")
                    if in_vocab is not None:
                        w[~in_vocab] = 0.0
                else:
                    w = np.zeros(counts.shape[0], dtype=np.float64)
                    iv = slice(None) if in_vocab is None else in_vocab
                    w[iv] = popularity(counts[iv], alpha)
                cache["alpha"] = alpha
                cache["ks"] = KernelSampler.from_weights(w, csr if exclude else None, exclude, base.heavy_threshold)
            if record:
                rec = {"epoch": ep, "k": k, "alpha": alpha}
                if dns:
                    rec["m"] = m
                self.history.append(rec)
            return k, cache["ks"], m

        # the torch engine re-evaluates the schedules before every batch when any of them moves
        draws.per_step = any(not is_constant(x) for x in (getattr(base, "k_schedule", None),
                                                          getattr(base, "alpha_schedule", None),
                                                          getattr(s, "m_schedule", None)) if isinstance(x, Schedule))
        return draws

    def _train_corpus(self, corpus: EncodedCorpus, counts: np.ndarray, epochs: int, callbacks, compute_loss,
                      progress, dynamic_window: bool = True, window: int | None = None,
                      keep_prob: np.ndarray | None = None, in_vocab: np.ndarray | None = None,
                      csr: Any = None, seq_users: np.ndarray | None = None) -> list[float]:
        """Train ``epochs`` passes. ``in_vocab`` bool (n,): items drawable as negatives (default all);
        ``csr`` the users x items matrix an excluding sampler excludes from, ``seq_users`` each
        sentence's user (row of ``csr``)."""
        if corpus.n_tokens == 0:
            raise ValueError("nothing to train on: the encoded corpus has no tokens")
        if keep_prob is None:
            keep_prob = keep_probs(counts, self.sample)
        self.history = []
        draws = self._epoch_draws(counts, in_vocab, csr)

        def on_epoch(ep: int, loss: float) -> None:
            if np.isfinite(loss):
                self.history[-1]["loss"] = float(loss)

        try:
            syn0, syn1, losses = train_embeddings(
                self.syn0, self.syn1neg, corpus.tokens, corpus.offsets, keep_prob, None,
                window=self.window if window is None else window, negative=self.negative, sg=bool(self.sg),
                shared_negatives=self.shared_negatives, dynamic_window=dynamic_window, alpha=self.alpha,
                min_alpha=self.min_alpha, epochs=epochs, workers=self.workers, seed=self.seed, backend=self.backend,
                device=self.device, batch_size=self.batch_size, callbacks=tuple(callbacks), compute_loss=compute_loss,
                progress=progress, trace=self.trace, draws=draws, seq_users=seq_users, on_epoch=on_epoch,
                loss=self.loss,
            )
        except TrainingDivergedError:
            self._init_weights(self.syn0.shape[0])  # the NaN weights are worthless: back to untrained
            raise
        self.syn0, self.syn1neg = np.ascontiguousarray(syn0), np.ascontiguousarray(syn1)
        return losses
