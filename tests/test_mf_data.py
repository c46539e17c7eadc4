"""MatrixFactorization on real data (ML-100k from ../shared/data): beats most-popular by a margin."""
from __future__ import annotations

import pytest

from recneg.data import split_random
from recneg.datasets import load_movielens
from recneg.evaluation.ranking import most_popular_scores, ranking_metrics
from recneg.models.mf import MatrixFactorization
from recneg.sampling import DynamicNegativeSampler, NegativeSampler


@pytest.mark.slow
def test_ml100k_bpr_dns_beats_most_popular(shared_data):
    path = shared_data / "movielens" / "ml-100k"
    if not (path / "u.data").is_file():
        pytest.skip(f"ML-100k not found at {path}")
    inter = load_movielens("100k", path=path, download=False, binarize=True)
    train, test = split_random(inter, test_fraction=0.2, seed=0)
    pop = ranking_metrics(train=train, test=test, K=20, score_fn=most_popular_scores(train),
                          metrics=["recall", "ndcg"]).metrics
    dns = DynamicNegativeSampler(NegativeSampler(k=2, alpha=0.0), m=8)  # old API: hard="dns", negatives=2
    m = MatrixFactorization(factors=32, loss="bpr", sampler=dns, lr=0.05, reg=0.02, epochs=15).fit(
        train, show_progress=False)
    assert m.backend == "numba"
    got = ranking_metrics(m, train, test, K=20, metrics=["recall", "ndcg"]).metrics
    assert got["recall@20"] > pop["recall@20"] + 0.05, (got, pop)
    assert got["ndcg@20"] > pop["ndcg@20"] + 0.05, (got, pop)
