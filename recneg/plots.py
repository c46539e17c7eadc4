"""PNG plots: training curves, sampled-vs-target distributions, lab sweeps.

Needs matplotlib (``pip install "recneg[plot]"``). Every function writes one PNG
atomically and returns its path.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('plotting needs matplotlib: pip install "recneg[plot]"') from e
    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    from ._io import atomic_write

    path = Path(path)
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    finally:
        _plt().close(fig)
    return path


def plot_training_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "training") -> Path:
    """One panel per series (e.g. ``{"loss": [...], "recall@20": [...]}``), x = epoch (1-based)."""
    series = {k: list(v) for k, v in history.items() if len(v)}
    if not series:
        raise ValueError("history is empty: nothing to plot")
    plt = _plt()
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.2), squeeze=False, constrained_layout=True)
    for ax, (name, vals) in zip(axes[0], series.items()):
        ax.plot(np.arange(1, len(vals) + 1), vals, marker="o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def plot_sampled_vs_target(target_p: np.ndarray, draws: np.ndarray, path: str | os.PathLike, title: str = "sampler") -> Path:
    """Empirical draw frequency against the target probability, items ranked by target (log-log).

    Args:
        target_p: float (n_items,), the distribution the sampler should follow.
        draws: int array of sampled item indices (any shape).
    """
    p = np.asarray(target_p, dtype=np.float64)
    d = np.asarray(draws).ravel()
    if d.size == 0:
        raise ValueError("draws is empty")
    emp = np.bincount(d, minlength=p.size) / d.size
    order = np.argsort(-p, kind="stable")
    rank = np.arange(1, p.size + 1)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    nz = emp[order] > 0
    ax.loglog(rank[nz], emp[order][nz], ".", ms=3, alpha=0.5, label=f"sampled ({d.size:,} draws)")
    ax.loglog(rank, p[order], "-", color="k", lw=1.2, label="target")
    ax.set_xlabel("item rank by target probability")
    ax.set_ylabel("probability")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    return _save(fig, path)


def plot_lab(results, path: str | os.PathLike, metric: str = "recall@20") -> Path:
    """Quality against alpha (one line per k) and against k (one line per alpha).

    Args:
        results: a pandas DataFrame with columns ``alpha``, ``k``, ``exclude_seen`` and ``metric``
            (the lab's table; DNS, in-batch and scheduled rows are left out: they are not grid points).
    """
    df = results.dropna(subset=["alpha"])
    if "dns" in df.columns:  # hard-negative runs are not points of the alpha/k grid
        df = df[df["dns"].fillna(0) == 0]
    if "in_batch" in df.columns:
        df = df[~df["in_batch"].astype(bool)]
    if "scheduled" in df.columns:  # nor are runs whose alpha or k moves over the epochs
        df = df[~df["scheduled"].astype(bool)]
    if metric not in df.columns or df.empty:
        raise ValueError(f"results have no rows with alpha and {metric!r} to plot")
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for excl, style in ((True, "-"), (False, "--")):
        sub = df[df["exclude_seen"] == excl]
        for k, g in sub.groupby("k"):
            g = g.sort_values("alpha")
            a1.plot(g["alpha"], g[metric], style, marker="o", ms=3, label=f"k={k}{'' if excl else ', no excl.'}")
        for a, g in sub.groupby("alpha"):
            g = g.sort_values("k")
            a2.plot(g["k"], g[metric], style, marker="o", ms=3, label=f"α={a:g}{'' if excl else ', no excl.'}")
    a1.set_xlabel("α (popularity exponent)")
    a2.set_xlabel("negatives per positive (k)")
    a2.set_xscale("log")
    for ax in (a1, a2):
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)
