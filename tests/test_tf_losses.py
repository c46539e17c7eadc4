"""recneg.losses: TensorFlow's nce_loss / sampled_softmax_loss against hand computations, gradients, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recneg.losses import compute_accidental_hits, nce_loss, sampled_softmax_loss
from recneg.sampling import log_uniform_candidate_sampler

V, D = 8, 3


def _data(seed=0, batch=3):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(V, D))
    b = rng.normal(size=V) * 0.5
    X = rng.normal(size=(batch, D))
    return W, b, X


def _t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _sig(z):
    return 1.0 / (1.0 + math.exp(-z))


def reference(W, b, labels, X, sampled, t_ec, s_ec, remove_hits):
    """Per-row NCE and sampled-softmax losses written from the definitions (plain Python loops).

    A removed accidental hit is a candidate column dropped from the row: it adds nothing to NCE and
    nothing to the softmax normaliser (what TensorFlow's -FLOAT_MAX logit amounts to).
    """
    B, T = labels.shape
    nce, sm = np.zeros(B), np.zeros(B)
    for i in range(B):
        true_z = [X[i] @ W[c] + b[c] - math.log(t_ec[i, j]) for j, c in enumerate(labels[i])]
        keep = [k for k, c in enumerate(sampled) if not (remove_hits and c in labels[i])]
        samp_z = [X[i] @ W[sampled[k]] + b[sampled[k]] - math.log(s_ec[k]) for k in keep]
        t = 1.0 / T
        nce[i] = sum(-t * math.log(_sig(z)) - (1 - t) * math.log(1 - _sig(z)) for z in true_z) + \
            sum(-math.log(1 - _sig(z)) for z in samp_z)
        log_norm = math.log(sum(math.exp(z) for z in true_z + samp_z))
        sm[i] = -sum(t * (z - log_norm) for z in true_z)
    return nce, sm


# candidates: unique, and (rows 0 and 2) some equal to a true class
SAMPLED = np.array([5, 1, 7, 2])
S_EC = np.array([0.9, 0.35, 0.6, 0.2])
LABELS_1 = np.array([[1], [4], [2]])  # row 0 hits candidate 1, row 2 hits candidate 2
LABELS_3 = np.array([[1, 4, 6], [0, 3, 6], [2, 7, 0]])  # row 2 hits 2 and 7
T_EC_1 = np.array([[0.3], [0.5], [0.25]])
T_EC_3 = np.array([[0.3, 0.7, 0.45], [0.15, 0.5, 0.45], [0.25, 0.6, 0.15]])


@pytest.mark.parametrize("remove_hits", [False, True])
@pytest.mark.parametrize("num_true", [1, 3])
def test_values_match_the_hand_computation(num_true, remove_hits):
    W, b, X = _data()
    labels, t_ec = (LABELS_1, T_EC_1) if num_true == 1 else (LABELS_3, T_EC_3)
    want_nce, want_sm = reference(W, b, labels, X, SAMPLED, t_ec, S_EC, remove_hits)
    sv = (torch.as_tensor(SAMPLED), torch.as_tensor(t_ec), torch.as_tensor(S_EC))
    args = (_t(W), _t(b), torch.as_tensor(labels), _t(X), len(SAMPLED), V)
    got_nce = nce_loss(*args, num_true=num_true, sampled_values=sv, remove_accidental_hits=remove_hits)
    got_sm = sampled_softmax_loss(*args, num_true=num_true, sampled_values=sv, remove_accidental_hits=remove_hits)
    assert got_nce.shape == (3,) and got_sm.shape == (3,)
    np.testing.assert_allclose(got_nce.detach().numpy(), want_nce, rtol=1e-12)
    np.testing.assert_allclose(got_sm.detach().numpy(), want_sm, rtol=1e-12)
    # the hits matter: with them left in, rows 0 and 2 change
    other_nce, _ = reference(W, b, labels, X, SAMPLED, t_ec, S_EC, not remove_hits)
    assert not np.allclose(other_nce[[0, 2]], want_nce[[0, 2]])
    np.testing.assert_allclose(other_nce[1], want_nce[1], rtol=1e-12)


def test_one_row_by_hand():
    """x = 2, w = (0.5, -1), b = (0.1, 0.2), label 0, candidate 1, q_true = 0.5, q_cand = 0.25.

    true logit = 2 * 0.5 + 0.1 - log 0.5 = 1.7931472, candidate logit = -2 + 0.2 - log 0.25 = -0.4137056;
    NCE = log(1 + e^-1.7931472) + log(1 + e^-0.4137056) = 0.1539526 + 0.5075376 = 0.6614901;
    softmax = log(1 + e^(-0.4137056 - 1.7931472)) = 0.1044019.
    """
    W, b, X = _t([[0.5], [-1.0]]), _t([0.1, 0.2]), _t([[2.0]])
    sv = ([1], [[0.5]], [0.25])
    assert nce_loss(W, b, torch.tensor([0]), X, 1, 2, sampled_values=sv).item() == pytest.approx(0.6614901, rel=1e-6)
    got = sampled_softmax_loss(W, b, torch.tensor([0]), X, 1, 2, sampled_values=sv).item()
    assert got == pytest.approx(0.1044019, rel=1e-6)


def test_float32_inputs_and_masked_hits_stay_finite():
    W, b, X = _data(1)
    args = (_t(W).float(), _t(b).float(), torch.as_tensor(LABELS_3), _t(X).float(), 4, V)
    sv = (torch.as_tensor(SAMPLED), torch.as_tensor(T_EC_3, dtype=torch.float32), torch.as_tensor(S_EC))
    for fn in (nce_loss, sampled_softmax_loss):
        out = fn(*args, num_true=3, sampled_values=sv, remove_accidental_hits=True)
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        out.sum().backward()
        want = reference(W, b, LABELS_3, X, SAMPLED, T_EC_3, S_EC, True)[0 if fn is nce_loss else 1]
        np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-5)


def test_a_repeated_candidate_is_masked_at_its_last_position_only():
    """TensorFlow presupposes unique candidates: with a repeat, only the last copy of a hit is removed."""
    W, b, X = _data(2, batch=1)
    labels = np.array([[2]])
    sampled, s_ec = np.array([2, 5, 2]), np.array([0.4, 0.3, 0.4])
    t_ec = np.array([[0.4]])
    sv = (sampled, t_ec, s_ec)
    got = nce_loss(_t(W), _t(b), labels, _t(X), 3, V, sampled_values=sv, remove_accidental_hits=True)
    want, _ = reference(W, b, labels, X, sampled[:2], t_ec, s_ec[:2], False)  # the first copy stays, the last goes
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)


def test_compute_accidental_hits_is_tensorflows():
    idx, ids, w = compute_accidental_hits(torch.as_tensor(LABELS_3), torch.as_tensor(SAMPLED), 3)
    assert idx.tolist() == [0, 2, 2] and ids.tolist() == [1, 3, 2]
    assert (w == -np.finfo(np.float32).max).all()


# ------------------------------------------------------------------ the default sampler
def test_default_sampler_is_recnegs_log_uniform_unique():
    W, b, X = _data(3)
    labels = torch.as_tensor(LABELS_1)
    sv = log_uniform_candidate_sampler(labels, 1, 5, True, V, seed=torch.Generator().manual_seed(9))
    for fn in (nce_loss, sampled_softmax_loss):
        explicit = fn(_t(W), _t(b), labels, _t(X), 5, V, sampled_values=sv)
        default = fn(_t(W), _t(b), labels, _t(X), 5, V, seed=torch.Generator().manual_seed(9))
        assert torch.equal(explicit, default)
        # seed None: the global torch RNG
        torch.manual_seed(0)
        a = fn(_t(W), _t(b), labels, _t(X), 5, V)
        torch.manual_seed(0)
        assert torch.equal(a, fn(_t(W), _t(b), labels, _t(X), 5, V))


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("fn", [nce_loss, sampled_softmax_loss])
@pytest.mark.parametrize("remove_hits", [False, True])
def test_gradcheck(fn, remove_hits):
    W, b, X = _data(4)
    sv = (torch.as_tensor(SAMPLED), torch.as_tensor(T_EC_3), torch.as_tensor(S_EC))
    f = lambda w, bb, x: fn(w, bb, torch.as_tensor(LABELS_3), x, 4, V, num_true=3, sampled_values=sv,
                             remove_accidental_hits=remove_hits)
    assert torch.autograd.gradcheck(f, (_t(W), _t(b), _t(X)))


def test_gradients_reach_only_the_rows_looked_up_and_sparse_matches_dense():
    W, b, X = _data(5)
    sv = (SAMPLED, T_EC_1, S_EC)
    grads = []
    for sparse in (False, True):
        w, bb, x = _t(W), _t(b), _t(X)
        nce_loss(w, bb, LABELS_1, x, 4, V, sampled_values=sv, sparse=sparse).sum().backward()
        assert w.grad.is_sparse == sparse
        grads.append((w.grad.to_dense(), bb.grad, x.grad))
    for g_dense, g_sparse in zip(*grads):
        torch.testing.assert_close(g_dense, g_sparse)
    used = sorted(set(SAMPLED) | set(LABELS_1.ravel()))
    untouched = [i for i in range(V) if i not in used]
    w_grad, b_grad, x_grad = grads[0]
    assert (w_grad[untouched] == 0).all() and (w_grad[used].abs().sum(1) > 0).all()
    assert (b_grad[untouched] == 0).all() and (x_grad.abs().sum(1) > 0).all()


def test_embedding_module_and_sharded_weights():
    W, b, X = _data(6)
    sv = (SAMPLED, T_EC_3, S_EC)
    full = nce_loss(_t(W), _t(b), LABELS_3, _t(X), 4, V, num_true=3, sampled_values=sv)
    emb = torch.nn.Embedding(V, D, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.as_tensor(W))
    torch.testing.assert_close(nce_loss(emb, _t(b), LABELS_3, _t(X), 4, V, num_true=3, sampled_values=sv), full)
    mod = [_t(W[i::3]) for i in range(3)]  # class c in shard c % 3, row c // 3
    div = [_t(W[0:3]), _t(W[3:6]), _t(W[6:8])]  # 8 classes in 3 shards: 3, 3, 2 rows
    for shards, strategy in ((mod, "mod"), (div, "div")):
        got = nce_loss(shards, _t(b), LABELS_3, _t(X), 4, V, num_true=3, sampled_values=sv,
                       partition_strategy=strategy)
        torch.testing.assert_close(got, full)
    with pytest.raises(ValueError, match="partition_strategy"):
        nce_loss(mod, _t(b), LABELS_3, _t(X), 4, V, num_true=3, sampled_values=sv)
    with pytest.raises(ValueError, match="shards"):
        nce_loss([_t(W[0:4]), _t(W[4:8]), _t(W[:0])], _t(b), LABELS_3, _t(X), 4, V, num_true=3,
                 sampled_values=sv, partition_strategy="div")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("fn", [nce_loss, sampled_softmax_loss])
def test_cpu_and_cuda_give_the_same_values_and_gradients(fn):
    W, b, X = _data(7)
    sv = (SAMPLED, T_EC_3, S_EC)
    out = {}
    for dev in ("cpu", "cuda"):
        w, bb, x = (_t(a).to(dev).detach().requires_grad_(True) for a in (W, b, X))
        loss = fn(w, bb, torch.as_tensor(LABELS_3), x, 4, V, num_true=3, sampled_values=sv,
                  remove_accidental_hits=True)
        assert loss.device.type == dev
        loss.sum().backward()
        out[dev] = [t.detach().cpu() for t in (loss, w.grad, bb.grad, x.grad)]
    for a, c in zip(out["cpu"], out["cuda"]):
        torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-12)
    # and the default sampler draws on the GPU
    w = _t(W).cuda()
    loss = fn(w, _t(b).cuda(), torch.as_tensor(LABELS_3).cuda(), _t(X).cuda(), 4, V, num_true=3, seed=0)
    assert loss.device.type == "cuda" and torch.isfinite(loss).all()


# ------------------------------------------------------------------ errors
def _bad(**over):
    W, b, X = _data(8)
    kw = {"weights": _t(W), "biases": _t(b), "labels": torch.as_tensor(LABELS_1), "inputs": _t(X), "num_sampled": 4,
              "num_classes": V, "num_true": 1, "sampled_values": (SAMPLED, T_EC_1, S_EC)}
    kw.update(over)
    return kw


@pytest.mark.parametrize("fn", [nce_loss, sampled_softmax_loss])
@pytest.mark.parametrize("over, exc, match", [
    ({"labels": torch.tensor([[1], [8], [2]])}, ValueError, "labels"),
    ({"labels": torch.tensor([[1], [-1], [2]]), "sampled_values": None}, ValueError, "labels"),
    ({"labels": torch.tensor([[1.0], [2.0], [3.0]])}, TypeError, "labels"),
    ({"labels": torch.tensor([[1], [2]])}, ValueError, "labels"),
    ({"labels": torch.as_tensor(LABELS_3)}, ValueError, "num_true"),
    ({"num_sampled": 9, "sampled_values": None}, ValueError, "num_sampled"),
    ({"num_sampled": 0}, ValueError, "num_sampled"),
    ({"num_sampled": 3}, ValueError, "num_sampled"),
    ({"num_classes": 9}, ValueError, "num_classes"),
    ({"inputs": _t(np.zeros((3, 4)))}, ValueError, "inputs"),
    ({"inputs": _t(np.zeros(3))}, ValueError, "inputs"),
    ({"biases": _t(np.zeros(V - 1))}, ValueError, "biases"),
    ({"biases": _t(np.zeros(V)).float()}, TypeError, "biases"),
    ({"weights": _t(np.zeros(V))}, ValueError, "weights"),
    ({"sampled_values": (SAMPLED, T_EC_3, S_EC)}, ValueError, "true_expected_count"),
    ({"sampled_values": (SAMPLED, T_EC_1, S_EC[:3])}, ValueError, "sampled_expected_count"),
    ({"sampled_values": (SAMPLED, np.zeros((3, 1)), S_EC)}, ValueError, "true_expected_count"),
    ({"sampled_values": (SAMPLED + 5, T_EC_1, S_EC)}, ValueError, "sampled_candidates"),
    ({"sampled_values": (SAMPLED, T_EC_1)}, TypeError, "sampled_values"),
])
def test_bad_input_names_the_argument(fn, over, exc, match):
    with pytest.raises(exc, match=match):
        fn(**_bad(**over))
