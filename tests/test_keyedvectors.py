"""KeyedVectors: similarity queries, word2vec C formats (with gensim interop), native save."""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np
import pytest

from recneg.models import keyedvectors as kvmod
from recneg.models.keyedvectors import KeyedVectors

# gensim 4.4 calls its own deprecated init_sims() inside most_similar_cosmul
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


def _deg(a: float) -> float:
    return math.radians(a)


@pytest.fixture
def tiny() -> KeyedVectors:
    """Five 2-D vectors at 0, 30, 60, 90, 180 degrees with different lengths."""
    angles = [0, 30, 60, 90, 180]
    lengths = [1.0, 2.0, 0.5, 3.0, 1.5]
    vecs = np.array([[r * math.cos(_deg(a)), r * math.sin(_deg(a))] for a, r in zip(angles, lengths)], np.float32)
    return KeyedVectors(vecs, ["k0", "k1", "k2", "k3", "k4"], counts=np.array([50, 40, 30, 20, 10]))


def _random_kv(n: int = 300, d: int = 16, seed: int = 0, prefix: str = "w") -> KeyedVectors:
    rng = np.random.default_rng(seed)
    return KeyedVectors(rng.standard_normal((n, d)).astype(np.float32), [f"{prefix}{i}" for i in range(n)])


# ---------------------------------------------------------------- basics
def test_basic_accessors(tiny: KeyedVectors) -> None:
    assert len(tiny) == 5 and tiny.vector_size == 2
    assert "k3" in tiny and "zz" not in tiny and np.zeros(2) not in tiny
    assert tiny.key_to_index["k2"] == 2 and tiny.get_index("k4") == 4
    assert tiny.get_index(3) == 3  # ints that are not keys are row numbers (gensim)
    assert tiny.has_index_for("k1") and not tiny.has_index_for("nope")
    np.testing.assert_allclose(tiny["k3"], [0.0, 3.0], atol=1e-6)
    assert tiny[["k0", "k3"]].shape == (2, 2)
    v = tiny.get_vector("k1", norm=True)
    np.testing.assert_allclose(v, [math.cos(_deg(30)), math.sin(_deg(30))], rtol=1e-6)
    with pytest.raises(ValueError):
        v[0] = 5.0  # read-only view
    assert tiny.get_count("k2") == 30
    assert tiny.vectors.dtype == np.float32 and tiny.counts.dtype == np.int64


def test_normed_cache_invalidated(tiny: KeyedVectors) -> None:
    n1 = tiny.get_normed_vectors()
    np.testing.assert_allclose(np.linalg.norm(n1, axis=1), 1.0, rtol=1e-6)
    assert tiny.get_normed_vectors() is n1  # cached
    tiny.vectors = tiny.vectors * np.array([1.0, -1.0], np.float32)
    n2 = tiny.get_normed_vectors()
    assert n2 is not n1
    np.testing.assert_allclose(n2[1], [math.cos(_deg(30)), -math.sin(_deg(30))], rtol=1e-6)
    tiny.vectors[3] = [4.0, 0.0]  # in place: needs fill_norms(force=True)
    tiny.fill_norms(force=True)
    np.testing.assert_allclose(tiny.get_normed_vectors()[3], [1.0, 0.0])
    np.testing.assert_allclose(tiny.norms[3], 4.0)


def test_zero_vector_is_safe() -> None:
    kv = KeyedVectors(np.array([[0, 0], [1, 0], [0, 1]], np.float32), ["z", "x", "y"])
    assert np.all(np.isfinite(kv.get_normed_vectors()))
    res = kv.most_similar("x", topn=2)
    assert res == [("z", 0.0), ("y", 0.0)]  # ties keep index order (stable sort)


# ------------------------------------------------------------ similarity
def test_most_similar_exact(tiny: KeyedVectors) -> None:
    res = tiny.most_similar("k0", topn=10)
    assert [k for k, _ in res] == ["k1", "k2", "k3", "k4"]
    np.testing.assert_allclose([s for _, s in res], [math.cos(_deg(30)), 0.5, 0.0, -1.0], atol=1e-6)
    assert tiny.most_similar("k0", topn=2) == res[:2]
    # 3CosAdd: unit(k1) + unit(k2) - unit(k0) points at 75 degrees
    res = tiny.most_similar(positive=["k1", "k2"], negative=["k0"], topn=5)
    assert [k for k, _ in res] == ["k3", "k4"]
    np.testing.assert_allclose([s for _, s in res], [math.cos(_deg(15)), math.cos(_deg(105))], atol=1e-6)
    # restrict_vocab searches only the first rows
    res = tiny.most_similar("k3", topn=10, restrict_vocab=3)
    assert [k for k, _ in res] == ["k2", "k1", "k0"]
    # all similarities
    all_s = tiny.most_similar("k0", topn=None)
    np.testing.assert_allclose(all_s, [1, math.cos(_deg(30)), 0.5, 0, -1], atol=1e-6)
    # a single key as negative; weighted tuples
    res = tiny.most_similar(negative="k0", topn=1)
    assert res[0][0] == "k4" and abs(res[0][1] - 1.0) < 1e-6
    res = tiny.most_similar(positive=[("k0", 1.0), ("k3", 1.0)], topn=1)  # 45 degrees
    assert res[0][0] in ("k1", "k2") and abs(res[0][1] - math.cos(_deg(15))) < 1e-6


def test_vector_queries(tiny: KeyedVectors) -> None:
    res = tiny.similar_by_vector(np.array([0.0, 10.0]), topn=2)
    assert res[0][0] == "k3" and abs(res[0][1] - 1.0) < 1e-6
    assert res[1][0] == "k2" and abs(res[1][1] - math.cos(_deg(30))) < 1e-6
    # vectors are not excluded, keys are
    res = tiny.most_similar(positive=[np.array([1.0, 0.0], np.float32)], topn=1)
    assert res[0][0] == "k0"
    assert tiny.similar_by_key("k3", topn=1)[0][0] == "k2"


def test_most_similar_cosmul_exact(tiny: KeyedVectors) -> None:
    s = lambda a: (1 + math.cos(_deg(a))) / 2  # noqa: E731
    res = tiny.most_similar_cosmul(positive=["k1", "k2"], negative=["k0"], topn=5)
    exp_k4 = s(150) * s(120) / (s(180) + 1e-6)  # cos(k4, k0) = -1 -> denominator 1e-6
    exp_k3 = s(60) * s(30) / (s(90) + 1e-6)
    assert [k for k, _ in res] == ["k4", "k3"]
    np.testing.assert_allclose([v for _, v in res], [exp_k4, exp_k3], rtol=2e-3)
    one = tiny.most_similar_cosmul("k0", topn=1)
    assert one[0][0] == "k1" and abs(one[0][1] - s(30) / (1 + 1e-6)) < 1e-6


def test_similarity_distance_doesnt_match(tiny: KeyedVectors) -> None:
    assert abs(tiny.similarity("k0", "k2") - 0.5) < 1e-6
    assert abs(tiny.distance("k0", "k3") - 1.0) < 1e-6
    assert tiny.doesnt_match(["k0", "k1", "k2", "k4"]) == "k4"
    assert tiny.doesnt_match(["k0", "k1", "k3", "unknown"]) == "k3"  # unknown ignored
    # mean of raw vectors: (1,0)+(2cos30,2sin30) vs (0,3)
    m1 = np.array([1 + 2 * math.cos(_deg(30)), 2 * math.sin(_deg(30))]) / 2
    m2 = np.array([0.0, 3.0])
    exp = m1 @ m2 / np.linalg.norm(m1) / np.linalg.norm(m2)
    assert abs(tiny.n_similarity(["k0", "k1"], ["k3"]) - exp) < 1e-6


def test_matches_gensim_queries() -> None:
    gensim = pytest.importorskip("gensim")
    kv = _random_kv(400, 24, seed=3)
    g = gensim.models.KeyedVectors(24)
    g.add_vectors(kv.index_to_key, kv.vectors)
    for pos, neg in ((["w1"], []), (["w1", "w7"], ["w9"]), (["w3", "w4", "w5"], ["w6", "w8"])):
        for ours, theirs in (
            (kv.most_similar(pos, neg, topn=10), g.most_similar(pos, neg, topn=10)),
            (kv.most_similar_cosmul(pos, neg, topn=10), g.most_similar_cosmul(pos, neg, topn=10)),
            (
                kv.most_similar(pos, neg, topn=7, restrict_vocab=100),
                g.most_similar(pos, neg, topn=7, restrict_vocab=100),
            ),
        ):
            assert [k for k, _ in ours] == [k for k, _ in theirs]
            np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5, atol=1e-6)
    words = ["w1", "w2", "w3", "w50", "w77"]
    assert kv.doesnt_match(words) == g.doesnt_match(words)
    assert abs(kv.similarity("w1", "w2") - float(g.similarity("w1", "w2"))) < 1e-6
    assert abs(kv.n_similarity(["w1", "w2"], ["w3"]) - float(g.n_similarity(["w1", "w2"], ["w3"]))) < 1e-6


# ------------------------------------------------------------ bad input
def test_bad_constructor_inputs() -> None:
    with pytest.raises(ValueError, match="2-D"):
        KeyedVectors(np.zeros(3, np.float32), ["a", "b", "c"])
    with pytest.raises(ValueError, match="rows but index_to_key has"):
        KeyedVectors(np.zeros((3, 2), np.float32), ["a", "b"])
    with pytest.raises(ValueError, match="duplicate key 'a'"):
        KeyedVectors(np.zeros((3, 2), np.float32), ["a", "b", "a"])
    with pytest.raises(TypeError, match="str"):
        KeyedVectors(np.zeros((2, 2), np.float32), ["a", 1.5])
    with pytest.raises(ValueError, match="counts"):
        KeyedVectors(np.zeros((2, 2), np.float32), ["a", "b"], counts=[1, 2, 3])


def test_bad_query_inputs(tiny: KeyedVectors) -> None:
    with pytest.raises(KeyError, match="'missing'"):
        tiny.most_similar(["k0", "missing"])
    with pytest.raises(KeyError, match="'missing'"):
        tiny.most_similar_cosmul(["k0"], ["missing"])
    with pytest.raises(KeyError, match="'nope'"):
        tiny.similarity("k0", "nope")
    with pytest.raises(ValueError, match="topn"):
        tiny.most_similar("k0", topn=-3)
    with pytest.raises(ValueError, match="topn"):
        tiny.most_similar_cosmul("k0", topn=-3)
    assert tiny.most_similar("k0", topn=0) == [] == tiny.most_similar_cosmul("k0", topn=np.uint8(0))  # gensim
    with pytest.raises(ValueError, match="restrict_vocab"):
        tiny.most_similar("k0", restrict_vocab=0)
    with pytest.raises(ValueError, match="at least one"):
        tiny.most_similar()
    with pytest.raises(ValueError, match="at least one positive"):
        tiny.most_similar_cosmul(negative=["k0"])
    with pytest.raises(ValueError, match="shape"):
        tiny.similar_by_vector(np.ones(3))
    with pytest.raises(ValueError):
        tiny.doesnt_match(["x", "y"])


# ------------------------------------------------------- word2vec format
def _assert_same(a: KeyedVectors, b) -> None:
    assert list(a.index_to_key) == list(b.index_to_key)
    np.testing.assert_array_equal(np.asarray(a.vectors), np.asarray(b.vectors))


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_word2vec_roundtrip(tmp_path, binary: bool, suffix: str) -> None:
    kv = _random_kv(120, 9, seed=1)
    kv.vectors[5] = [1e-30, -3.4e38, 0.0, 1.0, -1.0, 1e-7, 123456.789, 0.1, np.float32(1) / 3]
    kv = KeyedVectors(kv.vectors, ["héllo", "日本語", "a.b", "x,y", "#hash", *kv.index_to_key[5:]])
    p = tmp_path / f"v{suffix}"
    kv.save_word2vec_format(p, binary=binary)
    if suffix.endswith(".gz"):
        with open(p, "rb") as f:
            assert f.read(2) == b"\x1f\x8b"
    back = KeyedVectors.load_word2vec_format(p, binary=binary)
    _assert_same(kv, back)
    part = KeyedVectors.load_word2vec_format(p, binary=binary, limit=7)
    assert len(part) == 7 and part.index_to_key == kv.index_to_key[:7]
    np.testing.assert_array_equal(part.vectors, kv.vectors[:7])


def test_word2vec_exact_text_layout(tmp_path) -> None:
    kv = KeyedVectors(np.array([[1.0, -0.5], [0.25, 2.0]], np.float32), ["a", "b"])
    p = tmp_path / "v.txt"
    kv.save_word2vec_format(p)
    assert p.read_bytes() == b"2 2\na 1 -0.5\nb 0.25 2\n"
    kv.save_word2vec_format(p, binary=True)
    assert p.read_bytes() == b"2 2\na " + struct.pack("<2f", 1.0, -0.5) + b"b " + struct.pack("<2f", 0.25, 2.0)


def test_word2vec_c_tool_variants(tmp_path) -> None:
    """The C tool writes a newline after each binary vector and a trailing space in text rows."""
    vecs = np.array([[1.5, -2.0, 0.0], [3.0, 4.0, 5.0]], np.float32)
    p = tmp_path / "c.bin"
    recs = [w + b" " + v.astype("<f4").tobytes() + b"\n" for w, v in zip([b"</s>", b"the"], vecs)]
    p.write_bytes(b"2 3\n" + b"".join(recs))
    kv = KeyedVectors.load_word2vec_format(p, binary=True)
    assert kv.index_to_key == ["</s>", "the"]
    np.testing.assert_array_equal(kv.vectors, vecs)
    t = tmp_path / "c.txt"
    t.write_bytes(b"2 3\r\n</s> 1.5 -2 0 \r\nthe 3 4 5 \r\n")
    kv = KeyedVectors.load_word2vec_format(t)
    assert kv.index_to_key == ["</s>", "the"]
    np.testing.assert_array_equal(kv.vectors, vecs)


def test_word2vec_rejects_unstorable_keys(tmp_path) -> None:
    kv = KeyedVectors(np.ones((2, 2), np.float32), ["ok", "has space"])
    with pytest.raises(ValueError, match="whitespace"):
        kv.save_word2vec_format(tmp_path / "v.txt")
    assert not any(tmp_path.iterdir())  # nothing written, no temp leftovers


def test_int_keys_word2vec(tmp_path) -> None:
    kv = KeyedVectors(np.eye(3, dtype=np.float32), [10, 20, 30])
    kv.save_word2vec_format(tmp_path / "v.bin", binary=True)
    back = KeyedVectors.load_word2vec_format(tmp_path / "v.bin", binary=True)
    assert back.index_to_key == ["10", "20", "30"]


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_loads_recneg_files(tmp_path, binary: bool) -> None:
    gensim = pytest.importorskip("gensim")
    kv = _random_kv(200, 13, seed=2)
    for name in ("v.w2v", "v.w2v.gz"):
        kv.save_word2vec_format(tmp_path / name, binary=binary)
        g = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / name), binary=binary)
        _assert_same(kv, g)


@pytest.mark.parametrize("binary", [False, True])
def test_recneg_loads_gensim_files(tmp_path, binary: bool) -> None:
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(5)
    g = gensim.models.KeyedVectors(11)
    g.add_vectors([f"tok{i}" for i in range(150)] + ["ünï"], rng.standard_normal((151, 11)).astype(np.float32))
    for name in ("g.w2v", "g.w2v.gz"):
        g.save_word2vec_format(str(tmp_path / name), binary=binary)
        kv = KeyedVectors.load_word2vec_format(tmp_path / name, binary=binary)
        _assert_same(kv, g)


# ---------------------------------------------------------- corrupt files
def _write(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


_BIN_REC = lambda w, v: w + b" " + np.asarray(v, "<f4").tobytes()  # noqa: E731


@pytest.mark.parametrize(
    "content, binary, pattern",
    [
        (b"", False, r"line 1: bad word2vec header"),
        (b"two 3\na 1 2 3\n", False, r"line 1: bad word2vec header"),
        (b"2\na 1 2 3\n", False, r"line 1: bad word2vec header"),
        (b"2 0\na\nb\n", False, r"line 1: bad word2vec header"),
        (b"2 3\na 1 2 3\nb 1 2\n", False, r"line 3: expected a word and 3 values, got 2"),
        (b"2 3\na 1 2 3 4\nb 1 2 3\n", False, r"line 2: expected a word and 3 values, got 4"),
        (b"2 3\na 1 2 3\nb 1 x2 3\n", False, r"line 3: non-numeric value b'x2'"),
        (b"3 3\na 1 2 3\nb 1 2 3\n", False, r"file ends after 2 .*header announces 3"),
        (b"3 3\na 1 2 3\n\nb 1 2 3\n", False, r"line 3: empty line"),
        (b"2 3\na 1 2 3\na 4 5 6\n", False, r"line 3: duplicate word 'a'"),
        (b"2 2\n" + _BIN_REC(b"a", [1, 2]) + _BIN_REC(b"b", [3, 4])[:-3], True, r"entry 2 \('b'\): truncated vector"),
        (b"3 2\n" + _BIN_REC(b"a", [1, 2]) + _BIN_REC(b"b", [3, 4]), True, r"file ends after 2 vectors.*announces 3"),
        (b"2 2\n" + _BIN_REC(b"a", [1, 2]) + _BIN_REC(b"a", [3, 4]), True, r"entry 2: duplicate word 'a'"),
        (b"1 2\n" + b"\xff\xfe " + np.asarray([1, 2], "<f4").tobytes(), True, r"entry 1: word is not valid utf-8"),
    ],
)
def test_corrupt_files_raise(tmp_path, content: bytes, binary: bool, pattern: str) -> None:
    p = _write(tmp_path, "bad.w2v", content)
    with pytest.raises(ValueError, match=pattern) as ei:
        KeyedVectors.load_word2vec_format(p, binary=binary)
    assert "bad.w2v" in str(ei.value)


def test_corrupt_gzip_and_missing(tmp_path) -> None:
    data = gzip.compress(b"2 2\na 1 2\nb 3 4\n")
    p = _write(tmp_path, "v.txt.gz", data[: len(data) // 2])
    with pytest.raises(ValueError, match="v.txt.gz"):
        KeyedVectors.load_word2vec_format(p)
    with pytest.raises(FileNotFoundError):
        KeyedVectors.load_word2vec_format(tmp_path / "absent.txt")
    with pytest.raises(ValueError, match="limit"):
        KeyedVectors.load_word2vec_format(p, limit=-1)


# ---------------------------------------------------------------- atomic
@pytest.mark.parametrize("binary", [False, True])
def test_atomic_save_keeps_old_file(tmp_path, monkeypatch, binary: bool) -> None:
    p = tmp_path / "v.w2v"
    old = _random_kv(10, 3, seed=7)
    old.save_word2vec_format(p, binary=binary)
    before = p.read_bytes()

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(kvmod.os, "fsync", boom)  # fails after the data went to the temp file
    with pytest.raises(OSError, match="disk full"):
        _random_kv(20, 3, seed=8).save_word2vec_format(p, binary=binary)
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["v.w2v"]  # temp file removed
    monkeypatch.undo()
    _assert_same(old, KeyedVectors.load_word2vec_format(p, binary=binary))


def test_atomic_write_fails_mid_write(tmp_path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(b"original")

    def half(f):
        f.write(b"partial data")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        kvmod._atomic_write(p, half)
    assert p.read_bytes() == b"original"
    assert [x.name for x in tmp_path.iterdir()] == ["x.bin"]


# ---------------------------------------------------------------- native
def test_native_save_load(tmp_path, tiny: KeyedVectors) -> None:
    p = tmp_path / "kv.npz"
    tiny.save(p)
    back = KeyedVectors.load(p)
    _assert_same(tiny, back)
    np.testing.assert_array_equal(back.counts, tiny.counts)
    assert back.most_similar("k0", topn=2) == tiny.most_similar("k0", topn=2)
    ints = KeyedVectors(np.eye(2, dtype=np.float32), [7, 9])
    ints.save(p)
    back = KeyedVectors.load(p)
    assert back.index_to_key == [7, 9] and back.counts is None
    assert back.get_index(9) == 1


def test_native_load_rejects_garbage(tmp_path) -> None:
    p = tmp_path / "junk.npz"
    np.savez(p, something=np.ones(3))
    with pytest.raises(ValueError, match="missing"):
        KeyedVectors.load(p)
    q = _write(tmp_path, "junk2.npz", b"not a zip")
    with pytest.raises(ValueError, match="junk2.npz"):
        KeyedVectors.load(q)


def test_extra_data_and_wrong_dim_header(tmp_path, caplog) -> None:
    rec = _BIN_REC(b"a", [1, 2, 3]) + _BIN_REC(b"b", [4, 5, 6])
    p = _write(tmp_path, "extra.bin", b"1 3\n" + rec)
    with caplog.at_level("WARNING", logger="recneg.models.keyedvectors"):
        kv = KeyedVectors.load_word2vec_format(p, binary=True)
    assert kv.index_to_key == ["a"] and "ignored" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="recneg.models.keyedvectors"):
        KeyedVectors.load_word2vec_format(p, binary=True, limit=1)  # asked for fewer: no warning
    assert caplog.text == ""
    # header claims d=2 for 3-d data: the second "word" starts inside a float
    bad = _write(tmp_path, "dim.bin", b"2 2\n" + _BIN_REC(b"a", [1, 2, 3]) + _BIN_REC(b"b", [np.nan, 5, 6]))
    with pytest.raises(ValueError, match="dim.bin: entry 2"):
        KeyedVectors.load_word2vec_format(bad, binary=True)
    empty = KeyedVectors.load_word2vec_format(_write(tmp_path, "empty.bin", b"0 3\n"), binary=True)
    assert len(empty) == 0 and empty.vectors.shape == (0, 3)
    assert KeyedVectors.load_word2vec_format(p, binary=True, limit=0).index_to_key == ["a"]  # gensim: 0 = no limit


def test_getitem_iterables(tiny: KeyedVectors) -> None:
    out = tiny[(k for k in ["k3", "k0"])]
    np.testing.assert_allclose(out, tiny.vectors[[3, 0]])
    assert tiny[[]].shape == (0, 2)
    with pytest.raises(KeyError, match="'nope'"):
        tiny[["k0", "nope"]]


def test_headerless_text(tmp_path) -> None:
    kv = _random_kv(30, 4, seed=9)
    p = tmp_path / "glove.txt"
    kv.save_word2vec_format(p, write_header=False)
    assert p.read_text().splitlines()[0].split()[0] == "w0"
    back = KeyedVectors.load_word2vec_format(p, no_header=True)
    _assert_same(kv, back)
    assert len(KeyedVectors.load_word2vec_format(p, no_header=True, limit=5)) == 5
    gensim = pytest.importorskip("gensim")
    _assert_same(kv, gensim.models.KeyedVectors.load_word2vec_format(str(p), no_header=True))
    bad = _write(tmp_path, "bad.txt", b"a 1 2\nb 1 2 3\n")
    with pytest.raises(ValueError, match=r"bad.txt: line 2: expected a word and 2 values, got 3"):
        KeyedVectors.load_word2vec_format(bad, no_header=True)
    dup = _write(tmp_path, "dup.txt", b"a 1 2\nb 1 2\na 3 4\n")
    with pytest.raises(ValueError, match=r"dup.txt: line 3: duplicate word 'a' \(first seen at line 1\)"):
        KeyedVectors.load_word2vec_format(dup, no_header=True)
    with pytest.raises(ValueError, match="no_header"):
        KeyedVectors.load_word2vec_format(p, binary=True, no_header=True)
    with pytest.raises(ValueError, match="write_header"):
        kv.save_word2vec_format(tmp_path / "x.bin", binary=True, write_header=False)


def test_extra_gensim_api(tiny: KeyedVectors) -> None:
    gensim = pytest.importorskip("gensim")
    g = gensim.models.KeyedVectors(2)
    g.add_vectors(tiny.index_to_key, tiny.vectors.copy())
    for kw in ({}, {"pre_normalize": False}, {"post_normalize": True}, {"weights": [2.0, -1.0, 0.5]}):
        np.testing.assert_allclose(
            tiny.get_mean_vector(["k0", "k1", "missing"][: 3 if "weights" in kw else 2], **kw),
            g.get_mean_vector(["k0", "k1", "missing"][: 3 if "weights" in kw else 2], **kw),
            rtol=1e-6, atol=1e-7,
        )
    with pytest.raises(KeyError, match="'missing'"):
        tiny.get_mean_vector(["k0", "missing"], ignore_missing=False)
    assert tiny.closer_than("k0", "k2") == ["k1"] == g.closer_than("k0", "k2")
    assert tiny.rank("k0", "k3") == 3 == g.rank("k0", "k3")
    assert tiny.most_similar_to_given("k0", ["k4", "k2", "k3"]) == "k2"
    np.testing.assert_allclose(tiny.distances("k0"), g.distances("k0"), atol=1e-6)
    np.testing.assert_allclose(tiny.distances("k0", ["k2", "k4"]), [0.5, 2.0], atol=1e-6)


def test_add_vectors(tiny: KeyedVectors) -> None:
    before = tiny.get_normed_vectors()
    tiny.add_vectors(["k5", "k0"], np.array([[0.0, -2.0], [9.0, 9.0]], np.float32))
    assert len(tiny) == 6 and tiny.get_index("k5") == 5
    np.testing.assert_allclose(tiny["k0"], [1.0, 0.0])  # existing key skipped
    assert tiny.counts.tolist() == [50, 40, 30, 20, 10, 0]
    assert tiny.get_normed_vectors() is not before  # cache refreshed
    assert tiny.most_similar(negative=["k3"], topn=1)[0][0] == "k5"
    tiny.add_vectors(["k0"], np.array([[0.0, 5.0]], np.float32), replace=True)
    np.testing.assert_allclose(tiny["k0"], [0.0, 5.0])
    with pytest.raises(ValueError, match="shape"):
        tiny.add_vectors(["z"], np.zeros((1, 3), np.float32))


def test_limit_ignores_rest_of_file(tmp_path) -> None:
    """With limit=, later (even corrupt) records are never parsed."""
    p = _write(tmp_path, "v.txt", b"3 2\na 1 2\nb 3 4\nc not numbers\n")
    kv = KeyedVectors.load_word2vec_format(p, limit=2)
    assert kv.index_to_key == ["a", "b"]
    np.testing.assert_array_equal(kv.vectors, [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="line 4: non-numeric"):
        KeyedVectors.load_word2vec_format(p)
    b = _write(tmp_path, "v.bin", b"3 2\n" + _BIN_REC(b"a", [1, 2]) + _BIN_REC(b"b", [3, 4]) + b"c \x00")
    kv = KeyedVectors.load_word2vec_format(b, binary=True, limit=2)
    assert kv.index_to_key == ["a", "b"]
    with pytest.raises(ValueError, match="entry 3"):
        KeyedVectors.load_word2vec_format(b, binary=True)


def test_most_similar_batch_matches_single() -> None:
    kv = _random_kv(500, 16, seed=4)
    keys = ["w3", "w499", "w0", "w250"]
    for restrict in (None, 300):
        idx, sim = kv.most_similar_batch(keys, topn=7, restrict_vocab=restrict, chunk_size=3)
        assert idx.shape == (4, 7) and sim.dtype == np.float32
        for q, key in enumerate(keys):
            ref = kv.most_similar(key, topn=7, restrict_vocab=restrict)
            assert [kv.index_to_key[i] for i in idx[q]] == [k for k, _ in ref]
            np.testing.assert_allclose(sim[q], [s for _, s in ref], atol=1e-5)
    tiny = KeyedVectors(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    idx, _ = tiny.most_similar_batch(["a"], topn=10)
    assert idx.shape == (1, 2) and 0 not in idx[0]
    with pytest.raises(KeyError, match="'zz'"):
        kv.most_similar_batch(["w1", "zz"])
    with pytest.raises(ValueError, match="topn"):
        kv.most_similar_batch(["w1"], topn=0)


# ---- text/binary mismatch and non-finite values in word2vec files
@pytest.mark.parametrize("d", [1, 3, 50])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_text_binary_mismatch_suggests_the_other_binary(tmp_path, d, gz):
    rng = np.random.default_rng(d)
    kv = KeyedVectors(rng.standard_normal((12, d)).astype(np.float32), [f"w{i}" for i in range(12)])
    ext = ".gz" if gz else ""
    t, b = tmp_path / f"v.txt{ext}", tmp_path / f"v.bin{ext}"
    kv.save_word2vec_format(t)
    kv.save_word2vec_format(b, binary=True)
    with pytest.raises(ValueError, match=rf"v\.txt{ext}: line 2 .*text word2vec file.*binary=False") as e:
        KeyedVectors.load_word2vec_format(t, binary=True)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=rf"v\.bin{ext}: .*binary word2vec file.*binary=True"):
        KeyedVectors.load_word2vec_format(b)
    np.testing.assert_allclose(KeyedVectors.load_word2vec_format(t).vectors, kv.vectors, rtol=1e-6)
    np.testing.assert_array_equal(KeyedVectors.load_word2vec_format(b, binary=True).vectors, kv.vectors)


def test_malformed_text_is_not_called_binary(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("2 3\nélan 0.1 0.2\nb 0.1 0.2 0.3\n")  # a value missing, non-ASCII word
    with pytest.raises(ValueError, match="line 2: expected a word and 3 values") as e:
        KeyedVectors.load_word2vec_format(p)
    assert "binary" not in str(e.value)


@pytest.mark.parametrize("row,value", [("b nan 0.3", "nan"), ("b 0.3 inf", "inf"), ("b -Infinity 1", "-inf")])
def test_non_finite_text_value_names_file_and_line(tmp_path, row, value):
    p = tmp_path / "v.txt"
    p.write_text(f"3 2\na 0.1 0.2\n{row}\nc 1 2\n")
    with pytest.raises(ValueError, match=rf"v\.txt: line 3: non-finite value {value} for word 'b'"):
        KeyedVectors.load_word2vec_format(p)


def test_non_finite_binary_value_names_file_and_entry(tmp_path):
    p = tmp_path / "v.bin"
    p.write_bytes(b"2 2\na " + struct.pack("<2f", 1, 2) + b"\nb " + struct.pack("<2f", 3, float("nan")) + b"\n")
    with pytest.raises(ValueError, match=r"v\.bin: entry 2 \('b'\): non-finite value nan"):
        KeyedVectors.load_word2vec_format(p, binary=True)


# ------------------------------------------------------ gensim API (issue 15)
def test_gensim_constructor_and_growth() -> None:
    kv = KeyedVectors(4, 3)  # gensim: KeyedVectors(vector_size, count): count only reserves room
    assert len(kv) == 0 and kv.vectors.shape == (0, 4) and kv.vector_size == 4
    assert KeyedVectors(vector_size=2, dtype=np.float64).vectors.dtype == np.float64
    for i in range(50):
        assert kv.add_vector(f"k{i}", np.full(4, i)) == i
    assert kv.add_vector("k7", np.zeros(4)) == 7 and kv["k7"][0] == 7  # present: kept, its row returned
    kv.counts = np.arange(50)
    kv["k7"] = np.ones(4)  # replaces
    kv[["k8", "new"]] = np.full((2, 4), 2.0)
    kv.add_vectors("one", np.arange(4))  # one key, one (d,) vector
    assert len(kv) == 52 and kv.index_to_key[-2:] == ["new", "one"]
    np.testing.assert_array_equal(kv[["k7", "k8", "k49", "one"]], [[1] * 4, [2] * 4, [49] * 4, [0, 1, 2, 3]])
    assert kv.counts.tolist()[-3:] == [49, 0, 0] and kv.get_vecattr("new", "count") == 0
    kv.set_vecattr("k1", "flag", 2.5)
    assert kv.get_vecattr("k1", "flag") == 2.5 and kv.get_vecattr("k2", "flag") == 0.0
    with pytest.raises(KeyError, match="no vector attribute 'nope'"):
        kv.get_vecattr("k1", "nope")
    with pytest.raises(ValueError, match="vector_size"):
        KeyedVectors(0)
    with pytest.raises(TypeError, match="float type"):
        KeyedVectors(3, dtype=np.int32)
    with pytest.raises(TypeError, match="one string"):
        KeyedVectors(np.zeros((1, 2)), "a")


def test_replace_on_read_only_vectors_copies() -> None:
    ro = np.ones((2, 3), np.float32)
    ro.setflags(write=False)
    kv = KeyedVectors(ro, ["a", "b"])
    kv["a"] = np.zeros(3)
    np.testing.assert_array_equal(kv["a"], 0)
    assert ro.min() == 1  # the caller's array is untouched


def test_unit_normalize_all_and_identity(tiny: KeyedVectors) -> None:
    assert tiny.distance("k1", "k1") == 0.0 and tiny.similarity("k3", "k3") == 1.0
    tiny.unit_normalize_all()
    np.testing.assert_allclose(np.linalg.norm(tiny.vectors, axis=1), 1.0, rtol=1e-6)
    z = KeyedVectors(np.array([[0.0, 0.0], [3.0, 4.0]], np.float32), ["z", "x"])
    z.init_sims(replace=True)
    np.testing.assert_allclose(z.vectors, [[0, 0], [0.6, 0.8]], rtol=1e-6)
    assert z.similarity("z", "z") == 0.0  # a zero vector is similar to nothing, itself included


def test_fvocab_roundtrip_and_errors(tmp_path) -> None:
    kv = KeyedVectors(np.eye(3, dtype=np.float32), ["a", "b", "c"], counts=[5, 9, 1])
    kv.save_word2vec_format(tmp_path / "v.txt", tmp_path / "v.vocab")
    assert (tmp_path / "v.vocab").read_text() == "b 9\na 5\nc 1\n"  # descending count, as gensim
    assert (tmp_path / "v.txt").read_text().splitlines()[1].startswith("b ")
    back = KeyedVectors.load_word2vec_format(tmp_path / "v.txt", tmp_path / "v.vocab")
    assert back.index_to_key == ["b", "a", "c"] and back.counts.tolist() == [9, 5, 1]
    kv.save_word2vec_format(tmp_path / "o.txt", sort_attr=None)
    assert KeyedVectors.load_word2vec_format(tmp_path / "o.txt").index_to_key == ["a", "b", "c"]
    assert KeyedVectors.load_word2vec_format(tmp_path / "o.txt").counts.tolist() == [3, 2, 1]  # placeholders
    bad = _write(tmp_path, "bad.vocab", b"a 5\nb nine\n")
    with pytest.raises(ValueError, match=r"bad.vocab: line 2: count b?'nine' of b?'b' is not an integer"):
        KeyedVectors.load_word2vec_format(tmp_path / "v.txt", bad)
    bad = _write(tmp_path, "bad2.vocab", b"a 5 7\n")
    with pytest.raises(ValueError, match=r"bad2.vocab: line 1: expected 'word count'"):
        KeyedVectors.load_word2vec_format(tmp_path / "v.txt", bad)
    with pytest.raises(ValueError, match="no 'count' attribute"):
        KeyedVectors(np.eye(2, dtype=np.float32), ["a", "b"]).save_word2vec_format(tmp_path / "x", tmp_path / "y")
    with pytest.raises(TypeError, match="pass binary= by keyword"):
        kv.save_word2vec_format(tmp_path / "x.bin", True)
    with pytest.raises(TypeError, match="pass binary= by keyword"):
        KeyedVectors.load_word2vec_format(tmp_path / "v.txt", False)


def test_gensim_error_types_keep_recneg_messages(tmp_path) -> None:
    short = _write(tmp_path, "short.txt", b"3 2\na 1 2\nb 3 4\n")
    with pytest.raises(EOFError, match=r"short.txt: file ends after 2 lines"):
        KeyedVectors.load_word2vec_format(short)
    enc = _write(tmp_path, "enc.txt", b"1 2\n\xff 1 2\n")
    with pytest.raises(UnicodeDecodeError, match=r"enc.txt: line 2: word is not valid utf-8"):
        KeyedVectors.load_word2vec_format(enc)
    assert KeyedVectors.load_word2vec_format(enc, unicode_errors="replace").index_to_key == ["\ufffd"]
    tab = _write(tmp_path, "tab.txt", b"2 2\na\t1 2\nb 3 4\n")
    with pytest.raises(ValueError, match=r"tab.txt: line 2: the word is followed by a tab, not a space"):
        KeyedVectors.load_word2vec_format(tab)
    big = _write(tmp_path, "big.txt", b"1 2\na 1 70000\n")
    with pytest.raises(ValueError, match=r"big.txt: line 2 \('a'\): a value is too large for datatype float16"):
        KeyedVectors.load_word2vec_format(big, datatype=np.float16)


def test_append_total_vec_prefix(tmp_path) -> None:
    a = KeyedVectors(np.eye(2, dtype=np.float32), ["x", "y"])
    b = KeyedVectors(np.ones((1, 2), np.float32), [0])
    for gz in ("", ".gz"):
        p = tmp_path / f"v.bin{gz}"
        a.save_word2vec_format(p, binary=True, total_vec=3)
        b.save_word2vec_format(p, binary=True, write_header=False, append=True, prefix="*dt_")
        both = KeyedVectors.load_word2vec_format(p, binary=True)
        assert both.index_to_key == ["x", "y", "*dt_0"]
        np.testing.assert_array_equal(both.vectors, [[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="key '\\*dt 0' is empty or contains whitespace"):
        b.save_word2vec_format(tmp_path / "w.txt", prefix="*dt ")


def test_most_similar_gensim_query_forms(tiny: KeyedVectors) -> None:
    raw = np.array([0.0, 10.0], np.float32)  # 90 degrees, length 10: gensim averages it as given
    res = tiny.most_similar(positive=["k0", raw], topn=1)
    expected = np.array([1.0, 10.0]) / 2  # unit(k0) + raw, not unit(k0) + unit(raw)
    angle = math.degrees(math.atan2(expected[1], expected[0]))
    assert res[0][0] == "k3" and abs(res[0][1] - math.cos(_deg(90 - angle))) < 1e-6
    two_d = tiny.most_similar(positive=tiny.vectors[[1, 2]], topn=2)
    assert two_d == tiny.most_similar(positive=[tiny.vectors[1], tiny.vectors[2]], topn=2)
    assert [k for k, _ in tiny.most_similar("k0", topn=10, clip_start=2, clip_end=4)] == ["k2", "k3"]
