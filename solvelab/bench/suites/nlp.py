"""The ``nlp`` suite: the sketched-Newton paper's applications (``solvelab bench nlp``).

Instances
  logistic-<data>   constrained logistic regression (``constrained_logistic``): mean
                    logistic loss s.t. A w = b (10 Gaussian rows, seed 0) and ||w||^2 = 1
                    on a9a, mushrooms, ijcnn1 (train) and madelon (test) from the LIBSVM
                    data (``--data-dir``, ``SOLVELAB_DATA`` or ../shared/data; skipped with
                    the search path when absent)
  poisson-<n>       2-D Poisson control on the n x n grid (``poisson_control``, alpha
                    1e-2), n = 16, 32, 64, 128: 2 n^2 variables, n^2 sparse equalities

Backends: ``sketched_newton`` and ``sqp``; peer: scipy SLSQP / trust-constr
(``scipy-nlp``). The reference objective is the best certified one of the run.
``demo_instance()`` is logistic regression on a generated 2000 x 50 set (no download).
"""
from __future__ import annotations

import numpy as np

from ..suite import Instance, Suite, register_suite

DATASETS = ("a9a", "mushrooms", "ijcnn1.tr_val", "madelon.t")
GRIDS = (16, 32, 64, 128)
BACKENDS = ("sketched_newton", "sqp")
PEERS = ("scipy-nlp",)


class ModelFunctions:
    """A ``solvelab.NLP`` model's callables under the names the scipy peer reads (those of
    ``solvelab.bench.cutest.NLPFunctions``); the Jacobian stays sparse where it is."""

    def __init__(self, problem):
        p = problem.program
        self._p = p
        self.x0, self.m_eq, self.m_ineq = p.x0, p.m, 0
        self.lo, self.hi = p.lo, p.hi
        self.expected_objective = None

    def f(self, x) -> float:
        return float(self._p._f(x))

    def grad(self, x):
        return np.asarray(self._p._grad(x), dtype=np.float64).ravel()

    def c_eq(self, x):
        return np.asarray(self._p._c(x), dtype=np.float64).ravel()

    def jac_eq(self, x):
        return self._p._jac(x)


def _with_functions(make):
    def data():
        d = make()
        prob = build(d)
        d["nlp"] = ModelFunctions(prob)
        d["_problem"] = prob
        return d
    return data


def build(data):
    from ...problems.nlp_applications import constrained_logistic, poisson_control
    if data["kind"] == "logistic":
        return constrained_logistic(data["X"], data["y"])
    return poisson_control(data["n"])


def _build(data):
    return data.pop("_problem", None) or build(data)


def objective(data, x) -> float:
    return data["nlp"].f(x)


def infeasibility(data, x) -> float:
    """max |c(x)| relative to max(|c(x0)|, |J(x)| |x|) (the family's feasibility measure)."""
    from ...families.nlp.certificate import inf_norm, rel
    f = data["nlp"]
    x = np.asarray(x, dtype=np.float64)
    c, c0 = f.c_eq(x), f.c_eq(f.x0)
    return rel(inf_norm(c), max(inf_norm(c0), inf_norm(f.jac_eq(x)) * inf_norm(x)))


def _libsvm(name, data_dir):
    def data():
        from ..data import load_libsvm
        X, y = load_libsvm(name, data_dir)
        return {"kind": "logistic", "X": X, "y": y}
    return data


def _poisson(n):
    return lambda: {"kind": "poisson", "n": n}


def _generated(N=2000, d=50, seed=3):
    def data():
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((N, d))
        y = np.sign(X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(N))
        return {"kind": "logistic", "X": X, "y": y}
    return data


def _instance(name, size, make, **kw):
    return Instance(name, "nlp", size, _with_functions(make), build=_build, objective=objective,
                    infeasibility=infeasibility, **kw)


def demo_instance() -> Instance:
    """Constrained logistic regression on a generated 2000 x 50 set: a fraction of a second."""
    return _instance("nlp-logistic-generated-2000x50", "2000x50", _generated(), backends=BACKENDS, peers=PEERS,
                     meta={"data": "Gaussian, seed 3", "n": 50, "m_eq": 11})


@register_suite
class NLPSuite(Suite):
    name = "nlp"
    description = ("constrained logistic regression (A w = b, ||w|| = 1) on LIBSVM data and 2-D Poisson "
                   "control up to 128 x 128; sketched_newton and sqp against scipy SLSQP / trust-constr")
    default_backends = BACKENDS
    default_peers = PEERS
    default_time_limit = 300.0
    default_tol = 1e-6

    def instances(self):
        from ..data import DataNotFoundError, find_libsvm
        data_dir = self.options.get("data_dir")
        out = []
        for name in DATASETS:
            try:
                path, skip = find_libsvm(name, data_dir), None
            except DataNotFoundError as exc:
                path, skip = None, str(exc)
            out.append(_instance(f"logistic-{name.split('.')[0]}", "LIBSVM", _libsvm(name, data_dir), skip=skip,
                                 meta={"file": str(path) if path else None, "m_eq": 11}))
        for n in GRIDS:
            out.append(_instance(f"poisson-{n}", f"{2 * n * n}x{n * n}", _poisson(n),
                                 meta={"n": 2 * n * n, "m_eq": n * n, "alpha": 1e-2}))
        return out
