"""Negative sampling: proposal distributions, alias tables, exact exclusion, in-batch,
mixed and hard negatives, and schedules for their hyper-parameters."""
from .alias import AliasTable, TorchAliasTable, alias_draw
from .distributions import custom, popularity, uniform
from .negative import NegativeBatch, NegativeSampler
from .schedules import ConstantSchedule, ExponentialSchedule, LinearSchedule, Schedule, StepSchedule, as_schedule

__all__ = [
    "AliasTable", "TorchAliasTable", "alias_draw",
    "popularity", "uniform", "custom",
    "NegativeBatch", "NegativeSampler",
    "Schedule", "ConstantSchedule", "LinearSchedule", "ExponentialSchedule", "StepSchedule", "as_schedule",
]
