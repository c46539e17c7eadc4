"""In-batch and mixed negatives.

In-batch (Yi et al., RecSys 2019): row ``i``'s negatives are the batch's positives;
column ``j`` of the (B, B) output is ``pos_items[j]``. An item enters a batch in
proportion to its training frequency, so its sampling log-probability is
``log q_j = log(count_j / total)`` (the logQ / sampling-bias correction subtracts it
from the logit). The mask flags accidental hits: ``pos_items[j] == pos_items[i]``
(which includes the diagonal, the row's own positive) and, with ``mask_seen``,
items that user ``i`` has in the training matrix.

Mixed (Yang et al., WWW 2020): the in-batch block concatenated with ``k`` proposal
draws per row from a :class:`~recneg.sampling.negative.NegativeSampler`, each with
the log-probability of its own source.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit, prange

from ._equality import sampler_eq
from .exclusion import is_seen
from .negative import NegativeBatch, NegativeSampler, as_csr, check_ids

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)


@njit(cache=True, parallel=True)
def _seen_matrix(indptr, indices, users, items):
    """bool (B, B): out[i, j] = items[j] is in user users[i]'s row."""
    B = users.shape[0]
    out = np.zeros((B, items.shape[0]), dtype=np.bool_)
    for i in prange(B):
        u = users[i]
        for j in range(items.shape[0]):
            out[i, j] = is_seen(indptr, indices, u, items[j])
    return out


class StreamingFrequency:
    """Streaming estimate of each item's in-batch sampling probability (Yi et al., RecSys 2019).

    Per item it keeps the step it was last seen (``A``) and a moving average of the gap in
    steps between its occurrences (``B``); with ``c`` occurrences at step ``t`` the update is
    ``B <- (1 - alpha) B + alpha (t - A) / c``, ``A <- t``. Then ``1 / B`` estimates
    occurrences per batch and ``log_q = -log B - log(mean batch size)`` the probability of
    the item in one batch slot, the same quantity as ``log(count / total)`` for a fixed
    dataset. Items never seen get ``B = steps so far + 1`` (rarer than anything observed).

    Args:
        n_items: number of items (direct indexing, 16 bytes per item).
        alpha: moving-average rate in (0, 1].
    """

    def __init__(self, n_items: int, alpha: float = 0.01) -> None:
        if int(n_items) <= 0:
            raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
        if not (0.0 < float(alpha) <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        self.n_items = int(n_items)
        self.alpha = float(alpha)
        self.last = np.full(self.n_items, -1.0)
        self.gap = np.zeros(self.n_items)
        self.step = 0
        self.mean_batch = 0.0

    def update(self, items: Any) -> None:
        """Record one batch of positive items (int (B,), numpy or torch) and advance the step."""
        it = items.detach().cpu().numpy() if hasattr(items, "detach") else items
        it = check_ids(it, self.n_items, "items")
        uniq, cnt = np.unique(it, return_counts=True)
        t = float(self.step)
        new = self.last[uniq] < 0
        g = (t - self.last[uniq]) / cnt
        g_new = (t + 1.0) / cnt
        self.gap[uniq] = np.where(new, g_new, (1.0 - self.alpha) * self.gap[uniq] + self.alpha * g)
        self.last[uniq] = t
        self.step += 1
        self.mean_batch += (it.size - self.mean_batch) / self.step

    def log_q(self, items: Any) -> np.ndarray:
        """float32 log-probability of each item (int array, any shape) in one batch slot."""
        it = items.detach().cpu().numpy() if hasattr(items, "detach") else np.asarray(items)
        if self.step == 0:
            raise ValueError("StreamingFrequency has seen no batch yet; call update(items) first")
        flat = check_ids(it.reshape(-1), self.n_items, "items")
        b = np.where(self.last[flat] < 0, self.step + 1.0, self.gap[flat])
        return (-np.log(b) - np.log(self.mean_batch)).astype(np.float32).reshape(it.shape)


class InBatchSampler:
    """Negatives = the other positives of the batch, with frequency log-probabilities.

    Args:
        train: Interactions or scipy sparse matrix (users x items); gives the item counts
            (training users per item) and, with ``mask_seen``, the seen sets.
        item_counts: int/float (n_items,) counts to use instead of ``train``'s.
        mask_seen: also mask items the row's user has seen in ``train``.
        device: torch device for :meth:`sample_torch` outputs.
        streaming: a :class:`StreamingFrequency`; when given, every call first updates it with
            the batch's positives and ``log_q`` comes from its estimate instead of the counts
            (``train``/``item_counts`` are then optional).

    Items with a zero count get count 1 in ``log_q`` (so it stays finite); ``total`` is the
    sum of the given counts.
    """

    def __init__(
        self,
        train: Any = None,
        item_counts: np.ndarray | None = None,
        mask_seen: bool = False,
        device: "str | torch.device" = "cpu",
        streaming: StreamingFrequency | None = None,
        logq: bool = True,
    ) -> None:
        if streaming is not None and not isinstance(streaming, StreamingFrequency):
            raise TypeError(f"streaming must be a StreamingFrequency, got {type(streaming).__name__}")
        self.streaming = streaming
        self.mask_seen = bool(mask_seen)
        self.logq = bool(logq)
        self.device = device
        self._torch: dict | None = None
        self.csr = None
        self.counts: np.ndarray | None = None
        self.n_users: int | None = None
        if item_counts is not None:
            self._set_counts(np.asarray(item_counts, dtype=np.float64))
        elif streaming is not None:
            self._set_counts(np.ones(streaming.n_items))
        if train is not None:
            self.bind(train)

    @property
    def is_bound(self) -> bool:
        """Whether the item frequencies (and, with ``mask_seen``, the seen sets) are known."""
        return self.counts is not None and (self.csr is not None or not self.mask_seen)

    def _set_counts(self, counts: np.ndarray) -> None:
        if counts.ndim != 1 or counts.size == 0:
            raise ValueError(f"item_counts must be a non-empty 1-D array, got shape {counts.shape}")
        if not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError("item_counts must be finite and >= 0")
        total = counts.sum()
        if total <= 0:
            raise ValueError("item_counts sum to zero: no frequency to correct with")
        self.counts = counts
        self.n_items = counts.size
        self.log_q_items = np.log(np.maximum(counts, 1.0) / total).astype(np.float32)

    def bind(self, train: Any) -> "InBatchSampler":
        """Attach the training matrix: item counts (unless given) and the seen sets; returns self."""
        csr = as_csr(train, "train")
        if self.csr is not None:
            if self.csr.shape != csr.shape:
                raise ValueError(f"this InBatchSampler is bound to a {self.csr.shape} matrix, not {csr.shape}")
            return self
        if self.counts is not None and self.counts.size != csr.shape[1]:
            raise ValueError(f"item_counts has {self.counts.size} entries but train has {csr.shape[1]} items")
        self.csr = csr
        self.n_users = csr.shape[0]
        if self.counts is None:
            self._set_counts(np.bincount(csr.indices, minlength=csr.shape[1]).astype(np.float64))
        return self

    def _require_bound(self) -> None:
        if self.counts is None:
            raise ValueError("InBatchSampler needs train or item_counts to compute item frequencies; pass train= or "
                             "item_counts=, or call .bind(train) (a model binds it at fit)")
        if self.mask_seen and self.csr is None:
            raise ValueError("mask_seen=True needs train (the seen sets); pass train=... or call .bind(train)")

    def set_step(self, step: int) -> None:
        """In-batch negatives have no schedule (a no-op, for a uniform sampler interface)."""

    def to_spec(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict (counts and streaming state are not kept)."""
        return {"sampler": "InBatchSampler", "mask_seen": self.mask_seen, "logq": self.logq}

    __eq__ = sampler_eq  # same configuration, same data (recneg.sampling._equality)

    def __repr__(self) -> str:
        return f"InBatchSampler(mask_seen={self.mask_seen}, logq={self.logq})"

    def sample(self, users: Any, pos_items: Any) -> NegativeBatch:
        """In-batch negatives for numpy input.

        Args:
            users: int (B,) user indices (used only with ``mask_seen``).
            pos_items: int (B,) the batch's positive items.

        Returns:
            NegativeBatch with ``items`` int64 (B, B) (a read-only broadcast view of
            ``pos_items``), ``log_q`` float32 (B, B) (broadcast view) and ``valid`` bool (B, B).
        """
        self._require_bound()
        pos = check_ids(pos_items, self.n_items, "pos_items")
        B = pos.shape[0]
        valid = pos[None, :] != pos[:, None]
        if self.mask_seen:
            u = check_ids(users, self.n_users, "users")
            if u.shape[0] != B:
                raise ValueError(f"users has length {u.shape[0]} but pos_items has length {B}")
            valid &= ~_seen_matrix(self.csr.indptr, self.csr.indices, u, pos)
        items = np.broadcast_to(pos[None, :], (B, B))
        if self.streaming is not None:
            self.streaming.update(pos)
            lq = self.streaming.log_q(pos)
        else:
            lq = self.log_q_items[pos]
        log_q = np.broadcast_to(lq[None, :], (B, B))
        return NegativeBatch(items, log_q, valid)

    def sample_torch(self, users: "torch.Tensor | None", pos_items: "torch.Tensor", generator: Any = None) -> NegativeBatch:
        """In-batch negatives as tensors on the sampler's device (``items``/``log_q`` are expanded views)."""
        self._require_bound()
        import torch

        from .torch_draws import SeenIndex, in_batch_negatives

        device = torch.device(self.device)
        if not isinstance(pos_items, torch.Tensor):
            raise TypeError(f"pos_items must be a torch.Tensor, got {type(pos_items).__name__}")
        if self._torch is None or self._torch["device"] != device:
            self._torch = dict(device=device, log_q=torch.as_tensor(self.log_q_items, device=device))
            if self.csr is not None:
                self._torch["seen"] = SeenIndex(self.csr.indptr, self.csr.indices, self.n_items, device)
        pos = pos_items.to(device=device, dtype=torch.int64).reshape(-1)
        B = pos.shape[0]
        if B and (int(pos.min()) < 0 or int(pos.max()) >= self.n_items):
            raise ValueError(f"pos_items contains ids out of range [0, {self.n_items})")
        u = None
        if self.mask_seen:
            if not isinstance(users, torch.Tensor):
                raise TypeError("users must be a torch.Tensor when mask_seen=True")
            u = users.to(device=device, dtype=torch.int64).reshape(-1)
            if u.shape[0] != B:
                raise ValueError(f"users has length {u.shape[0]} but pos_items has length {B}")
            if B and (int(u.min()) < 0 or int(u.max()) >= self.n_users):
                raise ValueError(f"users contains ids out of range [0, {self.n_users})")
        _, valid, lq = in_batch_negatives(u, pos, self._torch["log_q"], self._torch["seen"] if self.mask_seen else None)
        if self.streaming is not None:
            self.streaming.update(pos)
            lq = torch.as_tensor(self.streaming.log_q(pos), device=device)
        return NegativeBatch(pos[None, :].expand(B, B), lq[None, :].expand(B, B), valid)


class MixedSampler:
    """Mixed negatives: in-batch (B columns) followed by ``proposal.k`` proposal draws.

    Args:
        inbatch: an :class:`InBatchSampler`.
        proposal: a :class:`NegativeSampler` (e.g. uniform ``alpha=0`` as in Yang et al.).
        shared: False: ``k`` draws per row with the proposal's exact exclusion and truncated
            ``log_q``. True: one set of ``k`` draws shared by every row (Yang et al.'s index
            batch: the B x k logits need only k extra item embeddings); they come from the
            untruncated proposal, so ``log_q = log p_j`` and seen items / the row's positive are
            masked (``valid=False``) instead of redrawn when ``proposal.exclude_seen``, and the
            row's positive is always masked.

    Outputs have shape (B, B + k); ``log_q`` is each column's own source log-probability;
    ``valid`` is the in-batch mask next to the proposal mask.
    """

    def __init__(self, inbatch: InBatchSampler, proposal: NegativeSampler, shared: bool = False) -> None:
        if not isinstance(inbatch, InBatchSampler):
            raise TypeError(f"inbatch must be an InBatchSampler, got {type(inbatch).__name__}")
        if not isinstance(proposal, NegativeSampler):
            raise TypeError(f"proposal must be a NegativeSampler, got {type(proposal).__name__}")
        if proposal.is_bound and inbatch.counts is not None and proposal.n_items != inbatch.n_items:
            raise ValueError(f"inbatch has {inbatch.n_items} items but proposal has {proposal.n_items}")
        self.inbatch = inbatch
        self.proposal = proposal
        self.shared = bool(shared)

    def bind(self, train: Any) -> "MixedSampler":
        """Bind both samplers to the training matrix; returns self."""
        self.inbatch.bind(train)
        self.proposal.bind(train)
        return self

    def to_spec(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict."""
        return {"sampler": "MixedSampler", "inbatch": self.inbatch.to_spec(), "proposal": self.proposal.to_spec(),
                "shared": self.shared}

    __eq__ = sampler_eq  # same configuration, same data (recneg.sampling._equality)

    def __repr__(self) -> str:
        return f"MixedSampler({self.inbatch!r}, {self.proposal!r}, shared={self.shared})"

    def set_step(self, step: int) -> None:
        """Forward the training step to the proposal's schedules."""
        self.proposal.set_step(step)

    def sample(self, users: Any, pos_items: Any) -> NegativeBatch:
        """numpy: ``items`` int64 (B, B + k), ``log_q`` float32, ``valid`` bool."""
        a = self.inbatch.sample(users, pos_items)
        B = a.items.shape[0]
        if self.shared:
            pr = self.proposal
            idx = pr.table.sample(pr.k, rng=pr._rng)
            pos = np.asarray(a.items[0]) if B else np.empty(0, dtype=np.int64)
            vb = idx[None, :] != pos[:, None]
            if pr.exclude_seen and B:
                u = check_ids(users, pr.n_users, "users", length=B)
                vb &= ~_seen_matrix(pr.indptr, pr.indices, u, idx)
            b_items = np.broadcast_to(idx[None, :], (B, idx.size))
            b_logq = np.broadcast_to(pr.log_p[idx].astype(np.float32)[None, :], (B, idx.size))
        else:
            b = self.proposal.sample(users, pos_items)
            b_items, b_logq = b.items, b.log_q
            vb = np.ones(b.items.shape, dtype=bool) if b.valid is None else b.valid
        return NegativeBatch(
            np.concatenate([a.items, b_items], axis=1),
            np.concatenate([a.log_q, b_logq], axis=1),
            np.concatenate([a.valid, vb], axis=1),
        )

    def sample_torch(self, users: "torch.Tensor", pos_items: "torch.Tensor", generator: Any = None) -> NegativeBatch:
        """torch version of :meth:`sample`."""
        import torch

        from .torch_draws import shared_negatives

        a = self.inbatch.sample_torch(users, pos_items)
        dev = a.items.device
        B = a.items.shape[0]
        if self.shared:
            pr = self.proposal
            excl = pr._torch_exclusion(dev)
            pos = a.items[0] if B else torch.empty(0, dtype=torch.int64, device=dev)
            u = None if users is None else users.to(device=dev, dtype=torch.int64).reshape(-1)
            idx, vb = shared_negatives(u, pos, pr.k, excl.proposal, excl.seen if pr.exclude_seen else None, generator)
            b_items = idx[None, :].expand(B, idx.numel())
            b_logq = excl.proposal.log_p[idx][None, :].expand(B, idx.numel())
        else:
            b = self.proposal.sample_torch(users, pos_items, generator=generator)
            b_items, b_logq = b.items.to(dev), b.log_q.to(dev)
            vb = torch.ones(b_items.shape, dtype=torch.bool, device=dev) if b.valid is None else b.valid.to(dev)
        return NegativeBatch(
            torch.cat([a.items, b_items], dim=1),
            torch.cat([a.log_q, b_logq], dim=1),
            torch.cat([a.valid, vb], dim=1),
        )
