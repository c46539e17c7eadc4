"""TensorFlow's word2vec tutorial (skip-gram trained with ``tf.nn.nce_loss``), ported to torch.

The program of TensorFlow's ``word2vec_basic.py`` step by step: the 50,000 most common words
(the rest become UNK), a (centre, context) batch generator walking a data index (batch 128,
skip_window 1, num_skips 2), embeddings uniform(-1, 1), NCE weights truncated-normal with std
1/sqrt(embedding_size), zero NCE biases, ``recneg.losses.nce_loss`` with 64 sampled classes
(log-uniform candidates, TensorFlow's default), and plain SGD. One change: the learning rate is
0.1, as issue 13 asks (the tutorial uses 1.0; ``--lr 1.0`` gives the original). Embedding
lookups give sparse gradients, as TensorFlow's IndexedSlices do; plain SGD makes the same
update either way. Beside it, recneg's own ``Word2Vec`` (SGNS, numba kernel) trains on the
same corpus with the same vocabulary size, dimension and window, and both are evaluated on the
Google analogies and WordSim-353.

Usage:
    python examples/tf_word2vec_nce_in_torch.py [--corpus PATH] [--steps N] [--lr LR] [--quick]

The corpus defaults to ``../shared/data/text/en_composite_text8style.txt.gz`` next to the
checkout (5.9M words, text8 format); ``--quick`` is a few-second smoke run on its first 200k words.

Output of ``python examples/tf_word2vec_nce_in_torch.py`` (2026-12-01, 2-core CPU shared with other jobs):

    Data size 5946710 words; most common words (+UNK) [['UNK', 36913], ('the', 423159), ('of', 235659), ('and', 205174), ('to', 154172)]
    Sample data [4286, 8, 6, 381, 1878, 7, 8852, 481, 4682, 4582] ['anarchism', 'is', 'a', 'political', 'philosophy', 'that', 'advocates', 'self', 'governed', 'societies']
    Average loss at step      0: 273.274
    Average loss at step   5000: 142.952
    Average loss at step  10000: 73.194
    Average loss at step  15000: 51.180
    Average loss at step  20000: 36.552
    Average loss at step  25000: 30.650
    Average loss at step  30000: 18.730
    Average loss at step  35000: 14.831
    Average loss at step  40000: 13.699
    Average loss at step  45000: 11.966
    Average loss at step  50000: 11.403
    torch + recneg.losses.nce_loss: 50001 steps x 128 pairs in 87.9s (1.8 ms/step; data prep 3.1s)
      Nearest to three: eight, seven, zero, nine, four, five, six, first
      Nearest to war: four, zero, nine, seven, legislation, industry, eight, five
      Nearest to city: nine, four, population, man, me, five, form, properly
      Nearest to king: nine, two, avoid, including, during, society, five, direction
      Nearest to france: use, began, only, back, adopted, early, human, white
      Nearest to music: also, zero, time, world, mr, part, water, nine
    NCE port: analogy accuracy 0.0002 (2/11372, 3CosAdd, restrict_vocab=30000), WordSim-353 Spearman -0.0900
    vocab: 50000 of 83659 distinct tokens kept (min_count=1, max_vocab=50000); 5909799 of 5946710 words in 595 sentences
    epoch 1/1: 11818408 pairs
    recneg Word2Vec (SGNS, window 1, 5 negatives, 1 epoch): 50000 words in 8.5s
      Nearest to three: four, five, six, two, seven, ten, twenty, thirty
      Nearest to war: west, union, bank, treasury, club, space, battle, crime
      Nearest to city: town, book, project, revolution, floor, census, region, winter
      Nearest to king: captain, son, truman, lincoln, starbuck, secretary, lucas, carpenter
      Nearest to france: japan, russia, germany, spain, india, brazil, texas, colombia
      Nearest to music: animation, anatomy, titanic, accuracy, weather, amphibians, scripts, tone
    recneg Word2Vec: analogy accuracy 0.0304 (346/11372, 3CosAdd, restrict_vocab=30000), WordSim-353 Spearman 0.1370
    (wall time 1m54s)

With the tutorial's learning rate and step count, ``--lr 1.0 --steps 100001 --log-every 10000`` (same day,
same machine, busier: 3.0 ms/step; the data lines are as above), the loss falls to about 4.5 and the
numbers cluster, but most other words are still close to their random start:

    Average loss at step      0: 273.274
    Average loss at step  10000: 48.355
    Average loss at step  20000: 10.617
    Average loss at step  30000: 6.151
    Average loss at step  40000: 4.641
    Average loss at step  50000: 4.551
    Average loss at step  60000: 5.504
    Average loss at step  70000: 5.145
    Average loss at step  80000: 4.998
    Average loss at step  90000: 4.343
    Average loss at step 100000: 4.548
    torch + recneg.losses.nce_loss: 100001 steps x 128 pairs in 301.4s (3.0 ms/step; data prep 4.0s)
      Nearest to three: five, four, two, six, seven, eight, nine, one
      Nearest to war: pitt, pool, industry, vigorous, pap, plight, mahalaleel, dunbar
      Nearest to city: measurements, despotism, sophomoric, problem, analyzing, prc, revell, thorough
      Nearest to king: trekkies, inhaling, agitations, avoid, uniform, silverman, berenger, questioning
      Nearest to france: futile, fulfilling, chipenda, proceeded, tough, goest, premiere, conceiving
      Nearest to music: connoisseur, confining, importation, corky, restorative, eichmann, objected, accepting
    NCE port: analogy accuracy 0.0028 (32/11372, 3CosAdd, restrict_vocab=30000), WordSim-353 Spearman -0.0027
    (recneg Word2Vec, the same command as above: 50000 words in 11.9s; analogy accuracy 0.0303 (345/11372, 3CosAdd, restrict_vocab=30000), WordSim-353 Spearman 0.1344)
    (wall time 5m35s)

At lr 0.1 the NCE port barely leaves its uniform(-1, 1) start in 50k steps (analogies ~0); recneg's
Word2Vec, one epoch over the same words with the same window (11.8M pairs, twice the port's 6.4M),
gets 3.0% of the analogies in about 10 s.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from recneg.evaluation.words import evaluate_analogies, evaluate_word_pairs
from recneg.losses import nce_loss
from recneg.models.keyedvectors import KeyedVectors
from recneg.models.word2vec import Word2Vec

log = logging.getLogger("tf_word2vec_nce_in_torch")

TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"
SHOW = ["three", "war", "city", "king", "france", "music"]  # nearest neighbours printed for both models


# Step 1: read the words.
def read_words(path: Path, max_words: int | None = None) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        words = f.read().split()
    return words[:max_words] if max_words else words


# Step 2: the dictionary; rare words become UNK (id 0).
def build_dataset(words: list[str], n_words: int) -> tuple[np.ndarray, list, dict[str, int], list[str]]:
    """(data int32 (n,) ids, [[word, count]] with UNK first, word -> id, id -> word)."""
    count = [["UNK", -1]]
    count.extend(collections.Counter(words).most_common(n_words - 1))
    dictionary = {word: i for i, (word, _) in enumerate(count)}
    data = np.fromiter((dictionary.get(w, 0) for w in words), dtype=np.int32, count=len(words))
    count[0][1] = int(np.count_nonzero(data == 0))
    reversed_dictionary = [word for word, _ in count]
    return data, count, dictionary, reversed_dictionary


# Step 3: the skip-gram batch generator.
data_index = 0


def generate_batch(data: np.ndarray, batch_size: int, num_skips: int, skip_window: int,
                   rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """(batch int64 (batch_size,) centre words, labels int64 (batch_size, 1) context words)."""
    global data_index
    assert batch_size % num_skips == 0
    assert num_skips <= 2 * skip_window
    batch = np.empty(batch_size, dtype=np.int64)
    labels = np.empty((batch_size, 1), dtype=np.int64)
    span = 2 * skip_window + 1  # [skip_window, centre, skip_window]
    if data_index + span > len(data):
        data_index = 0
    window = collections.deque(data[data_index:data_index + span], maxlen=span)
    data_index += span
    context_positions = [w for w in range(span) if w != skip_window]
    for i in range(batch_size // num_skips):
        for j, c in enumerate(rng.sample(context_positions, num_skips)):
            batch[i * num_skips + j] = window[skip_window]
            labels[i * num_skips + j, 0] = window[c]
        if data_index == len(data):
            window.extend(data[0:span])
            data_index = span
        else:
            window.append(data[data_index])
            data_index += 1
    data_index = (data_index + len(data) - span) % len(data)  # step back so no word is skipped
    return batch, labels


def nearest(kv: KeyedVectors, words: list[str], top_k: int = 8) -> None:
    for w in words:
        if w in kv:
            log.info("  Nearest to %s: %s", w, ", ".join(k for k, _ in kv.most_similar(w, topn=top_k)))


def evaluate(name: str, kv: KeyedVectors) -> None:
    a = evaluate_analogies(kv, TEXT / "questions-words.txt", restrict_vocab=30000)
    p = evaluate_word_pairs(kv, TEXT / "wordsim353.tsv")
    log.info("%s: analogy accuracy %.4f (%d/%d, 3CosAdd, restrict_vocab=30000), WordSim-353 Spearman %.4f",
             name, a.accuracy, a.correct, a.correct + a.incorrect, p.spearman)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=TEXT / "en_composite_text8style.txt.gz")
    ap.add_argument("--steps", type=int, default=50001, help="SGD steps of 128 pairs (the tutorial: 100001)")
    ap.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (issue 13: 0.1; the tutorial: 1.0)")
    ap.add_argument("--log-every", type=int, default=5000, help="average loss printed every N steps")
    ap.add_argument("--quick", action="store_true", help="smoke run: 200k words, 5k vocabulary, 200 steps")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("recneg.evaluation").setLevel(logging.WARNING)  # no per-section lines
    # a step is a few small ops: one intra-op thread is ~40x faster than two fighting over a busy 2-core machine
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = random.Random(0)
    max_words, vocabulary_size, steps, log_every = None, 50000, args.steps, args.log_every
    if args.quick:
        max_words, vocabulary_size, steps, log_every = 200_000, 5000, 201, 100

    t0 = time.perf_counter()
    words = read_words(args.corpus, max_words)
    data, count, _dictionary, reverse_dictionary = build_dataset(words, vocabulary_size)
    del words
    log.info("Data size %d words; most common words (+UNK) %s", len(data), count[:5])
    log.info("Sample data %s %s", data[:10].tolist(), [reverse_dictionary[i] for i in data[:10]])

    # Step 4: the skip-gram model with the NCE loss.
    batch_size, embedding_size, skip_window, num_skips, num_sampled = 128, 128, 1, 2, 64
    embeddings = torch.nn.Parameter(torch.empty(vocabulary_size, embedding_size).uniform_(-1.0, 1.0))
    std = 1.0 / math.sqrt(embedding_size)
    nce_weights = torch.nn.Parameter(torch.nn.init.trunc_normal_(torch.empty(vocabulary_size, embedding_size),
                                                                 std=std, a=-2 * std, b=2 * std))
    nce_biases = torch.nn.Parameter(torch.zeros(vocabulary_size))
    optimizer = torch.optim.SGD([embeddings, nce_weights, nce_biases], lr=args.lr)

    # Step 5: train.
    t1 = time.perf_counter()
    average_loss = 0.0
    for step in range(steps):
        batch_inputs, batch_labels = generate_batch(data, batch_size, num_skips, skip_window, rng)
        embed = F.embedding(torch.from_numpy(batch_inputs), embeddings, sparse=True)
        loss = nce_loss(weights=nce_weights, biases=nce_biases, labels=torch.from_numpy(batch_labels), inputs=embed,
                        num_sampled=num_sampled, num_classes=vocabulary_size, sparse=True).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        average_loss += loss.item()
        if step % log_every == 0:
            if step > 0:
                average_loss /= log_every
            log.info("Average loss at step %6d: %.3f", step, average_loss)
            average_loss = 0.0
    seconds = time.perf_counter() - t1
    log.info("torch + recneg.losses.nce_loss: %d steps x %d pairs in %.1fs (%.1f ms/step; data prep %.1fs)",
             steps, batch_size, seconds, 1e3 * seconds / steps, t1 - t0)

    # Step 6: the normalised embeddings, as the tutorial's final_embeddings.
    with torch.no_grad():
        final = (embeddings / embeddings.norm(dim=1, keepdim=True)).numpy()
    tf_kv = KeyedVectors(final, reverse_dictionary, counts=[max(c, 0) for _, c in count])
    nearest(tf_kv, SHOW)
    evaluate("NCE port", tf_kv)

    # recneg's own Word2Vec on the same corpus: same vocabulary size, dimension and window.
    t2 = time.perf_counter()
    sentences = None
    if max_words:
        sentences = [[reverse_dictionary[i] for i in data.tolist()]]
    model = Word2Vec(sentences=sentences, corpus_file=None if sentences else str(args.corpus),
                     vector_size=embedding_size, window=skip_window, min_count=1, max_vocab=vocabulary_size,
                     sample=0, negative=5, epochs=1, workers=2, seed=1, progress=False)
    log.info("recneg Word2Vec (SGNS, window %d, 5 negatives, 1 epoch): %d words in %.1fs",
             skip_window, len(model.wv), time.perf_counter() - t2)
    nearest(model.wv, SHOW)
    evaluate("recneg Word2Vec", model.wv)


if __name__ == "__main__":
    main()
