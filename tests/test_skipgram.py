"""Kernel-level tests: single updates against numpy, numba vs torch, kernel bookkeeping."""
import numba
import numpy as np
import pytest
import torch

from recneg.engine import skipgram as K
from recneg.engine import skipgram_torch as KT
from recneg.sampling.alias import AliasTable
from recneg.sampling._rng import seed_states


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _weights(V=7, d=4, seed=0):
    rng = np.random.default_rng(seed)
    syn0 = rng.normal(0, 0.5, (V, d)).astype(np.float32)
    syn1 = rng.normal(0, 0.5, (V, d)).astype(np.float32)
    return syn0, syn1


def np_sg_pair(syn0, syn1, context, centre, negs, lr):
    syn0, syn1 = syn0.astype(np.float64), syn1.astype(np.float64)
    l1 = syn0[context].copy()
    neu1e = np.zeros_like(l1)
    loss = 0.0
    for t, label in [(centre, 1.0)] + [(n, 0.0) for n in negs]:
        f = l1 @ syn1[t]
        loss += -np.log(_sig(f)) if label else -np.log(_sig(-f))
        g = (label - _sig(f)) * lr
        neu1e += g * syn1[t]
        syn1[t] += g * l1
    syn0[context] += neu1e
    return syn0, syn1, loss


def np_sg_shared(syn0, syn1, contexts, targets, lr):
    syn0, syn1 = syn0.astype(np.float64), syn1.astype(np.float64)
    C = syn0[contexts]
    T = syn1[targets]
    F = C @ T.T
    labels = np.zeros(len(targets))
    labels[0] = 1
    loss = np.sum(np.log1p(np.exp(-F[:, 0]))) + np.sum(np.log1p(np.exp(F[:, 1:])))
    G = (labels[None, :] - _sig(F)) * lr
    np.add.at(syn1, targets, G.T @ C)
    np.add.at(syn0, contexts, G @ T)
    return syn0, syn1, loss


def np_cbow(syn0, syn1, contexts, centre, negs, lr):
    syn0, syn1 = syn0.astype(np.float64), syn1.astype(np.float64)
    h = syn0[contexts].mean(0)
    neu1e = np.zeros_like(h)
    loss = 0.0
    for t, label in [(centre, 1.0)] + [(n, 0.0) for n in negs]:
        f = h @ syn1[t]
        loss += -np.log(_sig(f)) if label else -np.log(_sig(-f))
        g = (label - _sig(f)) * lr
        neu1e += g * syn1[t]
        syn1[t] += g * h
    # word2vec / gensim (cbow_mean=1) convention: each context word gets the undivided neu1e
    np.add.at(syn0, contexts, np.broadcast_to(neu1e, (len(contexts), len(h))))
    return syn0, syn1, loss


def test_sg_pair_update_matches_numpy():
    syn0, syn1 = _weights()
    negs = np.array([3, 5, 3], dtype=np.int64)  # repeated negative: sequential semantics
    e0, e1, eloss = np_sg_pair(syn0, syn1, 2, 4, negs, 0.1)
    neu1e = np.zeros(4, np.float32)
    loss = K.sg_pair_update(syn0, syn1, neu1e, 2, 4, negs, 3, np.float32(0.1), True)
    np.testing.assert_allclose(syn0, e0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, e1, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(eloss, rel=1e-5)
    # untouched rows stay identical
    s0, s1 = _weights()
    assert np.array_equal(syn0[[0, 1, 3, 4, 5, 6]], s0[[0, 1, 3, 4, 5, 6]])
    assert np.array_equal(syn1[[0, 1, 2, 6]], s1[[0, 1, 2, 6]])


def test_sg_shared_update_matches_numpy():
    syn0, syn1 = _weights()
    contexts = np.array([0, 2, 2, 6], dtype=np.int64)  # a repeated context word
    targets = np.array([4, 1, 5, 1], dtype=np.int64)   # centre + negatives (one repeated)
    e0, e1, eloss = np_sg_shared(syn0, syn1, contexts, targets, 0.05)
    G = np.zeros((8, 8), np.float32)
    E = np.zeros((8, 4), np.float32)
    loss = K.sg_shared_update(syn0, syn1, G, E, contexts, 4, targets, 4, np.float32(0.05), True)
    np.testing.assert_allclose(syn0, e0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, e1, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(eloss, rel=1e-5)


def test_shared_update_with_one_context_equals_pair_update():
    a0, a1 = _weights(seed=3)
    b0, b1 = a0.copy(), a1.copy()
    negs = np.array([1, 5], dtype=np.int64)
    K.sg_pair_update(a0, a1, np.zeros(4, np.float32), 2, 4, negs, 2, np.float32(0.1), False)
    K.sg_shared_update(b0, b1, np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32),
                       np.array([2], np.int64), 1, np.array([4, 1, 5], np.int64), 3, np.float32(0.1), False)
    np.testing.assert_allclose(a0, b0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a1, b1, rtol=1e-6, atol=1e-7)


def test_cbow_update_matches_numpy():
    syn0, syn1 = _weights()
    contexts = np.array([0, 3, 6, 3], dtype=np.int64)
    negs = np.array([2, 5], dtype=np.int64)
    e0, e1, eloss = np_cbow(syn0, syn1, contexts, 1, negs, 0.2)
    loss = K.cbow_update(syn0, syn1, np.zeros(4, np.float32), np.zeros(4, np.float32), contexts, 4, 1, negs, 2,
                         np.float32(0.2), True)
    np.testing.assert_allclose(syn0, e0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(syn1, e1, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(eloss, rel=1e-5)


def test_torch_sg_step_equals_numba_sequence():
    """Feed the same (context, centre, negatives) stream to both kernels, one pair at a time."""
    rng = np.random.default_rng(5)
    V, d, k = 11, 6, 3
    syn0, syn1 = _weights(V, d, seed=1)
    t0, t1 = torch.tensor(syn0), torch.tensor(syn1)
    neu1e = np.zeros(d, np.float32)
    for _ in range(40):
        ctx, cen = rng.integers(0, V, 2)
        negs = rng.choice(np.setdiff1d(np.arange(V), [cen]), k, replace=False).astype(np.int64)
        lr = float(rng.uniform(0.01, 0.2))
        l_nb = K.sg_pair_update(syn0, syn1, neu1e, ctx, cen, negs, k, np.float32(lr), True)
        l_t = KT.sg_step(t0, t1, torch.tensor([ctx]), torch.tensor([cen]), torch.tensor(negs)[None], lr)
        assert float(l_t[0]) == pytest.approx(l_nb, rel=1e-4)
    np.testing.assert_allclose(t0.numpy(), syn0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(t1.numpy(), syn1, rtol=1e-4, atol=1e-5)


def test_torch_cbow_step_equals_numba_sequence():
    rng = np.random.default_rng(6)
    V, d, k, m = 13, 5, 2, 4
    syn0, syn1 = _weights(V, d, seed=2)
    t0, t1 = torch.tensor(syn0), torch.tensor(syn1)
    n1, n1e = np.zeros(d, np.float32), np.zeros(d, np.float32)
    for _ in range(30):
        cen = int(rng.integers(0, V))
        nc = int(rng.integers(1, m + 1))
        ctx = rng.integers(0, V, m).astype(np.int64)
        negs = rng.choice(np.setdiff1d(np.arange(V), [cen]), k, replace=False).astype(np.int64)
        lr = float(rng.uniform(0.01, 0.2))
        l_nb = K.cbow_update(syn0, syn1, n1, n1e, ctx, nc, cen, negs, k, np.float32(lr), True)
        mask = torch.arange(m) < nc
        l_t = KT.cbow_step(t0, t1, torch.tensor(ctx)[None], mask[None], torch.tensor([cen]), torch.tensor(negs)[None], lr)
        assert float(l_t[0]) == pytest.approx(l_nb, rel=1e-4)
    np.testing.assert_allclose(t0.numpy(), syn0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(t1.numpy(), syn1, rtol=1e-4, atol=1e-5)


def test_torch_batched_sg_step_matches_numpy_on_disjoint_pairs():
    V, d = 12, 4
    syn0, syn1 = _weights(V, d, seed=4)
    ctx = np.array([0, 1, 2])
    cen = np.array([3, 4, 5])
    negs = np.array([[6, 7], [8, 9], [10, 11]])
    e0, e1 = syn0.copy(), syn1.copy()
    for i in range(3):
        e0, e1, _ = np_sg_pair(e0, e1, ctx[i], cen[i], negs[i], 0.1)
    t0, t1 = torch.tensor(syn0), torch.tensor(syn1)
    KT.sg_step(t0, t1, torch.tensor(ctx), torch.tensor(cen), torch.tensor(negs), 0.1)
    np.testing.assert_allclose(t0.numpy(), e0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t1.numpy(), e1, rtol=1e-5, atol=1e-6)


def _run_kernel(tokens, offsets, V, d=8, sg=1, shared=0, dynamic=1, window=2, negative=3, keep=None, seed=7,
                n_chunks=1, compute_loss=True):
    rng = np.random.default_rng(0)
    syn0 = ((rng.random((V, d)) - 0.5) / d).astype(np.float32)
    syn1 = np.zeros((V, d), np.float32)
    table = AliasTable(np.ones(V))
    keep = np.ones(V, np.float32) if keep is None else keep
    bounds = K.chunk_bounds(offsets, n_chunks)
    st = seed_states(seed, n_chunks)
    ol, op, ow = np.zeros(n_chunks), np.zeros(n_chunks, np.int64), np.zeros(n_chunks, np.int64)
    old = numba.get_num_threads()
    numba.set_num_threads(1)  # chunks run one after the other: no Hogwild races, exact reproducibility
    try:
        e64, e32 = np.zeros(1, np.int64), np.zeros(0, np.int32)
        K.train_chunks(syn0, syn1, tokens, offsets, bounds, 0, n_chunks, keep, np.zeros(0, np.int64), st, window,
                       negative, 0, sg, shared, dynamic, 0.025, 1e-4, 0.0, 1.0, compute_loss, ol, op, ow,
                       np.zeros((0, 2), np.int64), False, 1, table.prob, table.alias, table.p, np.zeros(1), e64, e32,
                       np.zeros(0), e64, e32, e32)
    finally:
        numba.set_num_threads(old)
    return syn0, syn1, ol, op, ow


def test_kernel_pair_count_fixed_window_respects_sentences():
    tokens = np.arange(10, dtype=np.int32) % 5
    offsets = np.array([0, 4, 10], dtype=np.int64)  # sentences of 4 and 6 tokens
    w = 2

    def pairs(n):
        return sum(min(i, w) + min(n - 1 - i, w) for i in range(n))

    for sg, shared in [(1, 0), (1, 1)]:
        _, _, _, op, ow = _run_kernel(tokens, offsets, 5, sg=sg, shared=shared, dynamic=0, window=w)
        assert op.sum() == pairs(4) + pairs(6)
        assert ow.sum() == 10
    _, _, _, op, _ = _run_kernel(tokens, offsets, 5, sg=0, dynamic=0, window=w)
    assert op.sum() == 10  # one CBOW update per centre word


def test_kernel_dynamic_window_mean_pairs():
    # one long sentence, window 4: effective window uniform in 1..4 -> mean 2 * 2.5 = 5 pairs per centre
    n = 20000
    tokens = (np.arange(n) % 50).astype(np.int32)
    offsets = np.array([0, n], dtype=np.int64)
    _, _, _, op, _ = _run_kernel(tokens, offsets, 50, window=4, compute_loss=False)
    assert abs(op.sum() / n - 5.0) < 0.05


def test_kernel_subsampling_rate():
    n = 20000
    tokens = (np.arange(n) % 2).astype(np.int32)
    offsets = np.array([0, n], dtype=np.int64)
    keep = np.array([1.0, 0.25], np.float32)
    _, _, _, op, _ = _run_kernel(tokens, offsets, 2, sg=0, window=1, keep=keep, compute_loss=False)
    # kept tokens: n/2 + n/8 -> CBOW updates (every kept centre has a neighbour)
    expected = n / 2 + n / 8
    assert abs(op.sum() - expected) < 4 * np.sqrt(n / 2 * 0.25 * 0.75) + 2


def test_kernel_reproducible_single_thread_and_seed_dependent():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 30, 3000).astype(np.int32)
    offsets = np.arange(0, 3001, 100).astype(np.int64)
    a = _run_kernel(tokens, offsets, 30, n_chunks=3)
    b = _run_kernel(tokens, offsets, 30, n_chunks=3)
    c = _run_kernel(tokens, offsets, 30, n_chunks=3, seed=8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_chunk_bounds_cover_all_sentences():
    offsets = np.array([0, 5, 6, 20, 21, 40], dtype=np.int64)
    b = K.chunk_bounds(offsets, 3)
    assert b[0] == 0 and b[-1] == 5 and np.all(np.diff(b) >= 0)
    b = K.chunk_bounds(offsets, 12)
    assert b[0] == 0 and b[-1] == 5 and len(b) == 13
