"""Data-parallel skip-gram quality: 1 process vs N torchrun ranks at equal total epochs.

Run (CPU, gloo, one thread per rank):

    OMP_NUM_THREADS=1 python benchmarks/bench_distributed_skipgram.py --task item2vec
    OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 benchmarks/bench_distributed_skipgram.py --task item2vec
    OMP_NUM_THREADS=1 python benchmarks/bench_distributed_skipgram.py --task word2vec --words 1000000
    OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 benchmarks/bench_distributed_skipgram.py --task word2vec

item2vec: MovieLens-100k, leave-last-out (by timestamp), Item2Vec torch backend, context="window";
HR@10 / Recall@20 / NDCG@20 by ranking_metrics (sharded over the ranks when launched with torchrun).
word2vec: the first --words words of the text8-style corpus, skip-gram torch backend; WordSim-353
Spearman and Google analogy accuracy (3CosAdd, 30k most frequent words). Rank 0 logs one JSON line.
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import time
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
log = logging.getLogger("bench_distributed_skipgram")


def _first_words(path: Path, n: int, sentence: int = 10_000) -> list[list[str]]:
    words: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        while len(words) < n:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            words.extend(chunk.split())
    words = words[:n]
    return [words[i:i + sentence] for i in range(0, len(words), sentence)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["item2vec", "word2vec"], default="item2vec")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--words", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=4096, help="pairs per global step (split over ranks)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    torch.set_num_threads(1)

    from recneg import distributed

    di = distributed.init("cpu")
    t0 = time.perf_counter()
    out: dict = {"task": args.task, "world_size": di.world_size, "seed": args.seed, "batch_size": args.batch_size}
    if args.task == "item2vec":
        from recneg.data import split_leave_last_out
        from recneg.datasets import load_movielens
        from recneg.evaluation import ranking_metrics
        from recneg.models.item2vec import Item2Vec

        inter = load_movielens("100k", path=DATA / "movielens" / "ml-100k", download=False)
        train, test = split_leave_last_out(inter)
        epochs = args.epochs or 20
        m = Item2Vec(vector_size=64, window=5, context="window", epochs=epochs, seed=args.seed, progress=False,
                     backend="torch", batch_size=args.batch_size, workers=1)
        m.fit(train)
        t1 = time.perf_counter()
        r = ranking_metrics(m, train=train, test=test, K=[10, 20], metrics=["hitrate", "recall", "ndcg"])
        out.update(epochs=epochs, train_s=round(t1 - t0, 1), users=r.n_users_evaluated,
                   **{k: round(v, 4) for k, v in r.metrics.items()})
    else:
        from recneg.evaluation import evaluate_analogies, evaluate_word_pairs
        from recneg.models.word2vec import Word2Vec

        sents = _first_words(DATA / "text" / "en_composite_text8style.txt.gz", args.words)
        epochs = args.epochs or 3
        m = Word2Vec(sentences=sents, vector_size=50, window=5, min_count=5, epochs=epochs, seed=args.seed,
                     progress=False, backend="torch", batch_size=args.batch_size, workers=1)
        t1 = time.perf_counter()
        ws = evaluate_word_pairs(m.wv, DATA / "text" / "wordsim353.tsv")
        an = evaluate_analogies(m.wv, DATA / "text" / "questions-words.txt", restrict_vocab=30000)
        out.update(epochs=epochs, words=sum(map(len, sents)), vocab=len(m.wv), train_s=round(t1 - t0, 1),
                   wordsim_spearman=round(ws.spearman, 4), analogy_acc=round(an.accuracy, 4),
                   analogy_questions=an.n_questions)
    if di.is_main:
        log.info(json.dumps(out))
    if di.is_distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
