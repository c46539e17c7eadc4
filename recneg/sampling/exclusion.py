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


_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_S32 = np.uint64(32)


@njit(cache=True)
def build_row_hash(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row open-addressing hash sets of the CSR column indices.

    Row ``u`` owns slots ``table[offsets[u]:offsets[u+1]]``: a power of two >= 4 * row length
    (0 for an empty row), empty slots hold -1. At load <= 1/4 a miss usually ends at the first
    probe, against O(log row) dependent loads for a binary search (measured 2x faster than
    load <= 1/2 on Gowalla). Memory: 16 to 32 bytes per stored interaction.

    Returns:
        offsets int64 (n_rows + 1,), table int32 (offsets[-1],).
    """
    n_rows = indptr.shape[0] - 1
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    for u in range(n_rows):
        length = indptr[u + 1] - indptr[u]
        size = 0
        if length > 0:
            size = 2
            while size < 4 * length:
                size *= 2
        offsets[u + 1] = offsets[u] + size
    table = np.full(offsets[n_rows], -1, dtype=np.int32)
    for u in range(n_rows):
        start = offsets[u]
        mask = offsets[u + 1] - start - 1
        for t in range(indptr[u], indptr[u + 1]):
            item = indices[t]
            h = np.int64((np.uint64(item) * _HASH_MUL) >> _S32) & mask
            while table[start + h] != -1 and table[start + h] != item:
                h = (h + 1) & mask
            table[start + h] = item
    return offsets, table


@njit(cache=True, inline="always")
def in_hash_slots(table: np.ndarray, start: int, mask: int, item: int) -> bool:
    """True when ``item`` is in the hash set ``table[start:start + mask + 1]`` of one row (``mask`` = size - 1;
    -1 for an empty row). The per-row part of :func:`in_row_hash`, for kernels that hoist ``start``/``mask``
    out of a loop over one row's draws."""
    if mask < 0:
        return False
    h = np.int64((np.uint64(item) * _HASH_MUL) >> _S32) & mask
    while True:
        v = table[start + h]
        if v == item:
            return True
        if v == -1:
            return False
        h = (h + 1) & mask


@njit(cache=True, inline="always")
def in_row_hash(offsets: np.ndarray, table: np.ndarray, row: int, item: int) -> bool:
    """True when ``item`` is in row ``row`` of a :func:`build_row_hash` table (expected O(1))."""
    start = offsets[row]
    return in_hash_slots(table, start, offsets[row + 1] - start - 1, item)
