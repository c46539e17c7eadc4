"""Drive the command line through its entry function (and once through a subprocess)."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from recneg.cli import main
from recneg.datasets import make_synthetic


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    data = make_synthetic(n_users=300, n_items=150, n_clusters=5, interactions_per_user=15, seed=0)
    df = data.interactions.to_dataframe()
    df["user"] = "u" + df["user"].astype(str)
    df = df.rename(columns={"user": "uid", "item": "sku", "timestamp": "ts"})
    p = d / "events.csv"
    df.to_csv(p, index=False)
    return p


def test_help_has_examples(capsys):
    for cmd in ("demo", "train", "evaluate", "similar", "lab"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "Example" in out, cmd


def test_train_evaluate_similar_roundtrip(csv_path, tmp_path, capsys):
    out = tmp_path / "bpr"
    rc = main(["-q", "train", "mf", "--csv", str(csv_path), "--user-col", "uid", "--item-col", "sku",
               "--factors", "16", "--epochs", "5", "--ns-exponent", "0.5", "--hard", "dns:4", "--dns-pool", "16",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert {"meta.json", "model.npz", "train.npz", "test.npz"} <= {p.name for p in out.iterdir()}
    assert not list(tmp_path.glob("*.tmp"))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "mf" and meta["params"]["ns_exponent"] == 0.5 and meta["params"]["dns_pool"] == 16
    capsys.readouterr()
    js = tmp_path / "m.json"
    assert main(["evaluate", str(out), "--k", "5", "10", "--json", str(js)]) == 0
    printed = capsys.readouterr().out
    m = json.loads(js.read_text())
    assert set(m) >= {"recall@5", "recall@10", "ndcg@10"} and 0 <= m["recall@10"] <= 1
    assert f"{m['recall@10']:.4f}" in printed
    assert main(["similar", str(out), "3", "-n", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(l.split()[-1] != "3" for l in lines)


def test_train_mf_ccl_user_batches_from_the_command_line(csv_path, tmp_path, capsys):
    out = tmp_path / "ccl"
    rc = main(["-q", "train", "mf", "--csv", str(csv_path), "--user-col", "uid", "--item-col", "sku",
               "--factors", "8", "--epochs", "3", "--loss", "ccl", "--negatives", "all", "--batching", "users",
               "--batch-size", "32", "--lr", "0.01", "--init-std", "0.01", "--lr-decay", "linear", "--margin", "0.5",
               "--history-weight", "0.3", "--average-epochs", "2", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    params = json.loads((out / "meta.json").read_text())["params"]
    assert params["negatives"] == "all" and params["batching"] == "users"
    from recneg.models.mf import MatrixFactorization, UserBatches
    from recneg.sampling import AllItems

    m = MatrixFactorization.load(out / "model.npz")
    assert isinstance(m.sampler, AllItems) and m.sampler.exclude_seen
    assert (m.batching, m.loss.name, m.loss.margin, m.init_std, m.lr_decay, m.history_weight, m.average_epochs) == (
        UserBatches(), "ccl", 0.5, 0.01, "linear", 0.3, 2)


def test_train_item2vec_writes_vectors(csv_path, tmp_path, capsys):
    out2 = tmp_path / "i2v"
    assert main(["-q", "train", "item2vec", "--csv", str(csv_path), "--user-col", "uid", "--item-col", "sku",
                 "--time-col", "ts", "--split", "leave-last-out", "--factors", "8", "--epochs", "2",
                 "--out", str(out2)]) == 0
    header = (out2 / "vectors.txt").read_text().splitlines()[0].split()
    assert int(header[1]) == 8


def test_retrain_replaces_folder_atomically(csv_path, tmp_path):
    out = tmp_path / "m"
    args = ["-q", "train", "mf", "--csv", str(csv_path), "--user-col", "uid", "--item-col", "sku", "--factors", "4",
            "--epochs", "1", "--out", str(out), "--no-eval"]
    assert main(args) == 0
    assert main(args[:-3] + ["--factors", "6", "--out", str(out), "--no-eval"]) == 0
    assert json.loads((out / "meta.json").read_text())["params"]["factors"] == 6
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "mf", "--csv", "/nonexistent.csv", "--out", "x"], "no such file"),
        (["train", "mf", "--csv", "{csv}", "--user-col", "nope", "--out", "x"], "--user-col 'nope' is not a column"),
        (["train", "mf", "--out", "x"], "give exactly one input"),
        (["train", "mf", "--csv", "{csv}", "--user-col", "uid", "--item-col", "sku", "--hard", "xyz", "--out", "x"], "--hard"),
        (["train", "word2vec", "--out", "x"], "--corpus"),
        (["evaluate", "/nonexistent-model"], "not a recneg model folder"),
        (["train", "mf", "--lightgcn", "/nonexistent", "--out", "x"], "not a folder"),
        (["train", "item2vec", "--csv", "{csv}", "--user-col", "uid", "--item-col", "sku", "--negatives", "all",
          "--out", "x"], "--negatives all apply to mf"),
        (["train", "mf", "--csv", "{csv}", "--user-col", "uid", "--item-col", "sku", "--batching", "users",
          "--out", "x"], "shared negatives"),
        (["train", "mf", "--csv", "{csv}", "--user-col", "uid", "--item-col", "sku", "--dns-pool", "16",
          "--out", "x"], "--hard dns:M"),
    ],
)
def test_bad_inputs_get_one_line(argv, needle, csv_path, capsys, tmp_path):
    argv = [a.replace("{csv}", str(csv_path)) for a in argv]
    argv = [str(tmp_path / "x") if a == "x" else a for a in argv]
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err


def test_bad_negatives_value_is_a_one_line_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "mf", "--synthetic", "--negatives", "some", "--out", "x"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "positive integer or 'all'" in err


def test_unknown_option_is_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "mf", "--out", "x", "--bogus"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and len(err.strip().splitlines()) == 1


def test_demo_small_beats_popularity():
    from recneg.demo import run_demo

    lines = []
    r = run_demo(n_users=600, n_items=300, n_clusters=6, seed=0, progress=False, bpr_epochs=15, i2v_epochs=5,
                 echo=lines.append)
    pop = r.metrics["most popular"]["recall@20"]
    assert r.metrics["BPR (uniform, exclusion)"]["recall@20"] > 1.5 * pop
    assert r.metrics["item2vec (uniform negatives)"]["recall@20"] > 1.5 * pop
    assert r.purity["item2vec"] > 3 * r.purity["random"]
    assert any(l.startswith("| BPR") for l in lines)


def test_lab_tiny_writes_table_and_png(csv_path, tmp_path):
    out = tmp_path / "lab"
    rc = main(["-q", "lab", "--csv", str(csv_path), "--user-col", "uid", "--item-col", "sku", "--alphas", "0", "1",
               "--ks", "1", "5", "--epochs", "3", "--factors", "8", "--dns", "4", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out / "lab.csv")
    assert {"alpha", "k", "exclude_seen", "recall@20", "ndcg@20", "train_seconds"} <= set(df.columns)
    assert (df["status"] == "done").sum() >= 6
    assert set(df["alpha"].dropna()) == {0.0, 1.0}
    md = (out / "lab.md").read_text()
    assert "**Recommended:**" in md
    png = (out / "lab.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    best = json.loads((out / "best.json").read_text())
    assert 0 <= best["test"]["recall@20"] <= 1


def test_console_script_subprocess():
    r = subprocess.run([sys.executable, "-m", "recneg.cli", "similar", "/nonexistent", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("recneg similar: error:")


def test_train_plot_writes_pngs(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    out = tmp_path / "m"
    assert main(["-q", "train", "mf", "--synthetic", "--factors", "8", "--epochs", "3", "--plot", "--no-eval",
                 "--out", str(out)]) == 0
    for name in ("training.png", "sampler.png"):
        img = plt.imread(out / name)  # opens and decodes the PNG
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
        assert img[..., :3].std() > 0.05  # not a blank canvas
