"""recneg.compat.gensim: gensim's Word2Vec names and defaults onto recneg's Word2Vec."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from recneg.compat.gensim import KeyedVectors, Word2Vec
from recneg.models import KeyedVectors as RecnegKV
from recneg.models import Word2Vec as RecnegWord2Vec

SENTENCES = [["human", "interface", "computer"], ["survey", "user", "computer", "system", "response", "time"],
             ["eps", "user", "interface", "system"], ["system", "human", "system", "eps"],
             ["user", "response", "time"], ["trees"], ["graph", "trees"], ["graph", "minors", "trees"],
             ["graph", "minors", "survey"]] * 5


def test_signature_is_gensims() -> None:
    gensim = pytest.importorskip("gensim")
    theirs = list(inspect.signature(gensim.models.Word2Vec.__init__).parameters.values())[1:]
    ours = list(inspect.signature(Word2Vec).parameters.values())
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]


def test_gensim_call_trains_recneg_cbow() -> None:
    model = Word2Vec(SENTENCES, vector_size=16, window=2, min_count=2, workers=1, epochs=2, max_final_vocab=8)
    assert isinstance(model, RecnegWord2Vec) and KeyedVectors is RecnegKV
    assert model.sg == 0 and model.progress is False  # gensim's defaults: CBOW, no progress bar
    assert len(model.wv) == 8 and model.wv.vector_size == 16
    assert model.wv.index_to_key[0] == "system"  # most frequent first
    assert len(model.wv.most_similar("system", topn=3)) == 3


def test_load_and_gensim_callbacks(tmp_path) -> None:
    seen = []

    class EpochLogger:  # gensim's CallbackAny2Vec protocol, without importing gensim
        def on_epoch_end(self, model):
            seen.append(model)

    model = Word2Vec(SENTENCES, vector_size=8, min_count=1, workers=1, epochs=3, callbacks=[EpochLogger()],
                     sg=1, hashfxn=hash, batch_words=100, comment="ignored")
    assert seen == [model] * 3
    model.save(tmp_path / "m.npz")
    back = Word2Vec.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.wv.vectors, model.wv.vectors)
    assert Word2Vec(vector_size=8).vocab is None  # no corpus: nothing trained yet, as gensim


@pytest.mark.parametrize("kwargs, name", [
    ({"hs": 1}, "hs"), ({"cbow_mean": 0}, "cbow_mean"), ({"max_vocab_size": 1000}, "max_vocab_size"),
    ({"null_word": 1}, "null_word"), ({"trim_rule": lambda w, c, m: 0}, "trim_rule"),
    ({"sorted_vocab": 0}, "sorted_vocab"), ({"shrink_windows": False}, "shrink_windows"),
])
def test_unsupported_features_say_so(kwargs, name) -> None:
    with pytest.raises(NotImplementedError, match=rf"Word2Vec\({name}="):
        Word2Vec(SENTENCES, **kwargs)


def test_callback_hooks_recneg_never_calls_are_refused() -> None:
    class Begin:
        def on_epoch_end(self, model):
            pass

        def on_train_begin(self, model):
            pass

    with pytest.raises(NotImplementedError, match="on_train_begin would never run"):
        Word2Vec(SENTENCES, callbacks=[Begin()])
    gensim = pytest.importorskip("gensim")

    class Plain(gensim.models.callbacks.CallbackAny2Vec):  # inherits no-op hooks: fine
        def __init__(self):
            self.n = 0

        def on_epoch_end(self, model):
            self.n += 1

    cb = Plain()
    Word2Vec(SENTENCES, vector_size=4, min_count=1, workers=1, epochs=2, callbacks=[cb])
    assert cb.n == 2
