"""Item2Vec (Barkan & Koenigstein 2016): SGNS over user histories.

Items are the tokens and each user's history (``Interactions.sequences()``,
time-ordered when timestamps exist) is a sentence, trained by the same engine as
:class:`~recneg.models.word2vec.Word2Vec`. Vectors are indexed by item index.

``context="window"`` uses a (dynamic) sliding window over the ordered history;
``context="set"`` treats the whole history/session as one basket: every other item
of the sequence is context (window = sequence length, no window shrinking).
``ns_exponent`` may be negative (Caselles-Dupré et al. 2018: -0.5 helped on music).

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
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .._io import atomic_savez, load_npz
from ..engine.vocab import EncodedCorpus, encode_sequences
from .word2vec import SkipGramBase, _check_int

logger = logging.getLogger(__name__)


def _topn(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-n (descending) of a 2-D score array; -inf entries sort last."""
    n = min(n, scores.shape[1])
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    ps = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-ps, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(ps, order, axis=1)


class Item2Vec(SkipGramBase):
    """Item embeddings from co-occurrence in user histories, by SGNS (or CBOW).

    Args:
        vector_size: embedding dimension d.
        context: "window" (sliding window of ``window`` items) or "set" (whole sequence).
        window: window size for ``context="window"``.
        min_count: items seen fewer times are left out (zero vectors, never recommended).
        sample: subsampling threshold of frequent items (0 = off).
        negative, ns_exponent: negatives per positive, drawn from popularity**ns_exponent.
        alpha, min_alpha, epochs, workers, seed, device, shared_negatives, backend,
        batch_size, callbacks, progress: as in :class:`~recneg.models.word2vec.Word2Vec`.
        scoring: default scoring of :meth:`recommend`, "in_out" or "cosine" (see module docstring).
        session_gap: cut histories into sessions where consecutive events are more than
            this apart (timestamp units); None = one sequence per user.

    Attributes:
        item_factors: float32 (n_items, d) item vectors (zero rows for left-out items).
        item_counts: int64 (n_items,) occurrences in the training sequences.
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
    ) -> None:
        self._set_params(vector_size, window, sample, sg, negative, ns_exponent, alpha, min_alpha, epochs,
                         workers, seed, device, shared_negatives, batch_size, backend)
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
    def fit(self, user_items: Any) -> "Item2Vec":
        """Train on an :class:`~recneg.data.Interactions` (or a users x items scipy.sparse matrix,
        whose rows are then unordered baskets).

        Returns:
            self.
        """
        from ..data import as_interactions

        inter = as_interactions(user_items, "user_items")
        seqs = inter.sequences(session_gap=self.session_gap) if self.session_gap is not None else inter.sequences()
        return self.fit_sequences(seqs, inter.n_items)

    def fit_sequences(self, sequences: Sequence[np.ndarray], n_items: int) -> "Item2Vec":
        """Train on explicit item-index sequences (list of int arrays with values in [0, n_items)).

        Raises :class:`~recneg.engine.divergence.TrainingDivergedError` (a ValueError) after the
        first epoch whose loss or vectors are NaN/inf (alpha too high); the model is left unfitted."""
        n_items = _check_int("n_items", n_items, 1)
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
        self._init_weights(n_items)
        weights = np.zeros(n_items, dtype=np.float64)
        from ..sampling.distributions import popularity

        weights[in_vocab] = popularity(counts[in_vocab], self.ns_exponent)
        # subsampling keep probabilities over the in-vocabulary items (word2vec formula)
        vcounts = np.where(in_vocab, counts, 0).astype(np.float64)
        if self.sample > 0:
            ratio = self.sample * vcounts.sum() / np.maximum(vcounts, 1.0)
            keep_prob = np.minimum(np.sqrt(ratio) + ratio, 1.0).astype(np.float32)
        else:
            keep_prob = np.ones(n_items, dtype=np.float32)
        if self.context == "set":
            lengths = np.diff(corpus.offsets)
            window = int(max(1, lengths.max() - 1)) if lengths.size else 1
            dynamic = False
        else:
            window, dynamic = self.window, True
        losses = self._train_corpus(corpus, counts, self.epochs, self.callbacks, bool(self.callbacks), self.progress,
                                    dynamic_window=dynamic, window=window, neg_weights=weights, keep_prob=keep_prob)
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

    def similar_items(self, itemid: int | np.ndarray, N: int = 10,
                      filter_items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Most cosine-similar items (the query item itself included, as ``implicit`` does).

        Args:
            itemid: an item index, or an int array of them.
            N: number of results.
            filter_items: item indices never to return.

        Returns:
            (ids int64, scores float32), shape (N,) for a scalar ``itemid`` else (len, N).
        """
        self._check_fitted()
        N = _check_int("N", N, 1)
        scalar = np.ndim(itemid) == 0
        ids = self._check_items(np.atleast_1d(itemid), "itemid")
        U = self._unit()
        scores = U[ids] @ U.T
        scores[:, ~self.in_vocab] = -np.inf
        if filter_items is not None:
            scores[:, self._check_items(filter_items, "filter_items")] = -np.inf
        top, sc = _topn(scores, N)
        return (top[0], sc[0]) if scalar else (top, sc)

    def recommend(self, userid: int | np.ndarray, user_items: Any, N: int = 10,
                  filter_already_liked_items: bool = True,
                  filter_items: np.ndarray | None = None, scoring: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Recommend from the mean of the user's history vectors.

        Args:
            userid: a user index or an int array of them.
            user_items: users' histories as a scipy.sparse matrix or Interactions; either one row
                per entry of ``userid`` (the ``implicit`` convention) or all users (rows are then
                picked by ``userid``).
            N: number of results.
            filter_already_liked_items: never return items in the user's row.
            filter_items: item indices never to return.
            scoring: "cosine" = cosine between the mean history vector and each item vector;
                "in_out" = mean history input vector dotted with each item's output vector
                (``syn1neg``), i.e. the SGNS model's own co-occurrence score. None: the model's ``scoring``.

        Returns:
            (ids int64, scores float32), shape (N,) for a scalar ``userid`` else (len, N).
        """
        self._check_fitted()
        N = _check_int("N", N, 1)
        scoring = self.scoring if scoring is None else scoring
        if scoring not in ("cosine", "in_out"):
            raise ValueError(f"scoring must be 'cosine' or 'in_out', got {scoring!r}")
        scalar = np.ndim(userid) == 0
        users = np.atleast_1d(np.asarray(userid))
        if users.dtype.kind not in "iu":
            raise TypeError(f"userid must be integer user indices, got dtype {users.dtype}")
        if hasattr(user_items, "csr") and not sp.issparse(user_items):
            user_items = user_items.csr
        if not sp.issparse(user_items):
            raise TypeError("user_items must be a scipy.sparse matrix (users x items) or an Interactions, "
                            f"got {type(user_items).__name__}")
        M = sp.csr_matrix(user_items)
        if M.shape[1] != self.n_items:
            raise ValueError(f"user_items has {M.shape[1]} columns but the model knows {self.n_items} items")
        if M.shape[0] == users.size:
            rows = M
        else:
            if users.min() < 0 or users.max() >= M.shape[0]:
                raise ValueError(f"userid out of range for user_items with {M.shape[0]} rows")
            rows = M[users]
        B = rows.copy()
        B.data = np.ones_like(B.data, dtype=np.float32)
        # the sum of the history vectors has the direction of their mean
        prof = np.asarray(B @ self.syn0, dtype=np.float32)
        if scoring == "cosine":
            prof /= np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-12)
            scores = prof @ self._unit().T
        else:
            prof /= np.maximum(np.asarray(B.sum(1), dtype=np.float32), 1.0)
            scores = prof @ self.syn1neg.T
        scores[:, ~self.in_vocab] = -np.inf
        if filter_already_liked_items:
            r, c = B.nonzero()
            scores[r, c] = -np.inf
        if filter_items is not None:
            scores[:, self._check_items(filter_items, "filter_items")] = -np.inf
        top, sc = _topn(scores, N)
        return (top[0], sc[0]) if scalar else (top, sc)

    # ------------------------------------------------------------------ persistence
    _FORMAT = "recneg-item2vec-1"
    _PARAMS = ("vector_size", "context", "window", "min_count", "sample", "sg", "negative", "ns_exponent", "alpha",
               "min_alpha", "epochs", "workers", "seed", "device", "shared_negatives", "session_gap", "batch_size",
               "backend", "scoring")

    def save(self, path: str | os.PathLike) -> None:
        """Save parameters and weights to one ``.npz`` file, atomically (temp file + os.replace)."""
        self._check_fitted()
        atomic_savez(path, format=np.array(self._FORMAT),
                     params=np.array(json.dumps({k: getattr(self, k) for k in self._PARAMS})),
                     syn0=self.syn0, syn1neg=self.syn1neg, item_counts=self.item_counts, in_vocab=self.in_vocab,
                     losses=np.asarray(self.losses, dtype=np.float64))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Item2Vec":
        """Load a model written by :meth:`save`."""
        z = load_npz(path, "Item2Vec", required=("format", "params", "syn0", "syn1neg", "item_counts", "in_vocab",
                                                 "losses"))
        if str(z["format"]) != cls._FORMAT:
            raise ValueError(f"{os.fspath(path)} is not a recneg Item2Vec file: format {str(z['format'])[:80]!r}, "
                             f"expected {cls._FORMAT!r} (saved by Item2Vec.save)")
        model = cls(progress=False, **json.loads(str(z["params"])))
        model.syn0 = np.ascontiguousarray(z["syn0"], dtype=np.float32)
        model.syn1neg = np.ascontiguousarray(z["syn1neg"], dtype=np.float32)
        model.item_counts = np.asarray(z["item_counts"], dtype=np.int64)
        model.in_vocab = np.asarray(z["in_vocab"], dtype=bool)
        model.losses = list(z["losses"])
        return model

    def __repr__(self) -> str:
        return (f"Item2Vec(vector_size={self.vector_size}, context={self.context!r}, window={self.window}, "
                f"ns_exponent={self.ns_exponent}, epochs={self.epochs})")
