"""Schedules for sampler hyper-parameters that change over training.

A schedule maps a step (epoch or batch counter, int >= 0) to a float. Samplers take a
schedule wherever they take ``k``, ``m`` or a temperature and evaluate it at the
step set with ``sampler.set_step(step)``; integer parameters are rounded.
"""
from __future__ import annotations

import bisect
import math
from typing import Sequence


class Schedule:
    """Base class: ``schedule(step) -> float``."""

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def int_value(self, step: int) -> int:
        """The value at ``step`` rounded to the nearest integer."""
        return int(round(self(step)))


class ConstantSchedule(Schedule):
    """Always ``value``."""

    def __init__(self, value: float) -> None:
        self.value = _finite(value, "value")

    def __call__(self, step: int) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"ConstantSchedule({self.value})"


class LinearSchedule(Schedule):
    """``start`` at ``step <= start_step``, ``end`` from ``start_step + steps`` on, linear between."""

    def __init__(self, start: float, end: float, steps: int, start_step: int = 0) -> None:
        self.start = _finite(start, "start")
        self.end = _finite(end, "end")
        if int(steps) <= 0:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self.steps = int(steps)
        self.start_step = int(start_step)

    def __call__(self, step: int) -> float:
        f = min(max((step - self.start_step) / self.steps, 0.0), 1.0)
        return self.start + (self.end - self.start) * f

    def __repr__(self) -> str:
        return f"LinearSchedule({self.start}, {self.end}, steps={self.steps}, start_step={self.start_step})"


class ExponentialSchedule(Schedule):
    """Geometric interpolation from ``start`` to ``end`` (both > 0) over ``steps`` (e.g. a temperature)."""

    def __init__(self, start: float, end: float, steps: int, start_step: int = 0) -> None:
        self.start = _finite(start, "start")
        self.end = _finite(end, "end")
        if self.start <= 0 or self.end <= 0:
            raise ValueError(f"ExponentialSchedule needs start > 0 and end > 0, got {start!r}, {end!r}")
        if int(steps) <= 0:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self.steps = int(steps)
        self.start_step = int(start_step)

    def __call__(self, step: int) -> float:
        f = min(max((step - self.start_step) / self.steps, 0.0), 1.0)
        return math.exp(math.log(self.start) + (math.log(self.end) - math.log(self.start)) * f)

    def __repr__(self) -> str:
        return f"ExponentialSchedule({self.start}, {self.end}, steps={self.steps})"


class StepSchedule(Schedule):
    """Piecewise constant: ``values[i]`` for ``boundaries[i-1] <= step < boundaries[i]``.

    Args:
        boundaries: strictly increasing steps where the value changes, length n.
        values: length n + 1.
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]) -> None:
        self.boundaries = [int(b) for b in boundaries]
        self.values = [_finite(v, "values") for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"StepSchedule needs len(values) == len(boundaries) + 1, got {len(self.values)} values "
                f"and {len(self.boundaries)} boundaries"
            )
        if any(b1 <= b0 for b0, b1 in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {self.boundaries}")

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_right(self.boundaries, step)]

    def __repr__(self) -> str:
        return f"StepSchedule({self.boundaries}, {self.values})"


#: On the per-step (torch) path a scheduled alpha rebuilds the proposal only once it has moved this far
#: from the alpha the current table was built with (a 1 -> 0 schedule: at most ~100 rebuilds per run).
ALPHA_REBUILD_STEP = 0.01


def is_constant(s: "Schedule | None") -> bool:
    """Whether ``s`` never changes (None or a :class:`ConstantSchedule`)."""
    return s is None or isinstance(s, ConstantSchedule)


def as_schedule(x: "float | Schedule", name: str = "value") -> Schedule:
    """A schedule from a number (constant) or a schedule (unchanged)."""
    if isinstance(x, Schedule):
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float)) and not hasattr(x, "__float__"):
        raise TypeError(f"{name} must be a number or a Schedule, got {type(x).__name__}")
    return ConstantSchedule(float(x))


def _finite(v: float, name: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {v!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return f


_KINDS = {"linear": LinearSchedule, "lin": LinearSchedule, "exp": ExponentialSchedule, "exponential": ExponentialSchedule}


def parse_schedule(text: "str | float | Schedule", steps: int, name: str = "value") -> Schedule:
    """A schedule from its command-line form, over ``steps`` steps (e.g. the epochs).

    ``"5"`` is constant; ``"START:END"`` or ``"START:END:linear"`` goes linearly from START at
    step 0 to END at step ``steps - 1``; ``"START:END:exp"`` geometrically (both > 0). Numbers
    and schedules pass through :func:`as_schedule`.

    Raises:
        ValueError naming ``name`` and the accepted forms on anything else.
    """
    if not isinstance(text, str):
        return as_schedule(text, name)
    parts = text.strip().split(":")
    hint = f"{name} must be a number or START:END[:linear|exp] (e.g. 1:20:linear), got {text!r}"
    try:
        nums = [float(p) for p in parts[:2]]
    except ValueError:
        raise ValueError(hint) from None
    if len(parts) == 1:
        return ConstantSchedule(nums[0])
    kind = parts[2].strip().lower() if len(parts) == 3 else "linear"
    if len(parts) > 3 or kind not in _KINDS:
        raise ValueError(hint)
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1 to schedule {name}, got {steps!r}")
    try:
        return _KINDS[kind](nums[0], nums[1], steps=max(int(steps) - 1, 1))
    except ValueError as e:
        raise ValueError(f"{name} {text!r}: {e}") from None


_SCHEDULES = {c.__name__: c for c in (ConstantSchedule, LinearSchedule, ExponentialSchedule, StepSchedule)}


def schedule_spec(s: Schedule) -> dict:
    """A JSON-serialisable dict that :func:`schedule_from_spec` turns back into ``s``."""
    name = type(s).__name__
    if name not in _SCHEDULES:
        raise TypeError(f"cannot serialise a {name}; use one of {sorted(_SCHEDULES)}")
    return {"schedule": name, **{k: v for k, v in vars(s).items() if not k.startswith("_")}}


def schedule_from_spec(spec: dict) -> Schedule:
    """The schedule a :func:`schedule_spec` dict describes."""
    d = dict(spec)
    cls = _SCHEDULES.get(d.pop("schedule", None))
    if cls is None:
        raise ValueError(f"not a schedule spec: {spec!r}")
    if cls is StepSchedule:
        return StepSchedule(d["boundaries"], d["values"])
    return cls(**d)
