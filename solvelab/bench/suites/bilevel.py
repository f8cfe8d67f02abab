"""The ``bilevel`` suite: hyperparameters learned on a validation set (``solvelab bench bilevel``).

Instances (LIBSVM data from ``--data-dir``, ``SOLVELAB_DATA`` or ../shared/data; skipped
with the search path when absent)
  ijcnn1-feature    l2-logistic regression with one ridge weight per feature (22), trained
                    on ijcnn1.tr_val (49,990) and validated on ijcnn1.t (91,701): the
                    benchopt bilevel benchmark's setting
  ijcnn1-single     the same with one weight for all features
  a9a-single        one ridge weight, a9a (32,561) / a9a.t (16,281)
  a9a-cleaning      data hyper-cleaning: half of a9a (16,280, seed 0) with 50% of its
                    labels flipped, one weight per sample, validated on the other half
  mushrooms-cleaning  the same on mushrooms (4,062 train / 4,062 validation)

The objective of a returned (u, w) is the value function F(u) = validation loss at
w*(u) re-solved to machine precision, for backends and peers alike; the value function
is not convex, so the reference is the lowest objective of the run (meta
``reference='lowest'``), certified or a peer's. Backends ``hypergradient`` and ``bamm``; peers: a 20-point
warm-started grid over the single weight (``grid-search``, scikit-learn's
LogisticRegression with warm starts) and a random search (``random-search``, 50 points,
our Newton lower solves). ``demo_instance()`` is per-feature weights on a generated
2000 x 20 logistic set (no download).
"""
from __future__ import annotations

import numpy as np

from ..suite import Instance, Suite, register_suite

BACKENDS = ("hypergradient", "bamm")
PEERS = ("grid-search", "random-search")


def build(data):
    from ...problems.bilevel import data_hypercleaning, hyperparameter_learning
    X, y, Xv, yv = data["X"], data["y"], data["X_val"], data["y_val"]
    if data["weights"] == "sample":
        return data_hypercleaning(X, y, Xv, yv)
    return hyperparameter_learning(X, y, Xv, yv, loss="logistic", weights=data["weights"])


def _program(data):
    if "_program" not in data:
        data["_program"] = build(data).program
    return data["_program"]


def objective(data, x) -> float:
    """F(u) = f(w*(u)): the validation loss at the lower solution re-solved from u."""
    from ...kernels.threads import threads
    p = _program(data)
    u = np.asarray(x, dtype=np.float64).reshape(-1)[:p.q]
    with threads(blas=1):
        return float(p.value_function(np.clip(u, p.u_lo, p.u_hi)))


def infeasibility(data, x) -> float:
    """How far u lies outside its box, relative to the box's width (0 inside it)."""
    p = _program(data)
    u = np.asarray(x, dtype=np.float64).reshape(-1)[:p.q]
    out = np.maximum(p.u_lo - u, 0.0) + np.maximum(u - p.u_hi, 0.0)
    width = np.where(np.isfinite(p.u_hi - p.u_lo), p.u_hi - p.u_lo, 1.0)   # unbounded: a unit change of log-weight
    return float(np.max(out / width, initial=0.0))


def _split(X, y, seed=0):
    idx = np.random.default_rng(seed).permutation(X.shape[0])
    half = X.shape[0] // 2
    return X[idx[:half]], y[idx[:half]], X[idx[half:]], y[idx[half:]]


def _libsvm(train, val, weights, data_dir, n_features=None):
    def data():
        from ..data import load_libsvm
        X, y = load_libsvm(train, data_dir, n_features=n_features)
        Xv, yv = load_libsvm(val, data_dir, n_features=n_features)
        return {"X": X, "y": y, "X_val": Xv, "y_val": yv, "weights": weights}
    return data


def _cleaning(name, data_dir, fraction=0.5):
    def data():
        from ...problems.bilevel import corrupt_labels
        from ..data import load_libsvm
        X, y = load_libsvm(name, data_dir)
        y = np.where(y == y.max(), 1.0, -1.0)          # mushrooms: {1, 2}
        Xt, yt, Xv, yv = _split(X, y)
        yc, mask = corrupt_labels(yt, fraction, seed=0)
        return {"X": Xt, "y": yc, "X_val": Xv, "y_val": yv, "weights": "sample", "corrupted": mask}
    return data


def _generated(n=2000, p=20, seed=5):
    def data():
        rng = np.random.default_rng(seed)
        X, Xv = rng.standard_normal((n, p)), rng.standard_normal((n, p))
        w = rng.standard_normal(p) * (rng.random(p) < 0.5)
        flip = lambda z: np.where(rng.random(z.size) < 0.1, -z, z)  # noqa: E731
        return {"X": X, "y": flip(np.sign(X @ w + 0.5)), "X_val": Xv, "y_val": flip(np.sign(Xv @ w + 0.5)),
                "weights": "feature"}
    return data


def _instance(name, size, make, **kw):
    kw["meta"] = {"reference": "lowest", **kw.get("meta", {})}
    return Instance(name, "bilevel", size, make, build=build, objective=objective, infeasibility=infeasibility, **kw)


def demo_instance() -> Instance:
    """Per-feature ridge weights of l2-logistic regression on a generated 2000 x 20 set."""
    return _instance("bilevel-feature-generated-2000x20", "2000x20, q=20", _generated(), backends=BACKENDS,
                     peers=("random-search",), meta={"weights": "feature", "q": 20})


@register_suite
class BilevelSuite(Suite):
    name = "bilevel"
    description = ("hyperparameter learning on LIBSVM data: per-feature / single ridge weights of logistic "
                   "regression (ijcnn1, a9a) and data hyper-cleaning (a9a, mushrooms); hypergradient and bamm "
                   "against a warm-started grid and a random search")
    default_backends = BACKENDS
    default_peers = PEERS
    default_time_limit = 120.0
    default_tol = 1e-6

    def instances(self):
        from ..data import DataNotFoundError, find_libsvm
        data_dir = self.options.get("data_dir")

        def skip(*names):
            try:
                for n in names:
                    find_libsvm(n, data_dir)
            except DataNotFoundError as exc:
                return str(exc)
            return None
        ij = skip("ijcnn1.tr_val", "ijcnn1.t")
        a9 = skip("a9a", "a9a.t")
        return [
            _instance("ijcnn1-feature", "49990x22, q=22", _libsvm("ijcnn1.tr_val", "ijcnn1.t", "feature", data_dir),
                      skip=ij, peers=("random-search",), meta={"weights": "feature", "q": 22}),
            _instance("ijcnn1-single", "49990x22, q=1", _libsvm("ijcnn1.tr_val", "ijcnn1.t", "single", data_dir),
                      skip=ij, meta={"weights": "single", "q": 1}),
            _instance("a9a-single", "32561x123, q=1", _libsvm("a9a", "a9a.t", "single", data_dir, n_features=123),
                      skip=a9, meta={"weights": "single", "q": 1}),
            _instance("a9a-cleaning", "16280x123, q=16280", _cleaning("a9a", data_dir), skip=skip("a9a"),
                      peers=(), meta={"weights": "sample", "corrupted": 0.5}),
            _instance("mushrooms-cleaning", "4062x112, q=4062", _cleaning("mushrooms", data_dir),
                      skip=skip("mushrooms"), peers=(), meta={"weights": "sample", "corrupted": 0.5}),
        ]
