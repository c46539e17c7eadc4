"""File safety shared by every loader (issue 11): corrupt/truncated/foreign files give one clear
line, pickles are never loaded or advised, string ids are stored compactly, saved files honour the umask."""
from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recneg import _io
from recneg.data import Interactions
from recneg.engine.vocab import Vocab
from recneg.models.item2vec import Item2Vec
from recneg.models.keyedvectors import KeyedVectors
from recneg.models.mf import MatrixFactorization
from recneg.models.word2vec import Word2Vec

RNG = np.random.default_rng(0)


def _interactions(p: Path) -> None:
    m = sp.random(60, 80, density=0.2, format="csr", random_state=0, dtype=np.float32)
    Interactions.from_sparse(m, user_ids=[f"u{i}" for i in range(60)], item_ids=[f"i{i}" for i in range(80)]).save(p)


def _mf(p: Path) -> None:
    m = MatrixFactorization(factors=8)
    m._U = RNG.random((60, 8), dtype=np.float32)
    m._V = RNG.random((80, 8), dtype=np.float32)
    m._b = RNG.random(80, dtype=np.float32)
    m.save(p)


def _item2vec(p: Path) -> None:
    m = Item2Vec(vector_size=8, progress=False)
    m.syn0 = RNG.random((80, 8), dtype=np.float32)
    m.syn1neg = RNG.random((80, 8), dtype=np.float32)
    m.item_counts = np.arange(80, dtype=np.int64)
    m.in_vocab = np.ones(80, dtype=bool)
    m.save(p)


def _word2vec(p: Path) -> None:
    m = Word2Vec(vector_size=8, progress=False)
    m.vocab = Vocab(index_to_key=[f"w{i}" for i in range(80)], counts=np.arange(80, 0, -1))
    m.syn0 = RNG.random((80, 8), dtype=np.float32)
    m.syn1neg = RNG.random((80, 8), dtype=np.float32)
    m.save(p)


def _keyedvectors(p: Path) -> None:
    KeyedVectors(RNG.random((80, 8), dtype=np.float32), [f"k{i}" for i in range(80)]).save(p)


LOADERS: list[tuple[str, Callable[[Path], None], Callable[[Path], Any]]] = [
    ("Interactions", _interactions, Interactions.load),
    ("MatrixFactorization", _mf, MatrixFactorization.load),
    ("Item2Vec", _item2vec, Item2Vec.load),
    ("Word2Vec", _word2vec, Word2Vec.load),
    ("KeyedVectors", _keyedvectors, KeyedVectors.load),
]
IDS = [x[0] for x in LOADERS]


def _error(load: Callable[[Path], Any], p: Path, exc: type[Exception] = ValueError) -> str:
    with pytest.raises(exc) as ei:
        load(p)
    msg = str(ei.value)
    assert "\n" not in msg, msg
    assert "allow_pickle" not in msg, msg
    assert p.name in msg, msg
    return msg


@pytest.mark.parametrize(("what", "save", "load"), LOADERS, ids=IDS)
def test_corrupt_files_give_one_line_naming_file_and_kind(tmp_path, what, save, load) -> None:
    good = tmp_path / "model.npz"
    save(good)
    load(good)  # the intact file loads
    data = good.read_bytes()

    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    msg = _error(load, cut)
    assert "corrupt or truncated" in msg and what in msg

    flipped = bytearray(data)
    mid = len(data) // 2
    flipped[mid:mid + 4] = bytes(b ^ 0xFF for b in flipped[mid:mid + 4])  # inside an array: Bad CRC-32
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(flipped))
    msg = _error(load, bad)
    assert "corrupt or truncated" in msg and what in msg

    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    assert what in _error(load, empty)


@pytest.mark.parametrize(("what", "save", "load"), LOADERS, ids=IDS)
def test_foreign_files_never_mention_allow_pickle(tmp_path, what, save, load) -> None:
    npy = tmp_path / "x.npy"
    np.save(npy, np.arange(5))
    msg = _error(load, npy)
    assert ".npy" in msg and what in msg

    pkl = tmp_path / "x.pkl"
    pkl.write_bytes(pickle.dumps({"U": [1, 2]}))
    assert "pickled" in _error(load, pkl)

    obj = tmp_path / "obj.npz"
    np.savez(obj, U=np.array([{"a": 1}, None], dtype=object))
    msg = _error(load, obj)
    assert "pickled" in msg and "never loads" in msg and what in msg

    txt = tmp_path / "x.csv"
    txt.write_text("user,item\n1,2\n")
    assert what in _error(load, txt)

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, something=np.ones(3))
    msg = _error(load, foreign)
    assert f"not a recneg {what}" in msg

    missing = tmp_path / "nope.npz"
    assert what in _error(load, missing, FileNotFoundError)
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    assert "folder" in _error(load, folder)


def _total_bytes(ids: np.ndarray) -> int:
    """The array's own bytes plus, for object arrays, the Python objects it points to."""
    return ids.nbytes + (sum(sys.getsizeof(x) for x in ids) if ids.dtype == object else 0)


def test_one_long_id_does_not_widen_every_id(tmp_path) -> None:
    n, long_id = 4910, "x" * 50_000
    users = [f"user{i}" for i in range(n - 1)] + [long_id]
    df = pd.DataFrame({"user": users, "item": [f"i{i % 50}" for i in range(n)]})
    x = Interactions.from_dataframe(df)
    small = sum(len(u) for u in users) * 4 + n * 100  # generous: 4 bytes a char + 100 a Python str
    assert _total_bytes(x.user_ids) < small  # fixed width would be n * 200,000 bytes = 982 MB
    y = Interactions.from_arrays(np.arange(n), np.zeros(n, dtype=int), user_ids=np.array(users), item_ids=["a"])
    assert _total_bytes(y.user_ids) < small  # a <U50000 array passed in is not kept as is
    p = tmp_path / "train.npz"
    x.save(p)
    assert p.stat().st_size < 1_000_000
    back = Interactions.load(p)
    assert list(back.user_ids) == list(x.user_ids) and list(back.item_ids) == list(x.item_ids)
    assert _total_bytes(back.user_ids) < small
    assert back.user_index([long_id, "user7"]).tolist() == x.user_index([long_id, "user7"]).tolist()
    pd.testing.assert_frame_equal(back.to_dataframe(), x.to_dataframe())
    assert set(back.k_core(1, 2).user_ids) <= set(users)


def test_string_ids_round_trip_exactly(tmp_path) -> None:
    odd = ["", "a b", "naïve", "日本", "emoji 🙂", "tab\there", "nul\x00x", "lone \ud800 surrogate", "0", "x" * 300]
    x = Interactions.from_arrays(np.arange(len(odd)), np.arange(len(odd)), user_ids=odd, item_ids=list(range(len(odd))))
    x.save(tmp_path / "i.npz")
    back = Interactions.load(tmp_path / "i.npz")
    assert list(back.user_ids) == odd and all(type(u) is str for u in back.user_ids)
    assert back.item_ids.dtype.kind == "i" and back.item_ids.tolist() == list(range(len(odd)))
    mixed = Interactions.from_arrays([0, 1], [0, 0], user_ids=np.array(["a", 1], dtype=object), item_ids=["i"])
    with pytest.raises(TypeError, match="user_ids"):
        mixed.save(tmp_path / "m.npz")


def test_keys_of_word2vec_and_keyedvectors_stored_compactly(tmp_path) -> None:
    keys = [f"k{i}" for i in range(999)] + ["y" * 50_000]
    kv = KeyedVectors(np.ones((1000, 2), dtype=np.float32), keys)
    kv.save(tmp_path / "kv.npz")
    assert (tmp_path / "kv.npz").stat().st_size < 200_000
    assert KeyedVectors.load(tmp_path / "kv.npz").index_to_key == keys
    m = Word2Vec(vector_size=2, progress=False)
    m.vocab = Vocab(index_to_key=keys, counts=np.ones(1000))
    m.syn0 = m.syn1neg = np.ones((1000, 2), dtype=np.float32)
    m.save(tmp_path / "w2v.npz")
    assert (tmp_path / "w2v.npz").stat().st_size < 200_000
    assert Word2Vec.load(tmp_path / "w2v.npz").vocab.index_to_key == keys


def test_files_from_fixed_width_unicode_layout_still_load(tmp_path) -> None:
    """Files written before ids were blob-encoded stored them as <U arrays."""
    m = sp.csr_matrix(np.array([[1, 0], [0, 2]], dtype=np.float32))
    p = tmp_path / "old_train.npz"
    np.savez(p, data=m.data, indices=m.indices, indptr=m.indptr.astype(np.int64), shape=np.array([2, 2]),
             user_ids=np.array(["alice", "bob"]), item_ids=np.array(["x", "y"]), timestamps=np.array([5, 6]))
    x = Interactions.load(p)
    assert list(x.user_ids) == ["alice", "bob"] and x.user_index(["bob"]).tolist() == [1]
    kv = tmp_path / "old_kv.npz"
    np.savez(kv, format_version=np.array(1), vectors=np.eye(2, dtype=np.float32), keys=np.array(["a", "bb"]),
             key_kind=np.array("str"))
    assert KeyedVectors.load(kv).index_to_key == ["a", "bb"]
    w = tmp_path / "old_w2v.npz"
    _word2vec(w)
    z = dict(np.load(w))
    z.pop("keys_utf8", None)
    z.pop("keys_offsets", None)
    z["keys"] = np.array([f"w{i}" for i in range(80)])
    np.savez(w, **z)
    assert Word2Vec.load(w).vocab.index_to_key == [f"w{i}" for i in range(80)]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_saved_files_honour_umask(tmp_path, mask, file_mode, dir_mode) -> None:
    old = os.umask(mask)
    try:
        _interactions(tmp_path / "train.npz")
        _mf(tmp_path / "model.npz")
        _keyedvectors(tmp_path / "vectors.npz")
        KeyedVectors(np.eye(2, dtype=np.float32), ["a", "b"]).save_word2vec_format(tmp_path / "vectors.txt")
        for name in ("train.npz", "model.npz", "vectors.npz", "vectors.txt"):
            assert (tmp_path / name).stat().st_mode & 0o777 == file_mode, name
        assert _io.current_umask() == mask
        assert os.umask(mask) == mask  # reading it left it unchanged
        d = tmp_path / "made_by_mkdtemp"
        d.mkdir(mode=0o700)
        _io.apply_umask(d, directory=True)
        assert d.stat().st_mode & 0o777 == dir_mode
        f = d / "f"
        f.write_bytes(b"")
        f.chmod(0o600)
        _io.apply_umask(f)
        assert f.stat().st_mode & 0o777 == file_mode
    finally:
        os.umask(old)


def test_inconsistent_id_arrays_give_one_line(tmp_path) -> None:
    good = _io.pack_ids("user_ids", ["ab", "c"])
    for change, match in [
        (lambda a: a["user_ids_offsets"].__setitem__(1, 5), "offsets do not match"),
        (lambda a: a.__setitem__("user_ids_utf8", np.r_[np.uint8(0xFF), a["user_ids_utf8"][1:]]), "not valid UTF-8"),
        (lambda a: a.pop("user_ids_offsets"), "missing the array"),
    ]:
        arrays = {k: v.copy() for k, v in good.items()}
        change(arrays)
        with pytest.raises(ValueError, match=match) as ei:
            _io.unpack_ids(arrays, "user_ids", tmp_path / "train.npz", "Interactions")
        assert "train.npz" in str(ei.value) and "\n" not in str(ei.value)
