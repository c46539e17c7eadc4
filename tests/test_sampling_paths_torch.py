"""The negatives real torch training runs use follow the sampler's law (recorded through the debug hooks).

Per law: a tiny real run records its negatives, a chi-square test (fixed seed, p > 1e-3) compares
them with popularity^alpha truncated to the user's unseen items, and exclusion is checked
exactly (never a seen negative; shared negatives: every seen one masked), including for a user
who has seen 97% of the proposal mass.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from recneg.engine.mf_torch import TorchTrainer
from recneg.engine.skipgram_torch import TorchSkipGram
from recneg.models.mf import MatrixFactorization
from recneg.models.word2vec import Word2Vec
from recneg.sampling import DynamicNegativeSampler, InBatchSampler, MixedSampler, NegativeSampler, popularity

P_MIN = 1e-3
N_USERS, N_ITEMS = 60, 40


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _data(alpha: float) -> sp.csr_matrix:
    """Skewed popularity; user 0 has seen every item but the one of least proposal weight (>= 97% of the mass)."""
    rng = np.random.default_rng(0)
    pop = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    D = np.zeros((N_USERS, N_ITEMS), dtype=np.float32)
    for u in range(1, N_USERS):
        D[u, rng.choice(N_ITEMS, size=8, replace=False, p=pop / pop.sum())] = 1
    D[1:, :][np.arange(N_ITEMS) % (N_USERS - 1), np.arange(N_ITEMS)] = 1  # every item has a count
    w = popularity(D[1:].sum(0) + 1, alpha)  # user 0 adds 1 to every count but the one left out
    left = int(np.argmin(w)) if alpha != 0 else N_ITEMS - 1
    D[0] = 1
    D[0, left] = 0
    X = sp.csr_matrix(D)
    X.sort_indices()
    return X


def _law(X: sp.csr_matrix, alpha: float) -> np.ndarray:
    """(n_users, n_items): the proposal popularity^alpha truncated to each user's unseen items."""
    p = popularity(np.asarray(X.getnnz(axis=0)), alpha)
    q = np.where(X.toarray() > 0, 0.0, p[None, :])
    return q / q.sum(1, keepdims=True)


def _chi2(observed: np.ndarray, expected: np.ndarray) -> float:
    """p-value of observed counts against expected counts (zero-expectation bins must be empty)."""
    assert observed[expected == 0].sum() == 0
    keep = expected > 0
    return stats.chisquare(observed[keep], expected[keep] * observed.sum() / expected[keep].sum()).pvalue


def _fit_recording(monkeypatch, X, **kw) -> list:
    rec: list = []
    monkeypatch.setattr(TorchTrainer, "record", rec)
    MatrixFactorization(factors=4, backend="torch", workers=1, seed=0, **kw).fit(X, show_progress=False)
    assert rec, "the trainer recorded nothing"
    return rec


# ------------------------------------------------------------------ MF, per example
@pytest.mark.parametrize("loss,alpha", [("bce", 0.75), ("bpr", 0.0), ("bce", -0.5)])
def test_mf_torch_per_example_negatives_follow_the_truncated_law(monkeypatch, loss, alpha):
    X = _data(alpha)
    D = X.toarray() > 0
    law = _law(X, alpha)
    assert 1.0 - law[0].max() == 0.0  # user 0 has a single drawable item
    p = popularity(np.asarray(X.getnnz(axis=0)), alpha)
    assert p[D[0]].sum() / p.sum() >= 0.97
    rec = _fit_recording(monkeypatch, X, loss=loss, sampler=NegativeSampler(k=8, alpha=alpha), epochs=3, batch_size=64)
    users = torch.cat([r["users"] for r in rec]).numpy()
    items = torch.cat([r["items"] for r in rec]).numpy()
    assert {r["kind"] for r in rec} == {"per_example"}
    assert items.shape[1] == 8
    assert not D[users[:, None], items].any(), "a seen item was used as a negative"
    assert torch.cat([r["valid"] for r in rec]).all(), "a negative was skipped"
    assert (items[users == 0] == np.flatnonzero(~D[0])[0]).all()
    expected = (law[users] * items.shape[1]).sum(0)
    observed = np.bincount(items.ravel(), minlength=N_ITEMS)
    assert _chi2(observed, expected) > P_MIN


def test_mf_torch_user_with_nothing_drawable_is_refused_before_training():
    X = _data(0.75).tolil()
    X[0, :] = 1
    with pytest.raises(ValueError, match=r"exclude_seen=True but user\(s\) \[0\]"):
        MatrixFactorization(factors=4, loss="bce", backend="torch", epochs=1).fit(X.tocsr(), show_progress=False)


def test_mf_torch_dns_negatives_are_never_seen(monkeypatch):
    X = _data(0.75)
    D = X.toarray() > 0
    dns = DynamicNegativeSampler(NegativeSampler(k=2, alpha=0.0), m=4)
    rec = _fit_recording(monkeypatch, X, loss="bpr", sampler=dns, epochs=1, batch_size=64)
    assert {r["kind"] for r in rec} == {"dns"}
    users = torch.cat([r["users"] for r in rec]).numpy()
    items = torch.cat([r["items"] for r in rec]).numpy()
    assert not D[users[:, None], items].any()


# ------------------------------------------------------------------ MF, shared and in-batch
@pytest.mark.parametrize("alpha", [0.75, 0.0, -0.5])
def test_mf_torch_shared_negatives_follow_the_proposal_and_mask_every_seen_item(monkeypatch, alpha):
    X = _data(alpha)
    D = X.toarray() > 0
    # softmax shares a NegativeSampler's draws by default (shared=None)
    rec = _fit_recording(monkeypatch, X, loss="softmax", sampler=NegativeSampler(k=32, alpha=alpha), epochs=4,
                         batch_size=32)
    assert {r["kind"] for r in rec} == {"shared"}
    for r in rec:
        u, pos, negs, valid = r["users"].numpy(), r["positives"].numpy(), r["items"].numpy(), r["valid"].numpy()
        assert negs.shape == (32,) and valid.shape == (u.size, 32)
        np.testing.assert_array_equal(valid, ~D[u[:, None], negs[None, :]] & (negs[None, :] != pos[:, None]))
    p = popularity(np.asarray(X.getnnz(axis=0)), alpha)
    observed = np.bincount(np.concatenate([r["items"].numpy() for r in rec]), minlength=N_ITEMS)
    assert _chi2(observed, p) > P_MIN  # shared draws are untruncated proposal draws (masked, not redrawn)


def test_mf_torch_in_batch_logq_masks_accidental_hits(monkeypatch):
    X = _data(0.75)
    D = X.toarray() > 0
    rec = _fit_recording(monkeypatch, X, loss="softmax", sampler=InBatchSampler(mask_seen=True, logq=True), epochs=2,
                         batch_size=48)
    assert {r["kind"] for r in rec} == {"in_batch"}
    hits = 0
    for r in rec:
        u, pos, negs, valid = r["users"].numpy(), r["positives"].numpy(), r["items"].numpy(), r["valid"].numpy()
        np.testing.assert_array_equal(negs, pos)
        same = pos[None, :] == pos[:, None]
        hits += int(same.sum() - pos.size)
        np.testing.assert_array_equal(valid, ~same & ~D[u[:, None], pos[None, :]])
    assert hits > 0  # the run had accidental hits off the diagonal, and they were masked
    counts = np.asarray(X.getnnz(axis=0), dtype=np.float64)
    nb = InBatchSampler(X).sample_torch(None, torch.arange(N_ITEMS))
    np.testing.assert_allclose(nb.log_q[0].numpy(), np.log(counts / counts.sum()), rtol=1e-6)


# ------------------------------------------------------------------ samplers: mixed, torch vs numpy
@pytest.mark.parametrize("alpha", [0.75, 0.0, -0.5])
def test_mixed_torch_proposal_columns_follow_the_truncated_law(alpha):
    X = _data(alpha)
    D = X.toarray() > 0
    law = _law(X, alpha)
    mixed = MixedSampler(InBatchSampler(X, mask_seen=True), NegativeSampler(X, k=6, alpha=alpha, seed=0))
    g = torch.Generator().manual_seed(0)
    coo = X.tocoo()
    us, obs = [], np.zeros(N_ITEMS)
    for s in range(0, 4000, 50):
        idx = torch.randint(0, coo.nnz, (50,), generator=g).numpy()
        u, pos = torch.as_tensor(coo.row[idx], dtype=torch.int64), torch.as_tensor(coo.col[idx], dtype=torch.int64)
        nb = mixed.sample_torch(u, pos, generator=g)
        B = u.numel()
        items, valid = nb.items.numpy(), nb.valid.numpy()
        assert not D[u.numpy()[:, None], items[:, B:]].any() and valid[:, B:].all()
        assert not (valid[:, :B] & D[u.numpy()[:, None], items[:, :B]]).any()
        us.append(u.numpy())
        obs += np.bincount(items[:, B:].ravel(), minlength=N_ITEMS)
    assert _chi2(obs, law[np.concatenate(us)].sum(0)) > P_MIN


def test_mixed_torch_shared_masks_every_seen_item():
    X = _data(0.75)
    D = X.toarray() > 0
    mixed = MixedSampler(InBatchSampler(X), NegativeSampler(X, k=16, alpha=0.75, seed=0), shared=True)
    g = torch.Generator().manual_seed(1)
    u, pos = torch.tensor([0, 1, 2, 3]), torch.as_tensor([int(np.flatnonzero(D[i])[0]) for i in range(4)])
    nb = mixed.sample_torch(u, pos, generator=g)
    negs, valid = nb.items[0, 4:].numpy(), nb.valid[:, 4:].numpy()
    np.testing.assert_array_equal(valid, ~D[u.numpy()[:, None], negs[None, :]] & (negs[None, :] != pos.numpy()[:, None]))


@pytest.mark.parametrize("alpha", [0.75, 0.0, -0.5])
def test_negative_sampler_torch_and_numpy_paths_agree_in_law(alpha):
    X = _data(alpha)
    D = X.toarray() > 0
    law = _law(X, alpha)
    users = np.repeat(np.arange(N_USERS), 40)
    s_np = NegativeSampler(X, k=5, alpha=alpha, seed=0)
    s_t = NegativeSampler(X, k=5, alpha=alpha, seed=0)
    a = s_np.sample(users).items
    b = s_t.sample_torch(torch.as_tensor(users), generator=torch.Generator().manual_seed(0), backend="torch")
    bi = b.items.numpy()
    for it in (a, bi):
        assert not D[users[:, None], it].any()
    np.testing.assert_allclose(b.log_q.numpy(), np.log(law[users[:, None], bi]), rtol=1e-5, atol=1e-5)
    oa, ob = np.bincount(a.ravel(), minlength=N_ITEMS), np.bincount(bi.ravel(), minlength=N_ITEMS)
    expected = law[users].sum(0) * 5
    assert _chi2(oa, expected) > P_MIN and _chi2(ob, expected) > P_MIN
    keep = (oa + ob) > 0
    assert stats.chi2_contingency(np.stack([oa[keep], ob[keep]])).pvalue > P_MIN


# ------------------------------------------------------------------ skip-gram
def _corpus(n_words=30, n_sent=300, length=20, seed=0):
    rng = np.random.default_rng(seed)
    z = 1.0 / np.arange(1, n_words + 1)
    return [[f"w{i}" for i in rng.choice(n_words, size=length, p=z / z.sum())] for _ in range(n_sent)]


@pytest.mark.parametrize("alpha", [0.75, 0.0, -0.5])
@pytest.mark.parametrize("shared", [False, True])
def test_torch_skipgram_negatives_follow_the_unigram_law(monkeypatch, alpha, shared):
    rec: list = []
    monkeypatch.setattr(TorchSkipGram, "record", rec)
    m = Word2Vec(_corpus(), vector_size=8, window=2, min_count=1, sample=0, negative=5, ns_exponent=alpha, epochs=1,
                 backend="torch", shared_negatives=shared, batch_size=256, progress=False, seed=3)
    p = popularity(m.vocab.counts, alpha)
    p = p / p.sum()
    V = p.size
    cen = torch.cat([r["centres"] for r in rec]).numpy()
    items = torch.cat([r["items"] for r in rec]).numpy()
    valid = torch.cat([r["valid"] for r in rec]).numpy()
    pairs = torch.cat([r["pairs"] for r in rec]).numpy()
    assert (pairs > 1).any() == shared  # shared: one draw per centre occurrence, reused by its pairs
    assert not (valid & (items == cen[:, None])).any()
    # law of a kept slot: p truncated to the words != centre
    n_valid = np.bincount(cen, weights=valid.sum(1), minlength=V)
    q = np.where(np.eye(V, dtype=bool), 0.0, p[None, :])
    expected = (n_valid[:, None] * q / q.sum(1, keepdims=True)).sum(0)
    observed = np.bincount(items[valid], minlength=V)
    assert _chi2(observed, expected) > P_MIN


def test_torch_skipgram_record_is_off_by_default():
    assert TorchSkipGram.record is None and TorchTrainer.record is None
