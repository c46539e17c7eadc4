"""Models: Word2Vec and Item2Vec (skip-gram engine), MatrixFactorization, KeyedVectors.

``TrainingDivergedError`` (a ValueError) is raised by every ``fit``/``train`` whose loss or
weights turn NaN/inf (learning rate too high).

Names are imported lazily so that ``import recneg.models`` stays cheap.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Word2Vec": ".word2vec",
    "Item2Vec": ".item2vec",
    "KeyedVectors": ".keyedvectors",
    "MatrixFactorization": ".mf",
    "ALSMatrixFactorization": ".als",
    "BayesianPersonalizedRanking": ".mf",
    "StopTraining": ".mf",
    "TrainingDivergedError": "..engine.divergence",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'recneg.models' has no attribute {name!r}")
    value = getattr(import_module(mod, __name__), name)
    globals()[name] = value
    return value
