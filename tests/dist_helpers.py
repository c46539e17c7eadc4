"""Start a small gloo process group on loopback inside a test: ``run_ranks(fn, 2, *args)``.

``fn(rank, *args)`` must be a module-level function (spawn pickles it by reference); it runs in
each rank after :func:`recneg.distributed.init` and its return value (picklable) comes back in
rank order. Each rank runs with one torch/numba thread so two ranks fit on two cores.
"""
from __future__ import annotations

import os
import pickle
import socket
import tempfile

import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world: int, port: int, out_dir: str, fn, args) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    import torch
    import torch.distributed as dist

    from recneg import distributed

    torch.set_num_threads(1)
    distributed.init("cpu")
    try:
        result = fn(rank, *args)
        with open(os.path.join(out_dir, f"{rank}.pkl"), "wb") as f:
            pickle.dump(result, f)
    finally:
        dist.destroy_process_group()
    # the result is on disk: skip the interpreter's teardown, where about one run in ten aborted a rank
    # ("terminate called without an active exception", SIGABRT) after its result was written
    os._exit(0)


def value_errors(*calls) -> list:
    """Run each call (no arguments) in turn; per call None, or the message of the ValueError it raised (to be
    sent back from a rank and asserted on in the test)."""
    out = []
    for call in calls:
        try:
            call()
            out.append(None)
        except ValueError as e:
            out.append(str(e))
    return out


def run_ranks(fn, world_size: int = 2, *args, timeout: float = 300.0) -> list:
    """Run ``fn(rank, *args)`` in ``world_size`` spawned gloo processes; their results in rank order."""
    with tempfile.TemporaryDirectory() as out_dir:
        ctx = mp.start_processes(_entry, args=(world_size, free_port(), out_dir, fn, args), nprocs=world_size,
                                 join=False, start_method="spawn")
        import time
        deadline = time.monotonic() + timeout
        while not ctx.join(timeout=max(1.0, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                raise TimeoutError(f"ranks did not finish within {timeout} s")
        out = []
        for r in range(world_size):
            with open(os.path.join(out_dir, f"{r}.pkl"), "rb") as f:
                out.append(pickle.load(f))
        return out
