"""Issue 14's side-by-side, per dataset, in one process: implicit ALS, implicit BPR, recneg's defaults and
``recneg lab`` with a budget of 10x ALS's fit time.

Data (skipped when absent; binarised): Gowalla (LightGCN's train/test split), Last.fm (LightGCN-PyTorch's files
pooled, then 80/20 per user, seed 0) and MovieLens-100k (all ratings, 80/20 per user, seed 0): the splits of
``benchmarks/bench_als.py``.

Per dataset, 64 factors, 2 threads, BLAS single-threaded for implicit (its advice):

* implicit ALS: ``AlternatingLeastSquares(factors=64, regularization=0.01, alpha=40, iterations=15)``;
* implicit BPR: ``BayesianPersonalizedRanking(factors=64, iterations=100)`` (implicit's defaults but factors);
* recneg defaults: ``MatrixFactorization()``, no argument at all;
* recneg lab: :func:`recneg.tuning.tune` (what ``recneg lab --budget B`` runs) with ``B`` = 10x ALS's median
  fit time (``--factors-search 128 256 512 1024``: ``recneg lab --factors-search ...``, the embedding size
  searched too); its search uses a validation split carved from train, its winner is refitted on the full train and
  is the only lab model that sees test. Its seconds are the search plus the refit.

ALS and the defaults are each fitted ``--repeats`` times, alternately, so that both see the same load; their
seconds are the median, their metrics those of the last fit (both are deterministic given the seed). Recall@20
and NDCG@20 come from :func:`recneg.evaluation.ranking_metrics` (full ranking, training items masked).

Usage:
    python benchmarks/bench_unseen.py [--data ../shared/data] [--repeats 3] [--budget-factor 10] [--only ML-100k]
        [--factors-search 128 256 512 1024]
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import threadpoolctl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_als import datasets  # noqa: E402  (the same binarised splits)

from recneg.evaluation import ranking_metrics  # noqa: E402
from recneg.models import MatrixFactorization  # noqa: E402
from recneg.tuning import tune  # noqa: E402

K = 20
FACTORS = 64
THREADS = 2


def metrics(model, train, test) -> tuple[float, float]:
    r = ranking_metrics(model, train, test, K, metrics=["recall", "ndcg"]).metrics
    return float(r[f"recall@{K}"]), float(r[f"ndcg@{K}"])


def run(name: str, train, test, repeats: int, factor: float, seed: int, factors_search=None) -> list[tuple]:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    X = train.csr.astype(np.float32)
    secs: dict[str, list[float]] = {"als": [], "default": []}
    fitted: dict[str, object] = {}
    for _ in range(repeats):  # alternate, so that both see the same machine load
        with threadpoolctl.threadpool_limits(1, "blas"):
            t0 = time.perf_counter()
            als = AlternatingLeastSquares(factors=FACTORS, regularization=0.01, alpha=40.0, iterations=15,
                                          num_threads=THREADS, random_state=seed)
            als.fit(X, show_progress=False)
            secs["als"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        default = MatrixFactorization().fit(train, show_progress=False)
        secs["default"].append(time.perf_counter() - t0)
        fitted = {"als": als, "default": default}
    with threadpoolctl.threadpool_limits(1, "blas"):
        t0 = time.perf_counter()
        bpr = BayesianPersonalizedRanking(factors=FACTORS, iterations=100, num_threads=THREADS, random_state=seed)
        bpr.fit(X, show_progress=False)
        bpr_secs = time.perf_counter() - t0
    t_als = float(np.median(secs["als"]))
    budget = factor * t_als
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        lab = tune(train, test, Path(tmp) / "lab", budget=budget, factors=FACTORS, factors_search=factors_search, K=K,
                   seed=seed, workers=THREADS, reference=False, plot=False)
        lab_secs = time.perf_counter() - t0
    rows = [
        ("implicit ALS (α 40, reg 0.01, 15 it)", *metrics(fitted["als"], train, test), t_als),
        ("implicit BPR (100 it)", *metrics(bpr, train, test), bpr_secs),
        ("recneg `MatrixFactorization()`", *metrics(fitted["default"], train, test),
         float(np.median(secs["default"]))),
        (f"recneg lab, budget {budget:.1f} s ({len(lab.rows)} trials; winner: {lab.best['strategy'] if lab.best else '-'})",
         lab.test_metrics[f"recall@{K}"], lab.test_metrics[f"ndcg@{K}"], lab_secs),
    ]
    print(f"\n### {name}: train {train.n_users:,} users x {train.n_items:,} items, {train.nnz:,} pairs; "
          f"ALS fits {', '.join(f'{s:.2f}' for s in secs['als'])} s, defaults {', '.join(f'{s:.2f}' for s in secs['default'])} s; "
          f"lab search {lab.search_seconds:.1f} s + refit {lab.refit_seconds:.1f} s", flush=True)
    print("\n| model | Recall@20 | NDCG@20 | seconds | x ALS time |\n|---|---|---|---|---|")
    for label, rec, ndcg, s in rows:
        print(f"| {label} | {rec:.4f} | {ndcg:.4f} | {s:.2f} | {s / t_als:.2f} |")
    d, a, lab_r = rows[2], rows[0], rows[3]
    print(f"\ndefaults beat ALS: {d[1] > a[1]} (at {d[3] / t_als:.2f}x its time, <= 3x: {d[3] <= 3 * t_als}); "
          f"lab beats defaults: {lab_r[1] > d[1]}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--repeats", type=int, default=3, help="alternating fits of ALS and the defaults")
    ap.add_argument("--budget-factor", type=float, default=10.0, help="the lab's budget in ALS fit times")
    ap.add_argument("--only", nargs="*", default=None, help="datasets to run (Gowalla, Last.fm, ML-100k)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--factors-search", type=int, nargs="*", default=None,
                    help="the lab's extra embedding sizes (recneg lab --factors-search); default: d = 64 fixed")
    args = ap.parse_args()
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; python {platform.python_version()}")
    data = datasets(Path(args.data))
    # compile the kernels once, outside every timing
    first = data[next(iter(data))][0]
    MatrixFactorization(epochs=1).fit(first.csr[:500], show_progress=False)
    for name, (train, test) in data.items():
        if args.only and name not in args.only:
            continue
        run(name, train, test, args.repeats, args.budget_factor, args.seed, args.factors_search)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
