"""Negative sampling: proposal distributions, alias tables, exact exclusion, in-batch,
mixed and hard negatives, and schedules for their hyper-parameters."""
from .alias import AliasTable, TorchAliasTable, alias_draw
from .distributions import custom, popularity, uniform
from .hard import DynamicNegativeSampler, WarpSampler, warp_weights
from .inbatch import InBatchSampler, MixedSampler
from .negative import NegativeBatch, NegativeSampler
from .schedules import ConstantSchedule, ExponentialSchedule, LinearSchedule, Schedule, StepSchedule, as_schedule

__all__ = [
    "AliasTable", "TorchAliasTable", "alias_draw",
    "popularity", "uniform", "custom",
    "NegativeBatch", "NegativeSampler", "InBatchSampler", "MixedSampler",
    "DynamicNegativeSampler", "WarpSampler", "warp_weights",
    "Schedule", "ConstantSchedule", "LinearSchedule", "ExponentialSchedule", "StepSchedule", "as_schedule",
]
