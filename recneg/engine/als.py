"""Alternating least squares for iALS's weighted squared loss over all items (numba kernels, CPU).

The loss (:class:`recneg.models.losses.WeightedSquared`), with scores ``s_ui = w_u . h_i``::

    L = sum_{(u,i) in S} c_ui (s_ui - 1)^2 + alpha0 sum_u sum_{i in N_u} s_ui^2 + sum_u lam_u |w_u|^2 + sum_i lam_i |h_i|^2

with ``N_u`` every item (``off = 0``) or the items u has not seen (``off = alpha0``). With the item factors H
fixed, each user's block is an exact d x d solve (the Gramian trick: the all-item term is ``alpha0 G``,
``G = H^T H``, computed once per half-step)::

    (alpha0 G + sum_{i in I_u} (c_ui - off) h_i h_i^T + lam_u I) w_u = sum_{i in I_u} c_ui h_i

and symmetrically for the items. Two solvers, ``prange`` over rows:

* ``"cholesky"``: build the matrix (float64) and factor it: exact; O(nnz d^2 + rows d^3) per epoch;
* ``"cg"``: ``cg_steps`` conjugate-gradient steps warm-started from the current row (as implicit's ALS),
  never forming the matrix: O(cg_steps (nnz d + rows d^2)) per epoch; a row without pairs is set to its
  exact solution, 0. CG from the previous factors lowers
  the same quadratic at every step, so the objective still never increases.

Kernels use ``error_model="numpy"``: a singular system (reg = 0 and a row without data) gives NaN factors,
which the model's per-epoch check reports.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

__all__ = ["solve_rows_cholesky", "solve_rows_cg", "observed_terms", "row_regularization", "ALSTrainer"]


@njit(cache=True, fastmath=True, error_model="numpy")
def _cholesky_solve(A: np.ndarray, b: np.ndarray, x: np.ndarray) -> None:
    """Solve ``A x = b`` for a symmetric positive definite ``A`` (d, d) float64, only its lower triangle read
    and overwritten by the Cholesky factor; ``x`` (d,) float64 receives the solution."""
    d = A.shape[0]
    for j in range(d):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if s <= 0.0:  # not positive definite: NaN, reported by the model's finiteness check
            s = np.nan
        ljj = math.sqrt(s)
        A[j, j] = ljj
        inv = 1.0 / ljj
        for i in range(j + 1, d):
            t = A[i, j]
            for k in range(j):
                t -= A[i, k] * A[j, k]
            A[i, j] = t * inv
    for i in range(d):  # L z = b
        t = b[i]
        for k in range(i):
            t -= A[i, k] * x[k]
        x[i] = t / A[i, i]
    for i in range(d - 1, -1, -1):  # L^T x = z
        t = x[i]
        for k in range(i + 1, d):
            t -= A[k, i] * x[k]
        x[i] = t / A[i, i]


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def solve_rows_cholesky(indptr: np.ndarray, indices: np.ndarray, conf: np.ndarray, X: np.ndarray, Y: np.ndarray,
                        G: np.ndarray, lam: np.ndarray, off: float) -> None:
    """Exact block solve of every row of ``X`` (n, d) float32 given ``Y`` (m, d) float32, in place.

    Args:
        indptr, indices, conf: CSR (n x m) of the training pairs with their confidences ``c`` (float32).
        G: ``alpha0 * Y^T Y`` (d, d) float64.
        lam: per-row L2 coefficients (n,) float64.
        off: ``alpha0`` when a seen item is not a negative, else 0.
    """
    n, d = X.shape
    for u in prange(n):
        A = np.empty((d, d))
        b = np.zeros(d)
        x = np.empty(d)
        hv = np.empty(d)
        for a in range(d):
            for c in range(a + 1):
                A[a, c] = G[a, c]
            A[a, a] += lam[u]
        for p in range(indptr[u], indptr[u + 1]):
            i = indices[p]
            cu = np.float64(conf[p])
            w = cu - off
            for a in range(d):
                hv[a] = Y[i, a]
            for a in range(d):
                wa = w * hv[a]
                b[a] += cu * hv[a]
                for c in range(a + 1):
                    A[a, c] += wa * hv[c]
        _cholesky_solve(A, b, x)
        for a in range(d):
            X[u, a] = x[a]


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def solve_rows_cg(indptr: np.ndarray, indices: np.ndarray, conf: np.ndarray, X: np.ndarray, Y: np.ndarray,
                  G: np.ndarray, lam: np.ndarray, off: float, steps: int) -> None:
    """``steps`` conjugate-gradient steps on every row's block system (see :func:`solve_rows_cholesky`), started
    from the row's current value (float64 inside, ``X`` float32 updated in place); never forms the matrix."""
    n, d = X.shape
    Gf = G.astype(np.float32)
    for u in prange(n):
        if indptr[u] == indptr[u + 1]:  # no pairs: b = 0, so the exact solution is 0 (as implicit sets it);
            for a in range(d):         # CG from the previous value would leave its residual noise instead
                X[u, a] = 0.0
            continue
        x = np.empty(d, dtype=np.float32)
        r = np.empty(d, dtype=np.float32)
        p = np.empty(d, dtype=np.float32)
        Ap = np.empty(d, dtype=np.float32)
        for a in range(d):
            x[a] = X[u, a]
        lu = np.float32(lam[u])
        # r = b - A x
        for a in range(d):
            t = np.float32(0.0)
            for c in range(d):
                t += Gf[a, c] * x[c]
            r[a] = -t - lu * x[a]
        for q in range(indptr[u], indptr[u + 1]):
            i = indices[q]
            cu = conf[q]
            s = np.float32(0.0)
            for a in range(d):
                s += Y[i, a] * x[a]
            coef = cu - (cu - np.float32(off)) * s
            for a in range(d):
                r[a] += coef * Y[i, a]
        rs = np.float32(0.0)
        for a in range(d):
            p[a] = r[a]
            rs += r[a] * r[a]
        for _ in range(steps):
            if rs < 1e-20:
                break
            for a in range(d):
                t = np.float32(0.0)
                for c in range(d):
                    t += Gf[a, c] * p[c]
                Ap[a] = t + lu * p[a]
            for q in range(indptr[u], indptr[u + 1]):
                i = indices[q]
                s = np.float32(0.0)
                for a in range(d):
                    s += Y[i, a] * p[a]
                s *= conf[q] - np.float32(off)
                for a in range(d):
                    Ap[a] += s * Y[i, a]
            pAp = np.float32(0.0)
            for a in range(d):
                pAp += p[a] * Ap[a]
            step = rs / pAp
            rs_new = np.float32(0.0)
            for a in range(d):
                x[a] += step * p[a]
                r[a] -= step * Ap[a]
                rs_new += r[a] * r[a]
            beta = rs_new / rs
            for a in range(d):
                p[a] = r[a] + beta * p[a]
            rs = rs_new
        for a in range(d):
            X[u, a] = x[a]


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def observed_terms(indptr: np.ndarray, indices: np.ndarray, conf: np.ndarray, U: np.ndarray, V: np.ndarray,
                   off: float) -> float:
    """``sum_{(u,i) in S} c_ui (s_ui - 1)^2 - off * s_ui^2`` (float64): the part of the loss on the training
    pairs, the all-item term ``alpha0 sum s^2`` taken out (it is ``alpha0 * <U^T U, V^T V>``)."""
    n, d = U.shape
    out = np.zeros(n)
    for u in prange(n):
        t = 0.0
        for p in range(indptr[u], indptr[u + 1]):
            i = indices[p]
            s = 0.0
            for a in range(d):
                s += np.float64(U[u, a]) * V[i, a]
            t += conf[p] * (s - 1.0) ** 2 - off * s * s
        out[u] = t
    return out.sum()


def row_regularization(csr: sp.csr_matrix, reg: float, alpha0: float, nu: float, exclude_seen: bool) -> np.ndarray:
    """Per-row L2 coefficients ``reg * n_u^nu`` (float64 (rows,)), ``n_u = sum_i c_ui + alpha0 |N_u|`` the row's
    total weight (``|N_u|`` = columns, less the row's own when seen items are not negatives)."""
    n_cols = csr.shape[1]
    counts = np.diff(csr.indptr)
    rows = np.repeat(np.arange(csr.shape[0]), counts)
    csum = np.bincount(rows, weights=csr.data.astype(np.float64), minlength=csr.shape[0])
    negs = n_cols - counts if exclude_seen else np.full(csr.shape[0], n_cols)
    if nu == 0.0:
        return np.full(csr.shape[0], float(reg))
    return float(reg) * (csum + alpha0 * negs) ** nu


class ALSTrainer:
    """Epochs of alternating exact block solves (users, then items), the counterpart of
    :class:`recneg.engine.bpr.NumbaBPRTrainer`.

    Args:
        C: users x items CSR of confidences ``c_ui`` (float32, > 0 on the training pairs).
        U, V: float32 (n_users, d), (n_items, d) factors, updated in place (U is solved first, so only V's
            start matters).
        alpha0, reg, nu, exclude_seen: the loss (see the module docstring).
        solver: "cholesky" or "cg"; cg_steps: CG steps per row and half-step.
        workers: numba threads.
        track_loss: compute the objective after every epoch (else NaN).

    ``trainer(epoch)`` runs one epoch and returns the objective ``L`` after it (float; NaN unless ``track_loss``).
    """

    def __init__(self, C: sp.csr_matrix, U: np.ndarray, V: np.ndarray, *, alpha0: float, reg: float, nu: float,
                 exclude_seen: bool, solver: str = "cg", cg_steps: int = 3, workers: int = 2,
                 track_loss: bool = True) -> None:
        if solver not in ("cholesky", "cg"):
            raise ValueError(f"solver must be 'cholesky' or 'cg', got {solver!r}")
        self.U, self.V = U, V
        self.alpha0, self.off = float(alpha0), float(alpha0) if exclude_seen else 0.0
        self.solver, self.cg_steps, self.workers = solver, int(cg_steps), int(workers)
        self.track_loss = bool(track_loss)
        C = sp.csr_matrix(C, dtype=np.float32)
        Ct = C.T.tocsr()
        Ct.sort_indices()
        self._rows = (C.indptr.astype(np.int64), C.indices.astype(np.int32), C.data.astype(np.float32))
        self._cols = (Ct.indptr.astype(np.int64), Ct.indices.astype(np.int32), Ct.data.astype(np.float32))
        self.lam_u = row_regularization(C, reg, alpha0, nu, exclude_seen)
        self.lam_i = row_regularization(Ct, reg, alpha0, nu, exclude_seen)

    def gram(self, Y: np.ndarray) -> np.ndarray:
        """``alpha0 * Y^T Y`` (d, d) float64."""
        Y64 = Y.astype(np.float64)
        return self.alpha0 * (Y64.T @ Y64)

    def half_step(self, users: bool) -> None:
        """Solve every user (``users=True``) or item block exactly (cholesky) or by CG, the other side fixed."""
        X, Y, (indptr, indices, conf), lam = (self.U, self.V, self._rows, self.lam_u) if users else (
            self.V, self.U, self._cols, self.lam_i)
        G = self.gram(Y)
        old = numba.get_num_threads()
        numba.set_num_threads(min(self.workers, numba.config.NUMBA_NUM_THREADS))
        try:
            if self.solver == "cholesky":
                solve_rows_cholesky(indptr, indices, conf, X, Y, G, lam, self.off)
            else:
                solve_rows_cg(indptr, indices, conf, X, Y, G, lam, self.off, self.cg_steps)
        finally:
            numba.set_num_threads(old)

    def objective(self) -> float:
        """The loss ``L`` at the current factors (float64 sums; O(nnz d + (users + items) d^2))."""
        indptr, indices, conf = self._rows
        old = numba.get_num_threads()
        numba.set_num_threads(min(self.workers, numba.config.NUMBA_NUM_THREADS))
        try:
            obs = observed_terms(indptr, indices, conf, self.U, self.V, self.off)
        finally:
            numba.set_num_threads(old)
        U64, V64 = self.U.astype(np.float64), self.V.astype(np.float64)
        allitems = self.alpha0 * float(np.sum((U64.T @ U64) * (V64.T @ V64)))
        reg = float(self.lam_u @ np.einsum("ij,ij->i", U64, U64) + self.lam_i @ np.einsum("ij,ij->i", V64, V64))
        return float(obs) + allitems + reg

    def __call__(self, epoch: int) -> float:
        """One epoch (users, then items); returns the objective after it (NaN unless ``track_loss``)."""
        self.half_step(users=True)
        self.half_step(users=False)
        return self.objective() if self.track_loss else math.nan
