"""recneg's KeyedVectors against gensim's on the same inputs, beyond gensim's own suites.

Each test builds the same vectors (or file) for both libraries and compares what they return.
The cases where gensim's behaviour is a bug and recneg raises a clear error instead are strict
xfails: they fail for as long as recneg differs on purpose (see README, "Coming from gensim").
"""
from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest

from recneg.models.keyedvectors import KeyedVectors, TruncatedFileError, WordDecodeError

gensim = pytest.importorskip("gensim")
GKV = gensim.models.KeyedVectors

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _pair(n: int = 60, d: int = 8, seed: int = 0, counts: bool = False):
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, d)).astype(np.float32)
    keys = [f"w{i}" for i in range(n)]
    g = GKV(d)
    g.add_vectors(keys, vecs)
    c = rng.integers(1, 1000, n) if counts else None
    if counts:
        for k, v in zip(keys, c):
            g.set_vecattr(k, "count", int(v))
    return KeyedVectors(vecs, keys, counts=c), g


def _same(a, b, vectors_exact: bool = True) -> None:
    assert list(a.index_to_key) == list(b.index_to_key)
    if vectors_exact:
        np.testing.assert_array_equal(a.vectors, b.vectors)
    else:
        np.testing.assert_allclose(a.vectors, b.vectors, rtol=1e-6)


def _same_hits(ours, theirs) -> None:
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ queries
def test_mixed_word_and_vector_queries_match_gensim() -> None:
    kv, g = _pair(200, 12, seed=1)
    raw = 3.0 * np.random.default_rng(2).standard_normal(12).astype(np.float32)  # not unit length
    for pos, neg in (
        (["w1", raw], []),
        (["w1", "w2"], [raw]),
        ([("w3", 2.0), (raw, 0.5)], ["w4"]),
        (kv.vectors[5:9], None),  # a 2-D array: a list of vectors
        ([kv.vectors[5], "w6"], ["w7"]),
    ):
        _same_hits(kv.most_similar(pos, neg, topn=10), g.most_similar(pos, neg, topn=10))
    _same_hits(kv.most_similar("w1", topn=5, clip_start=20, clip_end=80),
               g.most_similar("w1", topn=5, clip_start=20, clip_end=80))
    assert kv.most_similar("w1", topn=0) == g.most_similar("w1", topn=0) == []
    np.testing.assert_allclose(kv.most_similar("w1", topn=None), g.most_similar("w1", topn=None), atol=1e-6)


def test_identity_and_relative_cosine_match_gensim() -> None:
    kv, g = _pair(100, 10, seed=3)
    assert kv.distance("w5", "w5") == 0 == g.distance("w5", "w5")
    assert abs(kv.relative_cosine_similarity("w1", "w2", 7) - g.relative_cosine_similarity("w1", "w2", 7)) < 1e-6


def test_built_up_one_key_at_a_time_like_gensim() -> None:
    rng = np.random.default_rng(4)
    vecs = rng.standard_normal((40, 6))
    ours, theirs = KeyedVectors(6, 5), GKV(6, 5)
    for i, v in enumerate(vecs):
        assert ours.add_vector(f"k{i}", v) == theirs.add_vector(f"k{i}", v)
    ours["k3"] = theirs["k3"] = np.ones(6)
    ours[["k7", "new"]] = theirs[["k7", "new"]] = np.zeros((2, 6))
    ours.add_vectors("single", vecs[0])
    theirs.add_vectors("single", vecs[0])
    _same(ours, theirs)
    assert ours.vectors.dtype == theirs.vectors.dtype == np.float32


def test_vectors_for_all_and_unit_normalize_all_match_gensim() -> None:
    kv, g = _pair(50, 5, seed=5, counts=True)
    keys = ["w9", "nope", "w2", "w9", "w30"]
    for copy in (False, True):
        a, b = kv.vectors_for_all(keys, copy_vecattrs=copy), g.vectors_for_all(keys, copy_vecattrs=copy)
        _same(a, b)
        assert [a.get_vecattr(k, "count") for k in a.index_to_key] == [b.get_vecattr(k, "count") for k in b.index_to_key]
    kv.unit_normalize_all()
    g.unit_normalize_all()
    np.testing.assert_allclose(kv.vectors, g.vectors, rtol=1e-6)


# ----------------------------------------------------------- file formats
@pytest.mark.parametrize("binary", [False, True])
def test_fvocab_both_ways(tmp_path, binary: bool) -> None:
    kv, g = _pair(80, 7, seed=6, counts=True)
    for writer, name in ((kv, "r"), (g, "g")):
        vec, voc = tmp_path / f"{name}.w2v", tmp_path / f"{name}.vocab"
        writer.save_word2vec_format(str(vec), str(voc), binary=binary)  # gensim's positional fvocab
        ours = KeyedVectors.load_word2vec_format(vec, voc, binary=binary)
        theirs = GKV.load_word2vec_format(str(vec), str(voc), binary=binary)
        _same(ours, theirs)  # both in descending count order
        assert ours.counts.tolist() == [theirs.get_vecattr(k, "count") for k in theirs.index_to_key]
        assert ours.get_vecattr("w3", "count") == g.get_vecattr("w3", "count")
    # gensim's vocabulary file and recneg's are the same bytes; binary vector files too
    assert (tmp_path / "r.vocab").read_bytes() == (tmp_path / "g.vocab").read_bytes()
    if binary:
        assert (tmp_path / "r.w2v").read_bytes() == (tmp_path / "g.w2v").read_bytes()


def test_prefix_append_total_vec_give_gensims_bytes(tmp_path) -> None:
    (kv, g), (kv2, g2) = _pair(30, 4, seed=7), _pair(20, 4, seed=8)
    for lib, a, b in (("r", kv, kv2), ("g", g, g2)):
        out = str(tmp_path / f"{lib}.bin")
        a.save_word2vec_format(out, binary=True, total_vec=50)
        b.save_word2vec_format(out, binary=True, prefix="*dt_", append=True, write_header=False)
    assert (tmp_path / "r.bin").read_bytes() == (tmp_path / "g.bin").read_bytes()
    both = KeyedVectors.load_word2vec_format(tmp_path / "r.bin", binary=True)
    assert len(both) == 50 and both.index_to_key[30] == "*dt_w0"


def test_placeholder_counts_and_limit_match_gensim(tmp_path) -> None:
    kv, _ = _pair(25, 3, seed=9)
    p = tmp_path / "v.txt"
    kv.save_word2vec_format(p)
    for limit in (None, 0, 1, 10):
        ours, theirs = KeyedVectors.load_word2vec_format(p, limit=limit), GKV.load_word2vec_format(str(p), limit=limit)
        _same(ours, theirs)
        assert ours.counts.tolist() == theirs.expandos["count"].tolist()  # n, n-1, .., 1


@pytest.mark.parametrize("datatype", [np.float16, np.float32, np.float64])
def test_datatype_matches_gensim(tmp_path, datatype) -> None:
    p = tmp_path / "v.txt"
    p.write_text("3 2\na 0.1234567890123 -1e-5\nb 3.14159265358979 2.5\nc -0.000123456789 65000.5\n")
    ours, theirs = KeyedVectors.load_word2vec_format(p, datatype=datatype), GKV.load_word2vec_format(
        str(p), datatype=datatype)
    assert ours.vectors.dtype == theirs.vectors.dtype == datatype
    np.testing.assert_array_equal(ours.vectors, theirs.vectors)


def test_c_tool_variants_load_like_gensim(tmp_path) -> None:
    vecs = np.array([[1.5, -2.0, 0.0], [3.0, 4.0, 5.0]], np.float32)
    b = tmp_path / "c.bin"  # the C tool's newline after each binary vector
    b.write_bytes(b"2 3\n" + b"".join(w + b" " + v.astype("<f4").tobytes() + b"\n" for w, v in zip([b"</s>", b"x"], vecs)))
    t = tmp_path / "c.txt.gz"  # CRLF, trailing spaces, gzip
    t.write_bytes(gzip.compress(b"2 3\r\n</s> 1.5 -2 0 \r\nx 3 4 5 \r\n"))
    _same(KeyedVectors.load_word2vec_format(b, binary=True), GKV.load_word2vec_format(str(b), binary=True))
    _same(KeyedVectors.load_word2vec_format(t), GKV.load_word2vec_format(str(t)))


@pytest.mark.parametrize("errors", ["replace", "ignore"])
def test_truncated_utf8_words_load_like_gensim(tmp_path, errors: str) -> None:
    p = tmp_path / "u.bin"  # the C tool cuts long words inside a multi-byte character
    words = ["ありがとう".encode()[:-1], b"ok"]
    p.write_bytes(b"2 2\n" + b"".join(w + b" " + np.array([1, 2], "<f4").tobytes() for w in words))
    _same(KeyedVectors.load_word2vec_format(p, binary=True, unicode_errors=errors),
          GKV.load_word2vec_format(str(p), binary=True, unicode_errors=errors))
    with pytest.raises(UnicodeDecodeError, match="u.bin: entry 1"):  # gensim raises UnicodeDecodeError too
        KeyedVectors.load_word2vec_format(p, binary=True)
    with pytest.raises(UnicodeDecodeError):
        GKV.load_word2vec_format(str(p), binary=True)


@pytest.mark.parametrize("binary", [False, True])
def test_short_file_raises_eoferror_like_gensim(tmp_path, binary: bool) -> None:
    kv, _ = _pair(5, 3, seed=10)
    p = tmp_path / "v.w2v"
    kv.save_word2vec_format(p, binary=binary)
    p.write_bytes(p.read_bytes().replace(b"5 3\n", b"6 3\n", 1))
    with pytest.raises(EOFError):
        GKV.load_word2vec_format(str(p), binary=binary)
    with pytest.raises(TruncatedFileError, match=r"v\.w2v: file ends after 5 .*announces 6") as e:
        KeyedVectors.load_word2vec_format(p, binary=binary)
    assert isinstance(e.value, EOFError) and isinstance(e.value, ValueError)
    assert not isinstance(e.value, WordDecodeError)


# ------------------------------------------------ intended differences
def _load_both(p, **kw):
    return KeyedVectors.load_word2vec_format(p, **kw), GKV.load_word2vec_format(str(p), **kw)


@pytest.mark.xfail(strict=True, raises=ValueError, reason=(
    "intended difference: gensim keeps the first of two equal words and leaves a None key in the last row "
    "(index_to_key ['a', 'b', None], a zero vector); recneg raises 'line 4: duplicate word' naming the file"))
def test_duplicate_word(tmp_path, caplog) -> None:
    p = tmp_path / "dup.txt"
    p.write_text("3 2\na 1 2\nb 3 4\na 5 6\n")
    with caplog.at_level(logging.ERROR):
        ours, theirs = _load_both(p)
    _same(ours, theirs)


@pytest.mark.xfail(strict=True, raises=ValueError, reason=(
    "intended difference: gensim splits text rows on spaces only, so 'a<TAB>1 2' gives the key 'a\\t1' and a "
    "wrong vector; recneg raises 'line 2: the word is followed by a tab' naming the file"))
def test_tab_after_word(tmp_path) -> None:
    p = tmp_path / "tab.txt"
    p.write_text("2 2\na\t1 2\nb 3 4\n")
    ours, theirs = _load_both(p)
    _same(ours, theirs)
