"""Train/test splits. Train and test always share one index space (same shape and id maps).

Every split drops test pairs whose user or item has no interaction left in train
(they cannot be scored by a model fit on train); the count is logged and stored in
``test.meta["dropped_cold_pairs"]``.
"""
from __future__ import annotations

import logging

import numpy as np

from .interactions import Interactions

logger = logging.getLogger(__name__)


def _finish(inter: Interactions, test_mask: np.ndarray, name: str) -> tuple[Interactions, Interactions]:
    train = inter._subset_pairs(~test_mask)
    users = inter.user_index_of_nnz
    warm_user = train.user_counts[users] > 0
    warm_item = train.item_counts[inter.indices] > 0
    cold = test_mask & ~(warm_user & warm_item)
    n_cold = int(cold.sum())
    test = inter._subset_pairs(test_mask & ~cold)
    info = {"split": name, "dropped_cold_pairs": n_cold, "n_train": train.nnz, "n_test": test.nnz}
    test.meta.update(info)
    train.meta.update(info)
    if n_cold:
        logger.warning("%s split: dropped %d test pairs whose user or item is absent from train", name, n_cold)
    return train, test


def split_random(inter: Interactions, test_fraction: float = 0.2, seed: int | None = 0) -> tuple[Interactions, Interactions]:
    """Random per-user holdout.

    Each user with ``n`` items puts ``round(test_fraction * n)`` of them (at most
    ``n - 1``, so every user keeps one training item) into test, chosen uniformly.

    Returns:
        (train, test) Interactions in the same index space.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    users = inter.user_index_of_nnz
    key = rng.random(inter.nnz)
    order = np.lexsort((key, users))
    counts = inter.user_counts
    rank = np.empty(inter.nnz, dtype=np.int64)
    rank[order] = np.arange(inter.nnz) - np.repeat(inter.indptr[:-1], counts)
    n_test = np.minimum(np.floor(test_fraction * counts + 0.5), np.maximum(counts - 1, 0)).astype(np.int64)
    test_mask = rank < n_test[users]
    return _finish(inter, test_mask, "random")


def split_leave_last_out(inter: Interactions, n_last: int = 1) -> tuple[Interactions, Interactions]:
    """Leave-last-out by timestamp: each user's ``n_last`` latest items go to test.

    Users with ``n_last`` items or fewer keep everything in train. Ties in time are
    broken by item index (the higher index counts as later).
    """
    if inter.timestamps is None:
        raise ValueError("leave-last-out needs timestamps; build the Interactions with time_col=...")
    if int(n_last) < 1:
        raise ValueError(f"n_last must be >= 1, got {n_last!r}")
    users = inter.user_index_of_nnz
    order = np.lexsort((inter.indices, inter.timestamps, users))
    counts = inter.user_counts
    rank_from_end = np.empty(inter.nnz, dtype=np.int64)
    pos = np.arange(inter.nnz) - np.repeat(inter.indptr[:-1], counts)
    rank_from_end[order] = np.repeat(counts, counts) - 1 - pos
    test_mask = (rank_from_end < n_last) & (counts[users] > n_last)
    return _finish(inter, test_mask, "leave_last_out")


def split_temporal(inter: Interactions, cut: float | None = None, quantile: float | None = None) -> tuple[Interactions, Interactions]:
    """Global temporal cut: pairs with timestamp >= ``cut`` go to test.

    Give either ``cut`` (a timestamp in the data's unit) or ``quantile`` in (0, 1)
    (the cut is that quantile of all timestamps).
    """
    if inter.timestamps is None:
        raise ValueError("a temporal split needs timestamps; build the Interactions with time_col=...")
    if (cut is None) == (quantile is None):
        raise ValueError("give exactly one of cut= (a timestamp) or quantile= (in (0, 1))")
    if quantile is not None:
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
        cut = float(np.quantile(inter.timestamps, quantile))
    test_mask = inter.timestamps >= cut
    if not test_mask.any():
        raise ValueError(f"cut={cut!r} puts no interaction into test; choose an earlier cut")
    if test_mask.all():
        raise ValueError(f"cut={cut!r} puts every interaction into test; choose a later cut")
    return _finish(inter, test_mask, "temporal")
