"""NegativeSampler: distribution, exact exclusion, log-probabilities, seeds, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from recneg.sampling import LinearSchedule, NegativeSampler, popularity

ALPHAS = [-1.0, 0.0, 0.5, 0.75, 1.0]


def zipf_counts(n=40, zero_at=7):
    c = np.floor(2000.0 / (np.arange(n) + 1.0))
    c[zero_at] = 0
    return c


def count_matrix(counts, n_users=None):
    """A users x items matrix whose column nnz equal ``counts`` (one user per interaction slot)."""
    counts = np.asarray(counts, dtype=np.int64)
    n_users = n_users or int(counts.max())
    rows = np.concatenate([np.arange(c) for c in counts])
    cols = np.repeat(np.arange(counts.size), counts)
    return sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, counts.size))


def gof(draws, p, n_items):
    f = np.bincount(np.asarray(draws).ravel(), minlength=n_items)
    zero = p == 0
    assert f[zero].sum() == 0, "drew an item with zero probability"
    exp = p[~zero] * f.sum()
    return chisquare(f[~zero], exp).pvalue


@pytest.mark.parametrize("alpha", ALPHAS)
def test_unconstrained_matches_popularity(alpha):
    counts = zipf_counts()
    m = count_matrix(counts)
    s = NegativeSampler(m, k=8, alpha=alpha, exclude_seen=False, seed=1)
    w = popularity(counts, alpha)
    p = w / w.sum()
    np.testing.assert_allclose(s.p, p)
    users = np.zeros(25_000, dtype=np.int64)
    nb = s.sample(users)
    assert nb.items.shape == (25_000, 8) and nb.items.dtype == np.int64
    assert nb.log_q.dtype == np.float32 and nb.valid is None
    assert gof(nb.items, p, counts.size) > 1e-3
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(nb.log_q, np.log(p)[nb.items].astype(np.float32), rtol=1e-6)
    nt = s.sample_torch(torch.zeros(25_000, dtype=torch.long), generator=torch.Generator().manual_seed(3), backend="torch")
    assert gof(nt.items.numpy(), p, counts.size) > 1e-3


def test_unconstrained_marks_accidental_hits():
    m = count_matrix(zipf_counts(10, zero_at=9))
    s = NegativeSampler(m, k=50, alpha=0.0, exclude_seen=False, seed=0)
    pos = np.arange(10)
    nb = s.sample(np.zeros(10, dtype=np.int64), pos)
    np.testing.assert_array_equal(nb.valid, nb.items != pos[:, None])
    assert not nb.valid.all()


def exact_truncated(p, seen):
    q = p.copy()
    q[list(seen)] = 0
    return q / q.sum()


def small_world():
    rng = np.random.default_rng(5)
    counts = zipf_counts(30, zero_at=4)
    w = popularity(counts, 0.75)
    p = w / w.sum()
    order = np.argsort(-p)
    dense = np.zeros((4, 30), dtype=np.float32)
    dense[0, [1, 2, 10, 20]] = 1  # light user
    dense[1, order[:6]] = 1  # heavy user: top-6 items carry > 0.5 of the mass
    dense[2, order[: 26]] = 1  # near the limit: only 3 positive-weight items left
    dense[3, rng.choice(30, 5, replace=False)] = 1
    return sp.csr_matrix(dense), w, p


@pytest.mark.parametrize("heavy_threshold", [0.05, 0.9, 0.9999])  # complement, mixed, capped rejection
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_exclusion_frequencies_match_log_q(backend, heavy_threshold):
    m, w, p = small_world()
    s = NegativeSampler(m, k=4, weights=w, seed=11, heavy_threshold=heavy_threshold)
    assert s.seen_mass[1] > 0.5 and s.seen_mass[2] > 0.9
    for u in range(4):
        users = np.full(20_000, u)
        if backend == "numba":
            nb = s.sample(users)
            items, log_q = nb.items, nb.log_q
        else:
            nb = s.sample_torch(torch.as_tensor(users), generator=torch.Generator().manual_seed(u), backend="torch")
            items, log_q = nb.items.numpy(), nb.log_q.numpy()
        seen = set(m[u].indices.tolist())
        q = exact_truncated(p, seen)
        assert not np.isin(items, list(seen)).any()
        assert gof(items, q, 30) > 1e-3, f"user {u}"
        np.testing.assert_allclose(np.exp(log_q), q[items], rtol=1e-5)


def test_positive_outside_train_is_excluded_and_renormalised():
    m, w, p = small_world()
    s = NegativeSampler(m, k=6, weights=w, seed=2)
    pos = np.full(30_000, 0)  # item 0 is not in user 0's row
    nb = s.sample(np.zeros(30_000, dtype=np.int64), pos)
    q = exact_truncated(p, set(m[0].indices.tolist()) | {0})
    assert not (nb.items == 0).any()
    assert gof(nb.items, q, 30) > 1e-3
    np.testing.assert_allclose(np.exp(nb.log_q), q[nb.items], rtol=1e-5)


def test_numba_and_torch_paths_agree_on_log_q():
    m, w, p = small_world()
    s = NegativeSampler(m, k=3, weights=w, seed=0)
    users = np.array([0, 1, 2, 3, 2, 1])
    pos = np.array([1, 5, 0, 9, 3, 3])
    a = s.sample(users, pos)
    b = s.sample_torch(torch.as_tensor(users), torch.as_tensor(pos), backend="torch")
    # same function of the item: log q is a property of (user, pos, item)
    lookup = {}
    for r in range(len(users)):
        for c in range(3):
            lookup[(r, int(a.items[r, c]))] = float(a.log_q[r, c])
    for r in range(len(users)):
        for c in range(3):
            key = (r, int(b.items[r, c]))
            if key in lookup:
                assert abs(lookup[key] - float(b.log_q[r, c])) < 1e-5


@st.composite
def csr_and_batch(draw):
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(2, 40))
    rows = []
    for _ in range(n_users):
        kind = draw(st.sampled_from(["light", "heavy", "limit"]))
        if kind == "light":
            n_seen = draw(st.integers(0, max(0, n_items // 3)))
        elif kind == "heavy":
            n_seen = draw(st.integers(n_items // 2, n_items - 1))
        else:
            n_seen = n_items - 1
        rows.append(draw(st.permutations(range(n_items)))[:n_seen])
    weights = draw(st.lists(st.floats(0.01, 100.0), min_size=n_items, max_size=n_items))
    seed = draw(st.integers(0, 2**31))
    threshold = draw(st.sampled_from([0.05, 0.5, 0.9]))
    return n_users, n_items, rows, np.array(weights), seed, threshold


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csr_and_batch())
def test_exclusion_never_returns_seen(data):
    n_users, n_items, rows, weights, seed, threshold = data
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for u, r in enumerate(rows):
        dense[u, list(r)] = 1
    m = sp.csr_matrix(dense)
    s = NegativeSampler(m, k=7, weights=weights, seed=seed, heavy_threshold=threshold)
    users = np.repeat(np.arange(n_users), 20)
    for nb in (s.sample(users), s.sample_torch(torch.as_tensor(users), backend="torch")):
        items = np.asarray(nb.items)
        assert items.min() >= 0 and items.max() < n_items
        assert not dense[users[:, None], items].any()
        assert np.isfinite(np.asarray(nb.log_q)).all()


def test_same_seed_same_draws_different_seed_differs():
    m, w, _ = small_world()
    users = np.array([0, 1, 2, 3] * 50)
    a = NegativeSampler(m, k=5, weights=w, seed=7).sample(users).items
    b = NegativeSampler(m, k=5, weights=w, seed=7).sample(users).items
    c = NegativeSampler(m, k=5, weights=w, seed=8).sample(users).items
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    g1 = torch.Generator().manual_seed(1)
    g2 = torch.Generator().manual_seed(1)
    s = NegativeSampler(m, k=5, weights=w, seed=0)
    for backend in ("numba", "torch"):
        x = s.sample_torch(torch.as_tensor(users), generator=g1, backend=backend).items
        y = s.sample_torch(torch.as_tensor(users), generator=g2, backend=backend).items
        assert torch.equal(x, y)


def test_exhausted_user_raises_or_masks():
    dense = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=np.float32)
    w = np.array([1.0, 2.0, 3.0, 0.0])  # item 3 has zero weight: user 0 has seen all positive-weight items
    s = NegativeSampler(sp.csr_matrix(dense), k=3, weights=w)
    with pytest.raises(ValueError, match=r"user\(s\) \[0, 2\]"):
        s.sample(np.array([0, 1, 2]))
    # user 1 with positive 1 leaves only item 2
    nb = s.sample(np.array([1] * 10), np.array([1] * 10))
    assert (nb.items == 2).all()
    np.testing.assert_allclose(nb.log_q, 0.0, atol=1e-6)
    with pytest.raises(ValueError, match=r"user\(s\) \[1\]"):
        NegativeSampler(sp.csr_matrix(dense[:2]), k=2, weights=[1, 1, 0, 0]).sample([1], [1])
    sm = NegativeSampler(sp.csr_matrix(dense), k=3, weights=w, on_exhausted="mask")
    for nb in (sm.sample(np.array([0, 1, 2])), sm.sample_torch(torch.tensor([0, 1, 2]), backend="torch")):
        valid = np.asarray(nb.valid)
        np.testing.assert_array_equal(valid, [[False] * 3, [True] * 3, [False] * 3])
        assert (np.asarray(nb.items)[~valid] == 0).all() and (np.asarray(nb.log_q)[~valid] == 0).all()
        assert np.isin(np.asarray(nb.items)[1], [1, 2]).all()
    with pytest.raises(ValueError, match=r"user\(s\) \[2\]"):
        s.sample_torch(torch.tensor([1, 2]), backend="torch")


def test_bad_inputs():
    m = sp.csr_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(TypeError, match="train"):
        NegativeSampler(np.eye(3))
    with pytest.raises(TypeError, match="train"):
        NegativeSampler([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="2-D"):
        NegativeSampler(sp.coo_array(np.array([1.0, 0.0, 1.0])))
    with pytest.raises(ValueError, match="weights"):
        NegativeSampler(m, weights=[1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="negative"):
        NegativeSampler(m, weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="all zero"):
        NegativeSampler(m, weights=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="one weight per item"):
        NegativeSampler(m, weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="k must be"):
        NegativeSampler(m, k=0)
    with pytest.raises(ValueError, match="on_exhausted"):
        NegativeSampler(m, on_exhausted="skip")
    s = NegativeSampler(m, k=1, alpha=0.0)
    with pytest.raises(ValueError, match="users contains 3"):
        s.sample([0, 3])
    with pytest.raises(ValueError, match="users contains -1"):
        s.sample([-1])
    with pytest.raises(TypeError, match="users must hold integer"):
        s.sample(np.array([0.5]))
    with pytest.raises(ValueError, match="pos_items contains 5"):
        s.sample([0], [5])
    with pytest.raises(ValueError, match="pos_items has length 2"):
        s.sample([0], [1, 2])
    with pytest.raises(TypeError, match="torch.Tensor"):
        s.sample_torch(np.array([0]))
    with pytest.raises(ValueError, match="out of range"):
        s.sample_torch(torch.tensor([7]), backend="torch")


def test_k_schedule():
    m = sp.csr_matrix(np.eye(5, dtype=np.float32))
    s = NegativeSampler(m, k=LinearSchedule(2, 6, steps=4), alpha=0.0, seed=0)
    assert s.sample([0, 1]).items.shape == (2, 2)
    s.set_step(2)
    assert s.k == 4 and s.sample([0]).items.shape == (1, 4)
    s.set_step(100)
    assert s.sample_torch(torch.tensor([0]), backend="torch").items.shape == (1, 6)
    assert s.sample([0], k=3).items.shape == (1, 3)


def test_accepts_interactions_like_object():
    class Fake:
        def __init__(self, csr):
            self.csr = csr

    m = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 1]], dtype=np.float32))
    s = NegativeSampler(Fake(m), k=4, alpha=0.0, seed=0)
    nb = s.sample([0, 1])
    assert not np.isin(nb.items[0], [0]).any() and (nb.items[1] == 0).all()


def test_row_hash_agrees_with_binary_search():
    from numba import njit

    from recneg.sampling.exclusion import build_row_hash, in_row_hash, is_seen

    @njit
    def both(indptr, indices, off, tab, n_items):
        n_rows = indptr.shape[0] - 1
        a = np.zeros((n_rows, n_items), dtype=np.bool_)
        b = np.zeros((n_rows, n_items), dtype=np.bool_)
        for u in range(n_rows):
            for i in range(n_items):
                a[u, i] = is_seen(indptr, indices, u, i)
                b[u, i] = in_row_hash(off, tab, u, i)
        return a, b

    d = sp.random(60, 300, density=0.2, random_state=3).toarray()
    d[5, :] = 1.0  # a full row
    d[6, :] = 0.0  # an empty row
    m = sp.csr_matrix(d)
    m.sort_indices()
    indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int32)
    off, tab = build_row_hash(indptr, indices)
    a, b = both(indptr, indices, off, tab, 300)
    np.testing.assert_array_equal(a, m.toarray() != 0)
    np.testing.assert_array_equal(b, a)
    sizes = np.diff(off)
    lengths = np.diff(indptr)
    assert ((sizes == 0) == (lengths == 0)).all() and (sizes >= 4 * lengths).all()


def test_draws_do_not_depend_on_thread_count():
    import numba

    m, w, _ = small_world()
    users = np.array([0, 1, 2, 3] * 300)
    n0 = numba.get_num_threads()
    out = []
    for nt in sorted({1, n0}):
        numba.set_num_threads(nt)
        try:
            out.append(NegativeSampler(m, k=4, weights=w, seed=9).sample(users).items)
        finally:
            numba.set_num_threads(n0)
    for o in out[1:]:
        np.testing.assert_array_equal(out[0], o)


# ---- large / non-finite alpha (popularity^alpha in log space)
def test_popularity_huge_alpha_is_a_degenerate_law_not_nan():
    counts = np.array([1, 3, 2, 3, 0])
    np.testing.assert_array_equal(popularity(counts, 1e6), [0, 1, 0, 1, 0])  # all mass on the most popular
    # negative alpha: zero counts are as rare as the rarest seen count (the existing rule), so they share the mass
    np.testing.assert_array_equal(popularity(counts, -1e6), [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(popularity([4, 2, 5, 2], -1e6), [0, 1, 0, 1])
    np.testing.assert_array_equal(popularity(counts, 1e308), [0, 1, 0, 1, 0])
    np.testing.assert_allclose(popularity(counts, 1.0), counts / 3)  # moderate alpha: the usual law, max 1
    np.testing.assert_allclose(popularity(counts, -1.0), [1, 1 / 3, 1 / 2, 1 / 3, 1])


def test_sampler_huge_alpha_draws_the_extreme_items():
    counts = np.array([1, 3, 2, 3, 0, 1])
    m = count_matrix(counts, n_users=6)
    s = NegativeSampler(m, k=4, alpha=1e6, exclude_seen=False, seed=0)
    np.testing.assert_array_equal(s.p, [0, 0.5, 0, 0.5, 0, 0])
    assert set(np.unique(s.sample(np.zeros(200, dtype=np.int64)).items)) == {1, 3}
    s = NegativeSampler(m, k=4, alpha=-1e6, exclude_seen=False, seed=0)
    np.testing.assert_array_equal(s.p, [1 / 3, 0, 0, 0, 1 / 3, 1 / 3])
    assert set(np.unique(s.sample(np.zeros(200, dtype=np.int64)).items)) == {0, 4, 5}


@pytest.mark.parametrize("alpha", [np.nan, np.inf, -np.inf])
def test_non_finite_alpha_names_alpha(alpha):
    m = count_matrix([1, 2, 3])
    with pytest.raises(ValueError, match="alpha") as e:
        NegativeSampler(m, alpha=alpha)
    assert "weights" not in str(e.value)
    with pytest.raises(ValueError, match="alpha"):
        popularity([1, 2, 3], alpha)
    with pytest.raises(TypeError, match="alpha"):
        NegativeSampler(m, alpha="high")


def test_degenerate_alpha_exhaustion_names_alpha():
    m = count_matrix([1, 3, 2, 3])  # users 0..2 have seen both most popular items
    s = NegativeSampler(m, k=2, alpha=1e6, seed=0)
    with pytest.raises(ValueError, match=r"alpha=1e\+06 gives non-zero weight to only 2 of 4 items"):
        s.sample(np.array([0]))


def test_kernel_sampler_shares_the_exclusion_state_of_its_negative_sampler():
    """The numba kernels draw from the sampler's own exclusion statistics (built once per fit, not twice)."""
    X = sp.random(50, 30, density=0.2, format="csr", random_state=0)
    for alpha in (0.0, 0.75):
        ns = NegativeSampler(X, k=2, alpha=alpha)
        ks = ns.kernel_sampler()
        assert ks.htab is ns.htab and ks.hoff is ns.hoff and ks.seen_cum is ns.seen_cum
        assert np.allclose(ks.p, ns.p)
        assert ns.kernel_sampler() is ks  # cached until a schedule changes alpha
