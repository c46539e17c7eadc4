"""Torch negative draws for the batched / GPU training paths (device-agnostic).

The same laws as the numba side, one implementation each:

* :class:`TorchProposal`: i.i.d. draws from a proposal ``p`` (alias table; uniform fast path);
* :class:`SeenIndex`: the seen-key index (sorted int64 keys ``user * n_items + item``,
  ``searchsorted`` membership), the one exclusion helper of every torch path;
* :func:`draw_exclusive`: exact exclusion per example: rejection rounds, then an exact
  complement draw (bisection of the unseen cumulative mass) for the rows still hitting
  and for heavy users: never a seen negative, never a skipped one;
* :func:`shared_negatives` / :func:`shared_valid_mask`: one set of draws for a batch with
  a (B, N) validity mask (seen items and the row's positive masked);
* :func:`in_batch_negatives`: the batch's positives as negatives, with logQ and
  accidental-hit masking (mixed = in-batch next to proposal draws);
* :func:`pick_hard` / :func:`draw_dns`: DNS, best of ``m`` candidates by a caller's score;
* :func:`draw_avoiding`: word2vec's law, draws != the centre word (redrawn, else skipped).

Every function takes and returns tensors on one device; randomness comes from a
``torch.Generator`` on that device. Host round trips happen only on rare rounding
fallbacks, never per batch.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .alias import AliasTable
from .kernels import EXACT_NORM_BELOW as _EXACT_NORM_BELOW
from .kernels import row_stats as _row_stats
from .negative import _complement_many

__all__ = [
    "TorchProposal",
    "SeenIndex",
    "TorchExclusion",
    "gather_rows",
    "draw_per_example",
    "draw_exclusive",
    "shared_negatives",
    "shared_valid_mask",
    "in_batch_negatives",
    "global_in_batch_negatives",
    "pick_hard",
    "draw_dns",
    "draw_avoiding",
]


class TorchProposal:
    """A proposal distribution over ``n`` items on a device.

    Attributes:
        table: :class:`~recneg.sampling.alias.TorchAliasTable` (O(1) draws).
        p: float64 (n,) probabilities; cum: float64 (n + 1,) cumulative mass (cum[0] = 0);
        log_p: float32 (n,) log-probabilities (-inf for zero weight).
        uniform: True when every item has the same weight (draws use ``torch.randint``).
    """

    def __init__(self, table: AliasTable, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.n = table.n
        self.table = table.to_torch(self.device)
        self.p_host = table.p
        self.cum_host = np.concatenate(([0.0], np.cumsum(table.p)))
        self.p = torch.as_tensor(table.p, dtype=torch.float64, device=self.device)
        self.cum = torch.as_tensor(self.cum_host, dtype=torch.float64, device=self.device)
        self.log_p = self.table.log_p
        self.uniform = bool(np.ptp(table.p) == 0.0)

    @classmethod
    def from_weights(cls, weights: np.ndarray, device: torch.device | str = "cpu") -> "TorchProposal":
        """From non-negative float (n,) weights (need not sum to 1)."""
        return cls(AliasTable(weights), device)

    def draw(self, shape: int | tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        """int64 tensor of ``shape`` of i.i.d. draws, on the proposal's device."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if self.uniform:
            return torch.randint(0, self.n, shape, generator=generator, device=self.device)
        return self.table.sample(shape, generator=generator)


class SeenIndex:
    """A users x items CSR on a device, for vectorised "has user u seen item j" tests.

    Args:
        indptr: int (n_users + 1,); indices: int (nnz,), sorted within rows (numpy or tensors).
        n_items: number of columns.

    Attributes:
        keys: int64 (nnz,) sorted keys ``user * n_items + item``.
    """

    def __init__(self, indptr, indices, n_items: int, device: torch.device | str = "cpu") -> None:
        dev = torch.device(device)
        self.indptr = torch.as_tensor(np.asarray(indptr) if not isinstance(indptr, torch.Tensor) else indptr,
                                      dtype=torch.int64, device=dev)
        self.indices = torch.as_tensor(np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices,
                                       dtype=torch.int64, device=dev)
        self.n_items = int(n_items)
        self.n_users = self.indptr.numel() - 1
        rows = torch.repeat_interleave(torch.arange(self.n_users, device=dev), self.indptr[1:] - self.indptr[:-1])
        self.keys = rows * self.n_items + self.indices  # sorted: rows ascending, items sorted per row

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor (broadcast shape): True where ``items`` is in ``users``' row. O(log nnz) each."""
        q = users * self.n_items + items
        if self.keys.numel() == 0:
            return torch.zeros(q.shape, dtype=torch.bool, device=q.device)
        flat = q.reshape(-1)
        pos = torch.searchsorted(self.keys, flat).clamp_(max=self.keys.numel() - 1)
        return (self.keys[pos] == flat).reshape(q.shape)

    def upto(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """int64, shape of ``items``: key position just past user u's seen items <= j."""
        return torch.searchsorted(self.keys, users * self.n_items + items, right=True)

    def rows_of(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All (row position in ``users``, item) pairs seen by ``users``: two int64 (M,) tensors."""
        return gather_rows(self.indptr, self.indices, users)


def gather_rows(indptr: torch.Tensor, values: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten CSR rows ``rows`` (R,): (position in ``rows``, value) for every stored entry, int64 (M,) each."""
    start = indptr[rows]
    lens = indptr[rows + 1] - start
    b = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), lens)
    first = torch.cumsum(lens, 0) - lens
    off = torch.arange(b.numel(), device=rows.device) - first[b]
    return b, values[start[b] + off]


class TorchExclusion:
    """A proposal truncated to each user's unseen items: the state of exact complement draws.

    Args:
        proposal: the :class:`TorchProposal`; seen: the :class:`SeenIndex` (same device).
        seen_cum: float64 (nnz,) within-row inclusive prefix sums of p over the seen items;
        seen_mass, unseen: float64 (n_users,) seen / exactly summed unseen proposal mass;
        nvalid: int64 (n_users,) unseen items with p > 0;
        indptr, indices: the host CSR (numpy; used only by the rare rounding fallback).
        heavy_threshold: rows whose excluded mass exceeds it skip rejection.
    """

    def __init__(self, proposal: TorchProposal, seen: SeenIndex, seen_cum: np.ndarray, seen_mass: np.ndarray,
                 unseen: np.ndarray, nvalid: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                 heavy_threshold: float = 0.95) -> None:
        dev = proposal.device
        f64 = dict(dtype=torch.float64, device=dev)
        self.proposal, self.seen = proposal, seen
        self.seen_cum_host, self.indptr_host, self.indices_host = seen_cum, indptr, indices
        self.seen_cum = torch.as_tensor(seen_cum, **f64)
        self.seen_mass = torch.as_tensor(seen_mass, **f64)
        self.unseen = torch.as_tensor(unseen, **f64)
        self.nvalid = torch.as_tensor(nvalid, dtype=torch.int64, device=dev)
        self.heavy_threshold = float(heavy_threshold)

    @classmethod
    def build(cls, proposal: TorchProposal, indptr: np.ndarray, indices: np.ndarray,
              heavy_threshold: float = 0.95) -> "TorchExclusion":
        """From a host CSR with sorted rows (int64 indptr, int indices) and a proposal."""
        indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        indices = np.ascontiguousarray(indices, dtype=np.int32)
        seen_mass, unseen, npos_seen, seen_cum = _row_stats(indptr, indices, proposal.p_host)
        nvalid = int(np.count_nonzero(proposal.p_host > 0)) - npos_seen
        seen = SeenIndex(indptr, indices, proposal.n, proposal.device)
        return cls(proposal, seen, seen_cum, seen_mass, unseen, nvalid, indptr, indices, heavy_threshold)

    def exhausted_users(self, users: torch.Tensor | None = None) -> torch.Tensor:
        """int64 ids (of ``users``, default all) with no unseen item of positive weight."""
        ids = torch.arange(self.nvalid.numel(), device=self.nvalid.device) if users is None else users
        return ids[self.nvalid[ids] <= 0]

    def _unseen_cdf(self, u: torch.Tensor, extra: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """float64: unseen mass of user u (not in its row, not ``extra``) over items <= j."""
        pr, seen = self.proposal, self.seen
        zero = torch.zeros((), dtype=torch.float64, device=j.device)
        if seen.keys.numel():
            q = seen.upto(u, j)
            below = torch.where(q > seen.indptr[u], self.seen_cum[(q - 1).clamp(min=0)], zero)
        else:
            below = torch.zeros_like(j, dtype=torch.float64)
        f = pr.cum[j + 1] - below
        return f - torch.where((extra >= 0) & (extra <= j), pr.p[extra.clamp(min=0)], zero)

    def complement(self, u: torch.Tensor, extra: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """int64 (M,): one exact draw per entry from p restricted to user u's unseen items != extra.

        Vectorised bisection of the unseen cumulative mass (O(log n log nnz) per draw); the rare
        landing on an excluded item through rounding is fixed on the host by the numba kernel.
        """
        pr = self.proposal
        n = pr.n
        z = self._unseen_cdf(u, extra, torch.full_like(u, n - 1))
        t = torch.rand(u.shape, dtype=torch.float64, device=u.device, generator=generator) * z
        lo = torch.zeros_like(u)
        hi = torch.full_like(u, n - 1)
        for _ in range(int(math.ceil(math.log2(max(n, 2)))) + 1):
            mid = (lo + hi) // 2
            go_left = self._unseen_cdf(u, extra, mid) > t
            hi = torch.where(go_left, mid, hi)
            lo = torch.where(go_left, lo, torch.minimum(mid + 1, hi))
        j = lo
        bad = self.seen.contains(u, j) | (pr.p[j] <= 0) | (j == extra)
        if bool(bad.any()):
            bi = torch.nonzero(bad).flatten()
            host = lambda x: x.detach().cpu().numpy()  # noqa: E731
            fix = _complement_many(host(u[bi]), host(extra[bi]), host(t[bi]) / np.maximum(host(z[bi]), 1e-300),
                                   pr.cum_host, pr.p_host, self.indptr_host, self.indices_host, self.seen_cum_host)
            j = j.clone()
            j[bi] = torch.as_tensor(fix, dtype=torch.int64, device=u.device)
        return j

    def log_norm(self, users: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """float64 (B,): log of the unseen mass of each row (its user's unseen items != extra)."""
        pr = self.proposal
        p_extra = torch.where(extra >= 0, pr.p[extra.clamp(min=0)], torch.zeros((), dtype=torch.float64,
                                                                                 device=users.device))
        norm = self.unseen[users] - p_extra
        tiny = (norm < _EXACT_NORM_BELOW) & (extra >= 0) & (self.nvalid[users] > 0)
        if bool(tiny.any()):  # cancellation: sum the unseen mass exactly on the host (rare)
            norm = norm.clone()
            ip, ix = self.indptr_host, self.indices_host
            for b in torch.nonzero(tiny).flatten().tolist():
                u_b, e_b = int(users[b]), int(extra[b])
                mask = np.ones(pr.n, dtype=bool)
                mask[ix[ip[u_b]:ip[u_b + 1]]] = False
                mask[e_b] = False
                norm[b] = float(pr.p_host[mask].sum())
        return torch.log(norm.clamp(min=1e-300))


def _reject(users: torch.Tensor, extra: torch.Tensor | None, items: torch.Tensor, active: torch.Tensor,
            draw: Callable[[int], torch.Tensor], seen: SeenIndex | None, rounds: int) -> torch.Tensor:
    """Rejection rounds in place on flat ``items``: entries ``active`` (int64 flat positions) that hit
    ``seen`` (or equal ``extra``) are redrawn, up to ``rounds`` checks; returns the positions still hitting."""
    for r in range(rounds):
        if active.numel() == 0:
            break
        it = items[active]
        hit = seen.contains(users[active], it) if seen is not None else torch.zeros_like(it, dtype=torch.bool)
        if extra is not None:
            hit |= it == extra[active]
        active = active[hit]
        if active.numel() and r + 1 < rounds:
            items[active] = draw(active.numel())
    return active


def draw_per_example(users: torch.Tensor, shape: tuple[int, ...], draw: Callable[[int], torch.Tensor],
                     seen: SeenIndex | None, max_tries: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Rejection only: negatives of ``shape`` = (B, ...) for rows ``users`` (B,), seen ones redrawn.

    Args:
        draw: callable ``n -> int64 tensor (n,)`` of i.i.d. proposal draws.
        seen: exclusion index, or None to keep every draw.
        max_tries: total draws allowed per slot.

    Returns:
        (items int64 ``shape``, valid bool ``shape``); a slot is invalid when all its ``max_tries``
        draws were seen. :func:`draw_exclusive` completes such slots exactly instead.
    """
    n = math.prod(int(s) for s in shape)
    items = draw(n).reshape(shape)
    if seen is None:
        return items, torch.ones(shape, dtype=torch.bool, device=items.device)
    ub = users.reshape((-1,) + (1,) * (len(shape) - 1)).expand(shape).reshape(-1)
    flat = items.reshape(-1)
    left = _reject(ub, None, flat, torch.arange(n, device=flat.device), draw, seen, max_tries)
    valid = torch.ones(n, dtype=torch.bool, device=flat.device)
    valid[left] = False
    return flat.view(shape), valid.view(shape)


def draw_exclusive(users: torch.Tensor, shape: tuple[int, ...], excl: TorchExclusion,
                   generator: torch.Generator | None = None, extra: torch.Tensor | None = None,
                   rounds: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact exclusion: negatives of ``shape`` = (B, ...) from the proposal truncated to each row's unseen items.

    Light rows: up to ``rounds`` rejection rounds; heavy rows (excluded mass above
    ``excl.heavy_threshold``) and slots still hitting: an exact complement draw.

    Args:
        users: int64 (B,); extra: int64 (B,) one more item to exclude per row, or -1 / None.

    Returns:
        (items int64 ``shape``, exhausted bool (B,)): rows with no drawable item left
        (their items are 0); every other slot is an unseen item, never skipped.
    """
    pr = excl.proposal
    dev = users.device
    B = users.numel()
    per_row = math.prod(int(s) for s in shape[1:])
    if extra is None:
        extra = torch.full((B,), -1, dtype=torch.int64, device=dev)
    has_extra = extra >= 0
    p_extra = torch.where(has_extra, pr.p[extra.clamp(min=0)], torch.zeros((), dtype=torch.float64, device=dev))
    exhausted = excl.nvalid[users] - (has_extra & (p_extra > 0)).long() <= 0
    heavy = (excl.seen_mass[users] + p_extra > excl.heavy_threshold) & ~exhausted
    flat = pr.draw(B * per_row, generator)
    fu = users.repeat_interleave(per_row)
    fe = extra.repeat_interleave(per_row)
    light = (~heavy & ~exhausted).repeat_interleave(per_row)
    left = _reject(fu, fe, flat, torch.nonzero(light).flatten(), lambda n: pr.draw(n, generator), excl.seen, rounds)
    todo = heavy.repeat_interleave(per_row)
    todo[left] = True
    if bool(todo.any()):
        idx = torch.nonzero(todo).flatten()
        flat[idx] = excl.complement(fu[idx], fe[idx], generator)
    flat = flat.masked_fill(exhausted.repeat_interleave(per_row), 0)
    return flat.view(shape), exhausted


def shared_valid_mask(users: torch.Tensor, pos: torch.Tensor, negs: torch.Tensor,
                      seen: SeenIndex | None) -> torch.Tensor:
    """(B, N) validity of shared negatives ``negs`` (N,) for each row (user, pos), all int64.

    Always masks accidental hits ``negs == pos``; with ``seen`` it also masks every
    item the row's user has in the training data. Cost O(B*N + M log N), M the
    batch users' total history length (no B*N binary searches).
    """
    valid = negs.unsqueeze(0) != pos.unsqueeze(1)
    if seen is None:
        return valid
    rb, cols = shared_seen_hits(users, negs, seen)
    if rb.numel():
        valid[rb, cols] = False
    return valid


def shared_seen_hits(users: torch.Tensor, negs: torch.Tensor, seen: SeenIndex) -> tuple[torch.Tensor, torch.Tensor]:
    """The (row, column) positions of shared negatives ``negs`` (N,) that row ``users[row]`` has seen:
    two int64 (H,) tensors, each position once. O(M log N), M the users' total history length."""
    b, items = seen.rows_of(users)
    if items.numel() == 0:
        return b, items
    srt, perm = torch.sort(negs)
    lo = torch.searchsorted(srt, items)
    hi = torch.searchsorted(srt, items, right=True)
    cnt = hi - lo
    hit = cnt > 0
    b, lo, cnt = b[hit], lo[hit], cnt[hit]
    rb = torch.repeat_interleave(b, cnt)
    first = torch.cumsum(cnt, 0) - cnt
    k = torch.arange(rb.numel(), device=negs.device) - torch.repeat_interleave(first, cnt)
    return rb, perm[torch.repeat_interleave(lo, cnt) + k]


def shared_negatives(users: torch.Tensor, pos: torch.Tensor, n: int, proposal: TorchProposal,
                     seen: SeenIndex | None, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` untruncated proposal draws shared by a batch: (items int64 (n,), valid bool (B, n)).

    Invalid: the row's positive and, with ``seen``, every item the row's user has seen
    (masked, not redrawn; log q of a draw is ``proposal.log_p``).
    """
    negs = proposal.draw(n, generator)
    return negs, shared_valid_mask(users, pos, negs, seen)


def in_batch_negatives(users: torch.Tensor | None, pos: torch.Tensor, log_q_items: torch.Tensor,
                       seen: SeenIndex | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch's positives ``pos`` (B,) as every row's negatives.

    Returns:
        (items int64 (B,) = ``pos``, valid bool (B, B), log_q float (B,) = ``log_q_items[pos]``);
        ``valid[i, j]`` is False for accidental hits ``pos[j] == pos[i]`` (the diagonal included)
        and, with ``seen``, items user ``users[i]`` has seen.
    """
    return pos, shared_valid_mask(users, pos, pos, seen), log_q_items[pos]


def global_in_batch_negatives(users: torch.Tensor | None, pos: torch.Tensor, log_q_items: torch.Tensor,
                              seen: SeenIndex | None,
                              gather: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor,
                                                                                          torch.Tensor]:
    """In-batch negatives of a batch split over processes: every process's positives are every row's negatives.

    ``gather`` concatenates a tensor over the processes in rank order (e.g.
    :func:`recneg.distributed.all_gather_cat`; the identity gives :func:`in_batch_negatives`). Only item
    indices travel; the caller embeds them with its replicated item table, so gradients stay exact.

    Returns:
        (items int64 (N,), the gathered positives of all processes, N = sum of the batch sizes;
        valid bool (B, N), False for accidental hits ``items[j] == pos[i]`` and, with ``seen``, items the row's
        user ``users[i]`` has seen (``seen`` indexes this process's users); log_q float (N,) = ``log_q_items[items]``,
        ``log_q_items`` the log-frequency of each item among the positives of ALL processes).
    """
    items = gather(pos)
    return items, shared_valid_mask(users, pos, items, seen), log_q_items[items]


def pick_hard(scores: torch.Tensor, valid: torch.Tensor | None, keep: int, temperature: float | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """int64 (..., keep): positions along the last dim of the ``keep`` best candidates.

    ``scores`` (..., m) float; invalid candidates rank last. ``temperature`` given: sample
    without replacement with probability ∝ exp(score / temperature) (Gumbel-top-k) instead.
    """
    key = scores if valid is None else scores.masked_fill(~valid, -math.inf)
    if temperature is not None:
        u = torch.rand(key.shape, dtype=key.dtype, device=key.device, generator=generator)
        key = key / temperature - torch.log(-torch.log(u.clamp(min=1e-300)))
    return torch.topk(key, keep, dim=-1, sorted=True).indices


def draw_dns(users: torch.Tensor, k: int, m: int, excl: TorchExclusion | None, proposal: TorchProposal,
             score_fn: Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator | None = None,
             rounds: int = 16) -> torch.Tensor:
    """DNS: for each of ``k`` slots per row, the best-scoring of ``m`` candidates.

    Candidates are exact-exclusion draws (``excl``) or plain proposal draws (``excl`` None);
    ``score_fn(candidates int64 (B, k, m)) -> float (B, k, m)`` comes from the trainer (called
    without autograd). Returns int64 (B, k).
    """
    B = users.numel()
    if excl is None:
        cand = proposal.draw((B, k, m), generator)
    else:
        cand = draw_exclusive(users, (B, k, m), excl, generator, rounds=rounds)[0]
    with torch.no_grad():
        best = pick_hard(score_fn(cand), None, 1)
    return torch.gather(cand, 2, best).squeeze(2)


def draw_avoiding(avoid: torch.Tensor, k: int, proposal: TorchProposal, generator: torch.Generator | None = None,
                  max_redraw: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """word2vec's law: (B, k) proposal draws != ``avoid`` (B,) (the centre word).

    A draw equal to ``avoid`` is redrawn up to ``max_redraw`` times, then skipped.

    Returns:
        (items int64 (B, k), valid bool (B, k)); valid is False for skipped slots.
    """
    neg = proposal.draw((avoid.shape[0], k), generator)
    flat = neg.view(-1)
    av = avoid[:, None].expand(neg.shape).reshape(-1)
    hit = torch.nonzero(flat == av).flatten()
    for _ in range(max_redraw):  # redraw only the slots that hit the centre word
        if hit.numel() == 0:
            break
        flat[hit] = proposal.draw(hit.numel(), generator)
        hit = hit[flat[hit] == av[hit]]
    return neg, neg != avoid[:, None]
