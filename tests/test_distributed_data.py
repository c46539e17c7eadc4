"""read_parquet_partition: each rank materialises only its users' rows; the union is the whole dataset."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from dist_helpers import run_ranks  # noqa: E402
from recneg import distributed  # noqa: E402
from recneg.data import (Interactions, Vocabulary, build_vocabulary, load_vocabulary,  # noqa: E402
                         read_parquet_partition, save_vocabulary)
from recneg.data import parquet as pqmod  # noqa: E402


def _frame(seed: int = 0, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.array([f"u{k:03d}" for k in rng.integers(0, 157, n)], dtype=object)
    items = rng.integers(10, 400, n) * 7
    return pd.DataFrame({"user": users, "item": items, "w": rng.random(n).astype(np.float32) + 0.5,
                         "ts": rng.integers(0, 10**6, n)})


def _write(df: pd.DataFrame, folder, n_files: int = 5) -> None:
    """Several files, rows shuffled so that every file holds users of every rank."""
    folder.mkdir()
    shuffled = df.sample(frac=1.0, random_state=1)
    for k, idx in enumerate(np.array_split(np.arange(len(df)), n_files)):
        part = shuffled.iloc[idx]
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / f"part-{k}.parquet",
                       row_group_size=200)


def _read_as_rank(folder, rank, world, vocab):
    seen = []
    real = pqmod._scan

    def watch(dataset, columns, filter):
        t = real(dataset, columns, filter)
        seen.append(t.column("user").to_pylist())
        return t

    pqmod._scan = watch
    try:
        inter = read_parquet_partition(folder, "user", "item", weight_col="w", time_col="ts", vocabulary=vocab,
                                       rank=rank, world_size=world)
    finally:
        pqmod._scan = real
    return inter, [u for s in seen for u in s]


@pytest.mark.parametrize("world", [1, 2, 3, 200])
def test_ranks_read_only_their_users_and_union_is_single_process(tmp_path, world):
    df = _frame()
    _write(df, tmp_path / "ds")
    full = Interactions.from_dataframe(df, "user", "item", "w", "ts")
    vocab = build_vocabulary(tmp_path / "ds", "user", "item")
    assert np.array_equal(vocab.user_ids, full.user_ids) and np.array_equal(vocab.item_ids, full.item_ids)
    total = None
    for r in range(world):
        inter, read_users = _read_as_rank(tmp_path / "ds", r, world, vocab)
        a, b = distributed.user_block(full.n_users, r, world)
        assert inter.shape == full.shape and inter.meta["user_block"] == (a, b)
        mine = set(full.user_ids[a:b])
        assert set(read_users) <= mine  # never a row of another rank's user
        assert len(read_users) == int(df["user"].isin(mine).sum()) == inter.meta["rows_read"]
        rows = np.flatnonzero(np.diff(inter.csr.indptr))
        assert rows.size == 0 or (rows.min() >= a and rows.max() < b)
        assert np.array_equal(inter.user_ids, full.user_ids) and np.array_equal(inter.item_ids, full.item_ids)
        total = inter.csr if total is None else total + inter.csr
    assert (total != full.csr).nnz == 0 and total.nnz == full.nnz


def test_vocabulary_roundtrip_is_atomic_and_checked(tmp_path):
    df = _frame()
    _write(df, tmp_path / "ds")
    vocab = build_vocabulary(tmp_path / "ds", "user", "item")
    path = tmp_path / "vocab.npz"
    save_vocabulary(vocab, path)
    assert load_vocabulary(path) == vocab and load_vocabulary(path).user_ids.dtype == object
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    a = read_parquet_partition(tmp_path / "ds", "user", "item", vocabulary=path, rank=1, world_size=2)
    b = read_parquet_partition(tmp_path / "ds", "user", "item", vocabulary=vocab, rank=1, world_size=2)
    assert (a.csr != b.csr).nnz == 0
    # a vocabulary of another dataset: ids missing from it are an error, never silently dropped
    small = Vocabulary(vocab.user_ids[:-3], vocab.item_ids)
    with pytest.raises(ValueError, match="vocabulary mismatch.*u15"):
        read_parquet_partition(tmp_path / "ds", "user", "item", vocabulary=small, rank=1, world_size=2)
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        read_parquet_partition(tmp_path / "ds", "user", "item", rank=0, world_size=1,
                               vocabulary=Vocabulary(vocab.user_ids, vocab.item_ids[1:]))
    with pytest.raises(FileNotFoundError, match="save_vocabulary"):
        load_vocabulary(tmp_path / "nope.npz")


def test_bad_input_names_the_column_and_the_fix(tmp_path, monkeypatch):
    _write(_frame(), tmp_path / "ds")
    with pytest.raises(KeyError, match="item_col='movie'.*columns are"):
        read_parquet_partition(tmp_path / "ds", "user", "movie")
    with pytest.raises(KeyError, match="time_col='when'"):
        read_parquet_partition(tmp_path / "ds", "user", "item", time_col="when")
    with pytest.raises(ValueError, match="both rank and world_size"):
        read_parquet_partition(tmp_path / "ds", "user", "item", rank=0)
    monkeypatch.setitem(sys.modules, "pyarrow.dataset", None)
    with pytest.raises(ImportError, match=r"pip install 'recneg\[parquet\]'"):
        read_parquet_partition(tmp_path / "ds", "user", "item")


def _group_read(rank, folder):
    calls = []
    real = pqmod.build_vocabulary

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    pqmod.build_vocabulary = counted
    inter = read_parquet_partition(folder, "user", "item", weight_col="w")
    return len(calls), inter.meta, inter.csr, inter.user_ids


def test_two_gloo_ranks_share_rank0_vocabulary(tmp_path):
    df = _frame()
    _write(df, tmp_path / "ds")
    full = Interactions.from_dataframe(df, "user", "item", "w")
    out = run_ranks(_group_read, 2, str(tmp_path / "ds"))
    assert [c for c, *_ in out] == [1, 0]  # only rank 0 scanned the id columns
    assert [m["user_block"] for _, m, _, _ in out] == [distributed.user_block(full.n_users, r, 2) for r in range(2)]
    assert all(np.array_equal(u, full.user_ids) for *_, u in out)
    total = out[0][2] + out[1][2]
    assert (total != full.csr).nnz == 0
