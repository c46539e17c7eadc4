"""A seeded synthetic interaction generator with planted structure.

Items belong to ``n_clusters`` latent clusters and have power-law popularity.
Each user has one home cluster and draws most of their items from it (weighted by
popularity), the rest from the global popularity. Models should recover the
clusters: item neighbours share a cluster, and recommendations beat most-popular.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Interactions


@dataclass
class SyntheticData:
    """Output of :func:`make_synthetic`.

    Attributes:
        interactions: Interactions (n_users x n_items) with timestamps (event order).
        item_cluster: int64 (n_items,), planted cluster of each item.
        user_cluster: int64 (n_users,), home cluster of each user.
        item_popularity: float64 (n_items,), the planted popularity weights (sum 1).
    """

    interactions: Interactions
    item_cluster: np.ndarray
    user_cluster: np.ndarray
    item_popularity: np.ndarray


def make_synthetic(
    n_users: int = 2000,
    n_items: int = 1000,
    n_clusters: int = 10,
    interactions_per_user: int = 30,
    zipf_exponent: float = 1.0,
    noise: float = 0.1,
    seed: int | None = 0,
) -> SyntheticData:
    """Generate interactions with power-law popularity and planted clusters.

    Args:
        n_users, n_items: matrix shape.
        n_clusters: number of latent item/user clusters (<= n_items).
        interactions_per_user: mean items per user (Poisson, at least 2, at most the
            cluster size).
        zipf_exponent: item popularity ~ rank^-zipf_exponent (ranks shuffled over items).
        noise: fraction of each user's items drawn from global popularity instead of
            their home cluster.
        seed: RNG seed; the same seed gives the same data.
    """
    for name, v in (("n_users", n_users), ("n_items", n_items), ("n_clusters", n_clusters), ("interactions_per_user", interactions_per_user)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v!r}")
    if n_clusters > n_items:
        raise ValueError(f"n_clusters={n_clusters} exceeds n_items={n_items}")
    if not 0.0 <= noise < 1.0:
        raise ValueError(f"noise must be in [0, 1), got {noise!r}")
    rng = np.random.default_rng(seed)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters).astype(np.int64)
    pop = (1.0 + rng.permutation(n_items)) ** -float(zipf_exponent)
    pop /= pop.sum()
    user_cluster = rng.integers(0, n_clusters, n_users).astype(np.int64)
    members = [np.flatnonzero(item_cluster == c) for c in range(n_clusters)]
    users, items = [], []
    n_per = np.clip(rng.poisson(interactions_per_user, n_users), 2, None)
    for u in range(n_users):
        m = members[user_cluster[u]]
        k = int(min(n_per[u], m.size))
        k_noise = int(rng.binomial(k, noise))
        pw = pop[m] / pop[m].sum()
        own = rng.choice(m, size=k - k_noise, replace=False, p=pw)
        extra = rng.choice(n_items, size=k_noise, replace=False, p=pop) if k_noise else np.empty(0, np.int64)
        chosen = np.unique(np.r_[own, extra])
        rng.shuffle(chosen)
        users.append(np.full(chosen.size, u, dtype=np.int64))
        items.append(chosen)
    u = np.concatenate(users)
    i = np.concatenate(items)
    t = np.arange(u.size, dtype=np.int64)
    inter = Interactions.from_arrays(u, i, timestamps=t, n_users=n_users, n_items=n_items)
    return SyntheticData(inter, item_cluster, user_cluster, pop)
