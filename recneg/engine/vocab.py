"""Vocabulary building and corpus encoding for the skip-gram engine.

A corpus is encoded in one streaming pass into a flat ``int32`` token array plus
``int64`` sentence offsets (sentence ``s`` is ``tokens[offsets[s]:offsets[s + 1]]``);
no list of token lists is ever held. Input is either a restartable iterable of
token lists or a text file (one sentence per line, or a single text8-style line;
``.gz`` is read transparently; files are opened by :func:`recneg._textio.open_text`, which
refuses binary, corrupt or truncated input with an error naming the file). Sentences longer than ``max_sentence_length``
tokens are cut into pieces, as word2vec and gensim do.

Tokens are encoded chunk by chunk with :func:`pandas.factorize` (C speed), and each
chunk's distinct tokens are mapped to provisional ids through one dict; after the
pass the provisional ids are remapped to the final, frequency-sorted vocabulary.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .._textio import TextReader, open_text

logger = logging.getLogger(__name__)

MAX_SENTENCE_LENGTH = 10000
_CHUNK_TOKENS = 1 << 20
_READ_BYTES = 1 << 23


@dataclass
class Vocab:
    """A frequency-sorted vocabulary.

    Attributes:
        index_to_key: tokens, most frequent first.
        counts: int64 (n,), corpus frequency of each token.
        key_to_index: token -> index.
    """

    index_to_key: list[str]
    counts: np.ndarray
    key_to_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int64)
        if len(self.index_to_key) != self.counts.shape[0]:
            raise ValueError("index_to_key and counts must have the same length")
        if not self.key_to_index:
            self.key_to_index = {k: i for i, k in enumerate(self.index_to_key)}

    def __len__(self) -> int:
        return len(self.index_to_key)

    def keep_probs(self, sample: float) -> np.ndarray:
        """word2vec subsampling keep probabilities, float32 (n,).

        ``p_keep = sqrt(t / f) + t / f`` clipped to 1, with ``f = count / total``
        (total over the vocabulary) and ``t = sample``; ``sample <= 0`` keeps all.
        """
        return keep_probs(self.counts, sample)


def keep_probs(counts: np.ndarray, sample: float) -> np.ndarray:
    """:meth:`Vocab.keep_probs` for a count vector (zero counts count as absent from the total).

    Returns:
        float32 (len(counts),) keep probabilities; all ones when ``sample <= 0``.
    """
    if sample is None or sample <= 0:
        return np.ones(len(counts), dtype=np.float32)
    total = float(counts.sum())
    ratio = (sample * total) / np.maximum(counts, 1).astype(np.float64)
    keep = np.sqrt(ratio) + ratio
    return np.minimum(keep, 1.0).astype(np.float32)


@dataclass
class EncodedCorpus:
    """A corpus as flat arrays.

    Attributes:
        tokens: int32 (n_tokens,), vocabulary indices.
        offsets: int64 (n_sentences + 1,), sentence boundaries into ``tokens``.
        raw_words: number of words read, including those dropped for being out of vocabulary.
    """

    tokens: np.ndarray
    offsets: np.ndarray
    raw_words: int

    @property
    def n_sentences(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.shape[0])


class _Encoder:
    """Accumulates provisional ids (first-seen order) and sentence lengths."""

    def __init__(self, max_sentence_length: int) -> None:
        self.max_len = int(max_sentence_length)
        self.key_to_pid: dict[str, int] = {}
        self.pid_chunks: list[np.ndarray] = []
        self.lengths: list[int] = []
        self.buf: list[str] = []
        self.cur_len = 0  # tokens in the currently open sentence

    def add_words(self, words: Sequence[str]) -> None:
        n = len(words)
        if n == 0:
            return
        self.buf.extend(words)
        # split the open sentence at max_len
        room = self.max_len - self.cur_len
        while n > room:
            self.lengths.append(self.max_len)
            n -= room
            self.cur_len = 0
            room = self.max_len
        self.cur_len += n
        if len(self.buf) >= _CHUNK_TOKENS:
            self._flush()

    def end_sentence(self) -> None:
        if self.cur_len > 0:
            self.lengths.append(self.cur_len)
            self.cur_len = 0

    def _flush(self) -> None:
        if not self.buf:
            return
        codes, uniques = pd.factorize(np.asarray(self.buf, dtype=object), sort=False)
        d = self.key_to_pid
        gid = np.fromiter((d.setdefault(u, len(d)) for u in uniques), dtype=np.int64, count=len(uniques))
        self.pid_chunks.append(gid[codes].astype(np.int32))
        self.buf = []

    def finish(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        self.end_sentence()
        self._flush()
        pids = np.concatenate(self.pid_chunks) if self.pid_chunks else np.zeros(0, dtype=np.int32)
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(self.lengths, dtype=np.int64), out=offsets[1:])
        keys = list(self.key_to_pid.keys())
        return pids, offsets, keys


def _open_text(path: str | os.PathLike) -> TextReader:
    p = os.fspath(path)
    if not os.path.exists(p):
        raise ValueError(f"corpus_file {p!r} does not exist; pass an existing text file (.gz ok)")
    return open_text(p, "corpus_file")


def _scan_file(path: str | os.PathLike, enc: _Encoder) -> None:
    """Stream a text file: newlines end sentences, any whitespace separates words."""
    with _open_text(path) as fh:
        pending = ""
        while True:
            chunk = fh.read(_READ_BYTES)
            eof = not chunk
            text = pending + chunk
            if not eof:
                # cut after the last whitespace so no word is split across reads
                cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
                if cut < 0:
                    pending = text
                    continue
                pending = text[cut + 1:]
                text = text[: cut + 1]
            else:
                pending = ""
            lines = text.split("\n")
            for k, line in enumerate(lines):
                enc.add_words(line.split())
                if k < len(lines) - 1:
                    enc.end_sentence()
            if eof:
                break
    enc.end_sentence()


def _scan_iterable(sentences: Iterable[Sequence[str]], enc: _Encoder) -> None:
    if isinstance(sentences, (str, bytes)):
        raise TypeError("sentences must be an iterable of token lists, not a single string; "
                        "split it into tokens (e.g. [text.split()]) or pass corpus_file=")
    for s in sentences:
        if isinstance(s, str):
            raise TypeError("sentences must be an iterable of token lists (list[str]); got a str element. "
                            "Wrap tokens as lists, e.g. [['a', 'b'], ['c']]")
        enc.add_words(list(map(str, s)))
        enc.end_sentence()


def scan_corpus(
    sentences: Iterable[Sequence[str]] | None = None,
    corpus_file: str | os.PathLike | None = None,
    max_sentence_length: int = MAX_SENTENCE_LENGTH,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One streaming pass; returns provisional int32 ids, int64 offsets and the provisional keys."""
    if (sentences is None) == (corpus_file is None):
        raise ValueError("give exactly one of sentences= (iterable of token lists) or corpus_file= (path)")
    if int(max_sentence_length) <= 0:
        raise ValueError(f"max_sentence_length must be positive, got {max_sentence_length!r}")
    enc = _Encoder(max_sentence_length)
    if corpus_file is not None:
        _scan_file(corpus_file, enc)
    else:
        _scan_iterable(sentences, enc)
    return enc.finish()


def _remap(pids: np.ndarray, offsets: np.ndarray, pid_to_id: np.ndarray, raw_words: int) -> EncodedCorpus:
    ids = pid_to_id[pids] if pids.size else np.zeros(0, dtype=np.int32)
    keep = ids >= 0
    cum = np.zeros(ids.shape[0] + 1, dtype=np.int64)
    np.cumsum(keep, out=cum[1:])
    new_off = cum[offsets]
    # drop sentences that became empty
    nonempty = np.diff(new_off) > 0
    new_off = np.concatenate([[0], new_off[1:][nonempty]]).astype(np.int64)
    return EncodedCorpus(tokens=np.ascontiguousarray(ids[keep], dtype=np.int32), offsets=new_off, raw_words=raw_words)


def build_vocab(
    sentences: Iterable[Sequence[str]] | None = None,
    corpus_file: str | os.PathLike | None = None,
    min_count: int = 5,
    max_vocab: int | None = None,
    max_sentence_length: int = MAX_SENTENCE_LENGTH,
) -> tuple[Vocab, EncodedCorpus]:
    """Build a vocabulary and encode the corpus in one pass.

    Args:
        sentences: restartable iterable of token lists (read once here).
        corpus_file: path to a text file (one sentence per line or one long line; .gz ok).
        min_count: drop tokens seen fewer times.
        max_vocab: keep at most this many most frequent tokens (ties broken by first appearance).

    Returns:
        (vocab sorted by frequency descending, encoded corpus with dropped tokens removed).
    """
    if int(min_count) < 1 or int(min_count) != min_count:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    if max_vocab is not None and (int(max_vocab) < 1 or int(max_vocab) != max_vocab):
        raise ValueError(f"max_vocab must be None or an integer >= 1, got {max_vocab!r}")
    pids, offsets, keys = scan_corpus(sentences, corpus_file, max_sentence_length)
    source = "sentences" if corpus_file is None else f"corpus_file {os.fspath(corpus_file)}"
    if pids.size == 0:
        raise ValueError(f"the corpus is empty: no tokens were read from {source}; give a non-empty corpus")
    counts = np.bincount(pids, minlength=len(keys)).astype(np.int64)
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= min_count]
    if max_vocab is not None:
        order = order[: int(max_vocab)]
    if order.size == 0:
        raise ValueError(
            f"no token of {source} occurs at least min_count={min_count} times (most frequent: "
            f"{int(counts.max())}); lower min_count or give a larger corpus"
        )
    pid_to_id = np.full(len(keys), -1, dtype=np.int32)
    pid_to_id[order] = np.arange(order.size, dtype=np.int32)
    vocab = Vocab(index_to_key=[keys[i] for i in order], counts=counts[order])
    corpus = _remap(pids, offsets, pid_to_id, raw_words=int(pids.size))
    logger.info("vocab: %d of %d distinct tokens kept (min_count=%d, max_vocab=%s); %d of %d words in %d sentences",
                len(vocab), len(keys), min_count, max_vocab, corpus.n_tokens, pids.size, corpus.n_sentences)
    return vocab, corpus


def encode_corpus(
    vocab: Vocab,
    sentences: Iterable[Sequence[str]] | None = None,
    corpus_file: str | os.PathLike | None = None,
    max_sentence_length: int = MAX_SENTENCE_LENGTH,
) -> EncodedCorpus:
    """Encode a corpus with an existing vocabulary (out-of-vocabulary tokens are dropped)."""
    pids, offsets, keys = scan_corpus(sentences, corpus_file, max_sentence_length)
    if pids.size == 0:
        source = "sentences" if corpus_file is None else f"corpus_file {os.fspath(corpus_file)}"
        raise ValueError(f"the corpus is empty: no tokens were read from {source}; give a non-empty corpus")
    k2i = vocab.key_to_index
    pid_to_id = np.fromiter((k2i.get(k, -1) for k in keys), dtype=np.int32, count=len(keys))
    corpus = _remap(pids, offsets, pid_to_id, raw_words=int(pids.size))
    if corpus.n_tokens == 0:
        raise ValueError("no token of the corpus is in the vocabulary; build the vocabulary on this corpus")
    return corpus


def encode_sequences(sequences: Sequence[np.ndarray], n_items: int) -> EncodedCorpus:
    """Flatten integer sequences (e.g. item-index histories) into an :class:`EncodedCorpus`.

    Args:
        sequences: list of int arrays with values in [0, n_items).
        n_items: vocabulary size.
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = (np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
              if len(sequences) else np.zeros(0, dtype=np.int64))
    if tokens.size and (tokens.min() < 0 or tokens.max() >= n_items):
        raise ValueError(f"sequence values must be item indices in [0, {n_items}); got range "
                         f"[{tokens.min()}, {tokens.max()}]")
    return EncodedCorpus(tokens=tokens.astype(np.int32), offsets=offsets, raw_words=int(tokens.size))
