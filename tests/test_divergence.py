"""A learning rate far too high stops training with TrainingDivergedError on every training path."""
from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp

from recneg.cli import main
from recneg.models import Item2Vec, MatrixFactorization, TrainingDivergedError, Word2Vec
from recneg.models.mf import UserBatches
from recneg.sampling import AllItems, DynamicNegativeSampler, InBatchSampler, NegativeSampler


def _neg(k: int, **kw) -> NegativeSampler:
    """The old API's negatives=k (uniform proposal, exact exclusion)."""
    return NegativeSampler(k=k, alpha=0.0, **kw)


def _dns(k: int = 1, m: int = 8, pool: int = 0) -> DynamicNegativeSampler:
    """The old API's hard="dns" with its defaults (dns_candidates=8, alpha=0)."""
    return DynamicNegativeSampler(_neg(k), m=m, pool=pool)


@pytest.fixture(scope="module")
def X():
    return sp.random(60, 40, density=0.2, random_state=0, format="csr")


@pytest.fixture(scope="module")
def seqs():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 30, 20) for _ in range(50)]


def test_error_is_a_value_error_exported_by_models():
    import recneg.models.mf as mf

    assert issubclass(TrainingDivergedError, ValueError) and mf.TrainingDivergedError is TrainingDivergedError


# the numba SGD kernel overflows within one epoch at lr=1e6; torch's Adam steps are bounded by lr,
# so its factors only overflow float32 at lr ~ 1e20 and beyond
MF_PATHS = [
    pytest.param(dict(loss="bpr", backend="numba"), 1e6, id="numba-bpr"),
    pytest.param(dict(loss="bpr", backend="numba", sampler=_dns()), 1e6, id="numba-dns"),
    pytest.param(dict(loss="bpr", backend="numba", sampler=_dns(pool=16)), 1e6, id="numba-dns-pool"),
    pytest.param(dict(loss="bpr", backend="numba", lr_decay="linear", average_epochs=2), 1e6, id="numba-decay-avg"),
    pytest.param(dict(loss="bpr", backend="torch"), 1e30, id="torch-bpr"),
    pytest.param(dict(loss="bce", backend="torch", sampler=_dns(k=4)), 1e30, id="torch-bce-dns"),
    pytest.param(dict(loss="softmax", sampler=_neg(8)), 1e30, id="torch-softmax-pairs"),
    pytest.param(dict(loss="ccl", sampler=_neg(8)), 1e30, id="torch-ccl"),
    pytest.param(dict(loss="bce"), 1e30, id="torch-bce"),
    pytest.param(dict(loss="softmax", sampler=_neg(8), batching="users"), 1e30, id="torch-softmax-users"),
    pytest.param(dict(loss="ccl", sampler="all", batching=UserBatches(positives_per_row=2)), 1e30, id="torch-ccl-rows"),
    pytest.param(dict(loss="softmax", sampler=AllItems(), history_weight=0.5, use_bias=True), 1e30, id="torch-history"),
    pytest.param(dict(loss="softmax", sampler=InBatchSampler(mask_seen=True), lr_decay="linear", average_epochs=2),
                 1e30, id="torch-inbatch"),
]


@pytest.mark.parametrize("kw,lr", MF_PATHS)
def test_mf_divergence_raises_naming_epoch_and_lr(request, X, kw, lr):
    seen = []
    m = MatrixFactorization(factors=8, epochs=3, lr=lr, seed=0, **kw)
    assert m.backend == request.node.callspec.id.split("-")[0]  # the path the id names
    with pytest.raises(TrainingDivergedError, match=rf"diverged at epoch [123] of 3: .*lower lr \(got lr={re.escape(f'{lr:g}')}") as e:
        m.fit(X, show_progress=False, callbacks=[lambda ep, model: seen.append(np.isfinite(model.item_factors).all())],
              validation=lambda ep, model: float(np.isfinite(model.user_factors).all()))
    assert "\n" not in str(e.value)
    assert all(seen)  # callbacks and validation never see NaN factors
    with pytest.raises(RuntimeError, match="not fitted"):
        m.recommend(0, X)


@pytest.mark.parametrize("kw", [dict(loss="bpr", backend="numba", sampler=_dns()),
                                dict(loss="softmax", sampler=_neg(8))], ids=["numba-dns", "torch-softmax"])
def test_mf_normal_lr_trains(X, kw):
    m = MatrixFactorization(factors=8, epochs=3, **kw).fit(X, show_progress=False)
    assert np.isfinite([r["loss"] for r in m.history]).all() and np.isfinite(m.item_factors).all()


def test_mf_patience_path_raises_too(X):
    m = MatrixFactorization(factors=8, epochs=4, lr=1e6, backend="numba")
    with pytest.raises(TrainingDivergedError, match="epoch 1 of 4"):
        m.fit(X, show_progress=False, validation=lambda ep, model: 1.0, patience=2)


@pytest.mark.parametrize("callbacks", [(), (lambda ep, loss: None,)], ids=["no-loss", "loss"])
def test_item2vec_divergence(seqs, callbacks):
    m = Item2Vec(vector_size=8, epochs=3, alpha=1e6, min_alpha=1e6, progress=False, callbacks=callbacks)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1 of 3: .*lower alpha \(got alpha=1e\+06"):
        m.fit_sequences(seqs, 30)
    with pytest.raises(ValueError, match="not fitted"):
        m.similar_items(0)
    ok = Item2Vec(vector_size=8, epochs=3, progress=False, callbacks=callbacks).fit_sequences(seqs, 30)
    assert np.isfinite(ok.item_factors).all()


@pytest.mark.parametrize("backend,sg,compute_loss,alpha", [
    ("numba", 1, True, 1e6), ("numba", 1, False, 1e6), ("numba", 0, True, 1e6), ("numba", 0, False, 1e6),
    ("torch", 1, True, 1e30), ("torch", 0, False, 1e30),
])
def test_word2vec_divergence(seqs, backend, sg, compute_loss, alpha):
    sents = [[str(t) for t in s] for s in seqs]
    kw = dict(vector_size=8, epochs=3, min_count=1, sg=sg, progress=False, compute_loss=compute_loss,
              backend=backend)
    with pytest.raises(TrainingDivergedError, match=rf"epoch [123] of 3: .*lower alpha \(got alpha={re.escape(f'{alpha:g}')}"):
        Word2Vec(sents, alpha=alpha, min_alpha=1e-4, **kw)
    w = Word2Vec(**kw)
    w.build_vocab(sents)
    init = w.syn0.copy()
    w.alpha = alpha
    with pytest.raises(TrainingDivergedError):
        w.train()
    np.testing.assert_array_equal(w.syn0, init)  # back to untrained weights, not NaN
    assert w.losses == []
    ok = Word2Vec(sents, **kw)
    assert np.isfinite(ok.syn0).all() and np.isfinite(ok.syn1neg).all()


def test_cli_train_mf_diverged_exits_with_one_line_and_saves_nothing(tmp_path, capsys):
    out = tmp_path / "m"
    rc = main(["-q", "train", "mf", "--synthetic", "--factors", "8", "--epochs", "2", "--lr", "1e6",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert err.startswith("recneg train: error: training diverged at epoch 1 of 2") and "lr=1e+06" in err
    assert err.count("\n") == 1
