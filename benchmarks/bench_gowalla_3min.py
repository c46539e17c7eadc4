"""Gowalla >= 0.1837 Recall@20 in 3 minutes of training (issue 14, part 2).

CCL (SimpleX's cosine contrastive loss) with negatives shared by each batch of users, drawn by
``recneg.sampling.NegativeSampler``, trained by the torch trainer (Adam, computed on the rows each
step reads: ``recneg.engine.row_adam.RowAdam``), factors averaged over the last epochs.

``--model ials`` instead trains iALS (every unseen item a weighted negative, ``loss="ials"``) with
many factors: Rendle et al. 2022's point that iALS keeps improving with the embedding size, which
its Gramian solve makes affordable (an epoch costs O(nnz d + (users + items) d^2) with CG).

Usage:
    python benchmarks/bench_gowalla_3min.py [--data ../shared/data/lightgcn/gowalla] [--validation] [options]
    python benchmarks/bench_gowalla_3min.py --model ials --factors 1024 --reg 0.005 --epochs 5

``--validation`` trains on 90% of each user's train items (``recneg.data.splits.split_random``, 10%
held out, seed 0) and evaluates on the held-out 10% (the configuration is chosen there); without it
the model trains on the whole train split and is evaluated once on test. Prints the training wall and
process seconds, the load average sampled during training, Recall@20 and NDCG@20, and a JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time

import torch

from recneg.data import split_random
from recneg.datasets import load_lightgcn
from recneg.evaluation.ranking import ranking_metrics
from recneg.models.losses import CCL, WeightedSquared
from recneg.models.mf import MatrixFactorization
from recneg.sampling import AllItems, NegativeSampler

TARGET_RECALL = 0.1837
BUDGET_S = 180.0


class LoadSampler:
    """Samples os.getloadavg()[0] every few seconds in a thread (the load during training)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every, self.samples, self._stop = every, [os.getloadavg()[0]], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.samples.append(os.getloadavg()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                   "lightgcn", "gowalla"))
    ap.add_argument("--validation", action="store_true", help="evaluate on a 10%% split carved from train")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--average", type=int, default=30, help="average the factors of the last N epochs")
    ap.add_argument("--negatives", type=int, default=4096, help="negatives shared by each batch of users")
    ap.add_argument("--alpha", type=float, default=0.0, help="proposal popularity exponent")
    ap.add_argument("--margin", type=float, default=0.9)
    ap.add_argument("--weight", type=float, default=150.0, help="CCL negative weight")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=128, help="users per batch")
    ap.add_argument("--init-std", type=float, default=0.01)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", choices=["ccl", "ials"], default="ccl")
    ap.add_argument("--reg", type=float, default=0.005, help="iALS: regularisation (frequency-scaled, nu = 1)")
    ap.add_argument("--unobserved-ratio", type=float, default=10.0, help="iALS: unobserved weight / observed")
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    train, test = load_lightgcn(args.data)
    if args.validation:
        train, test = split_random(train, 0.1, seed=0)
    if args.model == "ials":
        model = MatrixFactorization(factors=args.factors, loss=WeightedSquared(unobserved_ratio=args.unobserved_ratio,
                                                                               nu=1.0),
                                    sampler=AllItems(exclude_seen=True), reg=args.reg, epochs=args.epochs,
                                    workers=args.threads, seed=args.seed)
    else:
        model = MatrixFactorization(
            factors=args.factors, loss=CCL(margin=args.margin, negative_weight=args.weight),
            sampler=NegativeSampler(k=args.negatives, alpha=args.alpha, shared=True), lr=args.lr, reg=0.0,
            init_std=args.init_std, batching="users", batch_size=args.batch, epochs=args.epochs,
            average_epochs=args.average, workers=args.threads, seed=args.seed, backend="torch")
    torch.set_num_threads(args.threads)
    with LoadSampler() as load:
        w0, p0 = time.perf_counter(), time.process_time()
        model.fit(train, show_progress=False)
        wall, proc = time.perf_counter() - w0, time.process_time() - p0
    r = ranking_metrics(model, train, test, K=20)
    split = "validation" if args.validation else "test"
    mean_load = sum(load.samples) / len(load.samples)
    print(f"{split}: Recall@20 {r['recall@20']:.4f}  NDCG@20 {r['ndcg@20']:.4f}")
    print(f"training: {wall:.1f} s wall ({wall / max(args.epochs, 1):.2f} s/epoch), {proc:.1f} s process, "
          f"load average during it mean {mean_load:.2f} max {max(load.samples):.2f}")
    if not args.validation:
        ok_r, ok_t = r["recall@20"] >= TARGET_RECALL, wall <= BUDGET_S
        print(f"target Recall@20 >= {TARGET_RECALL}: {'met' if ok_r else 'NOT met'}; "
              f"training <= {BUDGET_S:.0f} s wall: {'met' if ok_t else 'NOT met'}")
    print(json.dumps({"label": args.label, "split": split, **{k: v for k, v in vars(args).items() if k != "data"},
                      "recall@20": round(float(r["recall@20"]), 4), "ndcg@20": round(float(r["ndcg@20"]), 4),
                      "train_wall_s": round(wall, 1), "train_process_s": round(proc, 1),
                      "load_mean": round(mean_load, 2), "load_max": round(max(load.samples), 2)}))


if __name__ == "__main__":
    main()
