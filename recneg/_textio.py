"""One reader for text corpora (plain or ``.gz``): refuses binary input and names the file on every error.

Both the skip-gram vocabulary scan (:mod:`recneg.engine.vocab`) and
:class:`recneg.datasets.text.TextCorpus` read through :func:`open_text`, so a corrupt or
truncated ``.gz``, a non-gzip file named ``.gz``, or a binary file (a zip archive, a model,
...) given as a corpus fails with one clear ``ValueError`` instead of an ``EOFError`` /
``BadGzipFile`` traceback or silent training on garbage.
"""
from __future__ import annotations

import gzip
import io
import os
import zlib
from typing import Any

__all__ = ["open_text", "TextReader"]

SNIFF_BYTES = 1 << 16
_READ_ERRORS = (EOFError, OSError, zlib.error)  # gzip.BadGzipFile is an OSError
# magic numbers of binary formats people pass by mistake (ml-100k.zip, a .npz model, ...)
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed (name it .gz to read it)"),
    (b"PK\x03\x04", "a zip archive (extract the text file from it first)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"BZh", "bzip2-compressed (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed (decompress it first)"),
    (b"(\xb5/\xfd", "zstd-compressed (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive (extract the text file from it first)"),
    (b"\x93NUMPY", "a numpy .npy file"),
    (b"%PDF", "a PDF document"),
)
# share of undecodable / control characters above which the first block is not text
_MAX_BAD_SHARE = 0.3  # random bytes score ~55%; Latin-1 prose read as UTF-8 under 15%
_TEXT_CONTROLS = {"\t", "\n", "\r", "\x0b", "\x0c"}


def _first_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return msg[0] if msg else type(e).__name__


def _corrupt(what: str, path: str, e: BaseException) -> ValueError:
    return ValueError(f"{what} {path} is corrupt or truncated ({_first_line(e)}); re-download or re-compress it")


def _check_text(head: bytes, what: str, path: str) -> None:
    """Raise ValueError unless ``head`` (the first decompressed bytes) looks like UTF-8 text."""
    if b"\x00" in head:
        raise ValueError(f"{what} {path} is a binary file, not text (it contains NUL bytes); "
                         "give a UTF-8 text file (or a .gz of one)")
    # a block boundary may cut one multi-byte character: ignore up to 3 trailing bytes
    text = head.decode("utf-8", errors="replace")
    if len(head) == SNIFF_BYTES:
        text = text[:-3]
    if not text:
        return
    bad = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in _TEXT_CONTROLS) or ch == "\x7f")
    if bad > _MAX_BAD_SHARE * len(text):
        raise ValueError(f"{what} {path} does not look like UTF-8 text ({100 * bad / len(text):.0f}% of the first "
                         f"{len(text)} characters are undecodable or control bytes); give a UTF-8 text file")


class TextReader:
    """A text stream (UTF-8, undecodable bytes replaced) whose read errors name the file."""

    def __init__(self, fh: io.TextIOBase, what: str, path: str) -> None:
        self._fh, self._what, self._path = fh, what, path

    def read(self, size: int = -1) -> str:
        """Up to ``size`` characters ('' at the end); ValueError on a corrupt or truncated file."""
        try:
            return self._fh.read(size)
        except _READ_ERRORS as e:
            raise _corrupt(self._what, self._path, e) from e

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "TextReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_text(path: str | os.PathLike, what: str = "corpus file") -> TextReader:
    """Open a text file (``.gz`` decompressed on the fly) after checking that it is text.

    Args:
        path: the file; names ending in ``.gz`` must be gzip-compressed.
        what: how messages name the file (e.g. "corpus_file").

    Raises:
        ValueError: naming the file, if a ``.gz`` is not gzip or is corrupt/truncated, or if the
            (decompressed) content is binary: a known archive/compression magic number, NUL bytes,
            or mostly undecodable bytes in the first 64 KiB. Later read errors also raise it.
    """
    p = os.fspath(path)
    gz = p.endswith(".gz")
    with open(p, "rb") as raw:
        magic = raw.read(8)
        if gz and magic:  # (an empty file reads as empty text; callers report an empty corpus)
            if magic[:2] != b"\x1f\x8b":
                raise ValueError(f"{what} {p} is named .gz but is not gzip-compressed (it starts with "
                                 f"{magic!r}); rename it without .gz if it is plain text")
            raw.seek(0)
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as z:
                    head = z.read(SNIFF_BYTES)
            except _READ_ERRORS as e:
                raise _corrupt(what, p, e) from e
        else:
            for sig, kind in _MAGIC:
                if magic.startswith(sig):
                    raise ValueError(f"{what} {p} is not a text file: it is {kind}")
            head = magic + raw.read(SNIFF_BYTES - len(magic))
    _check_text(head, what, p)
    fh = io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace") if gz else open(
        p, "r", encoding="utf-8", errors="replace")
    return TextReader(fh, what, p)
