"""Gensim-compatible keyed vectors: similarity queries and word2vec C file formats.

`KeyedVectors` maps keys (words, item ids) to rows of a float32 matrix and answers
cosine-similarity queries (``most_similar``, ``most_similar_cosmul``, ``doesnt_match``...)
with the same semantics as :class:`gensim.models.KeyedVectors`.  Files written by
:meth:`KeyedVectors.save_word2vec_format` load in gensim and in the original word2vec C
tools, and files written by them load here (text and binary, optionally gzip-compressed).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import mmap
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

import numpy as np

from .._io import atomic_write, load_npz, pack_ids, unpack_ids

logger = logging.getLogger(__name__)

__all__ = ["KeyedVectors"]

PathLike = Union[str, "os.PathLike[str]"]
Key = Union[str, int]

_ASCII_WS = frozenset(" \t\n\r\x0b\x0c")
_NATIVE_FORMAT_VERSION = 1


def _is_vector_like(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (
        isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(v, (float, np.floating)) for v in x)
    )


def _ensure_list(x: Any) -> list:
    """Allow a single key or vector where a list of them is expected (as gensim does)."""
    if x is None:
        return []
    if isinstance(x, (str, int, np.integer, np.ndarray)):
        return [x]
    return list(x)


def _atomic_write(path: PathLike, write_fn, compress: bool = False) -> None:
    """Write ``path`` atomically via :func:`recneg._io.atomic_write`; ``compress`` gzips the stream
    (mtime 0, so the same vectors give the same bytes)."""
    if not compress:
        atomic_write(path, write_fn)
        return

    def gz_write(raw) -> None:
        with gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0, compresslevel=6) as gz:
            write_fn(gz)

    atomic_write(path, gz_write)


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


class KeyedVectors:
    """Keys mapped to rows of a dense float32 matrix, with gensim's query API.

    Parameters
    ----------
    vectors : array (n, d), converted to float32 (no copy if already C-contiguous float32).
    index_to_key : n distinct keys (str; ints are accepted, as in gensim); row i is key i.
    counts : optional int64 (n,) frequencies (e.g. corpus counts), kept alongside.

    The unit-normalised matrix is cached; assigning ``kv.vectors = ...`` clears the cache,
    but after editing ``kv.vectors`` *in place* call :meth:`fill_norms` ``(force=True)``.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        index_to_key: Sequence[Key],
        counts: np.ndarray | Sequence[int] | None = None,
    ) -> None:
        keys = list(index_to_key)
        for k in keys:
            if not isinstance(k, (str, int, np.integer)) or isinstance(k, bool):
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
        self.index_to_key: list[Key] = keys
        self.key_to_index: dict[Key, int] = key_to_index
        self._vectors: np.ndarray | None = None
        self._norms: np.ndarray | None = None
        self._normed: np.ndarray | None = None
        self.vectors = vectors  # validated by the setter
        self.counts: np.ndarray | None = None
        if counts is not None:
            c = np.asarray(counts)
            if c.ndim != 1 or c.shape[0] != len(keys):
                raise ValueError(f"counts must have shape ({len(keys)},) to match index_to_key, got {c.shape}")
            if c.size and not np.issubdtype(c.dtype, np.integer):
                if not np.all(np.isfinite(c)) or not np.all(c == np.round(c)):
                    raise TypeError("counts must be integers (int64 array)")
            self.counts = c.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ basics
    @property
    def vectors(self) -> np.ndarray:
        """float32 (n, d) matrix, row i = vector of ``index_to_key[i]``."""
        return self._vectors  # type: ignore[return-value]

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
        self._vectors = np.ascontiguousarray(arr, dtype=np.float32)
        self._norms = None
        self._normed = None

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def norms(self) -> np.ndarray:
        """float32 (n,) L2 norms of the rows (cached)."""
        self.fill_norms()
        return self._norms  # type: ignore[return-value]

    def fill_norms(self, force: bool = False) -> None:
        """Compute (or, with force=True, recompute after in-place edits) norms and unit vectors."""
        if self._norms is None or force:
            self._norms = np.linalg.norm(self.vectors, axis=1).astype(np.float32)
            safe = np.where(self._norms > 0, self._norms, np.float32(1.0))
            self._normed = self.vectors / safe[:, None]

    def get_normed_vectors(self) -> np.ndarray:
        """float32 (n, d) rows scaled to unit L2 norm (zero rows stay zero); cached."""
        self.fill_norms()
        return self._normed  # type: ignore[return-value]

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
        """float32 (d,) read-only view of the key's (optionally unit-normalised) vector."""
        idx = self.get_index(key)
        out = (self.get_normed_vectors() if norm else self.vectors)[idx]
        out = out.view()
        out.setflags(write=False)
        return out

    def __getitem__(self, key_or_keys: Key | Iterable[Key]) -> np.ndarray:
        """(d,) for one key, (k, d) for a list of keys."""
        if isinstance(key_or_keys, (str, int, np.integer)):
            return self.get_vector(key_or_keys)
        keys = list(key_or_keys)
        if not keys:
            return np.zeros((0, self.vector_size), np.float32)
        return self.vectors[[self.get_index(k) for k in keys]]

    def get_count(self, key: Key) -> int:
        if self.counts is None:
            raise ValueError("this KeyedVectors has no counts (construct it with counts=...)")
        return int(self.counts[self.get_index(key)])

    def __repr__(self) -> str:
        return f"KeyedVectors(n_keys={len(self)}, vector_size={self.vector_size})"

    # -------------------------------------------------------------- similarity
    def _check_topn(self, topn: int | None) -> None:
        if topn is None:
            return
        if isinstance(topn, bool) or not isinstance(topn, (int, np.integer)):
            raise TypeError(f"topn must be a positive int or None, got {topn!r}")
        if topn <= 0:
            raise ValueError(f"topn must be >= 1 (or None for all similarities), got {topn}")

    def _check_restrict(self, restrict_vocab: int | None) -> int:
        if restrict_vocab is None:
            return len(self)
        if isinstance(restrict_vocab, bool) or not isinstance(restrict_vocab, (int, np.integer)):
            raise TypeError(f"restrict_vocab must be a positive int or None, got {restrict_vocab!r}")
        if restrict_vocab <= 0:
            raise ValueError(f"restrict_vocab must be >= 1 (or None for the whole vocabulary), got {restrict_vocab}")
        return int(min(restrict_vocab, len(self)))

    def _as_unit(self, item: Any) -> tuple[np.ndarray, int | None]:
        """(unit float32 vector, row or None) of a key or a raw vector."""
        if isinstance(item, (str, int, np.integer)) and not isinstance(item, bool):
            if item not in self.key_to_index and not isinstance(item, (int, np.integer)):
                raise KeyError(f"Key {item!r} not present in vocabulary")
            idx = self.get_index(item)
            return self.get_normed_vectors()[idx], idx
        vec = np.asarray(item, dtype=np.float32)
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

    def _top(self, scores: np.ndarray, topn: int | None, exclude: set[int]) -> list[tuple[Key, float]]:
        n = scores.shape[0]
        k = min(n, topn + len(exclude))
        if k >= n:
            best = np.argsort(-scores, kind="stable")
        else:
            part = np.argpartition(-scores, k)[:k]
            best = part[np.argsort(-scores[part], kind="stable")]
        out = [(self.index_to_key[i], float(scores[i])) for i in best.tolist() if i not in exclude]
        return out[:topn]

    def most_similar(
        self,
        positive: Any = None,
        negative: Any = None,
        topn: int | None = 10,
        restrict_vocab: int | None = None,
    ) -> list[tuple[Key, float]] | np.ndarray:
        """Top-`topn` keys by cosine to the 3CosAdd query (unit vectors of `positive` minus
        `negative`, averaged and re-normalised); input keys are excluded.

        Items are keys, raw (d,) vectors, or ``(key_or_vector, weight)`` tuples.  Only the first
        `restrict_vocab` rows are searched.  Returns ``[(key, cosine)]`` best first, or with
        ``topn=None`` the float32 array of all (restricted) cosines.
        """
        self._check_topn(topn)
        limit = self._check_restrict(restrict_vocab)
        items, weights = self._weighted_terms(positive, negative)
        if not items:
            raise ValueError("most_similar needs at least one positive or negative key/vector")
        mean = np.zeros(self.vector_size, dtype=np.float64)
        exclude: set[int] = set()
        for it, w in zip(items, weights):
            unit, idx = self._as_unit(it)
            mean += w * unit.astype(np.float64)
            if idx is not None:
                exclude.add(idx)
        total = float(np.sum(np.abs(weights)))
        if total > 0:
            mean /= total
        nrm = np.linalg.norm(mean)
        query = (mean / nrm if nrm > 0 else mean).astype(np.float32)
        scores = self.get_normed_vectors()[:limit] @ query
        if topn is None:
            return scores
        return self._top(scores, topn, exclude)

    def most_similar_cosmul(
        self,
        positive: Any = None,
        negative: Any = None,
        topn: int | None = 10,
        restrict_vocab: int | None = None,
    ) -> list[tuple[Key, float]] | np.ndarray:
        """3CosMul (Levy & Goldberg 2014, eq. 4): score(x) = prod_p s(x,p) / (prod_n s(x,n) + 1e-6)
        with s = (1 + cos) / 2 in [0, 1].  Input keys are excluded; raw vectors are unit-normalised.
        Returns ``[(key, score)]`` best first, or all scores with ``topn=None``."""
        self._check_topn(topn)
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
                return np.ones(limit, dtype=np.float32)
            sims = (1.0 + normed @ np.stack(units).T) / 2.0
            return np.prod(sims, axis=1)

        pos = shifted(positive)
        neg = shifted(negative) if negative else None
        scores = pos / (neg + np.float32(1e-6)) if neg is not None else pos / np.float32(1.0 + 1e-6)
        scores = scores.astype(np.float32, copy=False)
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
        """Cosine similarity of two keys."""
        return float(np.dot(self.get_vector(w1, norm=True), self.get_vector(w2, norm=True)))

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
        self, keys: Sequence[Key], weights: np.ndarray, replace: bool = False
    ) -> None:
        """Append keys with their (k, d) vectors; keys already present are skipped (or their
        vectors overwritten with ``replace=True``), as gensim.  New keys get count 0."""
        keys = list(keys)
        w = np.asarray(weights, dtype=np.float32)
        if w.ndim == 1 and len(keys) == 1:
            w = w[None, :]
        if w.ndim != 2 or w.shape != (len(keys), self.vector_size):
            raise ValueError(f"weights must have shape ({len(keys)}, {self.vector_size}), got {w.shape}")
        if len(set(keys)) != len(keys):
            raise ValueError("add_vectors: keys must be distinct")
        present = [k in self.key_to_index for k in keys]
        new_keys = [k for k, p in zip(keys, present) if not p]
        for k in new_keys:
            if not isinstance(k, (str, int, np.integer)) or isinstance(k, bool):
                raise TypeError(f"keys must be str (or int), got {type(k).__name__} {k!r}")
        vectors = self.vectors
        if replace and any(present):
            vectors = vectors.copy()
            rows = [self.key_to_index[k] for k, p in zip(keys, present) if p]
            vectors[rows] = w[np.asarray(present)]
        if new_keys:
            start = len(self.index_to_key)
            for i, k in enumerate(new_keys):
                k = int(k) if isinstance(k, np.integer) else k
                self.index_to_key.append(k)
                self.key_to_index[k] = start + i
            vectors = np.vstack([vectors, w[~np.asarray(present)]])
            if self.counts is not None:
                self.counts = np.concatenate([self.counts, np.zeros(len(new_keys), np.int64)])
        self.vectors = vectors

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
    def _format_keys(self) -> list[bytes]:
        out = []
        for k in self.index_to_key:
            s = str(k)
            if not s or any(ch in _ASCII_WS for ch in s):
                raise ValueError(
                    f"key {k!r} is empty or contains whitespace and cannot be stored in word2vec format; "
                    "rename it (e.g. replace spaces with '_') or use save()"
                )
            out.append(s.encode("utf-8"))
        return out

    def save_word2vec_format(self, path: PathLike, binary: bool = False, write_header: bool = True) -> None:
        """Write the word2vec C format (header ``n d``; text rows ``key v1 .. vd`` with 9
        significant digits, or binary ``key `` + d little-endian float32); ``write_header=False``
        omits the header (GloVe style, text).  A ``.gz`` suffix
        gzips the output.  Atomic: a failure leaves any existing file untouched."""
        if binary and not write_header:
            raise ValueError("write_header=False is only supported for text files (binary=False)")
        keys = self._format_keys()
        vecs = self.vectors
        n, d = vecs.shape
        header = f"{n} {d}\n".encode("ascii") if write_header else b""

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

        _atomic_write(path, write, compress=os.fspath(path).endswith(".gz"))
        logger.info("saved %d x %d vectors to %s (%s)", n, d, os.fspath(path), "binary" if binary else "text")

    @classmethod
    def load_word2vec_format(
        cls,
        path: PathLike,
        binary: bool = False,
        limit: int | None = None,
        encoding: str = "utf-8",
        unicode_errors: str = "strict",
        no_header: bool = False,
    ) -> "KeyedVectors":
        """Read a word2vec C format file (text or binary, gzip detected automatically).

        `limit` reads only the first `limit` vectors; `no_header=True` reads headerless text
        (GloVe style: n and d are inferred).  Raises ValueError naming the file and line (text)
        or entry (binary) on a bad header, wrong value count, non-numeric or non-finite (NaN, inf)
        value, a file shorter than its header says, or a duplicate word; a text file read with
        ``binary=True`` (or a binary one without it) is named as such, with the ``binary`` to use."""
        fname = os.fspath(path)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        if no_header and binary:
            raise ValueError("no_header=True is only supported for text files (binary=False)")
        with _open_buffer(fname) as data:
            words, vecs, first_line = _parse_file(data, fname, binary, limit, encoding, unicode_errors, no_header)
        seen: dict[str, int] = {}
        for i, w in enumerate(words):
            if w in seen:
                if binary:
                    where, first_at = f"entry {i + 1}", f"entry {seen[w] + 1}"
                else:
                    where, first_at = f"line {i + first_line}", f"line {seen[w] + first_line}"
                raise ValueError(f"{fname}: {where}: duplicate word {w!r} (first seen at {first_at})")
            seen[w] = i
        logger.info("loaded %d x %d vectors from %s", vecs.shape[0], vecs.shape[1], fname)
        return cls(vecs, words)

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
        return cls(vectors, keys, counts=counts)


def _parse_file(
    data: Any, fname: str, binary: bool, limit: int | None, encoding: str, unicode_errors: str, no_header: bool
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
    else:
        try:
            words, vecs = _parse_text(
                data, body_start, n, d, fname, encoding, unicode_errors, truncated=limit is not None,
                first_line=first_line,
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


def _decode(raw: bytes, fname: str, where: str, encoding: str, errors: str) -> str:
    try:
        return raw.decode(encoding, errors=errors)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{fname}: {where}: word is not valid {encoding} ({e}); pass unicode_errors='replace' to load anyway"
        ) from None


def _parse_text(
    data: bytes, start: int, n: int, d: int, fname: str, encoding: str, errors: str, truncated: bool = False,
    first_line: int = 2,
) -> tuple[list[str], np.ndarray]:
    """Bulk-parse `n` text rows: tokens split on ASCII whitespace, values via one numpy cast."""
    if n == 0:
        return [], np.zeros((0, d), np.float32)
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
        raise ValueError(
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
    try:  # numpy's C parser: ~0.1 s for 30k x 100
        values = np.loadtxt(io.BytesIO(b"\n".join(rests)), dtype=np.float32, comments=None, ndmin=2)
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
    return words, values


def _diagnose_text(lines: list[bytes], words: list[str], d: int, fname: str, first_line: int = 2) -> None:
    """Slow per-line check, run only after the bulk parse failed, to name the bad line."""
    for i, line in enumerate(lines):
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
            raise ValueError(
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
        except ValueError as e:
            raise ValueError(f"{e}{hint}") from None
        vstart = sp + 1
        if vstart + nbytes > size:
            raise ValueError(
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
