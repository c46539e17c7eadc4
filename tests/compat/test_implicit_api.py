"""recneg's implicit-style API beyond implicit's own mixin: implicit's file layout both ways, the fit callback,
the input rules, the query-item-first rule, and the implicit-named factories (recneg.compat.implicit)."""
from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from recneg.compat.implicit import AlternatingLeastSquares, BayesianPersonalizedRanking, from_implicit_arrays
from recneg.models import Item2Vec, MatrixFactorization, StopTraining
from recneg.models._implicit_api import ParameterWarning
from recneg.models.als import ALSMatrixFactorization
from recneg.models.losses import WeightedSquared
from recneg.models.mf import NumbaMatrixFactorization

implicit = pytest.importorskip("implicit")


@pytest.fixture(autouse=True)
def _quiet_blas():
    with warnings.catch_warnings():  # implicit's ALS constructor warns about OpenBLAS threads
        warnings.filterwarnings("ignore", message="OpenBLAS is configured", category=RuntimeWarning)
        yield


@pytest.fixture(scope="module")
def X():
    """60 users x 40 items in two blocks, counts 1..3 (values matter to ALS)."""
    rng = np.random.default_rng(0)
    dense = (rng.random((60, 40)) < 0.15) * rng.integers(1, 4, (60, 40))
    dense[:30, :20] += (rng.random((30, 20)) < 0.4)
    dense[30:, 20:] += (rng.random((30, 20)) < 0.4)
    return sp.csr_matrix(dense.astype(np.float32))


def _round_trip(save):
    f = io.BytesIO()
    save(f)
    f.seek(0)
    return f


# ----------------------------------------------------------------------------- implicit's npz layout
def test_implicit_bpr_file_loads_into_recneg_and_recommends_the_same(X):
    from implicit.cpu.bpr import BayesianPersonalizedRanking as ImplicitBPR

    theirs = ImplicitBPR(factors=8, iterations=5, random_state=1, num_threads=1)
    theirs.fit(X, show_progress=False)
    mine = MatrixFactorization.load(_round_trip(theirs.save))
    assert isinstance(mine, NumbaMatrixFactorization) and mine.use_bias and mine.factors == 8
    assert mine.lr == theirs.learning_rate and mine.epochs == 5 and mine.sampler.alpha == 1.0
    np.testing.assert_array_equal(mine.user_factors, theirs.user_factors)  # bias column: ones / item biases
    np.testing.assert_array_equal(mine.item_factors, theirs.item_factors)
    users = np.arange(60)
    a, b = theirs.recommend(users, X, N=5), mine.recommend(users, X, N=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5)


def test_implicit_als_file_loads_into_recneg_and_recalculates_as_implicit(X):
    from implicit.cpu.als import AlternatingLeastSquares as ImplicitALS

    theirs = ImplicitALS(factors=6, regularization=0.05, alpha=2.0, iterations=3, random_state=1, num_threads=1)
    theirs.fit(X, show_progress=False)
    mine = MatrixFactorization.load(_round_trip(theirs.save))
    assert isinstance(mine, ALSMatrixFactorization) and mine.reg == 0.05 and mine.epochs == 3
    assert mine.loss == WeightedSquared(alpha0=1.0, alpha=2.0, confidence_offset=0.0, nu=0.0)
    users = np.arange(60)
    np.testing.assert_array_equal(theirs.recommend(users, X, N=5)[0], mine.recommend(users, X, N=5)[0])
    # the same objective: one exact user solve against the same item factors gives implicit's factors
    np.testing.assert_allclose(mine.recalculate_user(users, X), theirs.recalculate_user(users, X), rtol=1e-3,
                               atol=1e-4)
    items = np.arange(40)
    XT = X.T.tocsr()
    np.testing.assert_allclose(mine.recalculate_item(items, XT), theirs.recalculate_item(items, XT), rtol=1e-3,
                               atol=1e-4)


def test_unfitted_implicit_file_gives_an_unfitted_recneg_model():
    from implicit.cpu.als import AlternatingLeastSquares as ImplicitALS

    mine = MatrixFactorization.load(_round_trip(ImplicitALS(factors=5, iterations=7, random_state=3).save))
    assert isinstance(mine, ALSMatrixFactorization) and mine.factors == 5 and mine.epochs == 7 and mine.seed == 3
    with pytest.raises(RuntimeError, match="not fitted"):
        mine.recommend(0, None, filter_already_liked_items=False)


@pytest.mark.parametrize("make", [
    lambda: MatrixFactorization(factors=6, loss="bpr", epochs=3, workers=1),
    lambda: MatrixFactorization(factors=6, loss="bpr", use_bias=True, epochs=3, workers=1),
    lambda: MatrixFactorization(factors=6, loss="ials", epochs=3, workers=1),
    lambda: MatrixFactorization(factors=6, loss="softmax", backend="torch", epochs=2, workers=1),  # cosine scores
], ids=["bpr", "bpr-bias", "ials", "torch-cosine"])
def test_recneg_file_loads_into_implicit_and_back(X, make):
    from implicit.cpu.als import AlternatingLeastSquares as ImplicitALS

    m = make().fit(X, show_progress=False)
    f = _round_trip(m.save)
    theirs = ImplicitALS.load(f)  # implicit's loader: plain attributes from the file's keys
    users = np.arange(60)
    np.testing.assert_array_equal(theirs.recommend(users, X, N=5)[0], m.recommend(users, X, N=5)[0])
    f.seek(0)
    back = MatrixFactorization.load(f)
    assert back.get_params() == m.get_params()
    np.testing.assert_array_equal(back._U, m._U)
    np.testing.assert_array_equal(back._V, m._V)
    np.testing.assert_array_equal(back._b, m._b)
    np.testing.assert_array_equal(back.similar_items(np.arange(5))[0], m.similar_items(np.arange(5))[0])


def test_file_without_config_or_implicit_keys_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", user_factors=np.zeros((2, 3)), item_factors=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="neither a recneg MatrixFactorization file"):
        MatrixFactorization.load(tmp_path / "x.npz")
    with pytest.raises(ValueError, match="same number of columns"):
        from_implicit_arrays({"alpha": np.array(1.0), "user_factors": np.zeros((2, 3)),
                              "item_factors": np.zeros((4, 2))})


def test_ials_keeps_its_unobserved_weight_across_save(X, tmp_path):
    m = MatrixFactorization(factors=4, loss="ials", epochs=2, workers=1).fit(X, show_progress=False)
    m.save(tmp_path / "m.npz")
    m2 = MatrixFactorization.load(tmp_path / "m.npz")
    assert m2.alpha0_ == m.alpha0_ and m.loss.alpha0 is None  # set from unobserved_ratio at fit
    np.testing.assert_array_equal(m2.recalculate_user(np.arange(3), X[:3]), m.recalculate_user(np.arange(3), X[:3]))


def test_unfitted_models_save_and_load(tmp_path):
    for m in (MatrixFactorization(loss="bpr"), MatrixFactorization(loss="ials"), Item2Vec(progress=False)):
        f = _round_trip(m.save)
        back = type(m).load(f) if isinstance(m, Item2Vec) else MatrixFactorization.load(f)
        assert back.__dict__ == m.__dict__


# ----------------------------------------------------------------------------- fit
@pytest.mark.parametrize("make", [
    lambda: MatrixFactorization(factors=4, loss="bpr", epochs=3, workers=1),
    lambda: MatrixFactorization(factors=4, loss="bpr", backend="torch", epochs=3, workers=1),
    lambda: MatrixFactorization(factors=4, loss="ials", epochs=3, workers=1, calculate_training_loss=True),
    lambda: Item2Vec(vector_size=4, epochs=3, workers=1, progress=False),
], ids=["numba", "torch", "ials", "item2vec"])
def test_fit_callback_gets_epoch_elapsed_loss(X, make):
    calls = []
    m = make()
    m.fit(X, show_progress=False, callback=lambda *a, **k: calls.append((a, k)))
    assert [a[0] for a, _ in calls] == [0, 1, 2] and all(k == {} and len(a) == 3 for a, k in calls)
    assert all(a[1] >= 0 and np.isfinite(a[2]) for a, _ in calls)
    if isinstance(m, MatrixFactorization):
        assert [a[2] for a, _ in calls] == [h["loss"] for h in m.history]


def test_fit_callback_and_callbacks_together_and_stop_training(X):
    seen = []

    def stop(epoch, elapsed, loss):
        seen.append(("callback", epoch))
        if epoch == 1:
            raise StopTraining

    m = MatrixFactorization(factors=4, loss="bpr", epochs=5, workers=1)
    m.fit(X, show_progress=False, callbacks=[lambda ep, model: seen.append(("callbacks", ep))], callback=stop)
    assert seen == [("callbacks", 0), ("callback", 0), ("callbacks", 1), ("callback", 1)] and len(m.history) == 2
    m.fit(X, show_progress=False, callback=lambda *a: True)  # implicit ignores the return value; so does recneg
    assert len(m.history) == 5


@pytest.mark.parametrize("make", [lambda: MatrixFactorization(factors=4, loss="bpr", epochs=1, workers=1),
                                  lambda: MatrixFactorization(factors=4, loss="ials", epochs=1, workers=1),
                                  lambda: Item2Vec(vector_size=4, epochs=1, workers=1, progress=False)],
                         ids=["numba", "ials", "item2vec"])
def test_fit_warns_once_on_non_csr_with_both_warning_classes(X, make):
    import implicit.utils

    with pytest.warns(ParameterWarning) as rec:
        make().fit(X.tocoo(), show_progress=False)
    assert len(rec) == 1 and issubclass(rec[0].category, implicit.utils.ParameterWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make().fit(X, show_progress=False)  # CSR: no warning


# ----------------------------------------------------------------------------- recommend / similar_*
@pytest.fixture(scope="module", params=["bpr", "ials", "item2vec"])
def fitted(request, X):
    if request.param == "item2vec":
        return Item2Vec(vector_size=4, epochs=2, workers=1, progress=False).fit(X)
    return MatrixFactorization(factors=4, loss=request.param, epochs=2, workers=1).fit(X, show_progress=False)


def test_user_items_rules(fitted, X):
    with pytest.raises(ValueError, match="CSR"):
        fitted.recommend(0, X[0].tocsc())
    with pytest.raises(ValueError, match="CSR"):
        fitted.recommend(np.arange(3), X[:3].tocoo())
    with pytest.raises(ValueError, match="1 row for every user"):  # implicit's rule for one user
        fitted.recommend(0, X)
    a = fitted.recommend(np.array([4, 7]), X, N=5)  # a batch may pass the full matrix (rows picked by userid)
    b = fitted.recommend(np.array([4, 7]), X[[4, 7]], N=5)
    np.testing.assert_array_equal(a[0], b[0])
    ids, _ = fitted.recommend(0, X[0], N=3, items=[5, 1, 3, 30])
    assert set(ids.tolist()) <= {1, 3, 5, 30} and ids.dtype == np.int32
    with pytest.raises(IndexError):
        fitted.recommend(0, X[0], items=[0, 40])
    with pytest.raises(ValueError, match="Can't set both"):
        fitted.recommend(0, X[0], items=[0, 1], filter_items=[2])


def test_recommend_items_rank_liked_items_last(fitted, X):
    liked = X[2].indices[:2].tolist()
    other = [i for i in range(40) if i not in X[2].indices][:3]
    ids, sc = fitted.recommend(2, X[2], N=10, items=liked + other)
    assert len(ids) == 5 and set(ids[3:].tolist()) == set(liked) and np.all(np.isneginf(sc[3:]))


def test_recalculate_user_where_it_makes_sense(fitted, X):
    users = np.arange(5)
    if isinstance(fitted, Item2Vec):  # every call computes users from user_items: the flag changes nothing
        a = fitted.recommend(users, X[:5], N=5, recalculate_user=True)
        np.testing.assert_array_equal(a[0], fitted.recommend(users, X[:5], N=5)[0])
    elif fitted.loss.name == "ials":
        ids, _ = fitted.recommend(100, X[0], N=5, recalculate_user=True)  # a new user id: folded in
        assert ids.shape == (5,)
    else:
        with pytest.raises(NotImplementedError, match="ials"):
            fitted.recommend(users, X[:5], recalculate_user=True)


def test_similar_items_and_users_filters(fitted):
    ids, sc = fitted.similar_items(np.arange(6), N=4, filter_items=[0, 1])
    assert ids.shape == (6, 4) and not np.isin(ids, [0, 1]).any() and np.all(sc <= 1.0)
    ids, _ = fitted.similar_items(3, N=10, items=[3, 9, 12])
    assert ids[0] == 3 and set(ids.tolist()) == {3, 9, 12}
    ids, _ = fitted.similar_items(3, N=10, item_users=sp.csr_matrix((1, 60)))  # ignored without recalculate_item
    assert ids[0] == 3
    if isinstance(fitted, Item2Vec):
        with pytest.raises(NotImplementedError):
            fitted.similar_users(0)
        with pytest.raises(NotImplementedError):
            fitted.similar_items(0, recalculate_item=True, item_users=sp.csr_matrix((1, 60)))
        return
    ids, sc = fitted.similar_users(np.arange(4), N=5, filter_users=[10, 11])
    assert ids[:, 0].tolist() == [0, 1, 2, 3] and np.all(sc[:, 0] == 1.0) and not np.isin(ids, [10, 11]).any()
    ids, _ = fitted.similar_users(0, N=9, users=[5, 0, 7])
    assert ids.tolist()[0] == 0 and set(ids.tolist()) == {0, 5, 7}


def test_query_item_first_with_exactly_parallel_vectors():
    """Items with identical data can get parallel vectors whose float32 cosine rounds above the item's own."""
    m = MatrixFactorization(factors=3, loss="bpr", epochs=1, workers=1).fit(sp.csr_matrix(np.eye(4, dtype=np.float32)),
                                                                            show_progress=False)
    v = np.array([0.1257302165031433, -0.13210485875606537, 0.6404226422309875], np.float32)
    m._V = np.stack([v, v * 3, v * 7, -v]).astype(np.float32)
    unit = m._V / np.maximum(np.linalg.norm(m._V, axis=1, keepdims=True), np.float32(1e-12))
    raw = unit @ unit.T
    assert raw[0, 0] < raw[0, 1]  # float32: item 0's cosine with itself rounds below its cosine with item 1
    ids, sc = m.similar_items(np.arange(3), N=3)
    assert ids[:, 0].tolist() == [0, 1, 2] and np.all(sc[:, 0] == 1.0) and np.all(sc <= 1.0)
    assert m.similar_items(1, N=3, filter_items=[1])[0][0] != 1  # filtered: not forced back


# ----------------------------------------------------------------------------- factories
def test_bpr_factory_maps_implicit_parameters():
    m = BayesianPersonalizedRanking(factors=16, learning_rate=0.02, regularization=0.003, iterations=7,
                                    num_threads=1, verify_negative_samples=False, random_state=5)
    assert isinstance(m, NumbaMatrixFactorization) and m.loss.name == "bpr" and m.use_bias
    assert (m.factors, m.lr, m.reg, m.epochs, m.workers, m.seed) == (16, 0.02, 0.003, 7, 1, 5)
    assert m.sampler.k == 1 and m.sampler.alpha == 1.0 and not m.sampler.exclude_seen
    assert m.init_std == pytest.approx(1 / (np.sqrt(12) * 16))
    d = BayesianPersonalizedRanking()
    assert (d.factors, d.lr, d.reg, d.epochs, d.seed) == (100, 0.01, 0.01, 100, None) and d.sampler.exclude_seen
    assert d.workers == (os.cpu_count() or 1)
    assert BayesianPersonalizedRanking(random_state=np.random.default_rng(0)).seed is not None
    with pytest.raises(NotImplementedError, match="use_gpu"):
        BayesianPersonalizedRanking(use_gpu=True)
    with pytest.raises(NotImplementedError, match="float32"):
        BayesianPersonalizedRanking(dtype=np.float64)


def test_als_factory_maps_implicit_parameters():
    m = AlternatingLeastSquares(factors=8, regularization=0.1, alpha=40.0, use_cg=False, iterations=4,
                                num_threads=1, random_state=2)
    assert isinstance(m, ALSMatrixFactorization) and m.solver == "cholesky" and m.epochs == 4 and m.reg == 0.1
    assert m.loss == WeightedSquared(alpha0=1.0, alpha=40.0, confidence_offset=0.0, nu=0.0)
    assert AlternatingLeastSquares().solver == "cg" and AlternatingLeastSquares().epochs == 15
    with pytest.raises(NotImplementedError, match="use_gpu"):
        AlternatingLeastSquares(use_gpu=True)
    X = sp.csr_matrix(np.array([[0, 2.0, 0], [1.0, 0, 3.0]], np.float32))
    assert m.confidences(X).data.tolist() == [80.0, 40.0, 120.0]  # implicit's c = alpha * r


def test_file_objects_bad_content_name_the_file():
    with pytest.raises(ValueError, match="<file object>.*not a valid"):
        MatrixFactorization.load(io.BytesIO(b"not an npz file"))
    with pytest.raises(ValueError, match="<file object> is empty"):
        Item2Vec.load(io.BytesIO(b""))


def test_recneg_models_bpr_alias_points_to_the_implicit_names():
    from recneg.models import BayesianPersonalizedRanking as RecnegBPR

    with pytest.raises(TypeError, match="recneg.compat.implicit"):
        RecnegBPR(factors=8, learning_rate=0.01, iterations=5)
    assert RecnegBPR(factors=8, lr=0.01, epochs=5).epochs == 5
