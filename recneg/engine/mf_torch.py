"""Torch losses and the trainer for matrix factorisation (device-agnostic).

The trainer keeps the losses, scoring and optimiser steps; every negative is drawn by
:mod:`recneg.sampling.torch_draws`.

Every loss takes scores of one positive per row and of N negatives per row:

* ``pos``: (B,) scores s(u_b, i_b);
* ``neg``: (B, N) scores s(u_b, j) of the negatives of row b (shared negatives
  give the same N items to every row, per-example negatives differ per row);
* ``valid``: (B, N) bool, False for negatives that must not count (seen items,
  accidental hits, failed draws);

and returns the mean loss over rows (float scalar tensor). Rows without any
valid negative contribute only their positive term.

User-batched training (each step takes a batch of users and all their
positives) scores the shared negatives once per *user*: ``neg`` and ``valid``
are then (R, N) for the R users of the batch and ``rows`` (B,) gives the user
row of each positive, so the loss equals the per-pair loss with
``neg[rows]``, ``valid[rows]`` at 1/mean(history length) of the GEMM cost.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..sampling.torch_draws import (
    SeenIndex,
    TorchExclusion,
    TorchProposal,
    draw_dns,
    draw_exclusive,
    gather_rows,
    in_batch_negatives,
    shared_seen_hits,
    shared_valid_mask,
)

__all__ = [
    "bpr_loss",
    "bce_loss",
    "nce_loss",
    "sampled_softmax_loss",
    "ccl_loss",
    "TorchTrainer",
]


def _mean_rows(x: torch.Tensor) -> torch.Tensor:
    return x.mean() if x.numel() else x.sum()


def _by_row(x: torch.Tensor | None, rows: torch.Tensor | None) -> torch.Tensor | None:
    """``x[rows]`` for per-user (R, ...) tensors; unchanged without ``rows`` or for (N,) tensors."""
    if x is None or rows is None or x.dim() < 2:
        return x
    return x[rows]


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor, valid: torch.Tensor | None = None,
             neg_log_q: torch.Tensor | None = None, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise BPR: ``sum_j w_bj * softplus(s_bj - s_b)`` per row, mean over rows.

    Weights ``w_bj`` are uniform over the valid negatives of row b, or, with
    ``neg_log_q`` (shape (N,) or (B, N)), self-normalised importance weights
    ``w_bj ∝ 1 / q_j`` that turn negatives drawn from q (e.g. in-batch, i.e.
    popularity) into an estimate of the uniform-negative BPR loss. ``rows``: see the module docstring
    (BPR needs every (positive, negative) pair, so per-user scores are expanded).
    """
    neg, valid, neg_log_q = _by_row(neg, rows), _by_row(valid, rows), _by_row(neg_log_q, rows)
    pair = F.softplus(neg - pos.unsqueeze(1))
    if valid is None:
        valid = torch.ones_like(pair, dtype=torch.bool)
    if neg_log_q is None:
        logits = torch.zeros_like(pair)
    else:
        logits = -neg_log_q.expand_as(pair).to(pair.dtype)
    logits = logits.masked_fill(~valid, -math.inf)
    has = valid.any(dim=1, keepdim=True)
    w = torch.softmax(logits.masked_fill(~has, 0.0), dim=1)
    w = torch.where(valid, w, torch.zeros_like(w))
    return _mean_rows((w * pair).sum(dim=1))


def bce_loss(pos: torch.Tensor, neg: torch.Tensor, valid: torch.Tensor | None = None,
             negative_weight: float = 1.0, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy (NCE-style): ``-log s(pos) - w * sum_j log s(-neg_j)``, mean over rows."""
    term = F.softplus(neg)
    if valid is not None:
        term = torch.where(valid, term, torch.zeros_like(term))
    return _mean_rows(F.softplus(-pos) + negative_weight * _by_row(term.sum(dim=1, keepdim=True), rows)[:, 0])


def nce_loss(pos: torch.Tensor, neg: torch.Tensor, valid: torch.Tensor | None = None,
             pos_log_q: torch.Tensor | None = None, neg_log_q: torch.Tensor | None = None,
             rows: torch.Tensor | None = None, num_sampled: int | None = None) -> torch.Tensor:
    """Noise-contrastive estimation (Gutmann & Hyvärinen 2010; Mnih & Teh 2012), as TensorFlow's
    ``nce_loss`` with ``subtract_log_q``: binary cross-entropy on logits corrected by the noise,

    ``-log sigmoid(pos - log(k q_pos)) - sum_j valid_bj log sigmoid(-(neg_bj - log(k q_bj)))`` per row,

    mean over rows. ``k`` (``num_sampled``, default ``neg.shape[1]``) is the number of negatives drawn
    per row, so ``k q`` is each item's expected count in the sample; invalid negatives (accidental
    hits, seen items) are left out of the sum, not out of ``k`` (as TensorFlow's
    ``remove_accidental_hits``). :func:`bce_loss` is this loss without the correction.

    Args:
        pos: (B,) scores of the positives; neg: (B, N) scores of the negatives ((R, N) with ``rows``).
        valid: bool, ``neg``'s shape, or None (all valid).
        pos_log_q: (B,) log q of each positive under the noise law; neg_log_q: (N,) or ``neg``'s shape,
            log q of each negative. Both required: NCE is defined by its noise law.
        rows: see the module docstring.
    """
    if pos_log_q is None or neg_log_q is None:
        raise ValueError("nce_loss needs pos_log_q and neg_log_q, the log-probabilities of the positives and "
                         "negatives under the law the negatives are drawn from")
    k = neg.shape[1] if num_sampled is None else int(num_sampled)
    if k < 1:
        raise ValueError(f"nce_loss needs at least one sampled negative per row, got num_sampled={k}")
    log_k = math.log(k)
    lp = pos - (pos_log_q.to(pos.dtype) + log_k)
    ln = neg - (neg_log_q.expand_as(neg).to(neg.dtype) + log_k)
    term = F.softplus(ln)
    if valid is not None:
        term = torch.where(valid, term, torch.zeros_like(term))
    return _mean_rows(F.softplus(-lp) + _by_row(term.sum(dim=1, keepdim=True), rows)[:, 0])


def sampled_softmax_loss(pos: torch.Tensor, neg: torch.Tensor, valid: torch.Tensor | None = None,
                         pos_log_q: torch.Tensor | None = None, neg_log_q: torch.Tensor | None = None,
                         temperature: float = 1.0, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Sampled softmax with logQ correction (Yi et al. 2019).

    Logits are ``s / temperature - log q`` for the positive and each negative
    (``pos_log_q`` (B,), ``neg_log_q`` (N,) or (B, N): log-probabilities of the
    proposal; None = no correction); invalid negatives are masked to -inf.
    Loss per row: ``-log softmax(logits)[positive]``.
    """
    lp = pos / temperature
    ln = neg / temperature
    if pos_log_q is not None:
        lp = lp - pos_log_q.to(lp.dtype)
    if neg_log_q is not None:
        ln = ln - neg_log_q.expand_as(ln).to(ln.dtype)
    if valid is not None:
        ln = ln.masked_fill(~valid, -math.inf)
    lse = _by_row(torch.logsumexp(ln, dim=1, keepdim=True), rows)[:, 0]  # -inf for rows without negatives
    return _mean_rows(torch.logaddexp(lp, lse) - lp)


def ccl_loss(pos: torch.Tensor, neg: torch.Tensor, valid: torch.Tensor | None = None,
             margin: float = 0.9, negative_weight: float = 150.0, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine contrastive loss (SimpleX, Mao et al. 2021) on cosine scores.

    Per row: ``(1 - pos) + negative_weight * mean_j relu(neg_j - margin)``, the mean
    taken over the row's valid negatives.
    """
    term = F.relu(neg - margin)
    if valid is None:
        per_row = term.mean(dim=1, keepdim=True)
    else:
        term = torch.where(valid, term, torch.zeros_like(term))
        per_row = term.sum(dim=1, keepdim=True) / valid.sum(dim=1, keepdim=True).clamp(min=1).to(term.dtype)
    return _mean_rows((1.0 - pos) + negative_weight * _by_row(per_row, rows)[:, 0])


class _SharedHinge(torch.autograd.Function):
    """``sum_j relu(q_r . n_j - margin)`` per row r over the valid (r, j), fused for CCL on shared negatives.

    ``uq`` (R, d), ``nq`` (N, d); ``hit_r``, ``hit_c`` int64 (H,): the invalid positions (each once), which
    count zero. Returns (R,). Equals ``(relu(uq @ nq.T - margin) * valid).sum(1)`` with ~3 passes over the
    (R, N) scores forward and 2 backward instead of ~15 (the score matrix is the step's largest tensor).
    """

    @staticmethod
    def forward(ctx, uq, nq, margin, hit_r, hit_c):
        s = uq @ nq.T
        s.sub_(margin)
        if hit_r.numel():
            s.index_put_((hit_r, hit_c), torch.zeros((), dtype=s.dtype, device=s.device))
        s.clamp_(min=0.0)
        ctx.save_for_backward(uq, nq, s)
        return s.sum(1)

    @staticmethod
    def backward(ctx, grad):
        uq, nq, s = ctx.saved_tensors
        gs = (s > 0).to(s.dtype).mul_(grad.unsqueeze(1))
        return gs @ nq, gs.T @ uq, None, None, None


class TorchTrainer:
    """Mini-batch trainer of one MF model on torch (Adam: lazy over sparse embedding gradients for pair batches,
    :class:`~recneg.engine.row_adam.RowAdam` for user batches with sampled negatives, dense otherwise).

    ``cfg`` is any object with the attributes of :class:`recneg.models.mf.MatrixFactorization`
    (factors, loss, negatives (int or "all"), share_negatives, in_batch, alpha, exclude_seen, hard,
    dns_candidates, logq, score, lr, reg, lr_decay, epochs, batch_size, batching, device, seed,
    margin, negative_weight, temperature, use_bias, max_tries; optionally optimizer: "auto" (default), "adam"
    or "row_adam") and its float32 arrays
    ``_U`` (n_users, d), ``_V`` (n_items, d), ``_b`` (n_items,) as initial values;
    :meth:`sync` copies the trained values back into those arrays.

    Calling the trainer with an epoch number runs one epoch and returns the mean loss.

    Debug hook: set :attr:`record` (on the class or an instance) to a list and every step appends
    a dict of the negatives it used: ``kind`` ("per_example", "dns", "shared", "in_batch"),
    ``users`` (B,) or (R,) for user batches, ``positives`` (B,) (absent for user batches),
    ``items`` ((B, k) per example, (N,) shared/in-batch) and ``valid`` (bool, items' shape per
    example, (B, N) / (R, N) shared, or None = all valid), all detached copies. None (default) = off.
    """

    record: list | None = None
    #: CCL on sampled shared negatives of user batches through the fused _SharedHinge (False: the generic path)
    fused_ccl: bool = True
    #: called as ``before_step(position)`` before every batch but an epoch's first, with the fractional epoch
    #: ``epoch + batch_start / n``; the model sets it to evaluate its sampler's schedules per step
    before_step: Callable[[float], None] | None = None

    def __init__(self, cfg, X, weights, counts) -> None:
        import numpy as np

        self.cfg = cfg
        dev = torch.device(cfg.device)
        self.dev = dev
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(0 if cfg.seed is None else int(cfg.seed))
        n_users, n_items = X.shape
        self.n_items = n_items
        self.by_user = getattr(cfg, "batching", "pairs") == "users"
        self.full = cfg.negatives == "all"
        # lazy (sparse) Adam when a step touches few rows; dense Adam when it touches the whole catalogue
        # or when each user row is visited once per epoch (user batches), where lazy moments starve
        self.history_weight = float(getattr(cfg, "history_weight", 0.0) or 0.0)
        sparse = not (self.by_user or self.full or self.history_weight)
        # user batches with sampled negatives: dense Adam's trajectory at the cost of the rows a step reads
        # (engine.row_adam.RowAdam); cfg.optimizer = "adam" / "row_adam" forces one (comparisons, tests)
        kind = getattr(cfg, "optimizer", "auto")
        if kind not in ("auto", "adam", "row_adam"):
            raise ValueError(f"optimizer must be 'auto', 'adam' or 'row_adam', got {kind!r}")
        self.row_adam = (kind == "row_adam" or kind == "auto" and self.by_user and not self.full) and not (
            self.history_weight)
        if self.row_adam:
            sparse = True
        self.U = torch.nn.Embedding(n_users, cfg.factors, sparse=sparse).to(dev)
        self.V = torch.nn.Embedding(n_items, cfg.factors, sparse=sparse).to(dev)
        with torch.no_grad():
            self.U.weight.copy_(torch.from_numpy(cfg._U))
            self.V.weight.copy_(torch.from_numpy(cfg._V))
        params = list(self.U.parameters()) + list(self.V.parameters())
        self.b = None
        if cfg.use_bias:
            self.b = torch.nn.Embedding(n_items, 1, sparse=sparse).to(dev)
            with torch.no_grad():
                self.b.weight.zero_()
            params += list(self.b.parameters())
        self.W = None
        if self.history_weight:
            # SimpleX's behaviour aggregation: a d x d map of the mean history embedding, starting at identity
            self.W = torch.nn.Parameter(torch.eye(cfg.factors, device=dev))
            params.append(self.W)
        if self.row_adam:
            self.opt = self._make_row_adam(params)
        else:
            self.opt = torch.optim.SparseAdam(params, lr=cfg.lr) if sparse else torch.optim.Adam(params, lr=cfg.lr)
        coo = X.tocoo()
        self.pu = torch.as_tensor(coo.row, dtype=torch.int64, device=dev)
        self.pi = torch.as_tensor(coo.col, dtype=torch.int64, device=dev)
        self.proposal = TorchProposal.from_weights(weights, device=dev)
        self.log_q = self.proposal.log_p
        per_example = not (cfg.in_batch or cfg.share_negatives)
        self.excl = None
        self._indptr, self._indices = X.indptr, X.indices
        if cfg.exclude_seen and per_example:
            self.excl = TorchExclusion.build(self.proposal, X.indptr, X.indices)
            self._check_drawable(X)
        self.seen = None
        if cfg.exclude_seen:
            self.seen = self.excl.seen if self.excl is not None else SeenIndex(X.indptr, X.indices, n_items, dev)
        self.history_index = self.seen
        self.chunk = getattr(cfg, "positives_per_row", None) if self.by_user else None
        if (self.by_user or self.history_weight) and self.history_index is None:
            self.history_index = SeenIndex(X.indptr, X.indices, n_items, dev)
        deg = None if self.history_index is None else self.history_index.indptr[1:] - self.history_index.indptr[:-1]
        if self.history_weight:
            self.inv_degree = (1.0 / deg.clamp(min=1).to(torch.float32)).unsqueeze(1)
        if self.by_user:
            self.active_users = torch.as_tensor(np.flatnonzero(np.diff(X.indptr)), dtype=torch.int64, device=dev)
            n_units = self.active_users.numel()
        else:
            n_units = self.pu.numel()
        if self.chunk:
            # rows = (user, chunk of at most `chunk` positives); the chunks are redrawn every epoch
            per_user = (deg + self.chunk - 1) // self.chunk
            self.row_user = torch.repeat_interleave(torch.arange(n_users, device=dev), per_user)
            self.row_first = torch.cumsum(per_user, 0) - per_user
            self.pair_user = torch.repeat_interleave(torch.arange(n_users, device=dev), deg)
            n_units = self.row_user.numel()
        self.all_items = torch.arange(n_items, device=dev) if self.full else None
        self.steps_per_epoch = (n_units + cfg.batch_size - 1) // cfg.batch_size
        self.step = 0
        self.item_counts = np.asarray(counts)  # positives per item (n_items,)
        c = np.asarray(counts, dtype=np.float64)
        with np.errstate(divide="ignore"):
            self.log_q_batch = torch.as_tensor(np.log(c / c.sum()), dtype=torch.float32, device=dev)

    def _make_row_adam(self, params):
        """RowAdam over the embedding tables; every embedding read first catches its rows up (a pre-hook)."""
        from .row_adam import RowAdam

        cfg = self.cfg

        def lr_at(s: int) -> float:  # the rate _set_lr gives optimiser step s (1-based)
            if getattr(cfg, "lr_decay", None) != "linear":
                return cfg.lr
            return cfg.lr * max(1.0 - (s - 1) / max(self.steps_per_epoch * cfg.epochs, 1), 1e-4)

        opt = RowAdam(params, lr=cfg.lr, lr_at=lr_at)
        for emb in (self.U, self.V, self.b):
            if emb is not None:
                emb.register_forward_pre_hook(lambda mod, args: opt.catch_up(mod.weight, args[0]))
        return opt

    def set_proposal(self, weights) -> None:
        """Draw from new proposal weights (n_items,) from now on (a schedule changed alpha)."""
        self.proposal = TorchProposal.from_weights(weights, device=self.dev)
        self.log_q = self.proposal.log_p
        if self.excl is not None:
            self.excl = TorchExclusion.build(self.proposal, self._indptr, self._indices)

    def _check_drawable(self, X) -> None:
        """ValueError before training when a user with positives has no unseen item of positive weight."""
        import numpy as np

        bad = self.excl.exhausted_users().cpu().numpy()
        bad = bad[np.diff(X.indptr)[bad] > 0]
        if bad.size:
            raise ValueError(
                f"exclude_seen=True but user(s) {bad[:10].tolist()}{' ...' if bad.size > 10 else ''} have seen every "
                f"item with non-zero proposal weight (alpha={self.cfg.alpha}), so no negative can be drawn for them; "
                "drop these users, use alpha=0 (every item drawable) or exclude_seen=False")

    def _record(self, kind: str, users: torch.Tensor, positives: torch.Tensor | None, items: torch.Tensor,
                valid: torch.Tensor | None) -> None:
        entry = {"kind": kind, "users": users.detach().clone(), "items": items.detach().clone(),
                 "valid": None if valid is None else valid.detach().clone()}
        if positives is not None:
            entry["positives"] = positives.detach().clone()
        self.record.append(entry)

    def _candidate_scores(self, uq: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """DNS scoring callback: candidates int64 (B, k, m) -> scores (B, k, m) against rows ``uq`` (B, d)."""
        def score(cand: torch.Tensor) -> torch.Tensor:
            if self.row_adam:
                self.opt.catch_up(self.V.weight, cand)
                if self.b is not None:
                    self.opt.catch_up(self.b.weight, cand)
            cs = torch.einsum("bd,bkmd->bkm", uq, self.V.weight[cand])
            return cs + self.b.weight[cand, 0] if self.b is not None else cs
        return score

    def _score(self, ue: torch.Tensor, ve: torch.Tensor, items: torch.Tensor, shared: bool) -> torch.Tensor:
        if shared:
            s = ue @ ve.T
        elif ve.dim() == 3:
            s = torch.einsum("bd,bkd->bk", ue, ve)
        else:
            s = (ue * ve).sum(-1)
        if self.b is not None:
            bias = self.b(items).squeeze(-1)
            s = s + (bias.unsqueeze(0) if shared else bias)
        return s

    def user_vectors(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(representation, own embedding) of ``users`` (R,), both float (R, d).

        The representation is the user's embedding ``e_u``, or with ``history_weight`` h > 0
        SimpleX's aggregation ``(1 - h) * e_u + h * W @ mean_{j in hist(u)} e_j`` over the
        user's training items (W a learned d x d matrix, identity at the start).
        """
        ue = self.U(users)
        rep = ue
        if self.history_weight:
            b, items = self.history_index.rows_of(users)
            agg = torch.zeros_like(ue).index_add_(0, b, self.V(items)) * self.inv_degree[users]
            rep = (1.0 - self.history_weight) * ue + self.history_weight * (agg @ self.W.T)
        return rep, ue

    def batch_loss(self, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """Loss of one batch of positive pairs (u, i), both int64 (B,)."""
        cfg = self.cfg
        rep, ue = self.user_vectors(u)
        ie = self.V(i)
        cosine = cfg.score == "cosine"
        uq = F.normalize(rep, dim=-1) if cosine else rep
        iq = F.normalize(ie, dim=-1) if cosine else ie
        pos = self._score(uq, iq, i, shared=False)
        neg_log_q = None
        if cfg.in_batch or cfg.share_negatives:
            if cfg.in_batch:
                negs, valid, batch_log_q = self._in_batch_negatives(u, i)
            else:
                negs = self._shared_negatives()
                valid = shared_valid_mask(u, i, negs, self.seen)
            if self.record is not None:
                self._record("in_batch" if cfg.in_batch else "shared", u, i, negs, valid)
            ne = ie if cfg.in_batch and negs is i else self.V(negs)  # global in-batch items: embed them here
            nq = F.normalize(ne, dim=-1) if cosine else ne
            neg = self._score(uq, nq, negs, shared=True)
            logq = cfg.logq and not self.full  # the whole catalogue is not a sample: nothing to correct
            if logq:
                neg_log_q = batch_log_q if cfg.in_batch else self.log_q[negs]
            pos_log_q = (self.log_q_batch[i] if cfg.in_batch else self.log_q[i]) if logq else None
            if getattr(cfg, "mixed", False):
                # mixed negatives (Yang et al. 2020): the batch's positives plus cfg.negatives proposal items
                # shared by the batch; each column is corrected by its own source's log q
                pn = self._shared_negatives()
                pvalid = shared_valid_mask(u, i, pn, self.seen)
                if self.record is not None:
                    self._record("shared", u, i, pn, pvalid)
                pe = self.V(pn)
                neg = torch.cat([neg, self._score(uq, F.normalize(pe, dim=-1) if cosine else pe, pn, shared=True)], 1)
                valid = torch.cat([valid, pvalid], 1)
                ne = torch.cat([ne, pe], 0)
                if logq:
                    B = u.numel()
                    neg_log_q = torch.cat([neg_log_q.expand(B, -1), self.log_q[pn].expand(B, -1)], 1)
        else:
            k = cfg.negatives
            if cfg.hard == "dns":
                negs = draw_dns(u, k, cfg.dns_candidates, self.excl, self.proposal, self._candidate_scores(uq),
                                self.gen, rounds=cfg.max_tries)
            elif self.excl is not None:
                negs = draw_exclusive(u, (u.numel(), k), self.excl, self.gen, rounds=cfg.max_tries)[0]
            else:
                negs = self.proposal.draw((u.numel(), k), self.gen)
            valid = negs != i.unsqueeze(1)  # accidental hits (only possible without exclusion)
            if self.record is not None:
                self._record("dns" if cfg.hard == "dns" else "per_example", u, i, negs, valid)
            ne = self.V(negs)
            nq = F.normalize(ne, dim=-1) if cosine else ne
            neg = self._score(uq, nq, negs, shared=False)
            pos_log_q = self.log_q[i] if cfg.logq else None
            if cfg.logq:
                neg_log_q = self.log_q[negs]
        loss = self._loss(pos, neg, valid, pos_log_q, neg_log_q, bpr_log_q=neg_log_q if cfg.in_batch else None)
        return self._with_reg(loss, ue, ie, ne)

    def _loss(self, pos, neg, valid, pos_log_q, neg_log_q, rows=None, bpr_log_q=None) -> torch.Tensor:
        """The configured loss of positive/negative scores (shapes: module docstring; ``rows`` for user batches)."""
        cfg = self.cfg
        if cfg.loss == "bpr":
            loss = bpr_loss(pos, neg, valid, bpr_log_q, rows=rows)
        elif cfg.loss == "bce":
            loss = bce_loss(pos, neg, valid, cfg.negative_weight, rows=rows)
        elif cfg.loss == "nce":
            loss = nce_loss(pos, neg, valid, pos_log_q, neg_log_q, rows=rows)
        elif cfg.loss == "softmax":
            loss = sampled_softmax_loss(pos, neg, valid, pos_log_q, neg_log_q, cfg.temperature, rows=rows)
        else:
            loss = ccl_loss(pos, neg, valid, cfg.margin, cfg.negative_weight, rows=rows)
        return loss

    def _with_reg(self, loss, ue, ie, ne) -> torch.Tensor:
        """``loss + reg/2 * (mean squared norm of the user, positive and negative embeddings used)``."""
        if self.cfg.reg > 0:
            r = ue.pow(2).sum(-1).mean() + ie.pow(2).sum(-1).mean() + ne.pow(2).sum(-1).mean()
            loss = loss + 0.5 * self.cfg.reg * r
        return loss

    def _in_batch_negatives(self, u: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch's in-batch negatives for pairs (u, i) (B,): (items (N,), valid (B, N), log q (N,)).
        Here the batch's own positives (N = B); the data-parallel trainer gathers every rank's."""
        return in_batch_negatives(u, i, self.log_q_batch, self.seen)

    def _batches(self, perm: torch.Tensor) -> Iterator[tuple[float, torch.Tensor]]:
        """An epoch's batches of ``perm`` (the shuffled units): (fraction of the epoch before the batch,
        unit positions (<= batch_size,))."""
        n, bs = perm.numel(), self.cfg.batch_size
        for s in range(0, n, bs):
            yield s / n, perm[s:s + bs]

    def _grads_ready(self) -> None:
        """Called between ``backward`` and the optimiser step (the data-parallel trainer reduces item
        gradients here); nothing in one process."""

    def _shared_negatives(self) -> torch.Tensor:
        """The batch's shared negatives: (N,) draws from the proposal, or every item when negatives="all"."""
        return self.all_items if self.full else self.proposal.draw(self.cfg.negatives, self.gen)

    def _epoch_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's chunked rows: CSR (row_ptr (n_rows + 1,), items) with each user's positives
        in a new random order, cut into rows of at most ``positives_per_row``."""
        idx = self.history_index
        nnz = idx.indices.numel()
        order = torch.randperm(nnz, generator=self.gen, device=self.dev)
        order = order[torch.sort(self.pair_user[order], stable=True).indices]  # by user, random within
        owner = self.pair_user[order]
        within = torch.arange(nnz, device=self.dev) - idx.indptr[owner]
        row = self.row_first[owner] + torch.div(within, self.chunk, rounding_mode="floor")
        ptr = torch.zeros(self.row_user.numel() + 1, dtype=torch.int64, device=self.dev)
        ptr[1:] = torch.cumsum(torch.bincount(row, minlength=self.row_user.numel()), 0)
        return ptr, idx.indices[order]

    def user_batch_loss(self, users: torch.Tensor,
                        positives: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Loss of a batch of user rows (int64 (R,), repeats allowed) over their positives.

        ``positives`` = (row position (M,), item (M,)) pairs; default: every training item
        of each user. The shared negatives are scored once per row: one (R, d) x (d, N)
        GEMM, then every positive of row r reuses row r's negative term (``rows`` in the
        losses). With ``exclude_seen`` every item in the user's history is masked from the
        negatives; without it (and with negatives="all") the softmax denominator is the
        whole catalogue, the positive included (the exact full softmax).
        """
        cfg = self.cfg
        rows, items = self.history_index.rows_of(users) if positives is None else positives
        cosine = cfg.score == "cosine"
        (rep, ue), ie = self.user_vectors(users), self.V(items)
        uq = F.normalize(rep, dim=-1) if cosine else rep
        iq = F.normalize(ie, dim=-1) if cosine else ie
        pos = (uq[rows] * iq).sum(-1)
        if self.b is not None:
            pos = pos + self.b(items).squeeze(-1)
        negs = self._shared_negatives()
        ne = self.V(negs)
        nq = F.normalize(ne, dim=-1) if cosine else ne
        if (self.fused_ccl and cfg.loss == "ccl" and not self.full and self.b is None and self.record is None):
            # CCL on sampled shared negatives, fused (_SharedHinge): the same loss as ccl_loss below
            if self.seen is not None:
                hr, hc = shared_seen_hits(users, negs, self.seen)
            else:
                hr = hc = torch.zeros(0, dtype=torch.int64, device=negs.device)
            count = (negs.numel() - torch.bincount(hr, minlength=users.numel())).clamp(min=1).to(uq.dtype)
            per_row = _SharedHinge.apply(uq, nq, float(cfg.margin), hr, hc) / count
            loss = _mean_rows((1.0 - pos) + cfg.negative_weight * per_row[rows])
            return self._with_reg(loss, ue, ie, ne)
        neg = self._score(uq, nq, negs, shared=True)  # (R, N)
        valid = None
        if self.seen is not None:
            if self.full:  # mask the whole history (a row may hold only part of it: positives_per_row)
                valid = torch.ones(neg.shape, dtype=torch.bool, device=neg.device)
                hr, hi = (rows, items) if positives is None else self.seen.rows_of(users)
                valid[hr, hi] = False
            else:
                valid = shared_valid_mask(users, torch.full_like(users, -1), negs, self.seen)
        if self.record is not None:
            self._record("shared", users, None, negs, valid)
        if cfg.loss == "softmax" and self.full and valid is None:
            # the exact full softmax: the whole catalogue, positive included, is the denominator
            loss = _mean_rows(torch.logsumexp(neg / cfg.temperature, dim=1)[rows] - pos / cfg.temperature)
        else:
            logq = cfg.logq and not self.full
            loss = self._loss(pos, neg, valid, self.log_q[items] if logq else None,
                              self.log_q[negs] if logq else None, rows=rows)
        return self._with_reg(loss, ue, ie, ne)

    def _set_lr(self) -> None:
        if getattr(self.cfg, "lr_decay", None) != "linear":
            return
        total = max(self.steps_per_epoch * self.cfg.epochs, 1)
        lr = self.cfg.lr * max(1.0 - self.step / total, 1e-4)
        for g in self.opt.param_groups:
            g["lr"] = lr

    def __call__(self, epoch: int) -> float:
        cfg = self.cfg
        self.step = epoch * self.steps_per_epoch
        units = self.active_users if self.by_user else None
        n = units.numel() if self.by_user else self.pu.numel()
        if self.chunk:
            row_ptr, row_items = self._epoch_rows()
            n = self.row_user.numel()
        perm = torch.randperm(n, generator=self.gen, device=self.dev)
        total = torch.zeros((), dtype=torch.float64, device=self.dev)
        steps = 0
        threads = torch.get_num_threads()
        if self.dev.type == "cpu":
            torch.set_num_threads(max(1, int(getattr(cfg, "workers", threads))))
        try:
            for frac, idx in self._batches(perm):
                if frac and self.before_step is not None:
                    self.before_step(epoch + frac)
                self._set_lr()
                self.opt.zero_grad(set_to_none=True)
                if self.chunk:
                    loss = self.user_batch_loss(self.row_user[idx], gather_rows(row_ptr, row_items, idx))
                elif self.by_user:
                    loss = self.user_batch_loss(units[idx])
                else:
                    loss = self.batch_loss(self.pu[idx], self.pi[idx])
                loss.backward()
                self._grads_ready()
                self.opt.step()
                self.step += 1
                total += loss.detach()
                steps += 1
        finally:
            torch.set_num_threads(threads)
        if self.row_adam:
            self.opt.flush()  # every row as dense Adam leaves it, before the epoch's factors are read
        return float(total) / max(steps, 1)

    def params(self) -> dict[str, torch.Tensor]:
        """The trained tensors by name (for the once-per-epoch divergence check)."""
        out = {"user factors": self.U.weight.detach(), "item factors": self.V.weight.detach()}
        if self.b is not None:
            out["item biases"] = self.b.weight.detach()
        if self.W is not None:
            out["history map W"] = self.W.detach()
        return out

    def sync(self) -> None:
        """Copy trained factors back into ``cfg._U``, ``cfg._V``, ``cfg._b`` (numpy float32).

        With ``history_weight`` the user factors are the aggregated representations
        (:meth:`user_vectors` over the training history), so scoring needs no history.
        """
        if self.history_weight:
            with torch.no_grad():
                users = torch.arange(self.U.num_embeddings, device=self.dev)
                U = torch.cat([self.user_vectors(c)[0] for c in users.split(8192)])
            self.cfg._U = U.to("cpu", torch.float32).numpy().copy()
        else:
            self.cfg._U = self.U.weight.detach().to("cpu", torch.float32).numpy().copy()
        self.cfg._V = self.V.weight.detach().to("cpu", torch.float32).numpy().copy()
        if self.b is not None:
            self.cfg._b = self.b.weight.detach()[:, 0].to("cpu", torch.float32).numpy().copy()
