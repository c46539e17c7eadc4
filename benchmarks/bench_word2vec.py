"""recneg Word2Vec vs gensim 4.x Word2Vec on the text8-style composite corpus.

Run: python benchmarks/bench_word2vec.py [--epochs 5] [--workers 2] [--configs sg,sg-pair,cbow]

Both libraries train in this process, one after the other, with the same
hyper-parameters (d=100, window=5, negative=5, sample=1e-4, min_count=5).
Speed = raw corpus words * epochs / training seconds (vocabulary build and corpus
reading excluded, for both). Quality: analogy accuracy on questions-words.txt
(restrict_vocab=30000) and Spearman on WordSim-353, computed with
recneg.evaluation.words on both sets of vectors (gensim's analogy evaluator is
run too, as a cross-check column).
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"
CORPUS = DATA / "en_composite_text8style.txt.gz"
ANALOGIES = DATA / "questions-words.txt"
WORDSIM = DATA / "wordsim353.tsv"


def evaluate(index_to_key, vectors):
    """(analogy accuracy by recneg.evaluation.words, the same by gensim, wordsim353 Spearman by recneg)."""
    from gensim.models import KeyedVectors as GKV

    from recneg.evaluation.words import evaluate_analogies, evaluate_word_pairs
    from recneg.models.keyedvectors import KeyedVectors

    vec = np.ascontiguousarray(vectors, dtype=np.float32)
    kv = KeyedVectors(vec, list(index_to_key))
    acc = evaluate_analogies(kv, ANALOGIES, restrict_vocab=30000).accuracy
    sp = evaluate_word_pairs(kv, WORDSIM).spearman
    gkv = GKV(vec.shape[1])
    gkv.add_vectors(list(index_to_key), vec)
    g_acc = gkv.evaluate_word_analogies(str(ANALOGIES), restrict_vocab=30000)[0]
    return float(acc), float(g_acc), float(sp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--configs", default="sg,sg-pair,cbow")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not CORPUS.exists():
        sys.exit(f"corpus not found at {CORPUS}")
    logging.basicConfig(level=logging.WARNING)

    from gensim.models import Word2Vec as GWord2Vec
    from gensim.models.word2vec import Text8Corpus

    from recneg.models.word2vec import Word2Vec

    common = dict(vector_size=100, window=5, min_count=5, sample=1e-4, negative=5, epochs=args.epochs,
                  workers=args.workers, seed=args.seed)

    t = time.perf_counter()
    sentences = list(Text8Corpus(str(CORPUS)))
    raw_words = sum(len(s) for s in sentences)
    print(f"corpus: {raw_words} words, {len(sentences)} sentences (read in {time.perf_counter() - t:.1f}s)",
          file=sys.stderr)

    rows = []
    gensim_cache: dict[int, tuple] = {}
    for cfg in args.configs.split(","):
        sg = 0 if cfg == "cbow" else 1
        shared = cfg == "sg"
        if sg not in gensim_cache:
            g = GWord2Vec(sg=sg, **common)
            g.build_vocab(sentences)
            t = time.perf_counter()
            g.train(sentences, total_examples=g.corpus_count, epochs=args.epochs)
            g_sec = time.perf_counter() - t
            ev = evaluate(g.wv.index_to_key, g.wv.vectors)
            gensim_cache[sg] = (g_sec,)
            rows.append((f"gensim {gensim.__version__} {'sg' if sg else 'cbow'}", len(g.wv), g_sec,
                         raw_words * args.epochs / g_sec, 1.0, *ev))
            del g
        g_sec = gensim_cache[sg][0]
        m = Word2Vec(sg=sg, shared_negatives=shared, progress=False, **common)
        m.build_vocab(corpus_file=CORPUS)
        t = time.perf_counter()
        m.train()
        r_sec = time.perf_counter() - t
        ev = evaluate(m.vocab.index_to_key, m.syn0)
        label = {"sg": "recneg sg (shared negatives)", "sg-pair": "recneg sg (per-pair negatives)",
                 "cbow": "recneg cbow"}[cfg]
        rows.append((label, len(m.vocab), r_sec, raw_words * args.epochs / r_sec, g_sec / r_sec, *ev))
        del m

    print(f"\nmachine: {platform.processor() or platform.machine()}, workers={args.workers}, "
          f"epochs={args.epochs}, d=100, window=5, negative=5, sample=1e-4, min_count=5\n")
    print("| model | vocab | train s | words/s | speed vs gensim | analogy acc | (gensim eval) | wordsim353 spearman |")
    print("|---|---|---|---|---|---|---|---|")
    for name, v, sec, wps, ratio, acc, g_acc, sp in rows:
        print(f"| {name} | {v} | {sec:.1f} | {wps:,.0f} | {ratio:.2f}x | {acc:.4f} | {g_acc:.4f} | {sp:.4f} |")


if __name__ == "__main__":
    import gensim

    main()
