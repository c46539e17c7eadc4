"""Proposal negative sampling with exact exclusion of seen items.

:class:`NegativeSampler` draws ``k`` negatives per (user, positive) pair from a
proposal ``p`` (popularity^alpha by default) and returns, for every draw, the
log-probability under the distribution that was *actually* sampled:

* ``exclude_seen=False``: ``log q_j = log p_j``;
* ``exclude_seen=True``: the proposal truncated to the items the user has not
  seen (and not the row's positive) and renormalised,
  ``log q_j = log p_j - log(1 - sum_{i in seen(u) + {pos}} p_i)``.

Exclusion is exact: a draw that hits a seen item is redrawn, never skipped or
left in. Light users (seen mass <= ``heavy_threshold``) use rejection against the
sorted CSR row (expected <= 1 / (1 - threshold) trials, capped); heavy users and
the rare row that exhausts the cap draw from the complement directly by bisecting
the cumulative mass of the unseen items (O(log V log row) per draw, no O(V) work,
no unbounded loop).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ._equality import sampler_eq
from ._rng import rng_next, rng_uniform, row_state
from .alias import AliasTable, alias_draw
from .distributions import custom, popularity
from .exclusion import build_row_hash, in_row_hash, is_seen
from .kernels import EXACT_NORM_BELOW as _EXACT_NORM_BELOW
from .kernels import MAX_REJECT as _MAX_REJECT
from .kernels import MODE_ALIAS, KernelSampler, complement_draw, draw_unseen, row_stats
from ..data.interactions import as_csr  # noqa: F401 (the one conversion; re-exported)
from .schedules import ConstantSchedule, Schedule, as_schedule, schedule_spec

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .torch_draws import TorchExclusion

logger = logging.getLogger(__name__)

_TORCH_REJECT_ROUNDS = 16  # torch path: vectorised rejection rounds before the complement draw


@dataclass
class NegativeBatch:
    """Negatives for a batch of B rows.

    Attributes:
        items: int64 (B, k) item indices (numpy array or torch tensor).
        log_q: float32 (B, k), log-probability of each draw under the distribution sampled.
        valid: bool (B, k), False marks entries to ignore (accidental hits, exhausted users,
            WARP rows without a violator); None means every entry is valid.
        trials: int64 (B,) WARP trial counts (only from :class:`WarpSampler`), else None.
        scores: float (B, k) scores of the returned negatives (hard samplers only), else None.
    """

    items: Any
    log_q: Any
    valid: Any = None
    trials: Any = None
    scores: Any = None

    def __iter__(self):
        return iter((self.items, self.log_q, self.valid))


# --------------------------------------------------------------------------- inputs


def _spec(s: Schedule, integer: bool = False) -> Any:
    """A schedule's JSON form: the number for a constant (an int for counts such as k), else :func:`schedule_spec`."""
    if isinstance(s, ConstantSchedule):
        return int(round(s.value)) if integer else s.value
    return schedule_spec(s)


def check_ids(ids: Any, n: int, name: str, length: int | None = None) -> np.ndarray:
    """Validate an integer id array (1-D, in [0, n)); returns int64."""
    a = np.asarray(ids)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D integer array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integer indices, got dtype {a.dtype}; cast with .astype(np.int64)")
    a = a.astype(np.int64, copy=False)
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name} has length {a.shape[0]} but users has length {length}; pass one per row")
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} contains {bad}, out of range [0, {n}); map ids to indices first")
    return a


# --------------------------------------------------------------------------- numba kernels


@njit(cache=True, inline="always")
def _row_setup(u, pos, b, p, indptr, indices, hoff, htab, ustats, heavy_threshold):
    """Per-row exclusion set-up: (extra excluded positive or -1, heavy?, log unseen mass, ok).

    ``ustats[u]`` = (seen mass, unseen mass, number of valid negatives, log unseen mass),
    packed so a row costs one cache line. ``ok`` is False when no valid negative is left.
    """
    extra = -1
    if pos.shape[0] > 0:
        q = pos[b]
        if not in_row_hash(hoff, htab, u, q):
            extra = q
    mass = ustats[u, 0]
    if extra < 0:
        if ustats[u, 2] <= 0.0:
            return extra, False, 0.0, False
        return extra, mass > heavy_threshold, ustats[u, 3], True
    mass += p[extra]
    norm = ustats[u, 1] - p[extra]
    nvalid = ustats[u, 2]
    if p[extra] > 0:
        nvalid -= 1.0
    if nvalid <= 0.0:
        return extra, False, 0.0, False
    if norm < _EXACT_NORM_BELOW:  # recompute without cancellation
        norm = 0.0
        for i in range(p.shape[0]):
            if i != extra and not is_seen(indptr, indices, u, i):
                norm += p[i]
    return extra, mass > heavy_threshold, np.log(norm), True


@njit(cache=True, parallel=True)
def _sample_exclusive(
    users, pos, k, base, prob, alias, p, log_p, cum, indptr, indices, seen_cum, hoff, htab, ustats, heavy_threshold,
):
    """k negatives per row with exact exclusion. status[b]: 0 ok, 1 exhausted user."""
    B = users.shape[0]
    items = np.zeros((B, k), dtype=np.int64)
    log_q = np.zeros((B, k), dtype=np.float32)
    status = np.zeros(B, dtype=np.int8)
    for b in prange(B):
        u = users[b]
        s = row_state(base, b)
        extra, heavy, log_norm, ok = _row_setup(
            u, pos, b, p, indptr, indices, hoff, htab, ustats, heavy_threshold
        )
        if not ok:
            status[b] = 1
            continue
        if heavy:
            for c in range(k):
                j, s = draw_unseen(s, u, extra, 0 if heavy else _MAX_REJECT, MODE_ALIAS, prob, alias, p, cum, indptr,
                                   indices, seen_cum, hoff, htab)
                items[b, c] = j
                log_q[b, c] = log_p[j] - log_norm
            continue
        # light row: k independent first draws (their table lookups overlap), then check each
        # and continue rejection only for the hits; per slot this is the same rejection sampler
        for c in range(k):
            s = rng_next(s)
            items[b, c] = alias_draw(prob, alias, rng_uniform(s))
        for c in range(k):
            j = items[b, c]
            if j == extra or in_row_hash(hoff, htab, u, j):
                j, s = draw_unseen(s, u, extra, 0 if heavy else _MAX_REJECT, MODE_ALIAS, prob, alias, p, cum, indptr,
                                   indices, seen_cum, hoff, htab)
                items[b, c] = j
            log_q[b, c] = log_p[j] - log_norm
    return items, log_q, status


@njit(cache=True, parallel=True)
def _sample_plain(n_rows, k, base, prob, alias, log_p):
    """k i.i.d. proposal draws per row (no exclusion)."""
    items = np.empty((n_rows, k), dtype=np.int64)
    log_q = np.empty((n_rows, k), dtype=np.float32)
    for b in prange(n_rows):
        s = row_state(base, b)
        for c in range(k):
            s = rng_next(s)
            j = alias_draw(prob, alias, rng_uniform(s))
            items[b, c] = j
            log_q[b, c] = log_p[j]
    return items, log_q


@njit(cache=True)
def _complement_many(users, extras, rs, cum, p, indptr, indices, seen_cum):
    out = np.empty(users.shape[0], dtype=np.int64)
    for t in range(users.shape[0]):
        out[t] = complement_draw(cum, p, indptr, indices, seen_cum, users[t], extras[t], rs[t])
    return out


# --------------------------------------------------------------------------- sampler


class NegativeSampler:
    """k proposal negatives per (user, positive) with exact exclusion and exact log-probabilities.

    Args:
        train: Interactions or scipy sparse matrix (n_users x n_items); its non-zeros are
            the "seen" items and, when ``weights`` is None, give the popularity counts
            (number of training users per item).
        k: negatives per row, an int >= 1 or a :class:`~recneg.sampling.schedules.Schedule`
            (rounded, evaluated at the step given to :meth:`set_step`).
        alpha: popularity exponent for the default proposal ``count ** alpha``
            (see :func:`recneg.sampling.distributions.popularity`).
        weights: float (n_items,) proposal weights overriding popularity^alpha.
        exclude_seen: redraw items the user has in ``train`` (and the row's positive).
        seed: int seed; same seed, same sequence of calls -> same draws.
        heavy_threshold: users whose seen mass (plus the row's positive) exceeds this draw from the
            complement directly by bisection; below it, rejection (expected 1 / (1 - mass) trials,
            capped at 64, then the complement). 0.95 is about the measured break-even point.
        on_exhausted: ``"raise"`` (ValueError naming the users who have seen every item with
            non-zero weight) or ``"mask"`` (their rows get ``valid=False``, ``items=0``, ``log_q=0``).
        device: torch device for :meth:`sample_torch` outputs.
    """

    def __init__(
        self,
        train: Any = None,
        k: int | Schedule = 5,
        alpha: float | Schedule = 0.75,
        weights: np.ndarray | None = None,
        exclude_seen: bool = True,
        seed: int | None = None,
        heavy_threshold: float = 0.95,
        on_exhausted: str = "raise",
        device: "str | torch.device" = "cpu",
        shared: bool | None = None,
    ) -> None:
        self.k_schedule = as_schedule(k, "k")
        self._step = 0
        if int(round(self.k_schedule(0))) < 1:
            raise ValueError(f"k must be >= 1, got {k!r}")
        if on_exhausted not in ("raise", "mask"):
            raise ValueError(f"on_exhausted must be 'raise' or 'mask', got {on_exhausted!r}")
        if not (0.0 < float(heavy_threshold) < 1.0):
            raise ValueError(f"heavy_threshold must be in (0, 1), got {heavy_threshold!r}")
        self.on_exhausted = on_exhausted
        self.heavy_threshold = float(heavy_threshold)
        self.exclude_seen = bool(exclude_seen)
        if isinstance(alpha, Schedule):
            self.alpha_schedule = alpha
        else:
            try:
                a = float(alpha)
            except (TypeError, ValueError):
                raise TypeError(f"alpha must be a real number, got {alpha!r}") from None
            if isinstance(alpha, bool) or not np.isfinite(a):
                raise ValueError(f"alpha must be a finite real number (the popularity exponent), got {alpha!r}")
            self.alpha_schedule = as_schedule(a, "alpha")
        self.weights = None if weights is None else custom(weights)
        self.shared = None if shared is None else bool(shared)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.device = device
        self._torch: dict | None = None
        self._ks: Any = None
        self._built_alpha: float | None = None
        self.csr: sp.csr_matrix | None = None
        if train is not None:
            self.bind(train)

    # ------------------------------------------------------------------ binding
    @property
    def is_bound(self) -> bool:
        """Whether the sampler knows its training matrix (seen items, popularity counts)."""
        return self.csr is not None

    def bind(self, train: Any) -> "NegativeSampler":
        """Attach the training matrix (users x items) and build the tables; returns self.

        A sampler built without ``train`` is bound by the model that trains with it. Binding an
        already bound sampler keeps its own matrix (it may exclude more than the model trains on)
        but checks the shape.
        """
        csr = as_csr(train, "train")
        if self.csr is not None:
            if self.csr.shape != csr.shape:
                raise ValueError(f"this NegativeSampler is bound to a {self.csr.shape[0]} x {self.csr.shape[1]} "
                                 f"matrix, but the training matrix is {csr.shape[0]} x {csr.shape[1]}; build the "
                                 f"sampler without train (the model binds it) or on the same matrix")
            return self
        if self.weights is not None and self.weights.shape[0] != csr.shape[1]:
            raise ValueError(
                f"weights has {self.weights.shape[0]} entries but train has {csr.shape[1]} items; give one weight per item"
            )
        self.csr = csr
        self.n_users, self.n_items = csr.shape
        self.indptr = csr.indptr
        self.indices = csr.indices
        self._counts = np.bincount(csr.indices, minlength=self.n_items)
        self._build()
        return self

    def _require_bound(self) -> None:
        if self.csr is None:
            raise ValueError("this NegativeSampler has no training data yet: pass train= (Interactions or a scipy "
                             "matrix) or call .bind(train); a model binds it at fit")

    def _build(self) -> None:
        """Proposal, alias table and per-user exclusion statistics for the current alpha."""
        alpha = self.alpha
        w = popularity(self._counts, alpha=alpha) if self.weights is None else self.weights
        self.table = AliasTable(w)
        self.p = self.table.p
        self.log_p = self.table.log_p
        self.cum = np.concatenate(([0.0], np.cumsum(self.p)))
        self.seen_mass, self.unseen_mass, self.npos_seen, self.seen_cum = row_stats(self.indptr, self.indices, self.p)
        self.npos_total = int(np.count_nonzero(self.p > 0))
        self.hoff, self.htab = build_row_hash(self.indptr, self.indices)  # O(1) membership for rejection
        with np.errstate(divide="ignore"):
            self.ustats = np.column_stack([
                self.seen_mass, self.unseen_mass, (self.npos_total - self.npos_seen).astype(np.float64),
                np.log(self.unseen_mass),
            ])
        self.exhausted_users = np.flatnonzero(self.npos_seen >= self.npos_total)
        # a large |alpha| concentrates popularity^alpha on a few items (the others underflow to 0)
        self._support_hint = "" if self.weights is not None or self.npos_total == self.n_items else (
            f" (popularity^alpha with alpha={alpha:g} gives non-zero weight to only {self.npos_total} of "
            f"{self.n_items} items; an alpha closer to 0 spreads it)")
        if self.exclude_seen and self.exhausted_users.size:
            logger.warning(
                "%d user(s) have seen every item with non-zero proposal weight (e.g. %s)%s",
                self.exhausted_users.size, self.exhausted_users[:5].tolist(), self._support_hint,
            )
        self._built_alpha = alpha
        self._torch = None
        self._ks = None

    def kernel_sampler(self) -> "KernelSampler":
        """The arrays the numba kernels draw from (:class:`~recneg.sampling.kernels.KernelSampler`) for the
        current proposal; the same object until a schedule changes ``alpha``."""
        self._require_bound()
        if self._ks is None:  # the exclusion statistics and hash are this sampler's own, not built twice
            stats = (self.seen_mass, self.unseen_mass, self.npos_seen, self.seen_cum, self.hoff, self.htab)
            if self.weights is None and self.alpha == 0.0:
                self._ks = KernelSampler.uniform(self.n_items, self.csr, self.exclude_seen, self.heavy_threshold,
                                                 stats)
            else:
                self._ks = KernelSampler.from_weights(self.p, self.csr, self.exclude_seen, self.heavy_threshold,
                                                      stats)
        return self._ks

    def to_spec(self) -> dict:
        """The constructor arguments as a JSON-serialisable dict (no data): see :func:`sampler_from_spec`."""
        return {"sampler": "NegativeSampler", "k": _spec(self.k_schedule, integer=True), "alpha": _spec(self.alpha_schedule),
                "weights": None if self.weights is None else self.weights.tolist(), "exclude_seen": self.exclude_seen,
                "seed": self.seed, "heavy_threshold": self.heavy_threshold, "on_exhausted": self.on_exhausted,
                "shared": self.shared}

    # ------------------------------------------------------------------ schedule
    @property
    def k(self) -> int:
        """Current number of negatives per row."""
        return max(1, int(round(self.k_schedule(self._step))))

    @property
    def alpha(self) -> float:
        """Current popularity exponent (a schedule's value at the step set with :meth:`set_step`)."""
        a = float(self.alpha_schedule(self._step))
        if not np.isfinite(a):
            raise ValueError(f"alpha must be a finite real number, got {a!r} at step {self._step}")
        return a

    def set_step(self, step: float) -> None:
        """Set the training position at which the k and alpha schedules are evaluated (a new alpha
        rebuilds the proposal). Models pass the epoch (an int), or on the torch path the fractional
        epoch ``epoch + batch / batches`` (schedules are per step there)."""
        self._step = step if isinstance(step, float) else int(step)
        if self.csr is not None and self.weights is None and self.alpha != self._built_alpha:
            self._build()

    # ------------------------------------------------------------------ numpy / numba
    def _base(self) -> np.uint64:
        return np.uint64(self._rng.integers(0, 2**63 - 1, dtype=np.int64))

    def log_norm(self, users: np.ndarray) -> np.ndarray:
        """float64 (B,): log of the unseen proposal mass of each user (0 when not excluding)."""
        self._require_bound()
        users = check_ids(users, self.n_users, "users")
        if not self.exclude_seen:
            return np.zeros(users.shape[0])
        with np.errstate(divide="ignore"):
            return np.log(self.unseen_mass[users])

    def sample(self, users: Any, pos_items: Any = None, k: int | None = None, *, _base: np.uint64 | None = None) -> NegativeBatch:
        """Draw negatives.

        Args:
            users: int (B,) user indices.
            pos_items: int (B,) positive item per row, or None. With exclusion the positive is
                excluded too (included in the truncation); without exclusion, draws equal to the
                positive are flagged ``valid=False``.
            k: negatives per row (default: the current ``self.k``).

        Returns:
            :class:`NegativeBatch` with numpy ``items`` int64 (B, k), ``log_q`` float32 (B, k)
            and ``valid`` bool (B, k) or None (all valid).
        """
        self._require_bound()
        users = check_ids(users, self.n_users, "users")
        B = users.shape[0]
        pos = None if pos_items is None else check_ids(pos_items, self.n_items, "pos_items", length=B)
        k = self.k if k is None else int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        base = self._base() if _base is None else _base
        if not self.exclude_seen:
            items, log_q = _sample_plain(B, k, base, self.table.prob, self.table.alias, self.log_p)
            valid = None if pos is None else items != pos[:, None]
            return NegativeBatch(items, log_q, valid)
        pos_arr = np.empty(0, dtype=np.int64) if pos is None else pos
        items, log_q, status = _sample_exclusive(
            users, pos_arr, k, base, self.table.prob, self.table.alias, self.p, self.log_p, self.cum,
            self.indptr, self.indices, self.seen_cum, self.hoff, self.htab, self.ustats, self.heavy_threshold,
        )
        return NegativeBatch(items, log_q, self._handle_status(users, status, k))

    def _handle_status(self, users: np.ndarray, status: np.ndarray, k: int) -> np.ndarray | None:
        bad = np.flatnonzero(status)
        if self.on_exhausted == "raise":
            if bad.size:
                names = np.unique(users[bad])
                raise ValueError(
                    f"user(s) {names[:10].tolist()}{' ...' if names.size > 10 else ''} have seen every item with "
                    f"non-zero proposal weight (counting the row's positive){self._support_hint}, so no negative "
                    f"exists; drop them or pass on_exhausted='mask'"
                )
            return None
        valid = np.ones((users.shape[0], k), dtype=bool)
        valid[bad] = False
        return valid

    # ------------------------------------------------------------------ torch
    def _torch_exclusion(self, device: "torch.device") -> "TorchExclusion":
        """The sampler's proposal and exclusion state on ``device`` (built once per device)."""
        self._require_bound()
        from .torch_draws import SeenIndex, TorchExclusion, TorchProposal

        if self._torch is None or self._torch.proposal.device != device:
            proposal = TorchProposal(self.table, device)
            seen = SeenIndex(self.indptr, self.indices, self.n_items, device)
            self._torch = TorchExclusion(
                proposal, seen, self.seen_cum, self.seen_mass, self.unseen_mass, self.npos_total - self.npos_seen,
                self.indptr, self.indices, self.heavy_threshold,
            )
        return self._torch

    def sample_torch(
        self,
        users: "torch.Tensor",
        pos_items: "torch.Tensor | None" = None,
        generator: "torch.Generator | None" = None,
        k: int | None = None,
        backend: str = "auto",
    ) -> NegativeBatch:
        """Like :meth:`sample` for torch inputs; returns tensors on the sampler's ``device``.

        ``backend="auto"`` uses the numba kernels when the device is CPU and the pure-torch
        path (alias draws + vectorised rejection rounds + vectorised complement bisection)
        otherwise; ``backend="torch"`` forces the torch path (e.g. to test it on CPU).
        Randomness comes from ``generator`` when given (it must live on the sampler's device
        for the torch path), else from the sampler's seed.
        """
        import torch

        device = torch.device(self.device)
        if backend not in ("auto", "torch", "numba"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'numba', got {backend!r}")
        if not isinstance(users, torch.Tensor):
            raise TypeError(f"users must be a torch.Tensor of item indices, got {type(users).__name__}; use sample() for numpy")
        if pos_items is not None and not isinstance(pos_items, torch.Tensor):
            raise TypeError(f"pos_items must be a torch.Tensor or None, got {type(pos_items).__name__}")
        use_torch = backend == "torch" or (backend == "auto" and device.type != "cpu")
        if not use_torch:
            base = None
            if generator is not None:
                base = np.uint64(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item()))
            nb = self.sample(
                users.detach().cpu().numpy(),
                None if pos_items is None else pos_items.detach().cpu().numpy(),
                k=k, _base=base,
            )
            return NegativeBatch(
                torch.from_numpy(nb.items).to(device),
                torch.from_numpy(nb.log_q).to(device),
                None if nb.valid is None else torch.from_numpy(nb.valid).to(device),
            )
        return self._sample_torch_native(users, pos_items, generator, k, device)

    def _sample_torch_native(self, users, pos_items, generator, k, device) -> NegativeBatch:
        import torch

        from .torch_draws import draw_exclusive

        excl = self._torch_exclusion(device)
        u = users.to(device=device, dtype=torch.int64).reshape(-1)
        B = u.shape[0]
        if B and (int(u.min()) < 0 or int(u.max()) >= self.n_users):
            raise ValueError(f"users contains ids out of range [0, {self.n_users})")
        pos = None
        if pos_items is not None:
            pos = pos_items.to(device=device, dtype=torch.int64).reshape(-1)
            if pos.shape[0] != B:
                raise ValueError(f"pos_items has length {pos.shape[0]} but users has length {B}")
            if B and (int(pos.min()) < 0 or int(pos.max()) >= self.n_items):
                raise ValueError(f"pos_items contains ids out of range [0, {self.n_items})")
        k = self.k if k is None else int(k)
        log_p = excl.proposal.log_p
        if not self.exclude_seen:
            items = excl.proposal.draw((B, k), generator)
            return NegativeBatch(items, log_p[items], None if pos is None else items != pos[:, None])
        if pos is None:
            extra = torch.full((B,), -1, dtype=torch.int64, device=device)
        else:
            extra = torch.where(excl.seen.contains(u, pos), torch.full_like(pos, -1), pos)
        items, exhausted = draw_exclusive(u, (B, k), excl, generator, extra=extra, rounds=_TORCH_REJECT_ROUNDS)
        log_q = (log_p[items].double() - excl.log_norm(u, extra)[:, None]).float()
        valid = None
        if bool(exhausted.any()):
            if self.on_exhausted == "raise":
                names = torch.unique(u[exhausted]).cpu().numpy()
                raise ValueError(
                    f"user(s) {names[:10].tolist()} have seen every item with non-zero proposal weight "
                    f"(counting the row's positive){self._support_hint}, so no negative exists; drop them or pass "
                    f"on_exhausted='mask'"
                )
            valid = (~exhausted)[:, None].expand(B, k).clone()
            log_q = log_q.masked_fill(~valid, 0.0)
        elif self.on_exhausted == "mask":
            valid = torch.ones((B, k), dtype=torch.bool, device=device)
        return NegativeBatch(items, log_q, valid)

    __eq__ = sampler_eq  # same configuration, same data (recneg.sampling._equality)

    def __repr__(self) -> str:
        data = f"n_users={self.n_users}, n_items={self.n_items}, " if self.csr is not None else ""
        alpha = "custom weights" if self.weights is not None else f"alpha={_spec(self.alpha_schedule)!r}"
        shared = "" if self.shared is None else f", shared={self.shared}"
        return f"NegativeSampler({data}k={_spec(self.k_schedule, integer=True)!r}, {alpha}, exclude_seen={self.exclude_seen}{shared})"
