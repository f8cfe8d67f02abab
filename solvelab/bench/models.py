"""Model families shared by suites and peers: data dict -> CVXPY model, and numpy
objective / infeasibility to judge any solver's point on the same scale.

Data dicts (arrays may be dense or scipy.sparse):

  lasso      A, b, lam          0.5 ||A x - b||^2 + lam ||x||_1
  logreg_l1  A, b (±1), lam     sum log(1 + exp(-b * A x)) + lam ||x||_1
  nnls       A, b               0.5 ||A x - b||^2            s.t. x >= 0
  huber      A, b, M            sum huber(A x - b, M)   (CVXPY's huber: r^2 inside, 2M|r| - M^2 out)
  boxqp      L, q, lo, hi       0.5 ||L x||^2 + q^T x        s.t. lo <= x <= hi
  eqls       A, b, C, d         0.5 ||A x - b||^2            s.t. C x = d

Peers map a family onto their own parameterization (scikit-learn's Lasso minimizes
the objective divided by n_samples, for instance) and return x; the harness evaluates
the objective here, so every solver is judged by the same function.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def _inf(v) -> float:
    v = np.asarray(v)
    return float(np.max(np.abs(v), initial=0.0)) if v.size else 0.0


def _var(n):
    import cvxpy as cp
    return cp.Variable(n, name="x")


def _sl():
    import solvelab as sl
    return sl


def _build_lasso(d):
    import cvxpy as cp
    x = _var(d["A"].shape[1])
    return _sl().Problem(cp.Minimize(0.5 * cp.sum_squares(d["A"] @ x - d["b"]) + d["lam"] * cp.norm1(x)))


def _obj_lasso(d, x):
    r = d["A"] @ x - d["b"]
    return 0.5 * float(r @ r) + d["lam"] * float(np.abs(x).sum())


def _build_logreg(d):
    import cvxpy as cp
    x = _var(d["A"].shape[1])
    margin = cp.multiply(d["b"], d["A"] @ x)
    return _sl().Problem(cp.Minimize(cp.sum(cp.logistic(-margin)) + d["lam"] * cp.norm1(x)))


def _obj_logreg(d, x):
    z = d["b"] * (d["A"] @ x)
    return float(np.logaddexp(0.0, -z).sum()) + d["lam"] * float(np.abs(x).sum())


def _build_nnls(d):
    import cvxpy as cp
    x = _var(d["A"].shape[1])
    return _sl().Problem(cp.Minimize(0.5 * cp.sum_squares(d["A"] @ x - d["b"])), [x >= 0])


def _obj_ls(d, x):
    r = d["A"] @ x - d["b"]
    return 0.5 * float(r @ r)


def _relative(violation: float, size: float) -> float:
    """violation / size with no absolute floor (a peer's point means the same in any unit):
    0 for no violation, inf for a violation of a point of size 0."""
    if violation == 0.0:
        return 0.0
    return violation / size if size > 0.0 else float("inf")


def _infeas_nnls(d, x):
    return _relative(max(0.0, -float(np.min(x, initial=0.0))), _inf(x))


def _build_huber(d):
    import cvxpy as cp
    x = _var(d["A"].shape[1])
    return _sl().Problem(cp.Minimize(cp.sum(cp.huber(d["A"] @ x - d["b"], d["M"]))))


def _obj_huber(d, x):
    r = np.abs(d["A"] @ x - d["b"])
    M = d["M"]
    return float(np.where(r <= M, r * r, 2 * M * r - M * M).sum())


def _build_boxqp(d):
    import cvxpy as cp
    x = _var(d["L"].shape[1])
    obj = 0.5 * cp.sum_squares(d["L"] @ x) + d["q"] @ x
    return _sl().Problem(cp.Minimize(obj), [x >= d["lo"], x <= d["hi"]])


def _obj_boxqp(d, x):
    Lx = d["L"] @ x
    return 0.5 * float(Lx @ Lx) + float(d["q"] @ x)


def _infeas_box(d, x):
    viol = np.maximum(d["lo"] - x, 0.0) + np.maximum(x - d["hi"], 0.0)
    bounds = np.concatenate([np.ravel(d["lo"]), np.ravel(d["hi"])])
    return _relative(_inf(viol), max(_inf(x), _inf(bounds[np.isfinite(bounds)])))


def _build_eqls(d):
    import cvxpy as cp
    x = _var(d["A"].shape[1])
    return _sl().Problem(cp.Minimize(0.5 * cp.sum_squares(d["A"] @ x - d["b"])), [d["C"] @ x == d["d"]])


def _infeas_eq(d, x):
    size = max(_inf(d["d"]), _inf(abs(d["C"]) @ np.abs(x)))     # |C| |x|: the size of what cancels
    return _relative(_inf(d["C"] @ x - d["d"]), size)


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable
    objective: Callable
    infeasibility: Callable | None = None


FAMILIES = {f.name: f for f in (
    Family("lasso", _build_lasso, _obj_lasso),
    Family("logreg_l1", _build_logreg, _obj_logreg),
    Family("nnls", _build_nnls, _obj_ls, _infeas_nnls),
    Family("huber", _build_huber, _obj_huber),
    Family("boxqp", _build_boxqp, _obj_boxqp, _infeas_box),
    Family("eqls", _build_eqls, _obj_ls, _infeas_eq),
)}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)} "
                       "(an instance of another family must pass build/objective itself)") from None


def lam_max_lasso(A, b) -> float:
    """Smallest lam for which x = 0 solves the Lasso: ||A^T b||_inf."""
    return _inf(A.T @ b)


def lam_max_logreg(A, y) -> float:
    """Smallest lam for which x = 0 solves the l1-logistic regression: ||A^T y||_inf / 2."""
    return 0.5 * _inf(A.T @ y)
