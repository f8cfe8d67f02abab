"""The ``quick`` suite: small instances that need no download (the ``make demo`` job).

Synthetic generators with fixed seeds (Lasso in both shapes, l1-logistic regression,
nonnegative least squares, Huber regression with outliers, box-constrained QP,
equality-constrained least squares), scikit-learn's bundled diabetes and
breast-cancer data sets, one entropic OT instance (the OT family: 200 points of
two Gaussian mixtures, eps = 1e-2 max C) for sinkhorn / sinkhorn_newton and POT, and one
generated 200 x 300 LP (the LP family) for pdhg / admm and HiGHS, and one 60-point L2
metric nearness (the metric family) for project_forget and Clarabel on explicit triangles,
and one 50-variable equality-constrained NLP (the nlp family) for sketched_newton / sqp and
scipy's SLSQP. Every instance is at most 1000 x 1000, so the suite runs in
about two minutes on two cores with the default settings (tol 1e-6, 20 s limit, each
run repeated 3 times and the median time to tolerance reported).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..models import lam_max_lasso, lam_max_logreg
from ..suite import Instance, Suite, register_suite
from . import bilevel as bilevel_suite
from . import fractional as fractional_suite
from . import lp as lp_suite
from . import metric as metric_suite
from .cutest import _build as _nlp_build
from .cutest import _infeasibility as _nlp_infeasibility
from .cutest import _objective as _nlp_objective
from . import ot as ot_suite
from . import saddle as saddle_suite


def _rng(seed):
    return np.random.default_rng(seed)


def _lasso(m, n, k, ratio, rho, seed):
    def data():
        rng = _rng(seed)
        A = rng.standard_normal((m, n))
        if rho:  # correlated columns: A_j = rho A_{j-1} + sqrt(1 - rho^2) noise
            for j in range(1, n):
                A[:, j] = rho * A[:, j - 1] + np.sqrt(1 - rho * rho) * A[:, j]
        x = np.zeros(n)
        x[rng.choice(n, k, replace=False)] = rng.standard_normal(k) * 3
        b = A @ x + 0.5 * rng.standard_normal(m)
        return {"A": A, "b": b, "lam": lam_max_lasso(A, b) / ratio}
    return data


def _logreg(m, n, k, ratio, seed):
    def data():
        rng = _rng(seed)
        A = rng.standard_normal((m, n))
        w = np.zeros(n)
        w[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
        p = 1 / (1 + np.exp(-(A @ w)))
        y = np.where(rng.random(m) < p, 1.0, -1.0)
        return {"A": A, "b": y, "lam": lam_max_logreg(A, y) / ratio}
    return data


def _nnls(m, n, seed):
    def data():
        rng = _rng(seed)
        A = np.abs(rng.standard_normal((m, n))) + 0.1 * rng.standard_normal((m, n))
        x = np.maximum(rng.standard_normal(n), 0.0)
        return {"A": A, "b": A @ x + 0.3 * rng.standard_normal(m)}
    return data


def _huber(m, n, seed):
    def data():
        rng = _rng(seed)
        A = rng.standard_normal((m, n))
        b = A @ rng.standard_normal(n) + 0.1 * rng.standard_normal(m)
        out = rng.choice(m, m // 10, replace=False)
        b[out] += 20 * rng.standard_normal(out.size)  # 10 % gross outliers
        return {"A": A, "b": b, "M": 1.0}
    return data


def _boxqp(n, seed):
    def data():
        rng = _rng(seed)
        L = rng.standard_normal((n + n // 4, n)) / np.sqrt(n)
        return {"L": L, "q": rng.standard_normal(n), "lo": -np.ones(n), "hi": np.ones(n)}
    return data


def _eqls(m, n, p, seed):
    def data():
        rng = _rng(seed)
        A = rng.standard_normal((m, n))
        C = rng.standard_normal((p, n))
        return {"A": A, "b": rng.standard_normal(m), "C": C, "d": C @ rng.standard_normal(n)}
    return data


def _chain_nlp(n, m):
    """An equality-constrained NLP with a known structure: min sum (x_i - 1)^2 +
    sum (x_{i+1} - x_i^2)^2 s.t. x_{2j}^2 + x_{2j+1}^2 = 1 (j < m), from x0 = 0.5."""
    def data():
        from ..cutest import NLPFunctions

        def f(x):
            return float(np.sum((x - 1) ** 2) + np.sum((x[1:] - x[:-1] ** 2) ** 2))

        def grad(x):
            r = x[1:] - x[:-1] ** 2
            g = 2 * (x - 1)
            g[1:] += 2 * r
            g[:-1] -= 4 * x[:-1] * r
            return g

        idx = np.arange(m)

        def c_eq(x):
            return x[2 * idx] ** 2 + x[2 * idx + 1] ** 2 - 1.0

        def jac_eq(x):
            J = np.zeros((m, n))
            J[idx, 2 * idx] = 2 * x[2 * idx]
            J[idx, 2 * idx + 1] = 2 * x[2 * idx + 1]
            return J
        fns = {"f": f, "grad": grad, "c_eq": c_eq, "jac_eq": jac_eq}
        return {"nlp": NLPFunctions(f"chain-{n}-eq{m}", fns, {"x0": np.full(n, 0.5), "m_eq": m}, "generated")}
    return data


def _standardize(X):
    X = X - X.mean(axis=0)
    s = X.std(axis=0)
    return X / np.where(s > 0, s, 1.0)


def _diabetes(ratio):
    def data():
        from sklearn.datasets import load_diabetes
        X, y = load_diabetes(return_X_y=True)
        A, b = _standardize(X), (y - y.mean()) / y.std()
        return {"A": A, "b": b, "lam": lam_max_lasso(A, b) / ratio}
    return data


def _breast_cancer(ratio):
    def data():
        from sklearn.datasets import load_breast_cancer
        X, y = load_breast_cancer(return_X_y=True)
        A, b = _standardize(X), np.where(y > 0, 1.0, -1.0)
        return {"A": A, "b": b, "lam": lam_max_logreg(A, b) / ratio}
    return data


@register_suite
class QuickSuite(Suite):
    name = "quick"
    description = "small synthetic and scikit-learn bundled instances, no download (make demo)"
    default_backends = ("fista", "admm", "cd", "sinkhorn", "sinkhorn_newton", "pdhg", "project_forget", "sketched_newton", "sqp",
                        "hypergradient", "bamm", "halpern",
                        "fractional_cd", "dinkelbach", "cvxpy")
    default_peers = ("cvxpy-clarabel", "cvxpy-scs", "cvxpy-osqp", "sklearn", "skglm", "celer", "scipy-lbfgsb",
                     "pot-sinkhorn-log", "highs-simplex", "highs-pdlp", "cvxpy-clarabel-metric", "scipy-nlp",
                     "random-search", "highs-game-lp", "dinkelbach-clarabel")
    default_time_limit = 20.0
    default_tol = 1e-6
    default_repeat = 3   # millisecond runs: the median of 3 damps first-call and scheduler noise

    def instances(self):
        return [
            Instance("lasso-wide-200x1000", "lasso", "200x1000", _lasso(200, 1000, 20, 20, 0.0, 1),
                     meta={"lam": "lam_max/20", "seed": 1}),
            Instance("lasso-corr-1000x300", "lasso", "1000x300", _lasso(1000, 300, 30, 100, 0.6, 2),
                     meta={"lam": "lam_max/100", "column correlation": 0.6, "seed": 2}),
            Instance("logreg-l1-1000x300", "logreg_l1", "1000x300", _logreg(1000, 300, 15, 20, 3),
                     meta={"lam": "lam_max/20", "seed": 3}),
            Instance("nnls-600x300", "nnls", "600x300", _nnls(600, 300, 4), meta={"seed": 4}),
            Instance("huber-1000x200", "huber", "1000x200", _huber(1000, 200, 5),
                     meta={"M": 1.0, "outliers": "10%", "seed": 5}),
            Instance("boxqp-500", "boxqp", "n=500", _boxqp(500, 6), meta={"box": "[-1, 1]", "seed": 6}),
            Instance("eqls-600x200-eq40", "eqls", "600x200, 40 eq", _eqls(600, 200, 40, 7), meta={"seed": 7}),
            Instance("diabetes-lasso", "lasso", "442x10", _diabetes(100),
                     meta={"data": "sklearn load_diabetes, standardized", "lam": "lam_max/100"}),
            Instance("breast-cancer-logreg-l1", "logreg_l1", "569x30", _breast_cancer(100),
                     meta={"data": "sklearn load_breast_cancer, standardized", "lam": "lam_max/100"}),
            Instance("ot-cloud-200-eps1e-2", "entropic_ot", "200x200", ot_suite.cloud_data(200, 1e-2, 8),
                     build=ot_suite.build, objective=ot_suite.objective, infeasibility=ot_suite.infeasibility,
                     backends=("sinkhorn", "sinkhorn_newton"), peers=("pot-sinkhorn-log",),
                     meta={"cost": "squared Euclidean", "eps": "0.01 x max(C)", "seed": 8,
                           "backends_note": "the OT family's backends only: admm and the CVXPY solvers "
                                            "take 40000 plan entries past the demo's time limit"}),
            # pdhg only: admm needs its 20000-iteration budget here (7 s a run, 21 s of the demo)
            dataclasses.replace(lp_suite.demo_instance(), backends=("pdhg",)),
            metric_suite.demo_instance(),
            bilevel_suite.demo_instance(),
            saddle_suite.demo_instance(),
            fractional_suite.demo_instance(),
            Instance("nlp-chain-50-eq10", "nlp", "n=50, 10 eq", _chain_nlp(50, 10), build=_nlp_build,
                     objective=_nlp_objective, infeasibility=_nlp_infeasibility,
                     backends=("sketched_newton", "sqp"), peers=("scipy-nlp",),
                     meta={"problem": "chained squares with circle equalities, x0 = 0.5", "n": 50, "m_eq": 10}),
        ]
