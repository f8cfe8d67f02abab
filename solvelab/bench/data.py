"""LIBSVM data: find svmlight files, parse them once, cache the arrays as .npz.

Where files are looked for, in order: ``--data-dir`` (``data_dir`` argument), the
``SOLVELAB_DATA`` environment variable (several directories separated by ``:``), and
``../shared/data`` next to this repository checkout (and next to the current
directory). In each directory the name is tried as given and under ``libsvm/``,
``binary/``, ``regression/`` (and ``libsvm/binary/``, ``libsvm/regression/``), plain or
compressed (``.xz``, ``.bz2``). Parsing uses scikit-learn's ``load_svmlight_file``; the
parsed CSR matrix and labels are cached under ``$SOLVELAB_CACHE/libsvm``, else
``$XDG_CACHE_HOME/solvelab/libsvm`` (``~/.cache/solvelab/libsvm``), keyed by the file's
path, size and mtime, so a changed file is parsed again. Nothing is written into the
repository or the data directory.
"""
from __future__ import annotations

import bz2
import hashlib
import lzma
import os
from pathlib import Path

import numpy as np

SOURCE_HINT = ("LIBSVM data sets come from https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/ "
               "(this checkout ships copies in ../shared/data/libsvm, see its MANIFEST.md); "
               "pass --data-dir DIR or set SOLVELAB_DATA=DIR")

_SUBDIRS = ("", "libsvm", "binary", "regression", "libsvm/binary", "libsvm/regression")
_SUFFIXES = ("", ".xz", ".bz2")


class DataNotFoundError(FileNotFoundError):
    """A data file is in none of the searched places; the message lists them."""


def repo_data_dir() -> Path:
    """``../shared/data`` relative to this repository checkout."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir).expanduser())
    env = os.environ.get("SOLVELAB_DATA")
    if env:
        dirs.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    dirs.append(repo_data_dir())
    here = Path.cwd().parent / "shared" / "data"   # ../shared/data from a checkout's root
    if here.resolve() != repo_data_dir().resolve():
        dirs.append(here)
    return dirs


def cache_dir() -> Path:
    if os.environ.get("SOLVELAB_CACHE"):
        return Path(os.environ["SOLVELAB_CACHE"]).expanduser() / "libsvm"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "solvelab" / "libsvm"


def find_libsvm(name: str, data_dir=None) -> Path:
    """The path of LIBSVM file ``name`` (e.g. 'a9a'), or a ``DataNotFoundError`` saying
    where it looked and where the data comes from."""
    looked = []
    for base in search_dirs(data_dir):
        for sub in _SUBDIRS:
            for suf in _SUFFIXES:
                p = (base / sub / f"{name}{suf}") if sub else (base / f"{name}{suf}")
                if p.is_file():
                    return p
        looked.append(str(base))
    raise DataNotFoundError(f"LIBSVM file {name!r} not found (tried {name}, {name}.xz, {name}.bz2 in "
                            f"{', '.join(looked)} and their libsvm/, binary/, regression/ "
                            f"subfolders). {SOURCE_HINT}")


def _open(path: Path):
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


def parse_svmlight(path, n_features: int | None = None):
    """(X as CSR float64, y) from an svmlight file, plain, .xz or .bz2 (no cache)."""
    from sklearn.datasets import load_svmlight_file
    path = Path(path)
    with _open(path) as fh:
        X, y = load_svmlight_file(fh, n_features=n_features, dtype=np.float64)
    return X.tocsr(), np.asarray(y, dtype=np.float64)


def load_libsvm(name_or_path, data_dir=None, n_features: int | None = None, cache: bool = True):
    """(X, y) of a LIBSVM data set given by name (searched, see the module doc) or path.

    The parsed arrays are cached as .npz in the user cache directory.
    """
    import scipy.sparse as sp
    p = Path(name_or_path)
    path = p if (p.is_file() and (p.is_absolute() or os.sep in str(name_or_path))) else find_libsvm(str(name_or_path), data_dir)
    path = path.resolve()
    st = path.stat()
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}|{n_features}".encode()).hexdigest()[:16]
    stem = path.name.split(".xz")[0].split(".bz2")[0]
    cfile = cache_dir() / f"{stem}-{key}.npz"
    if cache and cfile.is_file():
        try:
            with np.load(cfile) as z:
                X = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
                return X, z["y"].copy()
        except (OSError, ValueError, KeyError):
            pass  # a broken cache file is re-made below
    X, y = parse_svmlight(path, n_features=n_features)
    if cache:
        try:
            cfile.parent.mkdir(parents=True, exist_ok=True)
            tmp = cfile.with_name(cfile.name + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape), y=y)
            os.replace(tmp, cfile)
        except OSError:
            pass  # an unwritable cache only costs a re-parse
    return X, y


def binary_labels(y) -> np.ndarray:
    """Map two-class labels (e.g. 1/2 or 0/1) onto -1/+1 (the larger one is +1)."""
    vals = np.unique(y)
    if vals.size != 2:
        raise ValueError(f"expected two classes, found {vals.size}: {vals[:5]}")
    return np.where(y == vals[1], 1.0, -1.0)
