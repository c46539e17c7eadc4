"""Vocabulary building and corpus encoding."""
import gzip

import numpy as np
import pytest

from recneg.engine.vocab import Vocab, build_vocab, encode_corpus, encode_sequences

SENTS = [["a", "b", "a", "c"], ["b", "a"], ["d"], ["a", "c", "e", "c"]]


def _decode(vocab, corpus):
    return [[vocab.index_to_key[t] for t in corpus.tokens[corpus.offsets[i]:corpus.offsets[i + 1]]]
            for i in range(corpus.n_sentences)]


def test_build_vocab_counts_order_and_offsets():
    v, c = build_vocab(SENTS, min_count=1)
    assert v.index_to_key[:3] == ["a", "c", "b"]  # a:4, c:3, b:2, then d, e (ties by first appearance)
    assert v.index_to_key[3:] == ["d", "e"]
    assert v.counts.tolist() == [4, 3, 2, 1, 1]
    assert c.tokens.dtype == np.int32 and c.offsets.dtype == np.int64
    assert _decode(v, c) == SENTS
    assert c.raw_words == 11


def test_min_count_and_max_vocab_drop_tokens_and_empty_sentences():
    v, c = build_vocab(SENTS, min_count=2)
    assert v.index_to_key == ["a", "c", "b"]
    assert _decode(v, c) == [["a", "b", "a", "c"], ["b", "a"], ["a", "c", "c"]]
    v, c = build_vocab(SENTS, min_count=1, max_vocab=2)
    assert v.index_to_key == ["a", "c"]
    assert _decode(v, c) == [["a", "a", "c"], ["a"], ["a", "c", "c"]]


def test_long_sentences_are_split():
    s = [[str(i % 3) for i in range(25)]]
    v, c = build_vocab(s, min_count=1, max_sentence_length=10)
    assert np.diff(c.offsets).tolist() == [10, 10, 5]


def test_corpus_file_matches_iterable(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("\n".join(" ".join(s) for s in SENTS) + "\n")
    v1, c1 = build_vocab(SENTS, min_count=1)
    v2, c2 = build_vocab(corpus_file=p, min_count=1)
    assert v1.index_to_key == v2.index_to_key
    assert np.array_equal(c1.tokens, c2.tokens) and np.array_equal(c1.offsets, c2.offsets)
    g = tmp_path / "c.txt.gz"
    with gzip.open(g, "wt") as fh:
        fh.write(p.read_text())
    v3, c3 = build_vocab(corpus_file=g, min_count=1)
    assert np.array_equal(c1.tokens, c3.tokens)


def test_text8_style_single_line(tmp_path, monkeypatch):
    import recneg.engine.vocab as V

    words = [f"w{i % 7}" for i in range(5000)]
    p = tmp_path / "t8"
    p.write_text(" " + " ".join(words))  # text8 starts with a space, no newline
    monkeypatch.setattr(V, "_READ_BYTES", 97)  # force many reads that cut inside words
    v, c = build_vocab(corpus_file=p, min_count=1, max_sentence_length=1000)
    assert np.diff(c.offsets).tolist() == [1000] * 5
    assert [v.index_to_key[t] for t in c.tokens] == words


def test_encode_corpus_with_existing_vocab():
    v, _ = build_vocab(SENTS, min_count=2)
    c = encode_corpus(v, [["a", "zzz", "b"], ["zzz"], ["c"]])
    assert _decode(v, c) == [["a", "b"], ["c"]]
    with pytest.raises(ValueError, match="vocabulary"):
        encode_corpus(v, [["zzz"]])


def test_keep_probs_formula():
    v = Vocab(index_to_key=["x", "y"], counts=np.array([900, 100]))
    kp = v.keep_probs(1e-2)
    f = np.array([0.9, 0.1])
    expected = np.minimum(np.sqrt(1e-2 / f) + 1e-2 / f, 1)
    np.testing.assert_allclose(kp, expected, rtol=1e-6)
    assert np.all(v.keep_probs(0) == 1)


def test_vocab_errors():
    with pytest.raises(ValueError, match="empty"):
        build_vocab([[], []], min_count=1)
    with pytest.raises(ValueError, match="min_count"):
        build_vocab(SENTS, min_count=10)
    with pytest.raises(ValueError, match="min_count"):
        build_vocab(SENTS, min_count=0)
    with pytest.raises(TypeError, match="token lists"):
        build_vocab("a b c")
    with pytest.raises(TypeError, match="token lists"):
        build_vocab(["a b", "c"])
    with pytest.raises(ValueError, match="exactly one"):
        build_vocab(None)
    with pytest.raises(ValueError, match="does not exist"):
        build_vocab(corpus_file="/nonexistent/file.txt")


def test_encode_sequences():
    c = encode_sequences([np.array([2, 0]), np.array([1, 1, 3])], n_items=4)
    assert c.tokens.tolist() == [2, 0, 1, 1, 3] and c.offsets.tolist() == [0, 2, 5]
    with pytest.raises(ValueError, match="item indices"):
        encode_sequences([np.array([4])], n_items=4)
