"""Per-epoch cost of CCL user batches on Gowalla by optimiser and loss path, measured interleaved.

Usage:
    python benchmarks/bench_gowalla_step_cost.py OPT:FUSED:NEGATIVES:BATCH [...] [--threads 1] [--data DIR]

Each spec builds one torch trainer (CCL, margin 0.9, weight 150, 64 factors, uniform shared negatives, user
batches): OPT "adam" (dense torch Adam) or "row_adam" (recneg.engine.row_adam.RowAdam), FUSED 1/0 (the fused
shared-negative CCL or the generic ccl_loss path). The trainers take turns, ~1,280 users at a time, 12 rounds
(the first discarded), so machine load hits them alike; printed: process and wall seconds per epoch-equivalent
(29,858 users) and the load average. Example (RESULTS.md, issue 14 part 2):
    python benchmarks/bench_gowalla_step_cost.py adam:0:4096:128 row_adam:0:4096:128 row_adam:1:4096:128 row_adam:1:8192:128
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from recneg.data.interactions import as_csr
from recneg.datasets import load_lightgcn
from recneg.models.mf import MatrixFactorization
from recneg.sampling import NegativeSampler


def make(X, opt: str, fused: bool, k: int, bs: int):
    m = MatrixFactorization(factors=64, loss="ccl", sampler=NegativeSampler(k=k, alpha=0.0, shared=True), lr=1e-3,
                            reg=0.0, init_std=0.01, batching="users", batch_size=bs, epochs=60, seed=0)
    m.sampler.bind(X)
    rng = np.random.default_rng(0)
    m._U = (rng.standard_normal((X.shape[0], 64)) * 0.01).astype(np.float32)
    m._V = (rng.standard_normal((X.shape[1], 64)) * 0.01).astype(np.float32)
    m._b = np.zeros(X.shape[1], np.float32)
    cfg = m._cfg()
    cfg.optimizer = opt
    m._cfg = lambda: cfg
    tr = m._make_trainer(X, rng)
    tr.fused_ccl = fused
    return tr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                   "lightgcn", "gowalla"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X = as_csr(load_lightgcn(args.data)[0], binary=True)
    specs = [s.split(":") for s in args.specs]
    trs = [make(X, o, f == "1", int(k), int(bs)) for o, f, k, bs in specs]
    perm = trs[0].active_users[torch.randperm(trs[0].active_users.numel())]
    cpu, wall, users, pos = [0.0] * len(trs), [0.0] * len(trs), [0] * len(trs), [0] * len(trs)
    load0 = os.getloadavg()
    for rnd in range(12):
        for i, tr in enumerate(trs):
            bs = int(specs[i][3])
            p0, w0 = time.process_time(), time.perf_counter()
            for _ in range(max(1, 1280 // bs)):
                u = perm[pos[i]:pos[i] + bs]
                pos[i] = (pos[i] + bs) % (perm.numel() - bs)
                tr.opt.zero_grad(set_to_none=True)
                tr.user_batch_loss(u).backward()
                tr.opt.step()
                if rnd:
                    users[i] += u.numel()
            if rnd:
                cpu[i] += time.process_time() - p0
                wall[i] += time.perf_counter() - w0
    n = perm.numel()
    for s, c, w, u in zip(args.specs, cpu, wall, users):
        print(f"{s:24s} process {c / u * n:6.2f} s/epoch  wall {w / u * n:6.2f} s/epoch")
    print(f"threads {args.threads}; load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
