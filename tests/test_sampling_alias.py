"""Alias tables: goodness of fit for every front end and alpha, seeds, bad weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from numba import njit
from scipy.stats import chisquare

from recneg.sampling import AliasTable, TorchAliasTable, alias_draw, popularity
from recneg.sampling._rng import rng_next, rng_uniform, seed_states

ALPHAS = [-1.0, 0.0, 0.5, 0.75, 1.0]
N = 200_000


def zipf_counts(n=60):
    c = np.floor(3000.0 / (np.arange(n) + 1.0) ** 1.1)
    c[13] = 0  # a zero-count item
    return c


@njit(cache=True)
def _draw_with_alias_draw(prob, alias, n, state):
    out = np.empty(n, dtype=np.int64)
    s = state
    for t in range(n):
        s = rng_next(s)
        out[t] = alias_draw(prob, alias, rng_uniform(s))
    return out


def check_fit(draws, p):
    f = np.bincount(np.asarray(draws).ravel(), minlength=p.size)
    assert f.size == p.size
    zero = p == 0
    assert f[zero].sum() == 0
    return chisquare(f[~zero], p[~zero] * f.sum()).pvalue


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("front", ["numpy", "bulk", "torch", "alias_draw"])
def test_goodness_of_fit(alpha, front):
    w = popularity(zipf_counts(), alpha)
    t = AliasTable(w)
    p = w / w.sum()
    if alpha > 0:
        assert p[13] == 0
    else:
        assert p[13] > 0
    if front == "numpy":
        draws = t.sample(N, rng=1)
    elif front == "bulk":
        draws = t.sample_bulk(N, rng=1)
    elif front == "torch":
        draws = t.to_torch("cpu").sample(N, generator=torch.Generator().manual_seed(1)).numpy()
    else:
        draws = _draw_with_alias_draw(t.prob, t.alias, N, seed_states(1, 1)[0])
    assert check_fit(draws, p) > 1e-3


def test_table_reconstructs_distribution_exactly():
    w = popularity(zipf_counts(), 0.75)
    t = AliasTable(w)
    n = t.n
    recon = t.prob / n
    np.add.at(recon, t.alias, (1.0 - t.prob) / n)
    np.testing.assert_allclose(recon, t.p, atol=1e-12)
    assert t.prob.dtype == np.float64 and t.alias.dtype == np.int32


def test_seeds():
    t = AliasTable(np.arange(1, 50, dtype=float))
    np.testing.assert_array_equal(t.sample(1000, rng=3), t.sample(1000, rng=3))
    np.testing.assert_array_equal(t.sample_bulk(10_000, rng=3), t.sample_bulk(10_000, rng=3))
    assert (t.sample_bulk(10_000, rng=3) != t.sample_bulk(10_000, rng=4)).any()
    assert (t.sample(1000, rng=3) != t.sample(1000, rng=4)).any()
    tt = TorchAliasTable.from_weights(np.arange(1, 50, dtype=float))
    a = tt.sample(100, generator=torch.Generator().manual_seed(0))
    b = tt.sample(100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.dtype == torch.int64
    assert t.sample_bulk((3, 4), rng=0).shape == (3, 4)


@pytest.mark.parametrize("bad,match", [
    ([1.0, np.nan], "NaN"), ([1.0, -2.0], "negative"), ([0.0, 0.0], "all zero"),
    ([], "empty"), ([[1.0, 2.0]], "1-D"), ([1.0, np.inf], "inf"),
])
def test_bad_weights(bad, match):
    with pytest.raises(ValueError, match=match):
        AliasTable(np.array(bad))
