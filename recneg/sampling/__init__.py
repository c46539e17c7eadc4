"""Negative sampling: proposal distributions, alias tables, exact exclusion, in-batch,
mixed and hard negatives, and schedules for their hyper-parameters.

Typical use (numpy in, numpy out; ``sample_torch`` takes and returns tensors)::

    from recneg.sampling import NegativeSampler, InBatchSampler, MixedSampler
    sampler = NegativeSampler(train, k=5, alpha=0.75, seed=0)      # train: Interactions / scipy CSR
    nb = sampler.sample(users, pos_items)                            # users, pos_items: int (B,)
    nb.items   # int64 (B, 5), never an item the user has in train, nor the row's positive
    nb.log_q   # float32 (B, 5), log-prob under the truncated, renormalised proposal
    nb.valid   # None (all valid) or bool (B, 5) with on_exhausted="mask"

    logits = scores - log_q       # logQ correction for sampled softmax
    mixed = MixedSampler(InBatchSampler(train), NegativeSampler(train, k=64, alpha=0.0))

TensorFlow's candidate samplers (one set of candidates per batch, with expected counts)::

    from recneg.sampling import log_uniform_candidate_sampler
    sampled, true_ec, sampled_ec = log_uniform_candidate_sampler(labels, 1, 64, True, 50_000, seed=0)
"""
from .alias import AliasTable, TorchAliasTable, alias_draw
from .candidates import (CandidateSampler, FixedUnigramCandidateSampler, LearnedUnigramCandidateSampler,
                         LogUniformCandidateSampler, UniformCandidateSampler, compute_accidental_hits,
                         fixed_unigram_candidate_sampler, learned_unigram_candidate_sampler,
                         log_uniform_candidate_sampler, uniform_candidate_sampler)
from .distributions import custom, popularity, uniform
from .hard import DynamicNegativeSampler, WarpSampler, warp_weights
from .inbatch import InBatchSampler, MixedSampler, StreamingFrequency
from .negative import NegativeBatch, NegativeSampler
from .specs import AllItems, sampler_from_spec
from .schedules import (ConstantSchedule, ExponentialSchedule, LinearSchedule, Schedule, StepSchedule, as_schedule,
                        parse_schedule)

__all__ = [
    "AliasTable", "TorchAliasTable", "alias_draw",
    "popularity", "uniform", "custom",
    "NegativeBatch", "NegativeSampler", "AllItems", "sampler_from_spec", "InBatchSampler", "MixedSampler", "StreamingFrequency",
    "DynamicNegativeSampler", "WarpSampler", "warp_weights",
    "Schedule", "ConstantSchedule", "LinearSchedule", "ExponentialSchedule", "StepSchedule", "as_schedule",
    "parse_schedule",
    # TensorFlow's candidate samplers (recneg.sampling.candidates)
    "log_uniform_candidate_sampler", "uniform_candidate_sampler", "fixed_unigram_candidate_sampler",
    "learned_unigram_candidate_sampler", "compute_accidental_hits", "CandidateSampler", "UniformCandidateSampler",
    "LogUniformCandidateSampler", "FixedUnigramCandidateSampler", "LearnedUnigramCandidateSampler",
]
