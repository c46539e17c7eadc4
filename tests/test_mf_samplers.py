"""MatrixFactorization takes a sampler (issue 12): every sampler trains MF, schedules are applied and
recorded per epoch, the user's sampler object is the one trained with, save/load keeps the sampler spec
(and still reads files of the API before samplers), constructors stay small, backend choice rules."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import recneg.engine.bpr as bpr_module
from recneg.engine.bpr import NumbaBPRTrainer
from recneg.engine.mf_torch import TorchTrainer
from recneg.evaluation.ranking import ranking_metrics
from recneg.models.losses import BCE, BPR, CCL, WARP, Softmax
from recneg.models.als import ALSMatrixFactorization
from recneg.models.mf import (BayesianPersonalizedRanking, MatrixFactorization, NumbaMatrixFactorization,
                              TorchMatrixFactorization, UserBatches, default_sampler)
from recneg.sampling import (AllItems, DynamicNegativeSampler, ExponentialSchedule, InBatchSampler, LinearSchedule,
                             MixedSampler, NegativeSampler, WarpSampler, popularity)

MARGIN = 0.25  # Recall@20 above most-popular, as test_mf.py's recovery tests ask


def _recall(m, train, test) -> float:
    return ranking_metrics(m, train, test, K=20, metrics=["recall"]).metrics["recall@20"]


def _assert_recovers(m, data, train, test, pop) -> None:
    got = _recall(m, train, test)
    assert got > pop + MARGIN, (m, got, pop)
    ids, _ = m.similar_items(np.arange(train.n_items), N=6)  # item neighbours share the planted cluster
    same = (data.item_cluster[ids[:, 1:]] == data.item_cluster[:, None]).mean()
    assert same > 0.8, (m, same)


# --------------------------------------------------------------------------- every sampler trains MF
RECOVERY = [
    pytest.param("numba", dict(loss="bpr", sampler=lambda: NegativeSampler(k=2, alpha=0.5), epochs=20),
                 id="negative-numba"),
    pytest.param("numba", dict(loss="bpr", sampler=lambda: DynamicNegativeSampler(
        NegativeSampler(k=1, alpha=0.0), m=8, pool=32), epochs=20), id="dns-pool-numba"),
    pytest.param("torch", dict(loss="bce", sampler=lambda: DynamicNegativeSampler(NegativeSampler(k=4, alpha=0.0), m=8),
                               lr=0.01, batch_size=256, epochs=12), id="dns-bce-torch"),
    pytest.param("torch", dict(loss=Softmax(temperature=0.2), sampler=lambda: InBatchSampler(mask_seen=True), lr=0.01,
                               batch_size=256, epochs=12), id="inbatch-softmax-torch"),
    pytest.param("torch", dict(loss=Softmax(temperature=0.2), sampler=lambda: MixedSampler(
        InBatchSampler(), NegativeSampler(k=64, alpha=0.0), shared=True), lr=0.01, batch_size=256, epochs=12),
        id="mixed-softmax-torch"),
]


@pytest.mark.parametrize("backend,kw", RECOVERY)
def test_each_sampler_recovers_planted_clusters(planted, backend, kw):
    data, train, test, pop = planted
    sampler = kw["sampler"]()
    m = MatrixFactorization(factors=16, workers=1, seed=0, **{**kw, "sampler": sampler})
    assert m.backend == backend and m.sampler is sampler
    m.fit(train, show_progress=False)
    assert m.sampler is sampler  # the very object given, now bound to the training matrix
    _assert_recovers(m, data, train, test, pop)


def test_k_and_alpha_schedules_are_applied_and_recorded_per_epoch(planted, monkeypatch):
    data, train, test, pop = planted
    used = []  # (negatives per positive, proposal p) the kernel trained each epoch with

    class Recording(NumbaBPRTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k, record=True)

        def __call__(self, epoch):
            loss = super().__call__(epoch)
            used.append((self.trace.shape[0] / self.pair_u.shape[0], self.negatives, self.sampler.p.copy()))
            return loss

    monkeypatch.setattr(bpr_module, "NumbaBPRTrainer", Recording)
    sampler = NegativeSampler(k=LinearSchedule(1, 5, steps=4), alpha=LinearSchedule(0.0, 1.0, steps=4))
    m = MatrixFactorization(factors=16, loss="bpr", sampler=sampler, epochs=6, workers=1, seed=0)
    m.fit(train, show_progress=False)
    assert m.backend == "numba" and m.sampler is sampler
    ks, alphas = [1, 2, 3, 4, 5, 5], [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert [h["k"] for h in m.history] == ks
    assert [h["alpha"] for h in m.history] == alphas
    assert [h["epoch"] for h in m.history] == list(range(6))
    counts = np.asarray(train.item_counts, dtype=np.float64)
    for (per_pair, negatives, p), k, a in zip(used, ks, alphas):
        assert per_pair == k and negatives == k  # the kernel drew k negatives per positive that epoch
        want = popularity(counts, a)
        np.testing.assert_allclose(p, want / want.sum(), rtol=1e-12)  # from popularity^alpha of that epoch
    _assert_recovers(m, data, train, test, pop)


def test_torch_schedules_k_alpha_m_temperature_are_recorded(tiny, monkeypatch):
    rec: list = []
    monkeypatch.setattr(TorchTrainer, "record", rec)
    per_epoch = []
    sampler = NegativeSampler(k=LinearSchedule(4, 12, steps=2), alpha=LinearSchedule(0.0, 0.5, steps=2))
    loss = Softmax(temperature=ExponentialSchedule(1.0, 0.25, steps=2))
    m = MatrixFactorization(factors=4, loss=loss, sampler=sampler, epochs=3, batch_size=64, workers=1)
    m.fit(tiny, show_progress=False, callbacks=[lambda e, mod: per_epoch.append(len(rec))])
    assert m.backend == "torch"
    assert [h["k"] for h in m.history] == [4, 8, 12]
    assert [h["alpha"] for h in m.history] == [0.0, 0.25, 0.5]
    assert [h["temperature"] for h in m.history] == [1.0, 0.5, 0.25]
    bounds = [0] + per_epoch
    for e, k in enumerate([4, 8, 12]):  # torch: per step, k(e + b / n_batches) at batch b of epoch e
        got = [r["items"].shape[0] for r in rec[bounds[e]:bounds[e + 1]]]
        nb = len(got)
        n = tiny.csr.nnz  # batches of 64 pairs: batch b starts at the fractional epoch e + 64 b / n
        assert got == [int(round(sampler.k_schedule(e + 64 * b / n))) for b in range(nb)]
        assert got[0] == k
    dns = DynamicNegativeSampler(NegativeSampler(k=2, alpha=0.0), m=LinearSchedule(2, 6, steps=2))
    m = MatrixFactorization(factors=4, loss="bce", sampler=dns, epochs=3, batch_size=64, workers=1).fit(
        tiny, show_progress=False)
    assert [h["m"] for h in m.history] == [2, 4, 6] and [h["k"] for h in m.history] == [2, 2, 2]


def test_numba_dns_m_schedule_is_recorded_and_used(tiny, monkeypatch):
    used = []

    class Recording(NumbaBPRTrainer):
        def __call__(self, epoch):
            used.append(self.dns_m)
            return super().__call__(epoch)

    monkeypatch.setattr(bpr_module, "NumbaBPRTrainer", Recording)
    dns = DynamicNegativeSampler(NegativeSampler(k=1, alpha=0.0), m=LinearSchedule(2, 8, steps=3), pool=16)
    m = MatrixFactorization(factors=4, sampler=dns, epochs=4, workers=1).fit(tiny, show_progress=False)
    assert m.backend == "numba"
    assert [h["m"] for h in m.history] == used == [2, 4, 6, 8]


# --------------------------------------------------------------------------- the user's sampler object
def test_the_given_sampler_is_the_one_trained_with(tiny, monkeypatch):
    X = tiny.csr
    n_items = X.shape[1]
    w = np.ones(n_items)
    w[::2] = 0.0  # only odd items can be drawn: a negative of an even item did not come from this sampler
    s = NegativeSampler(k=3, weights=w)
    assert not s.is_bound
    m = MatrixFactorization(factors=4, sampler=s, epochs=2, workers=1)
    assert m.sampler is s and not s.is_bound  # construction binds nothing
    traces = []

    class Recording(NumbaBPRTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k, record=True)

        def __call__(self, epoch):
            loss = super().__call__(epoch)
            traces.append(self.trace.copy())
            return loss

    monkeypatch.setattr(bpr_module, "NumbaBPRTrainer", Recording)
    m.fit(tiny, show_progress=False)
    assert m.sampler is s and s.is_bound and s.csr.shape == X.shape
    negs = np.concatenate(traces)[:, 1]
    assert negs.size == 2 * 3 * X.nnz and (negs % 2 == 1).all()
    # torch: the same for a DNS over it, and for in-batch / mixed / all-item samplers
    rec: list = []
    monkeypatch.setattr(TorchTrainer, "record", rec)
    base = NegativeSampler(k=2, weights=w)
    dns = DynamicNegativeSampler(base, m=3)
    t = MatrixFactorization(factors=4, loss="bce", sampler=dns, epochs=1, batch_size=64, workers=1)
    t.fit(tiny, show_progress=False)
    assert t.sampler is dns and dns.base is base and base.is_bound
    items = torch.cat([r["items"] for r in rec]).numpy()
    assert items.size and (items % 2 == 1).all()
    for sampler, loss in ((InBatchSampler(mask_seen=True), "softmax"),
                          (MixedSampler(InBatchSampler(), NegativeSampler(k=4, alpha=0.0), shared=True), "softmax"),
                          (AllItems(), "ccl")):
        t = MatrixFactorization(factors=4, loss=loss, sampler=sampler, epochs=1, batch_size=64, workers=1)
        t.fit(tiny, show_progress=False)
        assert t.sampler is sampler
        if isinstance(sampler, MixedSampler):
            assert sampler.inbatch.is_bound and sampler.proposal.is_bound
        else:
            assert sampler.csr is not None and sampler.csr.shape == X.shape


def test_a_sampler_bound_beforehand_keeps_its_matrix(tiny):
    X = tiny.csr
    s = NegativeSampler(X, k=1, alpha=0.0)
    csr = s.csr
    m = MatrixFactorization(factors=4, sampler=s, epochs=1, workers=1).fit(tiny, show_progress=False)
    assert m.sampler is s and s.csr is csr  # not rebound
    with pytest.raises(ValueError, match="bound to a"):
        MatrixFactorization(factors=4, sampler=s, epochs=1).fit(X[:, :-1], show_progress=False)


# --------------------------------------------------------------------------- save / load
SPECS = [
    pytest.param(lambda: dict(loss="bpr", sampler=NegativeSampler(k=3, alpha=0.5, exclude_seen=False, seed=7),
                              use_bias=True), id="negative"),
    pytest.param(lambda: dict(loss="bpr", sampler=DynamicNegativeSampler(
        NegativeSampler(k=1, alpha=0.25), m=LinearSchedule(2, 8, steps=3), pool=16)), id="dns-pool-schedule"),
    pytest.param(lambda: dict(loss="bce", sampler=DynamicNegativeSampler(NegativeSampler(k=4, alpha=0.0), m=5),
                              batch_size=64, use_bias=True), id="dns-bce-bias"),
    pytest.param(lambda: dict(loss=Softmax(temperature=0.5, logq=False), sampler=InBatchSampler(mask_seen=True,
                                                                                                 logq=False)),
                 id="inbatch"),
    pytest.param(lambda: dict(loss="softmax", sampler=MixedSampler(InBatchSampler(), NegativeSampler(k=8, alpha=0.0),
                                                                   shared=True)), id="mixed"),
    pytest.param(lambda: dict(loss=CCL(margin=0.4, negative_weight=5.0), sampler=AllItems(exclude_seen=False),
                              batching=UserBatches(positives_per_row=3), history_weight=0.5), id="all-users"),
    pytest.param(lambda: dict(loss=WARP(margin=0.5), sampler=WarpSampler(NegativeSampler(k=1, alpha=0.0),
                                                                         max_trials=50)), id="warp"),
    pytest.param(lambda: dict(loss=Softmax(temperature=ExponentialSchedule(1.0, 0.1, steps=3), score="cosine"),
                              sampler=NegativeSampler(k=LinearSchedule(8, 16, steps=2),
                                                      alpha=LinearSchedule(0.0, 0.5, steps=2), shared=True)),
                 id="schedules"),
]


@pytest.mark.parametrize("make", SPECS)
def test_save_load_round_trips_the_sampler_spec(tmp_path, tiny, make):
    kw = make()
    m = MatrixFactorization(factors=4, epochs=2, workers=1, seed=0, **kw).fit(tiny, show_progress=False)
    m.save(tmp_path / "m.npz")
    cfg = json.loads(str(np.load(tmp_path / "m.npz")["config"]))
    assert cfg["sampler"] == m.sampler.to_spec() and cfg["loss"] == m.loss.to_spec()
    m2 = MatrixFactorization.load(tmp_path / "m.npz")
    assert type(m2) is type(m) and type(m2.sampler) is type(m.sampler)
    assert m2.sampler.to_spec() == m.sampler.to_spec()
    assert m2.loss.to_spec() == m.loss.to_spec() and type(m2.loss) is type(m.loss)
    assert m2.get_params() == m.get_params()
    np.testing.assert_array_equal(m2.item_factors, m.item_factors)
    X = tiny.csr
    np.testing.assert_array_equal(m2.recommend(np.arange(6), X[:6], N=5)[0], m.recommend(np.arange(6), X[:6], N=5)[0])
    # the loaded sampler is a fresh, unbound copy that trains again
    assert m2.sampler is not m.sampler
    m2.fit(tiny, show_progress=False)
    assert len(m2.history) == 2


def _legacy_file(path, cfg: dict, n_users=5, n_items=7, d=4, bias=True):
    rng = np.random.default_rng(0)
    U = rng.standard_normal((n_users, d)).astype(np.float32)
    V = rng.standard_normal((n_items, d)).astype(np.float32)
    b = rng.standard_normal(n_items).astype(np.float32) if bias else np.zeros(n_items, np.float32)
    np.savez(path, U=U, V=V, b=b, config=np.array(json.dumps(cfg)))
    return U, V, b


# the configuration MatrixFactorization.save wrote before models took samplers (recneg <= 0.1): every key
OLD = {"factors": 4, "loss": "bpr", "negatives": 1, "alpha": 0.0, "exclude_seen": True, "hard": None,
       "dns_candidates": 8, "dns_pool": 0, "in_batch": False, "share_negatives": False, "logq": True, "score": "dot",
       "lr": 0.05, "reg": 0.01, "epochs": 1, "batch_size": 1024, "batching": "pairs", "positives_per_row": None,
       "workers": 2, "device": "cpu", "backend": "numba", "seed": 0, "margin": 0.9, "negative_weight": 1.0,
       "temperature": 1.0, "use_bias": False, "lr_decay": None, "init_std": 0.1, "history_weight": 0.0,
       "average_epochs": 0, "max_tries": 64, "chunks": 256, "pair_order": "user", "progress": True}


def test_load_reads_a_numba_dns_file_of_the_old_api(tmp_path):
    p = tmp_path / "old.npz"
    U, V, b = _legacy_file(p, {**OLD, "hard": "dns", "dns_candidates": 4, "dns_pool": 8, "alpha": 0.5,
                               "negatives": 1, "lr": 0.03, "reg": 0.02, "epochs": 7, "use_bias": True,
                               "pair_order": "shuffle", "lr_decay": "linear", "seed": 5})
    m = MatrixFactorization.load(p)
    assert type(m) is NumbaMatrixFactorization
    s = m.sampler
    assert type(s) is DynamicNegativeSampler and s.m == 4 and s.pool == 8 and s.k == 1
    assert type(s.base) is NegativeSampler and s.base.k == 1 and s.base.alpha == 0.5 and s.base.exclude_seen
    assert m.loss == BPR() and (m.lr, m.reg, m.epochs, m.seed) == (0.03, 0.02, 7, 5)
    assert m.use_bias and m.pair_order == "shuffle" and m.lr_decay == "linear"
    np.testing.assert_array_equal(m.user_factors, np.hstack([U, np.ones((5, 1), np.float32)]))
    np.testing.assert_array_equal(m.item_factors, np.hstack([V, b[:, None]]))
    ids, sc = m.recommend(1, None, N=7, filter_already_liked_items=False)
    np.testing.assert_array_equal(ids, np.argsort(-(U[1] @ V.T + b), kind="stable"))
    np.testing.assert_allclose(sc, (U[1] @ V.T + b)[ids], rtol=1e-6)


@pytest.mark.parametrize("old,check", [
    pytest.param(dict(loss="bpr", negatives=3, alpha=0.75, exclude_seen=False),
                 lambda m: type(m.sampler) is NegativeSampler and m.sampler.k == 3 and m.sampler.alpha == 0.75
                 and not m.sampler.exclude_seen and m.backend == "numba", id="bpr-numba"),
    pytest.param(dict(loss="softmax", negatives=256, share_negatives=True, temperature=0.2, score="cosine",
                      logq=False, backend="torch", lr=0.01, reg=1e-4, batch_size=256),
                 lambda m: type(m.sampler) is NegativeSampler and m.sampler.k == 256 and m.sampler.shared
                 and m.loss == Softmax(temperature=0.2, score="cosine", logq=False) and m.batch_size == 256,
                 id="softmax-shared"),
    pytest.param(dict(loss="bce", negatives=4, hard="dns", dns_candidates=6, backend="torch", lr=1e-3, reg=1e-4,
                      negative_weight=2.0),
                 lambda m: type(m.sampler) is DynamicNegativeSampler and m.sampler.m == 6 and m.sampler.base.k == 4
                 and m.loss == BCE(negative_weight=2.0), id="bce-dns-torch"),
    pytest.param(dict(loss="bpr", in_batch=True, share_negatives=False, logq=False, backend="torch", lr=1e-3,
                      reg=1e-4),
                 lambda m: type(m.sampler) is InBatchSampler and m.sampler.mask_seen and not m.sampler.logq
                 and m.loss == BPR(), id="inbatch-bpr"),
    pytest.param(dict(loss="ccl", negatives="all", share_negatives=True, exclude_seen=False, batching="users",
                      positives_per_row=3, margin=0.5, negative_weight=10.0, score="cosine", history_weight=0.5,
                      backend="torch", lr=1e-3, reg=1e-4),
                 lambda m: type(m.sampler) is AllItems and not m.sampler.exclude_seen
                 and m.batching == UserBatches(positives_per_row=3) and m.history_weight == 0.5
                 and m.loss == CCL(margin=0.5, negative_weight=10.0), id="ccl-all-users"),
])
def test_load_reads_other_files_of_the_old_api(tmp_path, tiny, old, check):
    p = tmp_path / "old.npz"
    U, V, _ = _legacy_file(p, {**OLD, **old}, bias=False)
    m = MatrixFactorization.load(p)
    assert check(m), (m, m.get_params())
    if m.score == "dot":
        np.testing.assert_array_equal(m.item_factors, V)
    m.save(tmp_path / "new.npz")  # and it saves in the new format, which loads back the same
    assert MatrixFactorization.load(tmp_path / "new.npz").get_params() == m.get_params()


def test_load_keeps_the_item_bias_of_an_old_torch_file(tmp_path):
    p = tmp_path / "old.npz"
    U, V, b = _legacy_file(p, {**OLD, "loss": "softmax", "negatives": 1024, "share_negatives": True,
                               "backend": "torch", "lr": 1e-3, "reg": 1e-4, "use_bias": True})
    m = MatrixFactorization.load(p)
    assert type(m) is TorchMatrixFactorization and m.use_bias
    scores = m.user_factors @ m.item_factors.T
    np.testing.assert_allclose(scores, U @ V.T + b[None, :], rtol=1e-5)
    ids, _ = m.recommend(2, None, N=7, filter_already_liked_items=False)
    np.testing.assert_array_equal(ids, np.argsort(-(U[2] @ V.T + b), kind="stable"))


@pytest.mark.parametrize("loss", ["ccl", "bce"])
def test_load_keeps_a_zero_negative_weight_of_an_old_file(tmp_path, loss):
    p = tmp_path / "old.npz"
    _legacy_file(p, {**OLD, "loss": loss, "negatives": 4, "negative_weight": 0.0, "backend": "torch",
                     "score": "cosine" if loss == "ccl" else "dot", "lr": 1e-3, "reg": 1e-4})
    assert MatrixFactorization.load(p).loss.negative_weight == 0.0


# --------------------------------------------------------------------------- constructors and backends
def test_constructors_stay_small():
    n_numba = len(inspect.signature(NumbaMatrixFactorization.__init__).parameters) - 1
    n_torch = len(inspect.signature(TorchMatrixFactorization.__init__).parameters) - 1
    assert n_numba <= 15, n_numba
    assert n_torch <= 16, n_torch
    # and none of the old negative-sampling keywords is back
    old = {"negatives", "alpha", "exclude_seen", "hard", "dns_candidates", "dns_pool", "in_batch", "share_negatives",
           "logq", "score", "margin", "negative_weight", "temperature", "max_tries", "chunks", "positives_per_row",
           "progress"}
    for cls in (NumbaMatrixFactorization, TorchMatrixFactorization):
        assert not old & set(inspect.signature(cls.__init__).parameters), cls
    with pytest.raises(TypeError, match="progress"):
        MatrixFactorization(progress=False)
    with pytest.raises(TypeError, match="alpha"):
        MatrixFactorization(alpha=0.5)


@pytest.mark.parametrize("kw,cls", [
    (dict(), ALSMatrixFactorization),  # the default: iALS, chosen leave-one-dataset-out (RESULTS.md)
    (dict(factors=32, epochs=4, seed=1, workers=1), ALSMatrixFactorization),
    (dict(lr=0.05), NumbaMatrixFactorization),  # an SGD option asks for the sampled default, BPR
    (dict(epochs=5, lr_decay="linear"), NumbaMatrixFactorization),
    (dict(device="cuda"), TorchMatrixFactorization),
    (dict(sampler=NegativeSampler(k=2)), NumbaMatrixFactorization),
    (dict(loss="bpr"), NumbaMatrixFactorization),
    (dict(loss="bpr", device="cpu"), NumbaMatrixFactorization),
    (dict(loss=BPR()), NumbaMatrixFactorization),
    (dict(loss="bpr", sampler=NegativeSampler(k=4, alpha=0.75)), NumbaMatrixFactorization),
    (dict(loss="bpr", sampler=DynamicNegativeSampler(NegativeSampler(alpha=0.0), m=8, pool=16)),
     NumbaMatrixFactorization),
    (dict(loss="warp"), NumbaMatrixFactorization),
    (dict(loss=WARP(margin=0.5), sampler=WarpSampler(NegativeSampler(k=1, alpha=0.0))), NumbaMatrixFactorization),
    (dict(loss="softmax"), TorchMatrixFactorization),
    (dict(loss="ccl"), TorchMatrixFactorization),
    (dict(loss="bce"), TorchMatrixFactorization),
    (dict(loss="bpr", batch_size=256), TorchMatrixFactorization),
    (dict(loss="bpr", batching="pairs"), TorchMatrixFactorization),
    (dict(loss="bpr", device="cuda"), TorchMatrixFactorization),
    (dict(loss="bpr", history_weight=0.5), TorchMatrixFactorization),
    (dict(loss="bpr", sampler=InBatchSampler()), TorchMatrixFactorization),
    (dict(loss="bpr", sampler=MixedSampler(InBatchSampler(), NegativeSampler(k=8), shared=True)),
     TorchMatrixFactorization),
    (dict(loss="bpr", sampler=NegativeSampler(k=8, shared=True)), TorchMatrixFactorization),
    (dict(loss="bpr", sampler="all"), TorchMatrixFactorization),
    (dict(loss=BPR(score="cosine")), TorchMatrixFactorization),
    (dict(loss="bpr", backend="torch"), TorchMatrixFactorization),
])
def test_backend_choice(kw, cls):
    m = MatrixFactorization(**kw)  # construct only (device="cuda" is never used here)
    assert type(m) is cls and isinstance(m, MatrixFactorization)
    assert m.backend == cls.backend


def test_device_cpu_keeps_bpr_on_numba():
    m = MatrixFactorization(loss="bpr", device="cpu")
    assert type(m) is NumbaMatrixFactorization and m.device == "cpu"
    with pytest.raises(ValueError, match="CPU"):
        MatrixFactorization(loss="bpr", backend="numba", device="cuda")


def test_backend_choice_edges():
    assert type(BayesianPersonalizedRanking(factors=8)) is NumbaMatrixFactorization
    assert MatrixFactorization(loss="bpr", device="cuda").device == "cuda"
    # default samplers keep the old API's defaults: 1 negative for bpr, 4 for bce, 1024 shared for softmax/ccl
    for loss, k, shared in (("bpr", 1, None), ("bce", 4, None), ("softmax", 1024, True), ("ccl", 1024, True)):
        s = MatrixFactorization(loss=loss).sampler
        assert type(s) is NegativeSampler and (s.k, s.alpha, s.exclude_seen, s.shared) == (k, 0.0, True, shared)
        assert s.to_spec() == default_sampler(MatrixFactorization(loss=loss).loss).to_spec()
    assert type(MatrixFactorization(loss="warp").sampler) is WarpSampler
    with pytest.raises(ValueError, match="torch"):
        MatrixFactorization(loss="softmax", backend="numba")
    with pytest.raises(ValueError, match="numba"):
        MatrixFactorization(loss="warp", backend="torch")
    with pytest.raises(ValueError, match="backend"):
        MatrixFactorization(backend="gpu")
    with pytest.raises(ValueError, match="numba backend"):
        NumbaMatrixFactorization(backend="torch")


def test_warp_trains_on_numba_and_recovers(planted):
    data, train, test, pop = planted
    m = MatrixFactorization(factors=16, loss="warp", epochs=20, workers=1, seed=0).fit(train, show_progress=False)
    assert m.backend == "numba"
    _assert_recovers(m, data, train, test, pop)


def test_unbound_inbatch_sampler_is_a_valid_spec_until_used(tiny):
    s = InBatchSampler()
    m = MatrixFactorization(loss="softmax", sampler=s, factors=4, epochs=1, batch_size=64, workers=1)
    assert m.backend == "torch" and not s.is_bound
    with pytest.raises(ValueError, match="train or item_counts"):
        s.sample(None, [0, 1])
    m.fit(tiny, show_progress=False)
    assert s.is_bound and s.counts.sum() == tiny.csr.nnz
    assert sp.issparse(s.csr)


def test_mixed_sampler_must_share_its_proposal_part(tiny, monkeypatch):
    # the torch trainer draws the proposal part of mixed negatives once per batch (Yang et al. 2020): a MixedSampler
    # with per-row proposal draws (shared=False) is refused instead of silently trained as shared=True
    mixed = MixedSampler(InBatchSampler(), NegativeSampler(k=4, alpha=0.0), shared=False)
    with pytest.raises(ValueError, match=r"shared=True"):
        MatrixFactorization(factors=4, loss="softmax", sampler=mixed)
    rec: list = []
    monkeypatch.setattr(TorchTrainer, "record", rec)
    mixed = MixedSampler(InBatchSampler(), NegativeSampler(k=4, alpha=0.0), shared=True)
    MatrixFactorization(factors=4, loss="softmax", sampler=mixed, epochs=1, batch_size=32, workers=1).fit(
        tiny, show_progress=False)
    proposal = [r for r in rec if r["kind"] != "in_batch"]
    assert proposal and all(tuple(r["items"].shape) == (4,) for r in proposal)
