"""Item2Vec on MovieLens-100k: HR@10 under leave-last-out vs a most-popular baseline.

Run: python benchmarks/bench_item2vec.py [--epochs 20] [--dim 64] [--seeds 1,2,3]

Histories are ordered by timestamp; each user's last rating is the test item
(users with one rating stay in train only). Item2Vec recommends from the mean of
the user's training-history vectors, already-seen items filtered, scored by cosine
("cosine") or against the output vectors ("in_out"); the
baseline recommends the most popular unseen training items. HR@10 = fraction of
test users whose held-out item is in the top 10. Rows sweep ns_exponent (the
negative distribution popularity**ns_exponent) for the "window" and "set"
contexts; each value is the mean over seeds (with the min-max range).
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

ML100K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "movielens" / "ml-100k"


def hit_rate(top: np.ndarray, test_items: np.ndarray) -> float:
    return float(np.mean((top == test_items[:, None]).any(1)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20, help="epochs for context='window'")
    ap.add_argument("--set-epochs", type=int, default=5, help="epochs for context='set' (O(L^2) pairs per user)")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--exponents", default="-0.5,0,0.75,1")
    ap.add_argument("--contexts", default="window,set")
    ap.add_argument("--min-count", type=int, default=1, help="items rarer than this are never recommended")
    args = ap.parse_args()
    if not (ML100K / "u.data").exists():
        sys.exit(f"MovieLens-100k not found at {ML100K}")
    logging.basicConfig(level=logging.WARNING)

    from recneg.data import split_leave_last_out
    from recneg.datasets import load_movielens
    from recneg.models.item2vec import Item2Vec

    inter = load_movielens("100k", path=ML100K, download=False)
    train, test = split_leave_last_out(inter)
    users = np.flatnonzero(test.user_counts > 0)
    test_items = np.array([test.user_items(u)[0] for u in users])
    train_rows = train.csr[users]

    # most-popular baseline
    pop = train.item_counts.astype(np.float64)
    scores = np.tile(pop, (users.size, 1))
    r, c = train_rows.nonzero()
    scores[r, c] = -np.inf
    pop_top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    pop_hr = hit_rate(pop_top, test_items)

    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [("most popular", "-", "-", pop_hr, pop_hr, pop_hr, 0.0)]
    for context in args.contexts.split(","):
        for ns in (float(x) for x in args.exponents.split(",")):
            epochs = args.epochs if context == "window" else args.set_epochs
            hrs: dict[str, list[float]] = {"cosine": [], "in_out": []}
            secs = []
            for seed in seeds:
                m = Item2Vec(vector_size=args.dim, context=context, window=args.window, epochs=epochs,
                             ns_exponent=ns, workers=args.workers, seed=seed, progress=False,
                             min_count=args.min_count)
                t = time.perf_counter()
                m.fit(train)
                secs.append(time.perf_counter() - t)
                for scoring in hrs:
                    top, _ = m.recommend(users, train_rows, N=10, scoring=scoring)
                    hrs[scoring].append(hit_rate(top, test_items))
            for scoring, h in hrs.items():
                rows.append((f"item2vec {context}, {scoring}", f"{ns:g}", epochs, float(np.mean(h)), min(h), max(h),
                             float(np.mean(secs))))

    print(f"\nMovieLens-100k leave-last-out: {users.size} test users, {inter.n_items} items; "
          f"d={args.dim}, window={args.window}, negative=5, sample=1e-3, min_count={args.min_count}, "
          f"seeds={seeds}\n")
    print("| model | ns_exponent | epochs | HR@10 (mean) | min | max | fit s |")
    print("|---|---|---|---|---|---|---|")
    for name, ns, ep, hr, lo, hi, sec in rows:
        print(f"| {name} | {ns} | {ep} | {hr:.4f} | {lo:.4f} | {hi:.4f} | {sec:.1f} |")


if __name__ == "__main__":
    main()
