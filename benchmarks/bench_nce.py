"""NCE against its uncorrected twin, in one run: SGNS vs NCE word vectors on the shared text corpus,
and BCE vs NCE matrix factorisation on Gowalla (issue 13, part 3).

Run: python benchmarks/bench_nce.py [--sections w2v,mf] [--w2v-epochs 5] [--w2v-configs sg,cbow]
                                    [--mf-epochs 5] [--mf-alphas 0.75] [--mf-no-bias]

Word vectors: recneg ``Word2Vec`` with the settings of ``bench_word2vec.py`` (d=100, window=5,
negative=5, sample=1e-4, min_count=5, workers=2, seed 1), once with ``loss="sgns"`` and once with
``loss="nce"`` (every logit minus log(5 q(w)), q the unigram^0.75 law the negatives are drawn from);
everything else equal. Quality: analogy accuracy on questions-words.txt (restrict_vocab=30000) and
Spearman rho on WordSim-353, by ``recneg.evaluation.words``.

MF: ``MatrixFactorization`` on the LightGCN Gowalla split (torch trainer, d=64, sparse Adam, 2 threads),
``loss="bce"`` and ``loss="nce"`` with the same sampler (k=4 negatives per positive from popularity^alpha,
seen items excluded), epochs, lr, batch and an item bias (NCE's model has one: TensorFlow's ``nce_loss``
``biases``, Mnih & Teh's per-word bias). Recall@20 / NDCG@20 by
``recneg.evaluation.ranking.ranking_metrics(model, train, test, 20)`` (training items masked). The
hyper-parameters are fixed in advance for a short run (lr 0.01 and batch 8192 checked to learn on a
validation split carved from train; never tuned on the test split). Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEXT = SHARED / "text"
CORPUS = TEXT / "en_composite_text8style.txt.gz"
ANALOGIES = TEXT / "questions-words.txt"
WORDSIM = TEXT / "wordsim353.tsv"
GOWALLA = SHARED / "lightgcn" / "gowalla"


def word_vectors(epochs: int, configs: list[str], workers: int) -> list[tuple]:
    """Rows (config, loss, vocab, train s, words/s, analogy accuracy, WordSim rho) for SGNS and NCE."""
    from recneg.evaluation.words import evaluate_analogies, evaluate_word_pairs
    from recneg.models.word2vec import Word2Vec

    common = {"vector_size": 100, "window": 5, "min_count": 5, "sample": 1e-4, "negative": 5, "epochs": epochs,
              "workers": workers, "seed": 1, "progress": False}
    rows = []
    for cfg in configs:
        for loss in ("sgns", "nce"):
            m = Word2Vec(sg=0 if cfg == "cbow" else 1, loss=loss, **common)
            m.build_vocab(corpus_file=CORPUS)
            t = time.perf_counter()
            m.train()
            sec = time.perf_counter() - t
            acc = evaluate_analogies(m.wv, ANALOGIES, restrict_vocab=30000).accuracy
            rho = evaluate_word_pairs(m.wv, WORDSIM).spearman
            words = m._corpus.raw_words if m._corpus is not None else 0
            rows.append((cfg, loss, len(m.vocab), sec, words * epochs / sec, float(acc), float(rho)))
            print(f"w2v {cfg} {loss}: {sec:.1f}s, analogy {acc:.4f}, wordsim {rho:.4f}", file=sys.stderr, flush=True)
            del m
    return rows


def matrix_factorisation(epochs: int, alphas: list[float], k: int, lr: float, batch: int, workers: int,
                         bias: bool) -> list[tuple]:
    """Rows (alpha, loss, epochs, s/epoch, Recall@20, NDCG@20) for BCE and NCE on Gowalla."""
    from recneg.datasets import load_lightgcn
    from recneg.evaluation.ranking import ranking_metrics
    from recneg.models.mf import MatrixFactorization
    from recneg.sampling import NegativeSampler

    train, test = load_lightgcn(GOWALLA)
    rows = []
    for alpha in alphas:
        for loss in ("bce", "nce"):
            m = MatrixFactorization(factors=64, loss=loss, sampler=NegativeSampler(k=k, alpha=alpha, seed=0),
                                    lr=lr, batch_size=batch, epochs=epochs, workers=workers, seed=0,
                                    use_bias=bias)
            t = time.perf_counter()
            m.fit(train, show_progress=False)
            sec = time.perf_counter() - t
            met = ranking_metrics(m, train, test, 20).metrics
            rows.append((alpha, loss, epochs, sec / epochs, met["recall@20"], met["ndcg@20"]))
            print(f"mf pop^{alpha:g} {loss}: {sec / epochs:.1f} s/epoch, recall@20 {met['recall@20']:.4f}",
                  file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default="w2v,mf")
    ap.add_argument("--w2v-epochs", type=int, default=5)
    ap.add_argument("--w2v-configs", default="sg,cbow", help="sg (shared negatives, the default), sg-pair, cbow")
    ap.add_argument("--mf-epochs", type=int, default=5)
    ap.add_argument("--mf-alphas", default="0.75", help="popularity exponents of the proposal (0: NCE = BCE + a "
                    "constant logit shift)")
    ap.add_argument("--mf-k", type=int, default=4)
    ap.add_argument("--mf-lr", type=float, default=0.01)
    ap.add_argument("--mf-batch", type=int, default=8192)
    ap.add_argument("--mf-no-bias", action="store_true", help="train without the item bias")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sections = args.sections.split(",")
    t0 = time.perf_counter()
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, workers={args.workers}"
    if "w2v" in sections:
        if not CORPUS.exists():
            sys.exit(f"corpus not found at {CORPUS}")
        rows = word_vectors(args.w2v_epochs, args.w2v_configs.split(","), args.workers)
        print(f"\nword vectors: {machine}, epochs={args.w2v_epochs}, d=100, window=5, negative=5, sample=1e-4, "
              f"min_count=5, ns_exponent=0.75\n")
        print("| model | loss | vocab | train s | words/s | analogy acc | wordsim353 spearman |")
        print("|---|---|---|---|---|---|---|")
        for cfg, loss, v, sec, wps, acc, rho in rows:
            name = {"sg": "skip-gram (shared negatives)", "sg-pair": "skip-gram (per-pair negatives)",
                    "cbow": "CBOW"}.get(cfg, cfg)
            print(f"| {name} | {loss.upper()} | {v} | {sec:.1f} | {wps:,.0f} | {acc:.4f} | {rho:.4f} |")
    if "mf" in sections:
        if not GOWALLA.is_dir():
            sys.exit(f"Gowalla not found at {GOWALLA}")
        alphas = [float(a) for a in args.mf_alphas.split(",")]
        rows = matrix_factorisation(args.mf_epochs, alphas, args.mf_k, args.mf_lr, args.mf_batch, args.workers,
                                    not args.mf_no_bias)
        print(f"\nMF on Gowalla: {machine}, torch trainer, d=64, k={args.mf_k} negatives per positive (seen items "
              f"excluded), lr={args.mf_lr:g}, batch={args.mf_batch}, reg=1e-4, init_std=0.1, "
              f"item bias={'off' if args.mf_no_bias else 'on'}\n")
        print("| sampler | loss | epochs | s/epoch | Recall@20 | NDCG@20 |")
        print("|---|---|---|---|---|---|")
        for alpha, loss, ep, spe, rec, ndcg in rows:
            print(f"| pop^{alpha:g}, k={args.mf_k} | {loss.upper()} | {ep} | {spe:.1f} | {rec:.4f} | {ndcg:.4f} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
