from __future__ import annotations

from pathlib import Path

import pytest

from recneg.data import split_random
from recneg.datasets import make_synthetic
from recneg.evaluation.ranking import most_popular_scores, ranking_metrics

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout; tests that need it skip when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="module")
def synth():
    """Planted clusters (600 users, 120 items, 6 clusters, no noise) for the recovery tests."""
    return make_synthetic(n_users=600, n_items=120, n_clusters=6, interactions_per_user=12, noise=0.0, seed=0)


@pytest.fixture(scope="module")
def planted():
    """Planted clusters with noise (600 users, 300 items, 6 clusters), 80/20 split: (data, train, test, Recall@20
    of most-popular on test), the bar the MF recovery tests must clear. test_mf.py defines its own."""
    data = make_synthetic(n_users=600, n_items=300, n_clusters=6, interactions_per_user=20, noise=0.1, seed=0)
    train, test = split_random(data.interactions, test_fraction=0.2, seed=0)
    pop = ranking_metrics(train=train, test=test, K=20, score_fn=most_popular_scores(train),
                          metrics=["recall"]).metrics["recall@20"]
    return data, train, test, pop


@pytest.fixture(scope="module")
def tiny():
    """A tiny planted-cluster matrix (60 users, 40 items) for the samplers' quick checks; test modules with a
    different ``tiny`` define their own."""
    return make_synthetic(n_users=60, n_items=40, n_clusters=3, interactions_per_user=6, seed=1).interactions
