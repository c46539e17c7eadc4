"""Item2Vec (Barkan & Koenigstein 2016): SGNS over user histories.

Items are the tokens and each user's history (``Interactions.sequences()``,
time-ordered when timestamps exist) is a sentence, trained by the same engine as
:class:`~recneg.models.word2vec.Word2Vec`. Vectors are indexed by item index.

``context="window"`` uses a (dynamic) sliding window over the ordered history;
``context="set"`` treats the whole history/session as one basket: every other item
of the sequence is context (window = sequence length, no window shrinking).
``ns_exponent`` may be negative (Caselles-Dupré et al. 2018: -0.5 helped on music).

Negatives come from a :mod:`recneg.sampling` sampler (``sampler=``):

>>> Item2Vec(sampler=NegativeSampler(k=5, alpha=0.5, exclude_seen=True))          # never the user's own items
>>> Item2Vec(sampler=DynamicNegativeSampler(NegativeSampler(k=5, alpha=0.75), m=5))  # each the best of 5
>>> Item2Vec(sampler=NegativeSampler(weights=w, exclude_seen=False))               # custom proposal
>>> Item2Vec(sampler=NegativeSampler(k=LinearSchedule(2, 8, 10), alpha=LinearSchedule(1.0, 0.0, 10)))

``negative`` / ``ns_exponent`` are gensim's shorthand for ``NegativeSampler(k=negative,
alpha=ns_exponent, exclude_seen=False)``. The proposal is popularity^alpha over the item counts in
the training sequences (items below ``min_count`` get weight 0), or the sampler's ``weights``.
With ``exclude_seen=True`` the negatives of a user's sequence (each session, with ``session_gap``)
are drawn from the proposal truncated to the items outside that user's training history (exact:
rejection, then a complement draw; never skipped). DNS scores a candidate ``j`` by the skip-gram
score: the context's input vector (the mean of the context's for CBOW / shared negatives) dotted
with ``syn1neg[j]``. Exclusion, DNS, weights and schedules work on both backends (numba and torch).
Schedules are evaluated at the start of each epoch (numba) or before every batch (torch);
``history`` records the values at each epoch's start.
``loss="nce"`` trains noise-contrastive estimation instead of SGNS: each logit minus
``log(k q(item))``, ``q`` the sampler's proposal (untruncated, also with ``exclude_seen``; no DNS).

``recommend`` scores by ``scoring="in_out"`` by default: the mean history input
vector dotted with each item's output vector, i.e. the SGNS model's own
co-occurrence score. ``scoring="cosine"`` (cosine to the mean history vector)
ignores vector norms, so barely trained rare items get high cosines by chance: on
MovieLens-100k with a 5-item window it is near chance (HR@10 0.006 against 0.066
for in_out), and on the synthetic demo data Recall@20 is 0.09 against 0.54 (see
benchmarks/RESULTS.md, "Item2Vec"). ``similar_items`` uses cosine between input vectors.

API follows ``implicit``: ``fit(user_items)``, ``similar_items(itemid, N)`` and
``recommend(userid, user_items, N)`` return ``(ids, scores)``.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import IO, Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from . import _implicit_api as _api
from .._io import atomic_savez, load_npz
from ..engine.vocab import EncodedCorpus, encode_sequences, keep_probs
from ._skipgram import SkipGramBase, _check_int

logger = logging.getLogger(__name__)


class Item2Vec(SkipGramBase):
    """Item embeddings from co-occurrence in user histories, by SGNS (or CBOW).

    Args:
        vector_size: embedding dimension d.
        context: "window" (sliding window of ``window`` items) or "set" (whole sequence).
        window: window size for ``context="window"``.
        min_count: items seen fewer times are left out (zero vectors, never recommended).
        sample: subsampling threshold of frequent items (0 = off).
        negative, ns_exponent: negatives per positive, drawn from popularity**ns_exponent: the shorthand
            of ``sampler=NegativeSampler(k=negative, alpha=ns_exponent, exclude_seen=False)``.
        sampler: a :class:`~recneg.sampling.NegativeSampler` (``k``, ``alpha`` or ``weights``,
            ``exclude_seen``, schedules) or a :class:`~recneg.sampling.DynamicNegativeSampler` over one
            (``m`` candidates per negative, ``k=1``, no ``score_fn``). It is bound to the training data at
            fit (a sampler already bound keeps its matrix). Not together with non-default
            ``negative``/``ns_exponent``.
        loss: "sgns" (default) or "nce", as in :class:`~recneg.models.word2vec.Word2Vec`.
        alpha, min_alpha, epochs, workers, seed, device, shared_negatives, backend,
        batch_size, callbacks, progress: as in :class:`~recneg.models.word2vec.Word2Vec`.
        scoring: default scoring of :meth:`recommend`, "in_out" or "cosine" (see module docstring).
        session_gap: cut histories into sessions where consecutive events are more than
            this apart (timestamp units); None = one sequence per user.

    Attributes:
        item_factors: float32 (n_items, d) item vectors (zero rows for left-out items).
        item_counts: int64 (n_items,) occurrences in the training sequences.
        sampler: the sampler the negatives were drawn from.
        history: per-epoch dicts ``epoch``, ``loss`` (when computed), ``k``, ``alpha`` (the popularity
            exponent, None with custom weights), ``m`` (DNS).
    """

    def __init__(
        self,
        vector_size: int = 64,
        context: str = "window",
        window: int = 5,
        min_count: int = 1,
        sample: float = 1e-3,
        sg: int = 1,
        negative: int = 5,
        ns_exponent: float = 0.75,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        epochs: int = 20,
        workers: int = 2,
        seed: int = 1,
        device: str = "cpu",
        shared_negatives: bool | str = "auto",
        session_gap: float | None = None,
        callbacks: Sequence[Callable[[int, float], None]] = (),
        progress: bool = True,
        batch_size: int = 4096,
        backend: str | None = None,
        scoring: str = "in_out",
        sampler: Any = None,
        loss: str = "sgns",
    ) -> None:
        self._set_params(vector_size, window, sample, sg, negative, ns_exponent, alpha, min_alpha, epochs,
                         workers, seed, device, shared_negatives, batch_size, backend, sampler, loss=loss)
        if scoring not in ("cosine", "in_out"):
            raise ValueError(f"scoring must be 'cosine' or 'in_out', got {scoring!r}")
        self.scoring = scoring
        if context not in ("window", "set"):
            raise ValueError(f"context must be 'window' or 'set', got {context!r}")
        self.context = context
        self.min_count = _check_int("min_count", min_count, 1)
        self.session_gap = session_gap
        self.callbacks = tuple(callbacks)
        self.progress = bool(progress)
        self.losses: list[float] = []
        self.item_counts: np.ndarray | None = None
        self._normed: np.ndarray | None = None

    # ------------------------------------------------------------------ training
    def fit(self, user_items: Any, show_progress: bool | None = None,
            callback: Callable[..., Any] | None = None) -> "Item2Vec":
        """Train on an :class:`~recneg.data.Interactions` (or a users x items scipy.sparse matrix,
        whose rows are then unordered baskets; a matrix in another format than CSR is converted with a
        :class:`~recneg.models._implicit_api.ParameterWarning`, as implicit warns).

        Args:
            show_progress: a progress bar for this fit (implicit's name); None: the model's ``progress``.
            callback: implicit's hook, ``callback(epoch, elapsed, loss)`` after every epoch (the epoch's
                seconds and its mean loss per pair), run after the model's ``callbacks``.

        Returns:
            self.
        """
        from ..data import as_interactions

        _api.warn_if_not_csr(user_items)
        inter = as_interactions(user_items, "user_items")
        seqs, users = inter.sequences(session_gap=self.session_gap, return_users=True)
        return self._fit(seqs, inter.n_items, users, inter, show_progress=show_progress, callback=callback)

    def fit_sequences(self, sequences: Sequence[np.ndarray], n_items: int,
                      users: np.ndarray | None = None) -> "Item2Vec":
        """Train on explicit item-index sequences (list of int arrays with values in [0, n_items)).

        Args:
            users: int (n_sequences,) the user of each sequence; needed by a sampler with
                ``exclude_seen=True`` (a user's history is then the union of its sequences, unless the
                sampler is already bound to a matrix).

        Raises :class:`~recneg.engine.divergence.TrainingDivergedError` (a ValueError) after the
        first epoch whose loss or vectors are NaN/inf (alpha too high); the model is left unfitted."""
        n_items = _check_int("n_items", n_items, 1)
        train = None
        if users is not None:
            users = np.asarray(users)
            if users.ndim != 1 or users.shape[0] != len(sequences) or (users.size and users.dtype.kind not in "iu"):
                raise ValueError(f"users must be one integer user index per sequence ({len(sequences)}), "
                                 f"got shape {users.shape} dtype {users.dtype}")
            if users.size and users.min() < 0:
                raise ValueError("users must be non-negative user indices")
            users = users.astype(np.int64)
            lens = np.array([len(q) for q in sequences], dtype=np.int64)
            flat = (np.concatenate([np.asarray(q, dtype=np.int64) for q in sequences]) if lens.sum()
                    else np.zeros(0, np.int64))
            n_users = int(users.max()) + 1 if users.size else 1
            if flat.size and (flat.min() < 0 or flat.max() >= n_items):
                raise ValueError(f"sequences contain item indices outside [0, {n_items})")
            train = sp.csr_matrix((np.ones(flat.size, np.float32), (np.repeat(users, lens), flat)),
                                  shape=(n_users, n_items))
        return self._fit(sequences, n_items, users, train)

    def _fit(self, sequences: Sequence[np.ndarray], n_items: int, users: np.ndarray | None,
             train: Any, show_progress: bool | None = None, callback: Callable[..., Any] | None = None) -> "Item2Vec":
        corpus = encode_sequences(sequences, n_items)
        if corpus.n_tokens == 0:
            raise ValueError("no interactions to train on: the sequences are empty")
        counts = np.bincount(corpus.tokens, minlength=n_items).astype(np.int64)
        in_vocab = counts >= self.min_count
        if not in_vocab.any():
            raise ValueError(f"no item occurs at least min_count={self.min_count} times "
                             f"(most frequent: {int(counts.max())}); lower min_count")
        if not in_vocab.all():
            keep = in_vocab[corpus.tokens]
            cum = np.zeros(keep.size + 1, dtype=np.int64)
            np.cumsum(keep, out=cum[1:])
            corpus = EncodedCorpus(tokens=corpus.tokens[keep], offsets=cum[corpus.offsets],
                                   raw_words=corpus.raw_words)
        self.item_counts = None  # unfitted until training succeeds (a diverged run raises)
        csr = None
        if self.sampler_given and train is not None:
            self.sampler.bind(train)
            csr = self._base_sampler.csr
        elif self._base_sampler.exclude_seen:
            raise ValueError("exclude_seen=True needs each sequence's user: use fit(interactions) or "
                             "fit_sequences(sequences, n_items, users=...)")
        self._init_weights(n_items)
        # subsampling keep probabilities over the in-vocabulary items (word2vec formula)
        keep_prob = keep_probs(np.where(in_vocab, counts, 0), self.sample)
        if self.context == "set":
            lengths = np.diff(corpus.offsets)
            window = int(max(1, lengths.max() - 1)) if lengths.size else 1
            dynamic = False
        else:
            window, dynamic = self.window, True
        callbacks = self.callbacks if callback is None else (*self.callbacks, _ImplicitCallback(callback))
        progress = self.progress if show_progress is None else bool(show_progress)
        losses = self._train_corpus(corpus, counts, self.epochs, callbacks, bool(callbacks), progress,
                                    dynamic_window=dynamic, window=window, keep_prob=keep_prob, in_vocab=in_vocab,
                                    csr=csr, seq_users=users)
        self.losses.extend(losses)
        self.item_counts = counts
        self.in_vocab = in_vocab
        self.syn0[~in_vocab] = 0.0
        self._normed = None
        logger.info("item2vec: %d of %d items trained, %d tokens in %d sequences", int(in_vocab.sum()), n_items,
                    corpus.n_tokens, corpus.n_sentences)
        return self

    # ------------------------------------------------------------------ queries
    def _check_fitted(self) -> None:
        if self.item_counts is None:
            raise ValueError("the model is not fitted: call fit(interactions) first")

    @property
    def item_factors(self) -> np.ndarray:
        """float32 (n_items, d) item vectors."""
        self._check_fitted()
        return self.syn0

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return int(self.syn0.shape[0])

    def _unit(self) -> np.ndarray:
        if self._normed is None:
            n = np.linalg.norm(self.syn0, axis=1, keepdims=True)
            self._normed = (self.syn0 / np.maximum(n, 1e-12)).astype(np.float32)
        return self._normed

    def _check_items(self, ids: np.ndarray, name: str) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer item indices, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_items):
            raise ValueError(f"{name} out of range: item indices must be in [0, {self.n_items})")
        return ids.astype(np.int64)

    def similar_items(self, itemid: int | np.ndarray, N: int = 10, recalculate_item: bool = False,
                      item_users: Any = None, filter_items: np.ndarray | None = None,
                      items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Most cosine-similar items by input vectors (implicit's ``similar_items``, same arguments).

        The query item itself comes first with score 1.0 (as ``implicit`` lists it), unless it is filtered out,
        not among ``items``, or left out of training (``min_count``); left-out items are never returned.

        Args:
            itemid: an item index, or an int array of them.
            N: number of results.
            recalculate_item: not supported (NotImplementedError): an item's vector comes from its
                co-occurrences in the training sequences, not from a row of ``item_users``.
            item_users: ignored (as implicit does without ``recalculate_item``).
            filter_items: item indices never to return.
            items: only these item indices (not together with ``filter_items``; out of range: IndexError).

        Returns:
            (ids int32, scores float32), shape (N,) for a scalar ``itemid`` else (len, N).
        """
        self._check_fitted()
        if recalculate_item:
            raise NotImplementedError("Item2Vec cannot recalculate an item from item_users: its vector is learned "
                                      "from co-occurrences in the training sequences")
        N = _check_int("N", N, 1)
        scalar = np.ndim(itemid) == 0
        ids = self._check_items(np.atleast_1d(itemid), "itemid")
        cand = _api.candidate_ids(items, filter_items, self.n_items)
        excl = None if filter_items is None or not np.size(filter_items) else self._check_items(
            np.ravel(filter_items), "filter_items")
        U = self._unit()
        top, sc = _api.cosine_top_n(U[ids], U, N, cand=cand, exclude=excl, invalid=~self.in_vocab, self_ids=ids)
        return (top[0], sc[0]) if scalar else (top, sc)

    def similar_users(self, userid: int | np.ndarray, N: int = 10, filter_users: np.ndarray | None = None,
                      users: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Not supported (NotImplementedError): Item2Vec learns item vectors only, and keeps no users."""
        raise NotImplementedError("Item2Vec has no user vectors (it learns items from user histories): compare "
                                  "users by their recommend() profiles, or use MatrixFactorization")

    def recommend(self, userid: int | np.ndarray, user_items: Any, N: int = 10,
                  filter_already_liked_items: bool = True,
                  filter_items: np.ndarray | None = None, scoring: str | None = None,
                  recalculate_user: bool = False, items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Recommend from the mean of the user's history vectors (implicit's ``recommend`` arguments).

        Item2Vec keeps no user vectors: every call computes each user from its row of ``user_items``, so
        ``userid`` only shapes the output and ``recalculate_user`` changes nothing (it is accepted: that is what
        every call does).

        Args:
            userid: a user index or an int array of them.
            user_items: users' histories as a scipy.sparse CSR matrix or Interactions: one row per entry of
                ``userid`` (implicit's rule; required for a scalar ``userid``), or, for an array, all users
                (rows are then picked by ``userid``). A CSC/COO matrix raises ValueError, as in implicit.
            N: number of results.
            filter_already_liked_items: never return items in the user's row (with ``items``, they rank last).
            filter_items: item indices never to return.
            scoring: "cosine" = cosine between the mean history vector and each item vector;
                "in_out" = mean history input vector dotted with each item's output vector
                (``syn1neg``), i.e. the SGNS model's own co-occurrence score. None: the model's ``scoring``.
            recalculate_user: accepted, no effect (see above).
            items: rank only these item indices (not together with ``filter_items``; out of range: IndexError).

        Returns:
            (ids int32, scores float32), shape (N,) for a scalar ``userid`` else (len, N).
        """
        self._check_fitted()
        N = _check_int("N", N, 1)
        scoring = self.scoring if scoring is None else scoring
        if scoring not in ("cosine", "in_out"):
            raise ValueError(f"scoring must be 'cosine' or 'in_out', got {scoring!r}")
        scalar, users = _api.check_query_ids(userid, None, "userid")
        if users.size and users.min() < 0:
            raise ValueError("userid must be non-negative user indices")
        rows = _api.query_rows(user_items, users, scalar, self.n_items, n_full=-1)
        cand = _api.candidate_ids(items, filter_items, self.n_items)
        B = rows.copy()
        B.data = np.ones_like(B.data, dtype=np.float32)
        # the sum of the history vectors has the direction of their mean
        prof = np.asarray(B @ self.syn0, dtype=np.float32)
        if scoring == "cosine":
            prof /= np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-12)
            T = self._unit()
        else:
            prof /= np.maximum(np.asarray(B.sum(1), dtype=np.float32), 1.0)
            T = self.syn1neg
        scores = prof @ (T.T if cand is None else T[cand].T)
        scores[:, ~(self.in_vocab if cand is None else self.in_vocab[cand])] = -np.inf
        if filter_already_liked_items:
            _api.mask_rows(scores, B, cand)
        if filter_items is not None and np.size(filter_items):
            scores[:, self._check_items(np.ravel(filter_items), "filter_items")] = -np.inf
        top, sc = _api.rank_top_n(scores, N, cand)
        return (top[0], sc[0]) if scalar else (top, sc)

    # ------------------------------------------------------------------ persistence
    _FORMAT = "recneg-item2vec-1"
    _PARAMS = ("vector_size", "context", "window", "min_count", "sample", "sg", "negative", "ns_exponent", "alpha",
               "min_alpha", "epochs", "workers", "seed", "device", "shared_negatives", "session_gap", "batch_size",
               "backend", "scoring", "loss")

    def save(self, path: str | os.PathLike | IO[bytes]) -> None:
        """Save parameters and weights to one ``.npz`` file, atomically (temp file + os.replace), or to an open
        binary file object. An unfitted model saves its parameters only (``load`` gives an unfitted model)."""
        params = {k: getattr(self, k) for k in self._PARAMS}
        params["sampler"] = self.sampler.to_spec() if self.sampler_given else None
        arrays = dict(format=np.array(self._FORMAT), params=np.array(json.dumps(params)),
                      history=np.array(json.dumps(self.history)), losses=np.asarray(self.losses, dtype=np.float64))
        if self.item_counts is not None:
            arrays.update(syn0=self.syn0, syn1neg=self.syn1neg, item_counts=self.item_counts,
                          in_vocab=self.in_vocab)
        atomic_savez(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike | IO[bytes]) -> "Item2Vec":
        """Load a model written by :meth:`save` (from a path or an open binary file object)."""
        z = load_npz(path, "Item2Vec", required=("format", "params", "losses"))
        shown = _api.file_name(path)
        if str(z["format"]) != cls._FORMAT:
            raise ValueError(f"{shown} is not a recneg Item2Vec file: format {str(z['format'])[:80]!r}, "
                             f"expected {cls._FORMAT!r} (saved by Item2Vec.save)")
        params = json.loads(str(z["params"]))
        spec = params.pop("sampler", None)
        if spec is not None:
            from ..sampling.specs import sampler_from_spec

            params["sampler"] = sampler_from_spec(spec)
        model = cls(progress=False, **params)
        if "history" in z:
            model.history = json.loads(str(z["history"]))
        model.losses = [float(x) for x in z["losses"]]
        if "syn0" not in z:
            return model  # saved unfitted
        missing = [k for k in ("syn1neg", "item_counts", "in_vocab") if k not in z]
        if missing:
            raise ValueError(f"{shown} is not a recneg Item2Vec .npz file written by Item2Vec.save: it is missing "
                             f"the array(s) {', '.join(missing)}")
        model.syn0 = np.ascontiguousarray(z["syn0"], dtype=np.float32)
        model.syn1neg = np.ascontiguousarray(z["syn1neg"], dtype=np.float32)
        model.item_counts = np.asarray(z["item_counts"], dtype=np.int64)
        model.in_vocab = np.asarray(z["in_vocab"], dtype=bool)
        return model

    def __repr__(self) -> str:
        neg = f"sampler={self.sampler!r}" if self.sampler_given else f"ns_exponent={self.ns_exponent}"
        return (f"Item2Vec(vector_size={self.vector_size}, context={self.context!r}, window={self.window}, "
                f"{neg}, loss={self.loss!r}, epochs={self.epochs})")


class _ImplicitCallback:
    """An engine callback ``(epoch, loss)`` calling implicit's ``callback(epoch, elapsed, loss)``, with the seconds
    since the previous epoch ended (or since training started)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.t = time.perf_counter()

    def __call__(self, epoch: int, loss: float) -> None:
        now = time.perf_counter()
        elapsed, self.t = now - self.t, now
        self.fn(epoch, elapsed, loss)
