"""Word2Vec end to end: planted co-occurrence groups, persistence, errors."""
import numpy as np
import pytest

from recneg.models.word2vec import Word2Vec

N_GROUPS, PER_GROUP = 5, 8


@pytest.fixture
def torch_one_thread():
    """Tiny batched torch steps are overhead-bound; on a loaded 2-core box extra intra-op threads
    only spin (tests ran 50x slower), so torch-backend tests run single-threaded."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def planted_corpus(n_sent=300, length=15, seed=0):
    """Each sentence draws its words from one group; words of a group co-occur, others never do."""
    rng = np.random.default_rng(seed)
    sents = []
    for _ in range(n_sent):
        g = rng.integers(N_GROUPS)
        sents.append([f"g{g}w{i}" for i in rng.integers(0, PER_GROUP, length)])
    return sents


def group_recovery(model, topn=5):
    keys = model.vocab.index_to_key
    X = model.syn0 / np.linalg.norm(model.syn0, axis=1, keepdims=True)
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    grp = np.array([k.split("w")[0] for k in keys])
    top = np.argsort(-S, axis=1)[:, :topn]
    return float(np.mean(grp[top] == grp[:, None]))


@pytest.mark.parametrize(
    "kw",
    [dict(sg=1, shared_negatives=False), dict(sg=1, shared_negatives=True), dict(sg=0),
     dict(sg=1, device="cpu", workers=2), dict(sg=1, backend="torch", batch_size=256)],
    ids=["sg-pair", "sg-shared", "cbow", "sg-2workers", "torch-sg"],
)
def test_planted_groups_recovered(kw, torch_one_thread):
    kw = dict(kw)
    kw.setdefault("workers", 1)
    m = Word2Vec(planted_corpus(), vector_size=16, window=3, min_count=1, sample=0, negative=5, epochs=10,
                 seed=3, progress=False, alpha=0.05, **kw)
    assert len(m.vocab) == N_GROUPS * PER_GROUP
    assert group_recovery(m) >= 0.95


def test_torch_cbow_backend_trains(torch_one_thread):
    m = Word2Vec(planted_corpus(), vector_size=16, window=3, min_count=1, sample=0, sg=0, negative=5, epochs=10,
                 seed=3, progress=False, batch_size=64, alpha=0.05, backend="torch")
    assert group_recovery(m) >= 0.95


def test_callbacks_loss_decreases_and_reproducible():
    seen = []
    kw = dict(vector_size=16, window=3, min_count=1, sample=0, negative=5, epochs=6, seed=11, workers=1,
              progress=False)
    m = Word2Vec(planted_corpus(), callbacks=[lambda ep, loss: seen.append((ep, loss))], **kw)
    assert [e for e, _ in seen] == list(range(6))
    losses = [l for _, l in seen]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] * 0.8
    m2 = Word2Vec(planted_corpus(), **kw)
    assert np.array_equal(m.syn0, m2.syn0) and np.array_equal(m.syn1neg, m2.syn1neg)
    m3 = Word2Vec(planted_corpus(), **{**kw, "seed": 12})
    assert not np.array_equal(m.syn0, m3.syn0)


def test_subsampling_and_ns_exponent_paths_train():
    m = Word2Vec(planted_corpus(), vector_size=16, window=3, min_count=1, sample=1e-2, negative=5, epochs=10,
                 seed=3, workers=1, progress=False, alpha=0.05, ns_exponent=-0.5)
    assert group_recovery(m) >= 0.9


def test_corpus_file_and_build_vocab_then_train(tmp_path):
    sents = planted_corpus()
    p = tmp_path / "corpus.txt"
    p.write_text("\n".join(" ".join(s) for s in sents))
    a = Word2Vec(corpus_file=p, vector_size=8, min_count=1, epochs=2, workers=1, progress=False)
    b = Word2Vec(vector_size=8, min_count=1, epochs=2, workers=1, progress=False)
    b.build_vocab(sents)
    b.train()
    assert a.vocab.index_to_key == b.vocab.index_to_key
    assert np.array_equal(a.syn0, b.syn0)


def test_save_load_roundtrip(tmp_path):
    m = Word2Vec(planted_corpus(), vector_size=8, min_count=1, epochs=2, workers=1, progress=False,
                 compute_loss=True)
    p = tmp_path / "w2v.npz"
    m.save(p)
    assert [f.name for f in tmp_path.iterdir()] == ["w2v.npz"]  # no temp file left behind
    m2 = Word2Vec.load(p)
    assert m2.vocab.index_to_key == m.vocab.index_to_key
    assert np.array_equal(m2.vocab.counts, m.vocab.counts)
    assert np.array_equal(m2.syn0, m.syn0) and np.array_equal(m2.syn1neg, m.syn1neg)
    assert m2.vector_size == 8 and m2.min_count == 1 and m2.losses == m.losses
    m2.train(planted_corpus(seed=1), epochs=1)  # training continues with the loaded vocabulary
    with pytest.raises(ValueError, match="not a recneg Word2Vec"):
        np.savez(tmp_path / "other.npz", x=np.zeros(2))
        Word2Vec.load(tmp_path / "other.npz")


def test_wv_keyedvectors():
    kv_mod = pytest.importorskip("recneg.models.keyedvectors")
    m = Word2Vec(planted_corpus(), vector_size=16, window=3, min_count=1, sample=0, epochs=10, seed=3,
                 workers=1, progress=False, alpha=0.05)
    assert isinstance(m.wv, kv_mod.KeyedVectors)
    assert m.wv.vectors.shape == (N_GROUPS * PER_GROUP, 16)
    top = m.wv.most_similar("g2w0", topn=3)
    assert all(k.startswith("g2w") for k, _ in top)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(sentences=[]), "empty"),
        (dict(sentences=[["a", "b"], ["c"]], min_count=5), "min_count"),
        (dict(sentences=[["a"]], vector_size=0), "vector_size"),
        (dict(sentences=[["a"]], window=0), "window"),
        (dict(sentences=[["a"]], negative=-1), "negative"),
        (dict(sentences=[["a"]], alpha=0), "alpha"),
        (dict(sentences=[["a"]], sg=2), "sg"),
        (dict(sentences=[["a"]], epochs=0), "epochs"),
        (dict(sentences=[["a"]], backend="jax"), "backend"),
        (dict(sentences=[["a"]], device="cuda", backend="numba"), "CPU only"),
    ],
)
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        Word2Vec(progress=False, **kw)


def test_bad_types_and_untrained():
    with pytest.raises(TypeError, match="vector_size"):
        Word2Vec(vector_size=10.5)
    with pytest.raises(TypeError, match="token lists"):
        Word2Vec(sentences="just a string")
    with pytest.raises(ValueError, match="build_vocab"):
        Word2Vec().train()
