"""Skip-gram / CBOW with negative sampling: the torch kernel (CUDA or CPU).

Same math as :mod:`recneg.engine.skipgram`, batched: a batch of B skip-gram
pairs (or B CBOW centre words) is computed from the current parameters and the
updates are scattered with ``index_add_`` (a minibatch of simultaneous SGD steps;
with B = 1 it is exactly the sequential per-pair update of the numba kernel).

Per epoch, subsampling, dynamic windows and pair generation run as tensor ops on
the device, over segments of the corpus so memory stays bounded. Negatives come from
:func:`recneg.sampling.torch_draws.draw_avoiding` (word2vec's law: the proposal, a draw
equal to the centre word redrawn, else skipped); with ``shared`` (skip-gram only) one set is
drawn per centre-word occurrence and reused by all its context pairs, as the numba kernel does.

:meth:`TorchSkipGram.set_draws` (called each epoch by the engine) switches to a sampler state
(:class:`~recneg.sampling.kernels.KernelSampler`): its proposal and ``k``; with exclusion, exact
draws from the proposal truncated to the sequence's user's unseen items
(:func:`~recneg.sampling.torch_draws.draw_exclusive`, never skipped); with DNS, each negative is the
best of ``m`` candidates by ``h . syn1neg[j]`` (``h`` the context's input vector, or the mean of the
context's input vectors for CBOW / shared negatives; shared negatives are scored with the vectors at
the start of their corpus segment).

NCE (``noise`` of :meth:`TorchSkipGram.set_draws`, float (V,) ``log(k q(w))``): every logit is
``f - noise[target]``, as the numba kernel (see :mod:`recneg.engine.skipgram`).
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch

from ..sampling.torch_draws import TorchExclusion, TorchProposal, draw_avoiding, draw_exclusive

logger = logging.getLogger(__name__)


def _output_layer(syn1neg: torch.Tensor, h: torch.Tensor, centres: torch.Tensor, negatives: torch.Tensor,
                  lr: float | torch.Tensor, neg_mask: torch.Tensor | None,
                  noise: torch.Tensor | None = None,
                  acc1: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared negative-sampling output layer for a batch of hidden vectors ``h`` (B, d).

    Scores ``h`` against the centre (label 1) and the negatives (label 0), updates ``syn1neg``
    in place, and returns (neu1e (B, d), the gradient step for the input side; loss (B,)).
    ``noise``: None (SGNS) or float32 (V,) ``log(k q(w))``, subtracted from each target's logit (NCE).
    ``acc1``: None, or a (V, d) tensor that receives the output-side update instead of ``syn1neg``.
    """
    tg = torch.cat([centres[:, None], negatives], dim=1)         # (B, k+1)
    w = syn1neg[tg]                                              # (B, k+1, d)
    f = torch.einsum("bd,bkd->bk", h, w)
    if noise is not None:
        f = f - noise[tg]
    labels = torch.zeros_like(f)
    labels[:, 0] = 1.0
    loss_terms = torch.nn.functional.softplus((1.0 - 2.0 * labels) * f)  # sign -1 positive, +1 negatives
    lr_t = torch.as_tensor(lr, dtype=f.dtype, device=f.device)
    if lr_t.ndim == 1:
        lr_t = lr_t[:, None]
    g = (labels - torch.sigmoid(f)) * lr_t
    if neg_mask is not None:
        keep = torch.cat([torch.ones_like(neg_mask[:, :1]), neg_mask], dim=1)
        g = g * keep
        loss_terms = loss_terms * keep
    neu1e = torch.einsum("bk,bkd->bd", g, w)
    (syn1neg if acc1 is None else acc1).index_add_(0, tg.reshape(-1),
                                                   (g[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1]))
    return neu1e, loss_terms.sum(1)


def sg_step(syn0: torch.Tensor, syn1neg: torch.Tensor, contexts: torch.Tensor, centres: torch.Tensor,
            negatives: torch.Tensor, lr: float | torch.Tensor, neg_mask: torch.Tensor | None = None,
            noise: torch.Tensor | None = None, acc: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """One batched skip-gram step.

    Args:
        syn0, syn1neg: float32 (V, d), updated in place.
        contexts, centres: int64 (B,); the pair trains ``syn0[contexts]`` to predict ``centres``.
        negatives: int64 (B, k).
        lr: scalar or float32 (B,) learning rates.
        neg_mask: optional bool (B, k), False = skip that negative.
        noise: None (SGNS) or float32 (V,) ``log(k q(w))`` (NCE).
        acc: None, or (acc0, acc1) (V, d) tensors that receive the updates instead of (syn0, syn1neg).

    Returns:
        float32 (B,) loss of each pair (before the update).
    """
    neu1e, loss = _output_layer(syn1neg, syn0[contexts], centres, negatives, lr, neg_mask, noise,
                                None if acc is None else acc[1])
    (syn0 if acc is None else acc[0]).index_add_(0, contexts, neu1e)
    return loss


def cbow_step(syn0: torch.Tensor, syn1neg: torch.Tensor, contexts: torch.Tensor, ctx_mask: torch.Tensor,
              centres: torch.Tensor, negatives: torch.Tensor, lr: float | torch.Tensor,
              neg_mask: torch.Tensor | None = None, noise: torch.Tensor | None = None,
              acc: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """One batched CBOW step (mean of context; each context word gets the full ``neu1e``, as word2vec).

    Args:
        contexts: int64 (B, m) padded context indices; ctx_mask: bool (B, m), True = real.
        centres: int64 (B,); negatives: int64 (B, k); lr: scalar or (B,).
        noise: None (SGNS) or float32 (V,) ``log(k q(w))`` (NCE).
        acc: None, or (acc0, acc1) (V, d) tensors that receive the updates instead of (syn0, syn1neg).

    Returns:
        float32 (B,) loss per centre word.
    """
    m = ctx_mask.to(syn0.dtype)
    cnt = m.sum(1).clamp_min(1.0)
    safe_ctx = torch.where(ctx_mask, contexts, torch.zeros_like(contexts))
    h = (syn0[safe_ctx] * m[:, :, None]).sum(1) / cnt[:, None]  # (B, d)
    neu1e, loss = _output_layer(syn1neg, h, centres, negatives, lr, neg_mask, noise, None if acc is None else acc[1])
    upd = (neu1e[:, None, :] * m[:, :, None]).reshape(-1, h.shape[1])
    (syn0 if acc is None else acc[0]).index_add_(0, safe_ctx.reshape(-1), upd)
    return loss


class TorchSkipGram:
    """Trains syn0 / syn1neg on a device with batched steps.

    Args:
        syn0, syn1neg: float32 (V, d) numpy arrays (copied to ``device``).
        tokens: int32 (N,); offsets: int64 (S+1,) sentence boundaries.
        keep_prob: float32 (V,) subsampling keep probabilities.
        table: a :class:`recneg.sampling.alias.AliasTable` of the negative distribution.
        batch_size: pairs (sg) or centre words (cbow) per step. Updates within a batch are
            summed, so frequent words collide: on a 1.5M-word text slice (d=50, 3 epochs)
            4096 matched the numba kernel's WordSim Spearman (0.176 vs 0.181) while 16384
            collapsed it (0.02). Keep it at a few thousand.
        segment_tokens: corpus tokens turned into pairs at a time.
        shared: skip-gram only: one set of negatives per centre-word occurrence, shared by its
            context pairs (pWord2Vec, as the numba kernel); ignored for CBOW (one draw per centre anyway).

    Debug hook: set :attr:`record` (class or instance) to a list and every draw appends a dict
    ``centres`` int64 (G,), ``items`` int64 (G, k), ``valid`` bool (G, k) and ``pairs`` int64 (G,)
    (training pairs that used each row of draws), all detached copies. None (default) = off.
    """

    record: list | None = None

    def __init__(self, syn0: np.ndarray, syn1neg: np.ndarray, tokens: np.ndarray, offsets: np.ndarray,
                 keep_prob: np.ndarray, table, window: int, negative: int, sg: bool, dynamic: bool = True,
                 device: str | torch.device = "cpu", batch_size: int = 4096, segment_tokens: int = 1 << 20,
                 seed: int = 1, shared: bool = False, seq_users: np.ndarray | None = None, group=None) -> None:
        self.device = torch.device(device)
        self.group = group if group is not None and group.is_distributed else None
        self.syn0 = torch.as_tensor(syn0, dtype=torch.float32).to(self.device).clone()
        self.syn1neg = torch.as_tensor(syn1neg, dtype=torch.float32).to(self.device).clone()
        self.tokens = torch.as_tensor(tokens.astype(np.int64), device=self.device)
        sent = np.repeat(np.arange(offsets.shape[0] - 1, dtype=np.int64), np.diff(offsets))
        self.sent = torch.as_tensor(sent, device=self.device)
        self.keep_prob = torch.as_tensor(keep_prob, dtype=torch.float32, device=self.device)
        self.proposal = TorchProposal(table, self.device) if table is not None else None  # else set_draws
        self.window, self.negative, self.sg, self.dynamic = int(window), int(negative), bool(sg), bool(dynamic)
        self.shared = bool(shared) and self.sg
        self.batch_size, self.segment_tokens = int(batch_size), int(segment_tokens)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(int(seed))
        self.seq_users = None if seq_users is None else torch.as_tensor(
            np.asarray(seq_users, dtype=np.int64), device=self.device)
        self.excl: TorchExclusion | None = None
        self.dns_m = 0
        self._ks = None
        self.noise: torch.Tensor | None = None
        if self.group is not None:
            from .. import distributed as dist_mod

            # one flat buffer: the step's updates of syn0 (acc[0]) and syn1neg (acc[1]), all-reduced at once
            self._acc = torch.zeros((2,) + tuple(self.syn0.shape), dtype=torch.float32, device=self.device)
            for t in (self.syn0, self.syn1neg):  # every rank starts from rank 0's vectors
                torch.distributed.broadcast(t, src=0)
            self._dist = dist_mod

    def set_draws(self, k: int, ks, m: int = 0, noise: np.ndarray | None = None) -> None:
        """Draw ``k`` negatives per positive from the sampler state ``ks`` (a
        :class:`~recneg.sampling.kernels.KernelSampler`; None keeps the current proposal, no exclusion)
        with DNS over ``m`` candidates (0 = plain draws). ``noise``: None (SGNS) or float32 (V,)
        ``log(k q(w))`` of these draws (NCE)."""
        self.negative, self.dns_m = int(k), int(m)
        self.noise = None if noise is None else torch.as_tensor(noise, dtype=torch.float32, device=self.device)
        if ks is None or ks is self._ks:
            return
        self._ks = ks
        self.proposal = (TorchProposal(ks.table, self.device) if ks.table is not None
                         else TorchProposal.from_weights(ks.p, self.device))
        self.excl = None
        if ks.exclude:
            if self.seq_users is None:
                raise ValueError("an excluding sampler needs seq_users, the user of each sentence")
            self.excl = TorchExclusion.build(self.proposal, ks.indptr, ks.indices)

    def _windows(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tok = self.tokens[lo:hi]
        sen = self.sent[lo:hi]
        r = torch.rand(tok.shape[0], device=self.device, generator=self.gen)
        keep = r < self.keep_prob[tok]
        tok, sen = tok[keep], sen[keep]
        n = tok.shape[0]
        if self.dynamic:
            # effective window uniform in 1..window, as the numba kernel: 1 + floor(r * window)
            r = torch.rand(n, device=self.device, generator=self.gen)
            b = (r * self.window).long().clamp_(max=self.window - 1) + 1
        else:
            b = torch.full((n,), self.window, device=self.device, dtype=torch.int64)
        return tok, sen, b

    def _sg_pairs(self, tok, sen, b) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(centre token, context token, centre position) int64 (P,) each, grouped by centre position."""
        n = tok.shape[0]
        cen, ctx = [], []
        idx = torch.arange(n, device=self.device)
        for o in range(1, self.window + 1):
            if o >= n:
                break
            same = sen[:-o] == sen[o:]
            right = same & (b[:-o] >= o)       # centre i, context i+o
            left = same & (b[o:] >= o)         # centre i+o, context i
            i_r = idx[:-o][right]
            cen.append(i_r)
            ctx.append(i_r + o)
            i_l = idx[:-o][left]
            cen.append(i_l + o)
            ctx.append(i_l)
        if not cen:
            e = torch.zeros(0, dtype=torch.int64, device=self.device)
            return e, e, e
        c = torch.cat(cen)
        x = torch.cat(ctx)
        order = torch.argsort(c, stable=True)
        c = c[order]
        return tok[c], tok[x[order]], c

    def _cbow_ctx(self, tok, sen, b) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = tok.shape[0]
        offs = torch.cat([torch.arange(-self.window, 0), torch.arange(1, self.window + 1)]).to(self.device)
        pos = torch.arange(n, device=self.device)[:, None] + offs[None, :]
        inside = (pos >= 0) & (pos < n)
        posc = pos.clamp(0, max(n - 1, 0))
        mask = inside & (sen[posc] == sen[:, None]) & (offs.abs()[None, :] <= b[:, None])
        has = mask.any(1)
        return tok[has], tok[posc[has]], mask[has], has

    def _candidates(self, centres: torch.Tensor, users: torch.Tensor | None,
                    n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.excl is not None:
            items, _ = draw_exclusive(users, (centres.shape[0], n), self.excl, self.gen)  # drawable: checked
            return items, torch.ones(items.shape, dtype=torch.bool, device=items.device)
        return draw_avoiding(centres, n, self.proposal, self.gen)

    def _draw(self, centres: torch.Tensor, pairs: torch.Tensor | None = None, users: torch.Tensor | None = None,
              h: Callable[[], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(G, k) negatives for centre tokens (G,) and their validity; ``users`` (G,) the sequences' users
        (exclusion), ``h()`` -> (G, d) the DNS score's input-side vectors; ``pairs`` (G,) only for the record."""
        k, m = self.negative, self.dns_m
        if m > 0:
            G = centres.shape[0]
            cand, cvalid = self._candidates(centres, users, k * m)
            cand, cvalid = cand.view(G, k, m), cvalid.view(G, k, m)
            with torch.no_grad():
                sc = torch.einsum("gd,gkmd->gkm", h(), self.syn1neg[cand]).masked_fill(~cvalid, -float("inf"))
            best = sc.argmax(-1, keepdim=True)
            negs, valid = torch.gather(cand, 2, best).squeeze(2), cvalid.any(-1)
        else:
            negs, valid = self._candidates(centres, users, k)
        if self.record is not None:
            self.record.append({"centres": centres.clone(), "items": negs.clone(), "valid": valid.clone(),
                                "pairs": torch.ones_like(centres) if pairs is None else pairs.clone(),
                                "users": None if users is None else users.clone()})
        return negs, valid

    #: called as ``before_batch(position)`` before every batch but an epoch's first (and before each later
    #: segment's shared draws), with the fractional epoch; the engine sets it when the sampler has schedules
    before_batch: Callable[[float], None] | None = None

    def _segment(self, lo: int, hi: int, position: float | None = None, draw_empty: bool = True) -> tuple:
        """Tokens ``[lo, hi)`` as training units: ``(m, centres (m,), contexts (sg: (m,); cbow: (m, 2w)), cbow
        context mask (m, 2w) or None, user of each unit (m,) or None, shared)``; ``shared`` = (negatives, valid,
        unit -> draw group) with shared negatives (sg: one draw per centre occurrence, reused by its pairs), else
        None. ``position``: the fractional epoch passed to :attr:`before_batch` once the windows are cut (before
        the shared draws; None: no call). ``draw_empty=False`` skips the shared draw of a segment without units."""
        tok, sen, b = self._windows(lo, hi)
        if position is not None and self.before_batch is not None:
            self.before_batch(position)
        su = self.seq_users[sen] if self.seq_users is not None else None  # user of each kept token
        shared = mask = None
        if self.sg:
            cen, ctx, cpos = self._sg_pairs(tok, sen, b)
            m = cen.shape[0]
            pu = None if su is None else su[cpos]
            if self.shared and (m or draw_empty):
                at, group, per = torch.unique_consecutive(cpos, return_inverse=True, return_counts=True)

                def h_shared(group=group, per=per, ctx=ctx):
                    hs = torch.zeros((per.shape[0], self.syn0.shape[1]), dtype=self.syn0.dtype, device=self.device)
                    hs.index_add_(0, group, self.syn0[ctx])
                    return hs / per[:, None].to(hs.dtype)
                shared = (*self._draw(tok[at], per, None if su is None else su[at], h_shared), group)
        else:
            cen, ctx, mask, has = self._cbow_ctx(tok, sen, b)
            m = cen.shape[0]
            pu = None if su is None else su[has]
        return m, cen, ctx, mask, pu, shared

    def _step(self, seg: tuple, s: int, e: int, lr: float,
              acc: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One batch, units ``[s, e)`` of the segment ``seg`` (:meth:`_segment`): its negatives (the segment's
        shared draws, or drawn now) and the sg/cbow update (into ``acc`` when given); returns the losses."""
        _, cen, ctx, mask, pu, shared = seg
        if shared is not None:
            seg_negs, seg_mask, group = shared
            negs, nmask = seg_negs[group[s:e]], seg_mask[group[s:e]]
        elif self.sg:
            negs, nmask = self._draw(cen[s:e], users=None if pu is None else pu[s:e],
                                     h=lambda: self.syn0[ctx[s:e]])
        else:
            def h_cbow():
                mk = mask[s:e].to(self.syn0.dtype)
                sc = torch.where(mask[s:e], ctx[s:e], torch.zeros_like(ctx[s:e]))
                return (self.syn0[sc] * mk[:, :, None]).sum(1) / mk.sum(1).clamp_min(1.0)[:, None]
            negs, nmask = self._draw(cen[s:e], users=None if pu is None else pu[s:e], h=h_cbow)
        if self.sg:
            return sg_step(self.syn0, self.syn1neg, ctx[s:e], cen[s:e], negs, lr, nmask, self.noise, acc)
        return cbow_step(self.syn0, self.syn1neg, ctx[s:e], mask[s:e], cen[s:e], negs, lr, nmask, self.noise, acc)

    def train_epoch(self, epoch: int, epochs: int, alpha: float, min_alpha: float,
                    progress: Callable[[int], None] | None = None) -> float:
        """One pass; returns the mean loss per pair (sg) or per centre word (cbow)."""
        if self.group is not None:
            return self._train_epoch_data_parallel(epoch, epochs, alpha, min_alpha, progress)
        n_tok = self.tokens.shape[0]
        total_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        n_items = 0
        for lo in range(0, n_tok, self.segment_tokens):
            hi = min(lo + self.segment_tokens, n_tok)
            seg = self._segment(lo, hi, epoch + lo / n_tok if lo else None)
            m = seg[0]
            for s in range(0, m, self.batch_size):
                e = min(s + self.batch_size, m)
                pos = epoch + (lo + (hi - lo) * s / max(m, 1)) / n_tok  # fractional epoch
                if s and self.before_batch is not None and not self.shared:
                    self.before_batch(pos)
                frac = pos / epochs
                lr = max(min_alpha, alpha - (alpha - min_alpha) * frac)
                total_loss += self._step(seg, s, e, lr).sum(dtype=torch.float64)
            n_items += m
            if progress is not None:
                progress(hi - lo)
        return float(total_loss) / max(n_items, 1)

    def _max_over_ranks(self, n: int) -> int:
        t = torch.tensor([n], dtype=torch.int64, device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return int(t)

    def _train_epoch_data_parallel(self, epoch: int, epochs: int, alpha: float, min_alpha: float,
                                   progress: Callable[[int], None] | None = None) -> float:
        """One data-parallel pass over this rank's shard (see :func:`recneg.engine.skipgram.train_embeddings`).

        Synchronous SGD: every step each rank computes its batch's updates of syn0/syn1neg into a
        dense (2, V, d) buffer, the buffer is all-reduced (summed) and every rank adds the same sum,
        so the vectors stay identical on all ranks. The ranks run the same number of segments and of
        steps per segment (a rank out of pairs contributes zero updates); the learning rate follows
        the epoch's step count, the same on every rank. Returns the mean loss over all ranks' pairs.
        """
        n_tok = self.tokens.shape[0]
        n_seg = max(1, self._max_over_ranks(-(-n_tok // self.segment_tokens)))
        bounds = np.linspace(0, n_tok, n_seg + 1).round().astype(np.int64)
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)  # loss sum, pairs
        acc = (self._acc[0], self._acc[1])
        for si in range(n_seg):
            lo, hi = int(bounds[si]), int(bounds[si + 1])
            seg = self._segment(lo, hi, epoch + si / n_seg if si else None, draw_empty=False)
            m = seg[0]
            n_steps = self._max_over_ranks(-(-m // self.batch_size))
            for step in range(n_steps):
                s, e = step * self.batch_size, min((step + 1) * self.batch_size, m)
                pos = epoch + (si + step / max(n_steps, 1)) / n_seg  # fractional epoch, equal on all ranks
                if step and self.before_batch is not None and not self.shared:
                    self.before_batch(pos)
                lr = max(min_alpha, alpha - (alpha - min_alpha) * pos / epochs)
                self._acc.zero_()
                if s < e:
                    totals[0] += self._step(seg, s, e, lr, acc).sum(dtype=torch.float64)
                self._dist.all_reduce_sum(self._acc)
                self.syn0 += self._acc[0]
                self.syn1neg += self._acc[1]
            totals[1] += m
            if progress is not None:
                progress(hi - lo)
        self._dist.all_reduce_sum(totals)
        return float(totals[0]) / max(float(totals[1]), 1.0)
