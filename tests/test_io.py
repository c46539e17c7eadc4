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
