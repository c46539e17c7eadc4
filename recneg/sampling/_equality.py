"""Equality of samplers: the same configuration, bound to the same data.

Two samplers are equal when they are of one type, were built with the same arguments (equal
``to_spec()``), and hold the same training matrix object (or are both unbound) and, for a
``DynamicNegativeSampler``, the same ``score_fn`` object; wrapped samplers are compared the same way.
Random-number state is not compared. A model's ``save``/``load`` round trip therefore gives a model
whose sampler equals the original's while both are unbound (e.g. an unfitted model), as implicit's
tests expect of ``model.__dict__``. Samplers are mutable, so they are not hashable.
"""
from __future__ import annotations

from typing import Any

_WRAPPED = ("base", "inbatch", "proposal")
_HELD = ("csr", "score_fn")


def _held(s: Any) -> tuple:
    """Identities of the objects a sampler (and the samplers it wraps) holds rather than describes."""
    out: list = [id(getattr(s, name, None)) for name in _HELD]
    for name in _WRAPPED:
        sub = getattr(s, name, None)
        if sub is not None and hasattr(sub, "to_spec"):
            out.append(_held(sub))
    return tuple(out)


def sampler_eq(a: Any, b: Any) -> Any:
    """``a == b`` for samplers (see the module docstring)."""
    if type(a) is not type(b):
        return NotImplemented
    return a is b or (a.to_spec() == b.to_spec() and _held(a) == _held(b))
