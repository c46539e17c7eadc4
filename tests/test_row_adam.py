"""RowAdam (recneg.engine.row_adam): dense Adam's trajectory on the rows a step reads."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recneg.engine.row_adam import RowAdam
from recneg.models.mf import MatrixFactorization, TorchMatrixFactorization
from recneg.sampling import NegativeSampler


def _run(opt_kind, steps=60, n=40, d=5, seed=0, lr=0.05, lr_at=None, flush_every=None):
    """Train a table on random sparse-row losses; the same row draws and targets for both optimisers."""
    g = torch.Generator().manual_seed(seed)
    w0 = torch.randn(n, d, generator=g)
    emb = torch.nn.Embedding(n, d, sparse=opt_kind == "row")
    with torch.no_grad():
        emb.weight.copy_(w0)
    if opt_kind == "row":
        opt = RowAdam([emb.weight], lr=lr, lr_at=lr_at)
        emb.register_forward_pre_hook(lambda mod, args: opt.catch_up(mod.weight, args[0]))
    else:
        opt = torch.optim.Adam([emb.weight], lr=lr)
    target = torch.randn(n, d, generator=g)
    rows_seen = torch.zeros(n, dtype=torch.bool)
    for s in range(steps):
        k = int(torch.randint(1, 8, (1,), generator=g))
        rows = torch.randint(0, n // 2 if s < steps // 2 else n - 5, (k,), generator=g)  # repeats; half the rows late
        rows_seen[rows] = True
        if lr_at is not None:
            for grp in opt.param_groups:
                grp["lr"] = lr_at(s + 1)
        opt.zero_grad(set_to_none=True)
        loss = ((emb(rows) - target[rows]) ** 2).sum()
        loss.backward()
        opt.step()
        if opt_kind == "row" and flush_every and (s + 1) % flush_every == 0:
            opt.flush()
    if opt_kind == "row":
        opt.flush()
    return w0, emb.weight.detach().clone(), rows_seen


@pytest.mark.parametrize("flush_every", [None, 7])
def test_row_adam_equals_dense_adam(flush_every):
    w0, dense, seen = _run("dense")
    _, row, _ = _run("row", flush_every=flush_every)
    assert seen.any() and not seen.all()
    # dense Adam moved rows between their touches (momentum): the lazy rows must have caught up
    assert torch.allclose(row, dense, rtol=1e-4, atol=1e-5), (row - dense).abs().max()
    assert torch.equal(row[~seen], w0[~seen])  # never-read rows never move (dense Adam: zero moments)


def test_row_adam_equals_dense_adam_with_lr_schedule():
    sched = lambda s: 0.05 * max(1.0 - (s - 1) / 60, 1e-4)  # noqa: E731
    _, dense, _ = _run("dense", lr_at=sched)
    _, row, _ = _run("row", lr_at=sched)
    assert torch.allclose(row, dense, rtol=1e-4, atol=1e-5), (row - dense).abs().max()


def test_sparse_adam_is_not_dense_adam():
    """The control: plain lazy Adam (torch's SparseAdam) drops the moment-only moves, so it differs."""
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = torch.optim.SparseAdam(list(emb.parameters()), lr=0.05)
    ref = torch.nn.Embedding(10, 3)
    with torch.no_grad():
        ref.weight.copy_(emb.weight)
    dense = torch.optim.Adam(ref.parameters(), lr=0.05)
    for s in range(5):
        rows = torch.tensor([0]) if s == 0 else torch.tensor([1])
        for e, o in ((emb, opt), (ref, dense)):
            o.zero_grad()
            e(rows).sum().backward()
            o.step()
    assert not torch.allclose(emb.weight[0], ref.weight[0])  # dense kept moving row 0 after its one touch


def _data(seed=0, n_users=40, n_items=60, density=0.15):
    rng = np.random.default_rng(seed)
    X = sp.random(n_users, n_items, density=density, random_state=rng, format="csr")
    X.data[:] = 1
    return X


class _ForcedAdam(TorchMatrixFactorization):
    """The torch model with the trainer's optimiser forced (cfg.optimizer), for the comparison."""

    forced = "adam"

    def _cfg(self):
        cfg = super()._cfg()
        cfg.optimizer = self.forced
        return cfg


def test_mf_user_batches_train_with_row_adam_as_dense_adam():
    """A whole fit: user batches now train with RowAdam and give dense Adam's factors (the optimiser before)."""
    X = _data()
    kw = dict(factors=8, loss="ccl", sampler=NegativeSampler(k=16, alpha=0.0, shared=True), lr=1e-2, reg=0.0,
              init_std=0.1, batching="users", batch_size=8, epochs=3, seed=0, workers=1)
    a = _ForcedAdam(**kw).fit(X, show_progress=False)
    b = MatrixFactorization(**kw).fit(X, show_progress=False)
    assert isinstance(b, TorchMatrixFactorization)
    assert not np.allclose(a._U, a._U.mean())  # it trained
    np.testing.assert_allclose(b._U, a._U, rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(b._V, a._V, rtol=1e-3, atol=2e-5)


def test_trainer_picks_row_adam_for_sampled_user_batches_only():
    from recneg.sampling import AllItems

    X = _data()
    cases = [(dict(batching="users", sampler=NegativeSampler(k=8, shared=True)), RowAdam),
             (dict(batching="users", sampler=AllItems()), torch.optim.Adam),
             (dict(batching="users", sampler=NegativeSampler(k=8, shared=True), history_weight=0.5), torch.optim.Adam),
             (dict(batching="pairs", sampler=NegativeSampler(k=8, shared=True)), torch.optim.SparseAdam)]
    for kw, cls in cases:
        m = MatrixFactorization(factors=4, loss="ccl", epochs=1, batch_size=8, backend="torch", **kw)
        trainers = []
        orig = m._make_trainer
        m._make_trainer = lambda X, rng: trainers.append(orig(X, rng)) or trainers[-1]
        m.fit(X, show_progress=False)
        assert type(trainers[0].opt) is cls, (kw, type(trainers[0].opt))
