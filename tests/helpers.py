"""Helpers shared by the test modules (pytest puts tests/ on sys.path): import as ``from helpers import ...``."""
from __future__ import annotations

import numpy as np
from scipy import stats


def chi2_pvalue(obs: np.ndarray, exp: np.ndarray) -> float:
    """Chi-square p-value with the cells of expectation < 5 pooled into one."""
    small = exp < 5
    o = np.r_[obs[~small], obs[small].sum()] if small.any() else obs
    e = np.r_[exp[~small], exp[small].sum()] if small.any() else exp
    keep = e > 0
    assert o[~keep].sum() == 0, "draws where the law has no mass"
    if keep.sum() == 1:  # a single possible outcome, and every draw is it
        return 1.0
    return float(stats.chisquare(o[keep], e[keep] * o.sum() / e[keep].sum()).pvalue)


def cluster_purity(model, item_cluster: np.ndarray, N: int = 6) -> float:
    """Share of each trained item's N nearest neighbours (``similar_items``) in its own planted cluster."""
    trained = np.flatnonzero(model.item_counts >= 5)
    ids, _ = model.similar_items(trained, N=N + 1)
    nb = ids[:, 1:]
    return float(np.mean(item_cluster[nb] == item_cluster[trained][:, None]))


def run_cli(argv: list, capsys) -> tuple[int, str, str]:
    """main(argv) -> (exit code, stdout, stderr); argparse's SystemExit counts as an exit code."""
    from recneg.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = int(e.code)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err
