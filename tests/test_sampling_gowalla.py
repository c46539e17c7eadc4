"""Exact exclusion on the real Gowalla training split (reads ../shared/data)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recneg.sampling import NegativeSampler

GOWALLA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lightgcn" / "gowalla"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (GOWALLA / "train.txt").exists(), reason="Gowalla data not available"),
]


def test_gowalla_all_pairs_exclusion_and_log_q():
    from recneg.datasets import load_lightgcn

    train, _ = load_lightgcn(GOWALLA)
    csr = train.csr
    users = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr)).astype(np.int64)
    pos = csr.indices.astype(np.int64)
    s = NegativeSampler(train, k=5, alpha=0.75, seed=0)
    nb = s.sample(users, pos)
    assert nb.items.shape == (users.size, 5) and nb.valid is None
    for c in range(5):
        assert not np.asarray(csr[users, nb.items[:, c]]).ravel().any()
    # log_q = log p_j - log(1 - seen mass of the user), recomputed independently
    counts = np.bincount(csr.indices, minlength=csr.shape[1]).astype(np.float64)
    p = counts**0.75 / (counts**0.75).sum()
    seen_mass = np.add.reduceat(p[csr.indices], csr.indptr[:-1])
    seen_mass[np.diff(csr.indptr) == 0] = 0
    expect = np.log(p[nb.items]) - np.log1p(-seen_mass[users])[:, None]
    np.testing.assert_allclose(nb.log_q, expect, rtol=1e-5, atol=1e-5)
    # torch path on a slice agrees on validity and log_q
    sl = slice(0, 50_000)
    nt = s.sample_torch(torch.as_tensor(users[sl]), torch.as_tensor(pos[sl]), backend="torch")
    it = nt.items.numpy()
    for c in range(5):
        assert not np.asarray(csr[users[sl], it[:, c]]).ravel().any()
    np.testing.assert_allclose(nt.log_q.numpy(), np.log(p[it]) - np.log1p(-seen_mass[users[sl]])[:, None], rtol=1e-5, atol=1e-5)
