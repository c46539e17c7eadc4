"""Tests of recneg.evaluation.ranking (full-ranking and sampled top-K metrics)."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from recneg.evaluation.ranking import (
    ALL_METRICS,
    SAMPLED_METRICS,
    _draw_negatives,
    _union_sizes,
    most_popular_scores,
    ranking_metrics,
)
from recneg.sampling._rng import seed_states

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ----------------------------------------------------------------------------- helpers
def fixed_scores(S: np.ndarray):
    """score_fn returning rows of a fixed (n_users, n_items) matrix."""
    S = np.asarray(S, dtype=np.float32)
    return lambda users: S[users]


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c), np.float32), (r, c)), shape=(len(rows), n_items))


def reference(S: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, ks, skip_cold=True):
    """Plain numpy reference: per-user lexsort (score desc, index asc), loops, definitions."""
    n_users, n_items = S.shape
    out: dict[str, list[float]] = {}
    users = []
    recs = {K: set() for K in ks}
    for u in range(n_users):
        rel = set(test.indices[test.indptr[u]:test.indptr[u + 1]].tolist())
        seen = set(train.indices[train.indptr[u]:train.indptr[u + 1]].tolist())
        if not rel or (skip_cold and not seen):
            continue
        users.append(u)
        row = S[u].astype(np.float64).copy()
        row[list(seen)] = -np.inf
        order = np.lexsort((np.arange(n_items), -row))
        order = [i for i in order if row[i] > -np.inf]
        for K in ks:
            top = order[:K]
            recs[K].update(top)
            hits = [1 if i in rel else 0 for i in top]
            nh = sum(hits)
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(K, len(rel))))
            first = next((r + 1 for r, h in enumerate(hits) if h), None)
            ap, c = 0.0, 0
            for r, h in enumerate(hits):
                if h:
                    c += 1
                    ap += c / (r + 1)
            vals = {
                "recall": nh / len(rel), "precision": nh / K, "hitrate": float(nh > 0), "ndcg": dcg / idcg,
                "mrr": 0.0 if first is None else 1 / first, "map": ap / min(K, len(rel)),
            }
            for m, v in vals.items():
                out.setdefault(f"{m}@{K}", []).append(v)
    means = {k: float(np.mean(v)) for k, v in out.items()}
    for K in ks:
        means[f"coverage@{K}"] = len(recs[K]) / n_items
    return means, {k: np.array(v) for k, v in out.items()}, np.array(users)


def random_case(seed, n_users=60, n_items=90, dens_train=0.08, dens_test=0.05, tied=False):
    rng = np.random.default_rng(seed)
    tr = sp.random(n_users, n_items, density=dens_train, random_state=rng, format="csr")
    te = sp.random(n_users, n_items, density=dens_test, random_state=rng, format="csr")
    te = (te - te.multiply(tr > 0)).tocsr()
    te.eliminate_zeros()
    S = rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32) if tied else \
        rng.normal(size=(n_users, n_items)).astype(np.float32)
    return tr, te, S


# ----------------------------------------------------------------------------- hand-computed
def tiny():
    # user 0: train {0}, test {2,4,5}; user 1: train {1,2}, test {0}; user 2: no test; user 3: no train
    train = csr([[0], [1, 2], [3], []], 6)
    test = csr([[2, 4, 5], [0], [], [1]], 6)
    S = np.array([
        [9, 5, 8, 7, 6, 1],
        [1, 9, 9, 3, 3, 3],  # items 3,4,5 tie -> order 3,4,5 (lower index first)
        [0, 0, 0, 0, 0, 0],
        [0, 1, 2, 3, 4, 5],
    ], dtype=np.float32)
    return train, test, S


def test_hand_computed_values():
    train, test, S = tiny()
    r = ranking_metrics(train=train, test=test, K=[3, 4], score_fn=fixed_scores(S), per_user=True)
    assert r.n_users_evaluated == 2 and r.n_users_skipped == 2
    assert r.n_users_skipped_no_test == 1 and r.n_users_skipped_cold == 1
    np.testing.assert_array_equal(r.users, [0, 1])
    pu = r.per_user
    np.testing.assert_array_equal(r.top_items, [[2, 3, 4, 1], [3, 4, 5, 0]])
    idcg3 = 1 + 1 / math.log2(3) + 0.5
    # user 0, K=3: top [2,3,4], hits [1,0,1]
    np.testing.assert_allclose(pu["recall@3"], [2 / 3, 0.0])
    np.testing.assert_allclose(pu["precision@3"], [2 / 3, 0.0])
    np.testing.assert_allclose(pu["hitrate@3"], [1.0, 0.0])
    np.testing.assert_allclose(pu["ndcg@3"], [1.5 / idcg3, 0.0])
    np.testing.assert_allclose(pu["mrr@3"], [1.0, 0.0])
    np.testing.assert_allclose(pu["map@3"], [(1 + 2 / 3) / 3, 0.0])
    # user 1, K=4: top [3,4,5,0] -> hit at rank 4 (ties broken by lower index)
    np.testing.assert_allclose(pu["recall@4"], [2 / 3, 1.0])
    np.testing.assert_allclose(pu["precision@4"], [2 / 4, 1 / 4])
    np.testing.assert_allclose(pu["ndcg@4"], [1.5 / idcg3, 1 / math.log2(5)])
    np.testing.assert_allclose(pu["mrr@4"], [1.0, 0.25])
    np.testing.assert_allclose(pu["map@4"], [(1 + 2 / 3) / 3, 0.25])
    assert r["coverage@3"] == pytest.approx(4 / 6)  # {2,3,4} | {3,4,5}
    assert r["coverage@4"] == 1.0  # {2,3,4,1} | {3,4,5,0} = all 6 items
    assert r["recall@3"] == pytest.approx(1 / 3)
    assert list(r.metrics)[:7] == [f"{m}@3" for m in ALL_METRICS]


def test_cold_users_can_be_included():
    train, test, S = tiny()
    r = ranking_metrics(train=train, test=test, K=1, score_fn=fixed_scores(S), per_user=True, skip_cold_users=False)
    np.testing.assert_array_equal(r.users, [0, 1, 3])
    # user 3 has nothing masked: top-1 is item 5 (score 5), test item is 1 -> miss
    np.testing.assert_allclose(r.per_user["hitrate@1"], [1.0, 0.0, 0.0])
    assert r.n_users_skipped == 1


def test_masking_and_short_lists():
    # 5 items; user 0 trained on 3 of them with the highest scores; K=4 > 2 candidates
    train = csr([[0, 1, 2]], 5)
    test = csr([[4]], 5)
    S = np.array([[10, 9, 8, 1, 2]], np.float32)
    r = ranking_metrics(train=train, test=test, K=[1, 4], score_fn=fixed_scores(S), per_user=True)
    assert r["recall@1"] == 1.0  # item 4 outranks item 3; train items never appear
    assert r["precision@4"] == 0.25  # only 2 items listed, but precision divides by K
    assert r["coverage@4"] == pytest.approx(2 / 5)  # masked items are not "recommended"
    np.testing.assert_array_equal(r.top_items, [[4, 3, -1, -1]])


def test_test_item_in_train_is_never_hit(caplog):
    train = csr([[0]], 4)
    test = csr([[0, 3]], 4)
    S = np.array([[5, 1, 1, 0]], np.float32)
    with caplog.at_level(logging.WARNING, logger="recneg.evaluation.ranking"):
        r = ranking_metrics(train=train, test=test, K=3, score_fn=fixed_scores(S))
    assert "share 1" in caplog.text
    assert r["recall@3"] == 0.5  # item 3 at rank 3 is a hit; item 0 masked but still relevant


def test_boundary_ties_lower_index_wins():
    # all candidate items tie: top-K must be the K lowest unmasked indices
    n = 50
    train = csr([[0, 7], [3]], n)
    test = csr([[1, 9], [40, 2]], n)
    S = np.zeros((2, n), np.float32)
    r = ranking_metrics(train=train, test=test, K=[5, 8], score_fn=fixed_scores(S), per_user=True)
    # user 0: top5 = 1,2,3,4,5 (hit at rank 1); top8 = 1..6,8,9 (hit 9 at rank 8)
    np.testing.assert_allclose(r.per_user["recall@5"], [0.5, 0.5])  # user 1: top5 = 0,1,2,4,5 -> hit 2
    np.testing.assert_allclose(r.per_user["recall@8"], [1.0, 0.5])
    np.testing.assert_allclose(r.per_user["mrr@5"], [1.0, 1 / 3])
    np.testing.assert_allclose(r.per_user["ndcg@8"], [(1 + 1 / math.log2(9)) / (1 + 1 / math.log2(3)), (1 / math.log2(4)) / (1 + 1 / math.log2(3))])


# ----------------------------------------------------------------------------- vs reference
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numpy_reference(seed, tied):
    tr, te, S = random_case(seed, tied=tied)
    ks = [1, 3, 10, 25]
    ref_means, ref_pu, ref_users = reference(S, tr, te, ks)
    r = ranking_metrics(train=tr, test=te, K=ks, score_fn=fixed_scores(S), per_user=True, batch_size=7)
    np.testing.assert_array_equal(r.users, ref_users)
    for key, v in ref_pu.items():
        np.testing.assert_allclose(r.per_user[key], v, rtol=1e-12, atol=1e-12, err_msg=key)
    assert set(r.metrics) == set(ref_means)
    for key, v in ref_means.items():
        assert r[key] == pytest.approx(v, rel=1e-12, abs=1e-12), key


def test_popularity_baseline_matches_reference():
    tr, te, _ = random_case(3, n_users=80, n_items=40, dens_train=0.15)
    pop = most_popular_scores(tr)
    np.testing.assert_array_equal(pop.scores, np.asarray((tr != 0).sum(0)).ravel())
    S = np.tile(pop.scores, (tr.shape[0], 1))
    ref_means, _, _ = reference(S, tr, te, [5, 10])
    r = ranking_metrics(train=tr, test=te, K=[5, 10], score_fn=pop)
    for key, v in ref_means.items():
        assert r[key] == pytest.approx(v, rel=1e-12), key


def test_batching_invariance_exact():
    tr, te, S = random_case(4, tied=True)
    a = ranking_metrics(train=tr, test=te, K=[2, 10], score_fn=fixed_scores(S), batch_size=1, per_user=True)
    b = ranking_metrics(train=tr, test=te, K=[2, 10], score_fn=fixed_scores(S), batch_size=10_000, per_user=True)
    assert a.metrics == b.metrics
    for k in a.per_user:
        np.testing.assert_array_equal(a.per_user[k], b.per_user[k])


def test_factor_input_vs_score_fn_and_models():
    tr, te, _ = random_case(5, n_users=70, n_items=120)
    rng = np.random.default_rng(5)
    U = rng.normal(size=(70, 16)).astype(np.float32)
    V = rng.normal(size=(120, 16)).astype(np.float32)
    ks = [5, 20]
    base = ranking_metrics(train=tr, test=te, K=ks, score_fn=lambda u: U[u] @ V.T, batch_size=1)
    a = ranking_metrics(train=tr, test=te, K=ks, user_factors=U, item_factors=V)
    b = ranking_metrics(train=tr, test=te, K=ks, user_factors=U, item_factors=V, batch_size=3)

    class FactorModel:
        user_factors = torch.from_numpy(U).double().requires_grad_()
        item_factors = torch.from_numpy(V).double()
        score = "dot"  # a non-callable attribute named score must not confuse the dispatch

    class ScoreModel:
        def score(self, users):
            return torch.from_numpy(U[users] @ V.T)

    c = ranking_metrics(FactorModel(), tr, te, ks)
    d = ranking_metrics(ScoreModel(), tr, te, ks)
    for r in (a, b, c, d):
        for k, v in base.metrics.items():
            assert r[k] == pytest.approx(v, abs=1e-12), k


def test_torch_matmul_path_matches_numpy_path(monkeypatch):
    from recneg.evaluation import _scoring

    tr, te, _ = random_case(12, n_users=50, n_items=300)
    rng = np.random.default_rng(12)
    U = rng.normal(size=(50, 8)).astype(np.float32)
    V = rng.normal(size=(300, 8)).astype(np.float32)
    a = ranking_metrics(train=tr, test=te, K=[5, 20], user_factors=U, item_factors=V, per_user=True)
    monkeypatch.setattr(_scoring, "_CPU_MATMUL", "torch")
    b = ranking_metrics(train=tr, test=te, K=[5, 20], user_factors=U, item_factors=V, per_user=True)
    np.testing.assert_array_equal(a.top_items, b.top_items)
    for k, v in a.metrics.items():
        assert b[k] == pytest.approx(v, abs=1e-12), k


def test_interactions_input():
    from recneg.data import Interactions

    tr, te, S = random_case(6)
    a = ranking_metrics(train=Interactions.from_sparse(tr), test=Interactions.from_sparse(te), K=10,
                        score_fn=fixed_scores(S))
    b = ranking_metrics(train=tr, test=te, K=10, score_fn=fixed_scores(S))
    assert a.metrics == b.metrics


def test_users_subset_and_score_fn_not_mutated():
    tr, te, S = random_case(7)
    S0 = S.copy()
    full = ranking_metrics(train=tr, test=te, K=5, score_fn=lambda u: S[u], per_user=True)
    np.testing.assert_array_equal(S, S0)  # masking works on a copy
    sub = full.users[::2]
    part = ranking_metrics(train=tr, test=te, K=5, score_fn=fixed_scores(S), users=sub, per_user=True)
    np.testing.assert_array_equal(part.users, sub)
    np.testing.assert_array_equal(part.per_user["ndcg@5"], full.per_user["ndcg@5"][::2])


def test_nan_and_infinite_scores():
    train = csr([[0], [1]], 6)
    test = csr([[2], [3]], 6)
    S = np.array([[np.nan, 1, 2, 3, np.inf, -np.inf], [0, 1, 2, 3, 4, 5]], np.float32)
    # NaN on a masked train item is harmless; +inf ranks first; -inf is never recommended
    r = ranking_metrics(train=train, test=test, K=5, score_fn=fixed_scores(S), per_user=True)
    np.testing.assert_array_equal(r.top_items, [[4, 3, 2, 1, -1], [5, 4, 3, 2, 0]])
    S[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics(train=train, test=test, K=5, score_fn=fixed_scores(S))


# ----------------------------------------------------------------------------- errors
def test_errors():
    tr, te, S = random_case(8)
    f = fixed_scores(S)
    with pytest.raises(ValueError, match="train shape"):
        ranking_metrics(train=tr, test=te[:, :-1], score_fn=f)
    with pytest.raises(ValueError, match="item_factors has"):
        ranking_metrics(train=tr, test=te, user_factors=np.ones((60, 4)), item_factors=np.ones((89, 4)))
    with pytest.raises(ValueError, match="user_factors has"):
        ranking_metrics(train=tr, test=te, user_factors=np.ones((61, 4)), item_factors=np.ones((90, 4)))
    with pytest.raises(ValueError, match="dim"):
        ranking_metrics(train=tr, test=te, user_factors=np.ones((60, 4)), item_factors=np.ones((90, 5)))
    with pytest.raises(ValueError, match="K must be positive"):
        ranking_metrics(train=tr, test=te, K=0, score_fn=f)
    with pytest.raises(ValueError, match="K must be positive"):
        ranking_metrics(train=tr, test=te, K=[5, -1], score_fn=f)
    with pytest.raises(ValueError, match="test has no interactions"):
        ranking_metrics(train=tr, test=sp.csr_matrix(tr.shape), score_fn=f)
    with pytest.raises(ValueError, match="no user to evaluate"):
        ranking_metrics(train=sp.csr_matrix(tr.shape), test=te, score_fn=f)
    bad = S.copy()
    bad[:, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics(train=tr, test=te, score_fn=fixed_scores(bad))
    with pytest.raises(ValueError, match="user_factors contains NaN"):
        ranking_metrics(train=tr, test=te, user_factors=np.full((60, 4), np.nan), item_factors=np.ones((90, 4)))
    with pytest.raises(ValueError, match="score_fn returned shape"):
        ranking_metrics(train=tr, test=te, score_fn=lambda u: S[u, :10])
    with pytest.raises(ValueError, match="metrics"):
        ranking_metrics(train=tr, test=te, score_fn=f, metrics=["auc"])
    with pytest.raises(ValueError, match="in sampled mode"):
        ranking_metrics(train=tr, test=te, score_fn=f, metrics=["coverage"], n_sampled_negatives=10)
    with pytest.raises(ValueError, match="n_sampled_negatives"):
        ranking_metrics(train=tr, test=te, score_fn=f, n_sampled_negatives=0)
    with pytest.raises(ValueError, match="users must lie"):
        ranking_metrics(train=tr, test=te, score_fn=f, users=[0, 60])
    with pytest.raises(ValueError, match="batch_size"):
        ranking_metrics(train=tr, test=te, score_fn=f, batch_size=0)
    with pytest.raises(TypeError, match="exactly one score source"):
        ranking_metrics(train=tr, test=te)
    with pytest.raises(TypeError, match="first argument is the model"):
        ranking_metrics(tr, te)
    with pytest.raises(TypeError, match="train must be"):
        ranking_metrics(train=np.ones((60, 90)), test=te, score_fn=f)
    with pytest.raises(TypeError, match="needs user_factors"):
        ranking_metrics(object(), tr, te)
    with pytest.raises(KeyError, match="available"):
        ranking_metrics(train=tr, test=te, score_fn=f, K=5)["recall@10"]


# ----------------------------------------------------------------------------- sampled
def test_negative_draws_exclude_interacted_and_are_uniform():
    n_items = 40
    train = csr([[0, 3, 5, 39]], n_items)
    test = csr([[7, 8]], n_items)
    tp, ti = train.indptr.astype(np.int64), train.indices.astype(np.int64)
    sp_, si = test.indptr.astype(np.int64), test.indices.astype(np.int64)
    users = np.zeros(2000, np.int64)
    n_free = n_items - _union_sizes(tp, ti, sp_, si, np.array([0]))
    assert n_free[0] == 34
    base = seed_states(0, 1)[0]
    negs = _draw_negatives(tp, ti, sp_, si, users, n_items, 20, base)  # light user: rejection
    assert not np.isin(negs, [0, 3, 5, 39, 7, 8]).any()
    counts = np.delete(np.bincount(negs.ravel(), minlength=n_items), [0, 3, 5, 7, 8, 39])
    assert stats.chisquare(counts).pvalue > 1e-3
    # complement path: a user who saw most of the catalogue
    busy = csr([list(range(35))], n_items)
    bp, bi = busy.indptr.astype(np.int64), busy.indices.astype(np.int64)
    empty = csr([[]], n_items)
    ep, ei = empty.indptr.astype(np.int64), empty.indices.astype(np.int64)
    negs = _draw_negatives(bp, bi, ep, ei, np.zeros(500, np.int64), n_items, 20, base)
    assert negs.min() >= 35
    assert stats.chisquare(np.bincount(negs.ravel(), minlength=n_items)[35:]).pvalue > 1e-3
    again = _draw_negatives(bp, bi, ep, ei, np.zeros(500, np.int64), n_items, 20, base)
    np.testing.assert_array_equal(negs, again)


def test_sampled_exact_on_tiny_case():
    # item scores increase with index, so the test item 9 outranks every negative: sampled rank 1
    train = csr([[0, 1]], 10)
    test = csr([[9]], 10)
    S = np.arange(10, dtype=np.float32)[None, :]
    r = ranking_metrics(train=train, test=test, K=[1, 5], score_fn=fixed_scores(S), n_sampled_negatives=30)
    assert r.sampled and r.protocol.startswith("sampled")
    assert r["sampled_raw_recall@1"] == 1.0 and r["sampled_raw_ndcg@5"] == 1.0 and r["sampled_raw_mrr@5"] == 1.0
    # the lowest-scored candidate (item 2) is always ranked last: rank 1 + #distinct negatives drawn
    test2 = csr([[2]], 10)
    r2 = ranking_metrics(train=train, test=test2, K=[31], score_fn=fixed_scores(S), n_sampled_negatives=30,
                         metrics=["recall", "mrr"])
    assert r2["sampled_raw_recall@31"] == 1.0 and r2["sampled_raw_mrr@31"] == pytest.approx(1 / 31)
    assert set(r2.metrics) == {"sampled_recall@31", "sampled_raw_recall@31", "sampled_mrr@31", "sampled_raw_mrr@31"}


def test_sampled_correction_closer_to_full_ranking():
    # leave-one-out random data where the model is informative: one test item per user
    rng = np.random.default_rng(11)
    n_users, n_items, d = 400, 1500, 8
    U = rng.normal(size=(n_users, d)).astype(np.float32)
    V = rng.normal(size=(n_items, d)).astype(np.float32)
    S = U @ V.T
    tr_rows, te_rows = [], []
    for u in range(n_users):
        p = np.exp(S[u] - S[u].max())
        p /= p.sum()
        items = rng.choice(n_items, size=6, replace=False, p=p)
        te_rows.append([int(items[0])])
        tr_rows.append(sorted(int(i) for i in items[1:]))
    tr, te = csr(tr_rows, n_items), csr(te_rows, n_items)
    ks = [10, 20]
    full = ranking_metrics(train=tr, test=te, K=ks, user_factors=U, item_factors=V)
    smp = ranking_metrics(train=tr, test=te, K=ks, user_factors=U, item_factors=V, n_sampled_negatives=100, seed=3)
    for K in ks:
        for m in ("recall", "ndcg"):
            f, c, raw = full[f"{m}@{K}"], smp[f"sampled_{m}@{K}"], smp[f"sampled_raw_{m}@{K}"]
            assert abs(c - f) < abs(raw - f), (m, K, f, c, raw)
            assert abs(c - f) < 0.5 * abs(raw - f)
    # the factor path (per-pair dot products) and the score_fn path (full rows) agree
    via_fn = ranking_metrics(train=tr, test=te, K=ks, score_fn=lambda u: S[u], n_sampled_negatives=100, seed=3)
    for k, v in smp.metrics.items():
        assert via_fn[k] == pytest.approx(v, rel=1e-9), k
    # reproducible for a fixed seed, different for another
    again = ranking_metrics(train=tr, test=te, K=ks, user_factors=U, item_factors=V, n_sampled_negatives=100, seed=3)
    assert again.metrics == smp.metrics
    other = ranking_metrics(train=tr, test=te, K=ks, user_factors=U, item_factors=V, n_sampled_negatives=100, seed=4)
    assert other.metrics != smp.metrics


def test_sampled_per_user_and_batching():
    tr, te, S = random_case(9, n_items=200)
    kw = dict(train=tr, test=te, K=[5], score_fn=fixed_scores(S), n_sampled_negatives=25, per_user=True)
    a = ranking_metrics(batch_size=1, **kw)
    b = ranking_metrics(batch_size=100, **kw)
    assert a.metrics == b.metrics
    assert set(a.per_user) == {f"sampled{x}_{m}@5" for m in SAMPLED_METRICS for x in ("", "_raw")}
    assert a.per_user["sampled_raw_recall@5"].shape == a.users.shape
    assert a["sampled_raw_recall@5"] == pytest.approx(a.per_user["sampled_raw_recall@5"].mean())


# ----------------------------------------------------------------------------- real data
@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "lightgcn" / "gowalla" / "train.txt").exists(), reason="gowalla data absent")
def test_gowalla_popularity_subset_vs_reference():
    from recneg.datasets import load_lightgcn

    train, test = load_lightgcn(DATA / "lightgcn" / "gowalla")
    users = np.arange(0, train.n_users, 150)
    pop = most_popular_scores(train)
    r = ranking_metrics(train=train, test=test, K=[20], score_fn=pop, users=users, per_user=True)
    trc = train.csr[users]
    tec = test.csr[users]
    S = np.tile(pop.scores, (len(users), 1))
    ref_means, ref_pu, ref_users = reference(S, trc, tec, [20])
    np.testing.assert_array_equal(users[ref_users], r.users)
    for k, v in ref_pu.items():
        np.testing.assert_allclose(r.per_user[k], v, rtol=1e-12, err_msg=k)
    assert 0.0 < r["recall@20"] < 0.2


# ----------------------------------------------------------------------------- model plug-ins
def test_recneg_mf_model_plugs_in_and_matches_its_recommend():
    from recneg.models.mf import MatrixFactorization

    tr, te, _ = random_case(13, n_users=40, n_items=70, dens_train=0.15)
    model = MatrixFactorization(factors=8, epochs=2, seed=0).fit(tr, show_progress=False)
    r = ranking_metrics(model, tr, te, K=[5, 10], per_user=True)
    ref = ranking_metrics(train=tr, test=te, K=[5, 10], user_factors=model.user_factors,
                          item_factors=model.item_factors)
    assert r.metrics == ref.metrics
    ids, _ = model.recommend(r.users, tr[r.users], N=10)
    np.testing.assert_array_equal(np.asarray(ids), r.top_items)


@pytest.mark.filterwarnings("ignore:OpenBLAS is configured")
def test_implicit_model_plugs_in():
    implicit = pytest.importorskip("implicit")
    from implicit.cpu.als import AlternatingLeastSquares

    tr, te, _ = random_case(14, n_users=40, n_items=70, dens_train=0.15)
    model = AlternatingLeastSquares(factors=8, iterations=2, random_state=0)
    model.fit(sp.csr_matrix(tr, dtype=np.float32), show_progress=False)
    r = ranking_metrics(model, tr, te, K=10, per_user=True)
    S = model.user_factors @ model.item_factors.T
    ref_means, _, _ = reference(S, tr, te, [10])
    for k, v in ref_means.items():
        assert r[k] == pytest.approx(v, abs=1e-12), k
    assert implicit is not None


def test_recommend_only_model_plugs_in():
    tr, te, S = random_case(15, n_users=50, n_items=80)
    hot = int(np.argmax(np.bincount(tr.indices, minlength=80)))  # trained on by several users

    class RecommendOnly:  # implicit-style API, no factors, no score(); sloppy about filtering
        item_factors = np.zeros((80, 4), np.float32)  # item vectors alone must not be mistaken for a factor model

        def recommend(self, userid, user_items, N=10, filter_already_liked_items=True):
            assert user_items.shape == (len(userid), 80)
            rows = S[userid].astype(np.float64)
            rows[user_items.nonzero()] = -np.inf
            rows[:, hot] = 1e9  # item `hot` always first, even for users who trained on it
            order = np.lexsort((np.broadcast_to(np.arange(80), rows.shape), -rows), axis=-1)[:, :N]
            return order, np.take_along_axis(rows, order, 1)

    ref = ranking_metrics(train=tr, test=te, K=[5, 10], score_fn=fixed_scores(np.where(np.arange(80) == hot, 1e9, S)))
    r = ranking_metrics(RecommendOnly(), tr, te, K=[5, 10], per_user=True)
    # lists drop the train items the model returned, so they can be shorter than K but never contain train items
    for u, row in zip(r.users, r.top_items):
        assert not set(row[row >= 0]) & set(tr.indices[tr.indptr[u]:tr.indptr[u + 1]])
    assert r["hitrate@10"] <= ref["hitrate@10"] + 1e-12
    one = ranking_metrics(RecommendOnly(), tr, te, K=[5, 10], batch_size=1, per_user=True)
    np.testing.assert_array_equal(one.top_items, r.top_items)
    # users who trained on `hot` get it dropped: 9 items listed; others get `hot` first and 10 items
    has0 = np.array([hot in tr.indices[tr.indptr[u]:tr.indptr[u + 1]] for u in r.users])
    assert has0.any() and (~has0).any()
    np.testing.assert_array_equal((r.top_items >= 0).sum(1), np.where(has0, 9, 10))
    assert (r.top_items[~has0, 0] == hot).all()
    with pytest.raises(TypeError, match="only offers"):
        ranking_metrics(RecommendOnly(), tr, te, K=5, n_sampled_negatives=10)


def test_item2vec_plugs_in():
    from recneg.models.item2vec import Item2Vec

    tr, te, _ = random_case(16, n_users=60, n_items=50, dens_train=0.2)
    i2v = Item2Vec(vector_size=8, context="set", epochs=1, seed=0, progress=False).fit(tr)
    r = ranking_metrics(i2v, tr, te, K=10, per_user=True)
    ids, sc = i2v.recommend(r.users, tr[r.users], N=10)
    np.testing.assert_array_equal(r.top_items, np.where(np.asarray(sc) > -np.inf, ids, -1))
    assert 0.0 <= r["recall@10"] <= 1.0


def test_recommend_only_model_with_nan_scores_gets_clear_error():
    import scipy.sparse as sp

    train = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32))

    class NaNRecommender:
        def recommend(self, userid, user_items, N=10, filter_already_liked_items=True):
            u = np.atleast_1d(userid)
            return np.tile(np.arange(N), (u.size, 1)), np.full((u.size, N), np.nan, dtype=np.float32)

    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics(NaNRecommender(), train, test, K=2)
