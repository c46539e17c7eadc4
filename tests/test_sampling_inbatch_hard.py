"""In-batch, mixed, DNS, WARP and schedules: exact values on tiny hand examples."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recneg.sampling import (
    ConstantSchedule, DynamicNegativeSampler, ExponentialSchedule, InBatchSampler, LinearSchedule,
    MixedSampler, NegativeBatch, NegativeSampler, StepSchedule, WarpSampler, as_schedule, warp_weights,
)

# 3 users x 5 items; item counts (column nnz) = [2, 1, 2, 0, 1]
DENSE = np.array(
    [[1, 0, 1, 0, 0],
     [1, 1, 0, 0, 0],
     [0, 0, 1, 0, 1]], dtype=np.float32)
M = sp.csr_matrix(DENSE)


def test_inbatch_log_q_and_masks_exact():
    s = InBatchSampler(M)
    users = np.array([0, 1, 2, 0])
    pos = np.array([2, 0, 2, 4])
    nb = s.sample(users, pos)
    np.testing.assert_array_equal(nb.items, np.tile(pos, (4, 1)))
    expected = np.log(np.array([2, 2, 2, 1]) / 6.0).astype(np.float32)
    np.testing.assert_allclose(nb.log_q, np.tile(expected, (4, 1)), rtol=1e-6)
    hit = np.array([[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(nb.valid, hit)
    seen = InBatchSampler(M, mask_seen=True).sample(users, pos)
    # user 0 has seen 0 and 2; user 2 has seen 2 and 4; user 1 has seen 0
    exp_seen = np.array([[0, 0, 0, 1], [1, 0, 1, 1], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(seen.valid, exp_seen)
    t = InBatchSampler(M, mask_seen=True).sample_torch(torch.as_tensor(users), torch.as_tensor(pos))
    np.testing.assert_array_equal(t.valid.numpy(), exp_seen)
    np.testing.assert_allclose(t.log_q.numpy(), np.tile(expected, (4, 1)), rtol=1e-6)
    assert torch.equal(t.items, torch.as_tensor(pos).expand(4, 4))


def test_inbatch_zero_count_and_bad_input():
    s = InBatchSampler(item_counts=[3, 0, 1])
    nb = s.sample(None, [1, 0])
    np.testing.assert_allclose(nb.log_q[0], np.log([1 / 4, 3 / 4]).astype(np.float32))
    unbound = InBatchSampler()  # a valid spec: a model binds it at fit; using it unbound is the error
    assert not unbound.is_bound
    with pytest.raises(ValueError, match="train or item_counts"):
        unbound.sample(None, [0])
    with pytest.raises(ValueError, match="train or item_counts"):
        unbound.sample_torch(None, torch.tensor([0]))
    no_seen = InBatchSampler(item_counts=[1, 2], mask_seen=True)
    assert not no_seen.is_bound
    with pytest.raises(ValueError, match="mask_seen"):
        no_seen.sample([0], [1])
    with pytest.raises(ValueError, match="pos_items contains 9"):
        s.sample(None, [9])
    with pytest.raises(ValueError, match=">= 0"):
        InBatchSampler(item_counts=[1, -2])


def test_mixed_concatenates_sources():
    prop = NegativeSampler(M, k=3, alpha=0.0, seed=0)
    mix = MixedSampler(InBatchSampler(M), prop)
    users, pos = np.array([0, 1]), np.array([2, 1])
    nb = mix.sample(users, pos)
    assert nb.items.shape == (2, 5) and nb.log_q.shape == (2, 5) and nb.valid.shape == (2, 5)
    np.testing.assert_array_equal(nb.items[:, :2], [[2, 1], [2, 1]])
    np.testing.assert_array_equal(nb.valid[:, :2], [[False, True], [True, False]])
    assert nb.valid[:, 2:].all()
    # proposal block: uniform over unseen -> user 0 has 3 unseen items, user 1 has 3
    np.testing.assert_allclose(nb.log_q[:, 2:], np.log(1 / 3), rtol=1e-6)
    assert not np.isin(nb.items[0, 2:], [0, 2]).any() and not np.isin(nb.items[1, 2:], [0, 1]).any()
    t = mix.sample_torch(torch.as_tensor(users), torch.as_tensor(pos))
    assert t.items.shape == (2, 5) and t.valid[:, 2:].all()


def test_dns_topk_returns_argmax_candidates():
    class FixedBase:
        def sample(self, users, pos, k):
            items = np.array([[4, 1, 3, 2], [3, 0, 1, 4]])[:, :k]
            return NegativeBatch(items, np.log(np.full(items.shape, 0.25, np.float32)), None)

        def sample_torch(self, users, pos, generator=None, k=None):
            nb = self.sample(None, None, k)
            return NegativeBatch(torch.as_tensor(nb.items), torch.as_tensor(nb.log_q), None)

    item_score = np.array([0.0, 5.0, 1.0, 3.0, 2.0])
    score_np = lambda u, c: item_score[c]  # noqa: E731
    dns = DynamicNegativeSampler(FixedBase(), score_np, m=4, k=2)
    nb = dns.sample(np.array([0, 1]))
    np.testing.assert_array_equal(nb.items, [[1, 3], [1, 3]])
    np.testing.assert_array_equal(nb.scores, [[5.0, 3.0], [5.0, 3.0]])
    score_t = lambda u, c: torch.as_tensor(item_score)[c]  # noqa: E731
    nt = DynamicNegativeSampler(FixedBase(), score_t, m=4, k=2).sample_torch(torch.tensor([0, 1]))
    np.testing.assert_array_equal(nt.items.numpy(), [[1, 3], [1, 3]])
    # m schedule: at step 0 only the first 2 candidates are drawn
    d2 = DynamicNegativeSampler(FixedBase(), score_np, m=StepSchedule([5], [2, 4]), k=1)
    np.testing.assert_array_equal(d2.sample(np.array([0, 1])).items, [[1], [3]])
    d2.set_step(5)
    np.testing.assert_array_equal(d2.sample(np.array([0, 1])).items, [[1], [1]])
    with pytest.raises(ValueError, match="k <= m"):
        DynamicNegativeSampler(FixedBase(), score_np, m=1, k=2)
    with pytest.raises(ValueError, match="shape"):
        DynamicNegativeSampler(FixedBase(), lambda u, c: np.zeros(3), m=4, k=1).sample(np.array([0, 1]))


def test_dns_softmax_frequencies():
    base = NegativeSampler(sp.csr_matrix((1, 3), dtype=np.float32), k=1, alpha=0.0, seed=0, exclude_seen=False)
    scores = np.array([0.0, 1.0, 2.0])
    # m = 1 candidate: DNS is the base; m = 3 with k = 1 and tiny temperature: almost always the best
    dns = DynamicNegativeSampler(base, lambda u, c: scores[c], m=3, k=1, mode="softmax", temperature=0.05, seed=1)
    nb = dns.sample(np.zeros(2000, dtype=np.int64))
    cand_best = nb.items[:, 0]
    assert cand_best.shape == (2000,)
    # with all three distinct items drawn the best wins; P(item 2 among 3 uniform draws) = 1 - (2/3)^3
    assert abs((cand_best == 2).mean() - (1 - (2 / 3) ** 3)) < 0.04


def test_warp_trial_counts_hand_example():
    # one user, items 0..3; user has seen item 0 (the positive). Factors in 1-D.
    m = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    U = np.array([[1.0]])
    V = np.array([[1.0], [3.0], [-5.0], [-6.0]])  # pos score 1; item 1 violates (3 > 0), 2 and 3 never
    base = NegativeSampler(m, k=1, weights=[1.0, 1.0, 1.0, 1.0], seed=3)
    w = WarpSampler(base, max_trials=500, margin=1.0)
    nb = w.sample_factors(np.zeros(4000, dtype=np.int64), np.zeros(4000, dtype=np.int64), U, V)
    assert nb.valid.all() and (nb.items == 1).all()
    # trials ~ Geometric(1/3) over the 3 unseen items
    assert abs(nb.trials.mean() - 3.0) < 0.15 and nb.trials.min() == 1
    np.testing.assert_allclose(nb.log_q, np.log(1 / 3), rtol=1e-6)
    # nobody violates -> max_trials, invalid
    V2 = np.array([[1.0], [-3.0], [-5.0], [-6.0]])
    nb2 = WarpSampler(base, max_trials=7).sample_factors([0, 0], [0, 0], U, V2)
    np.testing.assert_array_equal(nb2.trials, [7, 7])
    assert not nb2.valid.any()
    # everyone violates -> 1 trial
    V3 = np.array([[1.0], [3.0], [5.0], [6.0]])
    nb3 = WarpSampler(base, max_trials=7).sample_factors([0, 0], [0, 0], U, V3)
    np.testing.assert_array_equal(nb3.trials, [1, 1])


def test_warp_callable_first_violation():
    class FixedBase:
        def sample(self, users, pos, k):
            items = np.array([[3, 2, 1, 2], [3, 3, 2, 3], [1, 2, 3, 1]])[:, :k]
            return NegativeBatch(items, np.zeros(items.shape, np.float32), None)

        def sample_torch(self, users, pos, generator=None, k=None):
            nb = self.sample(None, None, k)
            return NegativeBatch(torch.as_tensor(nb.items), torch.as_tensor(nb.log_q), None)

    item_score = np.array([2.0, 2.5, 0.0, -4.0])  # pos = 0 -> violators: score > 1 -> items 0, 1
    w = WarpSampler(FixedBase(), max_trials=4, margin=1.0)
    nb = w.sample(np.array([0, 0, 0]), np.array([0, 0, 0]), lambda u, c: item_score[c])
    np.testing.assert_array_equal(nb.trials, [3, 4, 1])
    np.testing.assert_array_equal(nb.valid[:, 0], [True, False, True])
    np.testing.assert_array_equal(nb.items[:, 0], [1, 3, 1])
    nt = w.sample(torch.tensor([0, 0, 0]), torch.tensor([0, 0, 0]), lambda u, c: torch.as_tensor(item_score)[c])
    np.testing.assert_array_equal(nt.trials.numpy(), [3, 4, 1])


def test_warp_weights_exact():
    w = warp_weights([1, 2, 5, 10], 11)
    # ranks 10, 5, 2, 1
    np.testing.assert_allclose(w, [sum(1 / i for i in range(1, 11)), 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5, 1.5, 1.0])


def test_schedules_exact():
    s = LinearSchedule(2, 10, steps=4)
    assert [s(t) for t in (-1, 0, 1, 2, 4, 9)] == [2, 2, 4, 6, 10, 10]
    s = LinearSchedule(1.0, 0.0, steps=10, start_step=5)
    assert s(5) == 1.0 and s(10) == 0.5 and s(15) == 0.0
    st = StepSchedule([10, 20], [5, 10, 20])
    assert [st(t) for t in (0, 9, 10, 19, 20, 100)] == [5, 5, 10, 10, 20, 20]
    e = ExponentialSchedule(1.0, 0.01, steps=2)
    assert e(0) == 1.0 and abs(e(1) - 0.1) < 1e-12 and abs(e(2) - 0.01) < 1e-12
    assert as_schedule(3)(100) == 3.0 and isinstance(as_schedule(3), ConstantSchedule)
    assert LinearSchedule(1, 2, steps=2).int_value(1) == 2  # 1.5 rounds to 2
    with pytest.raises(ValueError, match="len"):
        StepSchedule([1, 2], [1])
    with pytest.raises(ValueError, match="increasing"):
        StepSchedule([2, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="steps"):
        LinearSchedule(1, 2, steps=0)
    with pytest.raises(TypeError, match="k must be"):
        as_schedule("5", "k")
    with pytest.raises(ValueError, match="finite"):
        ConstantSchedule(float("nan"))


@pytest.mark.parametrize("use_torch", [False, True])
def test_dns_softmax_matches_boltzmann(use_torch):
    from scipy.stats import chisquare

    class Fixed:
        def sample(self, users, pos, k):
            items = np.tile(np.arange(3), (len(users), 1))
            return NegativeBatch(items, np.zeros(items.shape, np.float32), None)

        def sample_torch(self, users, pos, generator=None, k=None):
            nb = self.sample(users, None, k)
            return NegativeBatch(torch.as_tensor(nb.items), torch.as_tensor(nb.log_q), None)

    scores = np.array([0.0, 1.0, 2.0])
    T = 2.0
    n = 30_000
    if use_torch:
        d = DynamicNegativeSampler(Fixed(), lambda u, c: torch.as_tensor(scores)[c], m=3, k=1, mode="softmax", temperature=T)
        items = d.sample_torch(torch.zeros(n, dtype=torch.long), generator=torch.Generator().manual_seed(0)).items.numpy()
    else:
        d = DynamicNegativeSampler(Fixed(), lambda u, c: scores[c], m=3, k=1, mode="softmax", temperature=T, seed=0)
        items = d.sample(np.zeros(n, dtype=np.int64)).items
    p = np.exp(scores / T) / np.exp(scores / T).sum()
    assert chisquare(np.bincount(items.ravel(), minlength=3), p * n).pvalue > 1e-3


def test_warp_factors_torch_matches_numpy_and_excludes_seen():
    rng = np.random.default_rng(0)
    dense = (rng.random((20, 30)) < 0.3).astype(np.float32)
    m = sp.csr_matrix(dense)
    U, V = rng.normal(size=(20, 4)), rng.normal(size=(30, 4))
    users = np.repeat(np.arange(20), 10)
    pos = np.array([m[u].indices[0] if m[u].nnz else 0 for u in users])
    a = WarpSampler(NegativeSampler(m, k=1, seed=5), max_trials=20, margin=0.5).sample_factors(users, pos, U, V)
    b = WarpSampler(NegativeSampler(m, k=1, seed=5), max_trials=20, margin=0.5).sample_factors(
        torch.as_tensor(users), torch.as_tensor(pos), torch.as_tensor(U), torch.as_tensor(V))
    np.testing.assert_array_equal(a.items, b.items.numpy())
    np.testing.assert_array_equal(a.trials, b.trials.numpy())
    assert not dense[users, a.items[:, 0]].any() and not (a.items[:, 0] == pos).any()
    # every found negative violates the margin; every unfound row used all trials
    s_pos = (U[users] * V[pos]).sum(1)
    s_neg = (U[users] * V[a.items[:, 0]]).sum(1)
    np.testing.assert_allclose(a.scores[:, 0], s_neg)
    assert (s_neg[a.valid[:, 0]] > s_pos[a.valid[:, 0]] - 0.5).all()
    assert (a.trials[~a.valid[:, 0]] == 20).all()


def test_streaming_frequency_exact_on_periodic_stream():
    from recneg.sampling import StreamingFrequency

    sf = StreamingFrequency(n_items=4, alpha=0.2)
    # batch size 4: item 0 twice in every batch, item 1 every 4th batch, items 2/3 fill up
    for t in range(400):
        batch = [0, 0, 1 if t % 4 == 0 else 2, 3 if t % 2 else 2]
        sf.update(np.array(batch))
    lq = sf.log_q(np.array([0, 1]))
    # item 0: 2 per batch -> gap 0.5 -> q = 2 / 4; item 1: once per 4 batches -> gap 4 -> q = 0.25 / 4
    np.testing.assert_allclose(lq, np.log([0.5, 0.25 / 4]), rtol=1e-6)
    sb = InBatchSampler(streaming=StreamingFrequency(n_items=4, alpha=1.0))
    nb = sb.sample(None, [0, 0, 1, 2])
    assert nb.valid[0, 1] == False and nb.valid[0, 2]  # noqa: E712
    # first batch: B = (t + 1) / c = 1/2 for item 0 and 1 for items 1, 2; mean batch 4
    np.testing.assert_allclose(nb.log_q[0], np.log([0.5, 0.5, 0.25, 0.25]), rtol=1e-6)
    nt = sb.sample_torch(None, torch.tensor([0, 1, 1, 3]))
    # step 1: item 0 gap 1 -> log(1/4); item 1 gap (1-0)/2 -> log(2/4); item 3 new: (1+1)/1 -> log(1/8)
    np.testing.assert_allclose(nt.log_q[0].numpy(), np.log([0.25, 0.5, 0.5, 0.125]), rtol=1e-6)
    with pytest.raises(ValueError, match="no batch"):
        StreamingFrequency(3).log_q([0])
    with pytest.raises(ValueError, match="alpha"):
        StreamingFrequency(3, alpha=0.0)


@pytest.mark.parametrize("use_torch", [False, True])
def test_mixed_shared_index_batch(use_torch):
    prop = NegativeSampler(M, k=40, alpha=0.0, seed=0)
    mix = MixedSampler(InBatchSampler(M), prop, shared=True)
    users, pos = np.array([0, 1, 2]), np.array([2, 1, 4])
    if use_torch:
        t = mix.sample_torch(torch.as_tensor(users), torch.as_tensor(pos), generator=torch.Generator().manual_seed(0))
        items, log_q, valid = t.items.numpy(), t.log_q.numpy(), t.valid.numpy()
    else:
        nb = mix.sample(users, pos)
        items, log_q, valid = nb.items, nb.log_q, nb.valid
    assert items.shape == (3, 43)
    shared = items[:, 3:]
    assert (shared == shared[0]).all()  # one draw set for all rows
    np.testing.assert_allclose(log_q[:, 3:], np.log(1 / 5), rtol=1e-6)  # untruncated uniform
    expect = (DENSE[users[:, None], shared] == 0) & (shared != pos[:, None])
    np.testing.assert_array_equal(valid[:, 3:], expect)
    assert not expect.all() and expect.any()
