"""Loss functions and negative drawing of the MF engines: gradients, exact values, distributions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from recneg.engine.bpr import bpr_epoch, bpr_update
from recneg.engine.mf_torch import bce_loss, bpr_loss, ccl_loss, sampled_softmax_loss
from recneg.sampling._rng import seed_states
from recneg.sampling.kernels import KernelSampler
from recneg.sampling.torch_draws import SeenIndex, draw_per_example, shared_valid_mask

NO_TRACE = np.zeros((0, 2), np.int64)  # bpr_epoch records nothing


def _t(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).requires_grad_(True)


def _mask(B, N, seed=1):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(B, N, generator=g) > 0.3
    m[0] = False  # one row without valid negatives
    return m


# ----------------------------------------------------------------- gradcheck
def test_gradcheck_bpr_plain_and_importance_weighted():
    pos, neg = _t(4, seed=0), _t(4, 5, seed=1)
    valid = _mask(4, 5)
    lq = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25], dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda p, n: bpr_loss(p, n, valid), (pos, neg))
    assert torch.autograd.gradcheck(lambda p, n: bpr_loss(p, n, valid, lq), (pos, neg))


def test_gradcheck_bce():
    pos, neg = _t(4, seed=2), _t(4, 3, seed=3)
    valid = _mask(4, 3)
    assert torch.autograd.gradcheck(lambda p, n: bce_loss(p, n, valid, 0.5), (pos, neg))


def test_gradcheck_sampled_softmax_with_logq_and_mask():
    pos, neg = _t(4, seed=4), _t(4, 6, seed=5)
    valid = _mask(4, 6)
    plq = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    nlq = torch.log(torch.linspace(0.05, 0.3, 6, dtype=torch.float64))
    assert torch.autograd.gradcheck(
        lambda p, n: sampled_softmax_loss(p, n, valid, plq, nlq, temperature=0.2), (pos, neg))


def test_gradcheck_ccl_through_cosine():
    # gradient of the whole cosine + CCL path w.r.t. raw embeddings
    u, i, j = _t(3, 4, seed=6), _t(3, 4, seed=7), _t(5, 4, seed=8)

    def f(u, i, j):
        un, inn, jn = (torch.nn.functional.normalize(x, dim=-1) for x in (u, i, j))
        return ccl_loss((un * inn).sum(-1), un @ jn.T, None, margin=-0.2, negative_weight=3.0)

    # keep every cosine away from the relu kink at the margin
    with torch.no_grad():
        un = torch.nn.functional.normalize(u, dim=-1)
        jn = torch.nn.functional.normalize(j, dim=-1)
        assert (un @ jn.T + 0.2).abs().min() > 1e-3
    assert torch.autograd.gradcheck(f, (u, i, j))


# ------------------------------------------------------------- exact values
def test_softmax_exact_value_and_logq():
    pos = torch.tensor([1.0, 0.0], dtype=torch.float64)
    neg = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=torch.float64)
    valid = torch.tensor([[True, True], [False, True]])
    # row 0: -log(e^1 / (e^1 + e^.5 + e^-1)); row 1: -log(e^0 / (e^0 + e^0))
    want = (-(1 - math.log(math.e + math.exp(0.5) + math.exp(-1))) + math.log(2)) / 2
    assert sampled_softmax_loss(pos, neg, valid).item() == pytest.approx(want, rel=1e-12)
    # logQ with temperature 0.5: logits s/T - log q
    plq = torch.log(torch.tensor([0.5, 0.25], dtype=torch.float64))
    nlq = torch.log(torch.tensor([0.25, 0.125], dtype=torch.float64))
    lp = pos / 0.5 - plq
    ln = neg / 0.5 - nlq
    r0 = -lp[0] + torch.logsumexp(torch.stack([lp[0], ln[0, 0], ln[0, 1]]), 0)
    r1 = -lp[1] + torch.logsumexp(torch.stack([lp[1], ln[1, 1]]), 0)
    got = sampled_softmax_loss(pos, neg, valid, plq, nlq, temperature=0.5)
    assert got.item() == pytest.approx(((r0 + r1) / 2).item(), rel=1e-12)


def test_ccl_bce_bpr_exact_values():
    pos = torch.tensor([0.9, 0.2], dtype=torch.float64)
    neg = torch.tensor([[0.95, 0.1, 0.85], [0.3, 0.95, -0.4]], dtype=torch.float64)
    valid = torch.tensor([[True, True, False], [True, True, True]])
    # CCL margin .8, w=6: row0 (1-.9) + 6*(.15+0)/2; row1 (1-.2) + 6*(0+.15+0)/3
    want = ((0.1 + 6 * 0.15 / 2) + (0.8 + 6 * 0.15 / 3)) / 2
    assert ccl_loss(pos, neg, valid, margin=0.8, negative_weight=6.0).item() == pytest.approx(want, rel=1e-9)
    sp_ = lambda x: math.log1p(math.exp(x))  # noqa: E731
    want = ((sp_(-0.9) + sp_(0.95) + sp_(0.1)) + (sp_(-0.2) + sp_(0.3) + sp_(0.95) + sp_(-0.4))) / 2
    assert bce_loss(pos, neg, valid).item() == pytest.approx(want, rel=1e-12)
    want = ((sp_(0.05) + sp_(-0.8)) / 2 + (sp_(0.1) + sp_(0.75) + sp_(-0.6)) / 3) / 2
    assert bpr_loss(pos, neg, valid).item() == pytest.approx(want, rel=1e-12)
    # importance weights ∝ 1/q over valid negatives
    q = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    w0 = np.array([2.0, 4.0]) / 6.0
    w1 = np.array([2.0, 4.0, 4.0]) / 10.0
    want = (w0 @ [sp_(0.05), sp_(-0.8)] + w1 @ [sp_(0.1), sp_(0.75), sp_(-0.6)]) / 2
    assert bpr_loss(pos, neg, valid, torch.log(q)).item() == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------- numba BPR update
def _np_bpr_step(U, V, b, u, i, j, lr, reg, use_bias):
    U, V, b = U.astype(np.float64), V.astype(np.float64), b.astype(np.float64)
    x = U[u] @ (V[i] - V[j]) + (b[i] - b[j] if use_bias else 0.0)
    g = 1.0 / (1.0 + np.exp(x))  # d(-log sigmoid x)/dx = -g
    dU = g * (V[i] - V[j]) - reg * U[u]
    dVi = g * U[u] - reg * V[i]
    dVj = -g * U[u] - reg * V[j]
    U2, V2, b2 = U.copy(), V.copy(), b.copy()
    U2[u] += lr * dU
    V2[i] += lr * dVi
    V2[j] += lr * dVj
    if use_bias:
        b2[i] += lr * (g - reg * b[i])
        b2[j] += lr * (-g - reg * b[j])
    return U2, V2, b2, np.log1p(np.exp(-x))


@pytest.mark.parametrize("use_bias", [False, True])
def test_numba_bpr_step_matches_hand_gradient(use_bias):
    rng = np.random.default_rng(0)
    U = rng.standard_normal((3, 5)).astype(np.float32)
    V = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    want = _np_bpr_step(U, V, b, 1, 2, 0, 0.1, 0.03, use_bias)
    loss = bpr_update(U, V, b, 1, 2, 0, 0.1, 0.03, use_bias)
    np.testing.assert_allclose(U, want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(V, want[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, want[2], rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(want[3], rel=1e-5)


def test_numba_bpr_step_equals_torch_autograd_sgd():
    """numba update == one SGD step on torch bpr_loss + reg/2 * ||params||^2."""
    rng = np.random.default_rng(1)
    U = rng.standard_normal((2, 6)).astype(np.float32)
    V = rng.standard_normal((3, 6)).astype(np.float32)
    b = np.zeros(3, np.float32)
    lr, reg = 0.05, 0.02
    Ut = torch.tensor(U, dtype=torch.float64, requires_grad=True)
    Vt = torch.tensor(V, dtype=torch.float64, requires_grad=True)
    u, i, j = 0, 1, 2
    loss = bpr_loss((Ut[u] * Vt[i]).sum().reshape(1), (Ut[u] * Vt[j]).sum().reshape(1, 1))
    loss = loss + 0.5 * reg * (Ut[u].pow(2).sum() + Vt[i].pow(2).sum() + Vt[j].pow(2).sum())
    loss.backward()
    bpr_update(U, V, b, u, i, j, lr, reg, False)
    np.testing.assert_allclose(U, (Ut - lr * Ut.grad).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(V, (Vt - lr * Vt.grad).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_bpr_epoch_single_pair_is_one_step():
    """A one-pair epoch with one unseen item equals a single hand step (negative is forced)."""
    rng = np.random.default_rng(2)
    U = rng.standard_normal((1, 4)).astype(np.float32)
    V = rng.standard_normal((3, 4)).astype(np.float32)
    b = np.zeros(3, np.float32)
    X = sp.csr_matrix(np.array([[1.0, 1.0, 0.0]], np.float32))  # user saw items 0, 1 -> negative must be 2
    want = _np_bpr_step(U, V, b, 0, 0, 2, 0.1, 0.01, False)
    loss, done = bpr_epoch(U, V, b, np.array([0], np.int32), np.array([0], np.int32), np.array([0], np.int64),
                           1, 1, 0, 0.1, 0.01, False, seed_states(0, 1), NO_TRACE,
                           *KernelSampler.uniform(3, X, exclude_seen=True).args)
    assert done == 1
    np.testing.assert_allclose(V, want[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(U, want[0], rtol=1e-5, atol=1e-6)


def test_bpr_epoch_dns_picks_highest_scoring_candidate():
    # user vector points at item 3; with many DNS candidates item 3 (highest score) is always the negative
    U = np.array([[1.0, 0.0]], np.float32)
    V = np.array([[0.0, 1.0], [0.0, -1.0], [0.1, 0.0], [5.0, 0.0]], np.float32)
    b = np.zeros(4, np.float32)
    X = sp.csr_matrix(np.array([[1.0, 0.0, 0.0, 0.0]], np.float32))
    V0 = V.copy()
    bpr_epoch(U, V, b, np.array([0], np.int32), np.array([0], np.int32), np.array([0], np.int64),
              1, 64, 0, 0.1, 0.0, False, seed_states(3, 1), NO_TRACE, *KernelSampler.uniform(4, X, exclude_seen=True).args)
    changed = np.flatnonzero(np.abs(V - V0).sum(1) > 0)
    assert set(changed) == {0, 3}


def test_bpr_epoch_dns_pool_scores_once_per_user_and_refreshes_the_pick():
    """Pool DNS: the best pool item is picked; after its update its pool score is refreshed, so a
    user block of two pairs moves from the hardest item to the next one once the first is pushed down."""
    U = np.array([[1.0, 0.0]], np.float32)
    V = np.array([[0.0, 1.0], [0.0, -1.0], [0.1, 0.0], [0.3, 0.0], [5.0, 0.0]], np.float32)
    b = np.zeros(5, np.float32)
    X = sp.csr_matrix(np.array([[1.0, 0.0, 0.0, 0.0, 0.0]], np.float32))
    ks = KernelSampler.uniform(5, X, exclude_seen=True).args
    # one pair, pool of 32 draws over the 4 unseen items: item 4 (score 5) is the negative
    V1 = V.copy()
    U1 = U.copy()
    bpr_epoch(U1, V1, b, np.array([0], np.int32), np.array([0], np.int32), np.array([0], np.int64), 1, 64, 32, 0.1,
              0.0, False, seed_states(3, 1), NO_TRACE, *ks)
    assert set(np.flatnonzero(np.abs(V1 - V).sum(1) > 0)) == {0, 4}
    # the step pushes item 4 (refreshed score -2.3) below item 3 (0.3): the same user's second pair picks item 3
    V2 = V.copy()
    U2 = U.copy()
    bpr_epoch(U2, V2, b, np.array([0, 0], np.int32), np.array([0, 0], np.int32), np.array([0, 1], np.int64), 1, 64,
              32, 0.3, 0.0, False, seed_states(3, 1), NO_TRACE, *ks)
    assert set(np.flatnonzero(np.abs(V2 - V).sum(1) > 0)) == {0, 3, 4}


@pytest.mark.parametrize("alpha", [0.0, 0.75])
def test_kernel_negatives_follow_proposal_minus_seen_chi_square(alpha):
    counts = np.array([50, 20, 10, 5, 5, 3, 2, 1, 1, 1], np.float64)
    X = sp.csr_matrix(np.array([[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]] * 2, np.float32))
    w = counts ** alpha
    ks = KernelSampler.uniform(10, X, True) if alpha == 0 else KernelSampler.from_weights(w, X, True)
    n = 60_000
    out = ks.sample(np.zeros(n, np.int64), 1, seed=0).ravel()
    assert out.min() >= 0
    obs = np.bincount(out, minlength=10)
    assert obs[0] == 0 and obs[3] == 0
    keep = np.array([i not in (0, 3) for i in range(10)])
    exp = w[keep] / w[keep].sum() * n
    assert stats.chisquare(obs[keep], exp).pvalue > 1e-3


def test_kernel_sampler_has_no_negative_for_a_user_who_saw_everything():
    X = sp.csr_matrix(np.ones((1, 3), np.float32))  # user saw everything
    ks = KernelSampler.uniform(3, X, exclude_seen=True)
    assert (ks.sample(np.zeros(5, np.int64), 2, seed=0) == -1).all()
    with pytest.raises(ValueError, match="user 0 has seen every item the sampler can draw"):
        ks.check_drawable()


# ------------------------------------------------------ torch negative drawing
def _rand_csr(n_users=30, n_items=25, density=0.3, seed=0):
    X = sp.random(n_users, n_items, density=density, format="csr", random_state=seed, dtype=np.float32)
    X.data[:] = 1
    X.sort_indices()
    return X


def test_seen_index_and_shared_mask_match_brute_force():
    X = _rand_csr()
    D = X.toarray() > 0
    seen = SeenIndex(X.indptr, X.indices, X.shape[1])
    g = torch.Generator().manual_seed(0)
    users = torch.randint(0, 30, (40,), generator=g)
    items = torch.randint(0, 25, (40, 7), generator=g)
    got = seen.contains(users[:, None], items).numpy()
    np.testing.assert_array_equal(got, D[users.numpy()[:, None], items.numpy()])
    pos = torch.randint(0, 25, (40,), generator=g)
    negs = torch.randint(0, 25, (60,), generator=g)  # with duplicates
    valid = shared_valid_mask(users, pos, negs, seen).numpy()
    want = ~D[users.numpy()[:, None], negs.numpy()[None, :]] & (negs.numpy()[None, :] != pos.numpy()[:, None])
    np.testing.assert_array_equal(valid, want)
    valid = shared_valid_mask(users, pos, negs, None).numpy()
    np.testing.assert_array_equal(valid, negs.numpy()[None, :] != pos.numpy()[:, None])


def test_draw_per_example_excludes_seen_and_flags_impossible_rows():
    X = _rand_csr(density=0.5, seed=3)
    X = sp.vstack([X, sp.csr_matrix(np.ones((1, 25), np.float32))]).tocsr()  # last user saw everything
    X.sort_indices()
    D = X.toarray() > 0
    seen = SeenIndex(X.indptr, X.indices, X.shape[1])
    g = torch.Generator().manual_seed(1)
    users = torch.arange(31)
    items, valid = draw_per_example(users, (31, 4), lambda n: torch.randint(0, 25, (n,), generator=g), seen, 64)
    it, va = items.numpy(), valid.numpy()
    assert not va[30].any()
    assert va[:30].all()
    assert not D[np.arange(30)[:, None], it[:30]].any()


def test_shuffle_inplace_is_a_seeded_uniform_permutation():
    from recneg.engine.bpr import shuffle_inplace

    a = np.arange(1000, dtype=np.int64)
    b = np.arange(1000, dtype=np.int64)
    sa = shuffle_inplace(a, np.uint64(7))
    sb = shuffle_inplace(b, np.uint64(7))
    np.testing.assert_array_equal(a, b)
    assert sa == sb
    np.testing.assert_array_equal(np.sort(a), np.arange(1000))
    # position of element 0 over many shuffles of a 5-array is uniform
    pos = np.zeros(5, np.int64)
    s = np.uint64(11)
    for _ in range(5000):
        o = np.arange(5, dtype=np.int64)
        s = np.uint64(shuffle_inplace(o, s))
        pos[int(np.flatnonzero(o == 0)[0])] += 1
    assert stats.chisquare(pos).pvalue > 1e-3


# ------------------------------------------------------- user-batched losses
def test_per_user_rows_equal_expanded_per_pair_losses():
    """rows=b with (R, N) negatives == the per-pair loss with neg[b], valid[b] (values and gradients)."""
    R, N = 4, 6
    rows = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    pos = _t(rows.numel(), seed=3)
    neg = _t(R, N, seed=4)
    valid = _mask(R, N)
    lq = _t(N, seed=5).detach()
    plq = _t(rows.numel(), seed=6).detach()
    cases = [
        (lambda p, n, v, r: sampled_softmax_loss(p, n, v, plq, lq, 0.3, rows=r),
         lambda p, n, v: sampled_softmax_loss(p, n, v, plq, lq, 0.3)),
        (lambda p, n, v, r: ccl_loss(p, n, v, 0.2, 7.0, rows=r), lambda p, n, v: ccl_loss(p, n, v, 0.2, 7.0)),
        (lambda p, n, v, r: bce_loss(p, n, v, 2.0, rows=r), lambda p, n, v: bce_loss(p, n, v, 2.0)),
        (lambda p, n, v, r: bpr_loss(p, n, v, rows=r), lambda p, n, v: bpr_loss(p, n, v)),
    ]
    for per_user, per_pair in cases:
        a = per_user(pos, neg, valid, rows)
        ga = torch.autograd.grad(a, (pos, neg))
        b = per_pair(pos, neg[rows], valid[rows])
        gb = torch.autograd.grad(b, (pos, neg))
        assert torch.allclose(a, b, atol=1e-12), (a, b)
        for x, y in zip(ga, gb):
            assert torch.allclose(x, y, atol=1e-12)
    assert torch.autograd.gradcheck(lambda p, n: sampled_softmax_loss(p, n, valid, plq, lq, 0.3, rows=rows),
                                    (pos, neg))
    assert torch.autograd.gradcheck(lambda p, n: ccl_loss(p, n, valid, 0.2, 7.0, rows=rows), (pos, neg))


def test_user_block_order_groups_pairs_by_user_and_is_seeded():
    from recneg.engine.bpr import user_block_order

    indptr = np.array([0, 3, 3, 7, 8, 12], dtype=np.int64)  # user 1 has no pairs
    outs = []
    for _ in range(2):
        users = np.arange(5, dtype=np.int64)
        order = np.empty(12, dtype=np.int64)
        st = user_block_order(indptr, users, order, np.uint64(5))
        outs.append((order.copy(), st))
        np.testing.assert_array_equal(np.sort(order), np.arange(12))
        owner = np.repeat(np.arange(5), np.diff(indptr))[order]
        # one contiguous block per user, in the shuffled user order
        change = np.flatnonzero(np.diff(owner)) + 1
        blocks = [int(b[0]) for b in np.split(owner, change)]
        assert blocks == [int(u) for u in users if indptr[u + 1] > indptr[u]]
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert outs[0][1] == outs[1][1]
    # within-block order is uniform: first pair of user 2's block (4 pairs) over many epochs
    users = np.arange(5, dtype=np.int64)
    order = np.empty(12, dtype=np.int64)
    first = np.zeros(4, np.int64)
    s = np.uint64(9)
    for _ in range(4000):
        s = np.uint64(user_block_order(indptr, users, order, s))
        blk = order[np.isin(order, np.arange(3, 7))]
        first[int(blk[0]) - 3] += 1
    assert stats.chisquare(first).pvalue > 1e-3
