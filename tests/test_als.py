"""iALS (issue 14): the weighted squared loss over all items, solved by alternating least squares.

The block solves are checked against numpy's normal equations and a brute-force dense evaluation of the loss
(O(users items d)), in both forms (unseen items or every item as negatives), binary and with confidences."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recneg.engine.als import ALSTrainer
from recneg.evaluation.ranking import ranking_metrics
from recneg.models.als import ALSMatrixFactorization
from recneg.models.losses import DEFAULT_UNOBSERVED_RATIO, WeightedSquared, as_loss
from recneg.models.mf import MatrixFactorization, NumbaMatrixFactorization, TorchMatrixFactorization
from recneg.sampling import AllItems, NegativeSampler

FORMS = [  # (alpha0, alpha, nu, exclude_seen)
    pytest.param(0.3, None, 0.0, True, id="binary-unseen-nu0"),
    pytest.param(0.1, None, 1.0, False, id="binary-all-items-nu1 (Rendle et al.)"),
    pytest.param(1.0, 2.0, 0.5, True, id="confidence-unseen-nu0.5 (Hu et al.)"),
    pytest.param(0.05, 0.5, 1.0, False, id="confidence-all-items-nu1"),
]


def _problem(seed: int = 0, n_users: int = 30, n_items: int = 20, d: int = 6, density: float = 0.2):
    """A tiny random problem: counts matrix R (some empty rows and columns), factors U, V (float32)."""
    rng = np.random.default_rng(seed)
    R = (rng.random((n_users, n_items)) < density) * rng.integers(1, 6, (n_users, n_items))
    R[0] = 0  # a user without items
    R[:, 1] = 0  # an item without users
    U = (rng.standard_normal((n_users, d)) * 0.3).astype(np.float32)
    V = (rng.standard_normal((n_items, d)) * 0.3).astype(np.float32)
    return sp.csr_matrix(R.astype(np.float32)), U, V


def _dense_parts(R: sp.csr_matrix, alpha0, alpha, nu, exclude_seen, reg):
    """Dense weights W (quadratic), B (linear) and per-row/column L2 coefficients, straight from the loss's
    definition: L = sum W S^2 - 2 B S + sum_obs c + reg terms."""
    M = R.toarray() > 0
    c = np.where(M, 1.0 + (alpha or 0.0) * R.toarray(), 0.0) if alpha is not None else M.astype(float)
    N = (~M) if exclude_seen else np.ones_like(M)
    W = c + alpha0 * N
    B = c
    n_u = c.sum(1) + alpha0 * N.sum(1)
    n_i = c.sum(0) + alpha0 * N.sum(0)
    return W, B, c, reg * n_u ** nu, reg * n_i ** nu


def _dense_loss(U, V, W, B, c, lam_u, lam_i) -> float:
    S = U.astype(np.float64) @ V.astype(np.float64).T
    return float((W * S ** 2 - 2 * B * S).sum() + c.sum() + lam_u @ (U.astype(np.float64) ** 2).sum(1)
                 + lam_i @ (V.astype(np.float64) ** 2).sum(1))


def _grad_U(U, V, W, B, lam_u) -> np.ndarray:
    U64, V64 = U.astype(np.float64), V.astype(np.float64)
    return 2 * ((W * (U64 @ V64.T) - B) @ V64) + 2 * lam_u[:, None] * U64


def _trainer(R, U, V, alpha0, alpha, nu, exclude_seen, reg, **kw):
    C = R.copy()
    C.data = (1.0 + alpha * C.data) if alpha is not None else np.ones_like(C.data)
    return ALSTrainer(C, U, V, alpha0=alpha0, reg=reg, nu=nu, exclude_seen=exclude_seen, workers=1, **kw)


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("solver,tol", [("cholesky", 2e-4), ("cg", 1e-3)])
@pytest.mark.parametrize("alpha0,alpha,nu,exclude_seen", FORMS)
def test_block_solve_equals_numpy_normal_equations(alpha0, alpha, nu, exclude_seen, solver, tol):
    """Every row's solve (cholesky; CG run to convergence, 3 d steps) is numpy's solution of the normal equations."""
    R, U, V = _problem()
    reg = 0.05
    W, B, c, lam_u, _ = _dense_parts(R, alpha0, alpha, nu, exclude_seen, reg)
    V64 = V.astype(np.float64)
    want = np.stack([np.linalg.solve(V64.T @ (W[u][:, None] * V64) + lam_u[u] * np.eye(V.shape[1]), V64.T @ B[u])
                     for u in range(R.shape[0])])
    t = _trainer(R, U, V, alpha0, alpha, nu, exclude_seen, reg, solver=solver, cg_steps=3 * V.shape[1])
    t.half_step(users=True)
    np.testing.assert_allclose(U, want, rtol=tol, atol=tol / 10)
    assert np.abs(U[0]).max() < 1e-6  # a user without items: the all-item term pulls its factors to 0


@pytest.mark.parametrize("alpha0,alpha,nu,exclude_seen", FORMS)
def test_half_step_minimises_the_dense_loss(alpha0, alpha, nu, exclude_seen):
    """After the item half-step, the gradient of the brute-force loss w.r.t. V vanishes, and no perturbation
    of V lowers it; the objective the trainer reports is that loss."""
    R, U, V = _problem(seed=1)
    reg = 0.02
    W, B, c, lam_u, lam_i = _dense_parts(R, alpha0, alpha, nu, exclude_seen, reg)
    t = _trainer(R, U, V, alpha0, alpha, nu, exclude_seen, reg, solver="cholesky")
    before = _dense_loss(U, V, W, B, c, lam_u, lam_i)
    assert t.objective() == pytest.approx(before, rel=1e-6)
    g0 = np.linalg.norm(_grad_U(V, U, W.T, B.T, lam_i))
    t.half_step(users=False)
    g = _grad_U(V, U, W.T, B.T, lam_i)  # the loss is symmetric in (U, W) <-> (V, W^T)
    assert np.linalg.norm(g) < 1e-4 * g0
    best = _dense_loss(U, V, W, B, c, lam_u, lam_i)
    assert t.objective() == pytest.approx(best, rel=1e-6) and best < before
    rng = np.random.default_rng(0)
    for _ in range(5):
        Vp = V + rng.standard_normal(V.shape).astype(np.float32) * 1e-2
        assert _dense_loss(U, Vp, W, B, c, lam_u, lam_i) > best


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("alpha0,alpha,nu,exclude_seen", FORMS)
def test_objective_never_increases(solver, alpha0, alpha, nu, exclude_seen):
    R, _, _ = _problem(seed=2, n_users=60, n_items=40, d=8)
    m = ALSMatrixFactorization(factors=8, loss=WeightedSquared(alpha0=alpha0, alpha=alpha, nu=nu),
                               sampler=AllItems(exclude_seen=exclude_seen), reg=0.05, epochs=12, solver=solver,
                               init_std=0.3, workers=1, calculate_training_loss=True)
    m.fit(R, show_progress=False)
    L = np.array([h["loss"] for h in m.history])
    assert len(L) == 12 and all(h["seconds"] >= 0 for h in m.history)
    assert np.all(np.diff(L) <= 1e-5 * np.abs(L[:-1])), L
    assert L[-1] < L[0]
    W, B, c, lam_u, lam_i = _dense_parts(R, alpha0, alpha, nu, exclude_seen, 0.05)
    assert L[-1] == pytest.approx(_dense_loss(m.user_factors, m.item_factors, W, B, c, lam_u, lam_i), rel=1e-5)


def test_cg_agrees_with_cholesky():
    """CG with d steps solves the block system exactly; with implicit's 3 steps per half-step, the epochs end at
    nearly the exact solver's objective."""
    R, U, V = _problem(seed=3, n_users=50, n_items=30, d=6)
    a, b = U.copy(), U.copy()
    _trainer(R, a, V, 0.2, 1.0, 1.0, True, 0.05, solver="cholesky").half_step(users=True)
    _trainer(R, b, V, 0.2, 1.0, 1.0, True, 0.05, solver="cg", cg_steps=12).half_step(users=True)
    np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)
    kw = dict(factors=6, loss=WeightedSquared(alpha0=0.2, nu=1.0), reg=0.05, epochs=15, workers=1,
              calculate_training_loss=True)
    exact = ALSMatrixFactorization(solver="cholesky", **kw).fit(R, show_progress=False).history[-1]["loss"]
    cg = ALSMatrixFactorization(solver="cg", cg_steps=3, **kw).fit(R, show_progress=False).history[-1]["loss"]
    assert cg == pytest.approx(exact, rel=0.01)


@pytest.mark.filterwarnings("ignore:OpenBLAS is configured")
def test_equals_implicit_als_exact_solver():
    """implicit's ALS on ``X * a`` (c = a on binary data, unobserved weight 1, plain reg) is alpha0=1, alpha=a-1,
    nu=0, unseen negatives: one iteration from the same start gives the same factors."""
    als = pytest.importorskip("implicit.cpu.als")
    R, U, V = _problem(seed=4, n_users=25, n_items=18, d=5)
    X = R.copy()
    X.data[:] = 1.0
    ref = als.AlternatingLeastSquares(factors=5, regularization=0.1, iterations=1, use_cg=False, num_threads=1,
                                      random_state=0)
    ref.user_factors, ref.item_factors = U.copy(), V.copy()
    ref.fit(X * 4.0, show_progress=False)
    t = _trainer(X, U, V, 1.0, 3.0, 0.0, True, 0.1, solver="cholesky")
    t(0)
    np.testing.assert_allclose(U, ref.user_factors, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(V, ref.item_factors, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------- the model
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_recovers_planted_clusters(planted, solver):
    data, train, test, pop = planted
    m = MatrixFactorization(factors=16, loss="ials", solver=solver, epochs=10, workers=1)
    assert isinstance(m, ALSMatrixFactorization)
    m.fit(train, show_progress=False)
    got = ranking_metrics(m, train, test, K=20, metrics=["recall"]).metrics["recall@20"]
    assert got > pop + 0.25, (got, pop)
    ids, _ = m.similar_items(np.arange(train.n_items), N=6)
    assert (data.item_cluster[ids[:, 1:]] == data.item_cluster[:, None]).mean() > 0.8


def test_recovers_synth_clusters_from_confidences(synth):
    """Noise-free planted clusters (the shared fixture) with confidences from values: neighbours share the cluster."""
    X = synth.interactions.csr.copy()
    X.data = np.random.default_rng(0).integers(1, 20, X.nnz).astype(np.float32)  # play counts
    m = MatrixFactorization(factors=12, loss=WeightedSquared(alpha0=1.0, alpha=5.0, nu=0.0), epochs=8, workers=1)
    m.fit(X, show_progress=False)
    ids, _ = m.similar_items(np.arange(X.shape[1]), N=6)
    assert (synth.item_cluster[ids[:, 1:]] == synth.item_cluster[:, None]).mean() > 0.9


def test_values_are_ignored_unless_alpha_is_given():
    R, _, _ = _problem(seed=5)
    B = R.copy()
    B.data[:] = 1.0
    kw = dict(factors=4, epochs=3, workers=1)
    a = ALSMatrixFactorization(**kw).fit(R, show_progress=False)
    b = ALSMatrixFactorization(**kw).fit(B, show_progress=False)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    loss = WeightedSquared(alpha=1.0)
    c = ALSMatrixFactorization(loss=loss, **kw).fit(R, show_progress=False)
    assert not np.allclose(c.item_factors, b.item_factors)
    np.testing.assert_allclose(c.confidences(R).data, 1.0 + R.data)


def test_routing_options_and_specs():
    m = MatrixFactorization(loss=WeightedSquared(alpha0=0.1), sampler=AllItems(exclude_seen=False), reg=0.5)
    assert type(m) is ALSMatrixFactorization and m.backend == "als" and not m.sampler.exclude_seen
    assert type(MatrixFactorization(loss="ials", sampler="all")) is ALSMatrixFactorization
    assert type(MatrixFactorization(backend="als")) is ALSMatrixFactorization
    assert type(MatrixFactorization(loss="bpr")) is NumbaMatrixFactorization  # the others are untouched
    p = m.get_params()
    assert p["backend"] == "als" and p["loss"] == {"name": "ials", "score": "dot", "alpha0": 0.1,
                                                   "unobserved_ratio": None, "alpha": None, "nu": 1.0}
    assert as_loss(p["loss"]) == m.loss
    assert set(p) == set(ALSMatrixFactorization._OPTIONS) | {"backend"}
    with pytest.raises(TypeError, match="lr"):  # options ALS does not honour are not accepted
        MatrixFactorization(loss="ials", lr=0.1)


def test_unobserved_ratio_sets_alpha0_from_the_data():
    """The default loss sets alpha0 = ratio * sum(c) / (users * items) at fit: the same factors as that alpha0."""
    R, _, _ = _problem(seed=7)
    loss = WeightedSquared(alpha=0.5)
    assert loss.alpha0 is None and loss.unobserved_ratio == DEFAULT_UNOBSERVED_RATIO
    a = ALSMatrixFactorization(factors=4, loss=loss, epochs=3, workers=1).fit(R, show_progress=False)
    want = DEFAULT_UNOBSERVED_RATIO * (1.0 + 0.5 * R.data.astype(np.float64)).sum() / (R.shape[0] * R.shape[1])
    assert a.alpha0_ == pytest.approx(want, rel=1e-6)
    b = ALSMatrixFactorization(factors=4, loss=WeightedSquared(alpha0=want, alpha=0.5), epochs=3, workers=1)
    b.fit(R, show_progress=False)
    np.testing.assert_allclose(a.item_factors, b.item_factors, rtol=1e-5, atol=1e-7)
    c = ALSMatrixFactorization(factors=4, loss=WeightedSquared(unobserved_ratio=2 * DEFAULT_UNOBSERVED_RATIO,
                                                               alpha=0.5), epochs=1, workers=1)
    assert c.fit(R, show_progress=False).alpha0_ == pytest.approx(2 * want, rel=1e-6)
    with pytest.raises(ValueError, match="alpha0 .* or unobserved_ratio .* not both"):
        WeightedSquared(alpha0=0.1, unobserved_ratio=5.0)


def test_save_load_recommend(planted, tmp_path):
    _, train, _, _ = planted
    m = MatrixFactorization(factors=8, loss=WeightedSquared(alpha0=0.1, alpha=2.0, nu=0.5), reg=0.02, epochs=2,
                            solver="cholesky", workers=1).fit(train, show_progress=False)
    m.save(tmp_path / "m.npz")
    m2 = MatrixFactorization.load(tmp_path / "m.npz")
    assert type(m2) is ALSMatrixFactorization and m2.get_params() == m.get_params()
    a, b = m.recommend(np.arange(5), train.csr[:5], N=10), m2.recommend(np.arange(5), train.csr[:5], N=10)
    np.testing.assert_array_equal(a[0], b[0])
    ids, _ = m.recommend(3, train.csr[3], N=10)
    assert not set(ids.tolist()) & set(train.csr[3].indices.tolist())


def test_validation_patience_and_callbacks(planted):
    _, train, test, _ = planted
    seen = []
    m = ALSMatrixFactorization(factors=8, epochs=6, workers=1)
    m.fit(train, show_progress=False, callbacks=[lambda e, mdl: seen.append(e) or e == 2])
    assert seen == [0, 1, 2] and len(m.history) == 3
    val = lambda e, mdl: {"recall@20": -e}  # noqa: E731 - gets worse every epoch: patience keeps epoch 0
    m.fit(train, show_progress=False, validation=val, patience=2)
    assert len(m.history) == 3 and [h["recall@20"] for h in m.history] == [0, -1, -2]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf])
def test_bad_values_with_confidence(bad):
    R, _, _ = _problem(seed=6)
    R.data[3] = bad
    m = ALSMatrixFactorization(factors=4, loss=WeightedSquared(alpha=1.0), epochs=1)
    with pytest.raises(ValueError, match="user_items has (NaN or inf|negative) values"):
        m.fit(R, show_progress=False)
    assert m._U is None  # left unfitted


def test_bad_arguments_name_the_argument():
    R, _, _ = _problem()
    with pytest.raises(TypeError, match="user_items"):
        ALSMatrixFactorization(factors=4).fit(R.toarray(), show_progress=False)
    with pytest.raises(ValueError, match="reg must be"):
        MatrixFactorization(loss="ials", reg=-0.1)
    with pytest.raises(ValueError, match="alpha0 must be"):
        WeightedSquared(alpha0=-1.0)
    with pytest.raises(ValueError, match="alpha must be"):
        WeightedSquared(alpha=-2.0)
    with pytest.raises(ValueError, match="unobserved_ratio must be"):
        WeightedSquared(unobserved_ratio=-1.0)
    with pytest.raises(ValueError, match="nu must be"):
        WeightedSquared(nu=-0.5)
    with pytest.raises(ValueError, match="reg=0 with alpha0=0"):
        MatrixFactorization(loss=WeightedSquared(alpha0=0.0), reg=0.0)
    with pytest.raises(ValueError, match="reg=0 with alpha0=0"):
        MatrixFactorization(loss=WeightedSquared(unobserved_ratio=0.0), reg=0.0)
    with pytest.raises(ValueError, match="AllItems"):
        MatrixFactorization(loss="ials", sampler=NegativeSampler(k=5))
    with pytest.raises(ValueError, match="device"):
        MatrixFactorization(loss="ials", device="cuda")
    with pytest.raises(ValueError, match="solver"):
        MatrixFactorization(loss="ials", solver="lu")
    with pytest.raises(ValueError, match="backend='als'"):
        TorchMatrixFactorization(loss="ials")
    with pytest.raises(ValueError, match="backend='als'"):
        MatrixFactorization(loss="ials", backend="numba")
    with pytest.raises(ValueError, match="ALSMatrixFactorization trains loss='ials'"):
        ALSMatrixFactorization(loss="bpr")


def test_training_loss_only_when_asked():
    """implicit's calculate_training_loss: off by default (history's loss is NaN, the factors are the same),
    on: the objective after every epoch; a non-boolean is refused by name."""
    R, _, _ = _problem(seed=4, n_users=40, n_items=30, d=6)
    kw = dict(factors=6, loss=WeightedSquared(alpha0=0.2, nu=1.0), reg=0.05, epochs=4, workers=1)
    off = ALSMatrixFactorization(**kw).fit(R, show_progress=False)
    on = ALSMatrixFactorization(calculate_training_loss=True, **kw).fit(R, show_progress=False)
    assert all(math.isnan(h["loss"]) for h in off.history)
    L = [h["loss"] for h in on.history]
    assert all(math.isfinite(x) for x in L) and L[-1] < L[0]
    np.testing.assert_array_equal(off.item_factors, on.item_factors)
    assert on.get_params()["calculate_training_loss"] is True
    with pytest.raises(ValueError, match="calculate_training_loss"):
        ALSMatrixFactorization(calculate_training_loss="yes")
