"""Fixtures for running peers' own test suites against recneg (``tests/compat``).

gensim: its test modules are imported from the *installed* ``gensim.test`` package (never
copied here); :func:`recneg_for_gensim` swaps recneg's :class:`KeyedVectors` in where a test
module names gensim's, for one test at a time.
"""
from __future__ import annotations

import types

import pytest


@pytest.fixture
def recneg_for_gensim(monkeypatch, tmp_path):
    """``swap(module)``: make the gensim test ``module`` use recneg's KeyedVectors.

    What is swapped, only for the running test (monkeypatch undoes it):
    - the module's own ``KeyedVectors`` name and the ``KeyedVectors`` of its ``keyedvectors``
      module name (through a copy of that module, so gensim's internals keep their class);
    - ``gensim.models.KeyedVectors``, which tests call as ``gensim.models.KeyedVectors...``;
    - gensim's private ``_load_word2vec_format(cls=..., binary_chunk_size=...)``, which one test
      class calls directly: for recneg's class it calls ``cls.load_word2vec_format`` (recneg reads
      the whole file at once, so the chunk size has no counterpart);
    - ``datapath`` for the one file a test *writes* into gensim's installed test_data
      (``high_precision.kv.bin``): it goes to a temporary folder instead.
    """
    import gensim.models
    import gensim.models.keyedvectors as gkv

    from recneg.models.keyedvectors import KeyedVectors

    original_loader = gkv._load_word2vec_format

    def load_word2vec_format_shim(cls, fname, *args, binary_chunk_size=None, **kwargs):
        if cls is KeyedVectors:
            return cls.load_word2vec_format(fname, *args, **kwargs)
        extra = {} if binary_chunk_size is None else {"binary_chunk_size": binary_chunk_size}
        return original_loader(cls, fname, *args, **kwargs, **extra)

    def swap(module: types.ModuleType) -> None:
        if "KeyedVectors" in vars(module):
            monkeypatch.setattr(module, "KeyedVectors", KeyedVectors)
        if isinstance(vars(module).get("keyedvectors"), types.ModuleType):
            proxy = types.ModuleType(gkv.__name__)
            proxy.__dict__.update(vars(gkv))
            proxy.KeyedVectors = KeyedVectors
            monkeypatch.setattr(module, "keyedvectors", proxy)
        if "datapath" in vars(module):
            real = module.datapath

            def datapath(name: str) -> str:
                return str(tmp_path / name) if name in WRITTEN_BY_TESTS else real(name)

            monkeypatch.setattr(module, "datapath", datapath)
        monkeypatch.setattr(gensim.models, "KeyedVectors", KeyedVectors)
        monkeypatch.setattr(gkv, "_load_word2vec_format", load_word2vec_format_shim)

    return swap


# files of gensim/test/test_data/ that a suite test overwrites (redirected to tmp_path)
WRITTEN_BY_TESTS = frozenset({"high_precision.kv.bin"})
