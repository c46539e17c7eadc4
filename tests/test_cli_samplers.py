"""The command line builds its models through recneg.models.factory: schedules, WARP, mixed, item2vec DNS."""
import pytest

from recneg.cli import main
from recneg.models.mf import MatrixFactorization
from recneg.sampling import DynamicNegativeSampler, LinearSchedule, MixedSampler, NegativeSampler, WarpSampler


def run(argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = int(e.code)
    return rc, capsys.readouterr()


def test_schedules_reach_the_model_and_its_saved_sampler(tmp_path, capsys):
    out = tmp_path / "m"
    rc, cap = run(["-q", "train", "mf", "--synthetic", "--factors", "4", "--epochs", "3", "--negatives", "1:3",
                   "--ns-exponent", "1:0", "--no-eval", "--out", out], capsys)
    assert rc == 0, cap.err
    m = MatrixFactorization.load(out / "model.npz")
    s = m.sampler
    assert isinstance(s, NegativeSampler) and isinstance(s.k_schedule, LinearSchedule)
    assert [s.k_schedule.int_value(e) for e in range(3)] == [1, 2, 3]
    assert [s.alpha_schedule(e) for e in range(3)] == [1.0, 0.5, 0.0]


@pytest.mark.parametrize("argv,kind,backend", [
    (["mf", "--loss", "warp"], WarpSampler, "numba"),
    (["mf", "--loss", "softmax", "--mixed", "--negatives", "16"], MixedSampler, "torch"),
    (["mf", "--hard", "dns:4", "--dns-pool", "8"], DynamicNegativeSampler, "numba"),
])
def test_sampler_options_build_the_matching_sampler(argv, kind, backend, tmp_path, capsys):
    out = tmp_path / "m"
    rc, cap = run(["-q", "train", *argv, "--synthetic", "--factors", "4", "--epochs", "2", "--no-eval", "--out", out],
                  capsys)
    assert rc == 0, cap.err
    m = MatrixFactorization.load(out / "model.npz")
    assert isinstance(m.sampler, kind) and m.backend == backend


def test_item2vec_takes_dns_and_exclusion(tmp_path, capsys):
    from recneg.models.item2vec import Item2Vec

    out = tmp_path / "i"
    rc, cap = run(["-q", "train", "item2vec", "--synthetic", "--factors", "4", "--epochs", "2", "--hard", "dns:3",
                   "--no-exclude-seen", "--no-eval", "--out", out], capsys)
    assert rc == 0, cap.err
    m = Item2Vec.load(out / "model.npz")
    assert isinstance(m.sampler, DynamicNegativeSampler) and m.sampler.m == 3 and not m.sampler.base.exclude_seen


@pytest.mark.parametrize("argv,needle", [
    (["mf", "--negatives", "a:b"], "--negatives must be a number or START:END"),
    (["mf", "--ns-exponent", "1:0:cubic"], "--ns-exponent must be a number or START:END"),
    (["mf", "--loss", "bpr", "--temperature", "0.1"], "--temperature applies to --loss softmax"),
    (["mf", "--in-batch", "--mixed", "--loss", "softmax"], "give one of --in-batch, --mixed"),
    (["word2vec", "--corpus", "C", "--negatives", "1:5"], "word2vec takes gensim's fixed --negatives"),
])
def test_bad_sampler_options_are_one_line(argv, needle, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c d e f g\n" * 50)
    argv = [str(corpus) if a == "C" else a for a in argv]
    data = [] if argv[0] == "word2vec" else ["--synthetic"]
    rc, cap = run(["-q", "train", *argv, *data, "--epochs", "2", "--out", tmp_path / "m"], capsys)
    lines = cap.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and needle in lines[0], cap.err
    assert not (tmp_path / "m").exists()


def test_ials_options_reach_the_model_and_refuse_other_losses(tmp_path, capsys):
    """--unobserved-ratio / --nu ask for iALS (with or without --loss ials), --no-exclude-seen then makes every
    item a negative; with a sampled loss or a sampler option they are refused in one line."""
    out = tmp_path / "m"
    rc, cap = run(["-q", "train", "mf", "--synthetic", "--factors", "4", "--epochs", "2", "--unobserved-ratio", "6.25",
                   "--nu", "0", "--no-exclude-seen", "--reg", "0.5", "--no-eval", "--out", out], capsys)
    assert rc == 0, cap.err
    m = MatrixFactorization.load(out / "model.npz")
    assert m.backend == "als" and m.loss.unobserved_ratio == 6.25 and m.loss.nu == 0.0 and m.reg == 0.5
    assert m.sampler.exclude_seen is False and m.epochs == 2
    rc, cap = run(["-q", "train", "mf", "--synthetic", "--loss", "ials", "--factors", "4", "--no-eval",
                   "--out", tmp_path / "d"], capsys)
    m = MatrixFactorization.load(tmp_path / "d" / "model.npz")
    assert rc == 0 and m.sampler.exclude_seen is True and m.loss.unobserved_ratio == 10.0 and m.loss.nu == 1.0
    for argv, msg in ((["--loss", "bpr", "--nu", "1"], "--nu applies to --loss ials, not bpr"),
                      (["--unobserved-ratio", "5", "--negatives", "3"], "leave out --negatives"),
                      (["--loss", "ials", "--nu", "-1"], "nu must be")):
        rc, cap = run(["-q", "train", "mf", "--synthetic", *argv, "--out", tmp_path / "x"], capsys)
        assert rc == 2 and msg in cap.err and len(cap.err.strip().splitlines()) == 1, cap.err
        assert not (tmp_path / "x").exists()
