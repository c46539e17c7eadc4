"""NCE as a training loss (issue 13, part 3): MatrixFactorization(loss="nce") on torch, skip-gram
``loss="nce"`` (Word2Vec, Item2Vec; numba and torch kernels), the CLI and the lab.

NCE's logit of a target t is ``s(t) - log(k q(t))``; SGNS/BCE is the same without the correction. The
tests compute single steps and losses by hand, check that the two losses differ by exactly the
log(k q) terms, check the q and k the models pass to the kernels, train to planted clusters, and
check that inputs without a law q are refused with one error naming the argument.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import cluster_purity

from recneg.cli import main
from recneg.datasets import make_synthetic
from recneg.engine import mf_torch
from recneg.engine import skipgram as K
from recneg.engine import skipgram_torch as KT
from recneg.engine.mf_torch import bce_loss, nce_loss
from recneg.evaluation.ranking import ranking_metrics
from recneg.lab import run_lab
from recneg.models.item2vec import Item2Vec
from recneg.models.losses import NCE, as_loss
from recneg.models.mf import (
    MatrixFactorization,
    NumbaMatrixFactorization,
    TorchMatrixFactorization,
)
from recneg.models.word2vec import Word2Vec
from recneg.sampling import (
    AllItems,
    DynamicNegativeSampler,
    InBatchSampler,
    LinearSchedule,
    MixedSampler,
    NegativeSampler,
    WarpSampler,
    popularity,
)
from recneg.sampling.kernels import log_expected_count


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _weights(V=7, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.5, (V, d)).astype(np.float32), rng.normal(0, 0.5, (V, d)).astype(np.float32)


Q7 = np.array([0.05, 0.1, 0.2, 0.3, 0.15, 0.12, 0.08])  # a proposal over 7 words


def _noise(k, q=Q7):
    return np.log(k * q).astype(np.float32)


# ----------------------------------------------------------------------------------------- helpers
def test_log_expected_count_is_log_k_q():
    got = log_expected_count(np.array([1.0, 3.0, 0.0, 4.0]), 5)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[[0, 1, 3]], np.log(5 * np.array([1, 3, 4]) / 8), rtol=1e-6)
    assert got[2] == -np.inf
    with pytest.raises(ValueError, match="k must be a positive integer"):
        log_expected_count(np.ones(3), 0)


# ------------------------------------------------------------------ skip-gram kernels, one step by hand
def np_nce_pair(syn0, syn1, context, centre, negs, lr, noise):
    """One NCE skip-gram step in float64, written from the definition."""
    syn0, syn1 = syn0.astype(np.float64), syn1.astype(np.float64)
    l1 = syn0[context].copy()
    neu1e = np.zeros_like(l1)
    loss = 0.0
    for t, label in [(centre, 1.0)] + [(n, 0.0) for n in negs]:
        logit = l1 @ syn1[t] - float(noise[t])  # s(t) - log(k q(t))
        loss += -np.log(_sig(logit)) if label else -np.log(_sig(-logit))
        g = (label - _sig(logit)) * lr
        neu1e += g * syn1[t]
        syn1[t] += g * l1
    syn0[context] += neu1e
    return syn0, syn1, loss


def test_numba_sg_pair_nce_step_matches_hand_computation():
    syn0, syn1 = _weights()
    negs = np.array([3, 5, 3], dtype=np.int64)
    noise = _noise(3)
    e0, e1, eloss = np_nce_pair(syn0, syn1, 2, 4, negs, 0.1, noise)
    loss = K.sg_pair_update(syn0, syn1, np.zeros(4, np.float32), 2, 4, negs, 3, np.float32(0.1), True, noise)
    np.testing.assert_allclose(syn0, e0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, e1, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(eloss, rel=1e-5)


def test_numba_sg_pair_nce_loss_by_hand_on_two_numbers():
    """d = 1, one negative: every term written out."""
    syn0 = np.array([[0.5], [0.0]], np.float32)  # word 0's input vector is the context
    syn1 = np.array([[-1.0], [2.0]], np.float32)  # output vectors: word 0 the negative, word 1 the centre
    q = np.array([0.25, 0.75])
    k = 1
    noise = np.log(k * q).astype(np.float32)
    loss = K.sg_pair_update(syn0, syn1, np.zeros(1, np.float32), 0, 1, np.array([0], np.int64), 1, np.float32(0.0),
                            True, noise)
    pos_logit = 0.5 * 2.0 - math.log(0.75)
    neg_logit = 0.5 * -1.0 - math.log(0.25)
    want = math.log1p(math.exp(-pos_logit)) + math.log1p(math.exp(neg_logit))
    assert loss == pytest.approx(want, rel=1e-6)


def test_numba_sg_shared_and_cbow_nce_steps_match_hand_computation():
    # shared negatives: each context word's pair is an NCE pair step on the old values
    syn0, syn1 = _weights(seed=1)
    contexts = np.array([0, 2, 6], dtype=np.int64)
    targets = np.array([4, 1, 5], dtype=np.int64)
    noise = _noise(2)
    C, T = syn0[contexts].astype(np.float64), syn1[targets].astype(np.float64)
    F = C @ T.T - noise[targets][None, :].astype(np.float64)
    labels = np.array([1.0, 0.0, 0.0])
    eloss = np.sum(np.log1p(np.exp(-F[:, 0]))) + np.sum(np.log1p(np.exp(F[:, 1:])))
    G = (labels[None, :] - _sig(F)) * 0.05
    e0, e1 = syn0.astype(np.float64), syn1.astype(np.float64)
    np.add.at(e1, targets, G.T @ C)
    np.add.at(e0, contexts, G @ T)
    loss = K.sg_shared_update(syn0, syn1, np.zeros((3, 3), np.float32), np.zeros((3, 4), np.float32), contexts, 3,
                              targets, 3, np.float32(0.05), True, noise)
    np.testing.assert_allclose(syn0, e0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, e1, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(eloss, rel=1e-5)
    # CBOW: h = mean of the context, then the NCE pair step with l1 = h; every context word gets neu1e
    syn0, syn1 = _weights(seed=2)
    contexts = np.array([0, 3, 6], dtype=np.int64)
    negs = np.array([2, 5], dtype=np.int64)
    h = syn0[contexts].astype(np.float64).mean(0)
    e1 = syn1.astype(np.float64)
    neu1e, eloss = np.zeros(4), 0.0
    for t, label in [(1, 1.0), (2, 0.0), (5, 0.0)]:
        logit = h @ e1[t] - float(noise[t])
        eloss += -np.log(_sig(logit)) if label else -np.log(_sig(-logit))
        g = (label - _sig(logit)) * 0.2
        neu1e += g * e1[t]
        e1[t] += g * h
    e0 = syn0.astype(np.float64)
    np.add.at(e0, contexts, np.broadcast_to(neu1e, (3, 4)))
    loss = K.cbow_update(syn0, syn1, np.zeros(4, np.float32), np.zeros(4, np.float32), contexts, 3, 1, negs, 2,
                         np.float32(0.2), True, noise)
    np.testing.assert_allclose(syn0, e0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, e1, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(eloss, rel=1e-5)


@pytest.mark.parametrize("kernel", ["pair", "shared", "cbow"])
def test_nce_step_is_the_sgns_step_with_exactly_the_log_kq_terms_added(kernel):
    """NCE's logits are SGNS's minus log(k q): append a coordinate 1 to the input side and -log(k q(t)) to
    each output vector, and the SGNS step of the augmented vectors is the NCE step on the first d
    coordinates. With noise 0 NCE is SGNS bit for bit."""
    V, d = 7, 4
    syn0, syn1 = _weights(V, d, seed=3)
    noise = _noise(5)
    a0 = np.hstack([syn0, np.ones((V, 1), np.float32)])
    a1 = np.hstack([syn1, -noise[:, None]])
    ctx = np.array([0, 2, 6], np.int64)
    negs = np.array([3, 5, 1], np.int64)  # distinct: a target's extra output coordinate is then read before its update

    def step(s0, s1, nz):
        dd = s0.shape[1]
        if kernel == "pair":
            return K.sg_pair_update(s0, s1, np.zeros(dd, np.float32), 2, 4, negs, 3, np.float32(0.1), True, nz)
        if kernel == "shared":
            tg = np.r_[4, negs].astype(np.int64)
            return K.sg_shared_update(s0, s1, np.zeros((3, 4), np.float32), np.zeros((3, dd), np.float32), ctx, 3,
                                      tg, 4, np.float32(0.1), True, nz)
        return K.cbow_update(s0, s1, np.zeros(dd, np.float32), np.zeros(dd, np.float32), ctx, 3, 4, negs, 3,
                             np.float32(0.1), True, nz)

    n0, n1 = syn0.copy(), syn1.copy()
    l_nce = step(n0, n1, noise)
    l_aug = step(a0, a1, None)
    assert l_nce == pytest.approx(l_aug, rel=1e-5)
    np.testing.assert_allclose(n0, a0[:, :d], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(n1, a1[:, :d], rtol=1e-5, atol=1e-6)
    # the correction changes the step (the test can fail) ...
    s0, s1 = syn0.copy(), syn1.copy()
    l_sgns = step(s0, s1, None)
    assert abs(l_sgns - l_nce) > 0.1 and not np.allclose(s0, n0)
    # ... and a zero correction is SGNS exactly
    z0, z1 = syn0.copy(), syn1.copy()
    assert step(z0, z1, np.zeros(V, np.float32)) == l_sgns
    np.testing.assert_array_equal(z0, s0)
    np.testing.assert_array_equal(z1, s1)


def test_torch_sg_and_cbow_nce_steps_equal_numba():
    rng = np.random.default_rng(5)
    V, d, k = 7, 6, 3
    noise = _noise(k)
    syn0, syn1 = _weights(V, d, seed=1)
    t0, t1, tn = torch.tensor(syn0), torch.tensor(syn1), torch.tensor(noise)
    for _ in range(20):
        ctx, cen = rng.integers(0, V, 2)
        negs = rng.choice(np.setdiff1d(np.arange(V), [cen]), k, replace=False).astype(np.int64)
        lr = float(rng.uniform(0.01, 0.2))
        l_nb = K.sg_pair_update(syn0, syn1, np.zeros(d, np.float32), ctx, cen, negs, k, np.float32(lr), True, noise)
        l_t = KT.sg_step(t0, t1, torch.tensor([ctx]), torch.tensor([cen]), torch.tensor(negs)[None], lr, None, tn)
        assert float(l_t[0]) == pytest.approx(l_nb, rel=1e-4)
    np.testing.assert_allclose(t0.numpy(), syn0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(t1.numpy(), syn1, rtol=1e-4, atol=1e-5)
    ctxs = np.array([1, 4, 6], np.int64)
    negs = np.array([0, 2], np.int64)
    l_nb = K.cbow_update(syn0, syn1, np.zeros(d, np.float32), np.zeros(d, np.float32), ctxs, 3, 5, negs, 2,
                         np.float32(0.1), True, noise)
    l_t = KT.cbow_step(t0, t1, torch.tensor(ctxs)[None], torch.ones(1, 3, dtype=torch.bool), torch.tensor([5]),
                       torch.tensor(negs)[None], 0.1, None, tn)
    assert float(l_t[0]) == pytest.approx(l_nb, rel=1e-4)
    np.testing.assert_allclose(t0.numpy(), syn0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(t1.numpy(), syn1, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------- the models pass the right k and q
def _capture_noise(monkeypatch):
    seen: list = []
    real = K.train_chunks

    def spy(*args):
        seen.append(None if args[-1] is None else np.array(args[-1]))
        return real(*args)

    monkeypatch.setattr(K, "train_chunks", spy)
    return seen


@pytest.mark.parametrize("exclude", [False, True])
def test_item2vec_nce_passes_log_k_q_of_the_untruncated_proposal_each_epoch(synth, monkeypatch, exclude):
    seen = _capture_noise(monkeypatch)
    s = NegativeSampler(k=LinearSchedule(2, 6, 2), alpha=0.5, exclude_seen=exclude)
    m = Item2Vec(vector_size=8, epochs=3, workers=1, progress=False, context="set", sample=0, sampler=s, loss="nce")
    m.fit(synth.interactions)
    q = popularity(m.item_counts, 0.5)
    q = q / q.sum()
    assert [h["k"] for h in m.history] == [2, 4, 6]
    assert len(seen) == 3  # one wave per epoch on this small corpus (workers=1)
    for arr, k in zip(seen, [2, 4, 6]):
        np.testing.assert_allclose(arr, np.log(k * q), rtol=1e-5)


def test_sgns_passes_no_noise(synth, monkeypatch):
    seen = _capture_noise(monkeypatch)
    Item2Vec(vector_size=8, epochs=1, workers=1, progress=False, context="set").fit(synth.interactions)
    assert seen and all(a is None for a in seen)


def test_word2vec_nce_uses_negative_times_unigram_power_law(monkeypatch):
    seen = _capture_noise(monkeypatch)
    sents = [["a", "b", "c", "a", "d", "a", "b"]] * 30
    m = Word2Vec(sents, min_count=1, vector_size=4, epochs=1, workers=1, progress=False, negative=3,
                 ns_exponent=0.75, loss="nce")
    q = m.vocab.counts.astype(np.float64) ** 0.75
    np.testing.assert_allclose(seen[0], np.log(3 * q / q.sum()), rtol=1e-5)
    assert m.loss == "nce" and "loss='nce'" in repr(m)


# ----------------------------------------------------------------------------- MF loss by hand
POS = [1.0, -0.5]
NEG = [[0.2, -1.0, 0.3], [0.5, 0.0, -0.2]]
QPOS = [0.1, 0.3]
QNEG = [[0.2, 0.05, 0.1], [0.4, 0.1, 0.25]]


def _softplus(x):
    return math.log1p(math.exp(x)) if x < 30 else x


def test_mf_nce_loss_matches_hand_computation():
    pos, neg = torch.tensor(POS, dtype=torch.float64), torch.tensor(NEG, dtype=torch.float64)
    plq, nlq = torch.log(torch.tensor(QPOS, dtype=torch.float64)), torch.log(torch.tensor(QNEG, dtype=torch.float64))
    valid = torch.tensor([[True, True, True], [True, False, True]])
    k = 3
    want = []
    for b in range(2):
        row = _softplus(-(POS[b] - math.log(k * QPOS[b])))
        for j in range(3):
            if bool(valid[b, j]):
                row += _softplus(NEG[b][j] - math.log(k * QNEG[b][j]))
        want.append(row)
    got = nce_loss(pos, neg, valid, plq, nlq)
    assert float(got) == pytest.approx(sum(want) / 2, rel=1e-12)
    # k is the number drawn (columns), not the number valid; num_sampled overrides it
    got5 = nce_loss(pos, neg, valid, plq, nlq, num_sampled=5)
    assert float(got5) != pytest.approx(float(got), rel=1e-6)
    # (N,) shared log q broadcasts over the rows
    shared = nce_loss(pos, neg, None, plq, nlq[0])
    want0 = sum(_softplus(-(POS[b] - math.log(3 * QPOS[b]))) + sum(
        _softplus(NEG[b][j] - math.log(3 * QNEG[0][j])) for j in range(3)) for b in range(2)) / 2
    assert float(shared) == pytest.approx(want0, rel=1e-12)


def test_mf_nce_minus_bce_is_exactly_the_log_kq_terms():
    """NCE(s) = BCE(s - log(k q)): the same loss on corrected scores; and NCE != BCE on the raw scores."""
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(5, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    plq = torch.log(torch.rand(5, generator=g, dtype=torch.float64) * 0.1 + 1e-3)
    nlq = torch.log(torch.rand(5, 4, generator=g, dtype=torch.float64) * 0.1 + 1e-3)
    valid = torch.rand(5, 4, generator=g) > 0.3
    lk = math.log(4)
    a = nce_loss(pos, neg, valid, plq, nlq)
    b = bce_loss(pos - (plq + lk), neg - (nlq + lk), valid)
    assert float(a) == pytest.approx(float(b), rel=1e-12)
    assert abs(float(a) - float(bce_loss(pos, neg, valid))) > 0.5


def test_mf_nce_loss_user_rows_equal_the_pair_loss():
    g = torch.Generator().manual_seed(1)
    neg_u = torch.randn(3, 6, generator=g, dtype=torch.float64)  # 3 users x 6 shared negatives
    valid_u = torch.rand(3, 6, generator=g) > 0.2
    rows = torch.tensor([0, 0, 1, 2, 2, 2])
    pos = torch.randn(6, generator=g, dtype=torch.float64)
    plq = torch.log(torch.rand(6, generator=g, dtype=torch.float64) + 0.01)
    nlq = torch.log(torch.rand(6, generator=g, dtype=torch.float64) + 0.01)
    a = nce_loss(pos, neg_u, valid_u, plq, nlq, rows=rows)
    b = nce_loss(pos, neg_u[rows], valid_u[rows], plq, nlq)
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_gradcheck_mf_nce_loss():
    g = torch.Generator().manual_seed(2)
    pos = torch.randn(4, generator=g, dtype=torch.float64).requires_grad_(True)
    neg = torch.randn(4, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    valid = torch.rand(4, 5, generator=g) > 0.3
    valid[0] = False  # a row without valid negatives
    plq = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    nlq = torch.log(torch.linspace(0.05, 0.3, 5, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda p, n: nce_loss(p, n, valid, plq, nlq), (pos, neg))
    rows = torch.tensor([0, 1, 1, 0])
    assert torch.autograd.gradcheck(lambda p, n: nce_loss(p, n[:2], valid[:2], plq, nlq, rows=rows), (pos, neg))


def test_nce_loss_needs_the_law():
    with pytest.raises(ValueError, match="pos_log_q and neg_log_q"):
        nce_loss(torch.zeros(2), torch.zeros(2, 3))


# ---------------------------------------------------------------- the MF trainer passes its q and k
@pytest.mark.parametrize("make", [
    lambda: NegativeSampler(k=3, alpha=0.75, exclude_seen=True),
    lambda: NegativeSampler(k=3, alpha=0.75, exclude_seen=False),
    lambda: NegativeSampler(k=16, alpha=0.5, shared=True),
    lambda: InBatchSampler(),
], ids=["per-example-exclusion", "per-example", "shared", "in-batch"])
def test_torch_trainer_gives_nce_the_log_q_of_its_draws(tiny, monkeypatch, make):
    calls: list = []
    real = mf_torch.nce_loss

    def spy(pos, neg, valid, pos_log_q, neg_log_q, rows=None, num_sampled=None):
        calls.append((neg.shape, pos_log_q.detach().clone(), neg_log_q.detach().clone()))
        return real(pos, neg, valid, pos_log_q, neg_log_q, rows=rows, num_sampled=num_sampled)

    rec: list = []
    monkeypatch.setattr(mf_torch, "nce_loss", spy)
    monkeypatch.setattr(mf_torch.TorchTrainer, "record", rec)
    s = make()
    m = MatrixFactorization(factors=4, loss="nce", sampler=s, epochs=1, batch_size=64, seed=0)
    assert type(m) is TorchMatrixFactorization
    m.fit(tiny, show_progress=False)
    counts = np.bincount(tiny.csr.indices, minlength=tiny.n_items).astype(np.float64)
    if isinstance(s, InBatchSampler):
        logq = np.log(counts / counts.sum())  # the batch's items are draws of training pairs
    else:
        logq = np.log(s.p)  # the proposal, untruncated also with exclusion
    assert len(calls) == len(rec) > 0
    for (shape, plq, nlq), r in zip(calls, rec):
        items = r["items"].numpy()
        # k = the number drawn per row: the sampler's k, or the batch's B positives for in-batch
        assert shape[1] == (items.shape[0] if isinstance(s, InBatchSampler) else s.k)
        np.testing.assert_allclose(nlq.numpy(), np.broadcast_to(logq[items], nlq.shape), rtol=1e-5)
        np.testing.assert_allclose(plq.numpy(), logq[r["positives"].numpy()], rtol=1e-5)


# ------------------------------------------------------------------------------ NCE trains models
def _assert_recovers(m, data, train, test, pop) -> None:
    got = ranking_metrics(m, train, test, K=20, metrics=["recall"]).metrics["recall@20"]
    assert got > pop + 0.25, (m, got, pop)
    ids, _ = m.similar_items(np.arange(train.n_items), N=6)
    same = (data.item_cluster[ids[:, 1:]] == data.item_cluster[:, None]).mean()
    assert same > 0.8, (m, same)


@pytest.mark.parametrize("sampler,kw", [
    (lambda: NegativeSampler(k=4, alpha=0.75), {"lr": 0.01}),
    (lambda: NegativeSampler(k=64, alpha=0.75, shared=True), {"lr": 0.05}),
], ids=["per-example-pop0.75", "shared-64"])
def test_mf_nce_recovers_planted_clusters(planted, sampler, kw):
    data, train, test, pop = planted
    m = MatrixFactorization(factors=16, loss="nce", sampler=sampler(), batch_size=256, epochs=12, seed=0, workers=1,
                            **kw)
    m.fit(train, show_progress=False)
    _assert_recovers(m, data, train, test, pop)


@pytest.mark.parametrize("backend,kw", [
    ("numba", {"workers": 1, "epochs": 15}),
    ("numba", {"workers": 1, "sg": 0, "epochs": 15}),
    ("torch", {"batch_size": 512, "epochs": 8}),
], ids=["numba-sg", "numba-cbow", "torch-sg"])
def test_item2vec_nce_recovers_planted_clusters(synth, backend, kw):
    m = Item2Vec(vector_size=16, progress=False, seed=2, alpha=0.05, sample=0, context="set",
                 backend=backend, loss="nce", sampler=NegativeSampler(k=5, alpha=0.75, exclude_seen=True), **kw)
    m.fit(synth.interactions)
    assert cluster_purity(m, synth.item_cluster) >= 0.9


# ------------------------------------------------------------------------------------- the API
def test_nce_front_door_backends_and_defaults():
    m = MatrixFactorization(loss="nce")
    assert type(m) is TorchMatrixFactorization and isinstance(m.loss, NCE)
    s = m.sampler  # the same draws as bce's default, so the two differ only by the correction
    assert type(s) is NegativeSampler and (s.k, s.alpha, s.exclude_seen) == (4, 0.0, True)
    assert as_loss("nce") == NCE() and as_loss(NCE().to_spec()) == NCE()
    with pytest.raises(ValueError, match="backend='torch'"):
        NumbaMatrixFactorization(loss="nce")
    with pytest.raises(ValueError, match="backend='torch'"):
        MatrixFactorization(loss="nce", backend="numba")


def test_mf_nce_save_load_round_trip(tiny, tmp_path):
    m = MatrixFactorization(factors=4, loss="nce", sampler=NegativeSampler(k=2, alpha=0.5), epochs=1)
    m.fit(tiny, show_progress=False)
    m.save(tmp_path / "m.npz")
    m2 = MatrixFactorization.load(tmp_path / "m.npz")
    assert isinstance(m2.loss, NCE) and type(m2) is TorchMatrixFactorization
    np.testing.assert_array_equal(m2.item_factors, m.item_factors)


def test_skipgram_nce_save_load_round_trip(synth, tmp_path):
    m = Item2Vec(vector_size=4, epochs=1, workers=1, progress=False, loss="nce").fit(synth.interactions)
    m.save(tmp_path / "i.npz")
    assert Item2Vec.load(tmp_path / "i.npz").loss == "nce"
    w = Word2Vec([["a", "b", "c"]] * 20, min_count=1, epochs=1, vector_size=4, progress=False, loss="nce")
    w.save(tmp_path / "w.npz")
    assert Word2Vec.load(tmp_path / "w.npz").loss == "nce"


@pytest.mark.parametrize("kw,needle", [
    ({"sampler": DynamicNegativeSampler(NegativeSampler(k=1, alpha=0.0), m=4)}, "DynamicNegativeSampler"),
    ({"sampler": WarpSampler(NegativeSampler(k=1, alpha=0.0))}, "WarpSampler"),
    ({"sampler": AllItems()}, "AllItems"),
    ({"sampler": InBatchSampler(logq=False)}, "logq=False"),
    ({"sampler": MixedSampler(InBatchSampler(), NegativeSampler(k=8), shared=True)}, "MixedSampler"),
])
def test_mf_nce_refuses_samplers_without_a_law(kw, needle):
    with pytest.raises(ValueError, match="nce") as e:
        MatrixFactorization(loss="nce", **kw)
    assert needle in str(e.value)
    with pytest.raises(ValueError, match="score='dot'"):
        NCE(score="cosine")


def test_mf_nce_refuses_warp_loss_combination_and_zero_q(tiny):
    with pytest.raises(ValueError, match="WarpSampler"):
        TorchMatrixFactorization(loss="nce", sampler=WarpSampler(NegativeSampler(k=1)))
    w = np.ones(tiny.n_items)
    w[int(tiny.csr.indices[0])] = 0.0  # an item with positives that the proposal never draws
    m = MatrixFactorization(factors=4, loss="nce", sampler=NegativeSampler(k=2, weights=w), epochs=1)
    with pytest.raises(ValueError, match=r"q\(i\) > 0.*weights"):
        m.fit(tiny, show_progress=False)


def test_skipgram_nce_bad_inputs(synth):
    with pytest.raises(ValueError, match="loss must be 'sgns'"):
        Item2Vec(loss="hs")
    with pytest.raises(ValueError, match="loss='nce'.*DynamicNegativeSampler"):
        Item2Vec(loss="nce", sampler=DynamicNegativeSampler(NegativeSampler(k=5), m=4))
    with pytest.raises(ValueError, match="negative must be >= 1"):
        Word2Vec(loss="nce", negative=0)
    w = np.ones(synth.interactions.n_items)
    w[int(synth.interactions.csr.indices[0])] = 0.0
    with pytest.raises(ValueError, match=r"q\(w\) > 0.*weights"):
        Item2Vec(epochs=1, progress=False, loss="nce", sampler=NegativeSampler(k=2, weights=w)).fit(
            synth.interactions)


# ---------------------------------------------------------------------------------- CLI and lab
@pytest.fixture(scope="module")
def events(tmp_path_factory):
    d = tmp_path_factory.mktemp("nce_cli")
    data = make_synthetic(n_users=200, n_items=80, n_clusters=4, interactions_per_user=10, seed=0)
    p = d / "events.csv"
    data.interactions.to_dataframe().to_csv(p, index=False)
    corpus = d / "corpus.txt"
    rng = np.random.default_rng(0)
    corpus.write_text(" ".join(f"w{i}" for i in rng.integers(0, 40, 5000)))
    return p, corpus


@pytest.mark.parametrize("kind", ["mf", "item2vec", "word2vec"])
def test_cli_train_loss_nce_end_to_end(events, tmp_path, capsys, kind):
    csv, corpus = events
    src = ["--corpus", str(corpus), "--min-count", "1"] if kind == "word2vec" else ["--csv", str(csv)]
    out = tmp_path / kind
    rc = main(["-q", "train", kind, *src, "--loss", "nce", "--factors", "4", "--epochs", "2", "--negatives", "3",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((out / "meta.json").read_text())["params"]["loss"] == "nce"
    if kind == "mf":
        assert isinstance(MatrixFactorization.load(out / "model.npz").loss, NCE)
    elif kind == "item2vec":
        assert Item2Vec.load(out / "model.npz").loss == "nce"
    else:
        assert (out / "vectors.txt").exists()


@pytest.mark.parametrize("argv,needle", [
    (["train", "mf", "--loss", "sgns"], "--loss sgns applies to word2vec and item2vec"),
    (["train", "item2vec", "--loss", "softmax"], "--loss softmax applies to mf"),
    (["train", "mf", "--loss", "nce", "--hard", "dns:4"], "DynamicNegativeSampler"),
    (["train", "item2vec", "--loss", "nce", "--hard", "dns:4"], "DynamicNegativeSampler"),
    (["lab", "--model", "item2vec", "--loss", "bce"], "--loss bce applies to mf"),
])
def test_cli_nce_bad_inputs_are_one_line(events, tmp_path, capsys, argv, needle):
    csv, _ = events
    rc = main(["-q", *argv, "--csv", str(csv), "--epochs", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "o").exists()


def test_lab_with_nce_runs_in_batch_and_skips_dns(planted, tmp_path):
    _, train, test, _ = planted
    lines: list[str] = []
    res = run_lab(train, test, tmp_path / "lab", model="mf", loss="nce", alphas=[0.75], ks=[4], exclusion="on",
                  dns=4, in_batch=True, epochs=2, factors=8, plot=False, schedules=False, echo=lines.append)
    stages = [r["stage"] for r in res.rows]
    assert "4: in-batch" in stages and "4: hard" not in stages
    assert any("skips DNS" in line for line in lines)
    assert json.loads((tmp_path / "lab" / "meta.json").read_text())["loss"] == "nce"
    assert res.test_metrics is not None
    res = run_lab(train, test, tmp_path / "lab2", model="item2vec", loss="nce", alphas=[0.75], ks=[4],
                  exclusion="on", epochs=2, factors=8, plot=False, schedules=False)
    assert res.best is not None and json.loads((tmp_path / "lab2" / "meta.json").read_text())["loss"] == "nce"
    with pytest.raises(ValueError, match="does not train model='item2vec'"):
        run_lab(train, test, tmp_path / "lab3", model="item2vec", loss="bpr")
