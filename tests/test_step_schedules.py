"""Schedules move per step on the torch paths (MF and skip-gram) and per epoch in the numba kernels.

A tiny torch run records the negatives of every batch (the trainers' debug hooks); the number of
negatives per row must follow the k schedule at each batch's fractional epoch, and a scheduled alpha
rebuilds the proposal within an epoch, in steps of at least ALPHA_REBUILD_STEP.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recneg.engine.mf_torch import TorchTrainer
from recneg.engine.skipgram_torch import TorchSkipGram
from recneg.models.mf import MatrixFactorization
from recneg.models.item2vec import Item2Vec
from recneg.sampling import DynamicNegativeSampler, NegativeSampler
from recneg.sampling.schedules import ALPHA_REBUILD_STEP, LinearSchedule


def _X(n_users=64, n_items=50, per=4, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    D = np.zeros((n_users, n_items), np.float32)
    for u in range(n_users):
        D[u, rng.choice(n_items, size=per, replace=False)] = 1
    return sp.csr_matrix(D)


def test_mf_torch_k_schedule_moves_every_batch(monkeypatch):
    X = _X()  # 256 pairs, batches of 32: 8 steps per epoch
    rec: list = []
    monkeypatch.setattr(TorchTrainer, "record", rec)
    k = LinearSchedule(1, 17, steps=2)  # k(t) = 1 + 8 t over the fractional epoch t
    m = MatrixFactorization(factors=4, loss="bce", sampler=NegativeSampler(k=k, alpha=0.0, exclude_seen=False),
                            epochs=2, batch_size=32, backend="torch", workers=1, seed=0)
    m.fit(X, show_progress=False)
    got = [r["items"].shape[1] for r in rec]
    want = [int(round(k(e + b / 8))) for e in range(2) for b in range(8)]
    assert got == want
    assert len(set(got[:8])) == 8  # eight different k within the first epoch: per step, not per epoch
    assert [h["k"] for h in m.history] == [1, 9]  # history: the values at each epoch's start


def test_mf_torch_dns_candidates_follow_their_schedule_per_step(monkeypatch):
    X = _X()
    seen_m: list = []
    import recneg.engine.mf_torch as mt

    real = mt.draw_dns

    def spy(users, k, m, *a, **kw):
        seen_m.append(m)
        return real(users, k, m, *a, **kw)

    monkeypatch.setattr(mt, "draw_dns", spy)
    mm = LinearSchedule(2, 10, steps=1)
    sampler = DynamicNegativeSampler(NegativeSampler(k=1, alpha=0.0), m=mm)
    MatrixFactorization(factors=4, loss="bpr", sampler=sampler, epochs=1, batch_size=32, backend="torch", workers=1,
                        seed=0).fit(X, show_progress=False)
    assert seen_m == [int(round(mm(b / 8))) for b in range(8)]


def test_mf_torch_alpha_schedule_rebuilds_the_proposal_within_an_epoch(monkeypatch):
    X = _X(n_users=200)  # 800 pairs, batches of 16: 50 steps per epoch
    built: list = []
    real = TorchTrainer.set_proposal

    def spy(self, weights):
        built.append(self.cfg.alpha)
        return real(self, weights)

    monkeypatch.setattr(TorchTrainer, "set_proposal", spy)
    a = LinearSchedule(1.0, 0.0, steps=1)
    m = MatrixFactorization(factors=4, loss="bpr", sampler=NegativeSampler(k=1, alpha=a), epochs=2, batch_size=16,
                            backend="torch", workers=1, seed=0)
    m.fit(X, show_progress=False)
    within = built[:-1]  # the last rebuild is epoch 1's start (alpha exactly 0)
    assert len(within) >= 20, built  # alpha moved 1 -> 0 over 50 steps: rebuilt many times within epoch 0
    assert np.all(np.diff(within) <= -ALPHA_REBUILD_STEP + 1e-12)  # never for a change under the step
    assert built[-1] == 0.0 and m.history[1]["alpha"] == 0.0


def test_mf_torch_constant_sampler_installs_no_step_hook():
    m = MatrixFactorization(factors=4, sampler=NegativeSampler(k=3, alpha=0.5), epochs=1, backend="torch", workers=1)
    m.fit(_X(), show_progress=False)
    tr = m._make_trainer(_X().tocsr(), np.random.default_rng(0))
    assert tr.before_step is None


def test_item2vec_torch_k_schedule_moves_within_an_epoch(monkeypatch):
    rec: list = []
    monkeypatch.setattr(TorchSkipGram, "record", rec)
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 30, size=12) for _ in range(200)]
    k = LinearSchedule(1, 9, steps=1)
    m = Item2Vec(vector_size=8, window=2, min_count=1, epochs=2, sampler=NegativeSampler(k=k, alpha=0.75,
                 exclude_seen=False), backend="torch", batch_size=128, seed=0, shared_negatives=False)
    m.fit_sequences(seqs, 30)
    ks = [r["items"].shape[1] for r in rec]
    assert len(set(ks)) >= 4 and ks == sorted(ks)  # k grows batch by batch, not only at the epoch boundary
    assert ks[-1] == 9 and [h["k"] for h in m.history] == [1, 9]


def test_item2vec_torch_nce_keeps_its_noise_correction_when_k_moves_per_step(monkeypatch):
    calls: list = []
    real = TorchSkipGram.set_draws

    def spy(self, k, ks, m=0, noise=None):
        calls.append((k, noise))
        return real(self, k, ks, m, noise=noise)

    monkeypatch.setattr(TorchSkipGram, "set_draws", spy)
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 30, size=12) for _ in range(200)]
    m = Item2Vec(vector_size=8, window=2, min_count=1, epochs=2, loss="nce", backend="torch", batch_size=128, seed=0,
                 shared_negatives=False, sampler=NegativeSampler(k=LinearSchedule(1, 9, steps=1), alpha=0.75,
                                                                 exclude_seen=False))
    m.fit_sequences(seqs, 30)
    assert len({k for k, _ in calls}) >= 4  # k moved within the first epoch
    p = m._base_sampler  # the noise is log(k q) for the k of that batch: never dropped, never stale
    for k, noise in calls:
        assert noise is not None
        counts = np.bincount(np.concatenate(seqs), minlength=30).astype(float) ** 0.75
        np.testing.assert_allclose(noise, np.log(k * counts / counts.sum()), rtol=1e-5)
    assert p is m.sampler
