"""load_lastfm: LightGCN-PyTorch's Last.fm files (user<TAB>artist<TAB>plays, CRLF, 1-based, float notation)."""
from __future__ import annotations

import numpy as np
import pytest

from recneg.datasets import load_lastfm
from recneg.datasets.lastfm import read_lastfm_file

TRAIN = "7\t12\t3\r\n2\t5\t1.5e+03\r\n7\t5\t10\r\n2\t12\t3.2466e+05\r\n10\t3\t1\r\n"
TEST = "2\t3\t4\r\n7\t40\t2\r\n11\t12\t1.0\r\n"  # artist 40 and user 11 are absent from train (cold)


def _folder(tmp_path, train=TRAIN, test=TEST):
    (tmp_path / "data1.txt").write_bytes(train.encode())
    (tmp_path / "test1.txt").write_bytes(test.encode())
    return tmp_path


def test_reads_counts_ids_and_one_index_space(tmp_path):
    train, test = load_lastfm(_folder(tmp_path))
    assert train.shape == test.shape == (4, 4)
    np.testing.assert_array_equal(train.user_ids, [2, 7, 10, 11])  # original ids, sorted, union of both files
    np.testing.assert_array_equal(train.item_ids, [3, 5, 12, 40])
    np.testing.assert_array_equal(test.item_ids, train.item_ids)
    got = {(int(train.user_ids[u]), int(train.item_ids[i])): float(v) for (u, i), v in train.csr.todok().items()}
    assert got == {(7, 12): 3.0, (2, 5): 1500.0, (7, 5): 10.0, (2, 12): 324660.0, (10, 3): 1.0}
    assert train.csr.dtype == np.float32 and train.csr.has_sorted_indices
    tgot = {(int(test.user_ids[u]), int(test.item_ids[i])): float(v) for (u, i), v in test.csr.todok().items()}
    assert tgot == {(2, 3): 4.0, (7, 40): 2.0, (11, 12): 1.0}
    assert train.csr[3].nnz == 0 and train.csr[:, 3].nnz == 0  # cold user 11 and artist 40 have indices


def test_unix_line_endings_blank_lines_and_duplicates(tmp_path):
    folder = _folder(tmp_path, train="1\t1\t2\n\n1\t1\t3\n2\t2\t1\n", test="2\t1\t1\n")
    train, _ = load_lastfm(folder)
    assert train.csr[0, 0] == 5.0 and train.nnz == 2  # a pair listed twice: its plays summed


@pytest.mark.parametrize("line,msg", [
    ("3\t4", "line 2: expected 3 tab-separated fields"),
    ("3 4 5", "line 2: expected 3 tab-separated fields"),
    ("x\t4\t5", "line 2: user id 'x' is not an integer"),
    ("3\t4.5\t5", "line 2: artist id '4.5' is not an integer"),
    ("3\t4\tmany", "line 2: play count 'many' is not a number"),
    ("3\t4\tnan", "line 2: play count 'nan' is not a finite number >= 0"),
    ("3\t4\t-2", "line 2: play count '-2' is not a finite number >= 0"),
    ("-3\t4\t2", "line 2: user id '-3' is not a non-negative integer"),
])
def test_bad_line_names_the_file_and_line(tmp_path, line, msg):
    folder = _folder(tmp_path, train=f"1\t1\t1\r\n{line}\r\n2\t2\t2\r\n")
    with pytest.raises(ValueError, match=msg) as e:
        load_lastfm(folder)
    assert "data1.txt" in str(e.value) and "\n" not in str(e.value)


def test_missing_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_lastfm(tmp_path / "nope")
    (tmp_path / "data1.txt").write_text("1\t1\t1\n")
    with pytest.raises(FileNotFoundError, match="test1.txt"):
        load_lastfm(tmp_path)
    (tmp_path / "empty.txt").write_text("\r\n\r\n")
    with pytest.raises(ValueError, match="empty.txt is empty"):
        read_lastfm_file(tmp_path / "empty.txt")


@pytest.mark.slow
def test_real_files_match_the_data_readme(shared_data):
    folder = shared_data / "lightgcn" / "lastfm"
    if not folder.is_dir():
        pytest.skip("no Last.fm copy")
    train, test = load_lastfm(folder)
    assert (train.n_users, train.n_items, train.nnz, test.nnz) == (1880, 4489, 42135, 10533)
    assert train.csr.multiply(test.csr).nnz == 0
    assert (train.csr.getnnz(axis=1) == 0).sum() == 2 and (train.csr.getnnz(axis=0) == 0).sum() == 13
