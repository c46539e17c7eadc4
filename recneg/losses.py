"""TensorFlow's sampled losses in torch: ``nce_loss`` and ``sampled_softmax_loss``.

Same signatures, same semantics as ``tf.nn.nce_loss`` / ``tf.nn.sampled_softmax_loss``
(TensorFlow's ``_compute_sampled_logits``), per-example outputs of shape (batch,), no reduction:

* one set of ``num_sampled`` candidates shared by the batch, from ``sampled_values`` or, when it
  is None, from :func:`recneg.sampling.log_uniform_candidate_sampler` (``unique=True``), as TensorFlow;
* logits ``inputs @ weights[c] + biases[c]`` for the true classes (batch, num_true) and the
  candidates (batch, num_sampled), both minus ``log(expected count)``;
* with ``remove_accidental_hits``, a candidate equal to one of the row's true classes gets the
  logit ``-FLOAT_MAX`` (float32's largest finite value; TensorFlow adds it, which gives the same
  number), so it neither counts nor gets a gradient;
* targets ``1 / num_true`` on the true columns, 0 on the candidates; NCE sums the sigmoid
  cross-entropy over the ``num_true + num_sampled`` columns, sampled softmax takes the softmax
  cross-entropy over them.

Gradients flow to ``weights``, ``biases`` and ``inputs``; everything runs on ``weights``' device.

>>> emb = torch.nn.Embedding(50_000, 128); out_w = torch.nn.Parameter(torch.randn(50_000, 128) * 0.09)
>>> out_b = torch.nn.Parameter(torch.zeros(50_000))
>>> loss = nce_loss(out_w, out_b, labels, emb(centres), num_sampled=64, num_classes=50_000).mean()
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .sampling.candidates import (
    FLOAT_MAX,
    compute_accidental_hits,
    log_uniform_candidate_sampler,
)

__all__ = ["compute_accidental_hits", "nce_loss", "sampled_softmax_loss"]

SampledValues = Sequence[Any]  # (sampled_candidates, true_expected_count, sampled_expected_count)


def _int_arg(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def _as_weight_list(weights: Any) -> list[torch.Tensor]:
    if isinstance(weights, torch.nn.Embedding):
        weights = weights.weight
    shards = list(weights) if isinstance(weights, (list, tuple)) else [weights]
    if not shards:
        raise ValueError("weights is an empty list; pass a (num_classes, dim) tensor or its shards")
    for s in shards:
        if not isinstance(s, torch.Tensor):
            raise TypeError(f"weights must be a torch tensor (num_classes, dim) or a list of them, got "
                            f"{type(s).__name__}")
        if s.ndim != 2:
            raise ValueError(f"weights must have shape (num_classes, dim), got {tuple(s.shape)}")
    return shards


def _shard_lookup(shards: list[torch.Tensor], ids: torch.Tensor, num_classes: int,
                  partition_strategy: str | None, sparse: bool) -> torch.Tensor:
    """Rows ``ids`` of the class table given as shards (TensorFlow's embedding_lookup), (n, dim)."""
    if len(shards) == 1:
        return F.embedding(ids, shards[0], sparse=sparse)
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"weights is a list of {len(shards)} shards: pass partition_strategy='div' (what TF2's "
                         f"tf.nn.nce_loss / sampled_softmax_loss use) or 'mod' (tf.compat.v1's default), "
                         f"got {partition_strategy!r}")
    n = len(shards)
    per, extras = divmod(num_classes, n)
    sizes = [s.shape[0] for s in shards]
    want = [per + (1 if i < extras else 0) for i in range(n)]
    if sizes != want or per == 0:
        raise ValueError(f"weights shards have {sizes} rows; {num_classes} classes in {n} shards "
                         f"({partition_strategy!r}) need {want}")
    if len({s.shape[1] for s in shards}) != 1:
        raise ValueError(f"weights shards differ in dim: {[tuple(s.shape) for s in shards]}")
    if partition_strategy == "mod":
        part, row = ids % n, torch.div(ids, n, rounding_mode="floor")
    else:  # TensorFlow's "div" assignment
        part = torch.maximum(torch.div(ids, per + 1, rounding_mode="floor"),
                             torch.div(ids - extras, per, rounding_mode="floor"))
        row = torch.where(part < extras, ids % (per + 1), (ids - extras) % per)
    pieces, where = [], []
    for i, s in enumerate(shards):
        at = torch.nonzero(part == i).flatten()
        pieces.append(F.embedding(row[at], s, sparse=sparse))
        where.append(at)
    out = torch.cat(pieces)
    return out[torch.argsort(torch.cat(where))]


def _sampled_logits(weights: Any, biases: torch.Tensor, labels: Any, inputs: torch.Tensor, num_sampled: int,
                    num_classes: int, num_true: int, sampled_values: SampledValues | None,
                    remove_accidental_hits: bool, partition_strategy: str | None, seed: Any, sparse: bool
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """TensorFlow's ``_compute_sampled_logits`` (subtract_log_q=True).

    Returns (logits, targets), each (batch, num_true + num_sampled), true columns first.
    """
    num_sampled = _int_arg("num_sampled", num_sampled)
    num_classes = _int_arg("num_classes", num_classes)
    num_true = _int_arg("num_true", num_true)
    shards = _as_weight_list(weights)
    dev = shards[0].device
    dim = shards[0].shape[1]
    rows = sum(s.shape[0] for s in shards)
    if len(shards) == 1 and rows != num_classes:
        raise ValueError(f"weights must have shape (num_classes, dim) = ({num_classes}, dim), got "
                         f"{tuple(shards[0].shape)}; pass num_classes={rows} or weights[:{num_classes}]")
    if not isinstance(inputs, torch.Tensor) or inputs.ndim != 2:
        raise ValueError(f"inputs must be a (batch, dim) tensor, got "
                         f"{tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__}")
    if inputs.shape[1] != dim:
        raise ValueError(f"inputs has dim {inputs.shape[1]} but weights has dim {dim}: inputs must be (batch, {dim})")
    if not isinstance(biases, torch.Tensor) or tuple(biases.shape) != (num_classes,):
        got = tuple(biases.shape) if isinstance(biases, torch.Tensor) else type(biases).__name__
        raise ValueError(f"biases must have shape (num_classes,) = ({num_classes},), got {got}")
    for name, t in (("inputs", inputs), ("biases", biases)):
        if t.device != dev:
            raise ValueError(f"{name} is on {t.device} but weights is on {dev}; move {name} to {dev}")
    dtypes = {s.dtype for s in shards} | {inputs.dtype, biases.dtype}
    if len(dtypes) != 1 or not inputs.dtype.is_floating_point:
        raise TypeError(f"weights, biases and inputs must share one floating dtype, got "
                        f"{sorted(str(d) for d in dtypes)}")
    B = inputs.shape[0]

    lab = torch.as_tensor(labels, device=dev)
    if lab.dtype.is_floating_point or lab.dtype.is_complex or lab.dtype == torch.bool:
        raise TypeError(f"labels must hold integer class ids (int64), got dtype {lab.dtype}")
    lab = lab.to(torch.int64)
    if lab.ndim == 1 and num_true == 1:
        lab = lab.unsqueeze(1)
    if lab.ndim != 2:
        raise ValueError(f"labels must have shape (batch, num_true) (or (batch,) when num_true=1), "
                         f"got {tuple(lab.shape)}")
    if lab.shape[0] != B:
        raise ValueError(f"labels has {lab.shape[0]} rows but inputs has {B}: one row of labels per input")
    if lab.shape[1] != num_true:
        raise ValueError(f"num_true={num_true} but labels has {lab.shape[1]} columns; pass num_true={lab.shape[1]}")

    if sampled_values is None:
        if num_sampled > num_classes:
            raise ValueError(f"num_sampled={num_sampled} > num_classes={num_classes}: the default sampler draws "
                             f"num_sampled distinct classes (unique=True); lower num_sampled")
        if lab.numel() and bool(((lab < 0) | (lab >= num_classes)).any()):
            bad = lab[(lab < 0) | (lab >= num_classes)][0].item()
            raise ValueError(f"labels must be class ids in [0, num_classes) = [0, {num_classes}), found {bad}")
        sampled_values = log_uniform_candidate_sampler(lab, num_true, num_sampled, True, num_classes, seed=seed,
                                                       device=dev)
    if not isinstance(sampled_values, (tuple, list)) or len(sampled_values) != 3:
        raise TypeError("sampled_values must be the (sampled_candidates, true_expected_count, "
                        "sampled_expected_count) triple a *_candidate_sampler returns")
    sampled = torch.as_tensor(sampled_values[0], device=dev)
    if sampled.dtype.is_floating_point or sampled.dtype == torch.bool:
        raise TypeError(f"sampled_values[0] (sampled_candidates) must hold integer ids, got {sampled.dtype}")
    sampled = sampled.to(torch.int64)
    true_ec = torch.as_tensor(sampled_values[1], device=dev).to(inputs.dtype)
    sampled_ec = torch.as_tensor(sampled_values[2], device=dev).to(inputs.dtype)
    if tuple(sampled.shape) != (num_sampled,):
        raise ValueError(f"num_sampled={num_sampled} but sampled_values[0] (sampled_candidates) has shape "
                         f"{tuple(sampled.shape)}; they must agree")
    if tuple(sampled_ec.shape) != (num_sampled,):
        raise ValueError(f"sampled_values[2] (sampled_expected_count) must have shape ({num_sampled},), "
                         f"got {tuple(sampled_ec.shape)}")
    if tuple(true_ec.shape) != (B, num_true):
        raise ValueError(f"sampled_values[1] (true_expected_count) must have shape (batch, num_true) = "
                         f"({B}, {num_true}), got {tuple(true_ec.shape)}")
    # every value check in one host sync
    flags = torch.stack([((lab < 0) | (lab >= num_classes)).any(),
                         ((sampled < 0) | (sampled >= num_classes)).any(),
                         ~((true_ec > 0) & torch.isfinite(true_ec)).all(),
                         ~((sampled_ec > 0) & torch.isfinite(sampled_ec)).all()]).tolist()
    if flags[0]:
        bad = lab[(lab < 0) | (lab >= num_classes)][0].item()
        raise ValueError(f"labels must be class ids in [0, num_classes) = [0, {num_classes}), found {bad}")
    if flags[1]:
        bad = sampled[(sampled < 0) | (sampled >= num_classes)][0].item()
        raise ValueError(f"sampled_values[0] (sampled_candidates) must be in [0, num_classes) = [0, {num_classes}), "
                         f"found {bad}")
    if flags[2] or flags[3]:
        which = "true_expected_count" if flags[2] else "sampled_expected_count"
        raise ValueError(f"sampled_values: {which} must be finite and > 0 (its log is subtracted); a zero means "
                         f"the sampler gives that class probability 0")

    flat = lab.reshape(-1)
    all_ids = torch.cat([flat, sampled])
    all_w = _shard_lookup(shards, all_ids, num_classes, partition_strategy, bool(sparse))
    all_b = biases[all_ids]
    n_true = flat.numel()
    true_w = all_w[:n_true].view(B, num_true, dim)
    true_logits = (inputs.unsqueeze(1) * true_w).sum(-1) + all_b[:n_true].view(B, num_true)
    sampled_logits = inputs @ all_w[n_true:].T + all_b[n_true:]
    if remove_accidental_hits:
        rows_, cols_, _ = compute_accidental_hits(lab, sampled, num_true)
        hit = torch.zeros(B, num_sampled, dtype=torch.bool, device=dev)
        hit[rows_.long(), cols_] = True
        big = min(FLOAT_MAX, torch.finfo(sampled_logits.dtype).max)  # float16 cannot hold -FLOAT_MAX
        sampled_logits = sampled_logits.masked_fill(hit, -big)
    true_logits = true_logits - torch.log(true_ec)
    sampled_logits = sampled_logits - torch.log(sampled_ec)
    logits = torch.cat([true_logits, sampled_logits], 1)
    targets = torch.cat([torch.full_like(true_logits, 1.0 / num_true), torch.zeros_like(sampled_logits)], 1)
    return logits, targets


def nce_loss(weights: Any, biases: torch.Tensor, labels: Any, inputs: torch.Tensor, num_sampled: int,
             num_classes: int, num_true: int = 1, sampled_values: SampledValues | None = None,
             remove_accidental_hits: bool = False, partition_strategy: str | None = None,
             seed: Any = None, *, sparse: bool = False) -> torch.Tensor:
    """``tf.nn.nce_loss``: noise-contrastive estimation, per example.

    Args:
        weights: float (num_classes, dim) class embeddings (a tensor, ``nn.Embedding`` or its
            ``.weight``), or a list of shards along dim 0 with ``partition_strategy`` "div"/"mod".
        biases: float (num_classes,); labels: int (batch, num_true), or (batch,) when num_true=1;
        inputs: float (batch, dim), the same dtype and device as ``weights``.
        num_sampled: candidates drawn per batch; num_classes: ids are in [0, num_classes).
        sampled_values: a sampler's (candidates, true_expected_count, sampled_expected_count);
            None = :func:`~recneg.sampling.log_uniform_candidate_sampler` with unique=True.
        remove_accidental_hits: mask candidates equal to a true class (TensorFlow: "sampled logistic").
        seed: for the default sampler: int, torch.Generator on the device, or None (global torch RNG).
        sparse: give ``weights`` a sparse gradient over the rows looked up (as TensorFlow's
            IndexedSlices; for ``torch.optim.SGD`` / ``SparseAdam``); ``biases`` stays dense.

    Returns:
        float (batch,): sum over the num_true + num_sampled columns of the sigmoid cross-entropy
        of ``logit - log(expected count)`` against targets 1/num_true (true) and 0 (candidates).
    """
    logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                                      sampled_values, remove_accidental_hits, partition_strategy, seed, sparse)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1)


def sampled_softmax_loss(weights: Any, biases: torch.Tensor, labels: Any, inputs: torch.Tensor, num_sampled: int,
                         num_classes: int, num_true: int = 1, sampled_values: SampledValues | None = None,
                         remove_accidental_hits: bool = True, partition_strategy: str | None = None,
                         seed: Any = None, *, sparse: bool = False) -> torch.Tensor:
    """``tf.nn.sampled_softmax_loss``: softmax cross-entropy over the true classes and the candidates.

    Arguments as :func:`nce_loss` (here ``remove_accidental_hits`` defaults to True, as TensorFlow).

    Returns:
        float (batch,): ``-sum_j t_j log softmax(logits)_j`` with ``logits = logit - log(expected
        count)`` over the num_true + num_sampled columns and targets t = 1/num_true on the true ones.
    """
    logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                                      sampled_values, remove_accidental_hits, partition_strategy, seed, sparse)
    return -(targets * F.log_softmax(logits, dim=1)).sum(1)
