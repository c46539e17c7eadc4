"""recneg: negative sampling for recommender systems and embedding training.

Layers (each importable without the ones after it):
``recneg.data`` -> ``recneg.sampling`` -> ``recneg.engine`` -> ``recneg.models`` -> ``recneg.evaluation``.
The names below are imported lazily, so ``import recneg`` stays cheap.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Interactions": "recneg.data",
    "split_random": "recneg.data",
    "split_leave_last_out": "recneg.data",
    "split_temporal": "recneg.data",
    "AliasTable": "recneg.sampling",
    "NegativeSampler": "recneg.sampling",
    "popularity": "recneg.sampling",
    "Word2Vec": "recneg.models.word2vec",
    "Item2Vec": "recneg.models.item2vec",
    "KeyedVectors": "recneg.models.keyedvectors",
    "MatrixFactorization": "recneg.models.mf",
    "ranking_metrics": "recneg.evaluation.ranking",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'recneg' has no attribute {name!r}")
    value = getattr(import_module(mod), name)
    globals()[name] = value
    return value
