"""The Interactions object: a user x item CSR matrix plus id maps, timestamps and helpers.

Every model, sampler and evaluator in recneg takes an :class:`Interactions`.

Duplicate (user, item) rows are merged: weights are combined by ``duplicates``
("sum" by default, or "max", "first", "last" in input order) and the pair keeps its
**latest** timestamp. Explicit zero weights are dropped. ``binarize=True`` sets every
stored weight to 1.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Hashable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._io import atomic_savez, load_npz, pack_ids, strings_to_object_array, unpack_ids

logger = logging.getLogger(__name__)

_DUP_RULES = ("sum", "max", "first", "last")


def _as_index_array(ids: Any) -> np.ndarray:
    """Original ids as an array: numbers keep their dtype; strings become an object array of ``str``
    (as pandas stores them), never a fixed-width ``<U`` array that pads every id to the longest one."""
    if isinstance(ids, (list, tuple)) and ids and all(isinstance(x, str) for x in ids):
        return strings_to_object_array(ids)  # np.asarray would build a <U copy first
    arr = np.asarray(ids)
    return strings_to_object_array(arr) if arr.dtype.kind == "U" else arr


def _merge_sorted(
    u: np.ndarray,
    i: np.ndarray,
    w: np.ndarray,
    t: np.ndarray | None,
    n_items: int,
    duplicates: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Sort events by (user, item), merge duplicates. Returns (u, i, w, t) unique pairs."""
    key = u.astype(np.int64) * np.int64(n_items) + i.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    if key.size and np.all(key[1:] != key[:-1]):
        return u[order], i[order], w[order], (t[order] if t is not None else None)
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ws = w[order]
    if duplicates == "sum":
        wm = np.add.reduceat(ws, start)
    elif duplicates == "max":
        wm = np.maximum.reduceat(ws, start)
    elif duplicates == "first":
        wm = ws[start]
    else:  # last
        end = np.r_[start[1:], key.size] - 1
        wm = ws[end]
    tm = np.maximum.reduceat(t[order], start) if t is not None else None
    return u[order][start], i[order][start], wm.astype(np.float32), tm


class Interactions:
    """User x item interactions.

    Attributes:
        csr: ``scipy.sparse.csr_matrix`` float32 of shape (n_users, n_items) with
            sorted indices and no duplicates.
        user_ids: original user ids, array (n_users,) (index -> id); string ids are an object
            array of ``str`` (as in pandas), numeric ids keep their dtype.
        item_ids: original item ids, array (n_items,), stored the same way.
        timestamps: float64 or int64 array aligned with ``csr.data`` (nnz,), or None.
        meta: free-form dict (e.g. split statistics).
    """

    def __init__(
        self,
        csr: sp.csr_matrix,
        user_ids: Any = None,
        item_ids: Any = None,
        timestamps: np.ndarray | None = None,
        meta: dict | None = None,
    ) -> None:
        if not sp.isspmatrix_csr(csr) and not isinstance(csr, sp.csr_array):
            raise TypeError("csr must be a scipy.sparse CSR matrix; use Interactions.from_sparse for other formats")
        csr = sp.csr_matrix(csr, dtype=np.float32)
        if not csr.has_sorted_indices:
            raise ValueError("csr must have sorted indices; use Interactions.from_sparse to canonicalise it")
        self.csr = csr
        n_users, n_items = csr.shape
        self.user_ids = _as_index_array(np.arange(n_users) if user_ids is None else user_ids)
        self.item_ids = _as_index_array(np.arange(n_items) if item_ids is None else item_ids)
        if self.user_ids.shape != (n_users,):
            raise ValueError(f"user_ids must have length n_users={n_users}, got {self.user_ids.shape}")
        if self.item_ids.shape != (n_items,):
            raise ValueError(f"item_ids must have length n_items={n_items}, got {self.item_ids.shape}")
        if timestamps is not None:
            timestamps = np.asarray(timestamps)
            if timestamps.shape != (csr.nnz,):
                raise ValueError(f"timestamps must have one entry per stored interaction ({csr.nnz}), got {timestamps.shape}")
        self.timestamps = timestamps
        self.meta: dict = dict(meta or {})
        self._csc: sp.csc_matrix | None = None
        self._indptr64: np.ndarray | None = None
        self._indices32: np.ndarray | None = None
        self._user_index: pd.Index | None = None
        self._item_index: pd.Index | None = None

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        user_col: str = "user",
        item_col: str = "item",
        weight_col: str | None = None,
        time_col: str | None = None,
        binarize: bool = False,
        duplicates: str = "sum",
        user_ids: Sequence[Hashable] | None = None,
        item_ids: Sequence[Hashable] | None = None,
    ) -> "Interactions":
        """Build from a DataFrame of (user, item[, weight, timestamp]) rows.

        Ids may be of any hashable dtype; they are mapped to contiguous indices in
        sorted order (insertion order if unsortable). Pass ``user_ids``/``item_ids`` to
        fix the index space (e.g. to share it with another Interactions); rows with ids
        outside it raise.

        Args:
            df: the interactions, one row per event.
            weight_col: optional non-negative weights (default 1 per row).
            time_col: optional timestamps (numeric or datetime64; stored as int64/float64).
            binarize: store 1.0 for every pair.
            duplicates: how repeated (user, item) rows combine: "sum", "max", "first", "last".
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if duplicates not in _DUP_RULES:
            raise ValueError(f"duplicates must be one of {_DUP_RULES}, got {duplicates!r}")
        for arg, col in (("user_col", user_col), ("item_col", item_col), ("weight_col", weight_col), ("time_col", time_col)):
            if col is not None and col not in df.columns:
                raise KeyError(f"{arg}={col!r} is not a column of df; columns are {list(df.columns)}")
        if len(df) == 0:
            raise ValueError("df is empty: need at least one interaction")
        for arg, col in (("user_col", user_col), ("item_col", item_col)):
            if df[col].isna().any():
                raise ValueError(f"column {col!r} ({arg}) has missing ids; drop or fill those rows first")
        u_codes, u_uniques = cls._codes(df[user_col], user_ids, "user_ids", user_col)
        i_codes, i_uniques = cls._codes(df[item_col], item_ids, "item_ids", item_col)
        if weight_col is not None:
            w = pd.to_numeric(df[weight_col], errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
            if np.isnan(w).any():
                raise ValueError(f"weight column {weight_col!r} has NaN or non-numeric values; clean it before building")
            if np.isinf(w).any():
                raise ValueError(f"weight column {weight_col!r} has infinite values")
            if (w < 0).any():
                raise ValueError(f"weight column {weight_col!r} has negative values; weights must be >= 0")
        else:
            w = np.ones(len(df), dtype=np.float32)
        t = None
        if time_col is not None:
            tc = df[time_col]
            if pd.api.types.is_datetime64_any_dtype(tc):
                if tc.isna().any():
                    raise ValueError(f"time column {time_col!r} has missing timestamps")
                t = tc.to_numpy().astype("datetime64[ns]").astype(np.int64)
            else:
                t = pd.to_numeric(tc, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                if np.isnan(t).any():
                    raise ValueError(f"time column {time_col!r} has missing or non-numeric timestamps")
                if np.all(t == np.round(t)) and np.abs(t).max() < 2**62:
                    t = t.astype(np.int64)
        return cls.from_arrays(
            u_codes, i_codes, w, t, n_users=len(u_uniques), n_items=len(i_uniques),
            user_ids=u_uniques, item_ids=i_uniques, binarize=binarize, duplicates=duplicates,
        )

    @staticmethod
    def _codes(col: pd.Series, fixed: Sequence[Hashable] | None, arg: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        if fixed is not None:
            index = pd.Index(fixed)
            codes = index.get_indexer(col)
            if (codes < 0).any():
                bad = col.iloc[int(np.flatnonzero(codes < 0)[0])]
                raise ValueError(f"column {name!r} has id {bad!r} that is not in {arg}; extend {arg} or drop the row")
            return codes.astype(np.int32), np.asarray(index)
        try:
            codes, uniques = pd.factorize(col, sort=True)
        except TypeError:
            codes, uniques = pd.factorize(col, sort=False)
        return codes.astype(np.int32), np.asarray(uniques)

    @classmethod
    def from_arrays(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        weights: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
        n_users: int | None = None,
        n_items: int | None = None,
        user_ids: Any = None,
        item_ids: Any = None,
        binarize: bool = False,
        duplicates: str = "sum",
    ) -> "Interactions":
        """Build from parallel index arrays (users[k], items[k]) of 0-based int indices."""
        u = np.asarray(users)
        i = np.asarray(items)
        if u.ndim != 1 or i.shape != u.shape:
            raise ValueError(f"users and items must be 1-D arrays of equal length, got {u.shape} and {i.shape}")
        if u.size == 0:
            raise ValueError("no interactions given: users/items are empty")
        for name, a in (("users", u), ("items", i)):
            if not np.issubdtype(a.dtype, np.integer):
                raise TypeError(f"{name} must hold integer indices, got dtype {a.dtype}")
            if a.min() < 0:
                raise ValueError(f"{name} has negative indices (min {a.min()}); indices must be >= 0")
        n_users = int(u.max()) + 1 if n_users is None else int(n_users)
        n_items = int(i.max()) + 1 if n_items is None else int(n_items)
        if u.max() >= n_users:
            raise ValueError(f"users has index {u.max()} out of range for n_users={n_users}")
        if i.max() >= n_items:
            raise ValueError(f"items has index {i.max()} out of range for n_items={n_items}")
        w = np.ones(u.size, dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        if w.shape != u.shape:
            raise ValueError(f"weights must match users in length, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights contain NaN or inf; clean them first")
        if (w < 0).any():
            raise ValueError("weights contain negative values; weights must be >= 0")
        t = None if timestamps is None else np.asarray(timestamps)
        if t is not None and t.shape != u.shape:
            raise ValueError(f"timestamps must match users in length, got {t.shape}")
        u, i, w, t = _merge_sorted(u, i, w, t, n_items, duplicates)
        nz = w != 0
        if not nz.all():
            u, i, w = u[nz], i[nz], w[nz]
            t = t[nz] if t is not None else None
        if binarize:
            w = np.ones_like(w)
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=n_users), out=indptr[1:])
        csr = sp.csr_matrix((w.astype(np.float32), i.astype(np.int32), indptr), shape=(n_users, n_items))
        csr.has_sorted_indices = True
        return cls(csr, user_ids, item_ids, t)

    @classmethod
    def from_sparse(cls, matrix: Any, user_ids: Any = None, item_ids: Any = None, binarize: bool = False) -> "Interactions":
        """Build from any scipy sparse matrix (users x items), or a dense 2-D array.

        Duplicates are summed, explicit zeros dropped, indices sorted.
        """
        if isinstance(matrix, Interactions):
            return matrix
        if sp.issparse(matrix):
            m = matrix
        elif isinstance(matrix, np.ndarray):
            if matrix.ndim != 2:
                raise ValueError(f"matrix must be 2-D (users x items), got {matrix.ndim}-D")
            m = sp.csr_matrix(matrix)
        else:
            raise TypeError(
                f"matrix must be a scipy.sparse matrix (users x items), got {type(matrix).__name__}; "
                "convert with scipy.sparse.csr_matrix(...)"
            )
        if m.ndim != 2:
            raise ValueError(f"matrix must be 2-D (users x items), got {m.ndim}-D")
        m = sp.csr_matrix(m, dtype=np.float32, copy=True)
        if m.nnz and not np.all(np.isfinite(m.data)):
            raise ValueError("matrix contains NaN or inf values; clean them first")
        if m.nnz and (m.data < 0).any():
            raise ValueError("matrix contains negative values; interaction weights must be >= 0")
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
        if binarize:
            m.data[:] = 1.0
        return cls(m, user_ids, item_ids)

    @classmethod
    def from_lightgcn(cls, path: str | os.PathLike) -> tuple["Interactions", "Interactions"]:
        """Read a LightGCN-format folder (train.txt, test.txt). Returns (train, test)."""
        from ._lightgcn import read_lightgcn

        return read_lightgcn(path)

    # ------------------------------------------------------------------ views
    @property
    def shape(self) -> tuple[int, int]:
        return self.csr.shape

    @property
    def n_users(self) -> int:
        return self.csr.shape[0]

    @property
    def n_items(self) -> int:
        return self.csr.shape[1]

    @property
    def nnz(self) -> int:
        return self.csr.nnz

    @property
    def indptr(self) -> np.ndarray:
        """int64 (n_users + 1,) CSR row pointers (a cached int64 view of ``csr.indptr``).

        ``csr`` itself keeps scipy's own index dtypes (indptr and indices alike), which
        scipy needs for ``nonzero()``, ``tocoo()`` and friends.
        """
        ip = self.csr.indptr
        if ip.dtype == np.int64:
            return ip
        if self._indptr64 is None or self._indptr64.shape != ip.shape:
            self._indptr64 = ip.astype(np.int64)
        return self._indptr64

    @property
    def indices(self) -> np.ndarray:
        """int32 (nnz,) item index of each stored interaction, sorted within each user."""
        ix = self.csr.indices
        if ix.dtype == np.int32:
            return ix
        if self._indices32 is None or self._indices32.shape != ix.shape:
            self._indices32 = ix.astype(np.int32)
        return self._indices32

    @property
    def csc(self) -> sp.csc_matrix:
        """The same matrix in CSC (item-major) format, cached."""
        if self._csc is None:
            self._csc = self.csr.tocsc()
        return self._csc

    @property
    def T(self) -> sp.csr_matrix:
        """item x user CSR (the transpose)."""
        c = self.csc
        return sp.csr_matrix((c.data, c.indices, c.indptr), shape=(self.n_items, self.n_users))

    @property
    def item_counts(self) -> np.ndarray:
        """int64 (n_items,): number of users who interacted with each item."""
        return np.bincount(self.indices, minlength=self.n_items).astype(np.int64)

    @property
    def user_counts(self) -> np.ndarray:
        """int64 (n_users,): number of items per user."""
        return np.diff(self.indptr).astype(np.int64)

    @property
    def user_index_of_nnz(self) -> np.ndarray:
        """int32 (nnz,): the user index of each stored interaction (CSR order)."""
        return np.repeat(np.arange(self.n_users, dtype=np.int32), np.diff(self.indptr))

    def user_items(self, user: int) -> np.ndarray:
        """Sorted int32 item indices of one user."""
        self._check_user(user)
        return self.indices[self.indptr[user] : self.indptr[user + 1]]

    def _check_user(self, user: int) -> None:
        if not (0 <= int(user) < self.n_users):
            raise IndexError(f"user index {user} out of range [0, {self.n_users})")

    def user_index(self, ids: Any) -> np.ndarray:
        """Map original user ids to indices (KeyError for unknown ids)."""
        if self._user_index is None:
            self._user_index = pd.Index(self.user_ids)
        return self._lookup(self._user_index, ids, "user")

    def item_index(self, ids: Any) -> np.ndarray:
        """Map original item ids to indices (KeyError for unknown ids)."""
        if self._item_index is None:
            self._item_index = pd.Index(self.item_ids)
        return self._lookup(self._item_index, ids, "item")

    @staticmethod
    def _lookup(index: pd.Index, ids: Any, what: str) -> np.ndarray:
        scalar = np.ndim(ids) == 0
        arr = [ids] if scalar else list(ids)
        codes = index.get_indexer(arr)
        if (codes < 0).any():
            raise KeyError(f"unknown {what} id {arr[int(np.flatnonzero(codes < 0)[0])]!r}")
        return codes[0] if scalar else codes

    def sequences(self, session_gap: float | None = None, min_length: int = 1,
                  return_users: bool = False) -> "list[np.ndarray] | tuple[list[np.ndarray], np.ndarray]":
        """Per-user item sequences ordered by timestamp (CSR item order without timestamps).

        Args:
            session_gap: when set (same unit as the timestamps), a user's history is cut
                wherever two consecutive events are more than ``session_gap`` apart, and
                each session is its own sequence.
            min_length: drop sequences shorter than this.
            return_users: also return the user index of each sequence.

        Returns:
            list of int32 arrays of item indices. Ties in time keep item-index order. With
            ``return_users``: (that list, int64 (n_sequences,) user of each sequence).
        """
        indptr = self.indptr
        if self.timestamps is None:
            if session_gap is not None:
                raise ValueError("session_gap needs timestamps; build the Interactions with time_col=...")
            order = np.arange(self.nnz)
        else:
            uidx = self.user_index_of_nnz
            order = np.lexsort((self.indices, self.timestamps, uidx))
        items = self.indices[order]
        bounds = indptr
        if session_gap is not None:
            ts = self.timestamps[order]
            cut = np.zeros(self.nnz, dtype=bool)
            cut[indptr[:-1][np.diff(indptr) > 0]] = True
            cut[1:] |= np.diff(ts.astype(np.float64)) > session_gap
            starts = np.flatnonzero(cut)
            bounds = np.r_[starts, self.nnz]
        out = np.split(items, bounds[1:-1])
        if not return_users:
            return [s for s in out if s.size >= min_length]
        if session_gap is None:
            owner = np.arange(len(out), dtype=np.int64)
        else:
            owner = self.user_index_of_nnz[order][bounds[:-1]].astype(np.int64)
        keep = [i for i, s in enumerate(out) if s.size >= min_length]
        return [out[i] for i in keep], owner[np.asarray(keep, dtype=np.int64)]

    # ------------------------------------------------------------------ transforms
    def _subset_pairs(self, keep: np.ndarray, meta: dict | None = None) -> "Interactions":
        """Same index space, only the stored pairs where ``keep`` (nnz,) is True."""
        u = self.user_index_of_nnz[keep]
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=self.n_users), out=indptr[1:])
        csr = sp.csr_matrix((self.csr.data[keep], self.indices[keep], indptr), shape=self.shape)
        csr.has_sorted_indices = True
        ts = self.timestamps[keep] if self.timestamps is not None else None
        return Interactions(csr, self.user_ids, self.item_ids, ts, meta)

    def k_core(self, min_user_interactions: int = 1, min_item_interactions: int = 1) -> "Interactions":
        """Iteratively drop users/items with fewer interactions than the thresholds.

        Returns a new, re-indexed Interactions (original ids are kept in the id maps).
        """
        if min_user_interactions < 1 or min_item_interactions < 1:
            raise ValueError("k-core thresholds must be >= 1")
        keep_u = np.ones(self.n_users, dtype=bool)
        keep_i = np.ones(self.n_items, dtype=bool)
        m = self.csr.copy()
        m.data[:] = 1.0
        while True:
            uc = np.asarray(m.sum(axis=1)).ravel()
            ic = np.asarray(m.sum(axis=0)).ravel()
            new_u = keep_u & (uc >= min_user_interactions)
            new_i = keep_i & (ic >= min_item_interactions)
            if (new_u == keep_u).all() and (new_i == keep_i).all():
                break
            keep_u, keep_i = new_u, new_i
            m = sp.diags(keep_u.astype(np.float32)) @ m @ sp.diags(keep_i.astype(np.float32))
            m.eliminate_zeros()
        if not keep_u.any() or not keep_i.any():
            raise ValueError("k-core filtering removed every interaction; lower the thresholds")
        ui = np.flatnonzero(keep_u)
        ii = np.flatnonzero(keep_i)
        sub = self.csr[ui][:, ii]
        if self.timestamps is not None:
            tmat = sp.csr_matrix((np.arange(self.nnz, dtype=np.float64) + 1, self.indices, self.indptr), shape=self.shape)
            tsub = tmat[ui][:, ii]
            tsub.sort_indices()
            ts = self.timestamps[(tsub.data - 1).astype(np.int64)]
        else:
            ts = None
        sub.sort_indices()
        return Interactions(sp.csr_matrix(sub), self.user_ids[ui], self.item_ids[ii], ts)

    # ------------------------------------------------------------------ io
    def save(self, path: str | os.PathLike) -> None:
        """Save to an ``.npz`` file atomically (temp file, then rename); string ids are stored as UTF-8
        bytes plus offsets (:func:`recneg._io.pack_ids`), never pickled."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = dict(
            data=self.csr.data, indices=self.indices, indptr=self.indptr, shape=np.array(self.shape, dtype=np.int64),
            **pack_ids("user_ids", self.user_ids), **pack_ids("item_ids", self.item_ids),
        )
        if self.timestamps is not None:
            arrays["timestamps"] = self.timestamps
        atomic_savez(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Interactions":
        """Load a file written by :meth:`save` (clear ``ValueError`` naming the file if it is not one)."""
        z = load_npz(path, "Interactions", required=("data", "indices", "indptr", "shape"))
        user_ids = unpack_ids(z, "user_ids", path, "Interactions")
        item_ids = unpack_ids(z, "item_ids", path, "Interactions")
        try:
            csr = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(int(n) for n in z["shape"]))
            csr.check_format(full_check=True)
            csr.has_sorted_indices = True
            return cls(csr, user_ids, item_ids, z.get("timestamps"))
        except (TypeError, ValueError) as e:
            msg = " ".join(str(e).split())
            raise ValueError(
                f"{path} is not a valid recneg Interactions file: its arrays are inconsistent ({msg})"
            ) from None

    def to_dataframe(self) -> pd.DataFrame:
        """One row per stored pair: user, item (original ids), weight[, timestamp]."""
        df = pd.DataFrame(
            {"user": self.user_ids[self.user_index_of_nnz], "item": self.item_ids[self.indices], "weight": self.csr.data}
        )
        if self.timestamps is not None:
            df["timestamp"] = self.timestamps
        return df

    def __len__(self) -> int:
        return self.nnz

    def __repr__(self) -> str:
        density = self.nnz / max(1, self.n_users * self.n_items)
        ts = ", timestamps" if self.timestamps is not None else ""
        return f"Interactions(n_users={self.n_users:,}, n_items={self.n_items:,}, nnz={self.nnz:,}, density={density:.4%}{ts})"


def as_interactions(x: Any, name: str = "user_items") -> Interactions:
    """Coerce an Interactions or scipy sparse matrix to Interactions (clear error otherwise)."""
    if isinstance(x, Interactions):
        return x
    if sp.issparse(x):
        return Interactions.from_sparse(x)
    raise TypeError(
        f"{name} must be a recneg Interactions or a scipy.sparse matrix (users x items), got {type(x).__name__}"
    )


def as_csr(x: Any, name: str = "user_items", binary: bool = False) -> sp.csr_matrix:
    """The one conversion every layer uses: users x items CSR with sorted indices, merged duplicates
    and no explicit zeros; its index arrays keep one dtype, as scipy chose it (mixed dtypes break
    ``tocoo``/``nonzero``; kernels cast what they need).

    Args:
        x: a :class:`Interactions` (anything with a ``.csr``) or a 2-D scipy sparse matrix/array.
        name: the argument's name in error messages.
        binary: every stored value becomes 1.0 (float32); negative values are refused.

    Raises:
        TypeError for dense or other input (naming ``name`` and the fix); ValueError for a non-2-D or
        empty shape, or negative values with ``binary``.
    """
    m = x.csr if hasattr(x, "csr") and not sp.issparse(x) else x
    if not sp.issparse(m):
        dense = isinstance(m, np.ndarray) or hasattr(m, "__array__")
        raise TypeError(
            f"{name} must be a recneg Interactions or a scipy.sparse matrix (users x items), got "
            f"{'a dense ' if dense else ''}{type(x).__name__}" + ("; wrap it with scipy.sparse.csr_matrix(...)" if dense else ""))
    if m.ndim != 2:
        raise ValueError(f"{name} must be 2-D (users x items), got shape {m.shape}")
    if m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"{name} has shape {m.shape}: need at least one user and one item")
    m = sp.csr_matrix(m, copy=True)
    m.sum_duplicates()
    if binary and m.data.size and (m.data < 0).any():
        raise ValueError(f"{name} contains negative values; give implicit feedback (counts/weights >= 0)")
    m.eliminate_zeros()
    m.sort_indices()
    if binary:
        m.data = np.ones(m.nnz, dtype=np.float32)
    return m
