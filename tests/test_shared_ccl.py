"""The fused CCL of user batches on sampled shared negatives equals the generic ccl_loss path."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recneg.engine.mf_torch import TorchTrainer
from recneg.models.losses import CCL
from recneg.models.mf import MatrixFactorization, UserBatches
from recneg.sampling import NegativeSampler


def _trainer(exclude_seen=True, batching="users", margin=0.3):
    rng = np.random.default_rng(0)
    X = sp.random(30, 50, density=0.2, random_state=rng, format="csr")
    X.data[:] = 1
    m = MatrixFactorization(factors=6, loss=CCL(margin=margin, negative_weight=7.0),
                            sampler=NegativeSampler(k=40, alpha=0.0, shared=True, exclude_seen=exclude_seen),
                            batching=batching, batch_size=8, init_std=0.5, reg=1e-3, backend="torch")
    m.sampler.bind(X)
    m._U = (rng.standard_normal((30, 6)) * 0.5).astype(np.float32)
    m._V = (rng.standard_normal((50, 6)) * 0.5).astype(np.float32)
    m._b = np.zeros(50, np.float32)
    return m._make_trainer(X, rng)


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("batching", ["users", UserBatches(positives_per_row=2)])
def test_fused_ccl_equals_generic(exclude_seen, batching):
    out = {}
    for fused in (True, False):
        tr = _trainer(exclude_seen, batching)
        tr.fused_ccl = fused
        users = torch.tensor([0, 3, 5, 7, 11, 12, 20, 29])
        positives = None
        if tr.chunk:
            ptr, items = tr._epoch_rows()
            idx = torch.arange(8)
            from recneg.sampling.torch_draws import gather_rows
            users, positives = tr.row_user[idx], gather_rows(ptr, items, idx)
        loss = tr.user_batch_loss(users, positives)
        loss.backward()
        out[fused] = (loss.item(), tr.U.weight.grad.clone(), tr.V.weight.grad.clone())
    # a margin of 0.3 makes many hinge terms active, so the comparison is not of zeros
    assert out[True][0] == pytest.approx(out[False][0], rel=1e-5)
    assert out[False][2].abs().sum() > 0
    torch.testing.assert_close(out[True][1], out[False][1], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out[True][2], out[False][2], rtol=1e-4, atol=1e-6)


def test_fused_ccl_is_used_by_default():
    assert TorchTrainer.fused_ccl is True
