"""Word-vector evaluation (analogies, word pairs) against hand results and gensim."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from recneg.evaluation.words import AnalogyResult, evaluate_analogies, evaluate_word_pairs
from recneg.models.keyedvectors import KeyedVectors

# gensim 4.4 calls its own deprecated init_sims() inside most_similar_cosmul
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"


def _angles_kv(spec: list[tuple[str, float, float]]) -> KeyedVectors:
    vecs = np.array([[r * math.cos(math.radians(a)), r * math.sin(math.radians(a))] for _, a, r in spec], np.float32)
    return KeyedVectors(vecs, [k for k, _, _ in spec])


@pytest.fixture
def angle_kv() -> KeyedVectors:
    # query b + c - a (unit vectors) points at 75 degrees; "C" (74) and "D" (77) are case variants
    return _angles_kv(
        [("a", 0, 1.0), ("b", 30, 2.0), ("c", 60, 0.7), ("d", 80, 1.3), ("e", 120, 1.0), ("f", 200, 3.0),
         ("D", 77, 1.0), ("C", 74, 2.0)]
    )


QUESTIONS = """: one
a b c d
a b c e
A B C D
a b c D
: two
a b c zzz
an invalid line
b a c
: empty-section
"""


def _gensim_kv(kv: KeyedVectors):
    gensim = pytest.importorskip("gensim")
    g = gensim.models.KeyedVectors(kv.vector_size)
    g.add_vectors(list(kv.index_to_key), kv.vectors.copy())
    return g


def _assert_matches_gensim(res: AnalogyResult, gensim_out) -> None:
    score, sections = gensim_out
    assert [s.name for s in res.sections] == [s["section"] for s in sections[:-1]]
    for ours, theirs in zip(res.sections, sections[:-1]):
        assert (ours.correct, ours.incorrect) == (len(theirs["correct"]), len(theirs["incorrect"])), ours.name
    assert res.correct == len(sections[-1]["correct"]) and res.incorrect == len(sections[-1]["incorrect"])
    assert abs(res.accuracy - score) < 1e-12


def _gensim_cosmul_reference(g, path: Path, restrict_vocab: int, case_insensitive: bool) -> dict[str, tuple[int, int]]:
    """gensim's evaluate_word_analogies loop, but with most_similar_cosmul (gensim has no switch)."""
    gensim = pytest.importorskip("gensim")
    sub = gensim.models.KeyedVectors(g.vector_size)
    keys = g.index_to_key[:restrict_vocab]
    sub.add_vectors(keys, g.vectors[: len(keys)].copy())
    fold = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
    ok_vocab = {fold(k): i for i, k in reversed(list(enumerate(keys)))}
    out: dict[str, list[int]] = {}
    name = None
    for line in path.read_text().splitlines():
        if line.startswith(": "):
            name = line.lstrip(": ").strip()
            out[name] = [0, 0]
            continue
        words = line.split()
        if len(words) != 4:
            continue
        a, b, c, expected = [fold(w) for w in words]
        if any(w not in ok_vocab for w in (a, b, c, expected)):
            continue
        original = sub.key_to_index
        sub.key_to_index = ok_vocab
        sims = sub.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
        sub.key_to_index = original
        predicted = None
        for key, _ in sims:
            predicted = fold(key)
            if predicted in ok_vocab and predicted not in {a, b, c}:
                break
        out[name][0 if predicted == expected else 1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


# ------------------------------------------------------------ analogies
def test_analogies_exact_tiny(tmp_path, angle_kv: KeyedVectors) -> None:
    p = tmp_path / "q.txt"
    p.write_text(QUESTIONS)
    res = evaluate_analogies(angle_kv, p)
    # "C" (74 deg) is a case variant of the question word c -> skipped; "D" (77) folds to d -> correct
    one, two, empty = res.sections
    assert (one.name, one.correct, one.incorrect, one.oov) == ("one", 3, 1, 0)
    assert (two.name, two.correct, two.incorrect, two.oov) == ("two", 0, 0, 1)
    assert (empty.correct, empty.incorrect) == (0, 0) and empty.accuracy == 0.0
    assert res.n_questions == 5 and res.n_oov == 1 and res.oov_ratio == pytest.approx(0.2)
    assert res.accuracy == pytest.approx(3 / 4) and res.section("one").accuracy == pytest.approx(0.75)

    cs = evaluate_analogies(angle_kv, p, case_insensitive=False)
    # case-sensitive: "C" is a different word and wins; "A B C D" is OOV (no "A", "B")
    assert (cs.sections[0].correct, cs.sections[0].incorrect, cs.sections[0].oov) == (0, 3, 1)
    # restrict to the first 6 keys: "C" and "D" are out of the candidates, "d" wins
    r6 = evaluate_analogies(angle_kv, p, restrict_vocab=6, case_insensitive=False)
    assert (r6.sections[0].correct, r6.sections[0].incorrect, r6.sections[0].oov) == (1, 1, 2)


def test_analogies_tiny_match_gensim(tmp_path, angle_kv: KeyedVectors) -> None:
    g = _gensim_kv(angle_kv)
    p = tmp_path / "q.txt"
    p.write_text(QUESTIONS)
    for ci in (True, False):
        for r in (8, 6):
            res = evaluate_analogies(angle_kv, p, restrict_vocab=r, case_insensitive=ci)
            _assert_matches_gensim(res, g.evaluate_word_analogies(str(p), restrict_vocab=r, case_insensitive=ci))


def _random_questions(rng: np.random.Generator, vocab: list[str], n_sections: int, per_section: int) -> str:
    """Half "w2j w2j+1 w2k w2k+1" offset questions (often solvable), half random 4-tuples."""
    lines = []
    pool = vocab + ["oov1", "oov2", "OOV3"]
    n_pairs = 180
    for s in range(n_sections):
        lines.append(f": section-{s}")
        for _ in range(per_section):
            if rng.random() < 0.5:
                j, k = rng.choice(n_pairs, 2, replace=False)
                w = [f"w{2 * j}", f"w{2 * j + 1}", f"w{2 * k}", f"w{2 * k + 1}"]
            else:
                w = [pool[i] for i in rng.choice(len(pool), 4, replace=False)]
            if rng.random() < 0.5:
                w = [x.upper() if rng.random() < 0.3 else x for x in w]
            lines.append(" ".join(w))
        lines.append("an invalid line")
    return "\n".join(lines) + "\n"


@pytest.fixture
def random_setup(tmp_path):
    """360 words in 180 (w2j, w2j+1 = w2j + offset) pairs, plus 40 upper-case near-duplicates."""
    rng = np.random.default_rng(11)
    d = 12
    base = rng.standard_normal((180, d)).astype(np.float32)
    offset = 1.5 * rng.standard_normal(d).astype(np.float32)
    words = np.empty((360, d), np.float32)
    words[0::2] = base
    words[1::2] = base + offset + 0.3 * rng.standard_normal((180, d)).astype(np.float32)
    upper_src = np.arange(1, 80, 2)
    upper = words[upper_src] + 0.2 * rng.standard_normal((40, d)).astype(np.float32)
    keys = [f"w{i}" for i in range(360)] + [f"W{i}" for i in upper_src]
    kv = KeyedVectors(np.vstack([words, upper]), keys)
    p = tmp_path / "questions.txt"
    p.write_text(_random_questions(rng, keys, 4, 150))
    return kv, p


@pytest.mark.parametrize("case_insensitive", [True, False])
@pytest.mark.parametrize("restrict", [400, 250])
def test_analogies_3cosadd_match_gensim_random(random_setup, case_insensitive: bool, restrict: int) -> None:
    kv, p = random_setup
    g = _gensim_kv(kv)
    res = evaluate_analogies(kv, p, restrict_vocab=restrict, case_insensitive=case_insensitive, chunk_size=64)
    ref = g.evaluate_word_analogies(str(p), restrict_vocab=restrict, case_insensitive=case_insensitive)
    _assert_matches_gensim(res, ref)
    assert res.correct > 50  # the offset questions are often solvable
    # the chunk size does not change the result
    res2 = evaluate_analogies(kv, p, restrict_vocab=restrict, case_insensitive=case_insensitive, chunk_size=1000)
    assert [(s.correct, s.incorrect) for s in res2.sections] == [(s.correct, s.incorrect) for s in res.sections]


@pytest.mark.parametrize("case_insensitive", [True, False])
def test_analogies_3cosmul_match_gensim_random(random_setup, case_insensitive: bool) -> None:
    kv, p = random_setup
    g = _gensim_kv(kv)
    res = evaluate_analogies(kv, p, restrict_vocab=250, method="3cosmul", case_insensitive=case_insensitive)
    ref = _gensim_cosmul_reference(g, p, 250, case_insensitive)
    assert {s.name: (s.correct, s.incorrect) for s in res.sections} == ref
    add = evaluate_analogies(kv, p, restrict_vocab=250, method="3cosadd", case_insensitive=case_insensitive)
    assert res.n_oov == add.n_oov and res.correct + res.incorrect == add.correct + add.incorrect


def test_analogies_3cosmul_tiny(tmp_path, angle_kv: KeyedVectors) -> None:
    p = tmp_path / "q.txt"
    p.write_text(": s\na b c d\na b c f\n")
    # cosmul's best for (a, b, c) is f at 200 deg: cos(f, a) ~ -0.94 makes the denominator tiny
    kv = _angles_kv([("a", 0, 1), ("b", 30, 1), ("c", 60, 1), ("d", 75, 1), ("f", 200, 1)])
    assert kv.most_similar_cosmul(["b", "c"], ["a"], topn=1)[0][0] == "d"  # 3cosmul still picks d here
    res = evaluate_analogies(kv, p, method="3cosmul")
    assert (res.correct, res.incorrect) == (1, 1)
    kv2 = _angles_kv([("a", 0, 1), ("b", 30, 1), ("c", 60, 1), ("d", 120, 1), ("f", 180, 1)])
    # s(f)= s(150) s(120) / (s(180) + 1e-6) = 0.067 * 0.25 / 1e-6  >>  s(d) = s(90) s(60) / (s(120) + 1e-6)
    res2 = evaluate_analogies(kv2, p, method="3cosmul")
    assert (res2.correct, res2.incorrect) == (1, 1) and res2.sections[0].correct == 1
    assert evaluate_analogies(kv2, p, method="3cosadd").correct == 1  # 3cosadd (75 deg) picks d


def test_analogies_delegation_and_gz(tmp_path, angle_kv: KeyedVectors) -> None:
    p = tmp_path / "q.txt.gz"
    p.write_bytes(gzip.compress(QUESTIONS.encode()))
    a = angle_kv.evaluate_word_analogies(p, method="3cosadd")
    b = evaluate_analogies(angle_kv, p)
    assert (a.correct, a.incorrect, a.n_oov) == (b.correct, b.incorrect, b.n_oov) == (3, 1, 1)


def test_analogies_bad_inputs(tmp_path, angle_kv: KeyedVectors) -> None:
    p = tmp_path / "q.txt"
    p.write_text(QUESTIONS)
    with pytest.raises(ValueError, match="method"):
        evaluate_analogies(angle_kv, p, method="cos")
    with pytest.raises(ValueError, match="restrict_vocab"):
        evaluate_analogies(angle_kv, p, restrict_vocab=0)
    with pytest.raises(TypeError, match="KeyedVectors"):
        evaluate_analogies(np.zeros((3, 3)), p)
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c d\n: s\n")
    with pytest.raises(ValueError, match=r"bad.txt: line 1: question before the first"):
        evaluate_analogies(angle_kv, bad)
    empty = tmp_path / "empty.txt"
    empty.write_text(": s\n\n")
    with pytest.raises(ValueError, match="no analogy questions"):
        evaluate_analogies(angle_kv, empty)
    with pytest.raises(FileNotFoundError):
        evaluate_analogies(angle_kv, tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate_analogies(angle_kv, p, chunk_size=0)


# ----------------------------------------------------------- word pairs
PAIRS = """# comment line
# Word 1\tWord 2\tHuman (mean)
a\tb\t9.0
A\tc\t7.5
b\te\t3.0
d\tf\t1.0
a\tzzz\t5.0
not a valid line
x\ty\tnotanumber
c\td\t6.0
"""


def test_word_pairs_exact_tiny(tmp_path, angle_kv: KeyedVectors) -> None:
    p = tmp_path / "ws.tsv"
    p.write_text(PAIRS)
    res = evaluate_word_pairs(angle_kv, p)
    cos = lambda deg: math.cos(math.radians(deg))  # noqa: E731
    model = [cos(30), cos(60), cos(90), cos(120), cos(20)]
    gold = [9.0, 7.5, 3.0, 1.0, 6.0]
    assert res.n_pairs == 5 and res.n_oov == 1 and res.oov_ratio == pytest.approx(1 / 6)
    assert res.pearson == pytest.approx(stats.pearsonr(gold, model)[0], abs=1e-6)
    assert res.spearman == pytest.approx(stats.spearmanr(gold, model)[0], abs=1e-12)
    assert res.spearman == pytest.approx(0.7)  # ranks: gold 5,4,2,1,3 vs model 4,3,2,1,5
    cs = evaluate_word_pairs(angle_kv, p, case_insensitive=False)
    assert cs.n_pairs == 4 and cs.n_oov == 2
    limited = evaluate_word_pairs(angle_kv, p, restrict_vocab=4)  # e, f out
    assert limited.n_pairs == 3 and limited.n_oov == 3
    via_kv = angle_kv.evaluate_word_pairs(p)
    assert via_kv.pearson == res.pearson and via_kv.n_oov == res.n_oov


def test_word_pairs_match_gensim(tmp_path, angle_kv: KeyedVectors) -> None:
    g = _gensim_kv(angle_kv)
    p = tmp_path / "ws.tsv"
    p.write_text(PAIRS)
    for ci in (True, False):
        res = evaluate_word_pairs(angle_kv, p, case_insensitive=ci)
        pearson, spearman, oov = g.evaluate_word_pairs(str(p), case_insensitive=ci)
        assert abs(res.pearson - pearson[0]) < 1e-6 and abs(res.spearman - spearman[0]) < 1e-6
        assert abs(100 * res.oov_ratio - oov) < 1e-9


def test_word_pairs_bad_inputs(tmp_path, angle_kv: KeyedVectors) -> None:
    p = tmp_path / "ws.tsv"
    p.write_text(PAIRS)
    with pytest.raises(ValueError, match="no usable word pairs"):
        evaluate_word_pairs(angle_kv, p, delimiter=",")
    with pytest.raises(ValueError, match="delimiter"):
        evaluate_word_pairs(angle_kv, p, delimiter="")
    with pytest.raises(FileNotFoundError):
        evaluate_word_pairs(angle_kv, tmp_path / "missing.tsv")


# ------------------------------------------------------- real data (slow)
@pytest.fixture(scope="module")
def trained_gensim():
    gensim = pytest.importorskip("gensim")
    corpus = DATA / "en_composite_text8style.txt.gz"
    if not corpus.exists():
        pytest.skip(f"shared data not found: {corpus}")
    with gzip.open(corpus, "rt", encoding="utf-8") as f:
        words = f.read(6_000_000).split()[:1_000_000]
    sentences = [words[i : i + 1000] for i in range(0, len(words), 1000)]
    model = gensim.models.Word2Vec(sentences, vector_size=64, window=5, min_count=5, workers=1, seed=7, epochs=3)
    return model.wv


@pytest.mark.slow
def test_real_analogies_match_gensim(trained_gensim) -> None:
    g = trained_gensim
    kv = KeyedVectors(g.vectors.copy(), list(g.index_to_key))
    q = DATA / "questions-words.txt"
    for restrict in (30000, 5000):
        res = kv.evaluate_word_analogies(q, restrict_vocab=restrict)
        _assert_matches_gensim(res, g.evaluate_word_analogies(str(q), restrict_vocab=restrict))
        assert res.n_questions == 19544 and 0 < res.oov_ratio < 1
    assert res.correct > 0


@pytest.mark.slow
def test_real_3cosmul_matches_gensim_loop(trained_gensim) -> None:
    g = trained_gensim
    kv = KeyedVectors(g.vectors.copy(), list(g.index_to_key))
    q = DATA / "questions-words.txt"
    res = evaluate_analogies(kv, q, restrict_vocab=3000, method="3cosmul")
    ref = _gensim_cosmul_reference(g, q, 3000, True)
    assert {s.name: (s.correct, s.incorrect) for s in res.sections} == ref


@pytest.mark.slow
def test_real_word_pairs_match_gensim(trained_gensim) -> None:
    g = trained_gensim
    kv = KeyedVectors(g.vectors.copy(), list(g.index_to_key))
    ws = DATA / "wordsim353.tsv"
    res = evaluate_word_pairs(kv, ws)
    pearson, spearman, oov = g.evaluate_word_pairs(str(ws))
    assert abs(res.pearson - pearson[0]) < 1e-6
    assert abs(res.spearman - spearman[0]) < 1e-6
    assert abs(100 * res.oov_ratio - oov) < 1e-9
    assert res.n_pairs + res.n_oov == 353


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_analogies_cuda_matches_cpu(random_setup) -> None:
    kv, p = random_setup
    for method in ("3cosadd", "3cosmul"):
        cpu = evaluate_analogies(kv, p, method=method, device="cpu")
        gpu = evaluate_analogies(kv, p, method=method, device="cuda")
        assert [(s.correct, s.incorrect) for s in gpu.sections] == [(s.correct, s.incorrect) for s in cpu.sections]
