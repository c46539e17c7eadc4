"""MatrixFactorization: planted-cluster recovery, recommend/similar_items, save/load, errors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recneg.data import split_random
from recneg.datasets import make_synthetic
from recneg.models.losses import CCL, Softmax
from recneg.data import as_csr
from recneg.models.mf import BayesianPersonalizedRanking, MatrixFactorization, StopTraining, UserBatches
from recneg.sampling import AllItems, DynamicNegativeSampler, InBatchSampler, MixedSampler, NegativeSampler


def _neg(k: int, alpha: float = 0.0, **kw) -> NegativeSampler:
    """The old API's ``negatives=k, alpha=alpha`` (its default alpha was 0: uniform, exact exclusion)."""
    return NegativeSampler(k=k, alpha=alpha, **kw)


def _dns(m: int, alpha: float = 0.0, k: int = 1, pool: int = 0) -> DynamicNegativeSampler:
    """The old API's ``hard="dns", dns_candidates=m, dns_pool=pool`` over ``negatives=k, alpha=alpha``."""
    return DynamicNegativeSampler(_neg(k, alpha), m=m, pool=pool)


@pytest.fixture(scope="module")
def planted():
    data = make_synthetic(n_users=600, n_items=300, n_clusters=6, interactions_per_user=20, noise=0.1, seed=0)
    train, test = split_random(data.interactions, test_fraction=0.2, seed=0)
    return data, train, test


def _recall(scores, train, test, K=10):
    scores = np.array(scores, dtype=np.float64, copy=True)
    r, c = as_csr(train, binary=True).nonzero()
    scores[r, c] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :K]
    T = as_csr(test, binary=True).toarray() > 0
    hits = np.take_along_axis(T, top, axis=1).sum(1)
    n = T.sum(1)
    return float((hits[n > 0] / np.minimum(n[n > 0], K)).mean())


def _pop_recall(train, test):
    pop = np.asarray(train.item_counts, dtype=np.float64)
    return _recall(np.tile(pop, (train.n_users, 1)), train, test)


def _model_recall(m, train, test):
    return _recall(m.user_factors @ m.item_factors.T, train, test)


@pytest.mark.parametrize("kw", [
    pytest.param(dict(loss="bpr", sampler=_neg(1, alpha=0.0)), id="bpr"),
    pytest.param(dict(loss="bpr", sampler=_dns(4, alpha=0.75)), id="bpr-dns"),
    pytest.param(dict(loss=Softmax(temperature=0.2, score="cosine"), sampler=_neg(128), lr=0.01, workers=1),
                 id="softmax-cosine"),
    pytest.param(dict(loss=CCL(margin=0.5, negative_weight=10.0), sampler=_neg(128), lr=0.01, workers=1), id="ccl"),
])
def test_recovers_planted_clusters_above_most_popular(planted, kw):
    data, train, test = planted
    m = MatrixFactorization(factors=16, epochs=25, seed=0, **kw).fit(train, show_progress=False)
    pop = _pop_recall(train, test)
    got = _model_recall(m, train, test)
    assert got > pop + 0.25, (kw, got, pop)
    # item neighbours share the planted cluster
    ids, _ = m.similar_items(np.arange(train.n_items), N=6)
    same = (data.item_cluster[ids[:, 1:]] == data.item_cluster[:, None]).mean()
    assert same > 0.8, same


def test_torch_bpr_and_bce_and_in_batch_learn(planted):
    _, train, test = planted
    pop = _pop_recall(train, test)
    # in_batch=True masked seen items by default (exclude_seen=True): InBatchSampler(mask_seen=True)
    for kw in (dict(loss="bpr", backend="torch"), dict(loss="bce"),
               dict(loss="softmax", sampler=InBatchSampler(mask_seen=True)),
               dict(loss="bpr", sampler=InBatchSampler(mask_seen=True))):
        m = MatrixFactorization(factors=16, epochs=12, lr=0.01, batch_size=256, workers=1, **kw).fit(
            train, show_progress=False)
        assert m.backend == "torch"
        assert _model_recall(m, train, test) > pop + 0.2, kw


def test_recommend_filters_liked_items_and_shapes(planted):
    _, train, _ = planted
    m = MatrixFactorization(factors=8, epochs=3).fit(train, show_progress=False)
    X = as_csr(train, binary=True)
    ids, scores = m.recommend(5, X[5], N=20)
    assert ids.shape == (20,) and scores.shape == (20,)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    assert not set(ids) & set(X[5].indices)
    assert np.all(np.diff(scores) <= 0)
    # same ranking as the raw scores without filtering
    full = m.user_factors[5] @ m.item_factors.T
    full[X[5].indices] = -np.inf
    np.testing.assert_array_equal(ids, np.argsort(-full, kind="stable")[:20])
    users = np.array([1, 2, 3])
    ids2, sc2 = m.recommend(users, X[users], N=7)
    ids3, _ = m.recommend(users, X, N=7)  # the full matrix works too
    assert ids2.shape == (3, 7) and sc2.shape == (3, 7)
    np.testing.assert_array_equal(ids2, ids3)
    for r, u in enumerate(users):
        assert not set(ids2[r]) & set(X[u].indices)
    ids4, _ = m.recommend(5, None, N=20, filter_already_liked_items=False)
    assert set(X[5].indices) & set(np.argsort(-(m.user_factors[5] @ m.item_factors.T))[:20]) <= set(ids4)
    ids5, _ = m.recommend(5, X[5], N=20, filter_items=ids[:3])
    assert not set(ids5) & set(ids[:3])


def test_item_bias_is_an_extra_factor_column(planted):
    _, train, _ = planted
    m = MatrixFactorization(factors=8, epochs=2, use_bias=True).fit(train, show_progress=False)
    assert m.user_factors.shape == (train.n_users, 9) and m.item_factors.shape == (train.n_items, 9)
    assert np.all(m.user_factors[:, -1] == 1.0)
    assert np.abs(m.item_factors[:, -1]).max() > 0
    ids, sc = m.recommend(0, as_csr(train, binary=True)[0], N=5)
    np.testing.assert_allclose(sc, (m.user_factors[0] @ m.item_factors.T)[ids], rtol=1e-5)


def test_save_load_round_trip(tmp_path, planted):
    _, train, _ = planted
    m = MatrixFactorization(factors=8, epochs=2, loss="bpr", sampler=_neg(1, alpha=0.5), use_bias=True).fit(
        train, show_progress=False)
    p = tmp_path / "model.npz"
    m.save(p)
    assert [x.name for x in tmp_path.iterdir()] == ["model.npz"]  # no temp file left behind
    m2 = MatrixFactorization.load(p)
    np.testing.assert_array_equal(m2.user_factors, m.user_factors)
    np.testing.assert_array_equal(m2.item_factors, m.item_factors)
    assert m2.get_params() == m.get_params()
    a = m.recommend(np.arange(10), as_csr(train, binary=True)[:10], N=5)
    b = m2.recommend(np.arange(10), as_csr(train, binary=True)[:10], N=5)
    np.testing.assert_array_equal(a[0], b[0])
    c = MatrixFactorization(factors=8, loss="ccl", epochs=1, sampler=_neg(16), workers=1).fit(
        train, show_progress=False)
    c.save(tmp_path / "ccl.npz")
    np.testing.assert_allclose(MatrixFactorization.load(tmp_path / "ccl.npz").item_factors, c.item_factors)


def test_callbacks_validation_and_early_stopping(planted):
    _, train, _ = planted
    seen = []
    m = MatrixFactorization(factors=8, epochs=10)
    m.fit(train, show_progress=False, callbacks=[lambda e, mod: seen.append(e) or e == 2])
    assert seen == [0, 1, 2] and len(m.history) == 3

    def stop(e, mod):
        if e == 1:
            raise StopTraining

    m.fit(train, show_progress=False, callbacks=[stop])
    assert len(m.history) == 2
    # validation goes up for 2 epochs then down: patience 2 stops at epoch 4, restores epoch 2's factors
    vals = [0.1, 0.2, 0.3, 0.25, 0.2, 0.1, 0.1]
    snaps = {}

    def val(e, mod):
        snaps[e] = mod.item_factors.copy()
        return {"recall@20": vals[e]}

    m = MatrixFactorization(factors=8, epochs=7).fit(train, show_progress=False, validation=val, patience=2)
    assert [h["epoch"] for h in m.history] == [0, 1, 2, 3, 4]
    assert [h["recall@20"] for h in m.history] == vals[:5]
    np.testing.assert_array_equal(m.item_factors, snaps[2])


def test_accepts_scipy_matrices_and_alias_class():
    X = sp.random(50, 40, density=0.2, format="coo", random_state=0, dtype=np.float32)
    m = BayesianPersonalizedRanking(factors=4, epochs=1).fit(X, show_progress=False)
    assert m.user_factors.shape == (50, 4) and m.item_factors.shape == (40, 4)
    assert m.user_factors.dtype == np.float32


def test_numba_run_is_reproducible_single_thread():
    X = sp.random(80, 60, density=0.2, format="csr", random_state=1, dtype=np.float32)
    a = MatrixFactorization(factors=4, epochs=2, workers=1, seed=3).fit(X, show_progress=False)
    b = MatrixFactorization(factors=4, epochs=2, workers=1, seed=3).fit(X, show_progress=False)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)


def test_bad_inputs_raise_clear_errors(planted):
    _, train, _ = planted
    with pytest.raises(ValueError, match="factors"):
        MatrixFactorization(factors=0)
    with pytest.raises(ValueError, match="loss"):
        MatrixFactorization(loss="hinge")
    with pytest.raises(ValueError, match="DynamicNegativeSampler"):
        MatrixFactorization(loss="softmax", sampler=_dns(8))
    # DNS picks a hard negative per example: not over in-batch or shared negatives
    with pytest.raises(ValueError, match="per-example NegativeSampler"):
        MatrixFactorization(loss="bpr", sampler=DynamicNegativeSampler(InBatchSampler(mask_seen=True)))
    with pytest.raises(ValueError, match="per-example NegativeSampler"):
        MatrixFactorization(loss="bpr", sampler=DynamicNegativeSampler(_neg(1, shared=True), m=8))
    with pytest.raises(ValueError, match="in-batch"):
        MatrixFactorization(loss="bce", sampler=InBatchSampler(mask_seen=True))
    with pytest.raises(ValueError, match="in-batch"):
        MatrixFactorization(loss="bce", sampler=MixedSampler(InBatchSampler(), _neg(8), shared=True))
    with pytest.raises(ValueError, match="numba"):
        MatrixFactorization(loss="ccl", backend="numba")
    with pytest.raises(ValueError, match="cosine"):
        MatrixFactorization(loss=CCL(score="dot"))
    with pytest.raises(TypeError, match="scipy.sparse"):
        MatrixFactorization(epochs=1).fit(np.ones((3, 3)), show_progress=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        MatrixFactorization().recommend(0, None)
    m = MatrixFactorization(factors=4, epochs=1).fit(train, show_progress=False)
    with pytest.raises(ValueError, match="columns"):
        m.recommend(0, sp.csr_matrix((1, train.n_items + 1)))
    with pytest.raises(ValueError, match="rows"):
        m.recommend(np.array([0, 1]), as_csr(train, binary=True)[:3])
    with pytest.raises(ValueError, match="user_items"):
        m.recommend(0, None)
    with pytest.raises(ValueError, match="userid"):
        m.recommend(10**6, as_csr(train, binary=True)[0])
    with pytest.raises(ValueError, match="patience"):
        MatrixFactorization(epochs=1).fit(train, show_progress=False, patience=3)


# ------------------------------------------------ user batches, full softmax
def _trainer(train, epochs=1, **kw):
    """A torch model with fixed initial factors and the TorchTrainer its fit would build."""
    from recneg.engine.mf_torch import TorchTrainer

    m = MatrixFactorization(factors=4, epochs=epochs, workers=1, **kw)
    assert m.backend == "torch"
    X = as_csr(train, binary=True)
    rng = np.random.default_rng(0)
    m._U = (rng.standard_normal((X.shape[0], 4)) * 0.5).astype(np.float32)
    m._V = (rng.standard_normal((X.shape[1], 4)) * 0.5).astype(np.float32)
    m._b = np.zeros(X.shape[1], np.float32)
    m.sampler.bind(X)
    m.sampler.set_step(0)
    tr = m._make_trainer(X, rng)
    assert isinstance(tr, TorchTrainer)
    return m, X, tr


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_user_batch_full_softmax_matches_hand_computation(exclude_seen):
    import torch

    X = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 0], [1, 1, 1, 0, 1]], dtype=np.float32))
    m, X, tr = _trainer(X, loss=Softmax(temperature=0.5), sampler=AllItems(exclude_seen=exclude_seen),
                        batching="users", reg=0.0)
    users = torch.tensor([2, 0])
    got = float(tr.user_batch_loss(users).detach())
    S = (m._U.astype(np.float64) @ m._V.astype(np.float64).T) / 0.5
    losses = []
    for u in (2, 0):
        seen = X[u].indices
        for i in seen:
            if exclude_seen:  # the positive against every item the user has not seen
                others = np.setdiff1d(np.arange(5), seen)
                den = np.log(np.exp(S[u, i]) + np.exp(S[u, others]).sum())
            else:  # the exact full softmax over the catalogue
                den = np.log(np.exp(S[u]).sum())
            losses.append(den - S[u, i])
    assert got == pytest.approx(np.mean(losses), rel=1e-5)
    # a row holding part of a history (positives_per_row) still masks the user's whole history
    part = float(tr.user_batch_loss(torch.tensor([2]), (torch.tensor([0]), torch.tensor([4]))).detach())
    seen = X[2].indices
    if exclude_seen:
        want = np.log(np.exp(S[2, 4]) + np.exp(S[2, np.setdiff1d(np.arange(5), seen)]).sum()) - S[2, 4]
    else:
        want = np.log(np.exp(S[2]).sum()) - S[2, 4]
    assert part == pytest.approx(want, rel=1e-5)


def test_user_batch_ccl_matches_pair_batch_with_the_same_negatives():
    import torch

    data = make_synthetic(n_users=30, n_items=40, n_clusters=3, interactions_per_user=6, seed=1)
    X = as_csr(data.interactions, binary=True)
    m, X, tr = _trainer(X, loss=CCL(margin=0.1, negative_weight=3.0), sampler=_neg(16), batching="users", reg=0.0)
    _, _, tp = _trainer(X, loss=CCL(margin=0.1, negative_weight=3.0), sampler=_neg(16), batching="pairs", reg=0.0)
    negs = torch.randint(0, X.shape[1], (16,), generator=torch.Generator().manual_seed(3))
    tr._shared_negatives = lambda: negs
    tp._shared_negatives = lambda: negs
    users = torch.tensor([4, 0, 7])
    coo = X[[4, 0, 7]].tocoo()
    pu = torch.as_tensor(np.array([4, 0, 7])[coo.row], dtype=torch.int64)
    pi = torch.as_tensor(coo.col, dtype=torch.int64)
    a = tr.user_batch_loss(users)
    b = tp.batch_loss(pu, pi)  # pair batching also masks each user's seen items (exclude_seen=True)
    assert float(a.detach()) == pytest.approx(float(b.detach()), rel=1e-5)


def test_torch_linear_lr_decay_reaches_near_zero(planted):
    _, train, _ = planted
    m, X, tr = _trainer(train, epochs=2, loss="softmax", sampler=_neg(8), batching="users", batch_size=100, lr=0.01,
                        lr_decay="linear")
    tr(0)
    mid = tr.opt.param_groups[0]["lr"]
    tr(1)
    last = tr.opt.param_groups[0]["lr"]
    steps = tr.steps_per_epoch
    assert mid == pytest.approx(0.01 * (1 - (steps - 1) / (2 * steps)))
    assert last == pytest.approx(0.01 * (1 - (2 * steps - 1) / (2 * steps)))


@pytest.mark.parametrize("kw", [
    pytest.param(dict(loss=CCL(margin=0.5, negative_weight=10.0), sampler=_neg(128), batching="users", batch_size=32,
                      lr=0.01, init_std=0.01, lr_decay="linear"), id="ccl-users"),
    pytest.param(dict(loss=Softmax(temperature=0.2, score="cosine"), sampler="all", batching="users", batch_size=32,
                      lr=0.01), id="full-softmax-users"),
    pytest.param(dict(loss="bpr", sampler=_dns(8), pair_order="user", lr_decay="linear"), id="dns-user-order"),
    pytest.param(dict(loss="bpr", sampler=_dns(8, pool=32), lr_decay="linear"), id="dns-pool"),
])
def test_user_batches_full_softmax_and_user_order_recover_clusters(planted, kw):
    data, train, test = planted
    m = MatrixFactorization(factors=16, epochs=25, workers=1, seed=0, **kw).fit(train, show_progress=False)
    pop = _pop_recall(train, test)
    got = _model_recall(m, train, test)
    assert got > pop + 0.25, (kw, got, pop)


def test_user_batch_and_all_negatives_config_round_trips(tmp_path, planted):
    _, train, _ = planted
    # pair_order is a numba option: the torch model does not take it
    m = MatrixFactorization(factors=4, loss="softmax", sampler="all", batching="users", epochs=1, workers=1).fit(
        train, show_progress=False)
    m.save(tmp_path / "m.npz")
    m2 = MatrixFactorization.load(tmp_path / "m.npz")
    assert m2.get_params() == m.get_params() and isinstance(m2.sampler, AllItems) and m2.batching == UserBatches()
    assert m2.sampler.to_spec() == m.sampler.to_spec() and m2.shared


def test_user_batch_and_order_errors():
    with pytest.raises(ValueError, match="batching"):
        MatrixFactorization(batching="items")
    with pytest.raises(ValueError, match="shared negatives"):
        MatrixFactorization(loss="bpr", batching="users")
    with pytest.raises(ValueError, match="shared negatives"):
        MatrixFactorization(loss="softmax", sampler=InBatchSampler(mask_seen=True), batching="users")
    with pytest.raises(ValueError, match="torch"):
        MatrixFactorization(loss="softmax", sampler="all", backend="numba")
    with pytest.raises(ValueError, match="torch"):
        MatrixFactorization(loss="bpr", sampler=_neg(1, shared=True), backend="numba")
    with pytest.raises(ValueError, match="torch"):  # all items on bpr: shared by definition, torch only
        MatrixFactorization(loss="bpr", sampler=AllItems(), backend="numba")
    # all-item negatives are shared by definition (share_negatives=False with them was an error; AllItems has no
    # such option)
    assert MatrixFactorization(loss="softmax", sampler="all").shared
    assert MatrixFactorization(loss="softmax", sampler=AllItems(exclude_seen=False), batching="users").shared
    with pytest.raises(TypeError, match="sampler"):
        MatrixFactorization(sampler="some")
    with pytest.raises(ValueError, match="k must be >= 1"):
        NegativeSampler(k=0)
    with pytest.raises(ValueError, match="pair_order"):
        MatrixFactorization(pair_order="random")
    with pytest.raises(ValueError, match="pool"):
        _dns(8, pool=-1)
    # dns_pool without hard="dns" cannot be expressed any more: pool is a DynamicNegativeSampler argument
    with pytest.raises(ValueError, match="pool"):
        MatrixFactorization(sampler=_dns(8, pool=16), backend="torch")
    with pytest.raises(ValueError, match="pool"):
        MatrixFactorization(loss="bce", sampler=_dns(8, k=4, pool=16))
    assert MatrixFactorization(loss="bpr", sampler=_neg(1, shared=True)).backend == "torch"


def test_positives_per_row_cuts_each_users_history_into_fresh_chunks():
    data = make_synthetic(n_users=40, n_items=50, n_clusters=3, interactions_per_user=9, seed=2)
    X = as_csr(data.interactions, binary=True)
    m, X, tr = _trainer(X, loss="ccl", sampler=_neg(8), batching=UserBatches(positives_per_row=4))
    deg = np.diff(X.indptr)
    assert tr.row_user.numel() == int(((deg + 3) // 4).sum())
    assert tr.steps_per_epoch == -(-tr.row_user.numel() // m.batch_size)
    seen_orders = []
    for _ in range(2):
        ptr, items = tr._epoch_rows()
        ptr, items = ptr.numpy(), items.numpy()
        lens = np.diff(ptr)
        assert lens.min() >= 1 and lens.max() <= 4
        pairs = set()
        for r, u in enumerate(tr.row_user.numpy()):
            got = items[ptr[r]:ptr[r + 1]]
            assert set(got) <= set(X[u].indices)  # a row holds only its user's positives
            pairs |= {(int(u), int(i)) for i in got}
        assert len(pairs) == X.nnz == len(items)  # every positive exactly once per epoch
        seen_orders.append(items.copy())
    assert not np.array_equal(seen_orders[0], seen_orders[1])  # reshuffled every epoch


def test_positives_per_row_errors_and_learning(planted):
    # positives_per_row without batching="users" cannot be expressed any more: it is a UserBatches argument
    for bad in (0, -1, 1.5, True, "4"):
        with pytest.raises(ValueError, match="positives_per_row"):
            UserBatches(positives_per_row=bad)
    with pytest.raises(ValueError, match="positives_per_row"):
        MatrixFactorization(loss="ccl", batching={"positives_per_row": 0})
    data, train, test = planted
    m = MatrixFactorization(factors=16, epochs=15, workers=1, loss=CCL(margin=0.5, negative_weight=10.0),
                            sampler=_neg(128), batching=UserBatches(positives_per_row=4), batch_size=64, lr=0.01,
                            init_std=0.01, lr_decay="linear").fit(train, show_progress=False)
    assert _model_recall(m, train, test) > _pop_recall(train, test) + 0.25


def test_history_aggregation_matches_hand_computation_and_trains_w():
    import torch

    X = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 0, 1]], dtype=np.float32))
    m, X, tr = _trainer(X, loss="ccl", sampler="all", batching="users", reg=0.0, history_weight=0.25)
    rep, own = tr.user_vectors(torch.tensor([2, 1, 0]))
    U, V = m._U.astype(np.float64), m._V.astype(np.float64)
    want = np.stack([0.75 * U[2] + 0.25 * V[[0, 1, 2, 4]].mean(0),  # W starts at the identity
                     0.75 * U[1],  # no history: only the user's own embedding
                     0.75 * U[0] + 0.25 * V[[0, 2]].mean(0)])
    np.testing.assert_allclose(rep.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(own.detach().numpy(), U[[2, 1, 0]], rtol=1e-6)
    # the loss reaches W through the aggregate, and a step moves it
    loss = tr.user_batch_loss(torch.tensor([0, 2]))
    loss.backward()
    assert tr.W.grad is not None and float(tr.W.grad.abs().sum()) > 0
    tr.opt.step()
    assert not torch.allclose(tr.W.detach(), torch.eye(4))
    # sync() stores the representations in the model, so scoring needs no history
    m._sync_from_trainer(tr)  # tr.sync(), then the model takes the synced arrays
    with torch.no_grad():
        rep = tr.user_vectors(torch.arange(3))[0].numpy()
    np.testing.assert_allclose(m._U, rep, rtol=1e-6)


@pytest.mark.parametrize("batching", ["users", "pairs"])
def test_history_aggregation_recovers_clusters_and_round_trips(tmp_path, planted, batching):
    data, train, test = planted
    m = MatrixFactorization(factors=16, loss=CCL(margin=0.5, negative_weight=10.0), sampler=_neg(128),
                            batching=batching, batch_size=32 if batching == "users" else 256, lr=0.01, init_std=0.01,
                            history_weight=0.5, epochs=20, workers=1, seed=0).fit(train, show_progress=False)
    got, pop = _model_recall(m, train, test), _pop_recall(train, test)
    assert got > pop + 0.25, (got, pop)
    m.save(tmp_path / "h.npz")
    m2 = MatrixFactorization.load(tmp_path / "h.npz")
    assert m2.history_weight == 0.5
    np.testing.assert_array_equal(m2.recommend(np.arange(5), train.csr[:5], N=5)[0],
                                  m.recommend(np.arange(5), train.csr[:5], N=5)[0])


def test_history_weight_errors():
    for bad in (-0.1, 1.0, 2, True, "half", None, float("nan")):
        with pytest.raises(ValueError, match="history_weight"):
            MatrixFactorization(loss="ccl", history_weight=bad)
    with pytest.raises(TypeError, match="history_weight"):  # a torch option: the numba model does not take it
        MatrixFactorization(loss="bpr", backend="numba", history_weight=0.5)
    assert MatrixFactorization(loss="bpr", history_weight=0.5).backend == "torch"


@pytest.mark.parametrize("kw", [dict(loss="bpr", workers=1),  # numba, dot scores: raw factors averaged
                                dict(loss="ccl", sampler=_neg(16), batching="users", batch_size=64, workers=1)],
                         ids=["numba-bpr", "torch-ccl"])
def test_average_epochs_is_the_mean_of_the_last_epochs_factors(planted, kw):
    _, train, _ = planted
    snaps = []

    def keep(epoch, m):
        unit = (lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)) if m.score == "cosine" else (lambda x: x)
        snaps.append((unit(m._U.copy()), unit(m._V.copy()), m._b.copy()))

    m = MatrixFactorization(factors=8, epochs=4, average_epochs=2, seed=0, **kw).fit(
        train, show_progress=False, callbacks=[keep])
    for got, k in ((m._U, 0), (m._V, 1), (m._b, 2)):
        np.testing.assert_allclose(got, (snaps[2][k] + snaps[3][k]) / 2, rtol=1e-5, atol=1e-7)
    assert not np.allclose(m._V, snaps[3][1])  # not simply the last epoch's factors
    if m.backend == "numba":  # averaging leaves training alone: a plain run ends at the last snapshot
        plain = MatrixFactorization(factors=8, epochs=4, seed=0, **kw).fit(train, show_progress=False)
        np.testing.assert_array_equal(plain._V, snaps[3][1])


def test_average_epochs_errors(planted):
    _, train, _ = planted
    for bad in (-1, 5, 1.5, True):
        with pytest.raises(ValueError, match="average_epochs"):
            MatrixFactorization(epochs=4, average_epochs=bad)
    with pytest.raises(ValueError, match="average_epochs"):
        MatrixFactorization(epochs=2, average_epochs=1).fit(train, show_progress=False,
                                                            validation=lambda e, m: 0.0, patience=1)


@pytest.mark.parametrize("main", [True, False])
def test_only_the_main_process_logs_fit_at_info(planted, monkeypatch, caplog, main):
    """In a torchrun job every rank fits; rank 0 speaks for the job (INFO), the others log at DEBUG."""
    import logging

    import recneg.models.mf as mf_mod

    monkeypatch.setattr(mf_mod, "_is_main_process", lambda: main)
    _, train, _ = planted
    with caplog.at_level(logging.DEBUG, logger="recneg.models.mf"):
        MatrixFactorization(factors=4, loss="bpr", epochs=3, workers=1).fit(
            train, show_progress=False, callbacks=[lambda epoch, m: epoch == 1])
    levels = {r.getMessage(): r.levelno for r in caplog.records if r.name == "recneg.models.mf"}
    want = logging.INFO if main else logging.DEBUG
    assert levels.get("stopping after epoch 1") == want
