"""``implicit.evaluation.ranking_metrics_at_k`` on every recneg model, and implicit's numbers reproduced from
recneg's own top lists (recneg.evaluation.ranking_metrics), with the one formula that differs: implicit's
pooled "precision" (see the module docstring of recneg.evaluation.ranking)."""
from __future__ import annotations

import numpy as np
import pytest

from recneg.compat.implicit import AlternatingLeastSquares, BayesianPersonalizedRanking
from recneg.data import split_random
from recneg.datasets import make_synthetic
from recneg.evaluation import ranking_metrics
from recneg.models import Item2Vec, MatrixFactorization

evaluation = pytest.importorskip("implicit.evaluation")

K = 10


@pytest.fixture(scope="module")
def split():
    data = make_synthetic(n_users=150, n_items=90, n_clusters=4, interactions_per_user=12, seed=3).interactions
    train, test = split_random(data, test_fraction=0.3, seed=1)
    return train.csr.astype(np.float32), test.csr.astype(np.float32)


class _RecommendOnly:
    """The model seen only through ``recommend``: recneg's evaluation then ranks with the very lists implicit's
    evaluation gets (a model's factors would be scored by a separate GEMM, whose float rounding may order
    near-ties differently)."""

    def __init__(self, model):
        self.recommend = model.recommend


MODELS = {
    "numba-bpr": lambda: MatrixFactorization(factors=8, loss="bpr", epochs=5, workers=1),
    "torch-softmax": lambda: MatrixFactorization(factors=8, loss="softmax", backend="torch", epochs=3, workers=1),
    "ials": lambda: MatrixFactorization(factors=8, loss="ials", epochs=4, workers=1),
    "item2vec": lambda: Item2Vec(vector_size=8, epochs=3, workers=1, progress=False),
    "compat-bpr": lambda: BayesianPersonalizedRanking(factors=8, iterations=5, num_threads=1, random_state=0),
    "compat-als": lambda: AlternatingLeastSquares(factors=8, iterations=4, num_threads=1, random_state=0),
}


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, split):
    m = MODELS[request.param]()
    m.fit(split[0], show_progress=False)
    return m


def test_implicit_evaluation_runs_on_every_model_and_recneg_reproduces_it(fitted, split):
    train, test = split
    theirs = evaluation.ranking_metrics_at_k(fitted, train, test, K=K, show_progress=False)
    assert evaluation.precision_at_k(fitted, train, test, K=K, show_progress=False) == theirs["precision"]
    # implicit evaluates every user with a test item (also one without training items)
    mine = ranking_metrics(_RecommendOnly(fitted), train=train, test=test, K=K, per_user=True,
                           skip_cold_users=False, metrics=["precision", "recall", "ndcg", "map"])
    assert mine.n_users_evaluated == int((np.diff(test.indptr) > 0).sum())
    n_rel = np.diff(test.indptr)[mine.users]
    hits = mine.per_user[f"precision@{K}"] * K
    # implicit's "precision": hits pooled over users, over sum_u min(K, |test_u|)
    assert hits.sum() / np.minimum(K, n_rel).sum() == pytest.approx(theirs["precision"], rel=1e-12)
    # map and ndcg are defined as recneg's (denominators min(K, |test_u|)), averaged over the same users
    assert mine.metrics[f"map@{K}"] == pytest.approx(theirs["map"], rel=1e-12)
    assert mine.metrics[f"ndcg@{K}"] == pytest.approx(theirs["ndcg"], rel=1e-12)
    # recneg's precision@K is hits/K averaged over users, its recall@K hits/|test_u| averaged: both differ
    assert mine.metrics[f"precision@{K}"] == pytest.approx(hits.mean() / K)
    assert mine.metrics[f"precision@{K}"] != pytest.approx(theirs["precision"], rel=1e-3)
    assert mine.metrics[f"recall@{K}"] != pytest.approx(theirs["precision"], rel=1e-3)
