"""Dataset loaders (MovieLens, LightGCN splits, Last.fm, text corpora) and a synthetic generator."""
from __future__ import annotations

import os

from ..data import Interactions
from .lastfm import load_lastfm
from .movielens import DownloadError, cache_dir, load_movielens, manifest
from .synthetic import SyntheticData, make_synthetic
from .text import TextCorpus, load_text_corpus


def load_lightgcn(path: str | os.PathLike) -> tuple[Interactions, Interactions]:
    """Read a LightGCN-format folder (train.txt/test.txt). Returns (train, test) sharing one index space."""
    return Interactions.from_lightgcn(path)


__all__ = [
    "DownloadError", "load_movielens", "load_lightgcn", "load_lastfm", "load_text_corpus", "TextCorpus", "make_synthetic", "SyntheticData",
    "manifest", "cache_dir",
]
