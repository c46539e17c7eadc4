"""A/B the skip-gram kernels' speed: recneg Word2Vec from two checkouts, alternating in one run.

Run: python benchmarks/bench_word2vec_ab.py --old PATH --new PATH [--rounds 3] [--epochs 2] [--configs sg,cbow]

``PATH`` is a folder holding a ``recneg`` package (a checkout, or ``git archive`` of a commit). Each
trial is a fresh process with ``PYTHONPATH=PATH`` that trains recneg's Word2Vec on the shared corpus
with the settings of ``bench_word2vec.py`` (d=100, window=5, negative=5, sample=1e-4, min_count=5,
workers=2, seed 1) and reports training seconds (vocabulary build excluded). Every checkout first
trains once on a tiny corpus so the numba caches are warm; then the rounds alternate old/new, the
order flipped each round. Prints words/s per trial and the median ratio new/old per config.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text" / "en_composite_text8style.txt.gz"

TRIAL = """
import json, sys, time
from recneg.models.word2vec import Word2Vec
sg, epochs, corpus = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
kw = dict(vector_size=100, window=5, min_count=5, sample=1e-4, negative=5, workers=2, seed=1, progress=False, sg=sg)
if corpus == "warm":
    Word2Vec([["a", "b", "c", "d", "e"] * 20] * 50, **{**kw, "min_count": 1, "epochs": 1})
    print(json.dumps({"sec": 0.0, "words": 0}))
else:
    m = Word2Vec(epochs=epochs, **kw)
    m.build_vocab(corpus_file=corpus)
    t = time.perf_counter()
    m.train()
    print(json.dumps({"sec": time.perf_counter() - t, "words": m._corpus.raw_words * epochs}))
"""


def trial(path: str, sg: int, epochs: int, corpus: str) -> dict:
    env = dict(os.environ, PYTHONPATH=path)
    out = subprocess.run([sys.executable, "-c", TRIAL, str(sg), str(epochs), corpus], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--configs", default="sg,cbow")
    args = ap.parse_args()
    configs = args.configs.split(",")
    for path in (args.old, args.new):
        for cfg in configs:
            trial(path, 0 if cfg == "cbow" else 1, 1, "warm")
    speeds: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for cfg in configs:
            for which in order:
                res = trial(getattr(args, which), 0 if cfg == "cbow" else 1, args.epochs, str(CORPUS))
                wps = res["words"] / res["sec"]
                speeds.setdefault((cfg, which), []).append(wps)
                print(f"round {r + 1} {cfg} {which}: {res['sec']:.1f} s, {wps:,.0f} words/s", flush=True)
    print("\n| config | old words/s (per round) | new words/s (per round) | median new/old |")
    print("|---|---|---|---|")
    for cfg in configs:
        o, n = speeds[(cfg, "old")], speeds[(cfg, "new")]
        ratio = statistics.median(b / a for a, b in zip(o, n))
        print(f"| {cfg} | {', '.join(f'{x:,.0f}' for x in o)} | {', '.join(f'{x:,.0f}' for x in n)} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
