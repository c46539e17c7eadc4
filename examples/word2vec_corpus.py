"""Train skip-gram word vectors on a text8-style corpus and evaluate them.

Usage:
    python examples/word2vec_corpus.py ../shared/data/text/en_composite_text8style.txt.gz [questions-words.txt wordsim353.tsv]

The corpus streams from disk (.txt or .gz); nothing is held as a list of lists.

Output (2026-11-27, 2-core CPU; the corpus includes the King James Bible, hence "king"):

    vocab: 32592 of 83659 distinct tokens kept (min_count=5, max_vocab=None); 5860947 of 5946710 words in 595 sentences
    trained 32,592 words x 100 in 15.4s
    king -> jehoshaphat (0.76), ahasuerus (0.75), judah (0.75), sennacherib (0.73), rabshakeh (0.73)
    france -> denmark (0.82), prussia (0.82), belgium (0.81), austria (0.81), netherlands (0.81)
    music -> musical (0.71), songs (0.69), pop (0.68), opera (0.67), soundtrack (0.67)
    capital-common-countries: 5.0% (17/342)
    capital-world: 2.4% (15/614)
    currency: 0.0% (0/40)
    city-in-state: 0.7% (6/909)
    family: 21.6% (82/380)
    gram1-adjective-to-adverb: 2.6% (26/992)
    gram2-opposite: 2.0% (11/552)
    gram3-comparative: 24.8% (331/1332)
    gram4-superlative: 5.4% (41/756)
    gram5-present-participle: 6.8% (67/992)
    gram6-nationality-adjective: 6.5% (76/1161)
    gram7-past-tense: 11.1% (173/1560)
    gram8-plural: 13.0% (121/930)
    gram9-plural-verbs: 6.3% (51/812)
    analogies (3cosadd, restrict_vocab=30000): accuracy 0.0894 (1017/11372), OOV questions 8172 (41.8%)
    analogy accuracy (3CosAdd, restrict_vocab=30000): 0.0894
    word pairs /work/shared/data/text/wordsim353.tsv: pearson 0.4877 spearman 0.4959, OOV pairs 13 (3.7%)
    WordSim-353 Spearman: 0.4959
    saved 32592 x 100 vectors to word2vec_vectors.bin (binary)
    wrote word2vec_vectors.bin (loads in gensim: KeyedVectors.load_word2vec_format(path, binary=True))
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from recneg.evaluation.words import evaluate_analogies, evaluate_word_pairs
from recneg.models.word2vec import Word2Vec


def main(corpus: str, analogies: str | None = None, pairs: str | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    model = Word2Vec(corpus_file=corpus, vector_size=100, window=5, min_count=5, sample=1e-4, negative=5,
                     ns_exponent=0.75, epochs=5, workers=2, seed=1)
    print(f"trained {len(model.wv):,} words x 100 in {time.perf_counter() - t0:.1f}s")
    for w in ("king", "france", "music"):
        if w in model.wv:
            print(w, "->", ", ".join(f"{k} ({s:.2f})" for k, s in model.wv.most_similar(w, topn=5)))
    if analogies:
        r = evaluate_analogies(model.wv, analogies, restrict_vocab=30000)
        print(f"analogy accuracy (3CosAdd, restrict_vocab=30000): {r.accuracy:.4f}")
    if pairs:
        r = evaluate_word_pairs(model.wv, pairs)
        print(f"WordSim-353 Spearman: {r.spearman:.4f}")
    out = Path("word2vec_vectors.bin")
    model.wv.save_word2vec_format(out, binary=True)
    print(f"wrote {out} (loads in gensim: KeyedVectors.load_word2vec_format(path, binary=True))")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(*sys.argv[1:4])
