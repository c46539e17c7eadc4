"""Sharded full-ranking evaluation: 2 gloo ranks give the single-process RankingResult exactly."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from dist_helpers import run_ranks, value_errors
from recneg import distributed
from recneg.evaluation.ranking import ranking_metrics

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _tiny():
    """9 users x 7 items with exact ties, a user without test items and a cold user."""
    rng = np.random.default_rng(3)
    S = rng.integers(0, 3, size=(9, 7)).astype(np.float32)  # many ties
    train = sp.random(9, 7, density=0.3, random_state=1, format="csr")
    train.data[:] = 1
    test = sp.random(9, 7, density=0.35, random_state=2, format="csr")
    test.data[:] = 1
    test = test.tolil()
    test[4, :] = 0  # no test items
    test = test.tocsr()
    test.eliminate_zeros()
    train = train.tolil()
    train[7, :] = 0  # cold
    train[6, :] = 0
    train[6, 0] = 1
    train = train.tocsr()
    train.eliminate_zeros()
    test = test.tolil()
    test[7, 1] = 1
    return S, train.tocsr(), test.tocsr()


def _factors(n_users=943, n_items=1682, d=16, seed=0):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n_users, d)).astype(np.float32)
    V = rng.standard_normal((n_items, d)).astype(np.float32)
    train = sp.random(n_users, n_items, density=0.04, random_state=seed, format="csr")
    test = sp.random(n_users, n_items, density=0.01, random_state=seed + 1, format="csr")
    return U, V, train, test


def _own_rows(m: sp.csr_matrix, rank: int, world: int) -> sp.csr_matrix:
    """Only the rows of this rank's user block (what a per-rank reader materialises)."""
    a, b = distributed.user_block(m.shape[0], rank, world)
    keep = np.zeros(m.shape[0])
    keep[a:b] = 1
    return sp.csr_matrix(sp.diags(keep) @ m)


def _summary(r):
    return (r.metrics, r.K, r.n_users_evaluated, r.n_users_skipped, r.n_users_skipped_no_test, r.n_users_skipped_cold,
            r.users, r.per_user, r.top_items)


def _eval_tiny(rank, batch_size, users, own_rows_only):
    S, train, test = _tiny()
    if own_rows_only:
        train, test = _own_rows(train, rank, 2), _own_rows(test, rank, 2)
    sizes = []

    def score(u):
        sizes.append(len(u))
        return S[u]

    r = ranking_metrics(score_fn=score, train=train, test=test, K=[1, 3, 5], per_user=True,
                        batch_size=batch_size, users=users)
    forced = ranking_metrics(score_fn=lambda u: S[u], train=train, test=test, K=[1, 3, 5], distributed=False,
                             batch_size=batch_size, users=users)
    return _summary(r), forced.n_users_evaluated, sizes


def _assert_same(a, b):
    ma, mb = a[0], b[0]
    assert list(ma) == list(mb) and all(ma[k] == mb[k] for k in ma), (ma, mb)  # exact, same key order
    assert a[1:6] == b[1:6]
    if a[6] is not None or b[6] is not None:
        assert np.array_equal(a[6], b[6]) and np.array_equal(a[8], b[8])
        assert a[7].keys() == b[7].keys() and all(np.array_equal(a[7][k], b[7][k]) for k in a[7])


@pytest.mark.parametrize("batch_size,users", [(None, None), (2, None), (1, None), (4, [8, 0, 5, 3, 7, 4, 1, 2, 6, 0])])
def test_sharded_tiny_equals_single_process(batch_size, users):
    S, train, test = _tiny()
    users_arr = None if users is None else np.array(users)
    sizes = []

    def score(u):
        sizes.append(len(u))
        return S[u]

    single = _summary(ranking_metrics(score_fn=score, train=train, test=test, K=[1, 3, 5], per_user=True,
                                      batch_size=batch_size, users=users_arr))
    assert single[4] == 1 and single[5] >= 1 and "coverage@5" in single[0]  # the edge cases are present
    out = run_ranks(_eval_tiny, 2, batch_size, users_arr, True)
    for summary, _, _ in out:
        _assert_same(summary, single)
    # scores are computed in batches of the single-process sizes (BLAS may round a 1-row batch differently)
    assert all(set(rank_sizes) <= set(sizes) for _, _, rank_sizes in out)
    if users is None:  # users in user order: together the ranks score at most one batch more than one process
        assert sum(len(s) for _, _, s in out) <= len(sizes) + 1
    # distributed=False inside the group: each rank alone sees only its rows -> its own (partial) count
    assert [n for _, n, _ in out] != [single[2]] * 2


def _eval_factors(rank, per_user):
    U, V, train, test = _factors()
    r = ranking_metrics(user_factors=U, item_factors=V, train=_own_rows(train, rank, 2),
                        test=_own_rows(test, rank, 2), K=[5, 20], per_user=per_user, batch_size=100)
    return _summary(r)


def test_sharded_ml100k_sized_factors_equal_single_process():
    U, V, train, test = _factors()
    single = _summary(ranking_metrics(user_factors=U, item_factors=V, train=train, test=test, K=[5, 20],
                                      per_user=True, batch_size=100))
    for summary in run_ranks(_eval_factors, 2, True):
        _assert_same(summary, single)


def _eval_errors(rank):
    S, train, test = _tiny()
    users = np.array([0, 1, 2]) if rank == 0 else np.array([0, 1, 3])  # the ranks disagree

    def metrics(**kw):
        return lambda: ranking_metrics(score_fn=lambda u: S[u], train=train, test=test, K=3, **kw)

    return value_errors(metrics(users=users), metrics(n_sampled_negatives=5))


def test_sharded_errors_are_raised_on_every_rank():
    for msgs in run_ranks(_eval_errors, 2):
        assert "disagree on ['users checksum']" in msgs[0]
        assert "distributed=False" in msgs[1]


def test_distributed_true_without_group_is_a_clear_error(monkeypatch, caplog):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    S, train, test = _tiny()
    with pytest.raises(ValueError, match="distributed=True but no process group"):
        ranking_metrics(score_fn=lambda u: S[u], train=train, test=test, K=3, distributed=True)
    with pytest.raises(TypeError, match="distributed must be"):
        ranking_metrics(score_fn=lambda u: S[u], train=train, test=test, K=3, distributed="yes")
    with caplog.at_level(logging.WARNING):
        a = ranking_metrics(score_fn=lambda u: S[u], train=train, test=test, K=3, distributed=False)
    b = ranking_metrics(score_fn=lambda u: S[u], train=train, test=test, K=3)
    assert a.metrics == b.metrics
