"""Data-parallel matrix factorisation on torch.distributed (the torch trainer, one rank of N).

Design (issue 16):

* **Users are partitioned** by :func:`recneg.distributed.user_block`: rank r trains only the rows
  ``[start, stop)`` of the user x item CSR. Its trainer is a plain :class:`TorchTrainer` built on that row
  slice, so its user table holds only its block (``stop - start`` rows), its positives, seen-item masks and
  exclusion tables are its own users', and user gradients never leave the rank.
* **Item parameters are replicated** (V, the item bias, SimpleX's W): broadcast from rank 0 at the start,
  and after every ``backward`` their gradients are averaged over ranks before the (identical) optimiser
  step, so every rank holds bit-identical item parameters. Sparse embedding gradients (lazy Adam, pair
  batches) travel as the touched rows: each rank's coalesced (indices, rows) are all-gathered and summed
  into one sparse gradient (exact, and the only form that scales to large catalogues: see
  ``benchmarks/SCALING.md``); dense gradients (user batches, all-item softmax, W) are all-reduced.
  Averaging (not summing) follows DDP: the item gradient is that of the mean of the ranks' batch losses.
* **Negatives** are drawn on each rank by :mod:`recneg.sampling` from the same law (the proposal built
  from the full matrix) with the generator seeded by ``rank_seed(seed, rank)``.
* **Global in-batch negatives**: the batch's item indices are all-gathered (never embeddings: V is
  replicated, so each rank embeds the gathered indices itself and gradients stay exact), and logQ uses
  the item counts all-reduced over ranks once at the start.
* **Equal steps**: every rank takes ``ceil(max_r units_r / batch_size)`` steps per epoch, splitting its
  own shuffled units into that many near-equal batches (each unit once per epoch, batches of at most
  ``batch_size``), so collectives pair up and the lr schedule's global step count agrees on all ranks.
* **Stopping agrees**: after every epoch the ranks' stop decisions (callbacks, patience) are all-reduced,
  so a stop on any rank stops all (:meth:`DistributedTorchTrainer.agree_stop`).
* At :meth:`sync` the user blocks are all-gathered (rank order = block order) so every rank's model
  holds the full U for ``recommend`` and evaluation.

Communication is counted in :attr:`DistributedTorchTrainer.comm_bytes`: the bytes this rank hands to
collectives during training steps (element count x element size of each tensor it sends; all_gather_cat's
padding of shorter ranks to the longest is not counted; the wire traffic of a ring all-reduce is about 2(N-1)/N of its payload).
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist

from .. import distributed
from ..sampling.torch_draws import global_in_batch_negatives
from .mf_torch import TorchTrainer

__all__ = ["DistributedTorchTrainer"]

log = logging.getLogger(__name__)


class DistributedTorchTrainer(TorchTrainer):
    """:class:`TorchTrainer` for one rank of a data-parallel job (design: module docstring).

    ``X`` is the full users x items CSR (every rank passes the same one); ``weights`` the proposal
    (n_items,) built from it; ``counts`` is ignored in favour of the per-rank counts all-reduced over
    ranks (the same numbers when X is the full matrix). ``cfg`` is shared with the model (schedules
    write into it); ``cfg._U`` holds the initial full user table, of which this rank takes its block.

    Attributes:
        start, stop: this rank's user block; user index u is local row ``u - start`` (also in the
            ``users`` that the :attr:`TorchTrainer.record` debug hook records).
        comm_bytes: bytes this rank sent into collectives during training steps (see module docstring).
    """

    def __init__(self, cfg, X: sp.csr_matrix, weights, counts, di: distributed.DistInfo) -> None:
        self.di = di
        n_users = X.shape[0]
        self.n_users_total = n_users
        self.start, self.stop = distributed.user_block(n_users, di.rank, di.world_size)
        local = X[self.start:self.stop]
        dev = torch.device(cfg.device)  # NCCL collectives need device tensors; gloo takes CPU ones
        local_counts = torch.as_tensor(np.asarray(local.getnnz(axis=0), dtype=np.int64), device=dev)
        global_counts = distributed.all_reduce_sum(local_counts).cpu().numpy()
        full_U, seed = cfg._U, cfg.seed
        cfg._U, cfg.seed = np.ascontiguousarray(full_U[self.start:self.stop]), distributed.rank_seed(seed, di.rank)
        try:
            super().__init__(cfg, local, weights, global_counts)
        finally:
            cfg._U, cfg.seed = full_U, seed
        self.comm_bytes = 0
        units = self.row_user.numel() if self.chunk else (
            self.active_users.numel() if self.by_user else self.pu.numel())
        all_units = distributed.all_gather_cat(torch.tensor([units], dtype=torch.int64, device=self.dev)).tolist()
        if min(all_units) == 0:
            raise ValueError(f"data-parallel MF needs training rows on every rank, but the ranks' user blocks hold "
                             f"{all_units} training units: use fewer processes (--nproc_per_node) than users with "
                             f"interactions")
        self.units_per_rank = all_units
        self.steps_per_epoch = (max(all_units) + cfg.batch_size - 1) // cfg.batch_size
        with torch.no_grad():  # replicated parameters start identical (seed=None draws differ per rank)
            for p in self._item_params():
                dist.broadcast(p.data, src=0)
        log.log(logging.INFO if di.is_main else logging.DEBUG,  # rank 0 speaks for the job
                "rank %d/%d: users [%d, %d), %d training units (all ranks: %s), %d steps per epoch", di.rank,
                di.world_size, self.start, self.stop, units, all_units, self.steps_per_epoch)

    def agree_stop(self, stop: bool) -> bool:
        """True on every rank when any rank stops after this epoch (one small all-reduce): a callback that stops
        one rank alone would leave the others waiting in the next epoch's collectives."""
        flag = torch.tensor([1 if stop else 0], dtype=torch.int64, device=self.dev)
        return bool(distributed.all_reduce_sum(flag).item() > 0)

    def _item_params(self) -> list[torch.Tensor]:
        """The replicated parameters: item factors, item biases, SimpleX's W."""
        out = [self.V.weight]
        if self.b is not None:
            out.append(self.b.weight)
        if self.W is not None:
            out.append(self.W)
        return out

    def _send(self, t: torch.Tensor) -> None:
        self.comm_bytes += t.numel() * t.element_size()

    def _gather(self, t: torch.Tensor) -> torch.Tensor:
        """all_gather_cat with this rank's payload counted (its length, 8 bytes, and its rows)."""
        self.comm_bytes += 8 + t.numel() * t.element_size()
        return distributed.all_gather_cat(t)

    def _in_batch_negatives(self, u: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Global in-batch negatives: every rank's positives (gathered indices), logQ from global counts."""
        return global_in_batch_negatives(u, i, self.log_q_batch, self.seen, self._gather)

    def _batches(self, perm: torch.Tensor):
        """Exactly :attr:`steps_per_epoch` batches on every rank: ``perm`` split into near-equal parts."""
        k = self.steps_per_epoch
        for j, idx in enumerate(torch.tensor_split(perm, k)):
            yield j / k, idx

    def _grads_ready(self) -> None:
        """Average the replicated parameters' gradients over ranks (touched rows for sparse gradients)."""
        w = self.di.world_size
        for p in self._item_params():
            g = p.grad
            if g is not None and g.is_sparse:
                g = g.coalesce()
                idx, val = g.indices()[0], g.values()
                idx, val = self._gather(idx), self._gather(val)
                p.grad = torch.sparse_coo_tensor(idx.unsqueeze(0), val / w, p.shape, check_invariants=False).coalesce()
            else:
                if g is None:
                    g = p.grad = torch.zeros_like(p)
                self._send(g)
                distributed.all_reduce_sum(g)
                g.div_(w)

    def __call__(self, epoch: int) -> float:
        """One epoch on this rank; returns the mean loss over all ranks (identical on every rank)."""
        loss = super().__call__(epoch)
        t = torch.tensor([loss], dtype=torch.float64, device=self.dev)
        return float(distributed.all_reduce_sum(t)[0]) / self.di.world_size

    def sync(self) -> None:
        """As :meth:`TorchTrainer.sync`, then every rank's user block gathered: ``cfg._U`` is the full
        (n_users, d) table on every rank (a collective: every rank must call it)."""
        super().sync()
        U = distributed.all_gather_cat(torch.from_numpy(self.cfg._U).to(self.dev)).cpu()
        if U.shape[0] != self.n_users_total:
            raise RuntimeError(f"gathered {U.shape[0]} user rows, expected {self.n_users_total}")
        self.cfg._U = U.numpy().copy()
