"""gensim's names for recneg's word-vector models: swap ``from gensim.models import ...`` for
``from recneg.compat.gensim import ...`` and keep the rest of the code.

>>> from recneg.compat.gensim import Word2Vec, KeyedVectors
>>> model = Word2Vec(sentences, vector_size=100, window=5, min_count=1, workers=2)
>>> model.wv.most_similar("king")

:func:`Word2Vec` takes ``gensim.models.Word2Vec.__init__``'s parameters, with gensim's defaults
(CBOW, ``sg=0``; no progress bar), and returns a :class:`recneg.models.Word2Vec`. Where recneg
names a parameter differently it is mapped (``max_final_vocab`` -> ``max_vocab``); a feature
recneg does not have raises NotImplementedError naming it (hierarchical softmax ``hs=1``,
``cbow_mean=0``, ``trim_rule``, ...) rather than training something else. gensim-style callback
objects (``CallbackAny2Vec``) get ``on_epoch_end(model)`` after each epoch.

:class:`KeyedVectors` is recneg's own class, which takes gensim's calls as they are
(``load_word2vec_format(fname, fvocab=, binary=, ...)``, ``add_vector``, ``get_vecattr``, ...).

The trained model is recneg's: its ``train`` and ``build_vocab`` take recneg's arguments
(``train(sentences=None, corpus_file=None, epochs=None, callbacks=None)``), and ``save``/``load``
use recneg's ``.npz`` files, not gensim's pickles.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Sequence

from ..models.keyedvectors import KeyedVectors
from ..models.word2vec import Word2Vec as _Word2Vec

__all__ = ["KeyedVectors", "Word2Vec"]

_GENSIM_HOOKS_NOT_CALLED = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_batch_begin", "on_batch_end")


def _unsupported(name: str, value: Any, why: str) -> NotImplementedError:
    return NotImplementedError(f"Word2Vec({name}={value!r}): {why}")


def _overridden_hooks(cb: Any) -> list[str]:
    """Hooks of a gensim-style callback object that do something (not CallbackAny2Vec's no-ops)."""
    base = next((c for c in type(cb).__mro__ if c.__name__ == "CallbackAny2Vec"), None)
    out = []
    for name in _GENSIM_HOOKS_NOT_CALLED:
        mine = getattr(type(cb), name, None)
        if mine is not None and (base is None or mine is not getattr(base, name, None)):
            out.append(name)
    return out


class _EpochEndCallback:
    """recneg's ``fn(epoch, loss)`` hook calling a gensim callback's ``on_epoch_end(model)``."""

    def __init__(self, cb: Any) -> None:
        self.cb = cb
        self.model: Any = None

    def __call__(self, epoch: int, loss: float) -> None:
        self.cb.on_epoch_end(self.model)


def Word2Vec(  # noqa: N802  (a factory named like the class it stands for)
    sentences: Iterable[Sequence[str]] | None = None,
    corpus_file: str | os.PathLike | None = None,
    vector_size: int = 100,
    alpha: float = 0.025,
    window: int = 5,
    min_count: int = 5,
    max_vocab_size: int | None = None,
    sample: float = 1e-3,
    seed: int = 1,
    workers: int = 3,
    min_alpha: float = 0.0001,
    sg: int = 0,
    hs: int = 0,
    negative: int = 5,
    ns_exponent: float = 0.75,
    cbow_mean: int = 1,
    hashfxn: Callable[[str], int] = hash,
    epochs: int = 5,
    null_word: int = 0,
    trim_rule: Any = None,
    sorted_vocab: int = 1,
    batch_words: int = 10000,
    compute_loss: bool = False,
    callbacks: Sequence[Any] = (),
    comment: str | None = None,
    max_final_vocab: int | None = None,
    shrink_windows: bool = True,
) -> _Word2Vec:
    """A :class:`recneg.models.Word2Vec` from ``gensim.models.Word2Vec``'s arguments (same defaults).

    Mapped: ``max_final_vocab`` -> ``max_vocab`` (keep the most frequent words). The same in both:
    sentences, corpus_file, vector_size, alpha, window, min_count, sample, seed, workers, min_alpha,
    sg, negative, ns_exponent, epochs, compute_loss. Accepted and unused, as they change no result
    recneg can reproduce: ``hashfxn`` (gensim's per-word initialisation seed; recneg seeds from
    ``seed``), ``batch_words`` (gensim's thread job size), ``comment``.

    Raises NotImplementedError for what recneg does not do: ``hs=1`` (recneg trains with negative
    sampling only), ``cbow_mean=0`` (CBOW sums; recneg averages), ``max_vocab_size`` (gensim's
    pruning during the vocabulary scan; use ``max_final_vocab``), ``null_word=1``, ``trim_rule``,
    ``sorted_vocab=0`` (recneg's vocabulary is always sorted by frequency), ``shrink_windows=False``
    (recneg always draws the effective window in 1..window), and callback objects with hooks other
    than ``on_epoch_end`` (recneg calls its callbacks after each epoch only).
    """
    if hs:
        raise _unsupported("hs", hs, "hierarchical softmax is not implemented; recneg trains with negative "
                                     "sampling (hs=0, negative>=1)")
    if cbow_mean != 1:
        raise _unsupported("cbow_mean", cbow_mean, "recneg's CBOW averages the context vectors (cbow_mean=1)")
    if max_vocab_size is not None:
        raise _unsupported("max_vocab_size", max_vocab_size, "recneg does not prune while scanning the corpus; "
                                                             "max_final_vocab= keeps the most frequent words")
    if null_word:
        raise _unsupported("null_word", null_word, "recneg adds no null word")
    if trim_rule is not None:
        raise _unsupported("trim_rule", trim_rule, "filter the sentences before training instead")
    if not sorted_vocab:
        raise _unsupported("sorted_vocab", sorted_vocab, "recneg's vocabulary is always sorted by frequency")
    if not shrink_windows:
        raise _unsupported("shrink_windows", shrink_windows, "recneg always draws the effective window "
                                                             "uniformly in 1..window (shrink_windows=True)")
    adapted: list[Callable[[int, float], None]] = []
    bound: list[_EpochEndCallback] = []
    for cb in callbacks:
        if hasattr(cb, "on_epoch_end"):
            hooks = _overridden_hooks(cb)
            if hooks:
                raise _unsupported("callbacks", cb, f"recneg calls callbacks after each epoch only, so "
                                                    f"{', '.join(hooks)} would never run; keep on_epoch_end")
            bound.append(_EpochEndCallback(cb))
            adapted.append(bound[-1])
        elif callable(cb):
            adapted.append(cb)  # recneg's own fn(epoch, loss)
        else:
            raise TypeError(f"callbacks must be gensim CallbackAny2Vec objects or callables, got {cb!r}")
    model = _Word2Vec(
        vector_size=vector_size, window=window, min_count=min_count, max_vocab=max_final_vocab, sample=sample,
        sg=sg, negative=negative, ns_exponent=ns_exponent, alpha=alpha, min_alpha=min_alpha, epochs=epochs,
        workers=workers, seed=seed, callbacks=adapted, progress=False, compute_loss=compute_loss,
    )
    for b in bound:
        b.model = model
    if sentences is not None or corpus_file is not None:
        model.build_vocab(sentences=sentences, corpus_file=corpus_file)
        model.train()
    return model


Word2Vec.load = _Word2Vec.load  # type: ignore[attr-defined]  # gensim: Word2Vec.load(path)
