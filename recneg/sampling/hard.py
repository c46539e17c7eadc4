"""Hard negatives: dynamic negative sampling (DNS) and WARP.

* :class:`DynamicNegativeSampler` draws ``m`` candidates per row from a base sampler,
  scores them with ``score_fn(users, candidates) -> (B, m)`` and keeps the top ``k``
  (``mode="topk"``) or samples ``k`` without replacement with probability
  proportional to ``exp(score / temperature)`` (``mode="softmax"``, Gumbel-top-k).
  ``m``, ``k`` and ``temperature`` may be schedules.
* :class:`WarpSampler` draws negatives one at a time until one violates the margin,
  ``score(neg) > score(pos) - margin``, up to ``max_trials``; it returns the
  violator and the trial count ``t`` (Weston et al.: rank estimate
  ``floor((N - 1) / t)``, weight :func:`warp_weights`).

``log_q`` of a hard negative is the base sampler's log-probability of the draw (the
proposal it came from), not the probability of being selected.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from numba import njit, prange
from scipy.special import digamma

from ._equality import sampler_eq
from ._rng import rng_next, rng_uniform, row_state
from .alias import alias_draw
from .kernels import MAX_REJECT, MODE_ALIAS, draw_unseen
from .negative import NegativeBatch, NegativeSampler, _row_setup, _spec, check_ids
from .schedules import Schedule, as_schedule

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

_MODES = ("topk", "softmax")


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


class DynamicNegativeSampler:
    """DNS: best (or softmax-sampled) ``k`` of ``m`` base candidates per row.

    Args:
        base: a :class:`NegativeSampler` (anything with ``sample(users, pos, k=)`` and
            ``sample_torch(users, pos, generator=, k=)``).
        score_fn: ``score_fn(users (B,), candidates (B, m)) -> scores (B, m)``; called with
            numpy arrays from :meth:`sample` and tensors from :meth:`sample_torch`. None when a
            model trains with the sampler: it scores candidates with its own factors.
        m: candidates per row (int or Schedule), >= k.
        k: negatives kept per row (int or Schedule).
        mode: ``"topk"`` or ``"softmax"``.
        temperature: softmax temperature (> 0, float or Schedule); ignored for topk.
        seed: seed for the softmax Gumbel noise.
        pool: numba MF kernel: draw and score this many distinct candidates once per user visit and
            pick each negative as the best of ``m`` of them (0 = ``m`` fresh candidates per negative).
    """

    def __init__(
        self,
        base: Any,
        score_fn: Callable | None = None,
        m: int | Schedule = 10,
        k: int | Schedule = 1,
        mode: str = "topk",
        temperature: float | Schedule = 1.0,
        seed: int | None = None,
        pool: int = 0,
    ) -> None:
        if score_fn is not None and not callable(score_fn):
            raise TypeError(f"score_fn must be callable (users, candidates) -> scores, got {type(score_fn).__name__}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or pool < 0:
            raise ValueError(f"pool must be an integer >= 0 (0 = no pool), got {pool!r}")
        self.base = base
        self.score_fn = score_fn
        self.m_schedule = as_schedule(m, "m")
        self.k_schedule = as_schedule(k, "k")
        self.t_schedule = as_schedule(temperature, "temperature")
        self.mode = mode
        self.pool = int(pool)
        self.seed = seed
        self._step = 0
        self._rng = np.random.default_rng(seed)
        self._check()

    def bind(self, train: Any) -> "DynamicNegativeSampler":
        """Bind the base sampler to the training matrix (see :meth:`NegativeSampler.bind`); returns self."""
        self.base.bind(train)
        return self

    def to_spec(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict (``score_fn`` is not kept)."""
        return {"sampler": "DynamicNegativeSampler", "base": self.base.to_spec(), "m": _spec(self.m_schedule, integer=True),
                "k": _spec(self.k_schedule, integer=True), "mode": self.mode, "temperature": _spec(self.t_schedule),
                "seed": self.seed, "pool": self.pool}

    __eq__ = sampler_eq  # same configuration, same data (recneg.sampling._equality)

    def __repr__(self) -> str:
        pool = f", pool={self.pool}" if self.pool else ""
        return f"DynamicNegativeSampler({self.base!r}, m={_spec(self.m_schedule, integer=True)!r}, k={_spec(self.k_schedule, integer=True)!r}{pool})"

    def _score(self, users: Any, candidates: Any) -> Any:
        if self.score_fn is None:
            raise ValueError("this DynamicNegativeSampler has no score_fn: pass score_fn=(users, candidates) -> scores "
                             "to sample it yourself, or give it to a model, which scores with its own factors")
        return self.score_fn(users, candidates)

    def set_step(self, step: float) -> None:
        """Set the step at which m / k / temperature schedules are evaluated (also forwarded to base); an int
        epoch, or a fractional epoch on the torch path (see :meth:`NegativeSampler.set_step`)."""
        self._step = step if isinstance(step, float) else int(step)
        if hasattr(self.base, "set_step"):
            self.base.set_step(step)
        self._check()

    @property
    def m(self) -> int:
        return self.m_schedule.int_value(self._step)

    @property
    def k(self) -> int:
        return self.k_schedule.int_value(self._step)

    @property
    def temperature(self) -> float:
        return float(self.t_schedule(self._step))

    def _check(self) -> None:
        if self.k < 1 or self.m < self.k:
            raise ValueError(f"need 1 <= k <= m, got k={self.k}, m={self.m} at step {self._step}")
        if self.mode == "softmax" and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature} at step {self._step}")

    def _scores_shape(self, scores: Any, shape: tuple) -> None:
        if tuple(scores.shape) != tuple(shape):
            raise ValueError(f"score_fn returned shape {tuple(scores.shape)}, expected (B, m) = {tuple(shape)}")

    def sample(self, users: Any, pos_items: Any = None) -> NegativeBatch:
        """numpy: ``items`` int64 (B, k), ``log_q`` float32 (B, k), ``valid``, ``scores`` (B, k)."""
        users = np.asarray(users)
        cand = self.base.sample(users, pos_items, k=self.m)
        scores = np.asarray(self._score(users, cand.items), dtype=np.float64)
        self._scores_shape(scores, cand.items.shape)
        if cand.valid is not None:
            scores = np.where(cand.valid, scores, -np.inf)
        key = scores
        if self.mode == "softmax":
            key = scores / self.temperature + self._rng.gumbel(size=scores.shape)
        order = np.argsort(-key, axis=1, kind="stable")[:, : self.k]
        take = lambda a: None if a is None else np.take_along_axis(a, order, axis=1)  # noqa: E731
        return NegativeBatch(take(cand.items), take(cand.log_q), take(cand.valid), scores=take(scores))

    def sample_torch(self, users: "torch.Tensor", pos_items: "torch.Tensor | None" = None, generator: Any = None) -> NegativeBatch:
        """torch version of :meth:`sample`; ``score_fn`` receives tensors."""
        import torch

        from .torch_draws import pick_hard

        cand = self.base.sample_torch(users, pos_items, generator=generator, k=self.m)
        scores = torch.as_tensor(self._score(users, cand.items)).to(cand.items.device, torch.float64)
        self._scores_shape(scores, cand.items.shape)
        if cand.valid is not None:
            scores = scores.masked_fill(~cand.valid, -float("inf"))
        order = pick_hard(scores, None, self.k, self.temperature if self.mode == "softmax" else None, generator)
        take = lambda a: None if a is None else torch.gather(a, 1, order)  # noqa: E731
        return NegativeBatch(take(cand.items), take(cand.log_q), take(cand.valid), scores=take(scores))


@njit(cache=True, parallel=True)
def _warp_kernel(
    users, pos, base, U, V, bias, margin, max_trials, exclude, prob, alias, p, log_p, cum,
    indptr, indices, seen_cum, hoff, htab, ustats, heavy_threshold,
):
    B = users.shape[0]
    d = U.shape[1]
    items = np.zeros(B, dtype=np.int64)
    log_q = np.zeros(B, dtype=np.float32)
    scores = np.zeros(B, dtype=np.float64)
    trials = np.zeros(B, dtype=np.int64)
    found = np.zeros(B, dtype=np.bool_)
    for b in prange(B):
        u = users[b]
        s = row_state(base, b)
        extra = -1
        heavy = False
        log_norm = 0.0
        if exclude:
            extra, heavy, log_norm, ok = _row_setup(
                u, pos, b, p, indptr, indices, hoff, htab, ustats, heavy_threshold
            )
            if not ok:
                continue
        q = pos[b]
        sp_ = bias[q]
        for f in range(d):
            sp_ += U[u, f] * V[q, f]
        j = -1
        sj = 0.0
        for t in range(1, max_trials + 1):
            if exclude:
                j, s = draw_unseen(s, u, extra, 0 if heavy else MAX_REJECT, MODE_ALIAS, prob, alias, p, cum, indptr,
                                   indices, seen_cum, hoff, htab)
            else:
                s = rng_next(s)
                j = alias_draw(prob, alias, rng_uniform(s))
            sj = bias[j]
            for f in range(d):
                sj += U[u, f] * V[j, f]
            trials[b] = t
            if sj > sp_ - margin:
                found[b] = True
                break
        items[b] = j
        scores[b] = sj
        log_q[b] = log_p[j] - log_norm
    return items, log_q, scores, trials, found


class WarpSampler:
    """WARP negatives: draw until ``score(neg) > score(pos) - margin`` or ``max_trials``.

    Args:
        base: the proposal; a :class:`NegativeSampler` for :meth:`sample_factors` (its
            proposal and exclusion are used inside the numba kernel), or any object with
            ``sample(users, pos, k=)`` for the callable path :meth:`sample`.
        max_trials: maximum draws per row (>= 1).
        margin: the hinge margin (>= 0).

    Outputs: ``items`` (B, 1), ``log_q`` (B, 1), ``valid`` (B, 1) (False when no violator
    was found in ``max_trials``: the row adds no loss), ``trials`` int64 (B,) (the count of
    the violating draw, or ``max_trials``), ``scores`` (B, 1).
    """

    def __init__(self, base: Any, max_trials: int = 100, margin: float = 1.0) -> None:
        if int(max_trials) < 1:
            raise ValueError(f"max_trials must be >= 1, got {max_trials!r}")
        if not np.isfinite(margin) or margin < 0:
            raise ValueError(f"margin must be finite and >= 0, got {margin!r}")
        self.base = base
        self.max_trials = int(max_trials)
        self.margin = float(margin)

    def set_step(self, step: float) -> None:
        """Forward the training step to the base sampler's schedules."""
        if hasattr(self.base, "set_step"):
            self.base.set_step(step)

    def bind(self, train: Any) -> "WarpSampler":
        """Bind the base sampler to the training matrix; returns self."""
        self.base.bind(train)
        return self

    def to_spec(self) -> dict:
        """Constructor arguments as a JSON-serialisable dict."""
        return {"sampler": "WarpSampler", "base": self.base.to_spec(), "max_trials": self.max_trials,
                "margin": self.margin}

    __eq__ = sampler_eq  # same configuration, same data (recneg.sampling._equality)

    def __repr__(self) -> str:
        return f"WarpSampler({self.base!r}, max_trials={self.max_trials}, margin={self.margin:g})"

    def sample_factors(
        self,
        users: Any,
        pos_items: Any,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        item_bias: np.ndarray | None = None,
    ) -> NegativeBatch:
        """Numba path for dot-product scores ``U[u] . V[i] + bias[i]``.

        Accepts numpy arrays or torch tensors (tensors are copied to the host for the kernel and
        the outputs come back on the factors' device).

        Args:
            users, pos_items: int (B,).
            user_factors: float (n_users, d); item_factors: float (n_items, d); item_bias: (n_items,) or None.
        """
        if _is_torch(user_factors) or _is_torch(users):  # torch in, torch out (computed on the host)
            import torch

            dev = (user_factors if _is_torch(user_factors) else users).device
            host = lambda x: x.detach().cpu().numpy() if _is_torch(x) else x  # noqa: E731
            nb = self.sample_factors(host(users), host(pos_items), host(user_factors), host(item_factors),
                                     None if item_bias is None else host(item_bias))
            t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
            return NegativeBatch(t(nb.items), t(nb.log_q), t(nb.valid), trials=t(nb.trials), scores=t(nb.scores))
        s = self.base
        if not isinstance(s, NegativeSampler):
            raise TypeError("sample_factors needs base to be a NegativeSampler; use sample(..., score_fn) otherwise")
        users = check_ids(users, s.n_users, "users")
        pos = check_ids(pos_items, s.n_items, "pos_items", length=users.shape[0])
        U = np.ascontiguousarray(user_factors, dtype=np.float64)
        V = np.ascontiguousarray(item_factors, dtype=np.float64)
        if U.ndim != 2 or U.shape[0] != s.n_users:
            raise ValueError(f"user_factors must have shape (n_users={s.n_users}, d), got {U.shape}")
        if V.ndim != 2 or V.shape != (s.n_items, U.shape[1]):
            raise ValueError(f"item_factors must have shape (n_items={s.n_items}, d={U.shape[1]}), got {V.shape}")
        bias = np.zeros(s.n_items) if item_bias is None else np.asarray(item_bias, dtype=np.float64)
        if bias.shape != (s.n_items,):
            raise ValueError(f"item_bias must have shape ({s.n_items},), got {bias.shape}")
        items, log_q, scores, trials, found = _warp_kernel(
            users, pos, s._base(), U, V, bias, self.margin, self.max_trials, s.exclude_seen,
            s.table.prob, s.table.alias, s.p, s.log_p, s.cum, s.indptr, s.indices, s.seen_cum, s.hoff, s.htab,
            s.ustats, s.heavy_threshold,
        )
        if s.exclude_seen:
            exhausted = trials == 0
            if exhausted.any():
                s._handle_status(users, exhausted.astype(np.int8), 1)  # raises in "raise" mode
                trials[exhausted] = self.max_trials
        return NegativeBatch(items[:, None], log_q[:, None], found[:, None], trials=trials, scores=scores[:, None])

    def sample(self, users: Any, pos_items: Any, score_fn: Callable) -> NegativeBatch:
        """Callable path: ``score_fn(users (B,), items (B, m)) -> (B, m)`` (numpy or torch).

        Draws ``max_trials`` candidates per row from ``base`` at once, scores them, and takes
        the first violator per row (trial count = its position + 1).
        """
        if not callable(score_fn):
            raise TypeError("score_fn must be callable (users, items) -> scores")
        torch_in = _is_torch(users)
        if torch_in:
            import torch

            cand = self.base.sample_torch(users, pos_items, k=self.max_trials)
            pos_s = torch.as_tensor(score_fn(users, pos_items.reshape(-1, 1))).reshape(-1).double()
            sc = torch.as_tensor(score_fn(users, cand.items)).double()
            viol = sc > (pos_s - self.margin)[:, None]
            if cand.valid is not None:
                viol &= cand.valid
            found = viol.any(dim=1)
            first = viol.int().argmax(dim=1)
            col = torch.where(found, first, torch.full_like(first, self.max_trials - 1))[:, None]
            trials = (col[:, 0] + 1).long()
            g = lambda a: torch.gather(a, 1, col)  # noqa: E731
            return NegativeBatch(g(cand.items), g(cand.log_q), found[:, None], trials=trials, scores=g(sc))
        cand = self.base.sample(users, pos_items, k=self.max_trials)
        pos_arr = np.asarray(pos_items)
        pos_s = np.asarray(score_fn(np.asarray(users), pos_arr.reshape(-1, 1)), dtype=np.float64).reshape(-1)
        sc = np.asarray(score_fn(np.asarray(users), cand.items), dtype=np.float64)
        if sc.shape != cand.items.shape:
            raise ValueError(f"score_fn returned shape {sc.shape}, expected {cand.items.shape}")
        viol = sc > (pos_s - self.margin)[:, None]
        if cand.valid is not None:
            viol &= cand.valid
        found = viol.any(axis=1)
        first = viol.argmax(axis=1)
        col = np.where(found, first, self.max_trials - 1)[:, None]
        g = lambda a: np.take_along_axis(a, col, axis=1)  # noqa: E731
        return NegativeBatch(g(cand.items), g(cand.log_q), found[:, None], trials=col[:, 0] + 1, scores=g(sc))


def warp_weights(trials: Any, n_negatives: int | np.ndarray) -> np.ndarray:
    """WARP rank weights ``L(r) = sum_{i=1..r} 1/i`` with ``r = floor((n_negatives - 1) / trials)``.

    Args:
        trials: int (B,) trial counts (>= 1).
        n_negatives: number of candidate negatives (scalar or per row), e.g. ``n_items - 1``.

    Returns:
        float64 (B,) weights (0 for rank 0).
    """
    t = np.asarray(trials, dtype=np.float64)
    if np.any(t < 1):
        raise ValueError("trials must be >= 1")
    r = np.floor((np.asarray(n_negatives, dtype=np.float64) - 1.0) / t)
    r = np.maximum(r, 0.0)
    return np.where(r > 0, digamma(r + 1.0) + np.euler_gamma, 0.0)
