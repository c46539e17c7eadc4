"""One top-N helper: every model returns implicit's dtypes (int32 ids, float32 scores), best first."""
import numpy as np
import pytest

from recneg.datasets import make_synthetic
from recneg.models import Item2Vec, MatrixFactorization
from recneg.models._topn import top_n


def test_top_n_exact_values_ties_and_filtered_items():
    s = np.array([[0.5, 2.0, -np.inf, 2.0, 1.0], [3.0, 3.0, 3.0, 3.0, 3.0]])
    ids, sc = top_n(s, 3)
    assert ids.dtype == np.int32 and sc.dtype == np.float32
    assert ids.tolist() == [[1, 3, 4], [0, 1, 2]]
    assert sc.tolist() == [[2.0, 2.0, 1.0], [3.0, 3.0, 3.0]]
    ids, sc = top_n(s, 10)  # n larger than the catalogue: every item, -inf last
    assert ids[0].tolist() == [1, 3, 4, 0, 2] and sc[0, -1] == -np.inf


@pytest.mark.parametrize("make", [
    lambda: MatrixFactorization(factors=8, epochs=2),
    lambda: MatrixFactorization(factors=8, epochs=1, loss="softmax", batch_size=256),
    lambda: Item2Vec(vector_size=8, epochs=1, progress=False),
])
def test_every_model_returns_int32_ids(make):
    d = make_synthetic(n_users=80, n_items=40, n_clusters=3, seed=0).interactions
    m = make()
    m.fit(d, show_progress=False) if isinstance(m, MatrixFactorization) else m.fit(d)
    for ids, sc in (m.recommend(np.arange(5), d.csr[:5], N=4), m.similar_items(np.arange(3), N=4)):
        assert ids.dtype == np.int32 and sc.dtype == np.float32 and ids.shape[1] == 4
        assert np.all(np.diff(sc, axis=1) <= 0)
    ids, _ = m.recommend(0, d.csr[0], N=4)
    assert ids.dtype == np.int32 and not set(ids.tolist()) & set(d.csr[0].indices.tolist())
