"""``AllItems`` (every item is a negative) and :func:`sampler_from_spec`, the inverse of ``to_spec``.

Every sampler has ``to_spec()``: its constructor arguments as a JSON-serialisable dict with a
``"sampler"`` key (no training data: a model re-binds the sampler when it trains). Models save
their sampler that way and :func:`sampler_from_spec` rebuilds it.
"""
from __future__ import annotations

from typing import Any

from ._equality import sampler_eq
from .hard import DynamicNegativeSampler, WarpSampler
from .inbatch import InBatchSampler, MixedSampler
from .negative import NegativeSampler, as_csr
from .schedules import schedule_from_spec

__all__ = ["AllItems", "sampler_from_spec"]


class AllItems:
    """Every item is a negative of every row: the exact full softmax / full-catalogue loss, no sampling.

    Args:
        exclude_seen: mask the items the user has seen in train (and the row's positive).
    """

    def __init__(self, exclude_seen: bool = True) -> None:
        self.exclude_seen = bool(exclude_seen)
        self.csr = None

    def bind(self, train: Any) -> "AllItems":
        """Keep the training matrix's seen sets; returns self."""
        if self.csr is None:
            self.csr = as_csr(train, "train")
        return self

    def set_step(self, step: int) -> None:
        """No schedule (a no-op, for a uniform sampler interface)."""

    def to_spec(self) -> dict:
        return {"sampler": "AllItems", "exclude_seen": self.exclude_seen}

    __eq__ = sampler_eq  # same configuration, same data (recneg.sampling._equality)

    def __repr__(self) -> str:
        return f"AllItems(exclude_seen={self.exclude_seen})"


def _value(v: Any) -> Any:
    return schedule_from_spec(v) if isinstance(v, dict) and "schedule" in v else v


def sampler_from_spec(spec: dict) -> Any:
    """The (unbound) sampler a ``to_spec()`` dict describes.

    Raises:
        ValueError naming the spec when it names no known sampler.
    """
    if not isinstance(spec, dict) or "sampler" not in spec:
        raise ValueError(f"a sampler spec is a dict with a 'sampler' key, got {spec!r}")
    d = {k: _value(v) for k, v in spec.items() if k != "sampler"}
    kind = spec["sampler"]
    if kind == "NegativeSampler":
        return NegativeSampler(**d)
    if kind == "DynamicNegativeSampler":
        return DynamicNegativeSampler(sampler_from_spec(d.pop("base")), **d)
    if kind == "WarpSampler":
        return WarpSampler(sampler_from_spec(d.pop("base")), **d)
    if kind == "InBatchSampler":
        return InBatchSampler(**d)
    if kind == "MixedSampler":
        return MixedSampler(sampler_from_spec(d.pop("inbatch")), sampler_from_spec(d.pop("proposal")), **d)
    if kind == "AllItems":
        return AllItems(**d)
    raise ValueError(f"unknown sampler {kind!r} in spec {spec!r}")
