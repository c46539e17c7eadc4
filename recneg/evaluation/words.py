"""Word-vector evaluation: Google analogies (3CosAdd / 3CosMul) and word-pair similarity.

Both functions reproduce gensim's ``KeyedVectors.evaluate_word_analogies`` /
``evaluate_word_pairs`` semantics (same OOV rules, same case folding, same tie-breaking of
excluded candidates) but score the analogy questions in batches: one GEMM per chunk of
questions against the restricted vocabulary instead of one ``most_similar`` call each.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np
from scipy import stats

if TYPE_CHECKING:  # avoid importing models at runtime (evaluation must not need it)
    from recneg.models.keyedvectors import KeyedVectors

logger = logging.getLogger(__name__)

__all__ = ["AnalogySection", "AnalogyResult", "WordPairResult", "evaluate_analogies", "evaluate_word_pairs"]

PathLike = Union[str, "os.PathLike[str]"]

_CANDIDATES = 5  # gensim looks at the top-5 (after removing the 3 question words)


@dataclass
class AnalogySection:
    """Counts for one ``: section`` of the questions file (OOV questions are not counted)."""

    name: str
    correct: int = 0
    incorrect: int = 0
    oov: int = 0

    @property
    def total(self) -> int:
        return self.correct + self.incorrect

    @property
    def accuracy(self) -> float:
        """correct / evaluated, 0.0 when nothing was evaluated (as gensim)."""
        return self.correct / self.total if self.total else 0.0


@dataclass
class AnalogyResult:
    """Overall accuracy (fraction in [0, 1]), per-section counts and OOV statistics."""

    accuracy: float
    correct: int
    incorrect: int
    n_questions: int
    n_oov: int
    sections: list[AnalogySection] = field(default_factory=list)
    method: str = "3cosadd"

    @property
    def oov_ratio(self) -> float:
        """Fraction of well-formed questions skipped for OOV words (gensim logs it in percent)."""
        return self.n_oov / self.n_questions if self.n_questions else 0.0

    def section(self, name: str) -> AnalogySection:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(f"no section named {name!r}; have {[s.name for s in self.sections]}")


@dataclass
class WordPairResult:
    """Correlations between model cosines and human scores, with two-sided p-values."""

    pearson: float
    pearson_pvalue: float
    spearman: float
    spearman_pvalue: float
    n_pairs: int
    n_oov: int

    @property
    def oov_ratio(self) -> float:
        """Fraction of valid pairs skipped because a word is OOV (gensim returns it in percent)."""
        total = self.n_pairs + self.n_oov
        return self.n_oov / total if total else 0.0


def _check_kv(kv: object) -> None:
    if not (hasattr(kv, "vectors") and hasattr(kv, "index_to_key")):
        raise TypeError(f"kv must be a recneg KeyedVectors (with .vectors and .index_to_key), got {type(kv).__name__}")


def _restricted_vocab(kv: "KeyedVectors", restrict_vocab: int | None, case_insensitive: bool):
    """(R, ok_vocab: folded key -> first row < R, canon: int64 (R,) row -> ok_vocab row)."""
    n = len(kv.index_to_key)
    if restrict_vocab is None:
        limit = n
    else:
        if isinstance(restrict_vocab, bool) or not isinstance(restrict_vocab, (int, np.integer)):
            raise TypeError(f"restrict_vocab must be a positive int or None, got {restrict_vocab!r}")
        if restrict_vocab <= 0:
            raise ValueError(f"restrict_vocab must be >= 1 (or None for the whole vocabulary), got {restrict_vocab}")
        limit = int(min(restrict_vocab, n))
    fold = (lambda k: str(k).upper()) if case_insensitive else (lambda k: str(k))
    ok_vocab: dict[str, int] = {}
    canon = np.empty(limit, dtype=np.int64)
    for i in range(limit):
        key = fold(kv.index_to_key[i])
        canon[i] = ok_vocab.setdefault(key, i)  # first occurrence (most frequent) wins
    return limit, ok_vocab, canon


def _read_lines(path: PathLike) -> list[str]:
    fname = os.fspath(path)
    if not os.path.exists(fname):
        raise FileNotFoundError(f"evaluation file not found: {fname!r}")
    import gzip
    import zlib

    with open(fname, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(fname, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, zlib.error) as e:
        raise ValueError(f"evaluation file {fname} is corrupt or truncated ({e}); re-download it") from e
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{fname}: not valid UTF-8 ({e})") from None


def evaluate_analogies(
    kv: "KeyedVectors",
    path: PathLike,
    restrict_vocab: int | None = 30000,
    method: str = "3cosadd",
    case_insensitive: bool = True,
    chunk_size: int | None = None,
    device: str | None = None,
) -> AnalogyResult:
    """Accuracy on a Google ``questions-words.txt``-style file (``a b c d``: a is to b as c is to d).

    As gensim: a question counts only if all 4 words are among the first `restrict_vocab`
    keys (case-folded with ``upper()`` if `case_insensitive`; the first, i.e. most frequent,
    case variant wins); otherwise it is OOV and skipped.  The answer is the best-scoring key
    among the first `restrict_vocab` rows other than a, b, c (and their case variants);
    correct when it equals d.  `method` is ``"3cosadd"`` (most_similar) or ``"3cosmul"``.
    Scores for `chunk_size` questions are computed with one float32 torch GEMM per chunk,
    on `device` (default CPU).
    """
    _check_kv(kv)
    method = str(method).lower()
    if method not in ("3cosadd", "3cosmul"):
        raise ValueError(f"method must be '3cosadd' or '3cosmul', got {method!r}")
    fname = os.fspath(path)
    limit, ok_vocab, canon = _restricted_vocab(kv, restrict_vocab, case_insensitive)

    sections: list[AnalogySection] = []
    q_section: list[int] = []
    q_idx: list[tuple[int, int, int, int]] = []
    n_questions = 0
    n_oov = 0
    for line_no, line in enumerate(_read_lines(fname)):
        if line.startswith(": "):
            sections.append(AnalogySection(name=line.lstrip(": ").strip()))
            continue
        if not sections:
            raise ValueError(f"{fname}: line {line_no + 1}: question before the first ': section' header")
        words = line.split()
        if len(words) != 4:
            if line.strip():
                logger.info("skipping invalid line %d in %s", line_no + 1, fname)
            continue
        if case_insensitive:
            words = [w.upper() for w in words]
        n_questions += 1
        ids = [ok_vocab.get(w, -1) for w in words]
        if min(ids) < 0:
            n_oov += 1
            sections[-1].oov += 1
            continue
        q_section.append(len(sections) - 1)
        q_idx.append((ids[0], ids[1], ids[2], ids[3]))
    if n_questions == 0:
        raise ValueError(f"{fname}: no analogy questions found (expected ': section' headers and 'a b c d' lines)")

    if q_idx:
        q = np.asarray(q_idx, dtype=np.int64)
        correct = _solve(kv, q, limit, canon, method, chunk_size, device)
        sec = np.asarray(q_section, dtype=np.int64)
        n_sec = len(sections)
        n_ok = np.bincount(sec[correct], minlength=n_sec)
        n_all = np.bincount(sec, minlength=n_sec)
        for s, c, a in zip(sections, n_ok.tolist(), n_all.tolist()):
            s.correct, s.incorrect = c, a - c
    for s in sections:
        if s.total:
            logger.info("%s: %.1f%% (%d/%d)", s.name, 100.0 * s.accuracy, s.correct, s.total)
    tot_c = sum(s.correct for s in sections)
    tot_i = sum(s.incorrect for s in sections)
    acc = tot_c / (tot_c + tot_i) if tot_c + tot_i else 0.0
    res = AnalogyResult(
        accuracy=acc,
        correct=tot_c,
        incorrect=tot_i,
        n_questions=n_questions,
        n_oov=n_oov,
        sections=sections,
        method=method,
    )
    logger.info(
        "analogies (%s, restrict_vocab=%d): accuracy %.4f (%d/%d), OOV questions %d (%.1f%%)",
        method, limit, acc, tot_c, tot_c + tot_i, n_oov, 100.0 * res.oov_ratio,
    )
    return res


def _solve(
    kv: "KeyedVectors",
    q: np.ndarray,
    limit: int,
    canon: np.ndarray,
    method: str,
    chunk_size: int | None,
    device: str | None = None,
) -> np.ndarray:
    """bool (n_q,): whether the top valid candidate of each question equals its answer.

    q is int64 (n_q, 4) of rows (a, b, c, expected), all < limit.  Scores of a chunk of
    questions are one (chunk, limit) float32 GEMM (torch, any device); top-k via torch.topk."""
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    norms = kv.norms[:limit]
    safe = np.where(norms > 0, norms, np.float32(1.0)).astype(np.float32)
    vectors = torch.from_numpy(np.ascontiguousarray(kv.vectors[:limit])).to(dev)
    normed = torch.from_numpy(np.ascontiguousarray(kv.get_normed_vectors()[:limit])).to(dev)
    inv_norm = torch.from_numpy(safe).to(dev)
    canon_t = torch.from_numpy(canon).to(dev)
    if chunk_size is None:
        chunk_size = max(1, min(2048, (1 << 23) // max(limit, 1)))  # ~32 MB score block
    elif chunk_size <= 0:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    k = min(_CANDIDATES, limit)
    out = np.zeros(q.shape[0], dtype=bool)
    q_t = torch.from_numpy(q).to(dev)
    with torch.no_grad():
        for start in range(0, q.shape[0], chunk_size):
            qc = q_t[start : start + chunk_size]
            m = qc.shape[0]
            ua, ub, uc = normed[qc[:, 0]], normed[qc[:, 1]], normed[qc[:, 2]]
            if method == "3cosadd":
                # gensim: mean = (b + c - a) / 3 of unit vectors, re-normalised; cos = v.mean / |v|
                mean = ((ub + uc) - ua).double() / 3.0
                mean = (mean / mean.norm(dim=1, keepdim=True).clamp_min(1e-300)).float()
                scores = (mean @ vectors.T) / inv_norm[None, :]
            else:
                sa = (1.0 + ua @ normed.T) / 2.0
                sb = (1.0 + ub @ normed.T) / 2.0
                sc = (1.0 + uc @ normed.T) / 2.0
                scores = sb * sc / (sa + 1e-6)
            rows = torch.arange(m, device=dev)
            for j in range(3):  # the question words themselves are never answers
                scores[rows, qc[:, j]] = -torch.inf
            cand_score, cand = torch.topk(scores, k, dim=1, largest=True, sorted=True)
            avail = cand_score != -torch.inf
            cc = canon_t[cand]
            qa, qb, qcc = canon_t[qc[:, 0:1]], canon_t[qc[:, 1:2]], canon_t[qc[:, 2:3]]
            valid = avail & (cc != qa) & (cc != qb) & (cc != qcc)
            has_valid = valid.any(dim=1)
            first = torch.argmax(valid.to(torch.int8), dim=1)
            # gensim: with no valid candidate the prediction is the last candidate looked at
            n_avail = avail.sum(dim=1)
            pos = torch.where(has_valid, first, (n_avail - 1).clamp_min(0))
            pred = cc[rows, pos]
            ok = (pred == canon_t[qc[:, 3]]) & (n_avail > 0)
            out[start : start + m] = ok.cpu().numpy()
    return out


def evaluate_word_pairs(
    kv: "KeyedVectors",
    path: PathLike,
    delimiter: str = "\t",
    restrict_vocab: int | None = 300000,
    case_insensitive: bool = True,
) -> WordPairResult:
    """Pearson and Spearman correlation of model cosines with human scores (WordSim-353 format:
    ``word1<delim>word2<delim>score``; ``#`` lines are comments).  Pairs with a word outside
    the first `restrict_vocab` keys are skipped and counted in ``n_oov`` (gensim's default)."""
    _check_kv(kv)
    fname = os.fspath(path)
    if not isinstance(delimiter, str) or not delimiter:
        raise ValueError(f"delimiter must be a non-empty str, got {delimiter!r}")
    _, ok_vocab, _ = _restricted_vocab(kv, restrict_vocab, case_insensitive)
    gold: list[float] = []
    ia: list[int] = []
    ib: list[int] = []
    n_oov = 0
    for line_no, line in enumerate(_read_lines(fname)):
        if not line or line.startswith("#"):
            continue
        parts = line.split(delimiter)
        if len(parts) != 3:
            logger.info("skipping invalid line %d in %s", line_no + 1, fname)
            continue
        a, b, s = parts
        try:
            sim = float(s)
        except ValueError:
            logger.info("skipping invalid line %d in %s", line_no + 1, fname)
            continue
        if case_insensitive:
            a, b = a.upper(), b.upper()
        if a not in ok_vocab or b not in ok_vocab:
            n_oov += 1
            continue
        gold.append(sim)
        ia.append(ok_vocab[a])
        ib.append(ok_vocab[b])
    if not gold:
        raise ValueError(
            f"{fname}: no usable word pairs (wrong delimiter {delimiter!r}, or all {n_oov} pairs out of vocabulary)"
        )
    normed = kv.get_normed_vectors()
    model = np.einsum("ij,ij->i", normed[ia], normed[ib]).astype(np.float64)
    g = np.asarray(gold, dtype=np.float64)
    pr = stats.pearsonr(g, model)
    sr = stats.spearmanr(g, model)
    res = WordPairResult(
        pearson=float(pr[0]),
        pearson_pvalue=float(pr[1]),
        spearman=float(sr[0]),
        spearman_pvalue=float(sr[1]),
        n_pairs=len(gold),
        n_oov=n_oov,
    )
    logger.info(
        "word pairs %s: pearson %.4f spearman %.4f, OOV pairs %d (%.1f%%)",
        fname, res.pearson, res.spearman, n_oov, 100 * res.oov_ratio,
    )
    return res
