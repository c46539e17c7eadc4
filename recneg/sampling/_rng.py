"""Counter-free random numbers for numba kernels.

Kernels keep one ``uint64`` state per thread (or per work chunk) and advance it
with xorshift64*; this is much cheaper than ``np.random`` inside ``prange`` and,
unlike it, reproducible across thread counts when states are seeded per chunk.

Contract:
    s = rng_next(s)        # advance the state (never 0 if seeded != 0)
    u = rng_uniform(s)     # float64 in [0, 1) from the current state
"""
from __future__ import annotations

import numpy as np
from numba import njit

_M = np.uint64(0x2545F4914F6CDD1D)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def rng_next(s: np.uint64) -> np.uint64:
    """Advance a xorshift64 state by one step."""
    s ^= s >> _S12
    s ^= s << _S25
    s ^= s >> _S27
    return s


@njit(cache=True, inline="always")
def rng_uniform(s: np.uint64) -> float:
    """Map a state to a float64 in [0, 1) (53 random bits, xorshift64* output)."""
    return float((s * _M) >> _S11) * _INV53


def seed_states(seed: int | None, n: int) -> np.ndarray:
    """``n`` independent non-zero uint64 states derived from ``seed``.

    Returns:
        uint64 array of shape (n,).
    """
    ss = np.random.SeedSequence(seed)
    st = ss.generate_state(max(n, 1) * 2, dtype=np.uint32).astype(np.uint64)
    st = (st[0::2] << np.uint64(32)) | st[1::2]
    st[st == 0] = np.uint64(0x9E3779B97F4A7C15)
    return st[:n].copy()


_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S31 = np.uint64(31)


@njit(cache=True, inline="always")
def row_state(base: np.uint64, row: np.int64) -> np.uint64:
    """A non-zero xorshift state for work item ``row`` derived from a per-call ``base``.

    splitmix64 of ``base + (row + 1) * golden``: rows get independent streams, so a
    kernel's output depends only on ``base`` and never on the number of threads.
    """
    z = base + np.uint64(row + 1) * _SM_GAMMA
    z = (z ^ (z >> _S30)) * _SM_M1
    z = (z ^ (z >> np.uint64(27))) * _SM_M2
    z = z ^ (z >> _S31)
    if z == np.uint64(0):
        z = _SM_GAMMA
    return z
