"""Full-ranking evaluation speed on Gowalla: recneg.evaluation.ranking vs a plain numpy loop.

    python benchmarks/bench_eval.py [--repeats 3] [--dim 64] [--K 20]

Both sides rank all 40,981 items for all 29,858 users with random ``dim``-d float32
factors, mask training items and take the top K; the numpy side is the usual
``U[b] @ V.T`` -> mask -> ``np.argpartition`` -> sort per user batch. Runs are
interleaved in one process; prints a Markdown table (median seconds, ratio) and the
agreement of the two (recall/ndcg and identical top-K lists).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def numpy_eval(U, V, tr, te, K, batch):
    """Straightforward numpy full ranking; returns (recall@K, ndcg@K, top-K items (n_eval, K), evaluated users)."""
    n_users, n_items = tr.shape
    n_test = np.diff(te.indptr)
    users = np.flatnonzero((n_test > 0) & (np.diff(tr.indptr) > 0))
    disc = 1.0 / np.log2(np.arange(2, K + 2))
    rec, ndcg, tops = [], [], []
    for s in range(0, users.size, batch):
        b = users[s:s + batch]
        S = U[b] @ V.T
        sub = tr[b]
        S[np.repeat(np.arange(b.size), np.diff(sub.indptr)), sub.indices] = -np.inf
        part = np.argpartition(-S, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(S, part, 1), axis=1, kind="stable")
        top = np.take_along_axis(part, order, 1)
        rel = te[b].toarray() > 0
        hits = np.take_along_axis(rel, top, 1)
        n_rel = rel.sum(1)
        rec.append(hits.sum(1) / n_rel)
        idcg = np.cumsum(disc)[np.minimum(K, n_rel) - 1]
        ndcg.append((hits * disc).sum(1) / idcg)
        tops.append(top)
    return float(np.concatenate(rec).mean()), float(np.concatenate(ndcg).mean()), np.concatenate(tops), users


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--K", type=int, default=20)
    ap.add_argument("--path", default=str(DATA / "lightgcn" / "gowalla"))
    args = ap.parse_args()
    if not Path(args.path, "train.txt").exists():
        print(f"Gowalla not found at {args.path}; nothing to benchmark", file=sys.stderr)
        return 1
    from recneg.datasets import load_lightgcn
    from recneg.evaluation.ranking import most_popular_scores, ranking_metrics

    train, test = load_lightgcn(args.path)
    tr, te = train.csr, test.csr
    rng = np.random.default_rng(0)
    U = rng.normal(size=(train.n_users, args.dim)).astype(np.float32)
    V = rng.normal(size=(train.n_items, args.dim)).astype(np.float32)
    K = args.K
    batch = max(1, (256 * 2**20) // (4 * train.n_items))  # recneg default batch; same on both sides

    t0 = time.perf_counter()
    r = ranking_metrics(train=train, test=test, K=K, user_factors=U, item_factors=V, per_user=True)
    first = time.perf_counter() - t0
    t_rn, t_np, c_rn, c_np = [], [], [], []  # wall seconds and process CPU seconds (all threads)
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        r = ranking_metrics(train=train, test=test, K=K, user_factors=U, item_factors=V, per_user=True)
        t_rn.append(time.perf_counter() - t0)
        c_rn.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        np_rec, np_ndcg, np_top, np_users = numpy_eval(U, V, tr, te, K, batch)
        t_np.append(time.perf_counter() - t0)
        c_np.append(time.process_time() - c0)

    assert np.array_equal(np_users, r.users), "evaluated user sets differ"
    same_top = float((np_top == r.top_items).all(1).mean())

    t0 = time.perf_counter()
    pop = ranking_metrics(train=train, test=test, K=K, score_fn=most_popular_scores(train))
    t_pop = time.perf_counter() - t0
    t0 = time.perf_counter()
    smp = ranking_metrics(train=train, test=test, K=K, user_factors=U, item_factors=V, n_sampled_negatives=100)
    t_smp = time.perf_counter() - t0

    med_rn, med_np = float(np.median(t_rn)), float(np.median(t_np))
    print(f"Gowalla {train.n_users} users x {train.n_items} items, {test.nnz} test pairs, d={args.dim}, K={K}, "
          f"batch={batch}, torch threads={torch.get_num_threads()}, {platform.processor() or platform.machine()}\n")
    cpu_rn, cpu_np = float(np.median(c_rn)), float(np.median(c_np))
    print("| what | wall s (median of %d) | CPU s, all threads | wall ratio numpy/recneg |" % args.repeats)
    print("| --- | ---: | ---: | ---: |")
    print(f"| recneg ranking_metrics, all 7 metrics (first call {first:.2f}s) | {med_rn:.2f} | {cpu_rn:.2f} | 1.00 |")
    print(f"| numpy U@V.T + mask + argpartition, recall+ndcg only | {med_np:.2f} | {cpu_np:.2f} | "
          f"{med_np / med_rn:.2f} |")
    print(f"| recneg most-popular score_fn (1 run) | {t_pop:.2f} | | |")
    print(f"| recneg sampled N=100 + BV correction (1 run) | {t_smp:.2f} | | |")
    print()
    print("| check | recneg | numpy |")
    print("| --- | ---: | ---: |")
    print(f"| recall@{K} (random factors) | {r[f'recall@{K}']:.6f} | {np_rec:.6f} |")
    print(f"| ndcg@{K} (random factors) | {r[f'ndcg@{K}']:.6f} | {np_ndcg:.6f} |")
    print(f"| users with identical top-{K} lists | {same_top:.5f} | |")
    print(f"| most-popular recall@{K} / ndcg@{K} | {pop[f'recall@{K}']:.4f} / {pop[f'ndcg@{K}']:.4f} | |")
    print(f"| sampled(N=100) recall@{K}: corrected / raw | {smp[f'sampled_recall@{K}']:.4f} / "
          f"{smp[f'sampled_raw_recall@{K}']:.4f} | |")
    ok = abs(r[f"recall@{K}"] - np_rec) < 1e-6 and abs(r[f"ndcg@{K}"] - np_ndcg) < 1e-6
    print(f"\nagreement: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
