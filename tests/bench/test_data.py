"""LIBSVM loader: svmlight parsing (plain, .xz, .bz2), the .npz cache, search paths."""
import bz2
import lzma

import numpy as np
import pytest

from solvelab.bench import data as bd

TEXT = b"1 1:0.5 3:2\n-1 2:1.5\n+1 1:1 2:1 3:1 \n"
DENSE = np.array([[0.5, 0, 2], [0, 1.5, 0], [1, 1, 1]])


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SOLVELAB_DATA", raising=False)
    monkeypatch.delenv("SOLVELAB_CACHE", raising=False)


@pytest.mark.parametrize("suffix,opener", [("", open), (".xz", lzma.open), (".bz2", bz2.open)])
def test_parses_a_small_svmlight_file(tmp_path, suffix, opener):
    path = tmp_path / f"tiny{suffix}"
    with opener(path, "wb") as fh:
        fh.write(TEXT)
    X, y = bd.load_libsvm(path)
    assert X.shape == (3, 3) and np.array_equal(X.toarray(), DENSE)
    assert np.array_equal(y, [1, -1, 1])
    cached = list((tmp_path / "cache" / "solvelab" / "libsvm").glob("tiny-*.npz"))
    assert len(cached) == 1
    X2, y2 = bd.load_libsvm(path)          # from the cache
    assert np.array_equal(X2.toarray(), DENSE) and np.array_equal(y2, y)


def test_search_by_name_and_missing_file_message(tmp_path, monkeypatch):
    (tmp_path / "d" / "binary").mkdir(parents=True)
    with lzma.open(tmp_path / "d" / "binary" / "tiny.xz", "wb") as fh:
        fh.write(TEXT)
    X, _ = bd.load_libsvm("tiny", data_dir=tmp_path / "d")
    assert X.shape == (3, 3)
    monkeypatch.setenv("SOLVELAB_DATA", str(tmp_path / "d"))
    assert bd.find_libsvm("tiny").name == "tiny.xz"
    with pytest.raises(bd.DataNotFoundError) as err:
        bd.find_libsvm("nope", data_dir=tmp_path / "elsewhere")
    msg = str(err.value)
    assert str(tmp_path / "elsewhere") in msg and str(tmp_path / "d") in msg and "libsvmtools" in msg


def test_binary_labels():
    assert np.array_equal(bd.binary_labels(np.array([1.0, 2.0, 2.0])), [-1, 1, 1])


A9A = bd.repo_data_dir() / "libsvm" / "binary" / "a9a.xz"


@pytest.mark.skipif(not A9A.is_file(), reason=f"shared LIBSVM data absent ({A9A} not found)")
def test_reads_a9a_from_shared_data():
    X, y = bd.load_libsvm("a9a")
    assert X.shape == (32561, 123) and X.nnz == 451592
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert int((y == 1).sum()) == 7841
