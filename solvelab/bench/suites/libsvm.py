"""The ``libsvm`` suite: Lasso and l1-logistic regression on LIBSVM data sets.

Files (those of ../shared/data/MANIFEST.md): binary a9a, a9a.t, mushrooms (labels 1/2
mapped to -1/+1), ijcnn1.tr_val, ijcnn1.t, madelon.t; regression abalone,
abalone_scale, housing_scale. For each binary set: Lasso on the ±1 labels and
l1-logistic regression; for each regression set: Lasso on the targets; each at
lam = lam_max / 10, / 100, / 1000 (instance names end in -r10, -r100, -r1000). Plus a
deterministic high-dimensional sparse instance: a9a with all pairwise products of its
(binary) features, ``PolynomialFeatures(degree=2, interaction_only=True,
include_bias=False)`` on the sparse matrix (32561 x 7626), for both families at
lam_max / 100.

Data are found through --data-dir, SOLVELAB_DATA or ../shared/data (see
``solvelab.bench.data``); a missing file makes its instances skip with the search
message. CVXPY (the ``cvxpy`` backend and the CVXPY peers) runs on the smaller
instances only (at most ``CVXPY_MAX_NNZ`` stored entries).
"""
from __future__ import annotations

import numpy as np

from ..data import DataNotFoundError, binary_labels, find_libsvm, load_libsvm
from ..models import lam_max_lasso, lam_max_logreg
from ..suite import Instance, Suite, SuiteError, register_suite

CVXPY_MAX_NNZ = 350_000
_TOO_BIG = (f"too large for the cvxpy backend here (more than {CVXPY_MAX_NNZ} stored entries; CVXPY's "
            "canonicalization is the bottleneck)")
RATIOS = (10, 100, 1000)

# name: (kind, rows, max index, nnz, n_features to force)
DATASETS = {
    "a9a": ("binary", 32561, 123, 451592, 123),
    "a9a.t": ("binary", 16281, 123, 225731, 123),
    "mushrooms": ("binary", 8124, 112, 170604, None),
    "ijcnn1.tr_val": ("binary", 49990, 22, 649870, None),
    "ijcnn1.t": ("binary", 91701, 22, 1192113, None),
    "madelon.t": ("binary", 600, 500, 300000, None),
    "abalone": ("regression", 4177, 8, 33416, None),
    "abalone_scale": ("regression", 4177, 8, 32080, None),
    "housing_scale": ("regression", 506, 13, 6578, None),
}


def _load(name, data_dir, nfeat, kind):
    X, y = load_libsvm(name, data_dir=data_dir, n_features=nfeat)
    if kind == "binary":
        y = binary_labels(y)
    return X.tocsc(), y


def _poly_a9a(data_dir):
    """a9a with pairwise feature products (sparse, deterministic), CSC."""
    import scipy.sparse as sp
    from sklearn.preprocessing import PolynomialFeatures
    X, y = _load("a9a", data_dir, 123, "binary")
    P = PolynomialFeatures(degree=2, interaction_only=True, include_bias=False).fit_transform(X.tocsr())
    P = sp.csc_matrix(P)
    P.eliminate_zeros()
    return P, y


def _make_data(loader, family, ratio):
    def data():
        A, y = loader()
        lam_max = lam_max_logreg(A, y) if family == "logreg_l1" else lam_max_lasso(A, y)
        return {"A": A, "b": y, "lam": lam_max / ratio}
    return data


@register_suite
class LibsvmSuite(Suite):
    name = "libsvm"
    description = "Lasso / l1-logistic on LIBSVM data (../shared/data/libsvm) at lam_max/10, /100, /1000"
    default_backends = ("fista", "admm", "cd", "cvxpy")
    default_peers = ("sklearn", "skglm", "celer", "cvxpy-clarabel", "scipy-lbfgsb")
    default_time_limit = 120.0
    default_tol = 1e-6

    def _where(self, name):
        try:
            return find_libsvm(name, self.options.get("data_dir")), None
        except DataNotFoundError as exc:
            return None, str(exc)

    def unavailable(self):
        missing = [self._where(n)[1] for n in DATASETS]
        if all(missing):
            return "no LIBSVM file found. " + missing[0]
        return None

    def instances(self):
        data_dir = self.options.get("data_dir")
        out = []
        for name, (kind, rows, cols, nnz, nfeat) in DATASETS.items():
            path, missing = self._where(name)
            families = ("lasso", "logreg_l1") if kind == "binary" else ("lasso",)
            for fam in families:
                for ratio in RATIOS:
                    loader = (lambda n=name, f=nfeat, k=kind: _load(n, data_dir, f, k))
                    short = "logreg" if fam == "logreg_l1" else "lasso"
                    small = nnz <= CVXPY_MAX_NNZ
                    out.append(Instance(
                        f"{name}-{short}-r{ratio}", fam, f"{rows}x{cols}", _make_data(loader, fam, ratio),
                        backends=None if small else ("fista", "admm", "cd"),
                        skip=missing,
                        meta={"file": str(path) if path else name, "lam": f"lam_max/{ratio}", "nnz": nnz,
                              "cvxpy_max": CVXPY_MAX_NNZ, "backends_note": _TOO_BIG,
                              "targets": "±1 labels" if kind == "binary" else "regression values"}))
        path, missing = self._where("a9a")
        for fam in ("lasso", "logreg_l1"):
            short = "logreg" if fam == "logreg_l1" else "lasso"
            out.append(Instance(
                f"a9a-poly2-{short}-r100", fam, "32561x7626",
                _make_data(lambda: _poly_a9a(data_dir), fam, 100), backends=("fista", "admm", "cd"),
                skip=missing,
                meta={"file": str(path) if path else "a9a", "lam": "lam_max/100", "nnz": 3_400_000,
                      "cvxpy_max": CVXPY_MAX_NNZ, "backends_note": _TOO_BIG,
                      "features": "PolynomialFeatures(degree=2, interaction_only=True, include_bias=False)"}))
        if not out:
            raise SuiteError("the libsvm suite has no instances")
        return out
