import gzip
import hashlib
import zipfile

import numpy as np
import pytest

from recneg.data import Interactions
from recneg.datasets import load_lightgcn, load_movielens, load_text_corpus, make_synthetic
from recneg.datasets import movielens as ml

U_DATA = "1\t10\t4\t100\n1\t20\t5\t90\n2\t10\t3\t50\n3\t30\t1\t70\n2\t30\t2\t60\n"


def test_movielens_local_folder_and_zip(tmp_path):
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "u.data").write_text(U_DATA)
    for p in (d, tmp_path):  # flat folder, or its parent with the archive's subfolder
        x = load_movielens("100k", path=p)
        assert x.shape == (3, 3) and x.nnz == 5
        assert list(x.item_ids) == [10, 20, 30]
        assert x.csr[x.user_index(1), x.item_index(20)] == 5.0
    z = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(d / "u.data", "ml-100k/u.data")
    y = load_movielens("100k", path=z, min_rating=3)
    assert y.nnz == 3
    assert y.timestamps is not None


def test_movielens_other_formats(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::10::4::100\n2::10::3::50\n")
    assert load_movielens("1m", path=tmp_path).nnz == 2
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.5,100\n2,11,3.0,50\n1,11,1.0,20\n")
    x = load_movielens("latest-small", path=tmp_path)
    assert x.nnz == 3 and x.csr.max() == 4.5


def test_movielens_download_checks_hash(tmp_path, monkeypatch):
    """The download path goes through pooch with the manifest's checksum and a cache dir."""
    src = tmp_path / "src"
    src.mkdir()
    z = src / "ml-100k.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("ml-100k/u.data", U_DATA)
    digest = hashlib.sha256(z.read_bytes()).hexdigest()
    import pooch

    real_retrieve = pooch.retrieve
    calls = []

    def fake_retrieve(url, known_hash, path, progressbar=False):
        calls.append((url, known_hash, path))

        def copy_downloader(u, output_file, p):
            with open(output_file, "wb") as out:
                out.write(z.read_bytes())

        return real_retrieve(url, known_hash=known_hash, path=path, downloader=copy_downloader, progressbar=False)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    spec = ml.manifest()
    spec["movielens"]["100k"]["hash"] = f"sha256:{digest}"
    monkeypatch.setattr(ml, "manifest", lambda: spec)
    cache = tmp_path / "cache"
    x = load_movielens("100k", data_home=cache)
    assert x.nnz == 5
    assert calls[0][0].startswith("https://files.grouplens.org/")
    assert list(cache.iterdir())  # cached
    spec["movielens"]["100k"]["hash"] = "sha256:" + "0" * 64
    with pytest.raises(ValueError, match="(?i)hash"):
        load_movielens("100k", data_home=tmp_path / "cache2")
    monkeypatch.setenv("RECNEG_DATA", str(tmp_path / "env"))
    assert ml.cache_dir() == tmp_path / "env"


def test_movielens_errors(tmp_path):
    with pytest.raises(ValueError, match="variant"):
        load_movielens("7k", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="u.data"):
        load_movielens("100k", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_movielens("100k", download=False)
    bad = tmp_path / "ml.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="zip"):
        load_movielens("100k", path=bad)
    (tmp_path / "u.data").write_text("1\t10\t4\n1\tabc\t5\t9\n")
    with pytest.raises(ValueError, match="corrupt|missing"):
        load_movielens("100k", path=tmp_path)


def test_lightgcn_reader(tmp_path):
    (tmp_path / "train.txt").write_text("0 1 2\n1 0\n2 3 1 0\n")
    (tmp_path / "test.txt").write_text("0 3\n1 4\n2\n")
    tr, te = load_lightgcn(tmp_path)
    assert tr.shape == te.shape == (3, 5)
    assert tr.nnz == 6 and te.nnz == 2
    np.testing.assert_array_equal(tr.user_items(2), [0, 1, 3])
    np.testing.assert_array_equal(te.user_items(1), [4])
    (tmp_path / "train.txt").write_text("0 1 2\n1 x\n")
    with pytest.raises(ValueError, match="line 2"):
        load_lightgcn(tmp_path)
    (tmp_path / "train.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_lightgcn(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_lightgcn(tmp_path / "nope")


def test_text_corpus_streams_and_chunks(tmp_path):
    p = tmp_path / "c.txt"
    words = [f"w{k % 7}" for k in range(25)]
    p.write_text(" ".join(words))
    c = load_text_corpus(p, max_sentence_length=10)
    c.chunk_bytes = 16  # force many reads with tokens cut across chunk borders
    sents = list(c)
    assert [len(s) for s in sents] == [10, 10, 5]
    assert sum(sents, []) == words
    assert list(c) == sents  # restartable
    g = tmp_path / "c.txt.gz"
    with gzip.open(g, "wt") as f:
        f.write("a b c\nd e\n\nf")
    assert list(load_text_corpus(g)) == [["a", "b", "c"], ["d", "e"], ["f"]]
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_text_corpus(tmp_path / "empty.txt")
    trunc = tmp_path / "t.gz"
    trunc.write_bytes(g.read_bytes()[:-8] + b"")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        list(load_text_corpus(trunc))


def test_synthetic_is_seeded_and_clustered():
    a = make_synthetic(n_users=300, n_items=200, n_clusters=5, interactions_per_user=15, noise=0.1, seed=1)
    b = make_synthetic(n_users=300, n_items=200, n_clusters=5, interactions_per_user=15, noise=0.1, seed=1)
    assert (a.interactions.csr != b.interactions.csr).nnz == 0
    x = a.interactions
    same = a.item_cluster[x.indices] == a.user_cluster[x.user_index_of_nnz]
    assert 0.8 < same.mean() < 0.97  # ~ 1 - noise, plus noise hits that land home
    counts = x.item_counts
    assert np.corrcoef(counts, a.item_popularity)[0, 1] > 0.5
    with pytest.raises(ValueError, match="n_clusters"):
        make_synthetic(n_items=3, n_clusters=5)


@pytest.mark.slow
def test_gowalla_counts(shared_data):
    tr, te = load_lightgcn(shared_data / "lightgcn" / "gowalla")
    assert tr.shape == (29858, 40981)
    assert tr.nnz == 810_128 and te.nnz == 217_242
    assert (tr.csr.multiply(te.csr)).nnz == 0


@pytest.mark.slow
def test_movielens_100k_counts(shared_data):
    x = load_movielens("100k", path=shared_data / "movielens" / "ml-100k")
    assert isinstance(x, Interactions)
    assert x.nnz == 100_000 and x.n_users == 943 and x.n_items == 1682
    assert x.csr.sum() == 1 * 6110 + 2 * 11370 + 3 * 27145 + 4 * 34174 + 5 * 21201
