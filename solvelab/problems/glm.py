"""Sparse generalized linear models, declared with CVXPY (scikit-learn's scaling).

Each constructor returns a ``solvelab.Problem`` whose regularization strength is a
nonnegative CVXPY Parameter, available as ``problem.lam`` (so ``sl.path`` and re-solves
change it without compiling again) and whose variable is ``problem.x``:

    lasso           ||A x - b||^2 / (2 n) + lam ||x||_1                         -> cd
    elastic_net     ||A x - b||^2 / (2 n) + lam (l1_ratio ||x||_1
                                                + (1 - l1_ratio) / 2 ||x||^2)     -> cd
    weighted_lasso  ||A x - b||^2 / (2 n) + lam sum_j w_j |x_j|                  -> cd
    group_lasso     ||A x - b||^2 / (2 n) + lam sum_G sqrt(|G|) ||x_G||_2        -> cd (block CD)
    sparse_logreg   sum_i log(1 + exp(-y_i a_i^T x)) / n + lam ||x||_1 (y in ±1) -> cd
    poisson_regression  sum_i (exp(a_i^T x) - y_i a_i^T x) / n + lam ||x||_1
                    (+ l2/2 ||x||^2; counts y >= 0)                             -> cd
    mcp_regression  ||A x - b||^2 / (2 n) + sum_j MCP(x_j; lam, gamma)           -> cd (nonconvex)
    scad            ||A x - b||^2 / (2 n) + sum_j SCAD(x_j; lam, a)              -> cd (nonconvex)
    sqrt_lasso      ||A x - b||_2 / sqrt(n) + lam ||x||_1                        -> admm (or fista
                    is refused: the datafit is not smooth)
    lad_lasso       ||A x - b||_1 / n + lam ||x||_1                              -> admm

SR-LASSO (``sqrt_lasso``) and LAD-LASSO (``lad_lasso``) are not smooth + separable, so
the coordinate-descent backend refuses them and ``backend='auto'`` sends them to ADMM.
MCP and SCAD are not convex and cannot be said in CVXPY: their problems are program
nodes (the compiled datafit plus the penalty as an IR term, ``Problem.from_program``),
and only the IR backends (cd, fista) solve them; the certificate is then a KKT
(stationarity) residual, not a gap.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..compile import compile_problem
from ..errors import InvalidDataError, ShapeError
from ..families.glm import MCP, SCAD, penalized_program
from ..model.problem import Problem

__all__ = ["lasso", "elastic_net", "weighted_lasso", "group_lasso", "sparse_logreg", "poisson_regression",
           "mcp_regression", "scad", "sqrt_lasso", "lad_lasso"]


def _check(A, b, lam, who):
    if not (sp.issparse(A) or isinstance(A, np.ndarray)):
        A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[1] == 0:
        raise ShapeError(f"{who}: A must be a non-empty 2-D array, got shape {A.shape}")
    vals = A.data if sp.issparse(A) else A
    if not np.all(np.isfinite(vals)):
        raise InvalidDataError(f"{who}: A has NaN or Inf entries")
    b = np.asarray(b, dtype=np.float64).ravel()
    if b.shape[0] != A.shape[0]:
        raise ShapeError(f"{who}: A has {A.shape[0]} rows but b (or y) has {b.shape[0]} entries")
    if not np.all(np.isfinite(b)):
        raise InvalidDataError(f"{who}: b (or y) has NaN or Inf entries")
    lam = float(lam)
    if not (np.isfinite(lam) and lam >= 0):
        raise InvalidDataError(f"{who}: the regularization lam must be a finite number >= 0, got {lam!r}")
    return A, b, lam


def _finish(prob, x, lam_par):
    prob.x = x
    prob.lam = lam_par
    return prob


def lasso(A, b, lam, nonneg: bool = False) -> Problem:
    """||A x - b||^2 / (2 n) + lam ||x||_1 (``nonneg``: with x >= 0)."""
    import cvxpy as cp
    A, b, lam = _check(A, b, lam, "lasso")
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    cons = [x >= 0] if nonneg else []
    prob = Problem(cp.Minimize(cp.sum_squares(A @ x - b) / (2 * n) + lam_p * cp.norm1(x)), cons)
    return _finish(prob, x, lam_p)


def elastic_net(A, b, lam, l1_ratio: float = 0.5) -> Problem:
    """scikit-learn's ElasticNet: ||A x - b||^2/(2n) + lam l1_ratio ||x||_1 + lam (1-l1_ratio)/2 ||x||^2."""
    import cvxpy as cp
    A, b, lam = _check(A, b, lam, "elastic_net")
    if not 0.0 <= l1_ratio <= 1.0:
        raise InvalidDataError(f"elastic_net: l1_ratio must be in [0, 1], got {l1_ratio!r}")
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    obj = (cp.sum_squares(A @ x - b) / (2 * n) + (l1_ratio * lam_p) * cp.norm1(x)
           + ((1 - l1_ratio) / 2 * lam_p) * cp.sum_squares(x))
    return _finish(Problem(cp.Minimize(obj)), x, lam_p)


def weighted_lasso(A, b, weights, lam) -> Problem:
    """||A x - b||^2 / (2 n) + lam sum_j w_j |x_j| (w_j >= 0; w_j = 0 leaves x_j free)."""
    import cvxpy as cp
    A, b, lam = _check(A, b, lam, "weighted_lasso")
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (A.shape[1],) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidDataError(f"weighted_lasso: weights must be {A.shape[1]} finite numbers >= 0")
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    prob = Problem(cp.Minimize(cp.sum_squares(A @ x - b) / (2 * n) + lam_p * (w @ cp.abs(x))))
    return _finish(prob, x, lam_p)


def group_lasso(A, b, groups, lam, weights=None) -> Problem:
    """||A x - b||^2 / (2 n) + lam sum_G w_G ||x_G||_2 with disjoint ``groups`` (a list of
    index arrays, or one group label per column); w_G = sqrt(|G|) by default."""
    import cvxpy as cp
    A, b, lam = _check(A, b, lam, "group_lasso")
    n, p = A.shape
    if not isinstance(groups, (list, tuple)):
        labels = np.asarray(groups).ravel()
        if labels.shape != (p,):
            raise InvalidDataError(f"group_lasso: give one group label per column ({p}), got {labels.shape}")
        groups = [np.nonzero(labels == g)[0] for g in np.unique(labels)]
    groups = [np.asarray(g, dtype=np.int64).ravel() for g in groups]
    seen = np.zeros(p, dtype=int)
    for g in groups:
        if g.size == 0 or g.min() < 0 or g.max() >= p:
            raise InvalidDataError("group_lasso: every group must be a non-empty set of column indices")
        seen[g] += 1
    if np.any(seen > 1):
        raise InvalidDataError("group_lasso: groups overlap (each column may belong to one group)")
    if weights is None:
        weights = [np.sqrt(g.size) for g in groups]
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    pen = sum(float(w) * cp.norm2(x[g]) for g, w in zip(groups, weights))
    prob = Problem(cp.Minimize(cp.sum_squares(A @ x - b) / (2 * n) + lam_p * pen))
    prob.groups = groups
    return _finish(prob, x, lam_p)


def sparse_logreg(A, y, lam) -> Problem:
    """sum_i log(1 + exp(-y_i a_i^T x)) / n + lam ||x||_1, labels y in {-1, +1}."""
    import cvxpy as cp
    A, y, lam = _check(A, y, lam, "sparse_logreg")
    bad = ~np.isin(y, (-1.0, 1.0))
    if np.any(bad):
        vals = np.unique(y[bad])[:5]
        raise InvalidDataError(f"sparse_logreg: labels y must be -1 or +1; found {vals.tolist()} "
                               f"(map {{0, 1}} labels with 2 * y - 1)")
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    obj = cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / n + lam_p * cp.norm1(x)
    return _finish(Problem(cp.Minimize(obj)), x, lam_p)


def poisson_regression(A, y, lam, l2: float = 0.0) -> Problem:
    """Poisson regression (log link, no intercept): sum_i (exp(a_i^T x) - y_i a_i^T x) / n
    + lam ||x||_1 + l2 / 2 ||x||^2, counts y >= 0. With lam = 0 this is scikit-learn's
    PoissonRegressor(alpha=l2, fit_intercept=False) up to a constant."""
    import cvxpy as cp
    A, y, lam = _check(A, y, lam, "poisson_regression")
    if np.any(y < 0):
        vals = np.unique(y[y < 0])[:5]
        raise InvalidDataError(f"poisson_regression: counts y must be >= 0; found negative values "
                               f"{vals.tolist()}")
    l2 = float(l2)
    if not (np.isfinite(l2) and l2 >= 0):
        raise InvalidDataError(f"poisson_regression: l2 must be a finite number >= 0, got {l2!r}")
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    z = A @ x
    obj = cp.sum(cp.exp(z) - cp.multiply(y, z)) / n + lam_p * cp.norm1(x)
    if l2 > 0:
        obj = obj + (l2 / 2) * cp.sum_squares(x)
    return _finish(Problem(cp.Minimize(obj)), x, lam_p)


def _nonconvex(A, b, lam, gamma, kind, who):
    """The least-squares datafit compiled from CVXPY plus the MCP / SCAD penalty on x, as
    one program node (``penalized_program``: no CVXPY source, so the cvxpy backend refuses
    it); lam is a Parameter the penalty reads at each use."""
    import cvxpy as cp
    A, b, lam = _check(A, b, lam, who)
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    pen = MCP(lam_p, gamma) if kind == "mcp" else SCAD(lam_p, gamma)
    datafit = compile_problem(cp.Minimize(cp.sum_squares(A @ x - b) / (2 * n)))
    node = penalized_program(datafit, x.id, pen, parameters=[lam_p])
    return _finish(Problem.from_program(node, variables=[x]), x, lam_p)


def mcp_regression(A, b, lam, gamma: float = 3.0) -> Problem:
    """||A x - b||^2 / (2 n) + sum_j MCP(x_j; lam, gamma) (nonconvex; cd or fista)."""
    return _nonconvex(A, b, lam, gamma, "mcp", "mcp_regression")


def scad(A, b, lam, a: float = 3.7) -> Problem:
    """||A x - b||^2 / (2 n) + sum_j SCAD(x_j; lam, a) (nonconvex; cd or fista)."""
    return _nonconvex(A, b, lam, a, "scad", "scad")


def sqrt_lasso(A, b, lam) -> Problem:
    """||A x - b||_2 / sqrt(n) + lam ||x||_1 (square-root Lasso). Not smooth + separable:
    ``cd`` refuses it; ``backend='auto'`` sends it to ADMM."""
    import cvxpy as cp
    A, b, lam = _check(A, b, lam, "sqrt_lasso")
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    prob = Problem(cp.Minimize(cp.norm2(A @ x - b) / np.sqrt(n) + lam_p * cp.norm1(x)))
    return _finish(prob, x, lam_p)


def lad_lasso(A, b, lam) -> Problem:
    """||A x - b||_1 / n + lam ||x||_1 (least absolute deviations). Not smooth + separable:
    ``cd`` refuses it; ``backend='auto'`` sends it to ADMM."""
    import cvxpy as cp
    A, b, lam = _check(A, b, lam, "lad_lasso")
    n, p = A.shape
    x = cp.Variable(p, name="x")
    lam_p = cp.Parameter(nonneg=True, name="lam", value=lam)
    prob = Problem(cp.Minimize(cp.norm1(A @ x - b) / n + lam_p * cp.norm1(x)))
    return _finish(prob, x, lam_p)
