"""Interactions from a (partitioned) parquet dataset, one rank's users at a time.

For inputs larger than one process's memory: every rank of a torch.distributed job reads
only the rows of the users it owns (:func:`recneg.distributed.user_block` over the sorted
user vocabulary), with a filter pushed down to ``pyarrow.dataset`` (row groups and files
whose min/max statistics lie outside the rank's id range are skipped). The id maps are
built once: rank 0 scans only the two id columns (:func:`build_vocabulary`, batch by batch)
and broadcasts them, or every rank loads a file written by :func:`save_vocabulary`.

Every rank's :class:`~recneg.data.Interactions` has the GLOBAL shape (n_users, n_items)
and the global ``user_ids``/``item_ids`` (indices mean the same on every rank), with
non-zero rows only for its users; ``meta["user_block"]`` is its ``(start, stop)`` and
``meta["rows_read"]`` the number of parquet rows it materialised. The sum over ranks of
their matrices is the single-process ``Interactions.from_dataframe`` of the whole table.

pyarrow is optional: ``pip install 'recneg[parquet]'``.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .interactions import Interactions

__all__ = ["Vocabulary", "build_vocabulary", "save_vocabulary", "load_vocabulary", "read_parquet_partition"]

log = logging.getLogger(__name__)


def _pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.compute as pc
        import pyarrow.dataset as ds
    except ImportError:
        raise ImportError("reading parquet needs pyarrow: pip install 'recneg[parquet]'") from None
    return ds, pc


@dataclass(frozen=True)
class Vocabulary:
    """The global id maps: ``user_ids`` (n_users,) and ``item_ids`` (n_items,), sorted unique ids
    (index -> id, as :meth:`Interactions.from_dataframe` orders them; strings as object arrays)."""

    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocabulary) and np.array_equal(self.user_ids, other.user_ids)
                and np.array_equal(self.item_ids, other.item_ids))


def _dataset(source: Any, columns: list[str | None]):
    ds, _ = _pyarrow()
    dataset = source if isinstance(source, ds.Dataset) else ds.dataset(source, format="parquet", partitioning="hive")
    names = dataset.schema.names
    for arg, col in zip(("user_col", "item_col", "weight_col", "time_col"), columns):
        if col is not None and col not in names:
            raise KeyError(f"{arg}={col!r} is not a column of the parquet dataset {source!r}; columns are {names}")
    return dataset


def _sorted_ids(chunks: list) -> np.ndarray:
    import pyarrow as pa

    _, pc = _pyarrow()
    u = pc.unique(pa.chunked_array(chunks)) if chunks else pa.array([])
    if u.null_count:
        raise ValueError("the parquet id column has missing (null) ids; drop or fill those rows first")
    arr = np.asarray(u.to_numpy(zero_copy_only=False))
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    try:
        return np.asarray(pd.Index(arr).sort_values())
    except TypeError:
        return arr


def build_vocabulary(source: Any, user_col: str, item_col: str) -> Vocabulary:
    """Scan only the id columns of a parquet dataset (path, list of files or ``pyarrow.dataset``),
    batch by batch, and return the sorted unique user and item ids."""
    _, pc = _pyarrow()
    dataset = _dataset(source, [user_col, item_col])
    users: list = []
    items: list = []
    for batch in dataset.to_batches(columns=[user_col, item_col]):
        users.append(pc.unique(batch.column(0)))
        items.append(pc.unique(batch.column(1)))
        if len(users) >= 64:  # keep the pending uniques small
            users, items = [pc.unique(_chunked(users))], [pc.unique(_chunked(items))]
    return Vocabulary(_sorted_ids(users), _sorted_ids(items))


def _chunked(parts: list):
    import pyarrow as pa

    return pa.chunked_array(parts)


def save_vocabulary(vocab: Vocabulary, path: str | os.PathLike) -> None:
    """Write ``vocab`` to ``path`` (.npz, no pickle) atomically: a temporary file in the same folder,
    fsynced, then renamed over ``path`` (readers see the old file or the new one, never half)."""
    path = Path(path)
    arrays = {}
    for name, ids in (("user_ids", vocab.user_ids), ("item_ids", vocab.item_ids)):
        ids = np.asarray(ids)
        if ids.dtype == object:
            if not all(isinstance(x, str) for x in ids):
                raise TypeError(f"save_vocabulary: {name} must be numbers or strings to be saved without pickle")
            ids = ids.astype(str)
        arrays[name] = ids
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_vocabulary(path: str | os.PathLike) -> Vocabulary:
    """Read a vocabulary written by :func:`save_vocabulary`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            u, i = z["user_ids"], z["item_ids"]
    except FileNotFoundError:
        raise FileNotFoundError(f"vocabulary file {str(path)!r} does not exist; write it with "
                                "save_vocabulary(build_vocabulary(...), path) or pass vocabulary=None") from None
    except KeyError as e:
        raise ValueError(f"{str(path)!r} is not a recneg vocabulary (missing {e}); write it with save_vocabulary") from None
    return Vocabulary(u.astype(object) if u.dtype.kind == "U" else u, i.astype(object) if i.dtype.kind == "U" else i)


def _scan(dataset, columns: list[str], filter) -> Any:
    """The one place rows are materialised (a pushed-down filter; tests wrap it to watch the reads)."""
    return dataset.to_table(columns=columns, filter=filter)


def read_parquet_partition(
    source: Any,
    user_col: str = "user",
    item_col: str = "item",
    *,
    weight_col: str | None = None,
    time_col: str | None = None,
    vocabulary: Vocabulary | str | os.PathLike | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    binarize: bool = False,
    duplicates: str = "sum",
) -> Interactions:
    """This rank's users' interactions from a parquet dataset, in the global index space.

    Args:
        source: a parquet file, a folder of them (hive partitions allowed), a list of files or a
            ``pyarrow.dataset.Dataset``.
        user_col, item_col, weight_col, time_col: column names (as in ``Interactions.from_dataframe``).
        vocabulary: a :class:`Vocabulary`, the path of one saved by :func:`save_vocabulary`, or None:
            built by :func:`build_vocabulary` on rank 0 and broadcast (in a process group), or built
            here (no group). It must hold every id of the dataset.
        rank, world_size: the partition (default: :func:`recneg.distributed.info`). The rank reads
            the users of ``user_block(n_users, rank, world_size)`` only.
        binarize, duplicates: as in ``Interactions.from_dataframe``.

    Returns:
        :class:`Interactions` of shape (vocabulary.n_users, vocabulary.n_items) with rows only for
        this rank's users; ``meta``: ``user_block`` (start, stop), ``rank``, ``world_size``, ``rows_read``.
    """
    from recneg import distributed as dist_mod

    ds, _ = _pyarrow()
    dataset = _dataset(source, [user_col, item_col, weight_col, time_col])
    di = dist_mod.info()
    if (rank is None) != (world_size is None):
        raise ValueError("pass both rank and world_size, or neither (then the process group decides)")
    if rank is None:
        rank, world_size = di.rank, di.world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
    if vocabulary is None:
        if di.is_distributed:
            vocabulary = dist_mod.broadcast_object(build_vocabulary(dataset, user_col, item_col) if di.is_main else None)
        else:
            vocabulary = build_vocabulary(dataset, user_col, item_col)
    elif not isinstance(vocabulary, Vocabulary):
        vocabulary = load_vocabulary(vocabulary)
    uids = vocabulary.user_ids
    start, stop = dist_mod.user_block(vocabulary.n_users, rank, world_size)
    f = ds.field(user_col)
    flt = None
    if start < stop:
        # the block is a contiguous range of sorted ids: a range filter lets parquet statistics skip
        # files/row groups. The first and last ranks take everything below/above so that every row is
        # read by exactly one rank and ids missing from the vocabulary are reported, not dropped.
        lo, hi = uids[start], uids[stop - 1]
        flt = None if world_size == 1 else (f <= hi if rank == 0 else f >= lo if rank == world_size - 1
                                            else (f >= lo) & (f <= hi))
        if rank == 0 and flt is not None:
            flt = flt | f.is_null()
    cols = [c for c in (user_col, item_col, weight_col, time_col) if c is not None]
    table = _scan(dataset, cols, flt) if start < stop else None  # no user: read nothing
    n_rows = 0 if table is None else table.num_rows
    meta = {"user_block": (start, stop), "rank": rank, "world_size": world_size, "rows_read": n_rows}
    log.info("rank %d of %d: users [%d, %d) of %d, %d parquet rows", rank, world_size, start, stop,
             vocabulary.n_users, n_rows)
    if n_rows == 0:
        csr = sp.csr_matrix((vocabulary.n_users, vocabulary.n_items), dtype=np.float32)
        out = Interactions(csr, vocabulary.user_ids, vocabulary.item_ids,
                           np.zeros(0, dtype=np.int64) if time_col is not None else None)
    else:
        df = table.to_pandas()
        try:
            out = Interactions.from_dataframe(df, user_col, item_col, weight_col, time_col, binarize=binarize,
                                              duplicates=duplicates, user_ids=vocabulary.user_ids,
                                              item_ids=vocabulary.item_ids)
        except ValueError as e:
            if "is not in" in str(e):
                raise ValueError(f"vocabulary mismatch: {e}. The vocabulary does not belong to this dataset; "
                                 "rebuild it with build_vocabulary(source, ...) (or pass vocabulary=None)") from None
            raise
    out.meta.update(meta)
    return out
