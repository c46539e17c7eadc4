"""Reader for the Last.fm (HetRec 2011) split of LightGCN-PyTorch: ``data1.txt`` / ``test1.txt``.

One interaction per line, ``user<TAB>artist<TAB>plays``, Windows or Unix line endings, 1-based ids with
gaps, the play count an integer or in float notation (``3.2466e+05``). This is not the one-line-per-user
format of :func:`recneg.datasets.load_lightgcn`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..data import Interactions

logger = logging.getLogger(__name__)

__all__ = ["load_lastfm", "read_lastfm_file"]


def read_lastfm_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse one file into (users int64, artists int64, plays float64) arrays of the original ids.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file and the line, for a line without three tab-separated fields, a
            non-integer or negative id, or a play count that is not a finite number >= 0; or an empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Last.fm file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a Last.fm text file (not UTF-8 at byte {e.start})") from None
    lines = text.splitlines()
    rows = [(n, line.split("\t")) for n, line in enumerate(lines, 1) if line.strip()]
    if not rows:
        raise ValueError(f"{path} is empty: expected lines of 'user<TAB>artist<TAB>plays'")
    for n, f in rows:
        if len(f) != 3:
            raise ValueError(f"{path}, line {n}: expected 3 tab-separated fields 'user<TAB>artist<TAB>plays', "
                             f"got {len(f)}: {lines[n - 1][:80]!r}")
    try:
        users = np.array([f[0] for _, f in rows], dtype=np.int64)
        items = np.array([f[1] for _, f in rows], dtype=np.int64)
        plays = np.array([f[2] for _, f in rows], dtype=np.float64)
    except ValueError:
        for n, f in rows:
            for what, tok, kind in (("user id", f[0], int), ("artist id", f[1], int), ("play count", f[2], float)):
                try:
                    kind(tok)
                except ValueError:
                    raise ValueError(f"{path}, line {n}: {what} {tok.strip()!r} is not "
                                     f"{'an integer' if kind is int else 'a number'}") from None
        raise
    checks = (("user id", users >= 0, "a non-negative integer"), ("artist id", items >= 0, "a non-negative integer"),
              ("play count", np.isfinite(plays) & (plays >= 0), "a finite number >= 0"))
    for field, (what, ok, need) in enumerate(checks):
        if not ok.all():
            n, f = rows[int(np.flatnonzero(~ok)[0])]
            raise ValueError(f"{path}, line {n}: {what} {f[field].strip()!r} is not {need}")
    return users, items, plays


def load_lastfm(path: str | os.PathLike, train_file: str = "data1.txt",
                test_file: str = "test1.txt") -> tuple[Interactions, Interactions]:
    """Read the Last.fm folder into (train, test) Interactions sharing one index space.

    Values are the play counts (float32; a pair listed twice in a file has its counts summed, a pair with 0 plays
    is dropped); binarise with
    ``Interactions.from_sparse(train.csr, binarize=True)`` or let a model ignore them (every MF loss does, but
    ``WeightedSquared(alpha=...)``). ``user_ids`` / ``item_ids`` keep the original (1-based) ids, sorted; the index
    space is the union of both files, so the test's cold users and artists have indices without training
    interactions (the evaluator skips cold users).

    Args:
        path: the folder holding ``train_file`` and ``test_file`` (e.g. ``shared/data/lightgcn/lastfm``).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"path={str(path)!r} is not a folder with {train_file} and {test_file}")
    tu, ti, tp = read_lastfm_file(folder / train_file)
    su, si, sp_ = read_lastfm_file(folder / test_file)
    user_ids, items_ids = np.union1d(tu, su), np.union1d(ti, si)

    def build(u: np.ndarray, i: np.ndarray, p: np.ndarray) -> Interactions:
        return Interactions.from_arrays(np.searchsorted(user_ids, u), np.searchsorted(items_ids, i), p,
                                        n_users=user_ids.size, n_items=items_ids.size, user_ids=user_ids,
                                        item_ids=items_ids)

    train, test = build(tu, ti, tp), build(su, si, sp_)
    logger.info("Last.fm: train %r, test %r", train, test)
    return train, test
