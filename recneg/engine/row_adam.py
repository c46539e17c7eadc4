"""Dense Adam computed on the rows a step touches (embedding tables), at the cost of those rows.

``torch.optim.Adam`` on an embedding table updates every row at every step: a row whose gradient
is zero still moves, ``lr * m_hat / (sqrt(v_hat) + eps)`` with its decaying moments. On a 41k-item
catalogue with a few thousand rows touched per step that is ~10x more optimiser work than the step
needs, and it grows with the catalogue instead of the batch. ``torch.optim.SparseAdam`` ("lazy Adam")
touches only the rows with a gradient but drops those moment-only moves, which changes training
(for user batches, where a user row is read once per epoch, it drops ~90% of each user's move).

:class:`RowAdam` keeps dense Adam's trajectory and touches only the rows read in a step. A row's
moment-only steps between its touches are applied in closed form before the row is next read:
for a row with moments (m, v) after its update at step t0, the steps t0+1 .. t1 move it by

    sum_{k=1..t1-t0} lr_{t0+k} (m b1^k / c1(t0+k)) / sqrt(v b2^k / c2(t0+k))
    = m / sqrt(v) * (A(t0) - r^(t1-t0) A(t1)),      r = b1 / sqrt(b2),
    A(t) = sum_{k>=1} r^k lr_{t+k} sqrt(c2(t+k)) / c1(t+k)     (c_i(s) = 1 - b_i^s),

a table over steps built once. The only approximation is that these moment-only steps leave out
``eps`` (relative error ~ eps / sqrt(v_hat)); the touched rows' own updates are torch's Adam formula.

Use: tables are 2-D tensors; call :meth:`RowAdam.catch_up` with the row indices a step reads *before*
reading them (the trainer does it in an embedding forward pre-hook), give the tables sparse gradients
(``nn.Embedding(sparse=True)``) and call :meth:`RowAdam.step`; :meth:`RowAdam.flush` brings every row
to the current step (before the tables are read as a whole: evaluation, averaging, saving).
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np
import torch

__all__ = ["RowAdam"]


class RowAdam:
    """Adam (torch's formula, no weight decay, no amsgrad) on the touched rows of 2-D tables.

    Args:
        params: 2-D leaf tensors (rows x columns) whose gradients are sparse (or dense; a dense gradient
            counts every row as touched).
        lr: the learning rate; ``param_groups[0]["lr"]`` is the rate of the next step's touched rows.
        betas, eps: as ``torch.optim.Adam``.
        lr_at: ``lr_at(s)`` the learning rate of step ``s`` (1-based), for the moment-only steps of rows
            not touched at ``s``; default: constant ``lr``. Give it when the rate is scheduled.
    """

    LOOKAHEAD = 512  # steps past the last needed one when building the tail table (r^512 < 1e-23)

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, lr_at: Callable[[int], float] | None = None) -> None:
        self.params = list(params)
        for p in self.params:
            if p.dim() != 2:
                raise ValueError(f"RowAdam updates rows of 2-D tables, got a tensor of shape {tuple(p.shape)}")
        self.param_groups = [{"params": self.params, "lr": float(lr)}]
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        if not (0.0 <= self.b1 < 1.0 and 0.0 < self.b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1) x (0, 1), got {betas!r}")
        self.r = self.b1 / math.sqrt(self.b2)
        self.eps = float(eps)
        self.lr_at = lr_at if lr_at is not None else (lambda s: float(lr))
        self.t = 0  # completed steps
        self.state = {}
        for p in self.params:  # (m | v) side by side: one gather and one scatter per step for both moments
            self.state[p] = (torch.zeros((p.shape[0], 2 * p.shape[1]), dtype=p.dtype, device=p.device),
                             torch.zeros(p.shape[0], dtype=torch.int64, device=p.device))
        self._tail = torch.zeros(1, dtype=torch.float64)  # A(t) for t = 0 .. len - 1

    # ---------------------------------------------------------------- tables
    def _tails(self, upto: int) -> torch.Tensor:
        """A(t) for t = 0 .. at least ``upto`` (float64, on the tables' device)."""
        if self._tail.numel() > upto:
            return self._tail
        n = max(2 * upto, 1024) + 1
        s = np.arange(1, n + self.LOOKAHEAD + 1, dtype=np.float64)
        lr = np.array([self.lr_at(int(k)) for k in s], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = lr * np.sqrt(1.0 - self.b2 ** s) / (1.0 - self.b1 ** s)
        h = np.nan_to_num(h)  # b1 = 0 cannot divide by zero; kept for safety
        a = np.zeros(s.size + 1)
        for t in range(s.size - 1, -1, -1):  # A(t) = r (h(t+1) + A(t+1))
            a[t] = self.r * (h[t] + a[t + 1])
        dev = self.params[0].device if self.params else torch.device("cpu")
        self._tail = torch.as_tensor(a[:n], device=dev)
        return self._tail

    # ---------------------------------------------------------------- updates
    @torch.no_grad()
    def _advance(self, p: torch.Tensor, rows: torch.Tensor, t1: int) -> None:
        """Apply the moment-only steps last[rows]+1 .. t1 to ``rows`` (repeats allowed: they get equal values)."""
        mv_all, last_all = self.state[p]
        d = p.shape[1]
        n = t1 - last_all.index_select(0, rows)
        behind = n > 0
        if not bool(behind.all()):
            rows, n = rows[behind], n[behind]
        if rows.numel() == 0:
            return
        tail = self._tails(t1)
        nf = n.to(torch.float64)
        coef = (tail.index_select(0, t1 - n) - torch.pow(self.r, nf) * tail[t1]).to(p.dtype).unsqueeze(1)
        mv = mv_all.index_select(0, rows)
        m, v = mv[:, :d], mv[:, d:]
        ratio = torch.where(v > 0, m / v.sqrt(), torch.zeros_like(m))
        p.index_copy_(0, rows, p.index_select(0, rows).sub_(coef * ratio))
        m.mul_(torch.pow(self.b1, nf).to(m.dtype).unsqueeze(1))
        v.mul_(torch.pow(self.b2, nf).to(v.dtype).unsqueeze(1))
        mv_all.index_copy_(0, rows, mv)
        last_all.index_fill_(0, rows, t1)

    def catch_up(self, p: torch.Tensor, rows: torch.Tensor) -> None:
        """Bring ``rows`` (int64, any shape, repeats allowed) of table ``p`` to the last completed step,
        as dense Adam would have left them; call before reading the rows in a step's forward pass."""
        self._advance(p, rows.reshape(-1), self.t)

    def flush(self) -> None:
        """Bring every row of every table to the last completed step (dense Adam's state, up to eps)."""
        for p in self.params:
            self._advance(p, torch.arange(p.shape[0], device=p.device), self.t)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on the rows with a gradient (a sparse gradient's rows; every row for a dense one)."""
        self.t += 1
        t = self.t
        lr = self.param_groups[0]["lr"]
        c1, c2 = 1.0 - self.b1 ** t, 1.0 - self.b2 ** t
        for p in self.params:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse:
                g = g.coalesce()
                rows, vals = g.indices()[0], g.values()
            else:
                rows, vals = torch.arange(p.shape[0], device=p.device), g
            if rows.numel() == 0:
                continue
            self._advance(p, rows, t - 1)
            mv_all, last_all = self.state[p]
            d = p.shape[1]
            mv = mv_all.index_select(0, rows)
            m = mv[:, :d].mul_(self.b1).add_(vals, alpha=1.0 - self.b1)
            v = mv[:, d:].mul_(self.b2).addcmul_(vals, vals, value=1.0 - self.b2)
            denom = (v.sqrt() / math.sqrt(c2)).add_(self.eps)
            p.index_copy_(0, rows, p.index_select(0, rows).addcdiv_(m, denom, value=-lr / c1))
            mv_all.index_copy_(0, rows, mv)
            last_all.index_fill_(0, rows, t)
