"""Least-squares and robust regressors: Lasso, ElasticNet, MCPRegression, GroupLasso,
HuberLossRegressor, and the warm-started ``lasso_path`` / ``enet_path``.

Objectives (scikit-learn's scaling; sw = sample weights rescaled to mean one, r = X w + b - y):

    Lasso        sum_i sw_i r_i^2 / (2 n) + alpha ||w||_1
    ElasticNet   sum_i sw_i r_i^2 / (2 n) + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio) / 2 ||w||^2
    MCPRegression  sum_i sw_i r_i^2 / (2 n) + sum_j MCP(w_j; alpha, gamma)      (nonconvex)
    GroupLasso   sum_i sw_i r_i^2 / (2 n) + alpha sum_G weight_G ||w_G||_2
    HuberLossRegressor  sum_i sw_i huber_eps(r_i) + alpha ||w||^2   (fixed scale; see its doc)

The intercept b is an unpenalized variable: the same solution as scikit-learn's centering.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin

from ..model.problem import Problem
from ._base import SolvelabEstimator, check_nonneg, sample_weights
from ._program import least_squares_program

__all__ = ["Lasso", "ElasticNet", "MCPRegression", "GroupLasso", "HuberLossRegressor",
           "lasso_path", "enet_path"]


def _affine(X, y, fit_intercept, positive=False):
    """The CVXPY variables and the residual X w + b - y."""
    import cvxpy as cp
    w = cp.Variable(X.shape[1], name="coef", nonneg=bool(positive))
    b = cp.Variable(name="intercept") if fit_intercept else None
    r = X @ w - y if b is None else X @ w + b - y
    return w, b, r


def _squares(r, sw, n):
    import cvxpy as cp
    return (cp.sum_squares(r) if sw is None else cp.sum(cp.multiply(sw, cp.square(r)))) / (2 * n)


class _LeastSquares(RegressorMixin, SolvelabEstimator):
    """Shared fit/predict of the least-squares estimators."""

    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fit on (X, y) (dense or CSR/CSC X); ``sample_weight`` rescaled to mean one."""
        self._check_common()
        self._check_params()
        X, y = self._validate(X, y)
        sw = sample_weights(sample_weight, X)
        return self._solve(X, y, sw)

    def predict(self, X):
        return self._decision(X)

    def _structure(self):
        return (bool(self.fit_intercept), bool(getattr(self, "positive", False)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class ElasticNet(_LeastSquares):
    """scikit-learn's ElasticNet objective on solvelab's ``cd`` backend.

    ``tol`` is solvelab's relative certificate target (relative duality gap |P - D| /
    max(|P|, |D|), or the relative KKT residual where there is no gap, e.g. with an
    intercept); scikit-learn compares the absolute gap with tol ||y||^2 / n, i.e. relative
    to the objective at w = 0, which is at least P*: the same tol is at least as strict here.
    ``max_iter`` counts coordinate sweeps. ``warm_start``: keep the Problem (and, across
    ``clone`` s, in a small cache keyed by the data) so a new alpha only re-solves.
    """

    def __init__(self, alpha=1.0, l1_ratio=0.5, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False, positive=False, backend="cd"):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.backend = backend

    def _check_params(self):
        check_nonneg(self.alpha, "alpha", type(self).__name__)
        check_nonneg(self.l1_ratio, "l1_ratio", type(self).__name__, upper=1.0)

    def _ridge(self):
        return True

    def _reads_data_in_place(self):
        return self.backend != "cvxpy"

    def _build(self, X, y, sw):
        """The program built from (X, y) directly (``_program``); declared in CVXPY only
        for ``backend='cvxpy'``, which solves the CVXPY model itself."""
        import cvxpy as cp
        import solvelab as sl
        l1 = cp.Parameter(nonneg=True, name="lam", value=1.0)
        h = {"lam": l1}
        levels = [(l1, "l1")]
        if self._ridge():
            h["lam_l2"] = l2 = cp.Parameter(nonneg=True, name="lam_l2", value=1.0)
            levels.append((l2, "ridge"))
        if self.backend != "cvxpy":
            program, w, b = least_squares_program(X, y, sw, self.fit_intercept, self.positive, levels)
            h.update(coef=w, intercept=b)
            return Problem.from_program(program, variables=[w] + ([b] if b is not None else [])), h
        w, b, r = _affine(X, y, self.fit_intercept, self.positive)
        obj = _squares(r, sw, X.shape[0]) + l1 * cp.norm1(w)
        if self._ridge():
            obj = obj + (h["lam_l2"] / 2) * cp.sum_squares(w)
        h.update(coef=w, intercept=b)
        return sl.Problem(cp.Minimize(obj)), h

    def _set_level(self, h, n, sw):
        h["lam"].value = float(self.alpha) * float(self.l1_ratio)
        h["lam_l2"].value = float(self.alpha) * (1.0 - float(self.l1_ratio))


class Lasso(ElasticNet):
    """scikit-learn's Lasso objective on solvelab's ``cd`` backend (see ElasticNet for tol,
    max_iter and warm_start)."""

    def __init__(self, alpha=1.0, fit_intercept=True, max_iter=1000, tol=1e-4, warm_start=False,
                 positive=False, backend="cd"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.backend = backend

    def _check_params(self):
        check_nonneg(self.alpha, "alpha", "Lasso")

    def _ridge(self):
        return False

    def _set_level(self, h, n, sw):
        h["lam"].value = float(self.alpha)


class MCPRegression(_LeastSquares):
    """Least squares + MCP(w_j; alpha, gamma) (skglm's MCPRegression); nonconvex, so the
    certificate is a KKT (stationarity) residual and the solution a local one."""

    def __init__(self, alpha=1.0, gamma=3.0, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False, backend="cd"):
        self.alpha = alpha
        self.gamma = gamma
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.backend = backend

    def _check_params(self):
        check_nonneg(self.alpha, "alpha", "MCPRegression")
        if check_nonneg(self.gamma, "gamma", "MCPRegression") <= 1:
            raise ValueError(f"MCPRegression: gamma must be > 1, got {self.gamma!r}")

    def _structure(self):
        return (bool(self.fit_intercept), float(self.gamma))

    def _reads_data_in_place(self):
        return True

    def _build(self, X, y, sw):
        import cvxpy as cp
        from ..families.glm import MCP, penalized_program
        datafit, w, b = least_squares_program(X, y, sw, self.fit_intercept, False, levels=())
        lam = cp.Parameter(nonneg=True, name="lam", value=1.0)
        node = penalized_program(datafit, w.id, MCP(lam, float(self.gamma)), parameters=[lam])
        prob = Problem.from_program(node, variables=[w] + ([b] if b is not None else []))
        return prob, {"coef": w, "intercept": b, "lam": lam}

    def _set_level(self, h, n, sw):
        h["lam"].value = float(self.alpha)


def _groups(groups, p):
    """Index arrays from an int (contiguous groups of that size, as skglm) or a list."""
    if isinstance(groups, (int, np.integer)):
        if groups < 1:
            raise ValueError(f"GroupLasso: groups must be a positive int or a list of index lists, got {groups!r}")
        return [np.arange(s, min(s + groups, p)) for s in range(0, p, groups)]
    out = [np.asarray(g, dtype=np.int64).ravel() for g in groups]
    seen = np.zeros(p, dtype=int)
    for g in out:
        if g.size == 0 or g.min() < 0 or g.max() >= p:
            raise ValueError(f"GroupLasso: every group must be a non-empty list of column indices < {p}")
        seen[g] += 1
    if np.any(seen > 1):
        raise ValueError("GroupLasso: groups overlap (each column may belong to one group)")
    return out


class GroupLasso(_LeastSquares):
    """Least squares + alpha sum_G weight_G ||w_G||_2 (block CD). ``groups``: an int (groups
    of that many contiguous columns) or a list of index lists; ``weights`` default to ones
    (as skglm's GroupLasso; solvelab.problems.group_lasso defaults to sqrt(|G|))."""

    def __init__(self, groups=1, alpha=1.0, weights=None, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False, backend="cd"):
        self.groups = groups
        self.alpha = alpha
        self.weights = weights
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.backend = backend

    def _check_params(self):
        check_nonneg(self.alpha, "alpha", "GroupLasso")

    def _structure(self):
        g = self.groups if isinstance(self.groups, (int, np.integer)) else tuple(map(tuple, np.asarray(self.groups, dtype=object)))
        wt = None if self.weights is None else tuple(np.asarray(self.weights, dtype=float))
        return (bool(self.fit_intercept), repr(g), wt)

    def _build(self, X, y, sw):
        import cvxpy as cp
        import solvelab as sl
        groups = _groups(self.groups, X.shape[1])
        wts = np.ones(len(groups)) if self.weights is None else np.asarray(self.weights, dtype=float).ravel()
        if wts.shape != (len(groups),) or not np.all(np.isfinite(wts)) or np.any(wts < 0):
            raise ValueError(f"GroupLasso: weights must be {len(groups)} finite numbers >= 0")
        w, b, r = _affine(X, y, self.fit_intercept)
        lam = cp.Parameter(nonneg=True, name="lam", value=1.0)
        pen = sum(float(c) * cp.norm2(w[g]) for g, c in zip(groups, wts))
        prob = sl.Problem(cp.Minimize(_squares(r, sw, X.shape[0]) + lam * pen))
        return prob, {"coef": w, "intercept": b, "lam": lam}

    def _set_level(self, h, n, sw):
        h["lam"].value = float(self.alpha)


class HuberLossRegressor(_LeastSquares):
    """sum_i sw_i huber_eps(r_i) + alpha ||w||^2, huber_eps(z) = z^2 (|z| <= eps), 2 eps |z| - eps^2.

    Not scikit-learn's HuberRegressor: that one also fits a scale sigma, minimizing
    sum_i sw_i (sigma + sigma huber_eps(r_i / sigma)) + alpha ||w||^2 over (w, sigma); this
    one fixes sigma = 1 (equivalently: threshold eps on the raw residuals). With sklearn's
    fitted ``scale_`` s, HuberLossRegressor(epsilon=eps s, alpha=alpha s) gives its coef_.
    Solved as (1/n) times the objective (same minimizer). Non-uniform sample weights: the
    weighted Huber datafit is not a ``cd`` form, so those fits go to ``fista``.
    """

    _cd_takes_weights = False

    def __init__(self, epsilon=1.35, alpha=1e-4, fit_intercept=True, max_iter=1000, tol=1e-5,
                 warm_start=False, backend="cd"):
        self.epsilon = epsilon
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.backend = backend

    def _check_params(self):
        check_nonneg(self.alpha, "alpha", "HuberLossRegressor")
        if check_nonneg(self.epsilon, "epsilon", "HuberLossRegressor") <= 0:
            raise ValueError(f"HuberLossRegressor: epsilon must be > 0, got {self.epsilon!r}")

    def fit(self, X, y, sample_weight=None):
        self._check_common()
        self._check_params()
        X, y = self._validate(X, y)
        sw = sample_weights(sample_weight, X, normalize=False)
        return self._solve(X, y, sw)

    def _structure(self):
        return (bool(self.fit_intercept), float(self.epsilon))

    def _build(self, X, y, sw):
        import cvxpy as cp
        import solvelab as sl
        w, b, r = _affine(X, y, self.fit_intercept)
        lam = cp.Parameter(nonneg=True, name="lam", value=1.0)
        hub = cp.huber(r, float(self.epsilon))
        loss = (cp.sum(hub) if sw is None else cp.sum(cp.multiply(sw, hub))) / X.shape[0]
        prob = sl.Problem(cp.Minimize(loss + lam * cp.sum_squares(w)))
        return prob, {"coef": w, "intercept": b, "lam": lam}

    def _set_level(self, h, n, sw):
        h["lam"].value = float(self.alpha) / n


def enet_path(X, y, *, l1_ratio=0.5, alphas=None, n_alphas=100, eps=1e-3, fit_intercept=False,
              tol=1e-4, max_iter=1000, backend="cd"):
    """(alphas, coefs) like sklearn's enet_path (coefs: n_features x n_alphas), solved in
    decreasing alpha order on one Problem (compiled once, each solve warm-started).
    ``fit_intercept`` defaults to False, as in sklearn's path functions."""
    est = ElasticNet(l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                     warm_start=True, backend=backend)
    return _path(est, X, y, alphas, n_alphas, eps, l1_ratio)


def lasso_path(X, y, *, alphas=None, n_alphas=100, eps=1e-3, fit_intercept=False, tol=1e-4,
               max_iter=1000, backend="cd"):
    """(alphas, coefs) like sklearn's lasso_path; see enet_path."""
    est = Lasso(fit_intercept=fit_intercept, tol=tol, max_iter=max_iter, warm_start=True, backend=backend)
    return _path(est, X, y, alphas, n_alphas, eps, 1.0)


def _path(est, X, y, alphas, n_alphas, eps, l1_ratio):
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    if alphas is None:
        Xd = X
        yc = np.asarray(y, dtype=float) - (np.mean(y) if est.fit_intercept else 0.0)
        grad = np.abs(np.asarray(Xd.T @ yc)).ravel() if not est.fit_intercept else \
            np.abs(np.asarray(Xd.T @ yc).ravel() - np.asarray(Xd.sum(axis=0)).ravel() * yc.mean())
        amax = grad.max() / (len(yc) * max(l1_ratio, 1e-3))
        alphas = amax * np.geomspace(1.0, eps, n_alphas)
    alphas = np.sort(np.asarray(alphas, dtype=float).ravel())[::-1]
    coefs, results = [], []
    for a in alphas:
        est.set_params(alpha=float(a))
        with warnings.catch_warnings():
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(X, y)
        coefs.append(est.coef_.copy())
        results.append(est.result_)
    if any(not r.optimal for r in results):
        warnings.warn(f"path: {sum(not r.optimal for r in results)} of {len(results)} solves not optimal",
                      ConvergenceWarning, stacklevel=3)
    return alphas, np.array(coefs).T
