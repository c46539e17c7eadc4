"""TensorFlow's candidate samplers, with TensorFlow's signatures and return values.

Each sampler draws one set of ``num_sampled`` candidate classes for a whole batch and
returns, as ``tf.random.*_candidate_sampler`` does::

    sampled_candidates      int64   (num_sampled,)
    true_expected_count     float32 (batch, num_true)
    sampled_expected_count  float32 (num_sampled,)

The expected count of class ``c`` with probability ``p`` under the sampler (TensorFlow's
``RangeSampler``, ``range_sampler.cc``):

* ``unique=False``: ``num_sampled * p`` (i.i.d. draws);
* ``unique=True``: draws are made until ``num_sampled`` distinct classes are seen, taking
  ``num_tries`` draws; the count is the inclusion probability ``1 - (1 - p) ** num_tries``,
  except when no draw was repeated (``num_tries == num_sampled``), where TensorFlow reports
  ``num_sampled * p``; both are reproduced exactly.

Laws (``range_max`` = R classes, ids ``0 .. R-1``):

* :func:`log_uniform_candidate_sampler`: ``P(c) = log((c + 2) / (c + 1)) / log(R + 1)``
  (Zipfian; ids should be sorted by decreasing frequency), drawn in closed form
  ``floor(exp(u * log(R + 1))) - 1`` as TensorFlow does;
* :func:`uniform_candidate_sampler`: ``P(c) = 1 / R``;
* :func:`fixed_unigram_candidate_sampler`: ``P(c) ∝ unigrams[c] ** distortion`` (distortion is
  the popularity exponent α: 1 = by frequency, 0.75 = word2vec, 0 = uniform), drawn from an
  :class:`~recneg.sampling.alias.AliasTable`;
* :func:`learned_unigram_candidate_sampler`: ``P(c) ∝ 1 + (times c was a true class in earlier
  calls)``; TensorFlow keeps these counts inside the op, here they live in a
  :class:`LearnedUnigramCandidateSampler` passed as ``state`` (the counts are updated after the
  draw, as in TensorFlow).

Arrays or tensors: the result is numpy unless ``device`` is given, ``true_classes`` is a torch
tensor (then its device) or ``seed`` is a ``torch.Generator`` (then its device). Torch draws run
on that device (:class:`~recneg.sampling.alias.TorchAliasTable` for the unigram laws).
``seed``: an int (the same draws every call), a numpy ``Generator`` or ``torch.Generator``
(a stream that moves on), or None (numpy: fresh entropy; torch: the global torch RNG, so
``torch.manual_seed`` fixes it).
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .alias import AliasTable

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "FLOAT_MAX",
    "CandidateSampler",
    "FixedUnigramCandidateSampler",
    "LearnedUnigramCandidateSampler",
    "LogUniformCandidateSampler",
    "UniformCandidateSampler",
    "compute_accidental_hits",
    "fixed_unigram_candidate_sampler",
    "learned_unigram_candidate_sampler",
    "log_uniform_candidate_sampler",
    "uniform_candidate_sampler",
]

FLOAT_MAX = float(np.finfo(np.float32).max)  # TensorFlow's FLT_MAX: accidental hits get -FLOAT_MAX
_MAX_TRIES = 2**31 - 1  # TensorFlow's CHECK_LT(num_tries, kint32max)
_MAX_CHUNK = 1 << 20

Seed = Union[int, None, np.random.Generator, "torch.Generator"]
Array = Union[np.ndarray, "torch.Tensor"]


# ---------------------------------------------------------------------------- argument checks
def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_torch_generator(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Generator)


def _check_true_classes(true_classes: Any, num_true: int, range_max: int) -> Array:
    """int64 (batch, num_true) numpy array or tensor, values checked in [0, range_max)."""
    if _is_tensor(true_classes):
        import torch

        tc = true_classes.detach()
        if tc.dtype.is_floating_point or tc.dtype.is_complex or tc.dtype == torch.bool:
            raise TypeError(f"true_classes must hold integer class ids, got dtype {tc.dtype}")
        tc = tc.to(torch.int64)
    else:
        tc = np.asarray(true_classes)
        if tc.size and not np.issubdtype(tc.dtype, np.integer):
            raise TypeError(f"true_classes must hold integer class ids, got dtype {tc.dtype}")
        tc = tc.astype(np.int64, copy=False)
    if tc.ndim != 2 or tc.shape[1] != num_true:
        fix = " (use true_classes.reshape(-1, 1))" if tc.ndim == 1 and num_true == 1 else ""
        raise ValueError(f"true_classes must have shape (batch, num_true) = (batch, {num_true}), "
                         f"got {tuple(tc.shape)}{fix}")
    if tc.shape[0]:
        lo, hi = _torch_minmax(tc) if _is_tensor(tc) else (int(tc.min()), int(tc.max()))
        if lo < 0 or hi >= range_max:
            bad = lo if lo < 0 else hi
            raise ValueError(f"true_classes must be class ids in [0, range_max) = [0, {range_max}), found {bad}")
    return tc


def _torch_minmax(t: torch.Tensor) -> list[int]:
    import torch

    return torch.stack([t.min(), t.max()]).tolist()  # one host sync


def _resolve_backend(true_classes: Any, seed: Seed, device: Any) -> torch.device | None:
    """The torch device to draw on, or None for numpy."""
    if device is None and _is_torch_generator(seed):
        device = seed.device
    if device is None and _is_tensor(true_classes):
        device = true_classes.device
    if device is None:
        return None
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    if _is_torch_generator(seed) and torch.device(seed.device).type != dev.type:
        raise ValueError(f"seed is a torch.Generator on {seed.device} but the draws run on {dev}; "
                         f"pass a generator on {dev} (torch.Generator(device={str(dev)!r}))")
    return dev


def _numpy_rng(seed: Seed) -> np.random.Generator:
    if _is_torch_generator(seed):
        raise TypeError("seed is a torch.Generator but the draws run with numpy; pass device=... "
                        "(or an int seed / numpy Generator)")
    if seed is not None and not isinstance(seed, np.random.Generator) and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int, a numpy/torch Generator or None, got {seed!r}")
    return np.random.default_rng(seed)


def _torch_generator(seed: Seed, device: torch.device) -> torch.Generator | None:
    import torch

    if seed is None or _is_torch_generator(seed):
        return seed
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, a numpy/torch Generator or None, got {seed!r}")
    return torch.Generator(device=device).manual_seed(int(seed))


# ---------------------------------------------------------------------------- expected counts
def _expected_count_np(p: np.ndarray, num_sampled: int, num_tries: int) -> np.ndarray:
    """TensorFlow's ExpectedCountHelper on float64 probabilities, returned as float32."""
    if num_tries == num_sampled:
        return (p * num_sampled).astype(np.float32)
    with np.errstate(divide="ignore"):
        return (-np.expm1(num_tries * np.log1p(-p))).astype(np.float32)


def _expected_count_torch(p: torch.Tensor, num_sampled: int, num_tries: int) -> torch.Tensor:
    import torch

    if num_tries == num_sampled:
        return (p * num_sampled).to(torch.float32)
    return (-torch.expm1(num_tries * torch.log1p(-p))).to(torch.float32)


# ---------------------------------------------------------------------------- unique draws
def _next_chunk(num_sampled: int, found: int, drawn: int) -> int:
    """How many draws the next round makes: grows geometrically so rounds stay few."""
    return int(min(_MAX_CHUNK, max(64, 2 * (num_sampled - found), drawn // 2)))


def _first_distinct_np(draw, num_sampled: int) -> tuple[np.ndarray, int]:
    """(the first ``num_sampled`` distinct values of an i.i.d. stream, in draw order; draws used)."""
    found = np.empty(0, dtype=np.int64)
    tries = 0
    m = num_sampled
    while True:
        c = draw(m)
        _, first = np.unique(c, return_index=True)
        first.sort()
        new = first[~np.isin(c[first], found)] if found.size else first
        need = num_sampled - found.size
        if new.size >= need:
            take = new[:need]
            return np.concatenate([found, c[take]]), tries + int(take[-1]) + 1
        found = np.concatenate([found, c[new]])
        tries += m
        if tries >= _MAX_TRIES:
            raise RuntimeError(f"{tries} draws did not give num_sampled={num_sampled} distinct classes")
        m = _next_chunk(num_sampled, found.size, tries)


def _first_distinct_torch(draw, num_sampled: int, device: torch.device) -> tuple[torch.Tensor, int]:
    import torch

    found = torch.empty(0, dtype=torch.int64, device=device)
    tries = 0
    m = num_sampled
    while True:
        c = draw(m)
        vals, order = torch.sort(c, stable=True)
        head = torch.ones_like(vals, dtype=torch.bool)
        head[1:] = vals[1:] != vals[:-1]
        first = torch.sort(order[head]).values  # positions of first occurrences, in draw order
        if found.numel():
            first = first[~torch.isin(c[first], found)]
        need = num_sampled - found.numel()
        n_new = first.numel()  # host sync, once per round
        if n_new >= need:
            take = first[:need]
            return torch.cat([found, c[take]]), tries + int(take[-1]) + 1
        found = torch.cat([found, c[first]])
        tries += m
        if tries >= _MAX_TRIES:
            raise RuntimeError(f"{tries} draws did not give num_sampled={num_sampled} distinct classes")
        m = _next_chunk(num_sampled, found.numel(), tries)


# ---------------------------------------------------------------------------- samplers
class CandidateSampler:
    """Base of the candidate samplers over ``range_max`` classes (TensorFlow's ``RangeSampler``).

    Subclasses define the law: :meth:`probability` (float64) and the raw i.i.d. draws. Call an
    instance as ``sampler(true_classes, num_true, num_sampled, unique, seed=None, device=None)``.

    Attributes:
        last_num_tries: draws the last call made (``num_sampled`` when ``unique=False``; with
            ``unique=True`` the draws until ``num_sampled`` distinct classes), or None before a call.
    """

    def __init__(self, range_max: int) -> None:
        self.range_max = _check_int("range_max", range_max, 1)
        self.last_num_tries: int | None = None

    # -- the law (subclasses)
    def probability(self, classes: np.ndarray) -> np.ndarray:
        """float64, shape of ``classes``: the probability of one draw being each class."""
        raise NotImplementedError

    def _probability_torch(self, classes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _draw_np(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _draw_torch(self, n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def _n_drawable(self) -> int:
        """Classes of positive probability (the most a unique draw can return)."""
        return self.range_max

    def _update(self, true_classes: Array) -> None:
        """Learn from the batch's true classes after the draw (learned unigram only)."""

    # -- TensorFlow's op
    def __call__(self, true_classes: Any, num_true: int, num_sampled: int, unique: bool,
                 seed: Seed = None, device: str | torch.device | None = None) -> tuple[Array, Array, Array]:
        """Draw ``num_sampled`` candidates for the batch.

        Args:
            true_classes: int (batch, num_true) ids in [0, range_max), numpy or torch.
            num_true: targets per example; num_sampled: candidates to draw (>= 1).
            unique: draw without repetition (redraw until ``num_sampled`` distinct classes).
            seed: int, numpy/torch Generator, or None (see the module docstring).
            device: torch device for the draws and outputs; None = numpy unless
                ``true_classes`` is a tensor or ``seed`` a torch.Generator.

        Returns:
            (sampled_candidates int64 (num_sampled,), true_expected_count float32 (batch, num_true),
            sampled_expected_count float32 (num_sampled,)): numpy arrays or torch tensors.
        """
        num_true = _check_int("num_true", num_true, 1)
        num_sampled = _check_int("num_sampled", num_sampled, 1)
        if not isinstance(unique, (bool, np.bool_)):
            raise TypeError(f"unique must be True or False, got {unique!r}")
        if unique and num_sampled > self._n_drawable():
            what = (f"range_max={self.range_max}" if self._n_drawable() == self.range_max
                    else f"the {self._n_drawable()} classes of positive probability")
            raise ValueError(f"num_sampled={num_sampled} > {what}: unique=True cannot draw that many distinct "
                             f"classes; lower num_sampled or pass unique=False")
        tc = _check_true_classes(true_classes, num_true, self.range_max)
        dev = _resolve_backend(true_classes, seed, device)
        if dev is None:
            if _is_tensor(tc):
                tc = tc.cpu().numpy()
            rng = _numpy_rng(seed)
            draw = lambda n: self._draw_np(n, rng)
            if unique:
                sampled, tries = _first_distinct_np(draw, num_sampled)
            else:
                sampled, tries = draw(num_sampled), num_sampled
            out = (sampled.astype(np.int64, copy=False),
                   _expected_count_np(self.probability(tc), num_sampled, tries),
                   _expected_count_np(self.probability(sampled), num_sampled, tries))
        else:
            import torch

            tc = torch.as_tensor(tc).to(dev)
            gen = _torch_generator(seed, dev)
            draw = lambda n: self._draw_torch(n, dev, gen)
            if unique:
                sampled, tries = _first_distinct_torch(draw, num_sampled, dev)
            else:
                sampled, tries = draw(num_sampled), num_sampled
            out = (sampled,
                   _expected_count_torch(self._probability_torch(tc), num_sampled, tries),
                   _expected_count_torch(self._probability_torch(sampled), num_sampled, tries))
        self.last_num_tries = tries
        self._update(tc)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(range_max={self.range_max})"


class UniformCandidateSampler(CandidateSampler):
    """``P(c) = 1 / range_max`` (TensorFlow's ``UniformSampler``)."""

    def probability(self, classes: np.ndarray) -> np.ndarray:
        return np.full(np.shape(classes), 1.0 / self.range_max)

    def _probability_torch(self, classes: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.full(classes.shape, 1.0 / self.range_max, dtype=torch.float64, device=classes.device)

    def _draw_np(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.range_max, n, dtype=np.int64)

    def _draw_torch(self, n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        import torch

        return torch.randint(0, self.range_max, (n,), generator=generator, device=device)


class LogUniformCandidateSampler(CandidateSampler):
    """Zipfian ``P(c) = log((c + 2) / (c + 1)) / log(range_max + 1)`` (TensorFlow's ``LogUniformSampler``).

    Drawn in closed form: ``floor(exp(u * log(range_max + 1))) - 1`` for a uniform ``u`` in [0, 1),
    taken modulo ``range_max`` against rounding (as TensorFlow).
    """

    def __init__(self, range_max: int) -> None:
        super().__init__(range_max)
        self._log_range = math.log1p(self.range_max)

    def probability(self, classes: np.ndarray) -> np.ndarray:
        c = np.asarray(classes, dtype=np.float64)
        return np.log1p(1.0 / (c + 1.0)) / self._log_range

    def _probability_torch(self, classes: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.log1p(1.0 / (classes.to(torch.float64) + 1.0)) / self._log_range

    def _draw_np(self, n: int, rng: np.random.Generator) -> np.ndarray:
        v = np.floor(np.exp(rng.random(n) * self._log_range)).astype(np.int64) - 1
        return v % self.range_max

    def _draw_torch(self, n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        import torch

        u = torch.rand(n, dtype=torch.float64, device=device, generator=generator)
        return (torch.floor(torch.exp(u * self._log_range)).to(torch.int64) - 1) % self.range_max


class _AliasCandidateSampler(CandidateSampler):
    """A law given by non-negative weights, drawn from an alias table (numpy or torch, per device)."""

    def _set_weights(self, weights: np.ndarray) -> None:
        self._table = AliasTable(weights)
        self._p = self._table.p
        self._torch: dict[Any, tuple[Any, Any]] = {}

    def probability(self, classes: np.ndarray) -> np.ndarray:
        return self._p[np.asarray(classes, dtype=np.int64)]

    def _on(self, device: torch.device) -> tuple[Any, Any]:
        if device not in self._torch:
            import torch

            self._torch[device] = (self._table.to_torch(device),
                                   torch.as_tensor(self._p, dtype=torch.float64, device=device))
        return self._torch[device]

    def _probability_torch(self, classes: torch.Tensor) -> torch.Tensor:
        return self._on(classes.device)[1][classes]

    def _draw_np(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._table.sample(n, rng)

    def _draw_torch(self, n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        return self._on(device)[0].sample(n, generator=generator)

    def _n_drawable(self) -> int:
        return int(np.count_nonzero(self._p > 0))


def _read_vocab_file(vocab_file: str | os.PathLike) -> np.ndarray:
    """The last comma-separated field of every non-empty line, as float64 (TensorFlow's format)."""
    path = os.fspath(vocab_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"vocab_file not found: {path!r}")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            try:
                out.append(float(line.split(",")[-1]))
            except ValueError:
                raise ValueError(f"vocab_file {path!r} line {n}: the last comma-separated field must be the "
                                 f"count, got {line!r}") from None
    return np.asarray(out, dtype=np.float64)


class FixedUnigramCandidateSampler(_AliasCandidateSampler):
    """``P(c) ∝ unigrams[c] ** distortion`` (TensorFlow's ``FixedUnigramSampler``), built once.

    Args:
        range_max: number of classes; must equal the number of weights after reserved ids and sharding.
        unigrams: non-negative counts (or weights), one per class after the reserved ids; or
        vocab_file: a CSV-like file whose last field on each line is the count (exactly one of the two).
        distortion: the exponent α applied to every count (finite; 0 = uniform over the listed classes).
        num_reserved_ids: ids ``0 .. num_reserved_ids-1`` get weight 0 (never drawn) before the counts.
        num_shards, shard: keep only the ids ``i`` with ``i % num_shards == shard`` (TensorFlow's sharding).
    """

    def __init__(self, range_max: int, unigrams: Sequence[float] | np.ndarray = (), distortion: float = 1.0,
                 vocab_file: str | os.PathLike = "", num_reserved_ids: int = 0, num_shards: int = 1,
                 shard: int = 0) -> None:
        super().__init__(range_max)
        num_reserved_ids = _check_int("num_reserved_ids", num_reserved_ids, 0)
        num_shards = _check_int("num_shards", num_shards, 1)
        shard = _check_int("shard", shard, 0)
        if shard >= num_shards:
            raise ValueError(f"shard must be in [0, num_shards) = [0, {num_shards}), got {shard}")
        try:
            d = float(distortion)
        except (TypeError, ValueError):
            raise TypeError(f"distortion must be a real number, got {distortion!r}") from None
        if isinstance(distortion, bool) or not math.isfinite(d):
            raise ValueError(f"distortion must be a finite real number (the popularity exponent), got {distortion!r}")
        self.distortion = d
        has_file = bool(os.fspath(vocab_file)) if vocab_file is not None else False
        u = np.asarray(unigrams, dtype=np.float64) if not isinstance(unigrams, (str, bytes)) else None
        if u is None:
            raise TypeError("unigrams must be a sequence of counts; pass a file name as vocab_file=")
        if has_file == bool(u.size):
            raise ValueError("pass exactly one of unigrams (a list of counts) and vocab_file (a path)")
        counts = _read_vocab_file(vocab_file) if has_file else u
        name = "vocab_file counts" if has_file else "unigrams"
        if counts.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one count per class), got shape {counts.shape}")
        if np.isnan(counts).any():
            raise ValueError(f"{name} contains NaN (first at index {int(np.flatnonzero(np.isnan(counts))[0])}); "
                             f"counts must be finite and >= 0")
        if (counts < 0).any():
            i = int(np.flatnonzero(counts < 0)[0])
            raise ValueError(f"{name} contains a negative count (index {i}: {counts[i]}); counts must be >= 0")
        if not np.isfinite(counts).all():
            raise ValueError(f"{name} contains inf; counts must be finite and >= 0")
        with np.errstate(divide="ignore", over="ignore"):
            w = counts**d  # 0 ** 0 = 1 and 0 ** d = 0 for d > 0, as C's pow
        if not np.isfinite(w).all():
            why = "zero counts with distortion < 0" if (counts == 0).any() and d < 0 else "overflow"
            raise ValueError(f"unigrams ** distortion is not finite ({why}); drop zero counts or use distortion >= 0")
        full = np.concatenate([np.zeros(num_reserved_ids), w])
        weights = full[np.arange(full.size) % num_shards == shard]
        if weights.size != self.range_max:
            raise ValueError(f"range_max={self.range_max} but the sampler has {weights.size} classes "
                             f"(num_reserved_ids={num_reserved_ids} + {counts.size} counts, shard {shard} of "
                             f"{num_shards}); range_max must equal that number")
        if not (weights > 0).any():
            raise ValueError(f"{name} ** distortion are all zero: nothing can be sampled")
        self._set_weights(weights)

    def __repr__(self) -> str:
        return f"FixedUnigramCandidateSampler(range_max={self.range_max}, distortion={self.distortion:g})"


class LearnedUnigramCandidateSampler(_AliasCandidateSampler):
    """``P(c) ∝ counts[c]``, counts starting at 1 and incremented for every true class seen.

    The state of TensorFlow's ``learned_unigram_candidate_sampler`` (which keeps it inside the op):
    each call draws with the counts so far, then adds the call's ``true_classes`` (every entry,
    repeats included). ``counts``: int64 (range_max,). The alias table is rebuilt after each
    update, O(range_max) per call.
    """

    def __init__(self, range_max: int) -> None:
        super().__init__(range_max)
        self.counts = np.ones(self.range_max, dtype=np.int64)
        self._set_weights(self.counts.astype(np.float64))

    def _update(self, true_classes: Array) -> None:
        flat = true_classes.reshape(-1)
        if _is_tensor(flat):
            flat = flat.cpu().numpy()
        self.counts += np.bincount(flat, minlength=self.range_max)
        self._set_weights(self.counts.astype(np.float64))

    def __repr__(self) -> str:
        return f"LearnedUnigramCandidateSampler(range_max={self.range_max}, seen={int(self.counts.sum()) - self.range_max})"


# ---------------------------------------------------------------------------- TensorFlow's functions
def uniform_candidate_sampler(true_classes: Any, num_true: int, num_sampled: int, unique: bool, range_max: int,
                              seed: Seed = None, device: str | torch.device | None = None
                              ) -> tuple[Array, Array, Array]:
    """``tf.random.uniform_candidate_sampler``: ``P(c) = 1 / range_max``.

    Returns (sampled_candidates int64 (num_sampled,), true_expected_count float32 (batch, num_true),
    sampled_expected_count float32 (num_sampled,)); see :meth:`CandidateSampler.__call__`.
    """
    return UniformCandidateSampler(range_max)(true_classes, num_true, num_sampled, unique, seed=seed, device=device)


def log_uniform_candidate_sampler(true_classes: Any, num_true: int, num_sampled: int, unique: bool,
                                  range_max: int, seed: Seed = None, device: str | torch.device | None = None
                                  ) -> tuple[Array, Array, Array]:
    """``tf.random.log_uniform_candidate_sampler``: ``P(c) = log((c+2)/(c+1)) / log(range_max+1)``.

    Returns (sampled_candidates int64 (num_sampled,), true_expected_count float32 (batch, num_true),
    sampled_expected_count float32 (num_sampled,)); see :meth:`CandidateSampler.__call__`.
    """
    return LogUniformCandidateSampler(range_max)(true_classes, num_true, num_sampled, unique, seed=seed,
                                                 device=device)


def fixed_unigram_candidate_sampler(true_classes: Any, num_true: int, num_sampled: int, unique: bool,
                                    range_max: int, vocab_file: str | os.PathLike = "", distortion: float = 1.0,
                                    num_reserved_ids: int = 0, num_shards: int = 1, shard: int = 0,
                                    unigrams: Sequence[float] | np.ndarray = (), seed: Seed = None,
                                    device: str | torch.device | None = None) -> tuple[Array, Array, Array]:
    """``tf.random.fixed_unigram_candidate_sampler``: ``P(c) ∝ unigrams[c] ** distortion``.

    Builds a :class:`FixedUnigramCandidateSampler` (an alias table, O(range_max)) on every call;
    to draw for many batches, build one and call it.

    Returns (sampled_candidates int64 (num_sampled,), true_expected_count float32 (batch, num_true),
    sampled_expected_count float32 (num_sampled,)); see :meth:`CandidateSampler.__call__`.
    """
    s = FixedUnigramCandidateSampler(range_max, unigrams=unigrams, distortion=distortion, vocab_file=vocab_file,
                                     num_reserved_ids=num_reserved_ids, num_shards=num_shards, shard=shard)
    return s(true_classes, num_true, num_sampled, unique, seed=seed, device=device)


def learned_unigram_candidate_sampler(true_classes: Any, num_true: int, num_sampled: int, unique: bool,
                                      range_max: int, seed: Seed = None,
                                      state: LearnedUnigramCandidateSampler | None = None,
                                      device: str | torch.device | None = None) -> tuple[Array, Array, Array]:
    """``tf.random.learned_unigram_candidate_sampler``: ``P(c) ∝ 1 + times c was a true class so far``.

    ``state`` carries the counts from call to call (TensorFlow keeps them in the op): create
    ``LearnedUnigramCandidateSampler(range_max)`` once and pass it every call. Without it the
    call starts from all-ones counts (uniform), as TensorFlow's first call does.

    Returns (sampled_candidates int64 (num_sampled,), true_expected_count float32 (batch, num_true),
    sampled_expected_count float32 (num_sampled,)); see :meth:`CandidateSampler.__call__`.
    """
    if state is None:
        state = LearnedUnigramCandidateSampler(range_max)
    elif not isinstance(state, LearnedUnigramCandidateSampler):
        raise TypeError(f"state must be a LearnedUnigramCandidateSampler, got {type(state).__name__}")
    elif state.range_max != range_max:
        raise ValueError(f"state has range_max={state.range_max} but range_max={range_max}; pass the state built "
                         f"for this range")
    return state(true_classes, num_true, num_sampled, unique, seed=seed, device=device)


def compute_accidental_hits(true_classes: Any, sampled_candidates: Any, num_true: int
                            ) -> tuple[Array, Array, Array]:
    """``tf.nn.compute_accidental_hits``: where a sampled candidate equals one of a row's true classes.

    Args:
        true_classes: int (batch, num_true); sampled_candidates: int (num_sampled,) (numpy or torch).

    Returns:
        (indices int32 (n_hits,) rows of ``true_classes``, ids int64 (n_hits,) positions in
        ``sampled_candidates``, weights float32 (n_hits,) all ``-FLOAT_MAX``), in row-major order of
        ``true_classes``. As TensorFlow (which presupposes unique candidates), a class drawn more
        than once is reported at its last position only. Torch in, torch out (same device).
    """
    num_true = _check_int("num_true", num_true, 1)
    torch_in = _is_tensor(true_classes) or _is_tensor(sampled_candidates)
    if torch_in:
        import torch

        dev = sampled_candidates.device if _is_tensor(sampled_candidates) else true_classes.device
        tc = torch.as_tensor(true_classes).to(dev)
        sc = torch.as_tensor(sampled_candidates).to(dev)
        dtypes_ok = not (tc.dtype.is_floating_point or sc.dtype.is_floating_point
                         or torch.bool in (tc.dtype, sc.dtype))
    else:
        tc, sc = np.asarray(true_classes), np.asarray(sampled_candidates)
        dtypes_ok = all(a.size == 0 or np.issubdtype(a.dtype, np.integer) for a in (tc, sc))
    if not dtypes_ok:
        raise TypeError(f"true_classes and sampled_candidates must hold integer ids, got {tc.dtype} and {sc.dtype}")
    if tc.ndim != 2 or tc.shape[1] != num_true:
        raise ValueError(f"true_classes must have shape (batch, num_true) = (batch, {num_true}), got {tuple(tc.shape)}")
    if sc.ndim != 1:
        raise ValueError(f"sampled_candidates must be 1-D (num_sampled,), got shape {tuple(sc.shape)}")
    flat = tc.reshape(-1)
    if torch_in:
        flat, sc = flat.to(torch.int64), sc.to(torch.int64)
        vals, order = torch.sort(sc, stable=True)
        last = torch.ones_like(vals, dtype=torch.bool)
        last[:-1] = vals[:-1] != vals[1:]
        uniq, last_pos = vals[last], order[last]  # stable sort: a run's last element is the latest position
        if uniq.numel() == 0:
            hit_at = torch.empty(0, dtype=torch.int64, device=dev)
            ids = hit_at
        else:
            k = torch.searchsorted(uniq, flat).clamp_(max=uniq.numel() - 1)
            hit_at = torch.nonzero(uniq[k] == flat).flatten()
            ids = last_pos[k[hit_at]]
        indices = torch.div(hit_at, num_true, rounding_mode="floor").to(torch.int32)
        weights = torch.full((hit_at.numel(),), -FLOAT_MAX, dtype=torch.float32, device=dev)
        return indices, ids, weights
    flat, sc = flat.astype(np.int64, copy=False), sc.astype(np.int64, copy=False)
    order = np.argsort(sc, kind="stable")
    vals = sc[order]
    last = np.ones(vals.size, dtype=bool)
    last[:-1] = vals[:-1] != vals[1:]
    uniq, last_pos = vals[last], order[last]
    if uniq.size == 0:
        hit_at = np.empty(0, dtype=np.int64)
        ids = hit_at
    else:
        k = np.minimum(np.searchsorted(uniq, flat), uniq.size - 1)
        hit_at = np.flatnonzero(uniq[k] == flat)
        ids = last_pos[k[hit_at]].astype(np.int64)
    return (hit_at // num_true).astype(np.int32), ids, np.full(hit_at.size, -FLOAT_MAX, dtype=np.float32)
