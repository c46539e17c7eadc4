"""implicit 0.7.3's own ``RecommenderBaseTestMixin`` run against recneg's models.

The mixin is third-party code (``benfred/implicit``, ``tests/recommender_base_test.py``, MIT; see
``../shared/compat/README.md``): it is loaded from ``../shared/compat/implicit/`` at test time,
never copied here, and these tests skip when it (or implicit) is absent. Only ``_get_model`` is
ours: it builds the recneg model under test. No assertion of the mixin is changed.

Models: numba BPR (``loss="bpr"``), torch MF (``backend="torch"``), iALS (``loss="ials"``),
``Item2Vec``, and the implicit-named factories of :mod:`recneg.compat.implicit`.
"""
from __future__ import annotations

import importlib.util
import sys
import unittest
from pathlib import Path

import pytest

MIXIN_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "implicit" / "recommender_base_test.py"


def _load_mixin():
    if not MIXIN_PATH.is_file():
        return None, f"implicit's recommender_base_test.py not found at {MIXIN_PATH}"
    try:
        import implicit  # noqa: F401  (the mixin imports implicit.evaluation, .nearest_neighbours, .utils)
    except ImportError as e:  # pragma: no cover - implicit is in the dev extra
        return None, f"implicit is not installed ({e}); pip install -e .[dev]"
    name = "_implicit_recommender_base_test"
    spec = importlib.util.spec_from_file_location(name, MIXIN_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.RecommenderBaseTestMixin, None


Mixin, _why = _load_mixin()
if Mixin is None:
    pytest.skip(_why, allow_module_level=True)


class TestNumbaBPR(Mixin, unittest.TestCase):
    def _get_model(self):
        from recneg.models import MatrixFactorization

        return MatrixFactorization(factors=3, loss="bpr", epochs=20, seed=23, workers=1)


class TestTorchMF(Mixin, unittest.TestCase):
    def _get_model(self):
        from recneg.models import MatrixFactorization

        return MatrixFactorization(factors=3, loss="bpr", backend="torch", lr=0.05, epochs=20, seed=23, workers=1)


class TestIALS(Mixin, unittest.TestCase):
    def _get_model(self):
        from recneg.models import MatrixFactorization

        return MatrixFactorization(factors=3, loss="ials", epochs=50, seed=23, workers=1)


class TestItem2Vec(Mixin, unittest.TestCase):
    def _get_model(self):
        from recneg.models import Item2Vec

        return Item2Vec(vector_size=8, epochs=20, seed=23, workers=1, progress=False)


class TestCompatBPR(Mixin, unittest.TestCase):
    def _get_model(self):  # implicit's own tests/bpr_test.py, with the import swapped
        from recneg.compat.implicit import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(factors=3, regularization=0, use_gpu=False, random_state=42)


class TestCompatALS(Mixin, unittest.TestCase):
    def _get_model(self):  # implicit's own tests/als_test.py, with the import swapped
        from recneg.compat.implicit import AlternatingLeastSquares

        return AlternatingLeastSquares(factors=32, regularization=0, use_gpu=False, random_state=23)
