"""Word2Vec (skip-gram / CBOW with negative sampling), gensim-shaped.

>>> model = Word2Vec(corpus_file="text8.gz", vector_size=100, sg=1, workers=2)
>>> model.wv.most_similar("king")

Training runs the numba Hogwild kernel of :mod:`recneg.engine.skipgram` on CPU,
or the batched torch kernel on ``device`` (e.g. "cuda"). Negatives come from a
popularity**ns_exponent alias table (:mod:`recneg.sampling`): ``negative`` / ``ns_exponent``
(gensim's names) are mapped onto ``NegativeSampler(k=negative, alpha=ns_exponent,
exclude_seen=False)`` (``model.sampler``; words have no users, so nothing is excluded). ``loss="nce"`` trains
noise-contrastive estimation instead of SGNS (each logit minus ``log(negative * q(w))``).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Callable, Iterable, Sequence

import numpy as np

from .._io import atomic_savez, load_npz, pack_ids, unpack_ids
from ..engine.vocab import EncodedCorpus, Vocab, build_vocab, encode_corpus
from ._skipgram import SkipGramBase, _check_float, _check_int  # noqa: F401  (re-exported for old imports)

logger = logging.getLogger(__name__)

_FORMAT = "recneg-word2vec-1"


class Word2Vec(SkipGramBase):
    """Word embeddings by skip-gram (``sg=1``) or CBOW (``sg=0``) with negative sampling.

    Args:
        sentences: restartable iterable of token lists; or
        corpus_file: path to a text file (one sentence per line or text8-style single line; .gz ok).
        vector_size: embedding dimension d.
        window: maximum window; the effective window is uniform in 1..window.
        min_count, max_vocab: vocabulary pruning (max_vocab keeps the most frequent).
        sample: subsampling threshold t (0 = off).
        sg: 1 skip-gram, 0 CBOW (mean of context).
        negative: negatives per positive; ns_exponent: exponent of the unigram negative distribution.
        loss: "sgns" (negative sampling, as gensim's ``hs=0, negative=k``; the default) or "nce"
            (noise-contrastive estimation, as TensorFlow's ``nce_loss``: the logit of the centre word and of
            each negative w is corrected by ``-log(negative * q(w))``, q the unigram^ns_exponent law).
        alpha, min_alpha: linear learning-rate schedule over all epochs.
        epochs: passes; workers: CPU threads (Hogwild); seed: RNG seed (workers=1 is reproducible).
        device: "cpu" (numba kernel) or a torch device such as "cuda" (torch kernel).
        backend: None (numba on "cpu", torch elsewhere), "numba" or "torch" (torch also runs on CPU).
        batch_size: torch backend only: pairs (sg) or centre words (cbow) per batched step.
        shared_negatives: skip-gram only: one set of negatives per centre word shared by its
            context words (pWord2Vec); "auto" = on for sg=1.
        callbacks: callables ``fn(epoch, loss)`` after each epoch (loss = mean loss per pair, of ``loss``).
        progress: show a tqdm progress bar.

    Attributes:
        wv: :class:`~recneg.models.keyedvectors.KeyedVectors` of the input vectors.
        syn1neg: float32 (V, d) output vectors.
    """

    def __init__(
        self,
        sentences: Iterable[Sequence[str]] | None = None,
        corpus_file: str | os.PathLike | None = None,
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 5,
        max_vocab: int | None = None,
        sample: float = 1e-3,
        sg: int = 1,
        negative: int = 5,
        ns_exponent: float = 0.75,
        alpha: float = 0.025,
        min_alpha: float = 1e-4,
        epochs: int = 5,
        workers: int = 2,
        seed: int = 1,
        device: str = "cpu",
        shared_negatives: bool | str = "auto",
        callbacks: Sequence[Callable[[int, float], None]] = (),
        progress: bool = True,
        compute_loss: bool = False,
        batch_size: int = 4096,
        backend: str | None = None,
        loss: str = "sgns",
    ) -> None:
        self._set_params(vector_size, window, sample, sg, negative, ns_exponent, alpha, min_alpha, epochs,
                         workers, seed, device, shared_negatives, batch_size, backend, loss=loss)
        self.min_count = _check_int("min_count", min_count, 1)
        if max_vocab is not None:
            _check_int("max_vocab", max_vocab, 1)
        self.max_vocab = max_vocab
        self.callbacks = tuple(callbacks)
        self.progress = bool(progress)
        self.compute_loss = bool(compute_loss)
        self.vocab: Vocab | None = None
        self._corpus: EncodedCorpus | None = None
        self.losses: list[float] = []
        self.syn0 = np.zeros((0, self.vector_size), dtype=np.float32)
        self.syn1neg = np.zeros((0, self.vector_size), dtype=np.float32)
        self._wv = None
        if sentences is not None or corpus_file is not None:
            self.build_vocab(sentences=sentences, corpus_file=corpus_file)
            self.train()

    # ------------------------------------------------------------------ training
    def build_vocab(self, sentences: Iterable[Sequence[str]] | None = None,
                    corpus_file: str | os.PathLike | None = None) -> "Word2Vec":
        """Scan the corpus once: build the vocabulary, encode the corpus and initialise weights."""
        self.vocab, self._corpus = build_vocab(sentences, corpus_file, min_count=self.min_count,
                                               max_vocab=self.max_vocab)
        self._init_weights(len(self.vocab))
        self._wv = None
        return self

    def train(self, sentences: Iterable[Sequence[str]] | None = None, corpus_file: str | os.PathLike | None = None,
              epochs: int | None = None, callbacks: Sequence[Callable[[int, float], None]] | None = None) -> list[float]:
        """Train on the corpus given to :meth:`build_vocab` (or on new text, encoded with the
        existing vocabulary). Returns the per-epoch losses (NaN when not computed).

        Raises :class:`~recneg.engine.divergence.TrainingDivergedError` (a ValueError) after the
        first epoch whose loss or vectors are NaN/inf (alpha too high); the weights are then reset
        to their untrained initial values."""
        if self.vocab is None:
            raise ValueError("no vocabulary: call build_vocab(sentences or corpus_file) first, "
                             "or pass the corpus to Word2Vec(...)")
        if sentences is not None or corpus_file is not None:
            corpus = encode_corpus(self.vocab, sentences, corpus_file)
        else:
            corpus = self._corpus
        if corpus is None:
            raise ValueError("no corpus to train on: pass sentences= or corpus_file=")
        epochs = self.epochs if epochs is None else _check_int("epochs", epochs, 1)
        cbs = self.callbacks if callbacks is None else tuple(callbacks)
        keep = self.vocab.keep_probs(self.sample)
        losses = self._train_corpus(corpus, self.vocab.counts, epochs, cbs, self.compute_loss, self.progress,
                                    keep_prob=keep)
        self.losses.extend(losses)
        self._wv = None
        return losses

    # ------------------------------------------------------------------ access
    @property
    def wv(self):
        """:class:`KeyedVectors` over the trained input vectors (shares memory with ``syn0``)."""
        if self.vocab is None:
            raise ValueError("the model has no vocabulary yet: train it first")
        if self._wv is None:
            from .keyedvectors import KeyedVectors

            self._wv = KeyedVectors(self.syn0, list(self.vocab.index_to_key), counts=self.vocab.counts)
        return self._wv

    def __repr__(self) -> str:
        n = 0 if self.vocab is None else len(self.vocab)
        return (f"Word2Vec(vocab={n}, vector_size={self.vector_size}, sg={self.sg}, window={self.window}, "
                f"loss={self.loss!r})")

    # ------------------------------------------------------------------ persistence
    def _params(self) -> dict:
        keys = ["vector_size", "window", "min_count", "max_vocab", "sample", "sg", "negative", "ns_exponent",
                "alpha", "min_alpha", "epochs", "workers", "seed", "device", "shared_negatives", "batch_size",
                "backend", "loss"]
        return {k: getattr(self, k) for k in keys}

    def save(self, path: str | os.PathLike) -> None:
        """Save vocabulary, weights and parameters to one ``.npz`` file, atomically."""
        if self.vocab is None:
            raise ValueError("nothing to save: the model has no vocabulary; train it first")
        atomic_savez(
            path,
            format=np.array(_FORMAT),
            params=np.array(json.dumps(self._params())),
            syn0=self.syn0,
            syn1neg=self.syn1neg,
            counts=self.vocab.counts,
            losses=np.asarray(self.losses, dtype=np.float64),
            **pack_ids("keys", [str(k) for k in self.vocab.index_to_key]),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Word2Vec":
        """Load a model written by :meth:`save` (training can continue)."""
        z = load_npz(path, "Word2Vec", required=("format", "params", "syn0", "syn1neg", "counts", "losses"))
        if str(z["format"]) != _FORMAT:
            raise ValueError(f"{os.fspath(path)} is not a recneg Word2Vec file: format {str(z['format'])[:80]!r}, "
                             f"expected {_FORMAT!r} (saved by Word2Vec.save)")
        params = json.loads(str(z["params"]))
        model = cls(progress=False, **params)
        model.vocab = Vocab(index_to_key=unpack_ids(z, "keys", path, "Word2Vec").tolist(), counts=z["counts"])
        model.syn0 = np.ascontiguousarray(z["syn0"], dtype=np.float32)
        model.syn1neg = np.ascontiguousarray(z["syn1neg"], dtype=np.float32)
        model.losses = list(z["losses"])
        return model
