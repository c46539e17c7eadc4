"""Membership tests against a CSR row, for kernels that exclude seen items.

Rows must have sorted column indices (``Interactions.csr`` guarantees it).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def is_seen(indptr: np.ndarray, indices: np.ndarray, row: int, item: int) -> bool:
    """True when ``item`` is in CSR row ``row`` (binary search; O(log row length))."""
    lo = indptr[row]
    hi = indptr[row + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False
