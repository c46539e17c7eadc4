"""TensorFlow's candidate samplers: laws (chi-square), expected counts (exact formulas), seeds, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import chi2_pvalue

from recneg.sampling import (
    FixedUnigramCandidateSampler,
    LearnedUnigramCandidateSampler,
    LogUniformCandidateSampler,
    UniformCandidateSampler,
    compute_accidental_hits,
    fixed_unigram_candidate_sampler,
    learned_unigram_candidate_sampler,
    log_uniform_candidate_sampler,
    uniform_candidate_sampler,
)

R = 7
UNIGRAMS = np.array([9.0, 4.0, 0.0, 1.0, 16.0, 2.0, 3.0])  # class 2 never drawn for distortion > 0
DISTORTION = 0.75
TRUE = np.array([[0, 3], [6, 1], [4, 4]])  # (batch 3, num_true 2)


def p_log_uniform(c, r=R):
    c = np.asarray(c, dtype=np.float64)
    return np.log((c + 2.0) / (c + 1.0)) / np.log(r + 1.0)


def p_fixed(c):
    w = UNIGRAMS**DISTORTION
    return (w / w.sum())[np.asarray(c)]


def make(kind: str, r: int = R):
    """A sampler instance of each kind and its law written out by hand (float64 (r,))."""
    if kind == "log_uniform":
        return LogUniformCandidateSampler(r), p_log_uniform(np.arange(r), r)
    if kind == "uniform":
        return UniformCandidateSampler(r), np.full(r, 1.0 / r)
    if kind == "fixed_unigram":
        assert r == R
        return FixedUnigramCandidateSampler(r, unigrams=UNIGRAMS, distortion=DISTORTION), p_fixed(np.arange(r))
    s = LearnedUnigramCandidateSampler(r)
    seen = np.array([[1, 1], [1, 5], [0, 1]]) % r
    s(seen, 2, 1, False, seed=0)  # learn: counts 1 + occurrences
    counts = np.ones(r)
    np.add.at(counts, seen.ravel(), 1)
    return s, counts / counts.sum()


KINDS = ["log_uniform", "uniform", "fixed_unigram", "learned_unigram"]


# ------------------------------------------------------------------ laws
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("kind", KINDS)
def test_law_of_iid_draws(kind, backend):
    s, p = make(kind)
    n = 100_000
    dev = "cpu" if backend == "torch" else None
    cand, _, _ = s(TRUE[:1, :1], 1, n, False, seed=123, device=dev)
    cand = cand.numpy() if backend == "torch" else cand
    assert cand.dtype == np.int64 and cand.shape == (n,)
    assert chi2_pvalue(np.bincount(cand, minlength=R), p * n) > 1e-3


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("kind", ["log_uniform", "fixed_unigram", "learned_unigram"])
def test_unique_draws_law_of_the_ordered_pair(kind, backend):
    """unique=True, num_sampled=2: P(first=i, second=j) = p_i p_j / (1 - p_i), j != i."""
    s, p = make(kind)
    calls = 3000 if backend == "numpy" else 1500
    gen = np.random.default_rng(5) if backend == "numpy" else torch.Generator().manual_seed(5)
    obs = np.zeros((R, R))
    no_true = np.empty((0, 1), np.int64)  # an empty batch: the learned law stays as it is
    for _ in range(calls):
        c, _, _ = s(no_true, 1, 2, True, seed=gen)
        c = np.asarray(c)
        assert c[0] != c[1]
        obs[c[0], c[1]] += 1
    exp = np.array([[p[i] * p[j] / (1 - p[i]) if i != j else 0.0 for j in range(R)] for i in range(R)])
    assert abs(exp.sum() - 1) < 1e-12
    assert chi2_pvalue(obs.ravel(), exp.ravel() * calls) > 1e-3


def test_unique_number_of_tries_follows_the_coupon_collector_law():
    """Uniform over r, n distinct: tries = n + sum_k Geometric extras with success (r - k) / r."""
    r, n, calls = 6, 4, 3000
    s = UniformCandidateSampler(r)
    rng = np.random.default_rng(11)
    tries = np.empty(calls, dtype=np.int64)
    for t in range(calls):
        s(np.zeros((1, 1), np.int64), 1, n, True, seed=rng)
        tries[t] = s.last_num_tries
    tmax = 40
    pmf = np.zeros(tmax + 1)  # pmf of the draw count, by dynamic programming over (distinct so far)
    state = np.zeros(n + 1)
    state[0] = 1.0
    for t in range(1, tmax + 1):
        new = np.zeros(n + 1)
        for k in range(n):
            new[k] += state[k] * k / r
            new[k + 1] += state[k] * (r - k) / r
        pmf[t] = new[n]
        new[n] = 0.0
        state = new
    exp = np.r_[pmf[n:], 1.0 - pmf.sum()] * calls
    obs = np.r_[np.bincount(np.minimum(tries, tmax + 1) - n, minlength=tmax + 2 - n)]
    assert tries.min() >= n
    assert chi2_pvalue(obs, exp) > 1e-3


def test_learned_unigram_counts_update_after_the_draw():
    st = LearnedUnigramCandidateSampler(5)
    _, t1, s1 = learned_unigram_candidate_sampler(np.array([[2], [2], [4]]), 1, 3, False, 5, seed=0, state=st)
    np.testing.assert_allclose(t1, np.full((3, 1), 3 * 0.2), rtol=1e-6)  # drawn with the all-ones prior
    np.testing.assert_allclose(s1, np.full(3, 3 * 0.2), rtol=1e-6)
    np.testing.assert_array_equal(st.counts, [1, 1, 3, 1, 2])
    _, t2, _ = learned_unigram_candidate_sampler(np.array([[2], [0], [4]]), 1, 3, False, 5, seed=0, state=st)
    np.testing.assert_allclose(t2[:, 0], 3 * np.array([3, 1, 2]) / 8, rtol=1e-6)
    np.testing.assert_array_equal(st.counts, [2, 1, 4, 1, 3])
    # without a state every call starts again from uniform, as a fresh TensorFlow op
    _, t3, _ = learned_unigram_candidate_sampler(np.array([[2]]), 1, 2, False, 5, seed=0)
    np.testing.assert_allclose(t3, [[2 * 0.2]], rtol=1e-6)


# ------------------------------------------------------------------ expected counts
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("kind", KINDS)
def test_expected_counts_non_unique_are_num_sampled_times_p(kind, backend):
    s, p = make(kind)
    n = 5
    tc = TRUE if backend == "numpy" else torch.as_tensor(TRUE)
    cand, t_ec, s_ec = s(tc, 2, n, False, seed=3)
    cand, t_ec, s_ec = (np.asarray(x) for x in (cand, t_ec, s_ec))
    assert t_ec.dtype == np.float32 and t_ec.shape == (3, 2) and s_ec.shape == (n,)
    np.testing.assert_allclose(t_ec, n * p[TRUE], rtol=1e-6)
    np.testing.assert_allclose(s_ec, n * p[cand], rtol=1e-6)
    assert s.last_num_tries == n


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("kind", KINDS)
def test_expected_counts_unique_are_inclusion_probabilities(kind, backend):
    """unique: 1 - (1 - p)^tries after a repeat; num_sampled * p when no draw repeated (TensorFlow's shortcut)."""
    s, p = make(kind)
    n = 3
    branches = set()
    for seed in range(40):
        gen = seed if backend == "numpy" else torch.Generator().manual_seed(seed)
        cand, t_ec, s_ec = s(TRUE, 2, n, True, seed=gen, device="cpu" if backend == "torch" else None)
        tries = s.last_num_tries
        cand, t_ec, s_ec = (np.asarray(x) for x in (cand, t_ec, s_ec))
        assert len(set(cand.tolist())) == n
        assert tries >= n
        if tries == n:
            want_t, want_s = n * p[TRUE], n * p[cand]
        else:
            want_t, want_s = 1 - (1 - p[TRUE]) ** tries, 1 - (1 - p[cand]) ** tries
        np.testing.assert_allclose(t_ec, want_t, rtol=2e-6)
        np.testing.assert_allclose(s_ec, want_s, rtol=2e-6)
        branches.add(tries == n)
        if kind == "learned_unigram":
            s, p = make(kind)  # undo the update so that p stays the law written above
    assert branches == {True, False}, "both TensorFlow branches should occur in 40 seeds"


def test_expected_count_values_by_hand():
    """Log-uniform over 4 classes: p(0) = log 2 / log 5 = 0.430677; 2 draws without a repeat -> 2 p."""
    s = LogUniformCandidateSampler(4)
    for seed in range(100):
        _cand, t_ec, _ = s(np.array([[0]]), 1, 2, True, seed=seed)
        if s.last_num_tries == 2:
            assert t_ec[0, 0] == pytest.approx(0.8613531, rel=1e-6)
        elif s.last_num_tries == 4:  # 1 - (1 - 0.4306766)^4
            assert t_ec[0, 0] == pytest.approx(0.8949403, rel=1e-6)
            return
    pytest.fail("no call with 4 tries in 100 seeds")


def test_fixed_unigram_reserved_ids_shards_and_vocab_file(tmp_path):
    # reserved ids get weight 0; shards keep ids i with i % num_shards == shard
    s = FixedUnigramCandidateSampler(5, unigrams=[1.0, 4.0, 9.0], distortion=0.5, num_reserved_ids=2)
    np.testing.assert_allclose(s.probability(np.arange(5)), [0, 0, 1 / 6, 2 / 6, 3 / 6])
    sh = FixedUnigramCandidateSampler(2, unigrams=[1.0, 4.0, 9.0, 16.0], distortion=1.0, num_reserved_ids=1,
                                      num_shards=2, shard=1)  # ids 1, 3 of [0, 1, 4, 9, 16] -> weights 1, 9
    np.testing.assert_allclose(sh.probability(np.arange(2)), [0.1, 0.9])
    f = tmp_path / "vocab.csv"
    f.write_text("the,4\nof,1\n\nand,9\n")
    v = FixedUnigramCandidateSampler(3, vocab_file=f, distortion=0.5)
    np.testing.assert_allclose(v.probability(np.arange(3)), [2 / 6, 1 / 6, 3 / 6])
    cand, _, _ = fixed_unigram_candidate_sampler(np.array([[0]]), 1, 2, True, 5, unigrams=[1.0, 4.0, 9.0],
                                                 distortion=0.5, num_reserved_ids=2, seed=0)
    assert set(cand.tolist()) <= {2, 3, 4}


def test_log_uniform_closed_form_matches_tensorflows_inverse_cdf():
    """floor(exp(u log(R+1))) - 1 falls in class c exactly when u in [log(c+1), log(c+2)) / log(R+1)."""
    s = LogUniformCandidateSampler(R)
    rng = np.random.default_rng(0)
    u = np.random.default_rng(0).random(1000)
    cand = s._draw_np(1000, rng)
    lo = np.log(cand + 1.0) / np.log(R + 1.0)
    hi = np.log(cand + 2.0) / np.log(R + 1.0)
    assert np.all((u >= lo - 1e-12) & (u < hi + 1e-12))


# ------------------------------------------------------------------ seeds, outputs
@pytest.mark.parametrize("fn", [log_uniform_candidate_sampler, uniform_candidate_sampler])
def test_seeds_reproduce_and_generators_move_on(fn):
    a = fn(TRUE, 2, 4, True, R, seed=7)
    b = fn(TRUE, 2, 4, True, R, seed=7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    rng = np.random.default_rng(1)
    draws = [tuple(fn(TRUE, 2, 4, False, R, seed=rng)[0]) for _ in range(5)]
    assert len(set(draws)) > 1
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    ta, tb = fn(TRUE, 2, 4, True, R, seed=g1), fn(TRUE, 2, 4, True, R, seed=g2)
    assert isinstance(ta[0], torch.Tensor) and ta[0].dtype == torch.int64 and ta[1].dtype == torch.float32
    for x, y in zip(ta, tb):
        assert torch.equal(x, y)


def test_torch_in_torch_out_on_the_labels_device():
    out = log_uniform_candidate_sampler(torch.as_tensor(TRUE), 2, 3, True, R, seed=0)
    assert all(isinstance(x, torch.Tensor) and x.device.type == "cpu" for x in out)
    out = fixed_unigram_candidate_sampler(TRUE, 2, 3, True, R, unigrams=UNIGRAMS, seed=0, device="cpu")
    assert isinstance(out[0], torch.Tensor)
    assert not (out[0] == 2).any()  # zero count never drawn


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_follow_the_law():
    s, p = make("fixed_unigram")
    cand, t_ec, _ = s(torch.as_tensor(TRUE, device="cuda"), 2, 50_000, False, seed=1)
    assert cand.device.type == "cuda" and t_ec.device.type == "cuda"
    assert chi2_pvalue(np.bincount(cand.cpu().numpy(), minlength=R), p * 50_000) > 1e-3


# ------------------------------------------------------------------ accidental hits
@pytest.mark.parametrize("as_torch", [False, True])
def test_compute_accidental_hits_positions(as_torch):
    true = np.array([[1, 2], [3, 1], [0, 0]])
    sampled = np.array([1, 5, 3, 7])
    conv = torch.as_tensor if as_torch else np.asarray
    idx, ids, w = compute_accidental_hits(conv(true), conv(sampled), 2)
    idx, ids, w = (np.asarray(x) for x in (idx, ids, w))
    np.testing.assert_array_equal(idx, [0, 1, 1])  # row-major over (row, true column)
    np.testing.assert_array_equal(ids, [0, 2, 0])
    assert idx.dtype == np.int32 and ids.dtype == np.int64 and w.dtype == np.float32
    np.testing.assert_array_equal(w, np.full(3, -np.finfo(np.float32).max))
    # a repeated candidate is reported at its last position only (TensorFlow presupposes unique ones)
    idx, ids, _ = compute_accidental_hits(conv(np.array([[4]])), conv(np.array([4, 2, 4])), 1)
    np.testing.assert_array_equal(np.asarray(ids), [2])
    idx, ids, _ = compute_accidental_hits(conv(np.array([[9]])), conv(np.array([4, 2])), 1)
    assert np.asarray(idx).size == 0


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, exc, match", [
    (lambda: log_uniform_candidate_sampler(TRUE, 2, 8, True, R), ValueError, "num_sampled"),
    (lambda: uniform_candidate_sampler(TRUE, 2, 0, False, R), ValueError, "num_sampled"),
    (lambda: uniform_candidate_sampler(TRUE, 2, 2.0, False, R), TypeError, "num_sampled"),
    (lambda: uniform_candidate_sampler(TRUE, 1, 2, False, R), ValueError, "num_true"),
    (lambda: uniform_candidate_sampler(TRUE[:, 0], 1, 2, False, R), ValueError, "true_classes"),
    (lambda: uniform_candidate_sampler(TRUE, 2, 2, False, 5), ValueError, "true_classes"),
    (lambda: uniform_candidate_sampler(-TRUE, 2, 2, False, R), ValueError, "true_classes"),
    (lambda: uniform_candidate_sampler(TRUE * 1.0, 2, 2, False, R), TypeError, "true_classes"),
    (lambda: uniform_candidate_sampler(torch.as_tensor(TRUE) + R, 2, 2, False, R), ValueError, "true_classes"),
    (lambda: uniform_candidate_sampler(TRUE, 2, 2, False, 0), ValueError, "range_max"),
    (lambda: uniform_candidate_sampler(TRUE, 2, 2, "yes", R), TypeError, "unique"),
    (lambda: uniform_candidate_sampler(TRUE, 2, 2, False, R, seed=1.5), TypeError, "seed"),
    (lambda: uniform_candidate_sampler(TRUE, 2, 2, False, R, seed=1.5, device="cpu"), TypeError, "seed"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 2, False, 3, unigrams=[1.0, -2.0, 3.0]), ValueError,
     "unigrams"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 2, False, 3, unigrams=[1.0, np.nan, 3.0]), ValueError,
     "unigrams"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 2, False, 7, unigrams=UNIGRAMS, distortion=np.inf),
     ValueError, "distortion"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 2, False, 7, unigrams=UNIGRAMS, distortion=-1.0),
     ValueError, "distortion"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 2, False, 8, unigrams=UNIGRAMS), ValueError, "range_max"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 7, True, 7, unigrams=UNIGRAMS), ValueError, "num_sampled"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 2, False, 7), ValueError, "vocab_file"),
    (lambda: fixed_unigram_candidate_sampler(TRUE, 2, 2, False, 7, unigrams=UNIGRAMS, num_shards=2, shard=2),
     ValueError, "shard"),
    (lambda: learned_unigram_candidate_sampler(TRUE, 2, 2, False, 7, state=LearnedUnigramCandidateSampler(8)),
     ValueError, "state"),
    (lambda: compute_accidental_hits(TRUE, np.array([[1, 2]]), 2), ValueError, "sampled_candidates"),
    (lambda: compute_accidental_hits(TRUE, np.array([1, 2]), 3), ValueError, "num_true"),
])
def test_bad_input_names_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_vocab_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab_file"):
        FixedUnigramCandidateSampler(3, vocab_file=tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("the,4\nof,x\n")
    with pytest.raises(ValueError, match="vocab_file .* line 2"):
        FixedUnigramCandidateSampler(2, vocab_file=bad)
