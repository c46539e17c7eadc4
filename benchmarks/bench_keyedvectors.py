"""recneg KeyedVectors vs gensim 4.x KeyedVectors: word2vec file I/O and word-vector evaluation.

Run: python benchmarks/bench_keyedvectors.py [--n 30000] [--dim 100] [--words 1000000]

1. word2vec C format, n x dim random float32 vectors: save and load (text and binary),
   each library on its own files and on the other's (both must give identical arrays).
2. evaluate_word_analogies (questions-words.txt, restrict_vocab=30000) and evaluate_word_pairs
   (WordSim-353) on a gensim model trained on the first `--words` words of the text8-style corpus;
   recneg's results are checked to be identical to gensim's.
Both libraries run in this process, side by side (best of `--repeat`). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import gzip
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from recneg.evaluation.words import evaluate_analogies, evaluate_word_pairs
from recneg.models.keyedvectors import KeyedVectors

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"


def best_of(fn, repeat: int):
    ts, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--words", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import gensim
    from gensim.models import KeyedVectors as GKV
    from gensim.models import Word2Vec

    rows: list[tuple[str, float, float, str]] = []
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    keys = [f"word{i}" for i in range(args.n)]
    ours = KeyedVectors(vecs, keys)
    theirs = GKV(args.dim)
    theirs.add_vectors(keys, vecs)
    with tempfile.TemporaryDirectory() as td:
        for binary in (False, True):
            kind = "binary" if binary else "text"
            p_r, p_g = f"{td}/r.{kind}", f"{td}/g.{kind}"
            t_r, _ = best_of(lambda: ours.save_word2vec_format(p_r, binary=binary), args.repeat)
            t_g, _ = best_of(lambda: theirs.save_word2vec_format(p_g, binary=binary), args.repeat)
            rows.append((f"save_word2vec_format {kind} {args.n}x{args.dim}", t_r, t_g, ""))
            t_r, a = best_of(lambda: KeyedVectors.load_word2vec_format(p_g, binary=binary), args.repeat)
            t_g, b = best_of(lambda: GKV.load_word2vec_format(p_r, binary=binary), args.repeat)
            same = np.array_equal(a.vectors, vecs) and np.array_equal(b.vectors, vecs) and b.index_to_key == keys
            rows.append((f"load_word2vec_format {kind} (other library's file)", t_r, t_g, f"identical={same}"))

    corpus = DATA / "en_composite_text8style.txt.gz"
    if corpus.exists():
        with gzip.open(corpus, "rt", encoding="utf-8") as f:
            words = f.read(8 * args.words).split()[: args.words]
        sents = [words[i : i + 1000] for i in range(0, len(words), 1000)]
        g = Word2Vec(sents, vector_size=100, window=5, min_count=5, workers=2, seed=1, epochs=3).wv
        kv = KeyedVectors(g.vectors.copy(), list(g.index_to_key))
        q, ws = DATA / "questions-words.txt", DATA / "wordsim353.tsv"
        t_r, r = best_of(lambda: evaluate_analogies(kv, q, restrict_vocab=30000), args.repeat)
        t_g, (score, secs) = best_of(lambda: g.evaluate_word_analogies(str(q), restrict_vocab=30000), 1)
        same = r.correct == len(secs[-1]["correct"]) and r.incorrect == len(secs[-1]["incorrect"])
        rows.append(
            (
                f"analogies 3CosAdd, vocab {len(kv)}, {r.correct + r.incorrect} questions",
                t_r, t_g, f"acc {r.accuracy:.4f} vs {score:.4f}, identical counts={same}",
            )
        )
        t_r, r = best_of(lambda: evaluate_word_pairs(kv, ws), args.repeat)
        t_g, (pe, sp, oov) = best_of(lambda: g.evaluate_word_pairs(str(ws)), args.repeat)
        rows.append(
            (
                "word pairs WordSim-353",
                t_r, t_g, f"spearman {r.spearman:.6f} vs {sp[0]:.6f}, oov {100 * r.oov_ratio:.1f}% vs {oov:.1f}%",
            )
        )

    print(f"Python {platform.python_version()}, numpy {np.__version__}, gensim {gensim.__version__}\n")
    print("| task | recneg s | gensim s | gensim/recneg | check |")
    print("|---|---|---|---|---|")
    for name, a, b, note in rows:
        print(f"| {name} | {a:.3f} | {b:.3f} | {b / a:.1f}x | {note} |")


if __name__ == "__main__":
    main()
