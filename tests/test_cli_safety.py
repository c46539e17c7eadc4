"""The command line never destroys a user's files and always answers in one line (issue 11)."""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recneg.cli import build_parser, main
from recneg.datasets import make_synthetic
from helpers import run_cli


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with (size, mode): what a command must leave alone."""
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mode)
            for p in sorted(root.rglob("*"))}


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("events")
    df = make_synthetic(n_users=120, n_items=60, n_clusters=3, interactions_per_user=10, seed=1).interactions.to_dataframe()
    p = d / "events.csv"
    df.to_csv(p, index=False)
    return p


@pytest.fixture(scope="module")
def model_dir(events, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "m"
    assert main(["-q", "train", "mf", "--csv", str(events), "--factors", "4", "--epochs", "2", "--no-eval", "--out", str(out)]) == 0
    return out


def train_args(events: Path, out: Path | str, *extra: str) -> list[str]:
    return ["-q", "train", "mf", "--csv", str(events), "--factors", "4", "--epochs", "1", "--no-eval", *extra, "--out", str(out)]


# ------------------------------------------------------------------ 1. --out never destroys
def test_out_refuses_a_folder_of_user_files(events, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "events.csv").write_bytes(events.read_bytes())
    (victim / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    rc, _, err = run_cli(train_args(victim / "events.csv", victim), capsys)
    assert rc == 2
    line = one_error_line(err)
    assert str(victim) in line and "--force" in line
    assert snapshot(tmp_path) == before


def test_out_refuses_the_input_file_itself(events, tmp_path, capsys):
    csv = tmp_path / "events2.csv"
    csv.write_bytes(events.read_bytes())
    rc, _, err = run_cli(train_args(csv, csv), capsys)
    assert rc == 2 and "is a file" in one_error_line(err)
    assert csv.read_bytes() == events.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["events2.csv"]  # no events2.csv.old-<pid>


def test_out_refuses_a_model_folder_holding_a_user_file(model_dir, events, tmp_path, capsys):
    import shutil

    m = tmp_path / "m"
    shutil.copytree(model_dir, m)
    (m / "README").write_text("my notes")
    before = snapshot(tmp_path)
    rc, _, err = run_cli(train_args(events, m), capsys)
    assert rc == 2 and "recneg did not write" in one_error_line(err)
    assert snapshot(tmp_path) == before


def test_out_force_replaces_a_file_and_a_folder(events, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.txt").write_text("a")
    for target in (f, d):
        rc, _, err = run_cli(train_args(events, target, "--force"), capsys)
        assert rc == 0, err
        assert (target / "meta.json").is_file() and not (target / "a.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]  # nothing left beside them


def test_out_may_be_an_empty_folder_or_an_earlier_model(events, tmp_path, capsys):
    d = tmp_path / "empty"
    d.mkdir()
    assert run_cli(train_args(events, d), capsys)[0] == 0
    first = (d / "meta.json").read_text()
    assert run_cli(train_args(events, d, "--seed", "3"), capsys)[0] == 0
    assert json.loads((d / "meta.json").read_text())["params"]["seed"] == 3 != json.loads(first)["params"]["seed"]
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_out_empty_string_and_file_parent(events, tmp_path, capsys):
    rc, _, err = run_cli(train_args(events, ""), capsys)
    assert rc == 2 and "--out: empty path" in one_error_line(err)
    (tmp_path / "f").write_text("x")
    rc, _, err = run_cli(train_args(events, tmp_path / "f" / "m"), capsys)
    assert rc == 2 and "is a file, not a folder" in one_error_line(err)


def test_lab_out_refuses_user_folder_and_replaces_its_own(events, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("keep")
    lab = ["-q", "lab", "--csv", str(events), "--alphas", "0", "--ks", "2", "--epochs", "2", "--factors", "4",
           "--dns", "0", "--no-in-batch", "--exclusion", "on", "--no-plot"]
    rc, _, err = run_cli(lab + ["--out", mine], capsys)
    assert rc == 2 and str(mine) in one_error_line(err)
    assert (mine / "data.csv").read_text() == "keep" and [p.name for p in mine.iterdir()] == ["data.csv"]
    out = tmp_path / "lab"
    assert run_cli(lab + ["--out", out], capsys)[0] == 0
    assert run_cli(lab + ["--out", out], capsys)[0] == 0  # an earlier lab folder is replaced
    assert json.loads((out / "meta.json").read_text())["kind"] == "lab"
    # a lab folder is not a model folder, and the other way round
    rc, _, err = run_cli(train_args(events, out), capsys)
    assert rc == 2 and "lab folder, not a model folder" in one_error_line(err)
    rc, _, err = run_cli(["evaluate", out], capsys)
    assert rc == 2 and "lab" in one_error_line(err)


def test_evaluate_json_never_overwrites_a_user_file(model_dir, tmp_path, capsys):
    js = tmp_path / "metrics.json"
    js.write_text('{"mine": 1}')
    rc, _, err = run_cli(["evaluate", model_dir, "--json", js], capsys)
    assert rc == 2 and "not written by `recneg evaluate`" in one_error_line(err)
    assert js.read_text() == '{"mine": 1}'
    assert run_cli(["evaluate", model_dir, "--json", js, "--force"], capsys)[0] == 0
    m = json.loads(js.read_text())
    assert m["written_by"] == "recneg evaluate" and 0 <= m["recall@10"] <= 1
    assert run_cli(["evaluate", model_dir, "--json", js, "--k", "5"], capsys)[0] == 0  # its own file: replaced
    assert "recall@5" in json.loads(js.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


# ------------------------------------------------------------------ 4, 5, 7: one line instead of a traceback
def test_device_cuda_without_cuda_is_one_line_before_any_work(events, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc, _, err = run_cli(train_args(events, tmp_path / "m", "--device", "cuda"), capsys)
    assert rc == 2 and "no CUDA device is available" in one_error_line(err)
    rc, _, err = run_cli(train_args(events, tmp_path / "m", "--device", "gpu0"), capsys)
    assert rc == 2 and "not a torch device" in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_movielens_without_network_suggests_movielens_path(tmp_path, capsys, monkeypatch):
    import pooch
    import requests

    def no_network(*a, **k):
        raise requests.ConnectionError("Max retries exceeded with url: /ml-100k.zip\n(Caused by NewConnectionError)")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    monkeypatch.setenv("RECNEG_DATA", str(tmp_path / "cache"))
    rc, _, err = run_cli(["-q", "train", "mf", "--movielens", "100k", "--out", tmp_path / "m"], capsys)
    line = one_error_line(err)
    assert rc == 2 and "--movielens-path" in line and "ConnectionError" in line
    assert not (tmp_path / "m").exists()


def test_ctrl_c_during_training_writes_nothing_and_keeps_the_previous_model(events, model_dir, tmp_path, capsys, monkeypatch):
    import shutil

    from recneg.models.mf import MatrixFactorization

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(MatrixFactorization, "fit", interrupted)
    rc, _, err = run_cli(train_args(events, tmp_path / "new"), capsys)
    assert rc == 130 and one_error_line(err) == "recneg train: interrupted; nothing written"
    m = tmp_path / "m"
    shutil.copytree(model_dir, m)
    before = snapshot(tmp_path)
    rc, _, err = run_cli(train_args(events, m), capsys)
    assert rc == 130 and one_error_line(err) == f"recneg train: interrupted; previous model kept at {m}"
    assert snapshot(tmp_path) == before


def test_sigint_to_a_real_process_exits_130_in_one_line(tmp_path):
    """A real Ctrl-C (SIGINT) once the progress bar shows: exit 130, one line, no output folder."""
    import select
    import time

    p = subprocess.Popen([sys.executable, "-m", "recneg", "train", "mf", "--synthetic", "--epochs", "100000",
                          "--factors", "4", "--no-eval", "--out", str(tmp_path / "m")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    buf = b""
    try:
        deadline = time.monotonic() + 120
        while b"mf-ials" not in buf and p.poll() is None and time.monotonic() < deadline:
            if select.select([p.stderr], [], [], 1.0)[0]:
                buf += os.read(p.stderr.fileno(), 65536)
        assert b"mf-ials" in buf, buf.decode(errors="replace")
        p.send_signal(signal.SIGINT)
        _, rest = p.communicate(timeout=120)
    finally:
        p.kill()
    err = (buf + rest).decode()
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "recneg train: interrupted; nothing written"
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ 9. ids are read as written
def test_csv_ids_are_strings_unless_asked(tmp_path, capsys):
    rows = []
    for u in range(40):
        for k in range(6):
            rows.append((f"{u:03d}", f"{(u + k) % 20:05d}" if k % 2 else str((u + k) % 20)))
    csv = tmp_path / "ids.csv"
    pd.DataFrame(rows, columns=["user", "item"]).to_csv(csv, index=False)
    assert run_cli(train_args(csv, tmp_path / "s"), capsys)[0] == 0
    from recneg.data import Interactions

    tr = Interactions.load(tmp_path / "s" / "train.npz")
    te = Interactions.load(tmp_path / "s" / "test.npz")
    items = {str(x) for x in tr.item_ids}
    assert "00007" in items and "7" in items and len(items) == 40  # "00007" and "7" stay two items
    assert "000" in {str(x) for x in te.user_ids}
    assert run_cli(train_args(csv, tmp_path / "i", "--id-type", "infer"), capsys)[0] == 0
    assert Interactions.load(tmp_path / "i" / "train.npz").n_items == 20  # pandas typing merges them


def test_evaluate_external_test_reads_ids_like_training(tmp_path, capsys):
    rows = [(f"u{u}", f"{(u * 3 + k) % 30:04d}") for u in range(50) for k in range(8)]
    df = pd.DataFrame(rows, columns=["user", "item"])
    df.iloc[::4].to_csv(tmp_path / "test.csv", index=False)
    df.drop(df.index[::4]).to_csv(tmp_path / "train.csv", index=False)
    assert run_cli(["-q", "train", "mf", "--csv", tmp_path / "train.csv", "--split", "none", "--factors", "4",
                    "--epochs", "1", "--out", tmp_path / "m"], capsys)[0] == 0
    rc, out, err = run_cli(["evaluate", tmp_path / "m", "--test", tmp_path / "test.csv"], capsys)
    assert rc == 0, err
    assert "users evaluated: 50" in out and "unknown" not in err


# ------------------------------------------------------------------ 11-14: the front door
def test_lab_prints_progress_table_and_paths(events, tmp_path, capsys):
    out = tmp_path / "lab"
    rc, so, se = run_cli(["lab", "--csv", events, "--alphas", "0", "1", "--ks", "2", "--epochs", "2", "--factors", "4",
                          "--dns", "0", "--no-in-batch", "--exclusion", "on", "--no-plot", "--out", out], capsys)
    assert rc == 0, se
    progress = [l for l in se.splitlines() if l.startswith("lab run ")]
    # alpha 0 and 1 at k=2 (stage 2 repeats one of them), then stage 6: alpha scheduled, k scheduled
    assert len(progress) == 4 and "recall@20" in progress[0]
    assert sum("[6: schedule]" in l for l in progress) == 2 and any("k=1→4" in l for l in progress)
    assert "lab: refitting the best" in se
    assert "**Recommended:**" in so and "| strategy |" in so
    assert f"wrote {out}/" in so and "lab.csv" in so and "best.json" in so
    rc, so, se = run_cli(["-q", "lab", "--csv", events, "--alphas", "0", "--ks", "2", "--epochs", "2", "--factors", "4",
                          "--dns", "0", "--no-in-batch", "--no-schedules", "--exclusion", "on", "--no-plot", "--budget", "0.001",
                          "--out", out], capsys)
    assert rc == 0 and "lab run" not in se and "**Recommended:**" in so  # -q: no progress; budget: the first run runs


@pytest.mark.parametrize("argv,needle", [
    (["lab", "--synthetic", "--budget", "0", "--out", "L"], "--budget: expected a number > 0"),
    (["lab", "--synthetic", "--model", "item2vec", "--loss", "softmax", "--out", "L"], "--loss softmax applies to mf"),
    (["similar", "M", "1", "-n", "-3"], "argument -n: expected a positive integer, got '-3'"),
    (["similar", "M", "1", "-n", "0"], "argument -n: expected a positive integer, got '0'"),
])
def test_front_door_errors(argv, needle, model_dir, tmp_path, capsys):
    argv = [str(model_dir) if a == "M" else str(tmp_path / a) if a == "L" else a for a in argv]
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2 and needle in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_every_option_has_help():
    missing = []
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for a in p._actions:
            if not isinstance(a, argparse._HelpAction) and not a.help:
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}")
    assert missing == []


def test_version_module_entry_and_flags_after_the_subcommand(model_dir, capsys):
    from recneg import __version__

    rc, out, _ = run_cli(["--version"], capsys)
    assert rc == 0 and out.strip() == f"recneg {__version__}"
    r = subprocess.run([sys.executable, "-m", "recneg", "similar", str(model_dir), "3", "-n", "2", "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2
    args = build_parser().parse_args(["train", "mf", "--synthetic", "--out", "x", "-v", "-q"])
    assert args.verbose and args.quiet
    args = build_parser().parse_args(["-v", "train", "mf", "--synthetic", "--out", "x"])
    assert args.verbose and not args.quiet


def test_options_another_model_ignores_are_refused(events, tmp_path, capsys):
    rc, _, err = run_cli(["train", "item2vec", "--csv", events, "--batching", "users", "--temperature", "0.1",
                          "--out", tmp_path / "m"], capsys)
    assert rc == 2 and "--batching, --temperature apply to mf, not item2vec" in one_error_line(err)
    rc, _, err = run_cli(train_args(events, tmp_path / "m", "--window", "3"), capsys)
    assert rc == 2 and "--window applies to item2vec and word2vec, not mf" in one_error_line(err)


# ------------------------------------------------------------------ 15. messages name the option and the file
def test_messages_name_the_option_and_the_file(events, model_dir, tmp_path, capsys):
    rc, _, err = run_cli(train_args(events, tmp_path / "m", "--split", "temporal"), capsys)
    assert rc == 2 and "--split temporal needs timestamps: give --time-col" in one_error_line(err)
    w = tmp_path / "w.csv"
    pd.DataFrame({"user": [1, 2, 3], "item": [1, 2, 3], "w": [0, 0, 0]}).to_csv(w, index=False)
    rc, _, err = run_cli(train_args(w, tmp_path / "m", "--weight-col", "w"), capsys)
    assert rc == 2 and "--weight-col 'w': every weight" in one_error_line(err) and str(w) in err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    rc, _, err = run_cli(train_args(empty, tmp_path / "m"), capsys)
    assert rc == 2 and f"--csv {empty}: cannot read it" in one_error_line(err)
    rc, _, err = run_cli(["evaluate", model_dir, "--test", empty], capsys)
    assert rc == 2 and f"--test {empty}: cannot read it" in one_error_line(err)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "meta.json").write_text((model_dir / "meta.json").read_text()[:20])
    rc, _, err = run_cli(["evaluate", broken], capsys)
    assert rc == 2 and f"{broken / 'meta.json'} is corrupt" in one_error_line(err)
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ 20, 21
def test_model_folder_honours_the_umask(events, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert run_cli(train_args(events, tmp_path / "m", "--plot"), capsys)[0] == 0
    finally:
        os.umask(old)
    m = tmp_path / "m"
    assert (m.stat().st_mode & 0o777) == 0o755
    for f in m.iterdir():
        assert (f.stat().st_mode & 0o777) == 0o644, f.name


def test_parquet_input_and_the_missing_pyarrow_message(events, tmp_path, capsys, monkeypatch):
    pq = tmp_path / "events.parquet"
    try:
        pd.read_csv(events).to_parquet(pq)
    except ImportError:
        pq = None
    if pq is not None:
        assert run_cli(train_args(pq, tmp_path / "m"), capsys)[0] == 0
    else:
        pq = tmp_path / "events.parquet"
        pq.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    rc, _, err = run_cli(train_args(pq, tmp_path / "m2"), capsys)
    assert rc == 2 and "pip install 'recneg[parquet]'" in one_error_line(err)


# ------------------------------------------------------------------ the bad-inputs table
def _write_inputs(d: Path, events: Path, model_dir: Path) -> None:
    import shutil

    (d / "events.csv").write_bytes(events.read_bytes())
    shutil.copytree(model_dir, d / "model")
    trunc = d / "m_trunc"
    shutil.copytree(model_dir, trunc)
    raw = (model_dir / "model.npz").read_bytes()
    (trunc / "model.npz").write_bytes(raw[: len(raw) // 2])
    flipped = d / "m_crc"
    shutil.copytree(model_dir, flipped)
    raw = bytearray((model_dir / "train.npz").read_bytes())
    raw[1000] ^= 0xFF  # inside data.npy, past its zip and npy headers
    (flipped / "train.npz").write_bytes(bytes(raw))
    with zipfile.ZipFile(d / "ml-100k.zip", "w") as z:
        z.writestr("ml-100k/u.data", "1\t2\t3\t4\n" * 200)
    with gzip.open(d / "full.gz", "wt") as f:
        f.write("the quick brown fox jumps over the lazy dog\n" * 2000)
    (d / "trunc.gz").write_bytes((d / "full.gz").read_bytes()[:300])
    (d / "plain.gz").write_text("not gzip at all\n")
    (d / "user_file.txt").write_text("precious")
    (d / "empty.txt").write_text("")
    (d / "model.csv").write_bytes((model_dir / "model.npz").read_bytes())
    from recneg.models.keyedvectors import KeyedVectors

    (d / "w2v").mkdir()
    KeyedVectors(np.eye(3, dtype=np.float32), ["a", "b", "c"]).save(d / "w2v" / "vectors.npz")
    (d / "w2v" / "meta.json").write_text('{"kind": "word2vec"}')


BAD_INPUTS = [
    (["train", "mf", "--csv", "events.csv", "--out", "user_file.txt"], "is a file"),
    (["train", "mf", "--csv", "events.csv", "--out", "."], "not a recneg model folder"),
    (["train", "mf", "--csv", "events.csv", "--out", ""], "--out: empty path"),
    (["train", "mf", "--csv", "events.csv", "--device", "cuda:7", "--out", "new"], "--device"),
    (["train", "mf", "--csv", "events.csv", "--user-col", "nope", "--out", "new"], "--user-col 'nope'"),
    (["train", "mf", "--csv", "missing.csv", "--out", "new"], "no such file"),
    (["train", "mf", "--csv", "model.csv", "--out", "new"], "not a text CSV file"),
    (["train", "mf", "--csv", "ml-100k.zip", "--out", "new"], "--user-col 'user' is not a column"),
    (["train", "mf", "--csv", "events.csv", "--lr", "1e6", "--out", "new"], "diverged at epoch"),
    (["train", "word2vec", "--corpus", "ml-100k.zip", "--out", "new"], "zip archive"),
    (["train", "word2vec", "--corpus", "trunc.gz", "--out", "new"], "corrupt or truncated"),
    (["train", "word2vec", "--corpus", "plain.gz", "--out", "new"], "not gzip-compressed"),
    (["train", "word2vec", "--corpus", "empty.txt", "--out", "new"], "empty.txt"),
    (["evaluate", "w2v", "--analogies", "trunc.gz"], "corrupt or truncated"),
    (["train", "mf", "--csv", "events.csv", "--split", "leave-last-out", "--out", "new"], "--time-col"),
    (["train", "mf", "--csv", "events.csv", "--test-fraction", "1.5", "--out", "new"], "--test-fraction"),
    (["train", "mf", "--csv", "events.csv", "--factors", "0", "--out", "new"], "--factors"),
    (["train", "mf", "--csv", "events.csv", "--lr", "nan", "--out", "new"], "--lr"),
    (["train", "mf", "--csv", "events.csv", "--corpus", "full.gz", "--out", "new"], "--corpus is word2vec's input"),
    (["train", "item2vec", "--csv", "events.csv", "--loss", "softmax", "--out", "new"], "--loss softmax applies to mf"),
    (["train", "word2vec", "--corpus", "missing.txt", "--out", "new"], "no such file"),
    (["evaluate", "m_trunc"], "m_trunc"),
    (["evaluate", "m_crc"], "m_crc"),
    (["evaluate", "user_file.txt"], "not a recneg model folder"),
    (["evaluate", "model", "--json", "user_file.txt"], "not written by `recneg evaluate`"),
    (["evaluate", "model", "--json", "model"], "is a folder"),
    (["evaluate", "model", "--test", "missing.csv"], "no such file"),
    (["evaluate", "model", "--k", "0"], "--k"),
    (["evaluate", "model", "--analogies", "missing.txt"], "--analogies"),
    (["similar", "model", "no-such-item"], "not in the model's vocabulary"),
    (["similar", "model", "1", "-n", "0"], "-n"),
    (["similar", "m_trunc", "1"], "m_trunc"),
    (["lab", "--csv", "events.csv", "--out", "user_file.txt"], "is a file"),
    (["lab", "--csv", "events.csv", "--budget", "-1", "--out", "new"], "--budget"),
    (["lab", "--csv", "events.csv", "--model", "item2vec", "--loss", "ccl", "--out", "new"], "--loss"),
    (["lab", "--csv", "events.csv", "--out", "model"], "model folder, not a lab folder"),
    (["demo", "--users", "0"], "--users"),
    (["train", "mf", "--csv", "events.csv", "--bogus", "--out", "new"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv,needle", BAD_INPUTS, ids=[" ".join(a[:2] + a[-2:]) for a, _ in BAD_INPUTS])
def test_bad_inputs_table(argv, needle, events, model_dir, tmp_path, capsys, monkeypatch):
    """Each bad input: non-zero exit, exactly one line on stderr, nothing written or changed."""
    _write_inputs(tmp_path, events, model_dir)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    rc, out, err = run_cli(["-q"] + argv, capsys)
    assert rc != 0
    line = one_error_line(err)
    assert re.match(rf"recneg( {argv[0]})?: error: ", line) and needle in line, line
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ 10. one long id through the command line
def test_one_long_id_keeps_the_model_folder_small(tmp_path, capsys):
    rows = [(f"u{u}", f"sku{(u + k) % 300}") for u in range(300) for k in range(5)]
    rows[0] = ("u0", "x" * 50_000)
    csv = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["user", "item"]).to_csv(csv, index=False)
    assert run_cli(train_args(csv, tmp_path / "m"), capsys)[0] == 0
    assert (tmp_path / "m" / "train.npz").stat().st_size < 500_000  # fixed-width ids: 301 x 200,000 bytes = 60 MB
    rc, out, err = run_cli(["similar", tmp_path / "m", "sku1", "-n", "3"], capsys)
    assert rc == 0 and len(out.strip().splitlines()) == 3, err


def test_compressed_csv_is_read_by_its_suffix(events, tmp_path, capsys):
    gz = tmp_path / "events.csv.gz"
    gz.write_bytes(gzip.compress(events.read_bytes()))
    rc, out, err = run_cli(train_args(gz, tmp_path / "m"), capsys)
    assert rc == 0, err
    assert f"csv:{gz}" in out


def test_ctrl_c_inside_a_progress_bars_set_up_still_ends_on_a_clean_line(events, tmp_path, capsys, monkeypatch):
    """A Ctrl-C that lands while tqdm is setting up a bar (printed, but not yet closable) must not glue the bar
    to the error line: the CLI blanks the line first (seen on a loaded CI machine)."""
    from tqdm import tqdm

    from recneg.models.mf import MatrixFactorization

    def interrupted(self, *a, **k):
        bar = tqdm(total=10, desc="mf-bpr", leave=False)  # prints to the captured stderr
        del bar.last_print_t  # as when the interrupt arrives inside tqdm.__init__
        raise KeyboardInterrupt

    monkeypatch.setattr(MatrixFactorization, "fit", interrupted)
    rc, _, err = run_cli(train_args(events, tmp_path / "m"), capsys)
    assert rc == 130 and "mf-bpr" in err
    assert err.strip().splitlines()[-1] == "recneg train: interrupted; nothing written"
