"""Gensim-compatible keyed vectors: similarity queries and word2vec C file formats.

`KeyedVectors` maps keys (words, item ids) to rows of a float32 matrix and answers
cosine-similarity queries (``most_similar``, ``most_similar_cosmul``, ``doesnt_match``...)
with the same semantics as :class:`gensim.models.KeyedVectors`.  Files written by
:meth:`KeyedVectors.save_word2vec_format` load in gensim and in the original word2vec C
tools, and files written by them load here (text and binary, optionally gzip-compressed).

gensim's own KeyedVectors tests pass against this class (``tests/compat``): its constructor
``KeyedVectors(vector_size)``, ``add_vector``/``add_vectors``/``kv[key] = vector``, per-key
attributes (``get_vecattr(key, "count")``), the C tool's vocabulary files (``fvocab=``),
``datatype=``, and the signatures of ``load_word2vec_format`` and ``save_word2vec_format``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import mmap
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

import numpy as np

from .._io import atomic_write, load_npz, pack_ids, unpack_ids

logger = logging.getLogger(__name__)

__all__ = ["KeyedVectors", "TruncatedFileError", "WordDecodeError"]

PathLike = Union[str, "os.PathLike[str]"]
Key = Union[str, int]

_ASCII_WS = frozenset(" \t\n\r\x0b\x0c")
_NATIVE_FORMAT_VERSION = 1


class WordDecodeError(UnicodeDecodeError):
    """A word (or vocabulary line) that is not valid in the file's encoding.

    A :class:`UnicodeDecodeError` (so also a ValueError), as gensim raises, whose message names the
    file and the line or entry."""

    def __init__(self, message: str, err: UnicodeDecodeError) -> None:
        super().__init__(err.encoding, err.object, err.start, err.end, err.reason)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TruncatedFileError(ValueError, EOFError):
    """A word2vec file that ends before the number of vectors its header announces.

    Both a ValueError (recneg's corrupt-file error) and an EOFError (what gensim raises)."""


def _is_vector_like(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (
        isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(v, (float, np.floating)) for v in x)
    )


def _is_key(x: Any) -> bool:
    return isinstance(x, (str, int, np.integer)) and not isinstance(x, bool)


def _ensure_list(x: Any) -> list:
    """Allow a single key or vector where a list of them is expected, and a 2-D array as a list
    of its rows (as gensim does)."""
    if x is None:
        return []
    if isinstance(x, (str, int, np.integer)):
        return [x]
    if isinstance(x, np.ndarray):
        return list(x) if x.ndim == 2 else [x]
    return list(x)


def _atomic_write(path: PathLike, write_fn, compress: bool = False, append: bool = False) -> None:
    """Write ``path`` atomically via :func:`recneg._io.atomic_write`; ``compress`` gzips the stream
    (mtime 0, so the same vectors give the same bytes).  ``append`` first copies the existing file's
    bytes (a gzip file gets a second gzip member, which gzip readers join)."""

    def full_write(raw) -> None:
        if append and os.path.exists(path):
            with open(path, "rb") as old:
                shutil.copyfileobj(old, raw, 1 << 20)
        if compress:
            with gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0, compresslevel=6) as gz:
                write_fn(gz)
        else:
            write_fn(raw)

    atomic_write(path, full_write)


@contextlib.contextmanager
def _open_buffer(path: PathLike) -> Iterator[Any]:
    """The file's bytes: an mmap for plain files (pages are read only when touched, so
    ``limit=`` on a huge file is cheap), the decompressed bytes for gzip (detected by magic)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"word2vec file not found: {path!r}")
    with open(path, "rb") as f:
        magic = f.read(2)
        if magic != b"\x1f\x8b":
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                yield b""
                return
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                yield mm
            finally:
                mm.close()
            return
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: corrupt gzip stream ({e})") from e
    yield data


def _float_dtype(dtype: Any) -> np.dtype:
    """The vectors' dtype: float32 by default; a float type otherwise."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a float type such as np.float32, got {dtype!r}") from None
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"dtype must be a float type (float16, float32, float64), got {dt}")
    return dt


class KeyedVectors:
    """Keys mapped to rows of a dense float matrix, with gensim's query API.

    Two ways to build one:

    - ``KeyedVectors(vectors, index_to_key, counts=None)``: recneg's form;
    - ``KeyedVectors(vector_size, count=0, dtype=np.float32)``: gensim's form, an empty set
      to fill with :meth:`add_vector`, :meth:`add_vectors` or ``kv[keys] = vectors``.

    Parameters
    ----------
    vectors : array (n, d), converted to `dtype` (no copy if it already is C-contiguous `dtype`).
    index_to_key : n distinct keys (str; ints are accepted, as in gensim); row i is key i.
    counts : optional int64 (n,) frequencies (e.g. corpus counts), kept alongside; also the
        ``"count"`` vector attribute of :meth:`get_vecattr`.
    dtype : float type of the vectors, float32 by default (gensim's ``datatype``).
    vector_size, count, mapfile_path : gensim's form. ``count`` only reserves room for that
        many vectors (``len(kv)`` counts the keys added; gensim fills the room with None keys);
        ``mapfile_path`` is unused, as in gensim.

    The unit-normalised matrix is cached; assigning ``kv.vectors = ...`` clears the cache,
    but after editing ``kv.vectors`` *in place* call :meth:`fill_norms` ``(force=True)``.
    """

    def __init__(
        self,
        vectors: np.ndarray | int | None = None,
        index_to_key: Sequence[Key] | int | None = None,
        counts: np.ndarray | Sequence[int] | None = None,
        dtype: Any = None,
        mapfile_path: str | None = None,
        *,
        vector_size: int | None = None,
        count: int = 0,
    ) -> None:
        if vectors is None or (isinstance(vectors, (int, np.integer)) and not isinstance(vectors, bool)):
            # gensim's KeyedVectors(vector_size, count=0, dtype=np.float32, mapfile_path=None)
            if vectors is not None:
                if vector_size is not None:
                    raise TypeError("KeyedVectors() got vector_size both positionally and by keyword")
                vector_size = vectors
            if index_to_key is not None:  # gensim's positional `count`
                count = index_to_key
            if counts is not None:  # gensim's positional `dtype`
                if dtype is not None:
                    raise TypeError("KeyedVectors(vector_size, count, dtype): dtype given twice")
                dtype = counts
            if vector_size is None:
                raise TypeError(
                    "KeyedVectors needs vectors and index_to_key (recneg), or vector_size (gensim: KeyedVectors(100))"
                )
            for name, v, low in (("vector_size", vector_size, 1), ("count", count, 0)):
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                    raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
            self._init_storage(_float_dtype(dtype))
            self._set_rows(np.zeros((int(count), int(vector_size)), self._dtype), 0)
            return
        if index_to_key is None:
            raise TypeError("KeyedVectors(vectors, index_to_key): index_to_key is missing")
        if isinstance(index_to_key, (str, bytes)):
            raise TypeError("index_to_key must be a sequence of keys, not one string")
        keys = list(index_to_key)
        for k in keys:
            if not _is_key(k):
                raise TypeError(
                    f"index_to_key must hold str (or int) keys, got {type(k).__name__} {k!r}; convert keys with str()"
                )
        keys = [int(k) if isinstance(k, np.integer) else k for k in keys]
        key_to_index: dict[Key, int] = {}
        for i, k in enumerate(keys):
            if k in key_to_index:
                raise ValueError(
                    f"index_to_key has duplicate key {k!r} (positions {key_to_index[k]} and {i}); keys must be unique"
                )
            key_to_index[k] = i
        self._init_storage(_float_dtype(dtype))
        self.index_to_key = keys
        self.key_to_index = key_to_index
        self.vectors = vectors  # validated by the setter
        self.counts = counts

    def _init_storage(self, dtype: np.dtype) -> None:
        self._dtype = dtype
        self.index_to_key: list[Key] = []
        self.key_to_index: dict[Key, int] = {}
        self._buf = np.zeros((0, 0), dtype)  # rows [:len(self)] are the vectors; more rows are room to grow
        self._vectors = self._buf
        self._attrs: dict[str, np.ndarray] = {}  # per-key attributes ("count", ...), same room as _buf
        self._norms: np.ndarray | None = None
        self._normed: np.ndarray | None = None
        self.mapfile_path = None

    def _set_rows(self, buf: np.ndarray, n: int) -> None:
        """Use ``buf`` (room >= n rows) as storage, its first ``n`` rows being the vectors."""
        self._buf = buf
        self._vectors = buf[:n] if buf.shape[0] != n else buf
        self._norms = None
        self._normed = None

    # ------------------------------------------------------------------ basics
    @property
    def vectors(self) -> np.ndarray:
        """(n, d) matrix (float32 unless another dtype was asked for), row i = vector of ``index_to_key[i]``."""
        return self._vectors

    @vectors.setter
    def vectors(self, value: np.ndarray) -> None:
        arr = np.asarray(value)
        if arr.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (n_keys, vector_size), got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"vectors must be numeric, got dtype {arr.dtype}")
        if arr.shape[0] != len(self.index_to_key):
            raise ValueError(
                f"vectors has {arr.shape[0]} rows but index_to_key has {len(self.index_to_key)} keys; they must match"
            )
        arr = np.ascontiguousarray(arr, dtype=self._dtype)
        self._set_rows(arr, arr.shape[0])
        self._attrs = {k: v[: arr.shape[0]] for k, v in self._attrs.items()}

    @property
    def vector_size(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def counts(self) -> np.ndarray | None:
        """int64 (n,) counts of the keys, or None.  A word2vec file loaded without ``fvocab`` gets
        gensim's placeholder counts n, n-1, .., 1 in file order (ranks, not frequencies)."""
        c = self._attrs.get("count")
        return None if c is None else c[: len(self.index_to_key)]

    @counts.setter
    def counts(self, value: np.ndarray | Sequence[int] | None) -> None:
        if value is None:
            self._attrs.pop("count", None)
            return
        n = len(self.index_to_key)
        c = np.asarray(value)
        if c.ndim != 1 or c.shape[0] != n:
            raise ValueError(f"counts must have shape ({n},) to match index_to_key, got {c.shape}")
        if c.size and not np.issubdtype(c.dtype, np.integer):
            if not np.all(np.isfinite(c)) or not np.all(c == np.round(c)):
                raise TypeError("counts must be integers (int64 array)")
        self._attrs["count"] = c.astype(np.int64, copy=False)

    @property
    def norms(self) -> np.ndarray:
        """(n,) L2 norms of the rows (float32, float64 for float64 vectors; cached)."""
        self.fill_norms()
        return self._norms  # type: ignore[return-value]

    def fill_norms(self, force: bool = False) -> None:
        """Compute (or, with force=True, recompute after in-place edits) norms and unit vectors."""
        if self._norms is None or force:
            calc = np.result_type(self._dtype, np.float32)
            vecs = self._vectors.astype(calc, copy=False)
            self._norms = np.linalg.norm(vecs, axis=1).astype(calc, copy=False)
            safe = np.where(self._norms > 0, self._norms, calc.type(1.0))
            self._normed = vecs / safe[:, None]

    def get_normed_vectors(self) -> np.ndarray:
        """(n, d) rows scaled to unit L2 norm (zero rows stay zero); cached."""
        self.fill_norms()
        return self._normed  # type: ignore[return-value]

    def init_sims(self, replace: bool = False) -> None:
        """gensim's older name for :meth:`fill_norms`; ``replace=True`` also unit-normalises the
        vectors in place (:meth:`unit_normalize_all`)."""
        self.fill_norms()
        if replace:
            self.unit_normalize_all()

    def unit_normalize_all(self) -> None:
        """Scale every vector to unit length, in place (zero vectors stay zero).  The original
        lengths are lost: training cannot sensibly continue from these vectors."""
        self.fill_norms()
        normed = self._normed.astype(self._dtype, copy=False)  # type: ignore[union-attr]
        if self._vectors.flags.writeable:
            self._vectors[...] = normed
        else:
            self._set_rows(np.array(normed, dtype=self._dtype), len(self))
        self.fill_norms(force=True)

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, key: object) -> bool:
        return self.has_index_for(key)

    def has_index_for(self, key: object) -> bool:
        try:
            return key in self.key_to_index
        except TypeError:  # unhashable, e.g. an ndarray
            return False

    def get_index(self, key: Key, default: int | None = None) -> int:
        """Row of `key`; ints that are not keys are taken as row numbers (gensim behaviour)."""
        idx = self.key_to_index.get(key, -1) if not isinstance(key, np.ndarray) else -1
        if idx >= 0:
            return idx
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < len(self):
            return int(key)
        if default is not None:
            return default
        raise KeyError(f"Key {key!r} not present in vocabulary")

    def get_vector(self, key: Key, norm: bool = False) -> np.ndarray:
        """(d,) read-only view of the key's (optionally unit-normalised) vector."""
        idx = self.get_index(key)
        out = (self.get_normed_vectors() if norm else self._vectors)[idx]
        out = out.view()
        out.setflags(write=False)
        return out

    def __getitem__(self, key_or_keys: Key | Iterable[Key]) -> np.ndarray:
        """(d,) for one key, (k, d) for a list of keys."""
        if isinstance(key_or_keys, (str, int, np.integer)):
            return self.get_vector(key_or_keys)
        keys = list(key_or_keys)
        if not keys:
            return np.zeros((0, self.vector_size), self._dtype)
        return self._vectors[[self.get_index(k) for k in keys]]

    def __setitem__(self, keys: Key | Sequence[Key], weights: Any) -> None:
        """``kv[key] = vector`` or ``kv[keys] = vectors``: add the keys, replacing the vectors of
        keys already present (gensim)."""
        self.add_vectors(keys, weights, replace=True)

    def get_count(self, key: Key) -> int:
        if self.counts is None:
            raise ValueError("this KeyedVectors has no counts (construct it with counts=...)")
        return int(self.counts[self.get_index(key)])

    # ------------------------------------------------------ vector attributes
    @property
    def expandos(self) -> dict[str, np.ndarray]:
        """gensim's per-key attribute arrays, ``{"count": counts, ...}`` (views: writes go through)."""
        n = len(self.index_to_key)
        return {k: v[:n] for k, v in self._attrs.items()}

    def get_vecattr(self, key: Key, attr: str) -> Any:
        """The value of per-key attribute `attr` (e.g. ``"count"``) for `key` (gensim)."""
        idx = self.get_index(key)
        if attr not in self._attrs:
            have = ", ".join(map(repr, self._attrs)) or "none"
            raise KeyError(f"no vector attribute {attr!r} (this KeyedVectors has: {have})")
        return self._attrs[attr][idx]

    def set_vecattr(self, key: Key, attr: str, val: Any) -> None:
        """Set per-key attribute `attr` of `key` to `val`; other keys get 0 (gensim)."""
        idx = self.get_index(key)
        if attr not in self._attrs:
            if attr == "count" or isinstance(val, (int, np.integer)):
                t = np.dtype(np.int64)
            elif isinstance(val, str):
                t = np.dtype(object)
            else:
                t = np.asarray(val).dtype
            self._attrs[attr] = np.zeros(max(self._buf.shape[0], len(self)), dtype=t)
        self._attrs[attr][idx] = val

    def allocate_vecattrs(self, attrs: Sequence[str] | None = None, types: Sequence[Any] | None = None) -> None:
        """Create zero-filled per-key attributes `attrs` of `types` (gensim); existing ones are kept."""
        for attr, t in zip(attrs or (), types or ()):
            if attr not in self._attrs:
                t = np.int64 if t is int else object if t is str else t
                self._attrs[attr] = np.zeros(max(self._buf.shape[0], len(self)), dtype=t)

    def __repr__(self) -> str:
        return f"KeyedVectors(n_keys={len(self)}, vector_size={self.vector_size})"

    def __str__(self) -> str:
        return f"KeyedVectors<vector_size={self.vector_size}, {len(self)} keys>"

    # -------------------------------------------------------------- similarity
    def _check_topn(self, topn: int | None, allow_zero: bool = False) -> None:
        if topn is None:
            return
        if isinstance(topn, bool) or not isinstance(topn, (int, np.integer)):
            raise TypeError(f"topn must be a positive int or None, got {topn!r}")
        if topn < (0 if allow_zero else 1):
            raise ValueError(f"topn must be >= {0 if allow_zero else 1} (or None for all similarities), got {topn}")

    def _check_restrict(self, restrict_vocab: int | None) -> int:
        if restrict_vocab is None:
            return len(self)
        if isinstance(restrict_vocab, bool) or not isinstance(restrict_vocab, (int, np.integer)):
            raise TypeError(f"restrict_vocab must be a positive int or None, got {restrict_vocab!r}")
        if restrict_vocab <= 0:
            raise ValueError(f"restrict_vocab must be >= 1 (or None for the whole vocabulary), got {restrict_vocab}")
        return int(min(restrict_vocab, len(self)))

    def _as_unit(self, item: Any) -> tuple[np.ndarray, int | None]:
        """(unit vector, row or None) of a key or a raw vector."""
        if isinstance(item, (str, int, np.integer)) and not isinstance(item, bool):
            if item not in self.key_to_index and not isinstance(item, (int, np.integer)):
                raise KeyError(f"Key {item!r} not present in vocabulary")
            idx = self.get_index(item)
            return self.get_normed_vectors()[idx], idx
        vec = np.asarray(item, dtype=np.result_type(self._dtype, np.float32))
        if vec.shape != (self.vector_size,):
            raise ValueError(f"query vectors must have shape ({self.vector_size},), got {vec.shape}")
        n = float(np.linalg.norm(vec))
        return (vec / n if n > 0 else vec), None

    def _weighted_terms(self, positive: Any, negative: Any) -> tuple[list, list[float]]:
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        items, weights = [], []
        for sign, group in ((1.0, positive), (-1.0, negative)):
            for it in group:
                if isinstance(it, tuple) and len(it) == 2 and not _is_vector_like(it):
                    items.append(it[0])
                    weights.append(float(it[1]))
                else:
                    items.append(it)
                    weights.append(sign)
        return items, weights

    def _top(
        self, scores: np.ndarray, topn: int | None, exclude: set[int], offset: int = 0
    ) -> list[tuple[Key, float]]:
        """Best `topn` of ``scores`` (rows ``offset:``), skipping the rows in `exclude`."""
        n = scores.shape[0]
        k = min(n, topn + len(exclude))
        if k >= n:
            best = np.argsort(-scores, kind="stable")
        else:
            part = np.argpartition(-scores, k)[:k]
            best = part[np.argsort(-scores[part], kind="stable")]
        out = [
            (self.index_to_key[i + offset], float(scores[i])) for i in best.tolist() if i + offset not in exclude
        ]
        return out[:topn]

    def _query_mean(self, positive: Any, negative: Any) -> tuple[np.ndarray, set[int]]:
        """gensim's 3CosAdd query: the weighted mean of the unit vectors of keys and of raw query
        vectors (as given, not normalised), re-normalised; plus the rows of the keys."""
        items, weights = self._weighted_terms(positive, negative)
        if not items:
            raise ValueError("most_similar needs at least one positive or negative key/vector")
        mean = np.zeros(self.vector_size, dtype=np.float64)
        exclude: set[int] = set()
        for it, w in zip(items, weights):
            if _is_key(it):
                if it not in self.key_to_index and not isinstance(it, (int, np.integer)):
                    raise KeyError(f"Key {it!r} not present in vocabulary")
                idx = self.get_index(it)
                vec = self.get_normed_vectors()[idx]
                exclude.add(idx)
            else:
                vec = np.asarray(it, dtype=np.float64)
                if vec.shape != (self.vector_size,):
                    raise ValueError(f"query vectors must have shape ({self.vector_size},), got {vec.shape}")
            mean += w * vec.astype(np.float64, copy=False)
        total = float(np.sum(np.abs(weights)))
        if total > 0:
            mean /= total
        nrm = np.linalg.norm(mean)
        calc = np.result_type(self._dtype, np.float32)
        return (mean / nrm if nrm > 0 else mean).astype(calc), exclude

    def most_similar(
        self,
        positive: Any = None,
        negative: Any = None,
        topn: int | None = 10,
        clip_start: int = 0,
        clip_end: int | None = None,
        restrict_vocab: int | None = None,
        indexer: Any = None,
    ) -> list[tuple[Key, float]] | np.ndarray:
        """Top-`topn` keys by cosine to the 3CosAdd query; input keys are excluded.

        The query is gensim's: the weighted mean of the unit vectors of the keys and of the raw
        query vectors (which are not normalised first), re-normalised.  Items are keys, raw (d,)
        vectors (a 2-D array is a list of them), or ``(key_or_vector, weight)`` tuples; positive
        items weigh 1, negative ones -1.  Only rows ``clip_start:clip_end`` are searched, or the
        first `restrict_vocab` rows.  Returns ``[(key, cosine)]`` best first (``[]`` for
        ``topn=0``), or with ``topn=None`` the array of all (searched) cosines.  An `indexer`
        (gensim's approximate-neighbour indexers) gets ``indexer.most_similar(query, topn)``.
        """
        self._check_topn(topn, allow_zero=True)
        if topn == 0:
            return []
        if restrict_vocab is not None:
            clip_start, clip_end = 0, self._check_restrict(restrict_vocab)
        start, end, _ = slice(clip_start, clip_end).indices(len(self))
        query, exclude = self._query_mean(positive, negative)
        if indexer is not None and topn is not None:
            return indexer.most_similar(query, topn)
        scores = self.get_normed_vectors()[start:end] @ query
        if topn is None:
            return scores
        return self._top(scores, topn, exclude, offset=start)

    def most_similar_cosmul(
        self,
        positive: Any = None,
        negative: Any = None,
        topn: int | None = 10,
        restrict_vocab: int | None = None,
    ) -> list[tuple[Key, float]] | np.ndarray:
        """3CosMul (Levy & Goldberg 2014, eq. 4): score(x) = prod_p s(x,p) / (prod_n s(x,n) + 1e-6)
        with s = (1 + cos) / 2 in [0, 1].  Input keys are excluded; raw vectors are unit-normalised
        (gensim uses them as given, so its "cosines" for a raw vector scale with the vector's length).
        Returns ``[(key, score)]`` best first (``[]`` for ``topn=0``), or all scores with ``topn=None``."""
        self._check_topn(topn, allow_zero=True)
        if topn == 0:
            return []
        limit = self._check_restrict(restrict_vocab)
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        if not positive:
            raise ValueError("most_similar_cosmul needs at least one positive key/vector")
        normed = self.get_normed_vectors()[:limit]
        exclude: set[int] = set()

        def shifted(items: list) -> np.ndarray:
            units = []
            for it in items:
                unit, idx = self._as_unit(it)
                units.append(unit)
                if idx is not None:
                    exclude.add(idx)
            if not units:
                return np.ones(limit, dtype=normed.dtype)
            sims = (1.0 + normed @ np.stack(units).T) / 2.0
            return np.prod(sims, axis=1)

        pos = shifted(positive)
        neg = shifted(negative) if negative else None
        scores = pos / (neg + 1e-6) if neg is not None else pos / (1.0 + 1e-6)
        scores = scores.astype(normed.dtype, copy=False)
        if topn is None:
            return scores
        return self._top(scores, topn, exclude)

    def most_similar_batch(
        self,
        keys: Sequence[Key],
        topn: int = 10,
        restrict_vocab: int | None = None,
        chunk_size: int = 1024,
        device: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest neighbours of many keys at once: ``(rows int64 (q, k), cosines float32 (q, k))``,
        best first, each key excluded from its own list (k = min(topn, candidates - 1)).

        One torch GEMM + topk per `chunk_size` queries on `device` (default CPU); the result for
        each key equals ``most_similar(key, topn)`` up to ties."""
        import torch

        self._check_topn(topn)
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        limit = self._check_restrict(restrict_vocab)
        rows = np.array([self.get_index(k) for k in keys], dtype=np.int64)
        k = int(min(topn, max(limit - 1, 0)))
        out_idx = np.zeros((rows.size, k), dtype=np.int64)
        out_sim = np.zeros((rows.size, k), dtype=np.float32)
        if rows.size == 0 or k == 0:
            return out_idx, out_sim
        dev = torch.device(device) if device is not None else torch.device("cpu")
        normed = torch.from_numpy(self.get_normed_vectors()).to(dev)
        cand = normed[:limit]
        with torch.no_grad():
            for start in range(0, rows.size, chunk_size):
                r = torch.from_numpy(rows[start : start + chunk_size]).to(dev)
                scores = normed[r] @ cand.T
                inside = r < limit
                ar = torch.arange(r.shape[0], device=dev)
                scores[ar[inside], r[inside]] = -torch.inf  # never return the query itself
                # k+1 so that a query outside the restricted range still gets k answers
                val, idx = torch.topk(scores, min(k + 1, limit), dim=1)
                out_idx[start : start + r.shape[0]] = idx[:, :k].cpu().numpy()
                out_sim[start : start + r.shape[0]] = val[:, :k].cpu().numpy()
        return out_idx, out_sim

    def similar_by_vector(
        self, vector: np.ndarray, topn: int | None = 10, restrict_vocab: int | None = None
    ) -> list[tuple[Key, float]] | np.ndarray:
        """Keys nearest (cosine) to a raw (d,) vector; nothing is excluded."""
        return self.most_similar(positive=[np.asarray(vector)], topn=topn, restrict_vocab=restrict_vocab)

    def similar_by_key(
        self, key: Key, topn: int | None = 10, restrict_vocab: int | None = None
    ) -> list[tuple[Key, float]] | np.ndarray:
        return self.most_similar(positive=[key], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_word = similar_by_key

    def similarity(self, w1: Key, w2: Key) -> float:
        """Cosine similarity of two keys (exactly 1.0 for a non-zero key with itself)."""
        i1, i2 = self.get_index(w1), self.get_index(w2)
        normed = self.get_normed_vectors()
        if i1 == i2:
            return 1.0 if self._norms[i1] > 0 else 0.0  # type: ignore[index]
        return float(np.dot(normed[i1], normed[i2]))

    def distance(self, w1: Key, w2: Key) -> float:
        """Cosine distance, 1 - similarity."""
        return 1.0 - self.similarity(w1, w2)

    def n_similarity(self, ws1: Sequence[Key], ws2: Sequence[Key]) -> float:
        """Cosine between the means of the (raw) vectors of two key sets."""
        if not len(ws1) or not len(ws2):
            raise ValueError("n_similarity needs two non-empty key lists (ws1, ws2)")
        m1 = self[list(ws1)].astype(np.float64).mean(axis=0)
        m2 = self[list(ws2)].astype(np.float64).mean(axis=0)
        n1, n2 = np.linalg.norm(m1), np.linalg.norm(m2)
        if n1 == 0 or n2 == 0:
            return 0.0
        return float(np.dot(m1, m2) / (n1 * n2))

    def rank_by_centrality(self, words: Sequence[Key], use_norm: bool = True) -> list[tuple[float, Key]]:
        """``[(cosine to centroid, key)]`` most central first; unknown keys are ignored (warning)."""
        used = [w for w in words if w in self]
        if len(used) != len(words):
            logger.warning("ignoring keys not in vocabulary: %s", sorted(set(map(str, words)) - set(map(str, used))))
        if not used:
            raise ValueError("doesnt_match/rank_by_centrality: none of the given words is in the vocabulary")
        vecs = np.vstack([self.get_vector(w, norm=use_norm) for w in used]).astype(np.float32)
        mean = vecs.astype(np.float64).mean(axis=0)
        n = np.linalg.norm(mean)
        mean = (mean / n if n > 0 else mean).astype(np.float32)
        dists = vecs @ mean
        return sorted(zip(dists.tolist(), used), key=lambda t: t[0], reverse=True)

    def doesnt_match(self, words: Sequence[Key]) -> Key:
        """The key farthest (cosine) from the mean of the unit vectors of `words`."""
        return self.rank_by_centrality(list(words))[-1][1]

    def get_mean_vector(
        self,
        keys: Sequence[Any],
        weights: Sequence[float] | np.ndarray | None = None,
        pre_normalize: bool = True,
        post_normalize: bool = False,
        ignore_missing: bool = True,
    ) -> np.ndarray:
        """float32 (d,) weighted mean of key vectors (unit-normalised first if `pre_normalize`)
        and/or raw (d,) arrays, divided by the sum of |weights| of the terms used (gensim)."""
        keys = list(keys)
        if not keys:
            raise ValueError("get_mean_vector needs at least one key")
        w = np.ones(len(keys)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(keys),):
            raise ValueError(f"weights must have shape ({len(keys)},) to match keys, got {w.shape}")
        mean = np.zeros(self.vector_size, dtype=np.float64)
        total = 0.0
        for k, wk in zip(keys, w):
            if isinstance(k, np.ndarray):
                vec = k
            elif k in self:
                vec = self.get_vector(k, norm=pre_normalize)
            elif not ignore_missing:
                raise KeyError(f"Key {k!r} not present in vocabulary")
            else:
                continue
            mean += wk * np.asarray(vec, dtype=np.float64)
            total += abs(wk)
        if total > 0:
            mean /= total
        if post_normalize:
            n = np.linalg.norm(mean)
            mean = mean / n if n > 0 else mean
        return mean.astype(np.float32)

    def add_vectors(
        self, keys: Key | Sequence[Key], weights: Any, extras: dict | None = None, replace: bool = False
    ) -> None:
        """Append keys with their vectors ((k, d) array or list of (d,) vectors; one key with a
        (d,) vector also works).  Keys already present are skipped, or their vectors overwritten
        with ``replace=True`` (gensim).  New keys get 0 in every per-key attribute (count, ...);
        `extras` maps attribute names to (k,) arrays of values for the given keys."""
        single = _is_key(keys)
        keys = [keys] if single else list(keys)
        w = np.asarray(weights)
        if w.ndim == 1 and len(keys) == 1:
            w = w.reshape(1, -1)
        d = self.vector_size if len(self) or self._buf.shape[1] else (w.shape[1] if w.ndim == 2 else -1)
        if w.ndim != 2 or w.shape != (len(keys), d):
            raise ValueError(f"weights must have shape ({len(keys)}, {d}), got {w.shape}")
        if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
            raise TypeError(f"weights must be numeric, got dtype {w.dtype}")
        for k in keys:
            if not _is_key(k):
                raise TypeError(f"keys must be str (or int), got {type(k).__name__} {k!r}")
        keys = [int(k) if isinstance(k, np.integer) else k for k in keys]
        if len(set(keys)) != len(keys):
            raise ValueError("add_vectors: keys must be distinct")
        extras = {name: np.asarray(v) for name, v in (extras or {}).items()}
        for name, v in extras.items():
            if v.shape[:1] != (len(keys),):
                raise ValueError(f"extras[{name!r}] must have {len(keys)} values, got shape {v.shape}")
        present = np.array([k in self.key_to_index for k in keys], dtype=bool)
        if replace and present.any():
            if not self._vectors.flags.writeable:
                self._set_rows(np.array(self._buf), len(self))
            rows = [self.key_to_index[k] for k, p in zip(keys, present) if p]
            self._vectors[rows] = w[present]
            for name, v in extras.items():
                self._attr_for(name, v.dtype)[rows] = v[present]
            self._norms = None
            self._normed = None
        new = ~present
        if new.any():
            n, k = len(self), int(new.sum())
            self._grow(n + k, d)
            self._buf[n : n + k] = w[new]
            for attr in self._attrs.values():
                attr[n : n + k] = 0
            for name, v in extras.items():
                self._attr_for(name, v.dtype)[n : n + k] = v[new]
            for i, key in enumerate(k for k, p in zip(keys, present) if not p):
                self.index_to_key.append(key)
                self.key_to_index[key] = n + i
            self._set_rows(self._buf, n + k)

    def _attr_for(self, name: str, dtype: np.dtype) -> np.ndarray:
        if name not in self._attrs:
            self._attrs[name] = np.zeros(max(self._buf.shape[0], len(self)), dtype=dtype)
        return self._attrs[name]

    def _grow(self, need: int, d: int) -> None:
        """Make room for `need` rows in the vectors and every per-key attribute (amortised:
        one-at-a-time adds grow the room by 1/8)."""
        n = len(self)
        room = need if need - n > 1 else need + (need >> 3) + 8
        if self._buf.shape[0] < need or self._buf.shape[1] != d:
            buf = np.zeros((room, d), self._dtype)
            buf[:n] = self._vectors
            self._buf = buf
        for name, attr in self._attrs.items():
            if attr.shape[0] < need:
                grown = np.zeros(max(room, self._buf.shape[0]), attr.dtype)
                grown[:n] = attr[:n]
                self._attrs[name] = grown

    def add_vector(self, key: Key, vector: Any) -> int:
        """Add one key and its (d,) vector; returns its row.  A key already present keeps its
        vector (and its row is returned).  Repeated calls are amortised O(d) each."""
        if _is_key(key) and key in self.key_to_index:
            return self.key_to_index[key]
        self.add_vectors([key], np.asarray(vector).reshape(1, -1))
        return len(self) - 1

    def vectors_for_all(
        self, keys: Iterable[Key], allow_inference: bool = True, copy_vecattrs: bool = False
    ) -> "KeyedVectors":
        """A new KeyedVectors of the given keys that are present, deduplicated, in the given order
        (gensim).  ``copy_vecattrs=True`` copies the per-key attributes (counts, ...); otherwise
        the new set gets placeholder counts n, n-1, .., 1 as gensim gives it.  `allow_inference`
        is gensim's flag for FastText's out-of-vocabulary vectors; plain vectors infer nothing."""
        vocab: list[Key] = []
        seen: set = set()
        for key in keys:
            if key not in seen:
                seen.add(key)
                if self.has_index_for(key):
                    vocab.append(key)
        rows = np.array([self.key_to_index[k] for k in vocab], dtype=np.int64)
        kv = KeyedVectors(self._vectors[rows], vocab, dtype=self._dtype)
        if copy_vecattrs:
            kv._attrs = {name: attr[rows] for name, attr in self._attrs.items()}
        else:
            kv.counts = np.arange(len(vocab), 0, -1, dtype=np.int64)
        return kv

    def relative_cosine_similarity(self, wa: Key, wb: Key, topn: int = 10) -> float:
        """Relative cosine similarity of `wb` to `wa` (Leeuwenberg et al. 2016, eq. 1):
        ``similarity(wa, wb)`` divided by the sum of the cosines of `wa`'s `topn` nearest keys."""
        sims = self.similar_by_key(wa, topn)
        if not sims:
            raise ValueError("Cannot calculate relative cosine similarity without any similar words.")
        return float(self.similarity(wa, wb)) / sum(sim for _, sim in sims)

    @staticmethod
    def cosine_similarities(vector_1: np.ndarray, vectors_all: np.ndarray) -> np.ndarray:
        """(k,) cosines between a (d,) vector and each row of a (k, d) matrix."""
        v = np.asarray(vector_1, dtype=np.float64)
        m = np.asarray(vectors_all, dtype=np.float64)
        return (m @ v / (np.linalg.norm(m, axis=1) * np.linalg.norm(v))).astype(np.float32)

    def distances(self, word_or_vector: Any, other_words: Sequence[Key] = ()) -> np.ndarray:
        """float32 cosine distances from a key or vector to `other_words` (default: all keys)."""
        if isinstance(word_or_vector, (str, int, np.integer)):
            vec = self.get_vector(word_or_vector)
        else:
            vec = np.asarray(word_or_vector, dtype=np.float32)
        others = self.vectors if not len(other_words) else self[list(other_words)]
        return 1.0 - self.cosine_similarities(vec, others)

    def closer_than(self, key1: Key, key2: Key) -> list[Key]:
        """Keys (other than key1) strictly closer to `key1` than `key2` is."""
        i1, i2 = self.get_index(key1), self.get_index(key2)
        normed = self.get_normed_vectors()
        sims = normed @ normed[i1]
        idx = np.flatnonzero(sims > sims[i2])
        return [self.index_to_key[i] for i in idx.tolist() if i != i1]

    def rank(self, key1: Key, key2: Key) -> int:
        """1 + number of keys closer to `key1` than `key2`."""
        return len(self.closer_than(key1, key2)) + 1

    def most_similar_to_given(self, key1: Key, keys_list: Sequence[Key]) -> Key:
        """The key of `keys_list` with the highest cosine to `key1`."""
        if not len(keys_list):
            raise ValueError("keys_list must not be empty")
        sims = [self.similarity(key1, k) for k in keys_list]
        return keys_list[int(np.argmax(sims))]

    # ---------------------------------------------------------- evaluation
    def evaluate_word_analogies(self, path: PathLike, **kwargs: Any):
        """See :func:`recneg.evaluation.words.evaluate_analogies`."""
        from recneg.evaluation.words import evaluate_analogies

        return evaluate_analogies(self, path, **kwargs)

    def evaluate_word_pairs(self, path: PathLike, **kwargs: Any):
        """See :func:`recneg.evaluation.words.evaluate_word_pairs`."""
        from recneg.evaluation.words import evaluate_word_pairs

        return evaluate_word_pairs(self, path, **kwargs)

    # ------------------------------------------------------ word2vec format
    def _format_keys(self, prefix: str = "") -> list[bytes]:
        out = []
        for k in self.index_to_key:
            s = prefix + str(k)
            if not s or any(ch in _ASCII_WS for ch in s):
                raise ValueError(
                    f"key {s!r} is empty or contains whitespace and cannot be stored in word2vec format; "
                    "rename it (e.g. replace spaces with '_') or use save()"
                )
            out.append(s.encode("utf-8"))
        return out

    def save_word2vec_format(
        self,
        fname: PathLike,
        fvocab: PathLike | None = None,
        binary: bool = False,
        total_vec: int | None = None,
        write_header: bool = True,
        prefix: str = "",
        append: bool = False,
        sort_attr: str | None = "count",
    ) -> None:
        """Write the word2vec C format (header ``n d``; text rows ``key v1 .. vd`` with 9
        significant digits, or binary ``key `` + d little-endian float32), gensim's signature.

        - `fvocab`: also write the C tool's vocabulary file, ``key count`` lines (needs counts);
        - `sort_attr`: rows go in descending order of this per-key attribute when the keys have it
          (stable: ties keep their order; gensim's default ``"count"``); None keeps row order;
        - `total_vec`: the vector count written in the header (when more rows will be appended);
        - `write_header=False` omits the header (GloVe style; binary only with `append`);
        - `prefix`: a string put before every key; `append`: add to the end of an existing file.

        A ``.gz`` suffix gzips the output.  Atomic: a failure leaves any existing file untouched."""
        if isinstance(fvocab, bool):
            raise TypeError(
                "save_word2vec_format(fname, fvocab=None, binary=False, ...): the second argument is the "
                "vocabulary file's path (gensim's order); pass binary= by keyword"
            )
        if binary and not write_header and not append:
            raise ValueError(
                "write_header=False is only supported for text files (binary=False), or with append=True "
                "(more vectors after a file whose header counts them, see total_vec): no reader can load a "
                "binary file without a header"
            )
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        n, d = self._vectors.shape
        order = None
        sort_values = self.expandos.get(sort_attr) if sort_attr is not None else None
        if sort_values is None and fvocab is not None:
            raise ValueError(
                f"cannot write the vocabulary file {os.fspath(fvocab)}: this KeyedVectors has no "
                f"{sort_attr or 'count'!r} attribute (give counts=, load with fvocab=, or set_vecattr)"
            )
        if sort_values is not None and n > 1 and not np.all(sort_values[:-1] >= sort_values[1:]):
            order = np.argsort(-sort_values, kind="stable")
        keys = self._format_keys(prefix)
        vecs = self._vectors
        if order is not None:
            keys = [keys[i] for i in order.tolist()]
            vecs = vecs[order]
        header = f"{n if total_vec is None else int(total_vec)} {d}\n".encode("ascii") if write_header else b""
        compress = os.fspath(fname).endswith(".gz")

        if fvocab is not None:
            counts = np.asarray(sort_values if order is None else sort_values[order]).tolist()

            def write_vocab(f) -> None:
                for start in range(0, n, 4096):
                    f.write(b"".join(
                        keys[i] + b" " + str(counts[i]).encode("ascii") + b"\n" for i in range(start, min(n, start + 4096))
                    ))

            _atomic_write(fvocab, write_vocab, compress=os.fspath(fvocab).endswith(".gz"), append=append)

        if binary:
            le = vecs.astype("<f4", copy=False)

            def write(f) -> None:
                f.write(header)
                chunk: list[bytes] = []
                for i, k in enumerate(keys):
                    chunk.append(k + b" " + le[i].tobytes())
                    if len(chunk) >= 4096:
                        f.write(b"".join(chunk))
                        chunk = []
                f.write(b"".join(chunk))

        else:
            fmt = " ".join(["%.9g"] * d)

            def write(f) -> None:
                f.write(header)
                rows = vecs.tolist()
                for start in range(0, n, 4096):
                    lines = [
                        keys[i] + b" " + (fmt % tuple(rows[i])).encode("ascii") + b"\n"
                        for i in range(start, min(n, start + 4096))
                    ]
                    f.write(b"".join(lines))

        _atomic_write(fname, write, compress=compress, append=append)
        logger.info("saved %d x %d vectors to %s (%s)", n, d, os.fspath(fname), "binary" if binary else "text")

    @classmethod
    def load_word2vec_format(
        cls,
        fname: PathLike,
        fvocab: PathLike | None = None,
        binary: bool = False,
        encoding: str = "utf8",
        unicode_errors: str = "strict",
        limit: int | None = None,
        datatype: Any = np.float32,
        no_header: bool = False,
    ) -> "KeyedVectors":
        """Read a word2vec C format file (text or binary, gzip detected automatically); gensim's
        signature.

        - `fvocab`: the C tool's vocabulary file (``word count`` lines) giving the counts
          (``get_vecattr(word, "count")``); without it the keys get gensim's placeholder counts
          n, n-1, .., 1 in file order;
        - `limit` reads only the first `limit` vectors (None or 0: all of them, as gensim);
        - `datatype`: the float type of the vectors (float32; float16 halves the memory);
        - `no_header=True` reads headerless text (GloVe style: n and d are inferred).

        Raises ValueError naming the file and line (text) or entry (binary) on a bad header, wrong
        value count, non-numeric or non-finite (NaN, inf) value, or a duplicate word; a text file
        read with ``binary=True`` (or a binary one without it) is named as such, with the
        ``binary`` to use.  A file shorter than its header says raises :class:`TruncatedFileError`
        (an EOFError too, as gensim), a word not valid in `encoding` with
        ``unicode_errors="strict"`` raises :class:`WordDecodeError` (a UnicodeDecodeError)."""
        if isinstance(fvocab, bool):
            raise TypeError(
                "load_word2vec_format(fname, fvocab=None, binary=False, ...): the second argument is the "
                "vocabulary file's path (gensim's order); pass binary= by keyword"
            )
        path = os.fspath(fname)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        if not limit:
            limit = None  # gensim: 0 reads everything
        if no_header and binary:
            raise ValueError("no_header=True is only supported for text files (binary=False)")
        dtype = _float_dtype(datatype)
        counts = _read_vocab_file(fvocab, encoding, unicode_errors) if fvocab is not None else None
        with _open_buffer(path) as data:
            words, vecs, first_line = _parse_file(
                data, path, binary, limit, encoding, unicode_errors, no_header, dtype
            )
        seen: dict[str, int] = {}
        for i, w in enumerate(words):
            if w in seen:
                if binary:
                    where, first_at = f"entry {i + 1}", f"entry {seen[w] + 1}"
                else:
                    where, first_at = f"line {i + first_line}", f"line {seen[w] + first_line}"
                raise ValueError(f"{path}: {where}: duplicate word {w!r} (first seen at {first_at})")
            seen[w] = i
        logger.info("loaded %d x %d vectors from %s", vecs.shape[0], vecs.shape[1], path)
        kv = cls(vecs, words, dtype=dtype)
        if counts is None:
            kv.counts = np.arange(len(words), 0, -1, dtype=np.int64)
        else:
            missing = [w for w in words if w not in counts]
            if missing:
                logger.warning(
                    "%s lacks %d of the %d words of %s (e.g. %r); their count is 0",
                    os.fspath(fvocab), len(missing), len(words), path, missing[0],  # type: ignore[arg-type]
                )
            kv.counts = np.array([counts.get(w, 0) for w in words], dtype=np.int64)
        return kv

    # ------------------------------------------------------- native format
    def save(self, path: PathLike) -> None:
        """Atomically save to a .npz file (vectors, keys, counts); reload with :meth:`load`."""
        keys = self.index_to_key
        int_keys = bool(keys) and all(isinstance(k, int) for k in keys)
        if not int_keys and not all(isinstance(k, str) for k in keys):
            raise TypeError("save() needs all keys str or all keys int")
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(_NATIVE_FORMAT_VERSION, dtype=np.int64),
            "vectors": self.vectors,
            **pack_ids("keys", np.array(keys, dtype=np.int64) if int_keys else list(keys)),
            "key_kind": np.array("int" if int_keys else "str"),
        }
        if self.counts is not None:
            arrays["counts"] = self.counts

        def write(f) -> None:
            np.savez(f, **arrays)

        _atomic_write(path, write)

    @classmethod
    def load(cls, path: PathLike) -> "KeyedVectors":
        """Load a file written by :meth:`save`."""
        fname = os.fspath(path)
        z = load_npz(fname, "KeyedVectors", required=("vectors", "key_kind"))
        vectors, kind = z["vectors"], str(z["key_kind"])
        if kind not in ("int", "str"):
            raise ValueError(
                f"{fname} is not a valid recneg KeyedVectors file: key_kind {kind[:20]!r} is not 'int' or 'str'"
            )
        stored = unpack_ids(z, "keys", fname, "KeyedVectors")
        keys = [int(k) for k in stored] if kind == "int" else [str(k) for k in stored]
        counts = z.get("counts")
        if len(keys) == 0:
            vectors = vectors.reshape(0, vectors.shape[-1] if vectors.ndim == 2 else 0)
        dtype = vectors.dtype if np.issubdtype(vectors.dtype, np.floating) else None
        return cls(vectors, keys, counts=counts, dtype=dtype)


def _read_vocab_file(fvocab: PathLike, encoding: str, unicode_errors: str) -> dict[str, int]:
    """``{word: count}`` from the C tool's ``-save-vocab`` file (``word count`` lines; blank lines skipped)."""
    path = os.fspath(fvocab)
    counts: dict[str, int] = {}
    with _open_buffer(path) as data:
        for i, raw in enumerate(data[:].split(b"\n"), 1):
            if not raw.strip():
                continue
            line = _decode(raw, path, f"line {i}", encoding, unicode_errors, what="text")
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{path}: line {i}: expected 'word count' in a vocabulary file, got {line[:80]!r}")
            try:
                counts[parts[0]] = int(parts[1])
            except ValueError:
                raise ValueError(f"{path}: line {i}: count {parts[1][:30]!r} of {parts[0][:50]!r} is not an integer")
    return counts


def _parse_file(
    data: Any, fname: str, binary: bool, limit: int | None, encoding: str, unicode_errors: str, no_header: bool,
    dtype: np.dtype = np.dtype(np.float32),
) -> tuple[list[str], np.ndarray, int]:
    """Header handling + dispatch to the text / binary parsers; returns (words, vectors, first data line)."""
    if no_header:
        first_line = 1
        body_start = 0
        data = data[:]  # bytes (an mmap has no split)
        lines = data.split(b"\n")
        n = sum(1 for ln in lines if ln.strip())
        first = next((ln for ln in lines if ln.strip()), b"")
        d = len(first.split()) - 1
        if d <= 0:
            raise ValueError(f"{fname}: line 1: expected 'word v1 .. vd' in a headerless file, got {first[:80]!r}")
        if any(not ln.strip() for ln in lines[:n]):
            raise ValueError(f"{fname}: empty line inside a headerless word2vec file")
    else:
        first_line = 2
        nl = data.find(b"\n")
        header_line = data[: len(data) if nl < 0 else nl]
        try:
            parts = header_line.decode("ascii").split()
            if len(parts) != 2:
                raise ValueError
            n, d = int(parts[0]), int(parts[1])
        except (UnicodeDecodeError, ValueError):
            raise ValueError(
                f"{fname}: line 1: bad word2vec header {header_line[:80]!r}; expected '<n_vectors> <vector_size>'"
                " (pass no_header=True for headerless text files)"
            ) from None
        if n < 0 or d <= 0:
            raise ValueError(f"{fname}: line 1: bad word2vec header (n={n}, d={d}); need n >= 0 and d >= 1")
        body_start = len(data) if nl < 0 else nl + 1
    if limit is not None:
        n = min(n, int(limit))
    if binary:
        if n and _looks_like_text_row(data, body_start, d):
            raise ValueError(
                f"{fname}: line {first_line} is a word and {d} numbers: this is a text word2vec file, not a binary "
                "one; load it with binary=False"
            )
        words, vecs = _parse_binary(
            data, body_start, n, d, fname, encoding, unicode_errors, truncated=limit is not None
        )
        if dtype != vecs.dtype:
            with np.errstate(over="ignore"):  # an overflow is reported by _check_finite
                vecs = vecs.astype(dtype)
            _check_finite(vecs, words, fname, lambda i: f"entry {i + 1} ({words[i][:50]!r})", dtype)
    else:
        try:
            words, vecs = _parse_text(
                data, body_start, n, d, fname, encoding, unicode_errors, truncated=limit is not None,
                first_line=first_line, dtype=dtype,
            )
        except ValueError as e:
            if n and not no_header and _looks_like_binary_record(data, body_start, d):
                raise ValueError(
                    f"{fname}: this is a binary word2vec file, not a text one (its entries are a word and {4 * d} "
                    "bytes of raw float32, not numbers); load it with binary=True"
                ) from e
            raise
    return words, vecs, first_line


def _looks_like_text_row(data: Any, start: int, d: int) -> bool:
    """True when the first body line is ``word v1 .. vd`` in text (a text file opened with binary=True)."""
    end = min(len(data), start + 64 * (d + 1) + 10000)  # bounded: never scan a huge mmap
    nl = data.find(b"\n", start, end)
    parts = data[start: end if nl < 0 else nl].split()
    if len(parts) != d + 1:
        return False
    try:
        for tok in parts[1:]:
            float(tok)
    except ValueError:
        return False
    return True


def _looks_like_binary_record(data: Any, start: int, d: int, records: int = 16) -> bool:
    """True when the first records parse as ``word<space>`` + 4d bytes and some of those bytes are not
    text (raw float32); a few records, since 4 bytes of one small vector can look like text by chance."""
    pos, size = start, len(data)
    for _ in range(records):
        while pos < size and data[pos] == 10:
            pos += 1
        sp = data.find(b" ", pos, min(size, pos + 10000))
        if sp < 0 or sp + 1 + 4 * d > size:
            return False
        raw = data[sp + 1: sp + 1 + 4 * d]
        if any((c < 32 and c not in (9, 10, 11, 12, 13)) or c == 127 for c in raw):
            return True
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(raw) - 3:  # not just a multi-byte character cut at the end
                return True
        pos = sp + 1 + 4 * d
    return False


def _first_non_finite(vecs: np.ndarray) -> int:
    """Row index of the first vector holding NaN or inf, or -1."""
    bad = ~np.isfinite(vecs).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else -1


def _decode(raw: bytes, fname: str, where: str, encoding: str, errors: str, what: str = "word") -> str:
    try:
        return raw.decode(encoding, errors=errors)
    except UnicodeDecodeError as e:
        raise WordDecodeError(
            f"{fname}: {where}: {what} is not valid {e.encoding} ({e}); pass unicode_errors='replace' to load anyway",
            e,
        ) from None


def _check_finite(vecs: np.ndarray, words: list[str], fname: str, where, dtype: np.dtype) -> None:
    """After a cast to a smaller float type: name the first value that overflowed to inf."""
    i = _first_non_finite(vecs)
    if i >= 0:
        raise ValueError(f"{fname}: {where(i)}: a value is too large for datatype {dtype} (it becomes inf)")


def _parse_text(
    data: bytes, start: int, n: int, d: int, fname: str, encoding: str, errors: str, truncated: bool = False,
    first_line: int = 2, dtype: np.dtype = np.dtype(np.float32),
) -> tuple[list[str], np.ndarray]:
    """Bulk-parse `n` text rows: tokens split on ASCII whitespace, values via one numpy cast."""
    if n == 0:
        return [], np.zeros((0, d), dtype)
    end = len(data)
    if truncated:  # only the first n lines are needed: do not copy the rest of a huge file
        end = start
        for _ in range(n):
            j = data.find(b"\n", end)
            if j < 0:
                end = len(data)
                break
            end = j + 1
    body = data[start:end]
    lines = body.split(b"\n", n)  # at most n+1 pieces; the last holds the rest of the file
    if len(lines) > n:
        if lines[n].strip() and not truncated:
            logger.warning("%s: ignoring data after the %d vectors announced in the header", fname, n)
        lines = lines[:n]
    elif lines and lines[-1].strip() == b"":
        lines = lines[:-1]  # the file ends with a newline (or trailing blanks)
    if len(lines) < n:
        raise TruncatedFileError(
            f"{fname}: file ends after {len(lines)} lines of vectors but the header announces {n} "
            "(truncated file or wrong header)"
        )
    words: list[str] = []
    rests: list[bytes] = []
    for i, line in enumerate(lines):
        word, _, rest = line.lstrip().partition(b" ")
        if not word:
            raise ValueError(f"{fname}: line {i + first_line}: empty line where vector {i + 1} of {n} was expected")
        words.append(_decode(word, fname, f"line {i + first_line}", encoding, errors))
        rests.append(rest)
    values: np.ndarray | None = None
    err: Exception | None = None
    # parse float32 directly (numpy's C parser: ~0.1 s for 30k x 100); other types via float64, as gensim
    parse = np.float32 if dtype == np.float32 else np.float64
    try:
        values = np.loadtxt(io.BytesIO(b"\n".join(rests)), dtype=parse, comments=None, ndmin=2)
    except ValueError as e:
        err = e
    if values is None or values.shape != (n, d):
        _diagnose_text(lines, words, d, fname, first_line)  # raises a precise error when it finds the culprit
        detail = err if err is not None else f"got shape {None if values is None else values.shape}"
        raise ValueError(f"{fname}: cannot parse vectors ({detail})")
    i = _first_non_finite(values)
    if i >= 0:
        v = values[i][~np.isfinite(values[i])][0]
        raise ValueError(f"{fname}: line {i + first_line}: non-finite value {v} for word {words[i][:50]!r}; "
                         "vectors must be finite numbers")
    if values.dtype != dtype:
        with np.errstate(over="ignore"):  # an overflow is reported by _check_finite
            values = values.astype(dtype)
        _check_finite(values, words, fname, lambda i: f"line {i + first_line} ({words[i][:50]!r})", dtype)
    return words, values


def _diagnose_text(lines: list[bytes], words: list[str], d: int, fname: str, first_line: int = 2) -> None:
    """Slow per-line check, run only after the bulk parse failed, to name the bad line."""
    for i, line in enumerate(lines):
        word = line.lstrip().partition(b" ")[0]
        bad = [name for c, name in ((9, "a tab"), (11, "a vertical tab"), (12, "a form feed")) if c in word]
        if bad:
            raise ValueError(
                f"{fname}: line {i + first_line}: the word is followed by {bad[0]}, not a space "
                f"({word[:50]!r}); word2vec text files separate the word and the values with spaces"
            )
        parts = line.split()
        if len(parts) != d + 1:
            raise ValueError(
                f"{fname}: line {i + first_line}: expected a word and {d} values, got {len(parts) - 1} values "
                f"for word {words[i][:50]!r}"
            )
        for tok in parts[1:]:
            try:
                float(tok)
            except ValueError:
                raise ValueError(
                    f"{fname}: line {i + first_line}: non-numeric value {tok[:30]!r} for word {words[i][:50]!r}"
                ) from None


def _parse_binary(
    data: bytes, start: int, n: int, d: int, fname: str, encoding: str, errors: str, truncated: bool = False
) -> tuple[list[str], np.ndarray]:
    """Records ``word<space><d float32 LE>`` optionally followed by a newline (C tool)."""
    nbytes = 4 * d
    out = np.empty((n, d), dtype=np.float32)
    words: list[str] = []
    pos = start
    size = len(data)
    find = data.find
    for i in range(n):
        # skip the optional newline that the C tool writes after each vector
        while pos < size and data[pos] == 10:
            pos += 1
        if pos >= size:
            raise TruncatedFileError(
                f"{fname}: file ends after {i} vectors but the header announces {n} (truncated file or wrong header)"
            )
        sp = find(b" ", pos, pos + 10000)
        if sp < 0:
            raise ValueError(
                f"{fname}: entry {i + 1}: no space after the word (corrupt binary file, or a text file "
                "loaded with binary=True)"
            )
        raw = data[pos:sp]
        hint = " (the header's vector size may be wrong)" if i else ""
        if b"\x00" in raw:
            raise ValueError(f"{fname}: entry {i + 1}: word contains NUL bytes {raw[:50]!r}{hint}")
        try:
            word = _decode(raw, fname, f"entry {i + 1}", encoding, errors)
        except WordDecodeError as e:
            if hint:
                e.message += hint
            raise
        vstart = sp + 1
        if vstart + nbytes > size:
            raise TruncatedFileError(
                f"{fname}: entry {i + 1} ({word[:50]!r}): truncated vector, {size - vstart} of {nbytes} bytes "
                f"present (file shorter than the header's {n} x {d} says)"
            )
        out[i] = np.frombuffer(data, dtype="<f4", count=d, offset=vstart)
        words.append(word)
        pos = vstart + nbytes
    i = _first_non_finite(out)
    if i >= 0:
        v = out[i][~np.isfinite(out[i])][0]
        raise ValueError(f"{fname}: entry {i + 1} ({words[i][:50]!r}): non-finite value {v} in the vector; "
                         "vectors must be finite numbers")
    if not truncated and data[pos:].strip():
        logger.warning(
            "%s: %d bytes after the %d vectors announced in the header were ignored (wrong header?)",
            fname, size - pos, n,
        )
    return words, out
