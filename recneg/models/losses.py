"""The losses :class:`~recneg.models.mf.MatrixFactorization` trains with, and their options.

A loss is given by name (``loss="softmax"``) or as one of these objects when its options
matter (``loss=Softmax(temperature=0.1)``). Negatives are not a loss option: they come from
the sampler (``sampler=NegativeSampler(k=..., alpha=...)``).

========  =====================================================  ===========================
loss      per row                                                options
========  =====================================================  ===========================
BPR       ``sum_j w_j softplus(s_j - s_pos)``                    score
WARP      LightFM's rank-weighted hinge (sample until violation)  margin (numba only)
BCE       ``softplus(-s_pos) + w * sum_j softplus(s_j)``          negative_weight, score
NCE       ``softplus(-(s_pos - log k q_pos))                     (dot only; q from the sampler)
          + sum_j softplus(s_j - log k q_j)``
Softmax   ``-log softmax(s / T - log q)[pos]``                    temperature (or schedule), score, logq
CCL       ``(1 - s_pos) + w * mean_j relu(s_j - margin)``         margin, negative_weight (cosine)
iALS      ``c (s_pos - 1)^2 + alpha0 * sum_j s_j^2`` (all items)   alpha0, alpha, nu (ALS only)
========  =====================================================  ===========================
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ..sampling.schedules import Schedule, as_schedule, schedule_from_spec, schedule_spec

__all__ = ["Loss", "BPR", "WARP", "BCE", "NCE", "Softmax", "CCL", "WeightedSquared", "as_loss", "LOSS_NAMES"]

_SCORES = ("dot", "cosine")


def _check_score(score: str) -> None:
    if score not in _SCORES:
        raise ValueError(f"score must be 'dot' or 'cosine', got {score!r}")


def _check_number(name: str, value: Any, low: float, strict: bool = False) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v) or (v <= low if strict else v < low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")


@dataclass(frozen=True)
class Loss:
    """Base class of the MF losses; ``name`` is the string form (``loss="bpr"``)."""

    name: ClassVar[str] = ""
    score: str = "dot"

    def __post_init__(self) -> None:
        _check_score(self.score)

    def to_spec(self) -> dict:
        """JSON-serialisable ``{"name": ..., option: value}`` (see :func:`as_loss`)."""
        d = {k: (schedule_spec(v) if isinstance(v, Schedule) else v) for k, v in asdict(self).items()}
        return {"name": self.name, **d}


@dataclass(frozen=True)
class BPR(Loss):
    """Pairwise BPR (Rendle et al. 2009)."""

    name: ClassVar[str] = "bpr"


@dataclass(frozen=True)
class WARP(Loss):
    """WARP (Weston et al. 2011, as in LightFM): draw negatives until one violates the margin,
    then a hinge step weighted by ``log(1 + floor((n_items - 1) / trials))``. Numba kernel only;
    the draws and their cap come from :class:`~recneg.sampling.WarpSampler`."""

    name: ClassVar[str] = "warp"
    margin: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.score != "dot":
            raise ValueError("WARP scores with dot products; leave score='dot'")
        _check_number("margin", self.margin, 0.0)


@dataclass(frozen=True)
class BCE(Loss):
    """Binary cross-entropy on the positive and each negative (NCE-style, no log(k q) correction)."""

    name: ClassVar[str] = "bce"
    negative_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_number("negative_weight", self.negative_weight, 0.0)


@dataclass(frozen=True)
class NCE(Loss):
    """Noise-contrastive estimation (Gutmann & Hyvärinen 2010; Mnih & Teh 2012; TensorFlow's ``nce_loss``
    with ``subtract_log_q``): BCE on logits corrected by the noise law,

    ``-log sigmoid(s_pos - log(k q(pos))) - sum_j log sigmoid(-(s_j - log(k q(j))))``,

    ``q`` the law the sampler draws the ``k`` negatives of a row from (a ``NegativeSampler``'s proposal,
    untruncated also with ``exclude_seen``; an ``InBatchSampler(logq=True)``'s batch popularity), ``k``
    the negatives drawn per row. With the correction the optimum score is the log of the data density
    itself (self-normalised), where BCE's is its log-ratio to ``k q``. Torch trainer only; scores are dot
    products (the correction, ``-log(k q)``, is far outside a cosine's range)."""

    name: ClassVar[str] = "nce"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.score != "dot":
            raise ValueError("loss='nce' corrects unbounded scores by log(k q): leave score='dot' (a cosine score "
                             "in [-1, 1] cannot reach the corrected logits)")


@dataclass(frozen=True)
class Softmax(Loss):
    """Sampled softmax with logQ correction (Yi et al. 2019); ``temperature`` may be a schedule
    (evaluated per epoch on the numba path, per step on torch)."""

    name: ClassVar[str] = "softmax"
    temperature: Any = 1.0
    logq: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        t = as_schedule(self.temperature, "temperature")
        if not isinstance(self.temperature, Schedule):
            _check_number("temperature", self.temperature, 0.0, strict=True)
        object.__setattr__(self, "temperature", t if isinstance(self.temperature, Schedule) else float(self.temperature))


@dataclass(frozen=True)
class CCL(Loss):
    """SimpleX's cosine contrastive loss (Mao et al. 2021): always on cosine scores."""

    name: ClassVar[str] = "ccl"
    score: str = "cosine"
    margin: float = 0.9
    negative_weight: float = 150.0

    def __post_init__(self) -> None:
        if self.score != "cosine":
            raise ValueError("loss='ccl' is defined on cosine scores; leave score='cosine'")
        _check_number("margin", self.margin, -1.0)
        _check_number("negative_weight", self.negative_weight, 0.0)


@dataclass(frozen=True)
class WeightedSquared(Loss):
    """iALS's weighted squared loss over every item (Hu, Koren & Volinsky 2008; Rendle et al. 2022), ``loss="ials"``.

    For user factors ``w_u``, item factors ``h_i``, scores ``s_ui = w_u . h_i`` and the training pairs S::

        L = sum_{(u,i) in S} c_ui (s_ui - 1)^2  +  alpha0 * sum_u sum_{i in N_u} s_ui^2
            + reg * (sum_u n_u^nu |w_u|^2 + sum_i n_i^nu |h_i|^2)

    ``N_u`` are the negatives of the sampler, which must be ``AllItems()``: the items the user has not seen
    (``exclude_seen=True``, the default: Hu et al.'s and implicit's form) or every item
    (``exclude_seen=False``: Rendle et al.'s form, where a seen item also carries ``alpha0 * s^2``).
    ``n_u = sum_{i in I_u} c_ui + alpha0 |N_u|`` is row u's total weight (Rendle et al.'s ``|I_u| + alpha0 |I|``
    when ``c = 1`` and every item is a negative; likewise ``n_i`` per item). Trained by
    :class:`~recneg.models.als.ALSMatrixFactorization`: exact block solves with the Gramian trick, so all items
    are negatives at O(nnz d + (users + items) d^2) per epoch (conjugate gradient) instead of O(users items d).

    Args:
        alpha0: weight of an unobserved pair (>= 0), or None to set it from ``unobserved_ratio`` at fit.
        unobserved_ratio: the all-item term's total weight as a multiple of the observed pairs' (>= 0):
            ``alpha0 = unobserved_ratio * sum_S c_ui / (n_users * n_items)`` (``ratio * density`` on binary data),
            resolved at fit. A good ``alpha0`` grows with the data's density; this ratio carries across datasets
            (benchmarks/RESULTS.md, "iALS"). Give ``alpha0`` or ``unobserved_ratio``, not both; neither: the
            default ratio, :data:`DEFAULT_UNOBSERVED_RATIO`.
        alpha: confidence from the training matrix's values, or None. None (default): the values are ignored
            (binary, as every other MF loss) and ``c_ui = 1``. A number: ``c_ui = 1 + alpha * r_ui`` with
            ``r_ui`` the stored value (e.g. play counts; must be finite and >= 0), Hu et al.'s confidence.
            implicit's ``AlternatingLeastSquares(alpha=a)`` uses ``c_ui = a * r_ui`` with unobserved weight 1
            and ``nu = 0``: that is ``alpha0=1, alpha=a, confidence_offset=0, nu=0`` (on binary data also
            ``alpha0=1, alpha=a - 1``); :func:`recneg.compat.implicit.AlternatingLeastSquares` builds it.
        nu: exponent of the frequency-scaled regularisation (0: plain ``reg``, as implicit; 1: Rendle et al.'s).
        confidence_offset: the constant of the confidence, ``c_ui = confidence_offset + alpha * r_ui`` when
            ``alpha`` is a number (>= 0; default 1, Hu et al.'s; 0 is implicit's ``c = alpha * r``). Left out
            of :meth:`to_spec` at its default, so specs written before it existed read back the same.
    """

    name: ClassVar[str] = "ials"
    alpha0: float | None = None
    unobserved_ratio: float | None = None
    alpha: float | None = None
    nu: float = 1.0
    confidence_offset: float = 1.0

    def __post_init__(self) -> None:
        if self.score != "dot":
            raise ValueError("loss='ials' scores with dot products; leave score='dot'")
        if self.alpha0 is not None and self.unobserved_ratio is not None:
            raise ValueError(f"give alpha0 (the weight of one unobserved pair) or unobserved_ratio (their total "
                             f"weight relative to the observed pairs'), not both; got alpha0={self.alpha0!r}, "
                             f"unobserved_ratio={self.unobserved_ratio!r}")
        for name in ("alpha0", "unobserved_ratio", "alpha"):
            v = getattr(self, name)
            if v is not None:
                _check_number(name, v, 0.0)
                object.__setattr__(self, name, float(v))
        if self.alpha0 is None and self.unobserved_ratio is None:
            object.__setattr__(self, "unobserved_ratio", DEFAULT_UNOBSERVED_RATIO)
        _check_number("nu", self.nu, 0.0)
        object.__setattr__(self, "nu", float(self.nu))
        _check_number("confidence_offset", self.confidence_offset, 0.0)
        object.__setattr__(self, "confidence_offset", float(self.confidence_offset))

    def to_spec(self) -> dict:
        spec = super().to_spec()
        if spec.get("confidence_offset") == 1.0:
            del spec["confidence_offset"]
        return spec

    def unobserved_weight(self, confidence_sum: float, n_users: int, n_items: int) -> float:
        """``alpha0``, or ``unobserved_ratio * confidence_sum / (n_users * n_items)`` when it is set from the data."""
        if self.alpha0 is not None:
            return self.alpha0
        return self.unobserved_ratio * float(confidence_sum) / (float(n_users) * float(n_items))


DEFAULT_UNOBSERVED_RATIO = 10.0


_BY_NAME: dict[str, type[Loss]] = {c.name: c for c in (BPR, WARP, BCE, NCE, Softmax, CCL, WeightedSquared)}
LOSS_NAMES = tuple(_BY_NAME)


def as_loss(loss: "str | Loss | dict") -> Loss:
    """A :class:`Loss` from a name (``"ccl"``), a Loss (unchanged) or its :meth:`Loss.to_spec` dict."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, dict):
        spec = dict(loss)
        name = spec.pop("name", None)
        if name not in _BY_NAME:
            raise ValueError(f"loss spec needs a name among {LOSS_NAMES}, got {name!r}")
        if isinstance(spec.get("temperature"), dict):
            spec["temperature"] = schedule_from_spec(spec["temperature"])
        return _BY_NAME[name](**spec)
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"loss must be one of {LOSS_NAMES} or a recneg.models.losses.Loss, got {loss!r}")
