"""recneg.distributed: detection, partitions, seeds and the collectives in a 2-rank gloo group."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recneg import distributed
from dist_helpers import run_ranks


def test_single_process_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    di = distributed.init("cpu")
    assert (di.rank, di.world_size, di.backend, di.is_distributed, di.is_main) == (0, 1, None, False, True)
    t = torch.arange(3.0)
    assert distributed.all_reduce_sum(t) is t and torch.equal(t, torch.arange(3.0))
    assert distributed.all_gather_cat(t) is t
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}


def test_launch_without_master_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init("cpu")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        distributed.launched()


@pytest.mark.parametrize("n,w", [(10, 3), (7, 2), (1, 2), (100, 8), (5, 5)])
def test_user_blocks_tile_and_match_owner(n, w):
    blocks = [distributed.user_block(n, r, w) for r in range(w)]
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    sizes = [b - a for a, b in blocks]
    assert max(sizes) - min(sizes) <= 1
    owner = distributed.owner_of(np.arange(n), n, w)
    for r, (a, b) in enumerate(blocks):
        assert np.all(owner[a:b] == r)


def test_rank_seeds():
    assert distributed.rank_seed(7, 0) == 7 and distributed.rank_seed(None, 0) == 0
    s = {distributed.rank_seed(7, r) for r in range(8)}
    assert len(s) == 8 and distributed.rank_seed(7, 3) == distributed.rank_seed(7, 3)


def _collectives(rank: int):
    di = distributed.info()
    t = torch.full((2,), float(rank + 1))
    distributed.all_reduce_sum(t)
    g = distributed.all_gather_cat(torch.arange(rank + 1) + 10 * rank)
    obj = distributed.broadcast_object({"from": rank} if rank == 0 else None)
    return di.rank, di.world_size, di.backend, t.tolist(), g.tolist(), obj


def test_collectives_in_two_gloo_ranks():
    out = run_ranks(_collectives, 2)
    for r, (rank, world, backend, t, g, obj) in enumerate(out):
        assert (rank, world, backend) == (r, 2, "gloo")
        assert t == [3.0, 3.0]
        assert g == [0, 10, 11]  # rank 0 sends 1 value, rank 1 sends 2, in rank order
        assert obj == {"from": 0}
