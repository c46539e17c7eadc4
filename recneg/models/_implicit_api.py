"""implicit's recommender API on recneg's models: the argument rules and top-N helpers that
:class:`~recneg.models.mf.MatrixFactorization` and :class:`~recneg.models.item2vec.Item2Vec` share.

The rules are those of implicit 0.7's ``RecommenderBase`` / ``MatrixFactorizationBase``:

* ``recommend(userid, user_items, N, filter_already_liked_items, filter_items, recalculate_user, items)``:
  ``user_items`` must be CSR (a CSC/COO matrix raises ValueError) with one row per requested user
  whenever it is used (to filter liked items or to recalculate the user); ``items`` ranks only those
  items (out-of-range ids raise IndexError) and cannot be combined with ``filter_items``.
* ``similar_items(itemid, N, recalculate_item, item_users, filter_items, items)`` and
  ``similar_users(userid, N, filter_users, users)``: cosine similarity; ``item_users`` is only read
  with ``recalculate_item=True``. The query itself is ranked first (see :func:`cosine_top_n`).
* ``fit`` warns with a :class:`ParameterWarning` when given a sparse matrix that is not CSR (it is
  converted), as implicit's ``check_csr`` does.
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._topn import top_n

__all__ = ["ParameterWarning", "warn_if_not_csr", "query_rows", "candidate_ids", "check_filter", "rank_top_n",
           "mask_rows", "cosine_top_n", "check_query_ids"]


class ParameterWarning(UserWarning):
    """A model was given input it converts (e.g. a COO matrix to CSR): implicit's warning of the same name.

    When implicit is imported, recneg warns with a subclass of both this class and
    ``implicit.utils.ParameterWarning``, so filters written for either catch it."""


_BOTH: dict[type, type] = {}


def parameter_warning() -> type[Warning]:
    """:class:`ParameterWarning`, or (implicit imported) a subclass of it and of implicit's own."""
    theirs = getattr(sys.modules.get("implicit.utils"), "ParameterWarning", None)
    if not (isinstance(theirs, type) and issubclass(theirs, Warning)):
        return ParameterWarning
    both = _BOTH.get(theirs)
    if both is None:
        both = _BOTH[theirs] = type("ParameterWarning", (ParameterWarning, theirs),
                                    {"__module__": __name__, "__doc__": ParameterWarning.__doc__})
    return both


def warn_if_not_csr(user_items: Any, name: str = "user_items", stacklevel: int = 3) -> None:
    """Warn (:func:`parameter_warning`) when ``user_items`` is a scipy sparse matrix in another format than CSR."""
    if sp.issparse(user_items) and user_items.format != "csr":
        warnings.warn(f"{name} is a {type(user_items).__name__}; it is converted to CSR (a copy): pass a "
                      f"scipy.sparse.csr_matrix to avoid the conversion", parameter_warning(), stacklevel=stacklevel)


def file_name(file: Any) -> str:
    """How messages name a path or an open file object."""
    if hasattr(file, "read") or hasattr(file, "write"):
        name = getattr(file, "name", None)
        return name if isinstance(name, str) else "<file object>"
    return str(os.fspath(file))


def check_query_ids(ids: Any, n: int | None, name: str) -> tuple[bool, np.ndarray]:
    """``(scalar, int64 ids)`` for an int or an int array; ``n`` given: values must lie in [0, n) (ValueError)."""
    scalar = np.ndim(ids) == 0
    arr = np.atleast_1d(np.asarray(ids))
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"{name} must be an int or a 1-D int array, got dtype {arr.dtype} shape {np.shape(ids)}")
    arr = arr.astype(np.int64)
    if n is not None and arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} out of range [0, {n}); got values in [{arr.min()}, {arr.max()}]")
    return scalar, arr


def query_rows(matrix: Any, ids: np.ndarray, scalar: bool, n_cols: int, *, name: str = "user_items",
               what: str = "user", n_full: int | None = None) -> sp.csr_matrix:
    """The CSR rows of ``matrix`` for the query ``ids``: implicit's rule, one row per queried id.

    ``n_full`` (an array query only): also accept the full matrix of ``n_full`` rows (``-1``: any number of
    rows), whose rows are then picked by ``ids`` (recneg's convenience for batches). A scalar query always
    needs exactly one row, as in implicit.

    Raises:
        ValueError: ``matrix`` is None, a scipy matrix in another format than CSR (CSC, COO, ...), has the
            wrong number of columns or rows. TypeError: not a scipy sparse matrix or an Interactions.
    """
    if matrix is None:
        raise ValueError(f"{name} is needed here (CSR of the {what}s' items, one row per {what} in the query)")
    m = matrix.csr if hasattr(matrix, "csr") and not sp.issparse(matrix) else matrix
    if not sp.issparse(m):
        raise TypeError(f"{name} must be a scipy.sparse CSR matrix (one row per {what}) or an Interactions, got "
                        f"{type(matrix).__name__}")
    if m.format != "csr":
        raise ValueError(f"{name} needs to be a CSR sparse matrix, got a {type(m).__name__} (implicit's rule): "
                         f"pass {name}.tocsr()")
    if m.ndim != 2 or m.shape[1] != n_cols:
        raise ValueError(f"{name} has {m.shape[-1]} columns but the model has {n_cols} "
                         f"{'items' if what == 'user' else 'users'}")
    if m.shape[0] == ids.size:
        rows = m
    elif not scalar and n_full is not None and (m.shape[0] == n_full or (n_full < 0 and ids.size and m.shape[0] > ids.max())):
        rows = m[ids]
    else:
        need = f"1 row for every {what} in {what}id ({ids.size})"
        if not scalar and n_full is not None:
            need += f" or the full matrix ({n_full} rows)" if n_full >= 0 else " or the full matrix"
        raise ValueError(f"{name} has {m.shape[0]} rows; it must contain {need}"
                         + (f": pass {name}[{what}id]" if scalar else ""))
    rows = sp.csr_matrix(rows, copy=True)
    rows.sum_duplicates()
    rows.eliminate_zeros()
    return rows


def candidate_ids(items: Any, exclude: Any, n: int, name: str = "items", exclude_name: str = "filter_items"
                  ) -> np.ndarray | None:
    """``items`` (the only ids to rank) as a sorted unique int64 array, or None.

    Raises:
        ValueError: both ``items`` and ``exclude`` given, or ``items`` empty. IndexError: an id outside [0, n)
        (implicit's error). TypeError: not integers.
    """
    if items is None:
        return None
    if exclude is not None and np.size(exclude):
        raise ValueError(f"Can't set both {name} and {exclude_name}: drop the {exclude_name} from {name} instead")
    arr = np.asarray(items)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"{name} must be a 1-D array of int ids, got dtype {arr.dtype} shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: give at least one id to rank")
    if arr.min() < 0 or arr.max() >= n:
        raise IndexError(f"Some ids in the {name} parameter are not in the model: they must lie in [0, {n}), got "
                         f"values in [{arr.min()}, {arr.max()}]")
    return np.unique(arr.astype(np.int64))


def check_filter(ids: Any, n: int, name: str = "filter_items") -> np.ndarray | None:
    """``ids`` never to return, as int64 (None or empty: None). Raises ValueError for ids outside [0, n)."""
    if ids is None or np.size(ids) == 0:
        return None
    arr = np.asarray(ids).ravel()
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be int ids, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{name} out of range: ids must lie in [0, {n}), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def mask_rows(scores: np.ndarray, rows: sp.csr_matrix, cand: np.ndarray | None) -> None:
    """Set ``scores[r, item] = -inf`` for every stored (r, item) of ``rows`` (columns are ``cand``'s positions
    when ``cand`` is given; items outside ``cand`` are ignored)."""
    r, c = rows.nonzero()
    if cand is None:
        scores[r, c] = -np.inf
        return
    pos = np.minimum(np.searchsorted(cand, c), cand.size - 1)
    keep = cand[pos] == c
    scores[r[keep], pos[keep]] = -np.inf


def rank_top_n(scores: np.ndarray, N: int, cand: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_n` of ``scores`` (rows x candidates), ids mapped back through ``cand``; int32 ids."""
    ids, sc = top_n(scores, N)
    if cand is not None:
        ids = cand[ids].astype(np.int32)
    return ids, sc


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32; all-zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-12))


def cosine_top_n(queries: np.ndarray, targets: np.ndarray, N: int, *, cand: np.ndarray | None = None,
                 exclude: np.ndarray | None = None, invalid: np.ndarray | None = None,
                 self_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``N`` targets by cosine similarity to each query row.

    Args:
        queries: (q, d) query vectors (normalised here). targets: (n, d) unit target rows.
        cand: only these target ids (sorted); exclude: target ids never returned (not with ``cand``);
        invalid: bool (n,) targets never returned (e.g. items without a vector).
        self_ids: (q,) the target id each query *is* (its stored vector), or None (e.g. a recalculated
            vector). Such a query's own id is ranked first with score exactly 1.0 whenever it may be returned
            and its vector is not zero: cos(x, x) = 1 is the maximum, but the float32 dot products of an
            item's unit vector with itself and with an exactly parallel one (items with identical
            interactions) can round either way (0.99999994 vs 1.0000001).

    Returns:
        (ids int32, scores float32) of shape (q, min(N, candidates)); scores are clipped to [-1, 1].
    """
    Q = unit_rows(queries)
    T = targets if cand is None else targets[cand]
    S = Q @ T.T
    np.clip(S, -1.0, 1.0, out=S)
    if invalid is not None:
        S[:, invalid if cand is None else invalid[cand]] = -np.inf
    if exclude is not None:
        S[:, exclude] = -np.inf
    if self_ids is not None:
        rows = np.arange(self_ids.size)
        if cand is None:
            pos, ok = self_ids, np.ones(self_ids.size, dtype=bool)
        else:
            pos = np.minimum(np.searchsorted(cand, self_ids), cand.size - 1)
            ok = cand[pos] == self_ids
        ok &= np.any(Q != 0, axis=1)
        ok[ok] = S[rows[ok], pos[ok]] > -np.inf
        S[rows[ok], pos[ok]] = np.inf
    ids, sc = rank_top_n(S, N, cand)
    sc[sc == np.inf] = 1.0
    return ids, sc
