"""Proposal distributions for negative sampling, as non-negative weight vectors.

Every function returns float64 weights of shape (n_items,); pass them to
:class:`recneg.sampling.alias.AliasTable` (they need not sum to 1).
"""
from __future__ import annotations

import numpy as np

from .alias import _check_weights


def popularity(counts: np.ndarray, alpha: float = 0.75, smoothing: float = 0.0) -> np.ndarray:
    """Popularity^alpha weights: ``w_i ∝ (counts_i + smoothing) ** alpha``, scaled so the largest is 1.

    Computed in log space (``exp(alpha * (log c_i - log c_ref))`` with ``c_ref`` the count of
    largest weight), so any finite alpha gives a well-defined law: a huge positive alpha puts
    all the mass on the most popular item(s), a huge negative one on the rarest.

    Args:
        counts: non-negative interaction counts, shape (n_items,).
        alpha: any finite real exponent. 1 = proportional to frequency, 0.75 = word2vec,
            0 = uniform over all items, < 0 favours rare items.
        smoothing: added to every count before the power (>= 0).

    Zero counts (after smoothing) are finite by rule:
        * alpha > 0: weight 0 (the item is never drawn);
        * alpha == 0: weight 1 (uniform means every item);
        * alpha < 0: the weight of the rarest observed count, ``min_pos ** alpha``
          (an unseen item is treated as rare as the rarest seen one, never inf).

    Returns:
        float64 weights of shape (n_items,), max 1.
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
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be a real number, got {alpha!r}") from None
    if not np.isfinite(a):
        raise ValueError(f"alpha must be a finite real number, got {alpha!r}")
    if smoothing < 0 or not np.isfinite(smoothing):
        raise ValueError(f"smoothing must be finite and >= 0, got {smoothing!r}")
    c = c + smoothing
    if not np.all(np.isfinite(c)):
        raise ValueError(f"counts + smoothing overflows float64 (smoothing={smoothing!r}); use smaller values")
    if a == 0.0:
        return np.ones_like(c)
    pos = c > 0
    if not pos.any():
        raise ValueError(
            "counts are all zero and alpha != 0: no popularity to sample by; use alpha=0 (uniform) or add smoothing"
        )
    log_c = np.log(c[pos])
    # the item of largest weight: most popular for alpha > 0, rarest for alpha < 0; then every
    # exponent alpha * (log c - log c_ref) is <= 0 (never overflows, and no inf - inf)
    ref = log_c.max() if a > 0 else log_c.min()
    w = np.zeros_like(c)
    w[pos] = np.exp(a * (log_c - ref))
    if a < 0:
        w[~pos] = 1.0  # as rare as the rarest seen count, which has the largest weight, 1
    return w


def uniform(n_items: int) -> np.ndarray:
    """Uniform weights over ``n_items`` items; float64 (n_items,)."""
    if int(n_items) <= 0:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    return np.ones(int(n_items), dtype=np.float64)


def custom(weights: np.ndarray) -> np.ndarray:
    """Validate user weights (finite, >= 0, not all zero); float64 copy (n_items,)."""
    return _check_weights(weights).copy()
