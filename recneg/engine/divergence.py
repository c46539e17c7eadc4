"""Divergence check shared by every trainer: one finiteness test of the loss and parameters per epoch.

A learning rate far too high for the data makes SGD overflow: the loss and then the
factors turn into inf/NaN, and everything trained after that is garbage. Trainers call
:func:`check_finite` once per epoch (never per update) and stop with
:class:`TrainingDivergedError`, which names the epoch and the learning rate used.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

__all__ = ["TrainingDivergedError", "check_finite"]


class TrainingDivergedError(ValueError):
    """Training produced a non-finite loss or parameters (the learning rate is too high for the data).

    Raised by ``fit``/``train`` of every model; the model is left unfitted (no trained weights to save).
    """


def _all_finite(x: Any) -> bool:
    """True when every value of a numpy array or torch tensor is finite (no torch import needed)."""
    if hasattr(x, "isfinite"):  # torch.Tensor: stay on its device, one sync
        return bool(x.isfinite().all())
    return bool(np.isfinite(x).all())


def check_finite(epoch: int, epochs: int, loss: float | None, params: Mapping[str, Any], lr_name: str,
                 lr: float) -> None:
    """Raise :class:`TrainingDivergedError` if ``loss`` or any array in ``params`` is not finite.

    Args:
        epoch: 0-based epoch just trained (the message counts from 1).
        epochs: epochs planned.
        loss: the epoch's mean loss, or None / NaN-by-convention when it was not computed
            (pass None then: NaN is treated as divergence).
        params: name -> numpy array or torch tensor (e.g. ``{"item factors": V}``).
        lr_name: the learning-rate argument of the model ("lr", "alpha").
        lr: its value.
    """
    what = None
    if loss is not None and not math.isfinite(loss):
        what = f"the loss is {loss}"
    else:
        for name, x in params.items():
            if x is not None and not _all_finite(x):
                what = f"the {name} contain NaN or inf"
                break
    if what is None:
        return
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch + 1} of {epochs}: {what}; the learning rate is too high for this "
        f"data: lower {lr_name} (got {lr_name}={lr:g}, try {lr / 10:g} or less); the model was left unfitted")
