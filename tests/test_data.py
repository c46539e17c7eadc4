import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recneg.data import Interactions, as_interactions, split_leave_last_out, split_random, split_temporal


@pytest.fixture
def df():
    return pd.DataFrame(
        {
            "u": ["bob", "alice", "alice", "carol", "bob", "alice", "bob"],
            "i": [10, 30, 10, 20, 10, 20, 40],
            "w": [1.0, 2.0, 1.0, 5.0, 3.0, 1.0, 0.5],
            "t": [5, 1, 2, 3, 9, 7, 4],
        }
    )


def test_from_dataframe_exact(df):
    x = Interactions.from_dataframe(df, "u", "i", weight_col="w", time_col="t")
    assert x.shape == (3, 4)
    assert list(x.user_ids) == ["alice", "bob", "carol"]
    assert list(x.item_ids) == [10, 20, 30, 40]
    assert x.nnz == 6  # (bob, 10) appears twice
    dense = x.csr.toarray()
    np.testing.assert_array_equal(dense, [[1, 1, 2, 0], [4, 0, 0, 0.5], [0, 5, 0, 0]])
    assert x.csr.dtype == np.float32 and x.csr.has_sorted_indices
    # duplicate keeps the latest timestamp
    bob = x.user_index("bob")
    k = x.indptr[bob]
    assert x.timestamps[k] == 9
    np.testing.assert_array_equal(x.item_counts, [2, 2, 1, 1])
    np.testing.assert_array_equal(x.user_counts, [3, 2, 1])
    np.testing.assert_array_equal(x.user_items(0), [0, 1, 2])
    assert x.item_index([40, 10]).tolist() == [3, 0]
    assert "n_users=3" in repr(x) and "nnz=6" in repr(x)


@pytest.mark.parametrize("rule,expected", [("sum", 4.0), ("max", 3.0), ("first", 1.0), ("last", 3.0)])
def test_duplicate_rules(df, rule, expected):
    x = Interactions.from_dataframe(df, "u", "i", weight_col="w", duplicates=rule)
    assert x.csr[x.user_index("bob"), x.item_index(10)] == expected


def test_binarize(df):
    x = Interactions.from_dataframe(df, "u", "i", weight_col="w", binarize=True)
    assert set(x.csr.data.tolist()) == {1.0}


def test_sequences_ordered_by_time(df):
    x = Interactions.from_dataframe(df, "u", "i", time_col="t")
    seqs = x.sequences()
    # alice: 30@1, 10@2, 20@7 -> items [2, 0, 1]
    assert seqs[0].tolist() == [2, 0, 1]
    # bob: 40@4, 10@9 (latest dup) -> [3, 0]
    assert seqs[1].tolist() == [3, 0]
    sess = x.sequences(session_gap=2)
    # alice splits between t=2 and t=7
    assert [s.tolist() for s in sess] == [[2, 0], [1], [3], [0], [1]]
    assert [s.tolist() for s in x.sequences(session_gap=2, min_length=2)] == [[2, 0]]


def test_from_sparse_any_format_and_roundtrip(tmp_path):
    m = sp.coo_matrix(([1, 2, 3, 4], ([0, 0, 2, 0], [3, 1, 0, 3])), shape=(3, 4))
    x = Interactions.from_sparse(m)
    np.testing.assert_array_equal(x.csr.toarray(), [[0, 2, 0, 5], [0, 0, 0, 0], [3, 0, 0, 0]])
    for fmt in ("csc", "lil", "dok"):
        y = Interactions.from_sparse(m.asformat(fmt))
        assert (y.csr != x.csr).nnz == 0
    x2 = Interactions.from_dataframe(pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "ts": [3, 4]}), time_col="ts")
    p = tmp_path / "i.npz"
    x2.save(p)
    y = Interactions.load(p)
    assert list(y.user_ids) == ["a", "b"] and list(y.item_ids) == ["x", "y"]
    assert (y.csr != x2.csr).nnz == 0
    np.testing.assert_array_equal(y.timestamps, x2.timestamps)
    assert not list(tmp_path.glob("*.tmp"))


def test_transposed_views():
    x = Interactions.from_sparse(sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 1]], dtype=np.float32)))
    np.testing.assert_array_equal(x.T.toarray(), x.csr.toarray().T)
    np.testing.assert_array_equal(x.csc.toarray(), x.csr.toarray())


def test_k_core():
    # user 2 has one item, item 3 only user 2; 2-core removes both
    dense = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0]], dtype=np.float32)
    x = Interactions.from_sparse(sp.csr_matrix(dense), user_ids=["a", "b", "c", "d"], item_ids=["p", "q", "r", "s"])
    k = x.k_core(2, 2)
    assert list(k.user_ids) == ["a", "b", "d"]
    assert list(k.item_ids) == ["p", "q", "r"]
    assert k.user_counts.min() >= 2 and k.item_counts.min() >= 2
    with pytest.raises(ValueError, match="removed every"):
        x.k_core(10, 10)


def _pairs(x):
    return set(zip(x.user_index_of_nnz.tolist(), x.indices.tolist()))


def test_split_random_invariants():
    rng = np.random.default_rng(0)
    dense = (rng.random((50, 40)) < 0.3).astype(np.float32)
    dense[:, 0] = 1  # every user has an item everyone shares, so nothing is cold
    dense[0] = 0
    dense[0, 0] = 1  # a one-item user keeps it in train
    x = Interactions.from_sparse(sp.csr_matrix(dense))
    tr, te = split_random(x, 0.25, seed=3)
    assert tr.shape == te.shape == x.shape
    assert not (_pairs(tr) & _pairs(te))
    assert _pairs(tr) | _pairs(te) == _pairs(x)
    assert tr.nnz + te.nnz + te.meta["dropped_cold_pairs"] == x.nnz
    n = x.user_counts
    expected = np.minimum(np.floor(0.25 * n + 0.5), n - 1)
    assert te.meta["dropped_cold_pairs"] == 0
    np.testing.assert_array_equal(te.user_counts, expected)
    assert te.user_counts[0] == 0 and tr.user_counts[0] == 1
    tr2, te2 = split_random(x, 0.25, seed=3)
    assert _pairs(te2) == _pairs(te)
    assert _pairs(split_random(x, 0.25, seed=4)[1]) != _pairs(te)


def test_split_drops_cold_and_reports(caplog):
    # item 2 is seen only by user 1, once: in a leave-last-out split it is cold.
    df = pd.DataFrame({"user": [0, 0, 1, 1], "item": [0, 1, 0, 2], "t": [1, 2, 1, 2]})
    x = Interactions.from_dataframe(df, time_col="t")
    with caplog.at_level("WARNING"):
        tr, te = split_leave_last_out(x)
    assert te.meta["dropped_cold_pairs"] == 2  # item 1 and item 2 are both only in test
    assert te.nnz == 0
    assert "dropped 2 test pairs" in caplog.text


def test_leave_last_out_exact():
    df = pd.DataFrame({"user": [0, 0, 0, 1, 1, 2, 2], "item": [0, 1, 2, 2, 0, 1, 0], "t": [3, 1, 2, 5, 6, 1, 0]})
    x = Interactions.from_dataframe(df, time_col="t")
    tr, te = split_leave_last_out(x)
    assert _pairs(te) == {(0, 0), (1, 0), (2, 1)}
    assert _pairs(tr) == {(0, 1), (0, 2), (1, 2), (2, 0)}
    assert te.meta["dropped_cold_pairs"] == 0


def test_temporal_split():
    df = pd.DataFrame({"user": [0, 0, 1, 1, 2], "item": [0, 1, 0, 1, 1], "t": [1, 5, 2, 6, 3]})
    x = Interactions.from_dataframe(df, time_col="t")
    tr, te = split_temporal(x, cut=5)
    assert _pairs(te) == {(0, 1), (1, 1)}
    assert all(t < 5 for t in tr.timestamps) and all(t >= 5 for t in te.timestamps)
    with pytest.raises(ValueError, match="exactly one"):
        split_temporal(x)
    with pytest.raises(ValueError, match="no interaction"):
        split_temporal(x, cut=100)


# ---------------------------------------------------------------- errors
def test_errors(df):
    with pytest.raises(KeyError, match="item_col='nope'"):
        Interactions.from_dataframe(df, "u", "nope")
    with pytest.raises(ValueError, match="empty"):
        Interactions.from_dataframe(df.iloc[:0], "u", "i")
    bad = df.copy()
    bad.loc[0, "w"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Interactions.from_dataframe(bad, "u", "i", weight_col="w")
    bad.loc[0, "w"] = -1
    with pytest.raises(ValueError, match="negative"):
        Interactions.from_dataframe(bad, "u", "i", weight_col="w")
    with pytest.raises(ValueError, match="not in item_ids"):
        Interactions.from_dataframe(df, "u", "i", item_ids=[10, 20])
    with pytest.raises(ValueError, match="out of range"):
        Interactions.from_arrays(np.array([0, 1]), np.array([0, 5]), n_items=3)
    with pytest.raises(TypeError, match="scipy.sparse"):
        Interactions.from_sparse([[1, 0]])
    with pytest.raises(ValueError, match="2-D"):
        Interactions.from_sparse(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="negative"):
        Interactions.from_sparse(sp.csr_matrix(np.array([[1.0, -1.0]])))
    with pytest.raises(TypeError, match="user_items"):
        as_interactions(np.ones((2, 2)))
    with pytest.raises(ValueError, match="timestamps"):
        split_leave_last_out(Interactions.from_dataframe(df, "u", "i"))
    with pytest.raises(ValueError, match="test_fraction"):
        split_random(Interactions.from_dataframe(df, "u", "i"), 1.5)
    with pytest.raises(IndexError):
        Interactions.from_dataframe(df, "u", "i").user_items(99)


def test_corrupt_npz(tmp_path):
    p = tmp_path / "x.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid recneg Interactions"):
        Interactions.load(p)


def test_index_dtypes_stay_scipy_compatible():
    x = Interactions.from_sparse(sp.random(5, 6, density=0.5, format="csr", random_state=0))
    assert x.indptr.dtype == np.int64 and x.indices.dtype == np.int32
    r, c = x.csr.nonzero()  # scipy needs matching indptr/indices dtypes
    assert r.size == x.nnz
    x.csr.tocoo()
    y = Interactions.from_arrays(np.array([0, 1, 1]), np.array([2, 0, 1]))
    assert y.indptr.dtype == np.int64
    assert y.csr.nonzero()[0].tolist() == [0, 1, 1]
