"""Item2Vec negative samplers on real data: exclusion on/off, alpha, DNS and a k/alpha schedule.

Datasets (skipped when absent):

* MovieLens-100k (``<data>/movielens/ml-100k``): binarised, timestamp-ordered histories,
  leave-last-out split by timestamp (as examples/item2vec_movielens.py), ``context="window"``, window 5;
* Last.fm (``<data>/lightgcn/lastfm``, LightGCN-PyTorch's train/test split ``data1.txt`` /
  ``test1.txt``: ``user<TAB>artist<TAB>plays``, 1-based ids): binarised; there are no timestamps,
  so a history is an unordered basket and ``context="set"``.

Every row uses the same model settings, fixed before looking at any result (the example's:
vector_size 64, sample 1e-3, lr 0.025; ``--epochs``); only the sampler changes. No setting is
chosen on the test split: every row is reported. Metrics: HR@10 and Recall@20 from
:func:`recneg.evaluation.ranking_metrics` (training items masked, cold test users skipped), mean
over ``--seeds`` seeds (± the spread: half the max-min range), and the training seconds.

Usage:
    python benchmarks/bench_item2vec_samplers.py [--data ../shared/data] [--epochs 10] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recneg.data import Interactions, split_leave_last_out
from recneg.datasets import load_movielens
from recneg.evaluation.ranking import ranking_metrics
from recneg.models.item2vec import Item2Vec
from recneg.sampling import DynamicNegativeSampler, LinearSchedule, NegativeSampler


def load_lastfm(folder: Path) -> tuple[Interactions, Interactions]:
    """The LightGCN Last.fm split as (train, test) Interactions in one index space (binarised)."""
    def read(name):
        df = pd.read_csv(folder / name, sep="\t", header=None, names=["user", "item", "plays"],
                         dtype={"user": np.int64, "item": np.int64, "plays": np.float64})
        return df[["user", "item"]]

    tr, te = read("data1.txt"), read("test1.txt")
    users = np.union1d(tr.user.unique(), te.user.unique())
    items = np.union1d(tr.item.unique(), te.item.unique())
    mk = lambda df: Interactions.from_dataframe(df, binarize=True, user_ids=users, item_ids=items)  # noqa: E731
    return mk(tr), mk(te)


def configs(epochs: int) -> list[tuple[str, callable]]:
    rows = [("shorthand negative=5 ns_exponent=0.75", lambda: None)]
    for excl in (False, True):
        for a in (-0.5, 0.0, 0.75, 1.0):
            rows.append((f"NS k=5 alpha={a:+.2f} exclude={'on' if excl else 'off'}",
                         lambda a=a, excl=excl: NegativeSampler(k=5, alpha=a, exclude_seen=excl)))
    rows.append(("DNS m=5 over NS k=5 alpha=+0.75 exclude=on",
                 lambda: DynamicNegativeSampler(NegativeSampler(k=5, alpha=0.75, exclude_seen=True), m=5)))
    rows.append(("DNS m=5 over NS k=5 alpha=+0.75 exclude=off",
                 lambda: DynamicNegativeSampler(NegativeSampler(k=5, alpha=0.75, exclude_seen=False), m=5)))
    last = max(epochs - 1, 1)
    rows.append((f"schedule k 2->8, alpha 1->0 (linear, {last} epochs) exclude=on",
                 lambda: NegativeSampler(k=LinearSchedule(2, 8, last), alpha=LinearSchedule(1.0, 0.0, last),
                                         exclude_seen=True)))
    return rows


def run(name: str, train, test, model_kw: dict, epochs: int, seeds: list[int]) -> list[dict]:
    out = []
    for label, make in configs(epochs):
        hr, rc, secs = [], [], []
        for seed in seeds:
            s = make()
            kw = dict(model_kw, epochs=epochs, seed=seed, workers=1, progress=False)
            m = Item2Vec(**kw) if s is None else Item2Vec(sampler=s, **kw)
            t0 = time.perf_counter()
            m.fit(train)
            secs.append(time.perf_counter() - t0)
            r = ranking_metrics(m, train, test, K=[10, 20])
            hr.append(r["hitrate@10"])
            rc.append(r["recall@20"])
        row = dict(data=name, sampler=label, hr10=np.mean(hr), hr10_spread=np.ptp(hr) / 2, recall20=np.mean(rc),
                   recall20_spread=np.ptp(rc) / 2, train_s=np.mean(secs))
        out.append(row)
        print(f"| {name} | {label} | {row['hr10']:.4f} ± {row['hr10_spread']:.4f} | "
              f"{row['recall20']:.4f} ± {row['recall20_spread']:.4f} | {row['train_s']:.1f} |", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", choices=["movielens", "lastfm"], default=None)
    args = ap.parse_args()
    data = Path(args.data)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} {platform.processor() or platform.machine()} "
          f"cpus={os.cpu_count()} epochs={args.epochs} seeds={args.seeds} workers=1")
    print("| data | sampler | HR@10 | Recall@20 | train s |\n|---|---|---|---|---|")
    ml = data / "movielens" / "ml-100k"
    if args.only in (None, "movielens") and ml.is_dir():
        inter = load_movielens("100k", path=str(ml), binarize=True)
        train, test = split_leave_last_out(inter)
        run("ML-100k", train, test, dict(vector_size=64, window=5, min_count=10), args.epochs, args.seeds)
    lf = data / "lightgcn" / "lastfm"
    if args.only in (None, "lastfm") and lf.is_dir():
        train, test = load_lastfm(lf)
        run("Last.fm", train, test, dict(vector_size=64, context="set", min_count=5), args.epochs, args.seeds)


if __name__ == "__main__":
    main()
