"""Data-parallel MF (issue 16): 1 process vs N processes (torchrun, gloo on CPU) on Gowalla or ML-100k.

For each configuration the driver starts ``torchrun --nproc_per_node=N`` on this file in worker mode; the
worker trains ``MatrixFactorization`` (torch path) with the same global batch (``--global-batch`` split
over the ranks) and the same epochs, and rank 0 reports: seconds per epoch (median of the epochs, from
``model.history``), Recall@20 / NDCG@20 on the test split, and bytes communicated per step.

Bytes per step are measured, not modelled: ``DistributedTorchTrainer.comm_bytes`` counts the element
count x element size of every tensor a rank hands to a collective during training (dense all-reduce of
dense item gradients; all-gather of (indices, rows) of sparse item gradients; in-batch item indices),
divided by the rank's steps. One process communicates nothing.

    python benchmarks/bench_distributed.py --data lightgcn:../shared/data/lightgcn/gowalla --epochs 2
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = {
    # user batches: dense Adam, so the item gradient is a dense (n_items, d) all-reduce every step
    "users-dense": dict(batching="users", global_batch=256, negatives=1024),
    # pair batches: lazy Adam on sparse gradients, so only the touched item rows travel (all-gather)
    "pairs-sparse": dict(batching="pairs", global_batch=2048, negatives=1024),
}


def _load(spec: str):
    from recneg.data import split_random
    from recneg.datasets import load_lightgcn, load_movielens

    kind, _, path = spec.partition(":")
    if kind == "lightgcn":
        return load_lightgcn(path)
    if kind == "movielens":
        data = load_movielens("100k", path=path)
        return split_random(data, test_fraction=0.2, seed=0)
    raise SystemExit(f"--data must be lightgcn:DIR or movielens:DIR, got {spec!r}")


def worker(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from recneg import distributed
    from recneg.engine.mf_torch_dist import DistributedTorchTrainer
    from recneg.evaluation.ranking import ranking_metrics
    from recneg.models.losses import Softmax
    from recneg.models.mf import MatrixFactorization
    from recneg.sampling import NegativeSampler

    torch.set_num_threads(args.threads)
    di = distributed.init("cpu")
    cfg = CONFIGS[args.config]
    made: list = []
    orig = DistributedTorchTrainer.__init__

    def keep(self, *a, **k):  # the benchmark reads the trainer's byte counter
        orig(self, *a, **k)
        made.append(self)

    DistributedTorchTrainer.__init__ = keep
    train, test = _load(args.data)
    m = MatrixFactorization(factors=64, loss=Softmax(temperature=0.1), backend="torch",
                            sampler=NegativeSampler(k=cfg["negatives"], alpha=0.0, shared=True), lr=args.lr, reg=0.0,
                            init_std=0.01, epochs=args.epochs, batch_size=cfg["global_batch"] // di.world_size,
                            batching=cfg["batching"], workers=args.threads, seed=0)
    t0 = time.perf_counter()
    m.fit(train, show_progress=False)
    fit_s = time.perf_counter() - t0
    res = ranking_metrics(m, train, test, K=20, metrics=["recall", "ndcg"]).metrics
    if made:
        tr = made[0]
        steps = tr.steps_per_epoch * args.epochs
        comm = tr.comm_bytes / steps
        steps_per_epoch = tr.steps_per_epoch
    else:
        comm = 0.0
        n_units = int((np.diff(train.csr.indptr) > 0).sum()) if cfg["batching"] == "users" else train.csr.nnz
        steps_per_epoch = -(-n_units // cfg["global_batch"])
    if di.is_main:
        secs = [h["seconds"] for h in m.history]
        out = dict(config=args.config, procs=di.world_size, threads=args.threads, epochs=args.epochs,
                   epoch_s=float(np.median(secs)), epoch_s_all=secs, fit_s=fit_s, steps_per_epoch=steps_per_epoch,
                   bytes_per_step=comm, recall20=res["recall@20"], ndcg20=res["ndcg@20"],
                   loss=[h["loss"] for h in m.history])
        Path(args.result).write_text(json.dumps(out))
    distributed.shutdown()


def driver(args: argparse.Namespace) -> None:
    rows = []
    for config in args.configs:
        for procs, threads in ((1, 1), (1, 2), (2, 1)):
            with tempfile.TemporaryDirectory() as tmp:
                res = Path(tmp) / "r.json"
                cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}", __file__,
                       "--worker", "--config", config, "--threads", str(threads), "--epochs", str(args.epochs),
                       "--lr", str(args.lr), "--data", args.data, "--result", str(res)]
                env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
                logging.info("running %s", " ".join(cmd))
                subprocess.run(cmd, check=True, env=env)
                rows.append(json.loads(res.read_text()))
                logging.info("%s", rows[-1])
    print("| config | processes x threads | steps/epoch | s/epoch (median) | Recall@20 | NDCG@20 | bytes sent per step per rank |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['procs']} x {r['threads']} | {r['steps_per_epoch']} | {r['epoch_s']:.1f} | "
              f"{r['recall20']:.4f} | {r['ndcg20']:.4f} | {r['bytes_per_step'] / 1e6:.3f} MB |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="lightgcn:../shared/data/lightgcn/gowalla",
                   help="lightgcn:DIR (its split) or movielens:DIR (ML-100k, 80/20 random split)")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    worker(args) if args.worker else driver(args)


if __name__ == "__main__":
    main()
