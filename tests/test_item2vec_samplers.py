"""Item2Vec trained through recneg.sampling samplers: exclusion, DNS, custom weights, schedules.

Law tests read the negatives the engine actually used (the numba ``trace`` hook, the torch
``TorchSkipGram.record`` hook) and compare them with a fixed seed to the law by chi-square.
"""
import numpy as np
import pandas as pd
import pytest
from numba import njit

from recneg.data import Interactions
from recneg.datasets import make_synthetic
from recneg.engine.skipgram_torch import TorchSkipGram
from recneg.models.item2vec import Item2Vec
from recneg.models.word2vec import Word2Vec
from recneg.sampling import DynamicNegativeSampler, LinearSchedule, NegativeSampler, StepSchedule, WarpSampler
from recneg.sampling.distributions import popularity
from recneg.sampling.kernels import KernelSampler, sg_dns_draws, sg_draws

from helpers import chi2_pvalue, cluster_purity

N_ITEMS = 20
HEAVY = [0, 1, 2, 3, 4, 5]  # user 0: the popular items, 97% of the proposal mass at alpha=0.75
LIGHT = [0, 1, 7]  # user 1


def _law_data(copies=300):
    """Sequences and their users: users 0 and 1 repeat their histories; single-item sequences of
    other users (no context, so no draws) shape the popularity: items 0-4 common, the rest rare."""
    rng = np.random.default_rng(0)
    seqs, users = [], []
    for u, h in ((0, HEAVY), (1, LIGHT)):
        for _ in range(copies):
            seqs.append(rng.permutation(h))
            users.append(u)
    filler = np.r_[np.repeat(np.arange(5), 5000), np.repeat(np.arange(5, N_ITEMS), 2)]
    seqs += [np.array([i]) for i in filler]
    users += list(range(2, 2 + filler.size))  # one user each: none of them has seen every item
    return seqs, np.array(users)


def _truncated(p, seen):
    q = p.copy()
    q[list(seen)] = 0.0
    return q / q.sum()


def _traced(model, rows=400_000):
    model.trace = np.full((rows, 3), -1, np.int64)
    return model


@pytest.mark.parametrize("alpha,kw", [(0.75, dict(sg=1)), (0.0, dict(sg=1)), (-0.5, dict(sg=1)),
                                      (0.75, dict(sg=0)), (0.75, dict(sg=1, shared_negatives=False))],
                         ids=["a0.75-sg-shared", "a0-sg", "a-0.5-sg", "a0.75-cbow", "a0.75-sg-pairs"])
def test_numba_excluding_negatives_follow_truncated_popularity(alpha, kw):
    seqs, users = _law_data()
    s = NegativeSampler(k=10, alpha=alpha, exclude_seen=True)
    m = _traced(Item2Vec(vector_size=8, epochs=1, workers=1, seed=3, progress=False, context="set", sample=0,
                         sampler=s, **kw))
    m.fit_sequences(seqs, N_ITEMS, users=users)
    assert m.sampler is s and s.is_bound
    tr = m.trace[m.trace[:, 0] >= 0]
    assert tr.shape[0] < m.trace.shape[0]  # every negative of the epoch was recorded
    p = popularity(m.item_counts, alpha)
    p /= p.sum()
    if alpha == 0.75:
        assert p[HEAVY].sum() > 0.96  # a heavy user (> 0.95): it draws from the complement directly
    hist = {0: set(HEAVY), 1: set(LIGHT)}
    assert set(np.unique(tr[:, 2])) == {0, 1}  # the filler users draw nothing
    for u, h in hist.items():
        r = tr[tr[:, 2] == u]
        assert np.isin(r[:, 0], list(h)).all(), "a centre outside the recorded user's history: wrong user mapping"
        assert not np.isin(r[:, 1], list(h)).any(), f"user {u} got one of its own items as a negative"
        n_centres = 300 * len(h)
        assert r.shape[0] == (n_centres * 10 if kw.get("shared_negatives", True) or kw["sg"] == 0
                              else n_centres * (len(h) - 1) * 10)  # never skipped
        assert chi2_pvalue(np.bincount(r[:, 1], minlength=N_ITEMS), _truncated(p, h)) > 1e-3


def test_numba_without_exclusion_follows_word2vec_law_with_custom_weights():
    seqs, users = _law_data(copies=200)
    w = np.linspace(1.0, 3.0, N_ITEMS)
    m = _traced(Item2Vec(vector_size=8, epochs=1, workers=1, seed=3, progress=False, context="set", sample=0,
                         sampler=NegativeSampler(k=8, weights=w, exclude_seen=False)))
    m.fit_sequences(seqs, N_ITEMS, users=users)
    tr = m.trace[m.trace[:, 0] >= 0]
    assert (tr[:, 0] != tr[:, 1]).all()  # the centre is never its own negative
    assert m.history[0]["alpha"] is None and m.history[0]["k"] == 8
    Q = np.tile(w / w.sum(), (N_ITEMS, 1))
    np.fill_diagonal(Q, 0.0)
    Q /= Q.sum(1, keepdims=True)
    assert chi2_pvalue(np.bincount(tr[:, 1], minlength=N_ITEMS), Q[tr[:, 0]].sum(0)) > 1e-3
    # and the user's own items do come up (no exclusion)
    assert np.isin(tr[tr[:, 2] == 0, 1], HEAVY).any()


@pytest.mark.parametrize("kw", [dict(sg=1), dict(sg=0), dict(sg=1, shared_negatives=False)],
                         ids=["sg-shared", "cbow", "sg-pairs"])
def test_torch_excluding_negatives_follow_truncated_popularity(monkeypatch, kw):
    pytest.importorskip("torch")
    seqs, users = _law_data(copies=200)
    rec = []
    monkeypatch.setattr(TorchSkipGram, "record", rec)
    m = Item2Vec(vector_size=8, epochs=1, seed=3, progress=False, context="set", sample=0, backend="torch",
                 sampler=NegativeSampler(k=10, alpha=0.75, exclude_seen=True), **kw)
    m.fit_sequences(seqs, N_ITEMS, users=users)
    u = np.concatenate([r["users"].numpy() for r in rec])
    c = np.concatenate([r["centres"].numpy() for r in rec])
    it = np.concatenate([r["items"].numpy() for r in rec])
    assert np.concatenate([r["valid"].numpy() for r in rec]).all()  # never skipped
    p = popularity(m.item_counts, 0.75)
    p /= p.sum()
    for uu, h in ((0, HEAVY), (1, LIGHT)):
        sel = u == uu
        assert np.isin(c[sel], h).all()
        assert not np.isin(it[sel], h).any()
        assert chi2_pvalue(np.bincount(it[sel].ravel(), minlength=N_ITEMS), _truncated(p, h)) > 1e-3


def test_exclusion_with_sessions_uses_each_sessions_user():
    rng = np.random.default_rng(1)
    rows = []
    for u in range(30):
        items = rng.choice(40, size=12, replace=False)
        for t, i in enumerate(items):
            rows.append((u, i, t * 10 + (100 if t >= 6 else 0)))  # two sessions per user
    inter = Interactions.from_dataframe(pd.DataFrame(rows, columns=["user", "item", "ts"]), time_col="ts")
    seqs, owner = inter.sequences(session_gap=50, return_users=True)
    assert len(seqs) == 60 and np.bincount(owner).tolist() == [2] * 30
    m = _traced(Item2Vec(vector_size=8, epochs=2, workers=1, seed=3, progress=False, context="set", sample=0,
                         session_gap=50, sampler=NegativeSampler(k=5, alpha=0.75, exclude_seen=True)))
    m.fit(inter)
    tr = m.trace[m.trace[:, 0] >= 0]
    csr = inter.csr
    assert tr.shape[0] > 0
    for c, j, u in tr:
        row = csr.indices[csr.indptr[u]:csr.indptr[u + 1]]
        assert c in row and j not in row


# ---------------------------------------------------------------------------------------------- DNS


@njit
def _run_draws(n, k, m, h, V, u, ks_args, seed):
    out = np.empty((n, k), np.int64)
    neg = np.empty(k, np.int64)
    s = np.uint64(seed)
    exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff, htab, tries = ks_args
    for r in range(n):
        if m > 0:
            nn, s = sg_dns_draws(neg, k, m, h, V, -1, u, exclude, mode, prob, alias, p, cum, indptr, indices,
                                 seen_cum, hoff, htab, tries, s)
        else:
            nn, s = sg_draws(neg, k, -1, u, exclude, mode, prob, alias, p, cum, indptr, indices, seen_cum, hoff,
                             htab, tries, s)
        for t in range(k):
            out[r, t] = neg[t] if t < nn else -1
    return out


def test_skipgram_dns_is_best_of_m_by_input_output_score_and_never_seen():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n, d = 15, 4
    w = rng.random(n) + 0.2
    seen = [1, 4, 9]
    csr = sp.csr_matrix((np.ones(3), ([0, 0, 0], seen)), shape=(1, n))
    ks = KernelSampler.from_weights(w, csr, exclude_seen=True)
    V = rng.standard_normal((n, d)).astype(np.float32)
    h = rng.standard_normal(d).astype(np.float32)
    score = V @ h
    dns = _run_draws(40000, 2, 5, h, V, 0, ks.args, 12345).ravel()
    plain = _run_draws(40000, 2, 0, h, V, 0, ks.args, 12345).ravel()
    assert (dns >= 0).all() and not np.isin(dns, seen).any() and not np.isin(plain, seen).any()
    assert score[dns].mean() > score[plain].mean() + 0.3  # harder negatives
    # exact law of the best of 5 i.i.d. draws from q (the truncated proposal): by score rank
    q = _truncated(w / w.sum(), seen)
    order = np.argsort(score)  # ascending; distinct scores
    F = np.cumsum(q[order])
    law = np.zeros(n)
    law[order] = F ** 5 - np.r_[0.0, F[:-1]] ** 5
    assert chi2_pvalue(np.bincount(dns, minlength=n), law) > 1e-3
    assert chi2_pvalue(np.bincount(plain, minlength=n), q) > 1e-3


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_item2vec_dns_negatives_never_seen_and_harder(backend, monkeypatch):
    if backend == "torch":
        pytest.importorskip("torch")
    synth = make_synthetic(n_users=200, n_items=60, n_clusters=4, interactions_per_user=10, noise=0.0, seed=0)
    csr = synth.interactions.csr
    picks = {}
    for name, s in (("dns", DynamicNegativeSampler(NegativeSampler(k=5, alpha=0.75, exclude_seen=True), m=8)),
                    ("plain", NegativeSampler(k=5, alpha=0.75, exclude_seen=True))):
        m = Item2Vec(vector_size=8, epochs=4, workers=1, seed=3, progress=False, context="set", sample=0,
                     sampler=s, backend=backend, batch_size=64)
        if backend == "numba":
            m = _traced(m, 200_000)
        else:
            rec = []
            monkeypatch.setattr(TorchSkipGram, "record", rec)
        m.fit(synth.interactions)
        if backend == "numba":
            tr = m.trace[m.trace[:, 0] >= 0]
            u, j = tr[:, 2], tr[:, 1]
        else:
            last = rec[-len(rec) // 4:]  # about the last epoch
            u = np.concatenate([np.repeat(r["users"].numpy(), r["items"].shape[1]) for r in last])
            j = np.concatenate([r["items"].numpy().ravel() for r in last])
        assert u.size > 0
        seen = np.asarray(csr[u, j]).ravel()
        assert (seen == 0).all(), f"{name}: a negative from the user's own history"
        picks[name] = (u, j)
        if name == "dns":
            assert m.history[-1]["m"] == 8
            # the DNS model's final vectors score both: the user's mean input vector . output vector
            V = m.syn1neg
            U = np.asarray(csr @ m.syn0) / np.maximum(np.diff(csr.indptr), 1)[:, None]
    mean = {k: float(np.mean(np.einsum("bd,bd->b", U[u], V[j]))) for k, (u, j) in picks.items()}
    assert mean["dns"] > mean["plain"], mean


# ---------------------------------------------------------------------------------------------- schedules


def test_schedules_recorded_per_epoch_and_used():
    seqs, users = _law_data(copies=100)
    k_sched = StepSchedule([2], [3, 6])  # 3 for epochs 0-1, 6 from epoch 2
    a_sched = LinearSchedule(1.0, 0.0, 2)  # 1.0, 0.5, 0.0, 0.0
    s = DynamicNegativeSampler(NegativeSampler(k=k_sched, alpha=a_sched, exclude_seen=True), m=LinearSchedule(1, 5, 2))
    m = _traced(Item2Vec(vector_size=8, epochs=4, workers=1, seed=3, progress=False, context="set", sample=0,
                         sampler=s, callbacks=[lambda ep, loss: None]))
    m.fit_sequences(seqs, N_ITEMS, users=users)
    got = [{k: h[k] for k in ("epoch", "k", "alpha", "m")} for h in m.history]
    assert got == [{"epoch": 0, "k": 3, "alpha": 1.0, "m": 1}, {"epoch": 1, "k": 3, "alpha": 0.5, "m": 3},
                   {"epoch": 2, "k": 6, "alpha": 0.0, "m": 5}, {"epoch": 3, "k": 6, "alpha": 0.0, "m": 5}]
    assert all(np.isfinite(h["loss"]) for h in m.history)
    tr = m.trace[m.trace[:, 0] >= 0]
    assert tr.shape[0] == 100 * (len(HEAVY) + len(LIGHT)) * 6  # the last epoch drew k=6 per centre


def test_alpha_schedule_last_epoch_follows_its_alpha():
    seqs, users = _law_data(copies=300)
    s = NegativeSampler(k=10, alpha=LinearSchedule(0.75, 0.0, 1), exclude_seen=True)  # 0.75 then 0 (uniform)
    m = _traced(Item2Vec(vector_size=8, epochs=2, workers=1, seed=3, progress=False, context="set", sample=0,
                         sampler=s))
    m.fit_sequences(seqs, N_ITEMS, users=users)
    assert [h["alpha"] for h in m.history] == [0.75, 0.0]
    tr = m.trace[m.trace[:, 0] >= 0]
    r = tr[tr[:, 2] == 0]
    assert chi2_pvalue(np.bincount(r[:, 1], minlength=N_ITEMS), _truncated(np.ones(N_ITEMS), HEAVY)) > 1e-3


# ---------------------------------------------------------------------------------------------- recovery


RECOVERY = {
    "exclude-a0.75": lambda: NegativeSampler(k=5, alpha=0.75, exclude_seen=True),
    "noexclude-a0.5": lambda: NegativeSampler(k=5, alpha=0.5, exclude_seen=False),
    "exclude-a-0.5": lambda: NegativeSampler(k=5, alpha=-0.5, exclude_seen=True),
    "dns-m5": lambda: DynamicNegativeSampler(NegativeSampler(k=5, alpha=0.75, exclude_seen=True), m=5),
    "weights": lambda: NegativeSampler(k=5, weights=np.linspace(1.0, 2.0, 120), exclude_seen=True),
    "k-alpha-schedule": lambda: NegativeSampler(k=LinearSchedule(2, 8, 10), alpha=LinearSchedule(1.0, 0.0, 10),
                                                exclude_seen=True),
}


@pytest.mark.parametrize("name", list(RECOVERY))
def test_planted_clusters_recovered_with_sampler(synth, name):
    m = Item2Vec(vector_size=16, epochs=15, workers=1, progress=False, seed=2, alpha=0.05, sample=0, context="set",
                 sampler=RECOVERY[name]())
    m.fit(synth.interactions)
    assert len(m.history) == 15
    assert cluster_purity(m, synth.item_cluster) >= 0.9


@pytest.mark.parametrize("name", ["exclude-a0.75", "dns-m5"])
def test_planted_clusters_recovered_with_sampler_torch(synth, name):
    pytest.importorskip("torch")
    m = Item2Vec(vector_size=16, epochs=15, progress=False, seed=2, alpha=0.05, sample=0, context="set",
                 backend="torch", batch_size=256, sampler=RECOVERY[name]())
    m.fit(synth.interactions)
    assert cluster_purity(m, synth.item_cluster) >= 0.9


# ---------------------------------------------------------------------------------------------- API


def test_shorthand_is_the_plain_sampler_bit_for_bit(synth):
    kw = dict(vector_size=8, epochs=2, workers=1, seed=4, progress=False, context="set")
    a = Item2Vec(negative=5, ns_exponent=0.75, **kw).fit(synth.interactions)
    b = Item2Vec(sampler=NegativeSampler(k=5, alpha=0.75, exclude_seen=False), **kw).fit(synth.interactions)
    np.testing.assert_array_equal(a.syn0, b.syn0)
    np.testing.assert_array_equal(a.syn1neg, b.syn1neg)
    assert not a.sampler_given and a.sampler.to_spec()["exclude_seen"] is False
    assert [h["k"] for h in a.history] == [5, 5] and a.history[0]["alpha"] == 0.75
    w = Word2Vec([["a", "b", "c"]] * 20, min_count=1, epochs=1, progress=False, negative=3, ns_exponent=0.5)
    assert w.sampler.k == 3 and w.sampler.alpha == 0.5 and not w.sampler.exclude_seen


def test_save_load_keeps_sampler_spec(synth, tmp_path):
    s = DynamicNegativeSampler(NegativeSampler(k=LinearSchedule(2, 4, 2), alpha=0.5, exclude_seen=True), m=3)
    m = Item2Vec(vector_size=8, epochs=3, workers=1, progress=False, context="set", sampler=s).fit(synth.interactions)
    m.save(tmp_path / "m.npz")
    m2 = Item2Vec.load(tmp_path / "m.npz")
    assert isinstance(m2.sampler, DynamicNegativeSampler) and m2.sampler_given
    assert m2.sampler.to_spec() == s.to_spec()
    assert m2.history == m.history
    np.testing.assert_array_equal(m2.item_factors, m.item_factors)
    m2.epochs = 1
    m2.fit(synth.interactions)  # the loaded sampler trains (re-bound to the data)
    # shorthand models save no sampler and load with their gensim parameters
    m3 = Item2Vec(vector_size=8, epochs=1, workers=1, progress=False, ns_exponent=-0.5).fit(synth.interactions)
    m3.save(tmp_path / "m3.npz")
    m4 = Item2Vec.load(tmp_path / "m3.npz")
    assert not m4.sampler_given and m4.ns_exponent == -0.5 and m4.sampler.alpha == -0.5


def test_bad_combinations_are_clear_errors(synth):
    ns = NegativeSampler(k=5, alpha=0.5)
    with pytest.raises(ValueError, match="either sampler= or the shorthand"):
        Item2Vec(sampler=ns, negative=10)
    with pytest.raises(ValueError, match="either sampler= or the shorthand"):
        Item2Vec(sampler=ns, ns_exponent=0.5)
    with pytest.raises(TypeError, match="NegativeSampler or a DynamicNegativeSampler"):
        Item2Vec(sampler=WarpSampler(NegativeSampler()))
    with pytest.raises(TypeError, match="sampler must be"):
        Item2Vec(sampler="dns")
    with pytest.raises(ValueError, match="score_fn"):
        Item2Vec(sampler=DynamicNegativeSampler(NegativeSampler(), score_fn=lambda u, c: c * 0.0))
    with pytest.raises(ValueError, match="k=1"):
        Item2Vec(sampler=DynamicNegativeSampler(NegativeSampler(), m=4, k=2))
    with pytest.raises(ValueError, match="topk"):
        Item2Vec(sampler=DynamicNegativeSampler(NegativeSampler(), mode="softmax"))
    with pytest.raises(ValueError, match="pool"):
        Item2Vec(sampler=DynamicNegativeSampler(NegativeSampler(), pool=16))
    with pytest.raises(ValueError, match="shared"):
        Item2Vec(sampler=NegativeSampler(shared=True))
    m = Item2Vec(epochs=1, progress=False, sampler=NegativeSampler(exclude_seen=True))
    with pytest.raises(ValueError, match="each sequence's user"):
        m.fit_sequences([np.array([0, 1, 2])], n_items=4)
    with pytest.raises(ValueError, match="one integer user index per sequence"):
        m.fit_sequences([np.array([0, 1, 2])], n_items=4, users=[0, 1])
    with pytest.raises(ValueError, match="weights has 3 entries"):
        Item2Vec(epochs=1, progress=False, sampler=NegativeSampler(weights=np.ones(3))).fit(synth.interactions)
    # a user who has every item: no negative exists
    with pytest.raises(ValueError, match="seen every item"):
        Item2Vec(epochs=1, progress=False, sampler=NegativeSampler(exclude_seen=True)).fit_sequences(
            [np.array([0, 1, 2]), np.array([0, 1])], n_items=3, users=np.array([0, 1]))
