"""Bad word2vec corpora (truncated/fake .gz, archives, binary junk, empty) fail with one clear ValueError."""
from __future__ import annotations

import gzip
import random
import zipfile

import numpy as np
import pytest

from recneg.cli import main
from recneg.datasets.text import TextCorpus
from recneg.engine.vocab import build_vocab
from recneg.models import Word2Vec

WORDS = ["king", "queen", "man", "woman", "apple", "banana"]


def text(n_words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = [rng.choice(WORDS) + str(rng.randrange(3000)) for _ in range(n_words)]
    return "\n".join(" ".join(words[i:i + 20]) for i in range(0, n_words, 20)) + "\n"


def w2v(path, **kw) -> Word2Vec:
    return Word2Vec(corpus_file=path, vector_size=4, epochs=1, min_count=1, progress=False, **kw)


def read_all(path) -> int:
    return sum(len(s) for s in TextCorpus(path))


READERS = [pytest.param(w2v, id="Word2Vec"), pytest.param(read_all, id="TextCorpus")]


@pytest.fixture(scope="module")
def gz_bytes() -> bytes:
    return gzip.compress(text(150_000).encode())  # ~1.3 MB of text: more than the first block


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize("cut", [0.5, 0.01], ids=["late", "early"])  # past / inside the first 64 KiB read
def test_truncated_gz(tmp_path, gz_bytes, read, cut):
    p = tmp_path / "corpus.txt.gz"
    p.write_bytes(gz_bytes[: int(len(gz_bytes) * cut)])
    with pytest.raises(ValueError, match=r"corpus.txt.gz is corrupt or truncated") as e:
        read(p)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("read", READERS)
def test_gz_name_but_not_gzip(tmp_path, read):
    p = tmp_path / "plain.gz"
    p.write_text("the cat sat on the mat\n")
    with pytest.raises(ValueError, match=r"plain.gz is named .gz but is not gzip-compressed.*rename it"):
        read(p)


def test_corrupt_gz_stream(tmp_path, gz_bytes):
    p = tmp_path / "bad.gz"
    b = bytearray(gz_bytes)
    b[100:200] = b"\xff" * 100
    p.write_bytes(bytes(b))
    with pytest.raises(ValueError, match="bad.gz is corrupt or truncated"):
        w2v(p)


@pytest.mark.parametrize("read", READERS)
def test_zip_archive_is_refused(tmp_path, read):
    p = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("u.data", text(2000))
    with pytest.raises(ValueError, match=r"ml-100k.zip is not a text file: it is a zip archive"):
        read(p)


@pytest.mark.parametrize("name,content,match", [
    ("nul.txt", b"abc def\x00\x01 ghi " * 200, "contains NUL bytes"),
    ("junk.bin", bytes(np.random.default_rng(0).integers(1, 256, 5000, dtype=np.uint8)), "does not look like UTF-8"),
    ("gzipped.txt", gzip.compress(b"the cat sat\n" * 100), "gzip-compressed"),
    ("model.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}", "numpy"),
], ids=["nul", "junk", "gzip-not-named-gz", "npy"])
def test_binary_input_is_refused(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ValueError, match=rf"{name} .*{match}"):
        w2v(p)
    with pytest.raises(ValueError, match=match):
        read_all(p)


def test_binary_inside_gz_is_refused(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(b"\x00\x01\x02" * 1000))
    with pytest.raises(ValueError, match="x.gz is a binary file"):
        w2v(p)


def test_text_with_some_bad_bytes_still_reads(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes(("caf\xe9 na\xefve the of and to in is " * 500).encode("latin-1"))  # ~6% undecodable
    assert len(w2v(p).vocab) == 8
    g = tmp_path / "ok.txt.gz"
    g.write_bytes(gzip.compress(text(30_000).encode()))
    assert read_all(g) == 30_000


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \n"], ids=["empty", "blank"])
def test_empty_corpus(tmp_path, content):
    p = tmp_path / "e.txt"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=r"corpus is empty: no tokens were read from corpus_file .*e.txt"):
        w2v(p)
    g = tmp_path / "e.gz"
    g.write_bytes(gzip.compress(content))
    with pytest.raises(ValueError, match="corpus is empty.*e.gz"):
        w2v(g)


def test_no_word_reaches_min_count_names_the_file(tmp_path):
    p = tmp_path / "rare.txt"
    p.write_text("a b c d e f\n")
    with pytest.raises(ValueError, match=r"no token of corpus_file .*rare.txt occurs at least min_count=5.*lower"):
        build_vocab(corpus_file=p, min_count=5)
    with pytest.raises(ValueError, match="no token of sentences occurs at least min_count=5"):
        build_vocab([["a", "b"]], min_count=5)


def test_cli_word2vec_on_a_zip(tmp_path, capsys):
    p = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("u.data", text(2000))
    out = tmp_path / "out"
    rc = main(["-q", "train", "word2vec", "--corpus", str(p), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert err.startswith("recneg train: error: corpus_file") and "zip archive" in err and err.count("\n") == 1
