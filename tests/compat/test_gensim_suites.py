"""gensim 4.4's own KeyedVectors tests, run against recneg's KeyedVectors (issue 15).

The tests are imported from the installed ``gensim.test`` package at collection time, never
copied; each runs unchanged (``unittest.TestCase.debug``) with recneg's class swapped in by the
``recneg_for_gensim`` fixture (``conftest.py``). Selected:

- every test of ``test_keyedvectors``, ``test_datatype`` and ``test_glove2word2vec``;
- the word2vec-format tests of ``test_word2vec``, ``test_doc2vec`` and ``test_fasttext``: those
  whose source calls ``KeyedVectors.load_word2vec_format`` (the model is trained by gensim, its
  vectors are saved by gensim and loaded by recneg).

Skipped: tests about gensim's pickles (SKIPPED). Intended differences, where gensim's behaviour
is a bug and recneg raises a clear error instead, are strict xfails (INTENDED_DIFFERENCES).
"""
from __future__ import annotations

import importlib
import inspect
import unittest

import pytest

pytest.importorskip("gensim")

# module -> selection rule (None: every test; a string: tests whose source contains it)
SUITES = {
    "gensim.test.test_keyedvectors": None,
    "gensim.test.test_datatype": None,
    "gensim.test.test_glove2word2vec": None,
    "gensim.test.test_word2vec": "KeyedVectors.load_word2vec_format",
    "gensim.test.test_doc2vec": "KeyedVectors.load_word2vec_format",
    "gensim.test.test_fasttext": "KeyedVectors.load_word2vec_format",
}

SKIPPED = {
    "test_keyedvectors::Gensim320Test::test":
        "gensim pickle: loads a gensim 3.2 pickle (old_keyedvectors_320.dat); recneg's save/load is .npz",
    "test_word2vec::TestWord2VecModel::test_persistence_word2vec_format_combination_with_standard_persistence":
        "gensim pickle: asserts that gensim's pickle loader (Word2Vec.load) raises AttributeError on a pickled "
        "KeyedVectors; recneg's save() writes .npz, which that loader rejects as not a pickle",
}

INTENDED_DIFFERENCES: dict[str, tuple[str, type[BaseException]]] = {}


def _collect() -> list:
    params = []
    for modname, rule in SUITES.items():
        short = modname.rsplit(".", 1)[1]
        try:
            module = importlib.import_module(modname)
        except ImportError as e:  # e.g. testfixtures, a gensim test dependency (in recneg's dev extra)
            params.append(pytest.param(None, None, None, id=f"{short}::import",
                                       marks=pytest.mark.skip(reason=f"cannot import {modname}: {e}")))
            continue
        for cname, cls in sorted(vars(module).items()):
            if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase) and cls.__module__ == modname):
                continue
            for mname in sorted(n for n in dir(cls) if n.startswith("test")):
                if rule is not None and rule not in inspect.getsource(getattr(cls, mname)):
                    continue
                tid = f"{short}::{cname}::{mname}"
                marks = []
                if tid in SKIPPED:
                    marks.append(pytest.mark.skip(reason=SKIPPED[tid]))
                if tid in INTENDED_DIFFERENCES:
                    reason, raises = INTENDED_DIFFERENCES[tid]
                    marks.append(pytest.mark.xfail(reason=reason, raises=raises, strict=True))
                params.append(pytest.param(module, cls, mname, id=tid, marks=marks))
    return params


PARAMS = _collect()


def test_lists_name_real_tests() -> None:
    """Every skip or intended difference names a collected test (no stale entries)."""
    ids = {p.id for p in PARAMS}
    assert set(SKIPPED) <= ids and set(INTENDED_DIFFERENCES) <= ids


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
@pytest.mark.parametrize("module, cls, method", PARAMS)
def test_gensim_suite(recneg_for_gensim, module, cls, method) -> None:
    recneg_for_gensim(module)
    cls(method).debug()  # setUp, the test, tearDown; exceptions propagate to pytest as they are
