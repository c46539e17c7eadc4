"""Reader for LightGCN/NGCF-format files: one line per user, ``user item item ...``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .interactions import Interactions


def read_lightgcn_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Parse one file into (users, items) int64 arrays of 0-based indices.

    Lines are ``user item item ...`` separated by whitespace; a user with no items
    may appear alone on a line. Raises ValueError naming the file and line on
    non-integer or negative tokens.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LightGCN file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a LightGCN text file (non-ASCII byte at offset {e.start})") from e
    lines = text.split("\n")
    counts = np.empty(len(lines), dtype=np.int64)
    toks: list[str] = []
    for n, line in enumerate(lines):
        parts = line.split()
        counts[n] = len(parts)
        toks.extend(parts)
    if not toks:
        raise ValueError(f"{path} is empty: expected lines of 'user item item ...'")
    try:
        vals = np.array(toks, dtype=np.int64)
    except ValueError:
        for n, line in enumerate(lines):
            for t in line.split():
                if not t.lstrip("-").isdigit():
                    raise ValueError(f"{path}, line {n + 1}: token {t!r} is not an integer id") from None
        raise
    if (vals < 0).any():
        raise ValueError(f"{path} has negative ids; LightGCN ids are 0-based non-negative integers")
    nonempty = counts > 0
    counts = counts[nonempty]
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    users = vals[starts]
    is_item = np.ones(vals.size, dtype=bool)
    is_item[starts] = False
    items = vals[is_item]
    return np.repeat(users, counts - 1), items


def read_lightgcn(path: str | os.PathLike) -> tuple[Interactions, Interactions]:
    """Read ``train.txt`` and ``test.txt`` from a folder into one shared index space.

    Ids in the files are already 0-based and contiguous, so index == id. The
    number of users/items is the max id over both files + 1.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"path={str(path)!r} is not a folder with train.txt and test.txt")
    tu, ti = read_lightgcn_file(folder / "train.txt")
    su, si = read_lightgcn_file(folder / "test.txt") if (folder / "test.txt").exists() else (tu[:0], ti[:0])
    n_users = int(max(tu.max(), su.max() if su.size else 0)) + 1
    n_items = int(max(ti.max(), si.max() if si.size else 0)) + 1
    train = Interactions.from_arrays(tu, ti, n_users=n_users, n_items=n_items, binarize=True)
    if su.size:
        test = Interactions.from_arrays(su, si, n_users=n_users, n_items=n_items, binarize=True)
    else:
        import scipy.sparse as sp

        test = Interactions(sp.csr_matrix((n_users, n_items), dtype=np.float32))
    return train, test
