"""The process group as recneg sees it: detection, partitions, seeds and collectives.

recneg runs on torch.distributed, never on its own transport. A script started by
``torchrun --nproc_per_node=N`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``) gets a process group from :func:`init`: NCCL when
the training device is CUDA, gloo on CPU. Without those variables everything is a single
process (rank 0 of 1) and no collective is ever called, so one-process behaviour is
exactly the behaviour without this module.

Partition rule (shared by training, evaluation and the parquet reader): user index ``u``
of ``n_users`` belongs to rank ``u * world // n_users`` (contiguous, balanced blocks),
see :func:`user_block`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DistInfo", "launched", "init", "info", "user_block", "owner_of", "rank_seed",
           "all_reduce_sum", "all_gather_cat", "broadcast_object", "barrier", "shutdown", "require_single_process"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` (``local_rank`` on its node) and the
    process group's ``backend`` ("gloo", "nccl", or None for a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part (collectives are needed)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that logs, saves files and prints results."""
        return self.rank == 0


def launched() -> bool:
    """True when the environment names a multi-process job (``WORLD_SIZE`` > 1, as torchrun sets)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer; "
                         "unset it or start the job with torchrun") from None


def init(device: str | torch.device | None = None) -> DistInfo:
    """Join the process group the launcher describes (idempotent) and return :class:`DistInfo`.

    ``device``: the training device; CUDA selects NCCL (and ``cuda:LOCAL_RANK``), anything
    else gloo. Not launched and no group initialised: returns the single-process info and
    touches nothing.
    """
    if dist.is_available() and dist.is_initialized():
        return info()
    if not launched():
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed; "
                           "run a single process (unset WORLD_SIZE) or install a torch with distributed support")
    for var in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise RuntimeError(f"WORLD_SIZE is set but {var} is not; start the job with "
                               "`torchrun --nproc_per_node=N ...`, which sets all of them")
    cuda = device is not None and torch.device(device).type == "cuda"
    backend = "nccl" if cuda and dist.is_nccl_available() else "gloo"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    out = info()
    log.info("joined process group: rank %d of %d (%s)", out.rank, out.world_size, out.backend)
    return out


def info() -> DistInfo:
    """The current process group's :class:`DistInfo` (single process when none is initialised)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")), backend=str(dist.get_backend()))


def user_block(n_users: int, rank: int, world_size: int) -> tuple[int, int]:
    """The half-open user-index range ``[start, stop)`` that ``rank`` owns: indices u with
    ``u * world_size // n_users == rank`` (contiguous blocks whose sizes differ by at most one)."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
    start = -(-rank * n_users // world_size)  # ceil(rank * n / w)
    stop = -(-(rank + 1) * n_users // world_size)
    return start, stop


def owner_of(users: np.ndarray, n_users: int, world_size: int) -> np.ndarray:
    """The rank owning each user index (int64 array, same shape as ``users``)."""
    u = np.asarray(users, dtype=np.int64)
    return (u * world_size) // max(n_users, 1)


def rank_seed(seed: int | None, rank: int) -> int:
    """A seed for ``rank`` derived from the job's ``seed``: rank 0 of a one-process job gets
    ``seed`` itself (single-process runs are unchanged); other ranks get independent streams."""
    s = 0 if seed is None else int(seed)
    if rank == 0:
        return s
    return int(np.random.SeedSequence([s, rank]).generate_state(1, dtype=np.uint32)[0])


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks in place and return it (a no-op in a single process)."""
    if info().is_distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``t`` along dim 0 in rank order; the ranks' lengths may differ
    (other dims must agree). A single process returns ``t``."""
    di = info()
    if not di.is_distributed:
        return t
    n = torch.tensor([t.shape[0]], dtype=torch.int64, device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(di.world_size)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    m = max(sizes)
    pad = t.new_zeros((m,) + tuple(t.shape[1:]))
    pad[: t.shape[0]] = t
    parts = [torch.empty_like(pad) for _ in range(di.world_size)]
    dist.all_gather(parts, pad)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s picklable ``obj`` on every rank (returned as is in a single process)."""
    if not info().is_distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for every rank (a no-op in a single process)."""
    if info().is_distributed:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group if one is up (end of a torchrun job); a no-op otherwise."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def require_single_process(what: str, fix: str) -> None:
    """ValueError when this process is one of several (a group is up, or torchrun's ``WORLD_SIZE`` > 1):
    ``what`` cannot run data-parallel; ``fix`` says what to use instead."""
    if info().is_distributed or launched():
        n = info().world_size if info().is_distributed else os.environ.get("WORLD_SIZE", "?")
        raise ValueError(f"{what} runs in a single process, but this is one of {n} "
                         f"processes (torchrun / WORLD_SIZE > 1): {fix}")
