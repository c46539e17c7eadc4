from __future__ import annotations

from pathlib import Path

import pytest

from recneg.datasets import make_synthetic

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
