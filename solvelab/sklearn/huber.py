"""scikit-learn's HuberRegressor objective, scale included, on solvelab's backends.

    min over (w, b, sigma > 0)   sum_i sw_i (sigma + sigma H_eps(r_i / sigma)) + alpha ||w||^2,
    r = X w + b - y,  H_eps(z) = z^2 (|z| <= eps), 2 eps |z| - eps^2 (otherwise)

is jointly convex (a perspective). Block coordinate descent on its two blocks:

    w-step   at fixed sigma, with u = w / sigma and c = b / sigma the objective over sigma
             is sum sw H_eps(X u + c - y / sigma) + alpha sigma ||u||^2: a fixed-threshold
             Huber regression whose data y / sigma and ridge weight alpha sigma are
             Parameters, so the Problem is compiled once and each solve is warm-started
             (the ``cd`` backend; ``fista`` with sample weights)
    sigma-step  at fixed r, dF/dsigma = sum_{|r| <= eps sigma} sw (1 - r^2 / sigma^2) +
             (1 - eps^2) sum_{|r| > eps sigma} sw is nondecreasing in sigma: its root by
             a fixed-point iteration on the inlier set (sigma^2 = sum_in sw r^2 /
             (sum_in sw + (1 - eps^2) sum_out sw)), safeguarded by bisection

until the w-step's certificate meets tol and the scale's stationarity |dF/dsigma| /
sum sw <= tol (``scale_stationarity_``, scale-invariant: a rescaled y moves sigma with it).

sigma >= sigma_min = 10 eps_machine max |y| (scikit-learn bounds sigma by 10 eps_machine;
here relative to y, so a rescaled problem rescales the bound). When most residuals can
be driven to zero the infimum lies at sigma -> 0 (F tends to the L1 regression's 2 eps
sum |r|, lowered by (1 - eps^2) sigma per outlier); sigma then rests on the bound
(``scale_at_bound_``), where only dF/dsigma >= 0 is required.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.exceptions import ConvergenceWarning

from ._base import SolvelabEstimator, check_nonneg, sample_weights

__all__ = ["HuberRegressor"]


def scale_slope(r, sigma, eps, sw) -> float:
    """dF/dsigma at sigma for residuals r (sum over samples, weights sw)."""
    inl = np.abs(r) <= eps * sigma
    z2 = np.where(inl, r / sigma, 0.0) ** 2      # only the inliers' z (|z| <= eps): no overflow
    return float((sw * np.where(inl, 1.0 - z2, 1.0 - eps ** 2)).sum())


def best_scale(r, eps, sw, sigma0, sigma_min=0.0) -> float:
    """argmin over sigma >= sigma_min of sum sw (sigma + sigma H_eps(r / sigma)) at fixed r."""
    rmax = float(np.max(np.abs(r), initial=0.0))
    if rmax == 0.0 or scale_slope(r, max(sigma_min, 1e-300), eps, sw) >= 0.0 and sigma_min > 0:
        return max(sigma_min, 1e-300) if rmax == 0.0 or sigma_min > 0 else sigma0
    sigma = max(sigma0, sigma_min)
    for _ in range(100):                       # the fixed point on the inlier set
        inl = np.abs(r) <= eps * sigma
        den = float(sw[inl].sum()) + (1.0 - eps ** 2) * float(sw[~inl].sum())
        num = float((sw[inl] * r[inl] ** 2).sum())
        if den <= 0.0 or num <= 0.0:
            break
        new = max(np.sqrt(num / den), sigma_min)
        if abs(new - sigma) <= 1e-15 * sigma:
            return new
        sigma = new
    lo, hi = max(sigma_min, 1e-300), max(rmax / eps, sigma0, sigma_min) * 2.0   # bisection on the slope
    while scale_slope(r, hi, eps, sw) < 0.0:
        hi *= 2.0
    for _ in range(200):
        mid = np.sqrt(lo * hi) if lo > 0 else 0.5 * hi
        if scale_slope(r, mid, eps, sw) < 0.0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return hi


def huber_objective(r, w, sigma, eps, alpha, sw) -> float:
    """F = sum sw (sigma + sigma H_eps(r / sigma)) + alpha ||w||^2."""
    z = r / sigma
    H = np.where(np.abs(z) <= eps, z * z, 2.0 * eps * np.abs(z) - eps ** 2)
    return float(sw @ (sigma + sigma * H)) + alpha * float(w @ w)


def _usable(res, tol) -> bool:
    """A w-step good enough to take the scale step from: optimal, or stopped within 1e3 tol
    (the certificate's own margin for 'inaccurate'); the final status still says which."""
    return res.optimal or (res.certificate is not None and res.certificate.value <= 1e3 * tol)


def _stationarity(r, sigma, sigma_min, eps, sw) -> float:
    """|dF/dsigma| inside; at the bound sigma_min only a negative slope violates."""
    g = scale_slope(r, sigma, eps, sw)
    return abs(g) if sigma > sigma_min else max(-g, 0.0)


class HuberRegressor(RegressorMixin, SolvelabEstimator):
    """scikit-learn's ``HuberRegressor(epsilon, alpha, fit_intercept)``: coef_, intercept_,
    scale_, outliers_ as there (see the module docstring for the method). ``tol``: the
    relative certificate target of the w-steps and of the scale's stationarity;
    ``max_iter``: the budget of each w-step; ``max_outer``: of the alternation."""

    _cd_takes_weights = False

    def __init__(self, epsilon=1.35, alpha=1e-4, fit_intercept=True, max_iter=1000, tol=1e-5,
                 warm_start=False, backend="cd", max_outer=200):
        self.epsilon = epsilon
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.backend = backend
        self.max_outer = max_outer

    def _check_params(self):
        check_nonneg(self.alpha, "alpha", "HuberRegressor")
        eps = check_nonneg(self.epsilon, "epsilon", "HuberRegressor")
        if eps < 1.0:
            raise ValueError(f"HuberRegressor: epsilon must be >= 1.0 (as scikit-learn's), got {self.epsilon!r}")
        if not isinstance(self.max_outer, (int, np.integer)) or self.max_outer < 1:
            raise ValueError(f"HuberRegressor: max_outer must be a positive integer, got {self.max_outer!r}")

    def _structure(self):
        return (bool(self.fit_intercept), float(self.epsilon))

    def _build(self, X, y, sw):
        import cvxpy as cp
        import solvelab as sl
        u = cp.Variable(X.shape[1], name="coef")
        c = cp.Variable(name="intercept") if self.fit_intercept else None
        ys = cp.Parameter(X.shape[0], name="y_over_sigma", value=np.asarray(y, dtype=np.float64))
        lam = cp.Parameter(nonneg=True, name="lam", value=1.0)
        r = X @ u - ys if c is None else X @ u + c - ys
        hub = cp.huber(r, float(self.epsilon))
        loss = (cp.sum(hub) if sw is None else cp.sum(cp.multiply(sw, hub))) / X.shape[0]
        prob = sl.Problem(cp.Minimize(loss + lam * cp.sum_squares(u)))
        return prob, {"coef": u, "intercept": c, "ys": ys, "lam": lam}

    def fit(self, X, y, sample_weight=None):
        self._check_common()
        self._check_params()
        X, y = self._validate(X, y)
        sw = sample_weights(sample_weight, X, normalize=False)
        w_all = np.ones(X.shape[0]) if sw is None else sw
        prob, h = self._problem(X, y, sw)
        self.problem_, self._handles = prob, h
        backend = "fista" if (sw is not None and self.backend == "cd") else self.backend
        eps, n, tol = float(self.epsilon), X.shape[0], float(self.tol)
        sigma = float(getattr(self, "scale_", 0.0)) if self.warm_start else 0.0
        if not sigma > 0:
            med = float(np.median(np.abs(y - (np.median(y) if self.fit_intercept else 0.0))))
            sigma = med / 0.6745 if med > 0 else (float(np.std(y)) or 1.0)
        total = float(w_all.sum())
        ymax = float(np.max(np.abs(y), initial=0.0))
        if ymax == 0.0:   # y = 0: w = 0, b = 0 fit exactly and sigma -> 0; scikit-learn's bound 10 eps
            return self._exact_zero(X, y, w_all)
        sigma_min = 10.0 * np.finfo(np.float64).eps * ymax
        sigma = max(sigma, sigma_min)
        res, slope, it = None, np.inf, 0
        # the first w-step of a cold fit starts from zero even when the Problem is shared
        # (small data: see _base.SMALL_DATA_VALUES); later ones start from the previous
        warm = [bool(self.warm_start)]

        def w_step(sig):
            """The w-step at sigma: (Result, residuals r, objective F)."""
            h["ys"].value = np.asarray(y, dtype=np.float64) / sig
            h["lam"].value = float(self.alpha) * sig / n
            out = prob.solve(backend=backend, warm_start=warm[0], tol=tol, max_iter=int(self.max_iter))
            warm[0] = True
            u = np.asarray(h["coef"].value, dtype=np.float64).ravel()
            cval = float(h["intercept"].value) if h["intercept"] is not None else 0.0
            rr = sig * (np.asarray(X @ u).ravel() + cval) - y
            return out, rr, huber_objective(rr, sig * u, sig, eps, float(self.alpha), w_all)

        shrinking, best = 0, (np.inf, sigma)
        for it in range(1, int(self.max_outer) + 1):
            res, r, F = w_step(sigma)
            if not _usable(res, tol) or not np.isfinite(F):
                break          # a w-step far from its optimum would mislead the scale step: stop at the best
            if F < best[0]:
                best = (F, sigma)
            new = best_scale(r, eps, w_all, sigma, sigma_min)
            shrinking = shrinking + 1 if new < 0.7 * sigma else 0
            if shrinking >= 3 and sigma > sigma_min:
                # sigma has kept shrinking (data that can be interpolated: the infimum is at
                # sigma -> 0); min_w F(w, sigma) is convex in sigma, so try the bound and keep
                # it if F is lower there
                res_b, r_b, F_b = w_step(sigma_min)
                if _usable(res_b, tol) and F_b <= F:
                    new, r, res, best = sigma_min, r_b, res_b, (F_b, sigma_min)
                shrinking = 0
            moved = abs(new - sigma) / sigma
            sigma = new
            slope = _stationarity(r, sigma, sigma_min, eps, w_all) / total
            if slope <= tol and moved <= tol:
                break
        if not (_usable(res, tol) and np.isfinite(F)) and np.isfinite(best[0]):
            sigma = best[1]
        # the final w-step at the final sigma, so coef_ and scale_ belong together
        res, r, _ = w_step(sigma)
        self.coef_ = sigma * np.asarray(h["coef"].value, dtype=np.float64).ravel()
        self.intercept_ = sigma * float(h["intercept"].value) if h["intercept"] is not None else 0.0
        self.scale_ = sigma
        self.scale_stationarity_ = _stationarity(r, sigma, sigma_min, eps, w_all) / total
        self.scale_at_bound_ = bool(sigma <= sigma_min)
        self.outliers_ = np.abs(r) > eps * sigma
        self.result_, self.status_, self.n_iter_ = res, str(res.status), it
        ok = res.optimal and self.scale_stationarity_ <= tol
        if not ok:
            warnings.warn(f"HuberRegressor: after {it} alternations the w-step ended {res.status} and the scale's "
                          f"stationarity is {self.scale_stationarity_:.2e} (tol {tol:g}); increase max_outer, "
                          f"max_iter or tol", ConvergenceWarning, stacklevel=2)
        return self

    def _exact_zero(self, X, y, sw):
        self.coef_, self.intercept_ = np.zeros(X.shape[1]), 0.0
        self.scale_ = 10.0 * np.finfo(np.float64).eps
        self.scale_stationarity_, self.scale_at_bound_ = 0.0, True
        self.outliers_ = np.zeros(X.shape[0], dtype=bool)
        self.result_, self.status_, self.n_iter_ = None, "optimal", 0
        return self

    def predict(self, X):
        return self._decision(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
