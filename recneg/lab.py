"""The negative-sampling lab: which distribution, and how many negatives?

:func:`run_lab` sweeps sampling strategies for one model and loss on one split,
picks the best on a validation split carved from train, and reports it on test.
The sweep is staged so that a time budget buys the most informative runs first:

1. alpha on its grid, at k = 5 (or the grid's closest), exclusion on;
2. k on its grid, at the best alpha;
3. exclusion off, at the best (alpha, k) and a second alpha;
4. DNS hard negatives and in-batch + logQ (mf only; each only with a loss that trains it: DNS with
   bpr/bce, in-batch with bpr/softmax/ccl/nce);
6. dynamic negative sampling: the best setting with alpha or k scheduled over the epochs;
5. whatever grid points remain, while the budget lasts (run last).

A run whose validation metric, a third of the way through, is below half the best
final value so far is stopped early ("hopeless").

Losses: mf trains ``bpr`` (default), ``bce``, ``nce``, ``softmax`` or ``ccl``; item2vec ``sgns``
(default) or ``nce``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .data import Interactions, split_random

logger = logging.getLogger(__name__)

MF_LOSSES = ("bpr", "bce", "nce", "softmax", "ccl")
ITEM2VEC_LOSSES = ("sgns", "nce")
_DNS_LOSSES = ("bpr", "bce")  # one hard negative per example; NCE has no law q for best-of-m draws
_IN_BATCH_LOSSES = ("bpr", "softmax", "ccl", "nce")  # the losses that correct in-batch negatives by log q


@dataclass
class Strategy:
    """One negative-sampling setting; ``alpha_end``/``k_end`` make alpha/k linear schedules over the epochs."""

    alpha: float | None
    k: int
    exclude_seen: bool = True
    dns: int | None = None
    in_batch: bool = False
    stage: str = ""
    alpha_end: float | None = None
    k_end: int | None = None

    @property
    def label(self) -> str:
        if self.in_batch:
            return "in-batch + logQ"
        a = f"{self.alpha:g}" if self.alpha_end is None else f"{self.alpha:g}→{self.alpha_end:g}"
        k = f"{self.k}" if self.k_end is None else f"{self.k}→{self.k_end}"
        s = f"pop^{a}, k={k}"
        if self.dns:
            s += f", DNS m={self.dns}"
        if not self.exclude_seen:
            s += ", no exclusion"
        return s

    def key(self) -> tuple:
        return (self.alpha, self.k, self.exclude_seen, self.dns, self.in_batch, self.alpha_end, self.k_end)

    def sampler(self, epochs: int, seed: int) -> Any:
        """The sampler of this strategy (schedules span ``epochs``)."""
        from .models.factory import build_sampler
        from .sampling import LinearSchedule

        steps = max(epochs - 1, 1)
        k: Any = int(self.k) if self.k_end is None else LinearSchedule(self.k, self.k_end, steps)
        alpha: Any = 0.0 if self.alpha is None else (
            float(self.alpha) if self.alpha_end is None else LinearSchedule(self.alpha, self.alpha_end, steps))
        return build_sampler(k=k, alpha=alpha, exclude_seen=self.exclude_seen, dns=self.dns, in_batch=self.in_batch,
                             seed=seed)


@dataclass
class LabResult:
    """Rows of the sweep plus the recommended setting and its test metrics."""

    rows: list[dict] = field(default_factory=list)
    best: dict | None = None
    test_metrics: dict | None = None

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def _make_model(model: str, loss: str, s: Strategy, epochs: int, factors: int, lr: float | None, reg: float | None,
                seed: int, workers: int):
    """The model of one lab run, built by :func:`recneg.models.factory.build_model` as the CLI builds its own."""
    from .models.factory import build_model

    if model == "mf":
        return build_model("mf", s.sampler(epochs, seed), factors=factors, loss=loss, epochs=epochs, workers=workers,
                           seed=seed, lr=lr, reg=reg)
    if model == "item2vec":
        if s.in_batch:
            raise ValueError("item2vec trains with proposal negatives (no in-batch negatives)")
        return build_model("item2vec", s.sampler(epochs, seed), vector_size=factors, epochs=epochs, workers=workers,
                           seed=seed, alpha=lr, progress=False, loss=loss)
    raise ValueError(f"model must be 'mf' or 'item2vec', got {model!r}")


def _train(m, train: Interactions, **kw: Any) -> None:
    """``fit`` without a progress bar (MF's ``show_progress``; Item2Vec's is set at construction)."""
    from .models.mf import MatrixFactorization

    if isinstance(m, MatrixFactorization):
        m.fit(train, show_progress=False, **kw)
    else:
        m.fit(train, **kw)


def _fit(m, train: Interactions, valid: Interactions, K: int, epochs: int, best_at_check: float,
         model: str) -> tuple[str, int, float]:
    """Fit, checking validation recall a third of the way in.

    A run is "hopeless" when its recall at the check epoch is below half the best recall
    that earlier runs had at the same epoch. Returns (status, epochs run, recall at check).
    """
    from .evaluation.ranking import ranking_metrics

    if model != "mf" or epochs < 6:
        _train(m, train)
        return "done", epochs, math.nan
    check_at = epochs // 3 - 1
    state = {"status": "done", "epochs": epochs, "at_check": math.nan}

    def cb(epoch: int, mdl) -> bool:
        if epoch == check_at:
            r = ranking_metrics(mdl, train, valid, K=K).metrics[f"recall@{K}"]
            state["at_check"] = r
            if best_at_check > 0 and r < 0.5 * best_at_check:
                state.update(status="stopped early (hopeless)", epochs=epoch + 1)
                return True
        return False

    _train(m, train, callbacks=[cb])
    return state["status"], state["epochs"], state["at_check"]


def run_lab(
    train: Interactions,
    test: Interactions,
    out: str | Path,
    model: str = "mf",
    loss: str | None = None,
    alphas: list[float] = (-0.5, 0.0, 0.5, 0.75, 1.0),
    ks: list[int] = (1, 5, 20, 100),
    exclusion: str = "both",
    dns: int = 10,
    in_batch: bool = True,
    epochs: int = 20,
    factors: int = 64,
    lr: float | None = None,
    reg: float | None = None,
    K: int = 20,
    budget: float | None = None,
    seed: int = 0,
    workers: int = 2,
    valid_fraction: float = 0.1,
    description: str = "",
    plot: bool = True,
    echo: Callable[[str], None] | None = None,
    schedules: bool = True,
    search: str = "grid",
    trials: int | None = None,
    losses: list[str] | None = None,
    reference: bool = True,
) -> LabResult:
    """Sweep strategies, write lab.csv / lab.md / lab.png / best.json / meta.json to ``out``.

    Args:
        train, test: a split in one index space; a validation split is carved from train.
        loss: mf: "bpr" (default), "bce", "nce", "softmax" or "ccl"; item2vec: "sgns" (default) or "nce".
            Stage 4 runs only what the loss trains (DNS with bpr/bce; in-batch + logQ with bpr, softmax, ccl, nce).
        budget: wall-time budget in seconds (> 0); runs not started in time are listed as skipped,
            but the first run always runs, so there is something to recommend.
        echo: called with one progress line per run (e.g. ``print``); None for silence.
        schedules: add stage 6, the best static setting against the same with alpha moving linearly to
            the best alpha (from 1, or 0 when the best is 1) and with k growing from 1 to twice the best k.
        search: "grid" (this staged sweep of one model and loss), or a tuner over losses, negatives and
            optimiser settings within ``budget``/``trials``: "auto", "tpe" or "halving" (see
            :func:`recneg.tuning.tune`, which then takes ``losses``, ``factors``, ``epochs`` as the cap on a
            trial's epochs, ``K``, ``seed``, ``workers``, ``valid_fraction``, ``reference``, ``description``,
            ``plot`` and ``echo``; the grid's arguments are not used, and ``model`` must be "mf").

    Returns:
        LabResult with one row per strategy (validation Recall@K / NDCG@K, seconds, status)
        and the best strategy's test metrics after refitting on the full train split
        (a :class:`recneg.tuning.TuneResult` from a tuner search).
    """
    if search != "grid":
        from .tuning import tune

        if model != "mf":
            raise ValueError(f"search={search!r} tunes model='mf'; use search='grid' for model={model!r}")
        return tune(train, test, out, budget=budget, trials=trials, search=search, losses=losses, factors=factors,
                    max_epochs=epochs, K=K, seed=seed, workers=workers, valid_fraction=valid_fraction,
                    reference=reference, description=description, plot=plot, echo=echo)
    from .evaluation.ranking import ranking_metrics

    if exclusion not in ("both", "on", "off"):
        raise ValueError(f"exclusion must be 'both', 'on' or 'off', got {exclusion!r}")
    if not alphas or not ks:
        raise ValueError("alphas and ks must be non-empty")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, got {ks!r}")
    if budget is not None and not budget > 0:
        raise ValueError(f"budget must be a number of seconds > 0 (or None for no limit), got {budget!r}")
    if model not in ("mf", "item2vec"):
        raise ValueError(f"model must be 'mf' or 'item2vec', got {model!r}")
    losses = MF_LOSSES if model == "mf" else ITEM2VEC_LOSSES
    if loss is None:
        loss = losses[0]
    if loss not in losses:
        raise ValueError(f"loss={loss!r} does not train model={model!r}; {model} takes loss "
                         f"{', '.join(repr(x) for x in losses)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    fit_train, valid = split_random(train, valid_fraction, seed=seed)
    result = LabResult()
    done: dict[tuple, dict] = {}
    by_label: dict[str, Strategy] = {}
    best_at_check = 0.0
    rk, nk = f"recall@{K}", f"ndcg@{K}"

    def over_budget() -> bool:
        ran = any(r.get("status") != "skipped (budget)" for r in result.rows)
        return ran and budget is not None and time.perf_counter() - t_start > budget

    def run(s: Strategy) -> dict:
        nonlocal best_at_check
        if s.key() in done:
            return done[s.key()]
        by_label[s.label] = s
        row = dict(strategy=s.label, alpha=s.alpha if not s.in_batch else math.nan, k=s.k, exclude_seen=s.exclude_seen,
                   scheduled=s.alpha_end is not None or s.k_end is not None,
                   dns=s.dns or 0, in_batch=s.in_batch, stage=s.stage)
        if over_budget():
            row.update(status="skipped (budget)")
        else:
            t0 = time.perf_counter()
            m = _make_model(model, loss, s, epochs, factors, lr, reg, seed, workers)
            status, ep, at_check = _fit(m, fit_train, valid, K, epochs, best_at_check, model)
            secs = time.perf_counter() - t0
            met = ranking_metrics(m, fit_train, valid, K=K).metrics
            row.update({rk: met[rk], nk: met[nk], "train_seconds": round(secs, 2), "epochs": ep, "status": status})
            if not math.isnan(at_check):
                best_at_check = max(best_at_check, at_check)
            logger.info("lab: %s -> %s=%.4f (%.1fs)", s.label, rk, met[rk], secs)
            if echo is not None:
                n_ran = sum(r.get("status") != "skipped (budget)" for r in result.rows) + 1
                echo(f"lab run {n_ran} [{s.stage}] {s.label}: {rk} {met[rk]:.4f} on validation, {secs:.1f} s"
                     + ("" if status == "done" else f" ({status})"))
        result.rows.append(row)
        # keep the table on disk as the sweep goes, so an interrupted lab keeps what it measured
        _write(result, out, model, loss, K, description, time.perf_counter() - t_start, False, epochs)
        done[s.key()] = row
        return row

    def best_of(rows: list[dict]) -> dict | None:
        ok = [r for r in rows if r.get("status") == "done"]
        return max(ok, key=lambda r: r[rk]) if ok else None

    k0 = min(ks, key=lambda k: abs(k - 5))
    excl0 = exclusion != "off"
    stage1 = [run(Strategy(float(a), k0, excl0, stage="1: alpha")) for a in alphas]
    b1 = best_of(stage1)
    a_best = b1["alpha"] if b1 else float(alphas[0])
    stage2 = [run(Strategy(a_best, int(k), excl0, stage="2: k")) for k in ks]
    b2 = best_of(stage2 + stage1)
    k_best = int(b2["k"]) if b2 else k0
    if exclusion == "both":
        run(Strategy(a_best, k_best, False, stage="3: exclusion"))
        other = min((a for a in alphas if a != a_best), key=lambda a: abs(a - a_best), default=None)
        if other is not None:
            run(Strategy(float(other), k_best, False, stage="3: exclusion"))
    if model == "mf":
        for wanted, ok, what in ((dns, _DNS_LOSSES, "DNS"), (in_batch, _IN_BATCH_LOSSES, "in-batch + logQ")):
            if wanted and loss not in ok:
                logger.info("lab: no %s run: loss %s does not train it (only %s)", what, loss, ", ".join(ok))
                if echo is not None:
                    echo(f"lab: stage 4 skips {what}: loss {loss} does not train it (only {', '.join(ok)})")
        if dns and loss in _DNS_LOSSES:
            run(Strategy(a_best, k_best, excl0, dns=int(dns), stage="4: hard"))
        if in_batch and loss in _IN_BATCH_LOSSES:
            run(Strategy(None, k_best, excl0, in_batch=True, stage="4: in-batch"))
    if schedules:
        # dynamic negative sampling: the same setting, with alpha or k moving over the epochs
        a_start = 1.0 if a_best != 1.0 else 0.0
        run(Strategy(a_start, k_best, excl0, alpha_end=a_best, stage="6: schedule"))
        run(Strategy(a_best, 1, excl0, k_end=max(2 * k_best, 2), stage="6: schedule"))
    excl_opts = [True, False] if exclusion == "both" else [excl0]
    for a in alphas:
        for k in ks:
            for e in excl_opts:
                if budget is None or not over_budget():
                    run(Strategy(float(a), int(k), e, stage="5: grid"))

    best = best_of(result.rows)
    result.best = best
    if best is not None:
        s = by_label[best["strategy"]]
        if echo is not None:
            echo(f"lab: refitting the best, {best['strategy']}, on the full train split")
        m = _make_model(model, loss, s, epochs, factors, lr, reg, seed, workers)
        _train(m, train)
        result.test_metrics = dict(ranking_metrics(m, train, test, K=K).metrics)
    _write(result, out, model, loss, K, description, time.perf_counter() - t_start, plot, epochs)
    return result


def _write(result: LabResult, out: Path, model: str, loss: str, K: int, description: str, seconds: float, plot: bool,
           epochs: int) -> None:
    from ._io import atomic_write

    def write_text(name: str, text: str) -> None:
        atomic_write(out / name, lambda f: f.write(text.encode()))

    df = result.to_frame()
    write_text("meta.json", json.dumps(dict(kind="lab", model=model, loss=loss, K=K, epochs=epochs,
                                            description=description), indent=2) + "\n")
    write_text("lab.csv", df.to_csv(index=False))
    rk, nk = f"recall@{K}", f"ndcg@{K}"
    lines = [f"# recneg lab: {model} ({loss}) on {description or 'data'}", "",
             f"Validation split carved from train; {epochs} epochs per run; total {seconds:.0f} s.", "",
             f"| strategy | stage | {rk} (valid) | {nk} (valid) | train s | status |", "|---|---|---|---|---|---|"]
    for r in result.rows:
        rv = f"{r[rk]:.4f}" if isinstance(r.get(rk), float) and not math.isnan(r[rk]) else "-"
        nv = f"{r[nk]:.4f}" if isinstance(r.get(nk), float) and not math.isnan(r[nk]) else "-"
        ts = f"{r['train_seconds']:.1f}" if isinstance(r.get("train_seconds"), float) and not math.isnan(r["train_seconds"]) else "-"
        lines.append(f"| {r['strategy']} | {r['stage']} | {rv} | {nv} | {ts} | {r['status']} |")
    if result.best is not None and result.test_metrics is not None:
        lines += ["", f"**Recommended:** {result.best['strategy']} — on test (refit on full train): "
                  f"{rk} = {result.test_metrics[rk]:.4f}, {nk} = {result.test_metrics[nk]:.4f}."]
    write_text("lab.md", "\n".join(lines) + "\n")
    best = {"best": result.best, "test": result.test_metrics}
    write_text("best.json", json.dumps(best, indent=2, default=float))
    if plot:
        try:
            from .plots import plot_lab

            done = df[df["status"] == "done"] if "status" in df else df
            if not done.empty and done["alpha"].notna().any():
                plot_lab(done, out / "lab.png", metric=rk)
        except ImportError as e:
            logger.warning("no plot: %s", e)
    logger.info("lab written to %s", out)
