"""BPR (uniform and DNS negatives) against sampled softmax and the cosine contrastive loss on Gowalla.

Usage:
    python examples/bpr_vs_softmax_gowalla.py path/to/lightgcn/gowalla [epochs]

Full-ranking Recall@20 / NDCG@20 over all 40,981 items, training items masked. BPR runs in the
numba Hogwild kernel (one negative per pair, never an item the user has seen; DNS keeps the best of
16 slots of a 64-candidate pool drawn once per user). Softmax (cosine, temperature 0.1) and CCL
(SimpleX's margin 0.9, weight 150) run in torch on batches of 128 users with all their positives,
against 4,096 uniform negatives shared by the batch and scored once per user.

Output of `python examples/bpr_vs_softmax_gowalla.py ../shared/data/lightgcn/gowalla 10` (2026-12-01
00:28-00:35 UTC, 2-core CPU shared with three other jobs, so the seconds are inflated: the softmax row took
58 s on a quiet machine on 2026-11-27; linear lr decay over the 10 epochs):

    train: Interactions(n_users=29,858, n_items=40,981, nnz=810,128, density=0.0662%)
    test:  Interactions(n_users=29,858, n_items=40,981, nnz=217,242, density=0.0178%)
    BPR, uniform negatives, exclusion        recall@20 0.0806  ndcg@20 0.0735  (1s)
    BPR, DNS (pool of 64, best of 16)        recall@20 0.0804  ndcg@20 0.0733  (2s)
    sampled softmax, 4096 shared negatives   recall@20 0.1565  ndcg@20 0.1210  (365s)
    CCL, 4096 shared negatives               recall@20 0.1438  ndcg@20 0.1124  (55s)

At equal epochs the softmax and CCL learn far more per epoch; BPR is 25-60x cheaper per epoch and
needs ~300 epochs: 0.148 uniform, 0.165 with DNS. The best configuration found (CCL against the whole
catalogue, sampler="all", constant lr, average_epochs=30 of 60) reaches 0.1839; see benchmarks/RESULTS.md.

Each model gets its negatives from a sampler object of recneg.sampling (issue 12: models take a sampler).
"""
from __future__ import annotations

import sys
import time

from recneg.datasets import load_lightgcn
from recneg.evaluation.ranking import ranking_metrics
from recneg.models.losses import Softmax
from recneg.models.mf import MatrixFactorization
from recneg.sampling import DynamicNegativeSampler, NegativeSampler


def main(path: str, epochs: int = 10) -> None:
    train, test = load_lightgcn(path)
    print(f"train: {train!r}\ntest:  {test!r}")
    configs = {
        "BPR, uniform negatives, exclusion": dict(
            loss="bpr", sampler=NegativeSampler(k=1, alpha=0.0, exclude_seen=True), lr=0.05, reg=0.005,
            lr_decay="linear"),
        "BPR, DNS (pool of 64, best of 16)": dict(
            loss="bpr", sampler=DynamicNegativeSampler(NegativeSampler(k=1, alpha=0.0), m=16, pool=64), lr=0.05,
            reg=0.02, lr_decay="linear"),
        "sampled softmax, 4096 shared negatives": dict(
            loss=Softmax(temperature=0.1, score="cosine"), sampler=NegativeSampler(k=4096, alpha=0.0, shared=True),
            lr=1e-2, reg=0.0, batching="users", batch_size=128, lr_decay="linear"),
        "CCL, 4096 shared negatives": dict(
            loss="ccl", sampler=NegativeSampler(k=4096, alpha=0.0, shared=True), lr=1e-3, reg=0.0, init_std=0.01,
            batching="users", batch_size=128, lr_decay="linear"),
    }
    for name, cfg in configs.items():
        t0 = time.perf_counter()
        model = MatrixFactorization(factors=64, epochs=epochs, seed=0, **cfg).fit(train, show_progress=False)
        secs = time.perf_counter() - t0
        r = ranking_metrics(model, train, test, K=20)
        print(f"{name:40s} recall@20 {r['recall@20']:.4f}  ndcg@20 {r['ndcg@20']:.4f}  ({secs:.0f}s)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
