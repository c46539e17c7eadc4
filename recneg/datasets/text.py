"""Streaming text corpora: tokenised sentences with bounded memory."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from .._textio import TextReader, open_text


class TextCorpus:
    """A restartable iterable of sentences (lists of str tokens) read from a file.

    Tokens are whitespace-separated; each line is a sentence, and lines longer than
    ``max_sentence_length`` tokens (text8 is one 17M-token line) are cut into chunks of
    that many tokens. Files ending in ``.gz`` are decompressed on the fly; binary, corrupt or
    truncated files raise ValueError naming the file (:func:`recneg._textio.open_text`). Memory is
    bounded by ``chunk_bytes`` plus one sentence, whatever the file size.

    Args:
        path: a .txt or .gz file.
        max_sentence_length: tokens per sentence at most (word2vec uses 10,000).
        lowercase: lowercase every token.
        chunk_bytes: read size in bytes.
    """

    def __init__(self, path: str | os.PathLike, max_sentence_length: int = 10_000, lowercase: bool = False, chunk_bytes: int = 1 << 20) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"corpus file not found: {self.path}")
        if int(max_sentence_length) < 1:
            raise ValueError(f"max_sentence_length must be >= 1, got {max_sentence_length!r}")
        self.max_sentence_length = int(max_sentence_length)
        self.lowercase = lowercase
        self.chunk_bytes = int(chunk_bytes)
        if self.path.stat().st_size == 0:
            raise ValueError(f"corpus file {self.path} is empty")

    def _open(self) -> TextReader:
        return open_text(self.path, "corpus file")

    def __iter__(self) -> Iterator[list[str]]:
        n = self.max_sentence_length
        sentence: list[str] = []
        rest = ""
        with self._open() as f:
            while True:
                chunk = f.read(self.chunk_bytes)  # ValueError naming the file if corrupt or truncated
                if not chunk:
                    break
                if self.lowercase:
                    chunk = chunk.lower()
                text = rest + chunk
                # keep a possibly cut last token for the next round
                cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
                if cut < 0:
                    rest = text
                    continue
                rest = text[cut + 1 :]
                lines = text[: cut + 1].split("\n")
                for k, line in enumerate(lines):
                    sentence.extend(line.split())
                    while len(sentence) >= n:
                        yield sentence[:n]
                        sentence = sentence[n:]
                    if k < len(lines) - 1 and sentence:  # a newline ends the sentence
                        yield sentence
                        sentence = []
        sentence.extend(rest.split())
        while len(sentence) > n:
            yield sentence[:n]
            sentence = sentence[n:]
        if sentence:
            yield sentence


def load_text_corpus(path: str | os.PathLike, max_sentence_length: int = 10_000, lowercase: bool = False) -> TextCorpus:
    """Stream tokenised sentences from a .txt or .gz file (see :class:`TextCorpus`)."""
    return TextCorpus(path, max_sentence_length=max_sentence_length, lowercase=lowercase)
