"""Run the negative-sampling lab on MovieLens-100k (80/20 random split).

Usage:
    python examples/lab_movielens.py path/to/ml-100k [out_dir]

Same as: recneg lab --movielens 100k --movielens-path path/to/ml-100k --out out_dir

Output of `python examples/lab_movielens.py ../shared/data/movielens/ml-100k /tmp/lab-ex` (2026-11-27,
2-core CPU shared with other jobs; the stage-5 grid rows are omitted here, they are in lab.csv):

    # recneg lab: mf (bpr) on MovieLens-100k

    Validation split carved from train; 20 epochs per run; total 289 s.

    | strategy | stage | recall@20 (valid) | ndcg@20 (valid) | train s | status |
    |---|---|---|---|---|---|
    | pop^-0.5, k=5 | 1: alpha | 0.2913 | 0.2013 | 1.2 | done |
    | pop^0, k=5 | 1: alpha | 0.3020 | 0.2097 | 0.9 | done |
    | pop^0.5, k=5 | 1: alpha | 0.2466 | 0.1610 | 0.9 | done |
    | pop^0.75, k=5 | 1: alpha | 0.2003 | 0.1333 | 1.2 | done |
    | pop^1, k=5 | 1: alpha | 0.1595 | 0.1051 | 1.2 | done |
    | pop^0, k=1 | 2: k | 0.2968 | 0.2063 | 0.5 | done |
    | pop^0, k=20 | 2: k | 0.2885 | 0.2039 | 2.3 | done |
    | pop^0, k=100 | 2: k | 0.2499 | 0.1713 | 13.3 | done |
    | pop^0, k=5, no exclusion | 3: exclusion | 0.2884 | 0.1961 | 1.4 | done |
    | pop^-0.5, k=5, no exclusion | 3: exclusion | 0.2837 | 0.1954 | 1.3 | done |
    | pop^0, k=5, DNS m=10 | 4: hard | 0.2353 | 0.1565 | 6.0 | done |
    | in-batch + logQ | 4: in-batch | 0.1235 | 0.0970 | 215.7 | stopped early (hopeless) |

    **Recommended:** pop^0, k=5 — on test (refit on full train): recall@20 = 0.3298, ndcg@20 = 0.3842.

    best: pop^0, k=5 test: {'recall@20': 0.3297822148288198, 'ndcg@20': 0.38419283177764424, 'hitrate@20': 0.9713679745493107, 'precision@20': 0.2646341463414634, 'mrr@20': 0.6064508056621609, 'map@20': 0.21335933374394608, 'coverage@20': 0.4399524375743163}
"""
from __future__ import annotations

import sys

from recneg.data import split_random
from recneg.datasets import load_movielens
from recneg.lab import run_lab


def main(path: str, out: str = "lab-ml100k") -> None:
    inter = load_movielens("100k", path=path, binarize=True)
    train, test = split_random(inter, 0.2, seed=0)
    res = run_lab(train, test, out=out, model="mf", loss="bpr", epochs=20, factors=64, budget=600,
                  description="MovieLens-100k")
    print(open(f"{out}/lab.md").read())
    print("best:", res.best["strategy"], "test:", res.test_metrics)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(*sys.argv[1:3])
