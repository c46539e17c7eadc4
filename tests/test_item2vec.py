"""Item2Vec: planted clusters, implicit-style queries, errors."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recneg.data import Interactions
from recneg.models.item2vec import Item2Vec

from helpers import cluster_purity


@pytest.mark.parametrize("kw", [dict(context="set"), dict(context="set", sg=0), dict(context="window", window=20),
                                dict(context="set", ns_exponent=-0.5)],
                         ids=["set-sg", "set-cbow", "window", "neg-exponent"])
def test_planted_clusters_recovered(synth, kw):
    m = Item2Vec(vector_size=16, epochs=15, workers=1, progress=False, seed=2, alpha=0.05, sample=0, **kw)
    m.fit(synth.interactions)
    assert m.item_factors.shape == (120, 16) and m.item_factors.dtype == np.float32
    assert cluster_purity(m, synth.item_cluster) >= 0.9


def test_similar_items_and_recommend_exact_on_tiny_model():
    m = Item2Vec(vector_size=3, epochs=1, workers=1, progress=False, scoring="cosine")
    m.fit_sequences([np.array([0, 1, 2, 3, 4])], n_items=6)  # item 5 never seen: left out
    V = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.8, 0.6], [-1, 0, 0], [0, 0, 0]], np.float32)
    m.syn0 = V
    m._normed = None
    ids, sc = m.similar_items(0, N=3)
    assert ids[:2].tolist() == [0, 1] and ids[2] in (2, 3)  # 2 and 3 tie at cosine 0
    assert sc[0] == pytest.approx(1.0)
    assert sc[1] == pytest.approx(0.9 / np.hypot(0.9, 0.1), rel=1e-5)
    assert 5 not in m.similar_items(0, N=6)[0][:5]
    # user history {0, 2}: profile direction (1, 1, 0)/sqrt2
    ui = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 0]], np.float32))
    ids, sc = m.recommend(0, ui, N=2)
    prof = np.array([1, 1, 0]) / np.sqrt(2)
    U = V[:5] / np.linalg.norm(V[:5], axis=1, keepdims=True)
    exp = U @ prof
    exp[[0, 2]] = -np.inf
    order = np.argsort(-exp)[:2]
    assert ids.tolist() == order.tolist()
    np.testing.assert_allclose(sc, exp[order], rtol=1e-5)
    m.syn1neg = np.eye(6, 3, k=0, dtype=np.float32) * np.arange(1, 7, dtype=np.float32)[:, None]
    ids_io, sc_io = m.recommend(0, ui, N=2, scoring="in_out")  # mean (0.5, 0.5, 0) . syn1neg rows
    assert ids_io[0] == 1 and ids_io[1] in (3, 4)  # 0, 2 seen; 5 left out; 3 and 4 tie at 0
    assert sc_io.tolist() == pytest.approx([1.0, 0.0])
    with pytest.raises(ValueError, match="scoring"):
        m.recommend(0, ui, scoring="dot")
    ids_all, _ = m.recommend(0, ui, N=2, filter_already_liked_items=False)
    assert ids_all[0] == 1 and ids_all[1] in (0, 2)  # 0 and 2 tie
    # a batch of users may pass the full user matrix (rows picked by userid); a scalar userid needs its one
    # row, as in implicit (the full matrix raises ValueError)
    full = sp.csr_matrix(np.array([[0, 0, 0, 1, 0, 0], [1, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0]], np.float32))
    ids2, _ = m.recommend(np.array([1]), full, N=2)
    assert ids2[0].tolist() == ids.tolist()
    with pytest.raises(ValueError, match=r"1 row for every user"):
        m.recommend(1, full, N=2)
    ids3, sc3 = m.recommend(np.array([0, 2]), full[[0, 2]], N=2)
    assert ids3.shape == (2, 2) and sc3.shape == (2, 2)
    assert 3 not in ids3[0] and 1 not in ids3[1]


def test_time_ordered_sequences_used():
    # two users, timestamps reverse the CSR order: window=1 must pair by time, not by index
    df = pd.DataFrame({"user": [0, 0, 0, 0], "item": [0, 1, 2, 3], "ts": [4, 2, 3, 1]})
    inter = Interactions.from_dataframe(df, time_col="ts")
    seqs = inter.sequences()
    assert seqs[0].tolist() == [3, 1, 2, 0]
    m = Item2Vec(vector_size=4, epochs=1, workers=1, progress=False, sample=0)
    m.fit(inter)
    assert m.item_counts.tolist() == [1, 1, 1, 1]


def test_min_count_leaves_items_out(synth):
    m = Item2Vec(vector_size=8, epochs=2, workers=1, progress=False, min_count=40, context="set")
    m.fit(synth.interactions)
    rare = m.item_counts < 40
    assert rare.any() and np.all(m.item_factors[rare] == 0)
    ids, _ = m.recommend(np.arange(5), synth.interactions.csr[:5], N=10)
    assert not np.isin(ids, np.flatnonzero(rare)).any()


def test_item2vec_errors():
    with pytest.raises(ValueError, match="context"):
        Item2Vec(context="bag")
    with pytest.raises(ValueError, match="vector_size"):
        Item2Vec(vector_size=0)
    with pytest.raises(ValueError, match="window"):
        Item2Vec(window=0)
    with pytest.raises(ValueError, match="negative"):
        Item2Vec(negative=-2)
    m = Item2Vec(progress=False)
    with pytest.raises(ValueError, match="not fitted"):
        m.similar_items(0)
    with pytest.raises(TypeError, match="Interactions"):
        m.fit([[0, 1]])
    with pytest.raises(ValueError, match="empty"):
        m.fit_sequences([np.array([], dtype=np.int64)], n_items=3)
    with pytest.raises(ValueError, match="min_count"):
        Item2Vec(min_count=3, progress=False).fit_sequences([np.array([0, 1])], n_items=3)
    m.fit_sequences([np.array([0, 1, 2])], n_items=3)
    with pytest.raises(ValueError, match="out of range"):
        m.similar_items(7)
    with pytest.raises(ValueError, match="columns"):
        m.recommend(0, sp.csr_matrix((1, 5)))
    with pytest.raises(TypeError, match="user_items"):
        m.recommend(0, np.zeros((1, 3)))


def test_save_load_roundtrip(synth, tmp_path):
    m = Item2Vec(vector_size=8, epochs=2, workers=1, progress=False, context="set", min_count=3, ns_exponent=-0.5)
    m.fit(synth.interactions)
    p = tmp_path / "i2v.npz"
    m.save(p)
    assert [f.name for f in tmp_path.iterdir()] == ["i2v.npz"]
    m2 = Item2Vec.load(p)
    assert m2.context == "set" and m2.min_count == 3 and m2.ns_exponent == -0.5
    assert np.array_equal(m2.item_factors, m.item_factors) and np.array_equal(m2.syn1neg, m.syn1neg)
    assert np.array_equal(m2.in_vocab, m.in_vocab)
    a = m.recommend(np.arange(4), synth.interactions.csr[:4], N=5)
    b = m2.recommend(np.arange(4), synth.interactions.csr[:4], N=5)
    assert np.array_equal(a[0], b[0])
    Item2Vec(window=3).save(tmp_path / "x.npz")  # an unfitted model saves its parameters (as implicit allows)
    u = Item2Vec.load(tmp_path / "x.npz")
    assert u.window == 3 and u.item_counts is None
    with pytest.raises(ValueError, match="not fitted"):
        u.similar_items(0)
    np.savez(tmp_path / "other.npz", x=np.zeros(1))
    with pytest.raises(ValueError, match="not a recneg Item2Vec"):
        Item2Vec.load(tmp_path / "other.npz")


def test_default_scoring_is_in_out_and_persists(tmp_path):
    assert Item2Vec().scoring == "in_out"
    with pytest.raises(ValueError, match="scoring"):
        Item2Vec(scoring="dot")
    m = Item2Vec(vector_size=3, epochs=1, workers=1, progress=False)
    m.fit_sequences([np.array([0, 1, 2, 3, 4])], n_items=6)
    m.syn1neg = np.eye(6, 3, k=0, dtype=np.float32) * np.arange(1, 7, dtype=np.float32)[:, None]
    ui = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 0]], np.float32))
    a = m.recommend(0, ui, N=3)
    b = m.recommend(0, ui, N=3, scoring="in_out")
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()
    m.scoring = "cosine"
    m.save(tmp_path / "m.npz")
    assert Item2Vec.load(tmp_path / "m.npz").scoring == "cosine"
