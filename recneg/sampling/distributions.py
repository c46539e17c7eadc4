"""Proposal distributions for negative sampling, as non-negative weight vectors.

Every function returns float64 weights of shape (n_items,); pass them to
:class:`recneg.sampling.alias.AliasTable` (they need not sum to 1).
"""
from __future__ import annotations

import numpy as np

from .alias import _check_weights


def popularity(counts: np.ndarray, alpha: float = 0.75, smoothing: float = 0.0) -> np.ndarray:
    """Popularity^alpha weights: ``w_i = (counts_i + smoothing) ** alpha``.

    Args:
        counts: non-negative interaction counts, shape (n_items,).
        alpha: any real exponent. 1 = proportional to frequency, 0.75 = word2vec,
            0 = uniform over all items, < 0 favours rare items.
        smoothing: added to every count before the power (>= 0).

    Zero counts (after smoothing) are finite by rule:
        * alpha > 0: weight 0 (the item is never drawn);
        * alpha == 0: weight 1 (uniform means every item);
        * alpha < 0: the weight of the rarest observed count, ``min_pos ** alpha``
          (an unseen item is treated as rare as the rarest seen one, never inf).

    Returns:
        float64 weights of shape (n_items,).
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"counts must be 1-D (one count per item), got shape {c.shape}")
    if c.size == 0:
        raise ValueError("counts is empty: need at least one item")
    if not np.all(np.isfinite(c)):
        raise ValueError("counts contains NaN or inf; counts must be finite and >= 0")
    if np.any(c < 0):
        raise ValueError("counts contains negative values; counts must be >= 0")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite real number, got {alpha!r}")
    if smoothing < 0 or not np.isfinite(smoothing):
        raise ValueError(f"smoothing must be finite and >= 0, got {smoothing!r}")
    c = c + smoothing
    alpha = float(alpha)
    if alpha == 0.0:
        return np.ones_like(c)
    pos = c > 0
    if not pos.any():
        raise ValueError(
            "counts are all zero and alpha != 0: no popularity to sample by; use alpha=0 (uniform) or add smoothing"
        )
    w = np.zeros_like(c)
    w[pos] = c[pos] ** alpha
    if alpha < 0:
        w[~pos] = c[pos].min() ** alpha
    return w


def uniform(n_items: int) -> np.ndarray:
    """Uniform weights over ``n_items`` items; float64 (n_items,)."""
    if int(n_items) <= 0:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    return np.ones(int(n_items), dtype=np.float64)


def custom(weights: np.ndarray) -> np.ndarray:
    """Validate user weights (finite, >= 0, not all zero); float64 copy (n_items,)."""
    return _check_weights(weights).copy()
