"""The one top-N helper of every model's ``recommend`` and ``similar_items``."""
from __future__ import annotations

import numpy as np


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-``n`` of ``scores`` (rows, n_items), highest first (equal scores in the list in index order).

    Returns:
        (ids int32 (rows, min(n, n_items)), scores float32 of the same shape): implicit's dtypes
        (its evaluation code needs int32 ids). ``-inf`` entries (filtered items) sort last.
    """
    n = min(int(n), scores.shape[1])
    part = np.sort(np.argpartition(-scores, n - 1, axis=1)[:, :n], axis=1)
    ps = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-ps, axis=1, kind="stable")
    return (np.take_along_axis(part, order, axis=1).astype(np.int32),
            np.take_along_axis(ps, order, axis=1).astype(np.float32))
