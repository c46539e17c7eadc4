"""WARP: recneg's numba kernel against LightFM's, side by side in one process.

Run:  python benchmarks/bench_warp.py [--datasets ml100k,gowalla] [--epochs 20] [--rounds 2]

LightFM is a benchmark-only peer (the library never imports it); it builds here with
``pip install setuptools wheel numpy scipy && pip install --no-build-isolation lightfm``.

Both train WARP with 64 factors, 2 threads, at most 10 negative draws per positive (LightFM's
``max_sampled`` default) and the same number of epochs, fitted alternately (``--rounds`` times
each). LightFM keeps its defaults (adagrad, learning_rate 0.05, no L2). recneg keeps its own
WARP defaults (``NumbaMatrixFactorization`` with ``loss="warp"``: SGD, lr 0.005, reg 0.01; exact
exclusion of seen items, which LightFM does by rejection too). Recall@20 / NDCG@20 come from
recneg's full-ranking evaluator for both (training items masked); LightFM's scores include its
item biases. Splits: ML-100k 80/20 random per user (seed 0), Gowalla the LightGCN split.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from recneg.data import split_random
from recneg.datasets import load_lightgcn, load_movielens
from recneg.evaluation.ranking import ranking_metrics
from recneg.models.mf import MatrixFactorization
from recneg.sampling import NegativeSampler, WarpSampler

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load(name: str):
    if name == "ml100k":
        return split_random(load_movielens("100k", path=DATA / "movielens" / "ml-100k", binarize=True), 0.2, seed=0)
    if name == "gowalla":
        return load_lightgcn(DATA / "lightgcn" / "gowalla")
    raise SystemExit(f"unknown dataset {name!r}")


def fit_lightfm(train, epochs: int, seed: int):
    from lightfm import LightFM

    X = train.csr.tocoo()
    m = LightFM(no_components=64, loss="warp", max_sampled=10, random_state=seed)
    t0 = time.perf_counter()
    m.fit(X, epochs=epochs, num_threads=2)
    secs = time.perf_counter() - t0
    U = np.hstack([m.user_embeddings, np.ones((X.shape[0], 1), np.float32)])
    V = np.hstack([m.item_embeddings, m.item_biases[:, None]])
    return secs, U, V


def fit_recneg(train, epochs: int, seed: int):
    m = MatrixFactorization(factors=64, loss="warp", sampler=WarpSampler(NegativeSampler(k=1, alpha=0.0), max_trials=10),
                            epochs=epochs, workers=2, seed=seed)
    t0 = time.perf_counter()
    m.fit(train, show_progress=False)
    return time.perf_counter() - t0, m.user_factors, m.item_factors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="ml100k,gowalla")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    fit_recneg(load("ml100k")[0], 1, 0)  # compile the numba kernels before timing
    print("| dataset | model | s/epoch (median of rounds) | recneg / LightFM time | Recall@20 | NDCG@20 |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        train, test = load(name)
        times: dict[str, list[float]] = {"LightFM WARP": [], "recneg WARP": []}
        last = {}
        for r in range(args.rounds):
            for label, fit in (("LightFM WARP", fit_lightfm), ("recneg WARP", fit_recneg)):
                secs, U, V = fit(train, args.epochs, r)
                times[label].append(secs / args.epochs)
                last[label] = ranking_metrics(user_factors=U, item_factors=V, train=train, test=test, K=20).metrics
        lf = statistics.median(times["LightFM WARP"])
        for label in times:
            t = statistics.median(times[label])
            ratio = f"{t / lf:.2f}" if label != "LightFM WARP" else "1.00"
            m = last[label]
            print(f"| {name} | {label} | {t:.3f} | {ratio} | {m['recall@20']:.4f} | {m['ndcg@20']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
