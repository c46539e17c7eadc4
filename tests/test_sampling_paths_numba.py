"""The negatives the numba paths actually use follow the sampler's law (recorded through their trace hooks).

Each test runs a tiny real training/evaluation, records the negatives it used and checks them with a
chi-square test against the law of :mod:`recneg.sampling.kernels`: the proposal popularity^alpha truncated
to the user's unseen items (MF), to the words != the centre word (skip-gram), or uniform over the items in
neither train nor test (sampled evaluation). With exclusion a seen item must never appear, also for a user
who has seen 97% of the proposal mass.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import recneg.engine.bpr as bpr_module
from recneg.engine.bpr import NumbaBPRTrainer
from recneg.engine.skipgram import train_embeddings
from recneg.evaluation import ranking, sampled
from recneg.models.mf import MatrixFactorization
from recneg.sampling import DynamicNegativeSampler, NegativeSampler
from recneg.sampling.distributions import popularity
from recneg.sampling.kernels import KernelSampler

from helpers import chi2_pvalue

N_USERS, N_ITEMS = 40, 40


def _train_with_heavy_user(alpha: float, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """A users x items CSR where user 0 has seen 97%..99.5% of the popularity^alpha mass, and that mass."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, N_ITEMS + 1)
    rows = [np.unique(np.r_[u % N_ITEMS, rng.choice(N_ITEMS, 6, p=pop / pop.sum())]) for u in range(N_USERS)]
    for _ in range(5):  # user 0's row changes the counts, so settle it by iteration
        X = _csr(rows)
        p = popularity(np.asarray(X.sum(0)).ravel(), alpha)
        p = p / p.sum()
        order = np.argsort(p)  # leave the smallest-mass items unseen, at most 3% of the mass
        unseen = order[np.cumsum(p[order]) <= 0.03]
        unseen = unseen if unseen.size else order[:1]
        rows[0] = np.setdiff1d(np.arange(N_ITEMS), unseen)
    X = _csr(rows)
    p = popularity(np.asarray(X.sum(0)).ravel(), alpha)
    p = p / p.sum()
    seen_mass = p[X[0].indices].sum()
    assert 0.97 <= seen_mass < 0.995, seen_mass
    return X, p


def _csr(rows: list[np.ndarray]) -> sp.csr_matrix:
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    X = sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows), indptr), shape=(len(rows), N_ITEMS))
    X.sort_indices()
    return X


def _truncated_law(X: sp.csr_matrix, p: np.ndarray) -> np.ndarray:
    """(n_users, n_items): p restricted to each user's unseen items, renormalised."""
    Q = np.tile(p, (X.shape[0], 1))
    Q[X.toarray() > 0] = 0.0
    return Q / Q.sum(1, keepdims=True)


def _fit_recording(monkeypatch, X: sp.csr_matrix, **kw) -> np.ndarray:
    """Fit MatrixFactorization on the numba path; returns the (user, negative) rows of all its epochs."""
    traces = []

    class Recording(NumbaBPRTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "chunks": 8}, record=True)

        def __call__(self, epoch: int) -> float:
            loss = super().__call__(epoch)
            traces.append(self.trace.copy())
            return loss

    monkeypatch.setattr(bpr_module, "NumbaBPRTrainer", Recording)  # the model builds its trainer from here
    m = MatrixFactorization(factors=8, loss="bpr", backend="numba", seed=1, workers=2, **kw)
    m.fit(X, show_progress=False)
    assert len(traces) == m.epochs
    k = (m.sampler.base if isinstance(m.sampler, DynamicNegativeSampler) else m.sampler).k
    for t in traces:  # every update got a negative: no skips
        assert t.shape == (X.nnz * k, 2) and (t >= 0).all()
    return np.concatenate(traces)


@pytest.mark.parametrize("alpha", [0.0, 0.75, -0.5])
def test_mf_numba_negatives_follow_truncated_popularity(monkeypatch, alpha):
    X, p = _train_with_heavy_user(alpha)
    tr = _fit_recording(monkeypatch, X, sampler=NegativeSampler(k=4, alpha=alpha, exclude_seen=True), epochs=25)
    u, j = tr[:, 0], tr[:, 1]
    D = X.toarray() > 0
    assert not D[u, j].any(), "a seen item was used as a negative"
    Q = _truncated_law(X, p)
    assert chi2_pvalue(np.bincount(j, minlength=N_ITEMS), Q[u].sum(0)) > 1e-3
    heavy = u == 0  # the 97%-mass user alone
    assert heavy.sum() > 1000
    assert chi2_pvalue(np.bincount(j[heavy], minlength=N_ITEMS), Q[0] * heavy.sum()) > 1e-3


def test_mf_numba_negatives_without_exclusion_follow_the_proposal(monkeypatch):
    X, p = _train_with_heavy_user(0.75)
    tr = _fit_recording(monkeypatch, X, sampler=NegativeSampler(k=2, alpha=0.75, exclude_seen=False), epochs=20)
    j = tr[:, 1]
    assert chi2_pvalue(np.bincount(j, minlength=N_ITEMS), p * j.size) > 1e-3


@pytest.mark.parametrize("dns_pool", [0, 16])
@pytest.mark.parametrize("alpha", [0.0, 0.75])
def test_mf_numba_dns_negatives_are_never_seen(monkeypatch, alpha, dns_pool):
    X, _ = _train_with_heavy_user(alpha)
    dns = DynamicNegativeSampler(NegativeSampler(k=2, alpha=alpha, exclude_seen=True), m=4, pool=dns_pool)
    tr = _fit_recording(monkeypatch, X, sampler=dns, epochs=5)
    assert not (X.toarray() > 0)[tr[:, 0], tr[:, 1]].any()
    assert (tr[:, 0] == 0).any()


def test_user_who_saw_every_drawable_item_is_refused_before_training(monkeypatch):
    X, _ = _train_with_heavy_user(0.0)
    rows = [X[u].indices for u in range(N_USERS)]
    rows[17] = np.arange(N_ITEMS)
    called = []
    monkeypatch.setattr(NumbaBPRTrainer, "__call__", lambda self, epoch: called.append(epoch) or 0.0)
    m = MatrixFactorization(factors=4, loss="bpr", backend="numba", epochs=2)
    with pytest.raises(ValueError, match="user 17 has seen every item the sampler can draw"):
        m.fit(_csr(rows), show_progress=False)
    assert called == []
    # without exclusion the same data trains
    MatrixFactorization(factors=4, loss="bpr", backend="numba", epochs=1,
                        sampler=NegativeSampler(k=1, alpha=0.0, exclude_seen=False)).fit(
        _csr(rows), show_progress=False)


@pytest.mark.parametrize("sg,shared", [(1, False), (1, True), (0, False)])
@pytest.mark.parametrize("alpha", [0.75, 0.0, -0.5])
def test_skipgram_numba_negatives_follow_proposal_without_the_centre(sg, shared, alpha):
    rng = np.random.default_rng(2)
    V = 25
    zipf = 1.0 / np.arange(1, V + 1)
    tokens = rng.choice(V, 6000, p=zipf / zipf.sum()).astype(np.int32)
    offsets = np.arange(0, tokens.size + 1, 50, dtype=np.int64)
    counts = np.bincount(tokens, minlength=V)
    sampler = KernelSampler.from_weights(popularity(counts, alpha))
    d = 8
    syn0 = ((rng.random((V, d)) - 0.5) / d).astype(np.float32)
    syn1 = np.zeros((V, d), np.float32)
    trace = np.empty((400_000, 2), np.int64)
    train_embeddings(syn0, syn1, tokens, offsets, np.ones(V, np.float32), sampler.table, window=3, negative=5,
                     sg=bool(sg), shared_negatives=shared, epochs=1, workers=1, seed=4, progress=False, trace=trace)
    tr = trace[trace[:, 0] >= 0]
    assert 20_000 < tr.shape[0] < trace.shape[0]  # every negative of the epoch was recorded
    w, j = tr[:, 0], tr[:, 1]
    assert not (w == j).any(), "the centre word was used as its own negative"
    # law of one draw for centre w: p restricted to != w
    Q = np.tile(sampler.p, (V, 1))
    np.fill_diagonal(Q, 0.0)
    Q /= Q.sum(1, keepdims=True)
    assert chi2_pvalue(np.bincount(j, minlength=V), Q[w].sum(0)) > 1e-3


def test_sampled_evaluation_negatives_are_uniform_over_items_in_neither_row(monkeypatch):
    n_users, n_items = 20, 200
    rng = np.random.default_rng(5)
    D = rng.random((n_users, n_items)) < 0.2
    T = (rng.random((n_users, n_items)) < 0.05) & ~D
    D[0] = False
    D[0, :192] = True  # user 0: train | test covers 97% of the catalogue, 6 items stay free
    T[0] = False
    T[0, [192, 193]] = True
    T[np.flatnonzero(T.sum(1) == 0), 199] = True
    D[T] = False
    rec: list = []
    monkeypatch.setattr(sampled, "_NEGATIVE_TRACE", rec)
    U, Vf = rng.standard_normal((n_users, 4)), rng.standard_normal((n_items, 4))
    r = ranking.ranking_metrics(train=sp.csr_matrix(D.astype(np.float32)), test=sp.csr_matrix(T.astype(np.float32)),
                                K=[5], user_factors=U, item_factors=Vf, n_sampled_negatives=500, seed=0)
    assert r.sampled and len(rec) == 1
    users, negs = rec[0]
    seen = D | T
    assert negs.min() >= 0 and not seen[users[:, None], negs].any()
    free = ~seen
    Q = free / free.sum(1, keepdims=True)
    assert chi2_pvalue(np.bincount(negs.ravel(), minlength=n_items), Q[users].sum(0) * negs.shape[1]) > 1e-3
    rows0 = users == 0  # the 97% user alone
    assert rows0.sum() == 2
    assert set(np.unique(negs[rows0])) <= set(range(194, 200))
    assert chi2_pvalue(np.bincount(negs[rows0].ravel(), minlength=n_items), Q[0] * negs[rows0].size) > 1e-3
