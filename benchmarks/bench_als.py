"""iALS in recneg (``MatrixFactorization(loss="ials")``) against implicit's ALS, on Gowalla, Last.fm and ML-100k.

Data (skipped when absent): Gowalla, LightGCN's train/test split; Last.fm (LightGCN-PyTorch's files, both pooled)
and MovieLens-100k (all ratings): 80/20 random split per user, seed 0 (issue 14's "Done means"). Every
dataset is binarised: play counts and ratings are not used by either model.

1. Leave-one-dataset-out choice of recneg's iALS hyperparameters, never looking at a test split: a validation
   split (20% per user, seed 1) is carved from each train split; every configuration of the grid
   (the unobserved weight, as ``unobserved_ratio`` or as a fixed ``alpha0``; reg; nu; epochs 4/8/16) is fitted on
   the rest of train and scored (Recall@20) on validation, Gowalla on a fixed sample of ``--val-users``
   validation users; implicit's ALS (below) is scored the same way for reference. For each held-out dataset, the configuration with the best
   mean rank over the other two is fitted on its full train and scored on its test; rotated over the three.
   The configuration with the best mean rank over all three is the one the side-by-side table uses.
2. Side by side, in one process, 64 factors, 2 threads: implicit ALS (``AlternatingLeastSquares(factors=64,
   regularization=0.01, iterations=15, num_threads=2, random_state=0)`` on ``train * 40``: alpha 40 on binary
   data) and recneg iALS, each fitted ``--repeats`` times alternately (fit seconds: the median); Recall@20 and
   NDCG@20 from :func:`recneg.evaluation.ranking_metrics` (training items masked, cold users skipped).

``--solvers`` instead compares the block solvers at d = 64 on Gowalla's validation split (fit on the rest of
train): Cholesky (exact) and conjugate gradient with 2, 3, 5 steps, at the chosen defaults, alternating, twice:
seconds per epoch, the objective after the last epoch and validation Recall@20.

Usage:
    python benchmarks/bench_als.py [--data ../shared/data] [--val-users 6000] [--repeats 3]
    python benchmarks/bench_als.py --solvers
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import threadpoolctl

from recneg.data import Interactions, split_random
from recneg.datasets import load_lastfm, load_lightgcn, load_movielens
from recneg.evaluation import ranking_metrics
from recneg.models import MatrixFactorization
from recneg.models.losses import WeightedSquared

K = 20
FACTORS = 64
THREADS = 2
# the grid: (unobserved weight as "ratio" (alpha0 = ratio * density) or "alpha0", its value, reg, nu); epochs
# are read off the validation curve at EPOCHS. nu = 1 scales reg by each row's total weight, nu = 0 does not.
RATIOS, ALPHA0S = (5.0, 10.0, 20.0, 40.0), (0.01, 0.03, 0.1, 0.3, 1.0)
GRID = ([("ratio", r, reg, 1.0) for r in RATIOS for reg in (0.003, 0.01, 0.03)]
        + [("ratio", r, reg, 0.0) for r in RATIOS for reg in (1.0, 3.0, 10.0)]
        + [("alpha0", a, reg, 1.0) for a in ALPHA0S for reg in (0.003, 0.01, 0.03)])
EPOCHS = (4, 8, 16)
IMPLICIT_VAL: dict[str, float] = {}


def binary(x: Interactions) -> Interactions:
    m = x.csr.copy()
    m.data[:] = 1.0
    return Interactions(m, x.user_ids, x.item_ids)


def datasets(data: Path) -> dict[str, tuple[Interactions, Interactions]]:
    """name -> (train, test), binarised."""
    out = {}
    gow = data / "lightgcn" / "gowalla"
    if gow.is_dir():
        out["Gowalla"] = load_lightgcn(gow)
    lfm = data / "lightgcn" / "lastfm"
    if lfm.is_dir():
        tr, te = load_lastfm(lfm)
        pooled = Interactions(sp.csr_matrix(tr.csr + te.csr), tr.user_ids, tr.item_ids)
        out["Last.fm"] = split_random(binary(pooled), 0.2, seed=0)
    ml = data / "movielens" / "ml-100k"
    if ml.is_dir():
        out["ML-100k"] = split_random(binary(load_movielens("100k", path=ml)), 0.2, seed=0)
    return {k: (binary(a), binary(b)) for k, (a, b) in out.items()}


def model(kind: str, value: float, reg: float, nu: float, epochs: int, seed: int = 0):
    loss = WeightedSquared(nu=nu, **{"unobserved_ratio" if kind == "ratio" else "alpha0": value})
    return MatrixFactorization(factors=FACTORS, loss=loss, reg=reg, epochs=epochs, workers=THREADS, seed=seed)


def recall(m, train, test, users=None) -> float:
    return ranking_metrics(m, train, test, K, users=users, metrics=["recall"]).metrics[f"recall@{K}"]


def validation_table(name: str, train: Interactions, val_users: int) -> dict[tuple, float]:
    """(kind, value, reg, nu, epochs) -> validation Recall@20, every grid point; one fit per (kind, value, reg, nu)."""
    fit, val = split_random(train, 0.2, seed=1)
    users = np.flatnonzero(val.csr.getnnz(axis=1) > 0)
    if users.size > val_users:
        users = np.sort(np.random.default_rng(1).choice(users, val_users, replace=False))
    out: dict[tuple, float] = {}
    t0 = time.perf_counter()
    for cfg in GRID:
        def score(epoch, m, cfg=cfg):
            if epoch + 1 in EPOCHS:
                out[(*cfg, epoch + 1)] = recall(m, fit, val, users)
        model(*cfg, max(EPOCHS)).fit(fit, show_progress=False, callbacks=[score])
    from implicit.cpu.als import AlternatingLeastSquares

    ref = AlternatingLeastSquares(factors=FACTORS, regularization=0.01, iterations=15, num_threads=THREADS,
                                  random_state=0)
    ref.fit((fit.csr * 40.0).tocsr(), show_progress=False)
    IMPLICIT_VAL[name] = recall(ref, fit, val, users)
    print(f"  {name}: {len(out)} validation points in {time.perf_counter() - t0:.0f} s "
          f"({users.size} validation users); implicit ALS validation Recall@20 {IMPLICIT_VAL[name]:.4f}", flush=True)
    return out


def mean_rank(tables: list[dict[tuple, float]]) -> list[tuple[float, tuple]]:
    """Configurations sorted by their mean rank (1 = best) over the tables."""
    keys = list(tables[0])
    ranks = np.zeros(len(keys))
    for t in tables:
        v = np.array([t[k] for k in keys])
        ranks += (-v).argsort().argsort() + 1
    ranks /= len(tables)
    return sorted(zip(ranks.tolist(), keys))


def fmt(cfg: tuple) -> str:
    kind, value, reg, nu, ep = cfg
    return f"{'unobserved_ratio' if kind == 'ratio' else 'alpha0'}={value:g}, reg={reg:g}, nu={nu:g}, epochs={ep}"


def side_by_side(name: str, train: Interactions, test: Interactions, cfg: tuple, repeats: int) -> dict:
    from implicit.cpu.als import AlternatingLeastSquares

    X40 = (train.csr * 40.0).tocsr()
    secs: dict[str, list[float]] = {"implicit": [], "recneg": []}
    fitted: dict[str, object] = {}
    for _ in range(repeats):  # alternate, so that both see the same machine load
        t0 = time.perf_counter()
        ref = AlternatingLeastSquares(factors=FACTORS, regularization=0.01, iterations=15, num_threads=THREADS,
                                      random_state=0)
        ref.fit(X40, show_progress=False)
        secs["implicit"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = model(*cfg).fit(train, show_progress=False)
        secs["recneg"].append(time.perf_counter() - t0)
        fitted = {"implicit": ref, "recneg": ours}
    row = {}
    for k, m in fitted.items():
        r = ranking_metrics(m, train, test, K, metrics=["recall", "ndcg"]).metrics
        row[k] = (r[f"recall@{K}"], r[f"ndcg@{K}"], float(np.median(secs[k])), secs[k])
    return row


def solvers(train: Interactions, val_users: int) -> None:
    fit, val = split_random(train, 0.2, seed=1)
    users = np.flatnonzero(val.csr.getnnz(axis=1) > 0)
    users = np.sort(np.random.default_rng(1).choice(users, min(val_users, users.size), replace=False))
    for solver in ("cholesky", "cg"):  # compile outside the timings
        MatrixFactorization(loss="ials", epochs=1, solver=solver).fit(fit.csr[:300], show_progress=False)
    print("\n| solver | s/epoch (2 alternating runs) | objective after 8 epochs | validation Recall@20 |")
    print("|---|---|---|---|")
    rows: dict[str, list] = {}
    with threadpoolctl.threadpool_limits(1, "blas"):
        for _ in range(2):
            for solver, steps in (("cholesky", 3), ("cg", 2), ("cg", 3), ("cg", 5)):
                m = MatrixFactorization(factors=FACTORS, loss="ials", solver=solver, cg_steps=steps, workers=THREADS)
                t0 = time.perf_counter()
                m.fit(fit, show_progress=False)
                key = "cholesky" if solver == "cholesky" else f"cg, {steps} steps"
                rows.setdefault(key, []).append(((time.perf_counter() - t0) / m.epochs, m.history[-1]["loss"],
                                                 recall(m, fit, val, users)))
    for key, runs in rows.items():
        print(f"| {key} | {' / '.join(f'{r[0]:.3f}' for r in runs)} | {runs[-1][1]:.1f} | {runs[-1][2]:.4f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--val-users", type=int, default=6000, help="validation users scored per grid point (Gowalla)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating fits per model for the fit seconds")
    ap.add_argument("--solvers", action="store_true", help="only compare cholesky and CG on Gowalla (see above)")
    args = ap.parse_args()
    if args.solvers:
        print(f"# {datetime.date.today()} {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
        solvers(load_lightgcn(Path(args.data) / "lightgcn" / "gowalla")[0], args.val_users)
        return
    t_start = time.perf_counter()
    print(f"# {datetime.date.today()} {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    data = datasets(Path(args.data))
    for k, (a, b) in data.items():
        print(f"{k}: train {a!r}, test nnz {b.nnz:,}")
    # compile the kernels once, outside every timing
    model("ratio", 10.0, 0.01, 1.0, 1).fit(data[next(iter(data))][0].csr[:500], show_progress=False)

    with threadpoolctl.threadpool_limits(1, "blas"):  # implicit's advice; numpy's Gramian is small either way
        print(f"\n## 1. validation grid: {len(GRID) * len(EPOCHS)} configurations per dataset", flush=True)
        tables = {k: validation_table(k, tr, args.val_users) for k, (tr, _) in data.items()}
        names = list(tables)
        print("\n| held-out dataset | chosen on | configuration | its validation Recall@20 on the others "
              "(implicit ALS) | held-out: its validation Recall@20 (implicit ALS; best in grid) | held-out test "
              "Recall@20 |")
        print("|---|---|---|---|---|---|")
        for held in names:
            others = [n for n in names if n != held]
            best = mean_rank([tables[n] for n in others])[0][1]
            tr, te = data[held]
            got = recall(model(*best).fit(tr, show_progress=False), tr, te)
            vals = ", ".join(f"{n} {tables[n][best]:.4f} ({IMPLICIT_VAL[n]:.4f})" for n in others)
            print(f"| {held} | {' + '.join(others)} | {fmt(best)} | {vals} | {tables[held][best]:.4f} "
                  f"({IMPLICIT_VAL[held]:.4f}; {max(tables[held].values()):.4f}) | {got:.4f} |", flush=True)
        ranked = mean_rank([tables[n] for n in names])
        cfg = ranked[0][1]
        print(f"\none configuration for all three (best mean validation rank {ranked[0][0]:.1f} of {len(ranked)}): "
              f"{fmt(cfg)}")
        print("top 5 by mean validation rank: " + "; ".join(f"{fmt(c)} ({r:.1f})" for r, c in ranked[:5]))
        d = MatrixFactorization(loss="ials")
        default = ("ratio", d.loss.unobserved_ratio, d.reg, d.loss.nu, d.epochs)
        print(f"MatrixFactorization(loss='ials') defaults: {fmt(default)} "
              f"({'the same' if default == cfg else 'NOT this configuration'})")

        print(f"\n## 2. side by side, {FACTORS} factors, {THREADS} threads, median of {args.repeats} alternating fits",
              flush=True)
        print("\n| dataset | model | Recall@20 | NDCG@20 | fit s (median) | fit s (all) | time / ALS |")
        print("|---|---|---|---|---|---|---|")
        verdict = []
        for k, (tr, te) in data.items():
            row = side_by_side(k, tr, te, cfg, args.repeats)
            ti = row["implicit"][2]
            for who, label in (("implicit", "implicit ALS (alpha 40, reg 0.01, 15 it)"), ("recneg", f"recneg iALS ({fmt(cfg)})")):
                r, n, s, all_s = row[who]
                print(f"| {k} | {label} | {r:.4f} | {n:.4f} | {s:.2f} | {' '.join(f'{x:.2f}' for x in all_s)} | "
                      f"{s / ti:.2f}x |", flush=True)
            verdict.append((k, row["recneg"][0] > row["implicit"][0], row["recneg"][2] <= 3 * ti))
    print("\nbeats implicit ALS's test Recall@20 within 3x its fit time: " + ", ".join(
        f"{k}: {'yes' if b and t else 'no'} (recall {'higher' if b else 'not higher'}, time {'<=' if t else '>'} 3x)"
        for k, b, t in verdict))
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
