"""Which validation protocol makes ``recneg lab`` beat the defaults on data it was not tuned on, checked without
any test split: nested splits of train.

For each dataset (the splits of ``benchmarks/bench_als.py``) and each outer seed, the *train* split is split again,
80/20 per user, into an inner train and a pseudo-test. On the inner train, ``MatrixFactorization()`` (the defaults)
and :func:`recneg.tuning.tune` (the lab, budget = ``--budget-factor`` x implicit ALS's fit time on the inner train)
are fitted; both are scored on the pseudo-test (Recall@20, full ranking, inner-train items masked). The real test
split is never read. One lab per protocol (validation fraction, extra splits, finalists), so the table says which
protocol's winner carries from validation to held-out data, and how often the lab beats the defaults.

Usage:
    python benchmarks/bench_lab_protocol.py [--data ../shared/data] [--seeds 101 102 103] [--only ML-100k]
        [--protocols 0.1:2:3 0.05:4:3] [--factors-search 128 256 512 1024] [--budget-factor 10]

A protocol is ``valid_fraction:extra_splits:finalists``.
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
from bench_als import datasets  # noqa: E402

from recneg.data import split_random  # noqa: E402
from recneg.evaluation import ranking_metrics  # noqa: E402
from recneg.models import MatrixFactorization  # noqa: E402
from recneg.tuning import tune  # noqa: E402

K = 20


def recall(model, train, test) -> float:
    return float(ranking_metrics(model, train, test, K, metrics=["recall"]).metrics[f"recall@{K}"])


def als_seconds(train, seed: int) -> float:
    from implicit.cpu.als import AlternatingLeastSquares

    X = train.csr.astype(np.float32)
    secs = []
    for _ in range(2):
        with threadpoolctl.threadpool_limits(1, "blas"):
            t0 = time.perf_counter()
            AlternatingLeastSquares(factors=64, regularization=0.01, alpha=40.0, iterations=15, num_threads=2,
                                    random_state=seed).fit(X, show_progress=False)
            secs.append(time.perf_counter() - t0)
    return float(np.median(secs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--protocols", nargs="+", default=["0.1:2:3", "0.05:2:3", "0.05:4:3"])
    ap.add_argument("--budget-factor", type=float, default=10.0)
    ap.add_argument("--holdout", type=float, default=0.2, help="the pseudo-test's fraction of each user's train items")
    ap.add_argument("--factors-search", type=int, nargs="*", default=[128, 256, 512, 1024])
    args = ap.parse_args()
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    protocols = [tuple(float(x) if i == 0 else int(x) for i, x in enumerate(p.split(":"))) for p in args.protocols]
    data = datasets(Path(args.data))
    first = data[next(iter(data))][0]
    MatrixFactorization(epochs=1).fit(first.csr[:500], show_progress=False)  # compile outside the timings
    print("\n| dataset | seed | protocol (valid:extra:finalists) | budget s | trials | defaults | lab | lab - defaults "
          "| winner |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    summary: dict[tuple, list[float]] = {}
    for name, (train, _test) in data.items():  # the real test split is never used
        if args.only and name not in args.only:
            continue
        for seed in args.seeds:
            inner, pseudo = split_random(train, args.holdout, seed=seed)
            budget = args.budget_factor * als_seconds(inner, 0)
            base = recall(MatrixFactorization().fit(inner, show_progress=False), inner, pseudo)
            for p in protocols:
                with tempfile.TemporaryDirectory() as tmp:
                    lab = tune(inner, pseudo, Path(tmp) / "lab", budget=budget, factors=64,
                               factors_search=args.factors_search, K=K, seed=0, workers=2, valid_fraction=p[0],
                               extra_splits=p[1], finalists=p[2], reference=False, plot=False)
                r = lab.test_metrics[f"recall@{K}"]
                summary.setdefault((name, p), []).append(r - base)
                print(f"| {name} | {seed} | {p[0]}:{p[1]}:{p[2]} | {budget:.1f} | {len(lab.rows)} | {base:.4f} "
                      f"| {r:.4f} | {r - base:+.4f} | {lab.best['strategy'] if lab.best else '-'} |", flush=True)
    print("\n| dataset | protocol | mean lab - defaults | lab ahead in |\n|---|---|---|---|")
    for (name, p), d in summary.items():
        print(f"| {name} | {p[0]}:{p[1]}:{p[2]} | {np.mean(d):+.4f} | {sum(x > 0 for x in d)}/{len(d)} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
