"""Time building Interactions from a 1M-row DataFrame and from the Gowalla LightGCN files.

Run: python benchmarks/bench_data.py
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from recneg.data import Interactions, split_random
from recneg.datasets import load_lightgcn

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(fn, repeat=3):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def main() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame(
        {
            "user": rng.integers(0, 50_000, n),
            "item": (rng.zipf(1.3, n) % 100_000),
            "weight": rng.random(n).astype(np.float32),
            "ts": rng.integers(0, 10**9, n),
        }
    )
    df_str = df.assign(user="u" + df["user"].astype(str), item="i" + df["item"].astype(str))
    rows = []
    t, x = best_of(lambda: Interactions.from_dataframe(df, "user", "item", weight_col="weight", time_col="ts"))
    rows.append(("1M-row DataFrame, int ids, weights + timestamps", t, repr(x)))
    t, x = best_of(lambda: Interactions.from_dataframe(df_str, "user", "item"))
    rows.append(("1M-row DataFrame, string ids", t, repr(x)))
    t, _ = best_of(lambda: split_random(x, 0.2, seed=0))
    rows.append(("split_random(0.2) of the 1M-row set", t, ""))
    if (SHARED / "lightgcn" / "gowalla").is_dir():
        t, (tr, te) = best_of(lambda: load_lightgcn(SHARED / "lightgcn" / "gowalla"))
        rows.append(("Gowalla LightGCN train.txt + test.txt", t, f"{tr!r}"))
    print("| task | seconds (best of 3) | result |\n|---|---|---|")
    for name, t, r in rows:
        print(f"| {name} | {t:.3f} | {r} |")


if __name__ == "__main__":
    main()
