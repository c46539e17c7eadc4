"""The lab as a tuner with a clock (issue 14, part 3): recneg.tuning and `recneg lab --budget`."""
from __future__ import annotations

import json
import math
import statistics
import sys
import types

import numpy as np
import pandas as pd
import pytest

import recneg.tuning as tuning
from recneg.cli import build_parser
from recneg.data import split_random
from recneg.datasets import make_synthetic
from recneg.evaluation.ranking import ranking_metrics
from recneg.models import MatrixFactorization
from recneg.models.factory import build_model
from recneg.sampling import NegativeSampler
from recneg.tuning import TimeHalving, _RandomTrial, build_best, suggest, tune
from helpers import run_cli

FAST = dict(losses=["bpr"], factors=16, K=5, max_epochs=12, reference=False, plot=False)


@pytest.fixture(scope="module")
def split(synth):
    return split_random(synth.interactions, 0.2, seed=0)


class FakeClock:
    """Seconds that advance by ``tick`` at every reading: the tuner's only notion of time."""

    def __init__(self, tick: float = 1.0) -> None:
        self.now, self.tick = 1000.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def _fake_implicit(monkeypatch, seen: dict) -> None:
    """``implicit`` with ALS and BPR classes that record their arguments and fit random factors."""

    def model(kind: str):
        class Fake:
            def __init__(self, **kw):
                seen[kind] = kw
                self.factors = kw["factors"]

            def fit(self, X, show_progress=True):
                seen[kind + " fit"] = X.shape
                rng = np.random.default_rng(0)
                self.user_factors = rng.standard_normal((X.shape[0], self.factors)).astype(np.float32)
                self.item_factors = rng.standard_normal((X.shape[1], self.factors)).astype(np.float32)

        return Fake

    pkg = types.ModuleType("implicit")
    als, bpr = types.ModuleType("implicit.als"), types.ModuleType("implicit.bpr")
    als.AlternatingLeastSquares = model("als")
    bpr.BayesianPersonalizedRanking = model("bpr")
    pkg.als, pkg.bpr = als, bpr
    for name, mod in (("implicit", pkg), ("implicit.als", als), ("implicit.bpr", bpr)):
        monkeypatch.setitem(sys.modules, name, mod)


# ------------------------------------------------------------------ the search finds something good
def test_tuner_beats_a_deliberately_bad_configuration(split, tmp_path):
    train, test = split
    # a fake clock, one worker and a budget whose first rung (1,000 fake s) no trial reaches: no trial is pruned
    # on the machine's load, so the finalists are the same on every run
    res = tune(train, test, tmp_path / "lab", trials=6, budget=1e4, search="halving", clock=FakeClock(0.01), workers=1,
               **FAST)
    fit_train, valid = split_random(train, 0.1, seed=0)  # the tuner's validation split (same fraction and seed)
    bad = MatrixFactorization(factors=16, sampler=NegativeSampler(k=1, alpha=1.0, exclude_seen=False), lr=1e-4,
                              epochs=1)
    bad.fit(fit_train, show_progress=False)
    bad_recall = ranking_metrics(bad, fit_train, valid, K=5).metrics["recall@5"]
    assert res.best is not None and res.search == "halving" and len(res.rows) == 6
    assert res.best["recall@5"] > bad_recall + 0.3, (res.best["recall@5"], bad_recall)
    # the finalists (the best three configurations on the first split) were fitted on two more splits and the
    # winner is the best mean over the three
    mean_key = "recall@5 (mean of 3 splits)"
    fin = [r for r in res.rows if mean_key in r]
    ok = sorted((r["recall@5"] for r in res.rows if math.isfinite(r["recall@5"]) and r["status"] != "pruned"),
                reverse=True)
    assert 2 <= len(fin) <= 3 and all(len(r["revalidation"]) == 2 for r in fin)
    assert sorted((r["recall@5"] for r in fin), reverse=True) == ok[:len(fin)]
    assert res.best["trial"] == max(fin, key=lambda r: r[mean_key])["trial"]
    assert res.best[mean_key] == pytest.approx(np.mean([res.best["recall@5"], *res.best["revalidation"]]))
    assert "Finalists, fitted again" in (tmp_path / "lab" / "lab.md").read_text()
    assert 0 < res.test_metrics["recall@5"] <= 1


def test_tpe_search_runs_torch_and_numba_losses(split, tmp_path):
    pytest.importorskip("optuna")
    train, test = split
    res = tune(train, test, tmp_path / "lab", trials=4, search="auto", losses=["softmax", "ccl", "bpr"], factors=8,
               K=5, max_epochs=2, reference=False, plot=False)
    assert res.search == "tpe" and len(res.rows) == 4
    # the losses' library defaults in the tuner's order, each followed by a local step from the incumbent
    assert [r["loss"] for r in res.rows[:3]] == ["bpr", "bpr", "softmax"]
    assert res.rows[2]["k"] == 1024 and res.rows[2]["negatives"] == "shared" and res.rows[0]["status"] == "done"
    p0, p1 = json.loads(res.rows[0]["params"]), json.loads(res.rows[1]["params"])
    assert 1 <= sum(p1.get(k) != v for k, v in p0.items()) <= 2
    assert all(r["status"] in ("done", "pruned", "pruned in epoch 1") or r["status"].startswith("early stop")
               for r in res.rows), [r["status"] for r in res.rows]


def test_a_loss_that_never_finishes_an_epoch_is_dropped(split, tmp_path):
    train, test = split
    clock = FakeClock(tick=1.0)
    res = tune(train, test, tmp_path / "lab", trials=12, search="halving", losses=["bpr", "softmax"], factors=8,
               K=5, max_epochs=3, reference=False, plot=False, clock=clock)
    soft = [r for r in res.rows if r["loss"] == "softmax"]
    assert res.dropped == ["softmax"] and len(soft) == tuning.DROP_AFTER and len(res.rows) == 12
    assert all(r["status"] == "pruned in epoch 1" for r in soft)
    assert [r["trial"] for r in res.rows] == list(range(12))
    assert "Dropped after 3 trials" in (tmp_path / "lab" / "lab.md").read_text()
    assert json.loads((tmp_path / "lab" / "meta.json").read_text())["dropped"] == ["softmax"]
    # TPE is told about the skipped draws (as pruned trials) and goes on
    pytest.importorskip("optuna")
    res = tune(train, test, tmp_path / "lab2", trials=8, search="tpe", losses=["bpr", "softmax"], factors=8, K=5,
               max_epochs=3, reference=False, plot=False, clock=FakeClock(1.0))
    assert len(res.rows) == 8 and sum(r["loss"] == "softmax" for r in res.rows) <= tuning.DROP_AFTER


def test_a_slow_first_epoch_is_pruned_between_batches(split, tmp_path):
    """Without a budget the first rung sits at 1/27 of the first finished trial's seconds; a torch trial still
    in its first epoch there counts with 0 and stops between two batches."""
    train, test = split
    clock = FakeClock(tick=1.0)  # every reading is a second: a torch epoch of many batches takes many seconds
    res = tune(train, test, tmp_path / "lab", trials=3, search="halving", losses=["bpr", "softmax"], factors=8, K=5,
               max_epochs=3, reference=False, plot=False, clock=clock)
    soft = [r for r in res.rows if r["loss"] == "softmax"]
    assert res.rows[0]["loss"] == "bpr" and res.rows[0]["status"] == "done"
    assert soft and all(r["status"] == "pruned in epoch 1" and r["epochs_run"] == 0 for r in soft)


def test_a_first_epoch_projected_past_the_rung_is_cut_at_its_pace(tmp_path, monkeypatch):
    """A torch trial whose first batches' pace puts its first epoch's end past the rung is cut then, not at the
    rung (budget 100 s: the first rung at 10 s; every clock reading a second, ~28 batches an epoch)."""
    data = make_synthetic(n_users=3000, n_items=120, n_clusters=6, interactions_per_user=12, noise=0.0, seed=0)
    train, test = split_random(data.interactions, 0.2, seed=0)
    kw = dict(budget=100, trials=3, search="halving", losses=["bpr", "softmax"], factors=8, K=5, max_epochs=3,
              reference=False, plot=False, extra_splits=0)

    def first_softmax(rows):
        return next(r for r in rows if r["loss"] == "softmax")

    cut = first_softmax(tune(train, test, tmp_path / "a", clock=FakeClock(1.0), **kw).rows)
    monkeypatch.setattr(tuning, "_PROJECT_AFTER", 10**9)  # never projected: judged at the rung
    rung = first_softmax(tune(train, test, tmp_path / "b", clock=FakeClock(1.0), **kw).rows)
    assert cut["status"] == rung["status"] == "pruned in epoch 1"
    assert cut["train_seconds"] < 10 <= rung["train_seconds"]


def test_would_prune_changes_nothing():
    p = TimeHalving(2, 3)
    for n, v in enumerate([0.5, 0.4, 0.3]):
        p.finished(n, 10, v)
    before = (dict(p._rung_of), {r: list(v) for r, v in p.rungs.items()})
    assert p.would_prune(7, 6, 0.0) is True and p.would_prune(7, 6, 0.9) is False
    assert (p._rung_of, p.rungs) == before
    assert p.should_prune(7, 6, 0.0) is True  # the same verdict when it is judged for real


# ------------------------------------------------------------------ the clock
def test_budget_stops_launching_trials_fake_clock(split, tmp_path):
    train, test = split
    clock = FakeClock(tick=1.0)
    budget = 120.0
    res = tune(train, test, tmp_path / "lab", budget=budget, search="halving", clock=clock, extra_splits=0, **FAST)
    df = pd.DataFrame(res.rows)
    assert len(df) >= 2
    assert (df["started_s"] < budget).all()
    # no trial started with less time left than the median trial before it (the check reads the clock once
    # before the start is stamped: one tick of slack)
    for i in range(1, len(df)):
        left = budget - (df["started_s"][i] - clock.tick)
        assert left >= statistics.median(df["train_seconds"][:i]) - 1e-9, (i, left)
    # a trial running at the deadline stops after its epoch: nothing runs long past the budget
    assert (df["started_s"] + df["train_seconds"]).max() <= budget + 10 * clock.tick
    assert res.search_seconds <= budget + 10 * clock.tick
    # the search stopped because of the budget: with more time it would have run more trials
    more = tune(train, test, tmp_path / "lab2", budget=2 * budget, search="halving", clock=FakeClock(1.0),
                extra_splits=0, **FAST)
    assert len(more.rows) > len(df)


def test_the_finalists_time_is_kept_out_of_the_search(split, tmp_path):
    """With re-validation, the search stops early enough to fit the finalists again within the budget: fewer
    trials than without, every finalist re-validated, and the search ends within the budget (a few clock
    readings of slack: a fit's seconds are estimated)."""
    train, test = split
    budget = 400.0  # workers=1: no Hogwild races, so the pruning decisions repeat
    plain = tune(train, test, tmp_path / "a", budget=budget, search="halving", clock=FakeClock(1.0), extra_splits=0,
                 workers=1, **FAST)
    clock = FakeClock(1.0)
    res = tune(train, test, tmp_path / "b", budget=budget, search="halving", clock=clock, workers=1, **FAST)
    fin = [r for r in res.rows if r.get("revalidation")]
    assert len(res.rows) < len(plain.rows) and len(fin) >= 2 and all(len(r["revalidation"]) == 2 for r in fin)
    assert res.search_seconds <= budget + 5, res.search_seconds


def test_budget_on_the_real_clock_generous_bound(split, tmp_path):
    import time

    train, test = split
    t0 = time.perf_counter()
    res = tune(train, test, tmp_path / "lab", budget=3.0, search="halving", **FAST)
    wall = time.perf_counter() - t0
    assert res.best is not None and res.rows
    assert wall <= 3.0 + res.refit_seconds + 60  # generous: the machine is shared


def test_trials_limit_counts_trials(split, tmp_path):
    train, test = split
    res = tune(train, test, tmp_path / "lab", trials=3, search="halving", **FAST)
    assert len(res.rows) == 3 and len(pd.read_csv(tmp_path / "lab" / "lab.csv")) == 3


# ------------------------------------------------------------------ test touched once per reported model
def test_only_the_refitted_winner_and_references_see_test(split, tmp_path, monkeypatch):
    train, test = split
    _fake_implicit(monkeypatch, {})
    calls = []
    real = tuning.ranking_metrics

    def spy(model, tr, te, *a, **kw):
        calls.append((tr, te))
        return real(model, tr, te, *a, **kw)

    monkeypatch.setattr(tuning, "ranking_metrics", spy)
    fits = []
    real_fit = MatrixFactorization.fit

    def fit_spy(self, user_items, *a, **kw):
        fits.append(user_items)
        return real_fit(self, user_items, *a, **kw)

    monkeypatch.setattr(MatrixFactorization, "fit", fit_spy)
    res = tune(train, test, tmp_path / "lab", trials=4, search="halving", **dict(FAST, reference=True))
    on_test = [(tr, te) for tr, te in calls if te is test]
    assert len(res.reference) == 2
    assert len(on_test) == 1 + len(res.reference)  # the winner once, each reference once
    assert all(tr is train for tr, _ in on_test)  # evaluated as fitted: on the full train split
    assert all(te is not test for tr, te in calls if tr is not train)
    # every trial, and every finalist's re-validation, fits the train split minus a validation split; the last
    # fit, the refit, the full train split
    n_revalidation = sum(len(r.get("revalidation", ())) for r in res.rows)
    assert len(fits) == len(res.rows) + n_revalidation + 1
    assert fits[-1] is train and all(f is not train and f.nnz < train.nnz for f in fits[:-1])


# ------------------------------------------------------------------ without optuna, with and without implicit
def test_without_optuna_the_halving_search_runs(split, tmp_path, monkeypatch):
    train, test = split
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    res = tune(train, test, tmp_path / "lab", trials=3, search="auto", **FAST)
    assert res.search == "halving" and res.best is not None
    assert json.loads((tmp_path / "lab" / "meta.json").read_text())["search"] == "halving"
    with pytest.raises(ImportError, match=r"recneg\[tune\]"):
        tune(train, test, tmp_path / "lab2", trials=1, search="tpe", **FAST)


def test_reference_rows_with_a_fake_implicit(split, tmp_path, monkeypatch):
    train, test = split
    seen: dict = {}
    _fake_implicit(monkeypatch, seen)
    res = tune(train, test, tmp_path / "lab", trials=2, search="halving", **dict(FAST, reference=True))
    assert [r["model"].split(" (")[0] for r in res.reference] == ["implicit ALS", "implicit BPR"]
    assert seen["als"]["alpha"] == 40.0 and seen["als"]["iterations"] == 15 and seen["als"]["regularization"] == 0.01
    assert seen["als"]["factors"] == seen["bpr"]["factors"] == 16 and seen["bpr"]["iterations"] == 100
    assert seen["als fit"] == (train.n_users, train.n_items)  # fitted on the full train split
    md = (tmp_path / "lab" / "lab.md").read_text()
    assert "| implicit ALS (16 factors, α 40, 15 it, reg 0.01) |" in md and "| implicit BPR (16 factors" in md
    assert len(json.loads((tmp_path / "lab" / "best.json").read_text())["reference"]) == 2


def test_no_reference_rows_without_implicit(split, tmp_path, monkeypatch):
    train, test = split
    monkeypatch.setitem(sys.modules, "implicit", None)
    res = tune(train, test, tmp_path / "lab", trials=2, search="halving", **dict(FAST, reference=True))
    assert res.reference == [] and res.best is not None
    assert "implicit" not in (tmp_path / "lab" / "lab.md").read_text()


# ------------------------------------------------------------------ outputs
def test_outputs_and_best_json_rebuild_the_winner(split, tmp_path):
    train, test = split
    out = tmp_path / "lab"
    res = tune(train, test, out, trials=3, search="halving", workers=1, **dict(FAST, plot=True))  # 1: no Hogwild races
    assert sorted(p.name for p in out.iterdir()) == ["best.json", "lab.csv", "lab.md", "lab.png", "meta.json"]
    df = pd.read_csv(out / "lab.csv")
    assert {"trial", "loss", "strategy", "recall@5", "ndcg@5", "epochs_run", "best_epochs", "train_seconds",
            "status", "params"} <= set(df.columns)
    md = (out / "lab.md").read_text()
    vals = [float(line.split(" | ")[2]) for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert vals == sorted(vals, reverse=True) and len(vals) == 3  # sorted by the validation metric
    assert "**Recommended:**" in md and "recneg lab winner" in md
    best = json.loads((out / "best.json").read_text())  # strict JSON: no NaN
    assert best["test"]["recall@5"] == pytest.approx(res.test_metrics["recall@5"])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "lab" and meta["search"] == "halving"
    # the factory builds the winner from best.json, and refitting it gives the reported test metrics
    model, fit_kw = build_best(out / "best.json")
    model.fit(train, show_progress=False, **fit_kw)
    assert ranking_metrics(model, train, test, K=5).metrics["recall@5"] == pytest.approx(
        best["test"]["recall@5"], abs=1e-6)
    assert build_model("mf", **best["params"]).get_params()["sampler"] == best["params"]["sampler"]
    # `recneg train` with the recommended flags builds the same model
    cmd = best["train_command"]
    if cmd is not None:
        from recneg.cli import build_model as cli_build

        args = build_parser().parse_args(cmd.split()[1:] + ["--synthetic", "--out", str(tmp_path / "m")])
        got, want = cli_build("mf", args).get_params(), model.get_params()
        for key in ("loss", "lr", "reg", "epochs", "lr_decay", "factors"):
            assert got[key] == want[key], key
        for key in ("k", "alpha", "exclude_seen"):
            g = got["sampler"].get("base", got["sampler"]).get(key)
            w = want["sampler"].get("base", want["sampler"]).get(key)
            assert g == w, key


def test_sampled_configurations_are_valid_models():
    """Every configuration the space yields builds (the models' own argument checks pass)."""
    losses = tuning.available_losses()
    seen = set()
    for i in range(300):
        cfg = suggest(_RandomTrial(i, np.random.default_rng(i)), losses, factors=8, max_epochs=None)
        m = build_model("mf", **cfg.params)
        assert m.backend == cfg.backend
        assert cfg.params["epochs"] <= tuning.EPOCH_CAPS[cfg.backend]
        seen.add((cfg.loss, cfg.flat.get("negatives")))
    assert {("bpr", "dns"), ("bpr", "proposal"), ("softmax", "mixed"), ("ccl", "in-batch"),
            ("softmax", "per-example"), ("ccl", "shared")} <= seen
    for params in tuning.default_trials(losses):  # the enqueued defaults are points of the space
        t = _RandomTrial(0, np.random.default_rng(0), params)
        cfg = suggest(t, losses)
        assert set(t.params) <= set(params), set(t.params) - set(params)  # fully given: nothing drawn
        build_model("mf", **cfg.params)


def test_loss_list_follows_the_installed_losses(monkeypatch):
    import recneg.models.losses as L

    monkeypatch.setattr(L, "LOSS_NAMES", ("bpr", "warp", "bce", "softmax", "ccl"))
    assert "nce" not in tuning.available_losses() and "ials" not in tuning.available_losses()
    monkeypatch.setattr(L, "LOSS_NAMES", ("bpr", "warp", "bce", "softmax", "ccl", "nce", "ials"))
    assert {"nce", "ials"} <= set(tuning.available_losses())


# ------------------------------------------------------------------ the pruner
def test_time_halving_compares_at_equal_seconds():
    p = TimeHalving(min_resource=10, reduction_factor=3)
    assert not p.should_prune(0, 12, 0.30)  # first at rung 0 (10): promoted
    assert p.should_prune(1, 11, 0.20)  # second must be the best of two
    assert not p.should_prune(2, 15, 0.40)
    # a cheap trial that finished at 5 deciseconds with 0.5 counts at every rung it did not need
    p.finished(3, 5, 0.50)
    assert p.should_prune(4, 31, 0.45)  # rung 0 and 1: 0.45 < 0.5, the best of few
    q = TimeHalving(min_resource=None)
    assert not q.should_prune(0, 300, 0.2)  # no rungs until a trial finished
    q.finished(0, 2700, 0.25)
    assert q.min_resource == 100  # three rungs (100, 300, 900) before the first trial's length
    # its early report at the rungs it had passed by then, its final value at those it passed later
    assert q.rungs == {0: [0.2], 1: [0.2], 2: [0.25], 3: [0.25]}
    assert q.should_prune(1, 150, 0.1) and not q.should_prune(2, 150, 0.3)
    # a trial with no model yet is judged as 0 without being recorded: zeros must not lower the bar
    r = TimeHalving(min_resource=10)
    assert not r.should_prune(0, 10, 0.3)
    for n in range(1, 6):
        assert r.should_prune(n, 10, 0.0, record=False)
    assert r.rungs == {0: [0.3]}
    assert not TimeHalving(min_resource=10).should_prune(0, 10, 0.0, record=False)  # alone, it goes on
    # a trial that passed a rung after its last report counts there with its final value
    f = TimeHalving(min_resource=100)
    assert not f.should_prune(0, 90, 0.2)
    f.finished(0, 120, 0.3)
    assert f.rungs == {0: [0.3]} and f.should_prune(1, 100, 0.0, record=False)


# ------------------------------------------------------------------ bad input names the argument
@pytest.mark.parametrize("kw,needle", [
    (dict(budget=0), "budget"), (dict(budget=-5.0), "budget"), (dict(budget=float("nan")), "budget"),
    (dict(budget=None, trials=None), "budget"), (dict(trials=0), "trials"), (dict(search="grid"), "search"),
    (dict(search="bayes"), "search"), (dict(losses=["warp"]), "losses"), (dict(losses=[]), "losses"),
    (dict(max_epochs=0), "max_epochs"), (dict(valid_fraction=1.0), "valid_fraction"), (dict(patience=0), "patience"),
])
def test_bad_arguments_name_themselves(split, tmp_path, kw, needle):
    train, test = split
    args = dict(budget=10.0, search="halving", reference=False)
    args.update(kw)
    with pytest.raises(ValueError, match=needle):
        tune(train, test, tmp_path / "lab", **args)
    assert not (tmp_path / "lab").exists()


def test_run_lab_dispatches_to_the_tuner(split, tmp_path):
    from recneg.lab import run_lab

    train, test = split
    res = run_lab(train, test, tmp_path / "lab", search="halving", trials=2, losses=["bpr"], epochs=5, factors=8,
                  K=5, reference=False, plot=False)
    assert isinstance(res, tuning.TuneResult) and res.best is not None
    with pytest.raises(ValueError, match="search"):
        run_lab(train, test, tmp_path / "lab2", search="bayes", trials=1)
    with pytest.raises(ValueError, match="model"):
        run_lab(train, test, tmp_path / "lab3", model="item2vec", search="halving", trials=1)


# ------------------------------------------------------------------ the command line
def test_cli_lab_budget_runs_the_tuner(tmp_path, capsys):
    out = tmp_path / "lab"
    rc, so, se = run_cli(["lab", "--synthetic", "--budget", "20", "--trials", "2", "--loss", "bpr", "--epochs", "5",
                       "--factors", "8", "--search", "halving", "--no-reference", "--no-plot", "--out", out], capsys)
    assert rc == 0, se
    assert sum(line.startswith("lab trial ") for line in se.splitlines()) == 2
    assert "**Recommended:**" in so and f"wrote {out}/" in so
    assert json.loads((out / "meta.json").read_text())["kind"] == "lab"
    # an earlier lab folder is replaced, by the grid too
    rc, so, se = run_cli(["-q", "lab", "--synthetic", "--search", "grid", "--alphas", "0", "--ks", "1", "--epochs", "1",
                       "--factors", "4", "--dns", "0", "--no-in-batch", "--no-schedules", "--exclusion", "on",
                       "--no-plot", "--out", out], capsys)
    assert rc == 0, se
    assert "| strategy | stage |" in so


@pytest.mark.parametrize("extra,needle", [
    (["--search", "tpe", "--alphas", "0", "1"], "--alphas applies to --search grid"),
    (["--search", "halving", "--lr", "0.1", "--dns", "0"], "--dns, --lr apply to --search grid"),
    (["--search", "halving", "--model", "item2vec"], "tunes --model mf"),
    (["--search", "bayes"], "--search"),
    (["--trials", "0"], "--trials"),
    (["--budget", "-3"], "--budget"),
])
def test_cli_lab_bad_tuner_options_one_line(extra, needle, tmp_path, capsys):
    rc, _, err = run_cli(["lab", "--synthetic", *extra, "--out", tmp_path / "L"], capsys)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "L").exists()


def test_cli_lab_tpe_without_optuna_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    rc, _, err = run_cli(["lab", "--synthetic", "--search", "tpe", "--out", tmp_path / "L"], capsys)
    assert rc == 2 and "needs optuna" in err and len(err.strip().splitlines()) == 1


def test_cli_lab_loss_the_tuner_cannot_search(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tuning, "available_losses", lambda: ("bpr", "softmax", "ccl"))
    rc, _, err = run_cli(["lab", "--synthetic", "--loss", "bce", "--out", tmp_path / "L"], capsys)
    assert rc == 2 and "--loss bce: the tuner searches bpr, softmax, ccl" in err and len(err.strip().splitlines()) == 1


def test_first_trial_is_the_library_default(monkeypatch):
    """The search starts from exactly what MatrixFactorization() trains (iALS), whatever the order of losses."""
    import recneg.models.losses as L

    monkeypatch.setattr(L, "LOSS_NAMES", ("bpr", "warp", "bce", "softmax", "ccl", "nce", "ials"))
    first = tuning.default_trials(["bpr", "softmax", "ials"])[0]
    assert first["loss"] == "ials"
    cfg = suggest(_RandomTrial(0, np.random.default_rng(0), first), ["bpr", "softmax", "ials"], factors=8)
    tuned = build_model("mf", **cfg.params)
    default = MatrixFactorization(factors=8)
    assert type(tuned) is type(default)
    for name in ("reg", "epochs", "factors"):
        assert getattr(tuned, name) == getattr(default, name), name
    for name in ("alpha0", "unobserved_ratio", "nu", "alpha", "confidence_offset"):
        assert getattr(tuned.loss, name) == getattr(default.loss, name), name
    assert tuned.sampler.exclude_seen == default.sampler.exclude_seen
    assert [d["loss"] for d in tuning.default_trials(["bpr", "softmax"])] == ["bpr", "softmax"]


def test_cli_lab_tunes_ials_alone_and_the_grid_refuses_it(tmp_path, capsys):
    out = tmp_path / "lab"
    rc, so, se = run_cli(["lab", "--synthetic", "--trials", "2", "--loss", "ials", "--epochs", "3", "--factors", "8",
                       "--search", "halving", "--no-reference", "--no-plot", "--out", out], capsys)
    assert rc == 0, se
    rows = pd.read_csv(out / "lab.csv")
    assert list(rows["loss"]) == ["ials", "ials"] and rows["unobserved_ratio"].iloc[0] == 10.0  # the default first
    rc, _, err = run_cli(["lab", "--synthetic", "--search", "grid", "--loss", "ials", "--out", tmp_path / "G"], capsys)
    assert rc == 2 and "--loss ials has no sampler to sweep" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "G").exists()


def test_local_step_moves_one_or_two_parameters_within_the_space(monkeypatch):
    import recneg.models.losses as L

    monkeypatch.setattr(L, "LOSS_NAMES", ("bpr", "warp", "bce", "softmax", "ccl", "nce", "ials"))
    losses = tuning.available_losses()
    rng = np.random.default_rng(0)
    moved = set()
    for base in tuning.default_trials(losses):
        for _ in range(40):
            nb = tuning.local_step(base, losses, rng)
            assert nb["loss"] == base["loss"]
            changed = [k for k in base if nb.get(k) != base[k]]
            assert 1 <= len(changed) <= 2 or set(nb) != set(base), (base, nb)
            moved.update(f"{base['loss']}:{k}" for k in changed)
            t = _RandomTrial(0, np.random.default_rng(1), nb)
            cfg = suggest(t, losses)  # a point of the space: every value within its distribution
            build_model("mf", **cfg.params)
            space = tuning._SpaceTrial(base)
            suggest(space, losses)
            for k in changed:
                spec = space.space.get(k)
                if spec is not None and spec[0] == "float" and spec[3]:  # log scale: one notch, or clipped
                    assert nb[k] in (pytest.approx(base[k] * tuning.LOCAL_FACTOR),
                                     pytest.approx(base[k] / tuning.LOCAL_FACTOR), spec[1], spec[2]), (k, base[k], nb[k])
    assert {"ials:ials_unobserved_ratio", "ials:reg_als", "ials:exclude_seen", "ials:ials_nu", "ials:epochs_als",
            "bpr:lr_sgd", "ccl:ccl_margin"} <= moved


def test_an_ials_winner_has_a_train_command_that_builds_it(tmp_path):
    """The lab's usual winner, iALS with its unobserved ratio, nu and exclusion, is expressible as
    `recneg train mf` flags, and they build the same model as the factory does from the parameters."""
    from recneg.cli import build_model as cli_build
    from recneg.cli import resolve_defaults

    for excl, nu in ((False, 1.0), (True, 0.0)):
        params = dict(factors=8, loss={"name": "ials", "unobserved_ratio": 6.25, "nu": nu},
                      sampler={"sampler": "AllItems", "exclude_seen": excl}, reg=0.016, epochs=5, workers=2, seed=3)
        cmd = tuning.train_command(params, None)
        assert cmd.startswith("recneg train mf --loss ials ") and ("--no-exclude-seen" in cmd) == (not excl)
        args = build_parser().parse_args(cmd.split()[1:] + ["--synthetic", "--out", str(tmp_path / "m")])
        resolve_defaults(args)
        got, want = cli_build("mf", args).get_params(), build_model("mf", **params).get_params()
        assert got == want
    assert tuning.train_command(dict(params, loss={"name": "ials", "alpha0": 0.1}), None) is None


def test_factors_search_draws_sizes_and_refits_the_winner_at_its_size(split, tmp_path):
    train, test = split
    res = tune(train, test, tmp_path / "lab", trials=6, search="halving", factors_search=[8, 24], workers=1,
               **dict(FAST, factors=16))
    assert res.rows[0]["factors"] == 16  # the defaults at the base size
    assert {r["factors"] for r in res.rows} <= {8, 16, 24} and len({r["factors"] for r in res.rows}) >= 2
    assert all(f", d {r['factors']}" in r["strategy"] for r in res.rows)
    assert res.params["factors"] == res.best["factors"]
    assert "d = 16 (searched: 16, 8, 24)" in (tmp_path / "lab" / "lab.md").read_text()
    with pytest.raises(ValueError, match="factors_search"):
        tune(train, test, tmp_path / "lab2", trials=1, factors_search=[0], **FAST)


def test_cli_factors_search_is_a_tuner_option(tmp_path, capsys):
    rc, _, err = run_cli(["lab", "--synthetic", "--search", "grid", "--factors-search", "32", "--out", tmp_path / "G"],
                      capsys)
    assert rc == 2 and "--factors-search applies to the tuner" in err and len(err.strip().splitlines()) == 1
