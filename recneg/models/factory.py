"""One place that turns a negative-sampling strategy into a sampler and a model.

Both the command line (``recneg train``) and the lab (``recneg lab``) describe a strategy with
the same few fields (k, alpha, exclusion, DNS, in-batch, mixed, all items) and build their
models here, so a strategy the lab recommends trains the same way from the command line.
"""
from __future__ import annotations

from typing import Any

from ..sampling import AllItems, DynamicNegativeSampler, InBatchSampler, MixedSampler, NegativeSampler, WarpSampler
from ..sampling.schedules import Schedule

__all__ = ["build_sampler", "build_model"]


def build_sampler(k: "int | str | Schedule" = 1, alpha: "float | Schedule" = 0.0, exclude_seen: bool = True,
                  dns: "int | Schedule | None" = None, dns_pool: int = 0, in_batch: bool = False, mixed: bool = False,
                  shared: bool | None = None, warp: bool = False, seed: int | None = None) -> Any:
    """The sampler of a strategy.

    Args:
        k: negatives per positive (or per batch when shared), a schedule, or ``"all"`` (every item).
        alpha: popularity exponent of the proposal (or a schedule).
        exclude_seen: never a negative the user has seen (masked for shared/in-batch negatives).
        dns: DNS candidates per negative (best of ``dns``), or None; dns_pool: per-user candidate pool (numba).
        in_batch: the batch's other positives (logQ-corrected); mixed: in-batch plus ``k`` proposal negatives.
        shared: one set of proposal negatives per batch (None: the loss's default).
        warp: WARP trials (sample until a violation), with ``k`` ignored.
    """
    if k == "all":
        if dns or in_batch or mixed or warp:
            raise ValueError("negatives 'all' scores every item; it does not combine with DNS, in-batch, mixed or WARP")
        return AllItems(exclude_seen=exclude_seen)
    if in_batch and not mixed:
        return InBatchSampler(mask_seen=exclude_seen)
    proposal = NegativeSampler(k=k, alpha=alpha, exclude_seen=exclude_seen, seed=seed,
                               shared=True if mixed else shared)
    if mixed:
        return MixedSampler(InBatchSampler(mask_seen=exclude_seen), proposal, shared=True)
    if warp:
        return WarpSampler(NegativeSampler(k=1, alpha=alpha, exclude_seen=exclude_seen, seed=seed))
    if dns:
        return DynamicNegativeSampler(proposal, m=dns, pool=int(dns_pool or 0))
    return proposal


def build_model(kind: str, sampler: Any = None, **options: Any) -> Any:
    """A model of ``kind`` ("mf" or "item2vec") training with ``sampler``.

    ``options`` are the model's own constructor arguments (None values are dropped, so the model's
    defaults apply). For item2vec a ``NegativeSampler`` maps onto gensim's ``negative``/``ns_exponent``.
    """
    opts = {key: v for key, v in options.items() if v is not None}
    if kind == "mf":
        from .mf import MatrixFactorization

        return MatrixFactorization(sampler=sampler, **opts)
    if kind == "item2vec":
        from .item2vec import Item2Vec

        if sampler is not None:
            opts["sampler"] = sampler
        return Item2Vec(**opts)
    raise ValueError(f"kind must be 'mf' or 'item2vec', got {kind!r}")
