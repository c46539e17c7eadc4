"""Data-parallel skip-gram (torch backend) over 2 gloo ranks: planted clusters, identical vectors."""
from __future__ import annotations

import numpy as np

from dist_helpers import run_ranks, value_errors
from helpers import cluster_purity
from recneg.datasets import make_synthetic
from recneg.engine.skipgram import _shard_sentences
from recneg.models.item2vec import Item2Vec


def _synth():
    return make_synthetic(n_users=600, n_items=120, n_clusters=6, interactions_per_user=12, noise=0.0, seed=0)


def _model(**kw):
    args = dict(vector_size=16, epochs=5, workers=1, progress=False, seed=2, alpha=0.05 if kw.get("sg", 1) else 0.025,
                sample=0, context="set", backend="torch", batch_size=1024)
    return Item2Vec(**{**args, **kw})


def _train(rank):
    synth = _synth()
    out = []
    for sg in (1, 0):
        m = _model(sg=sg)
        m.fit(synth.interactions)
        out.append((m.syn0, m.syn1neg, cluster_purity(m, synth.item_cluster)))
    return out


def test_two_ranks_recover_planted_clusters_with_identical_vectors():
    r0, r1 = run_ranks(_train, 2)
    for sg, (s0a, s1a, pa), (s0b, s1b, pb) in zip((1, 0), r0, r1):  # skip-gram, then CBOW
        assert np.array_equal(s0a, s0b) and np.array_equal(s1a, s1b)  # synchronous updates: bit-identical
        assert pa == pb and pa >= 0.9, (sg, pa)
        single = _model(sg=sg)
        single.fit(_synth().interactions)
        assert not np.array_equal(single.syn0, s0a)  # the ranks really trained on shards, not the whole corpus


def _mismatch(rank):
    synth = _synth()
    m = _model(sg=1, epochs=1) if rank == 0 else _model(sg=1, epochs=2)
    return value_errors(lambda: m.fit(synth.interactions))[0]


def test_ranks_with_different_settings_fail_clearly():
    for msg in run_ranks(_mismatch, 2):
        assert msg is not None and "disagree on ['epochs']" in msg


def test_shard_sentences_partitions_the_corpus():
    offsets = np.array([0, 3, 3, 7, 8, 12], dtype=np.int64)
    tokens = np.arange(12, dtype=np.int32) * 10
    users = np.array([5, 6, 7, 8, 9])
    parts = [_shard_sentences(tokens, offsets, users, r, 2) for r in range(2)]
    assert parts[0][0].tolist() == [0, 10, 20, 30, 40, 50, 60, 80, 90, 100, 110]
    assert parts[0][1].tolist() == [0, 3, 7, 11] and parts[0][2].tolist() == [5, 7, 9]
    assert parts[1][0].tolist() == [70] and parts[1][1].tolist() == [0, 0, 1] and parts[1][2].tolist() == [6, 8]
