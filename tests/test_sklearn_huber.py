"""``solvelab.sklearn.HuberRegressor`` (the scale sigma fitted jointly, as scikit-learn's):
its point is checked by the joint gradient of the objective in (w, b, sigma), against
scikit-learn's own fit, and at data scales 1e-6 .. 1e6."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import HuberRegressor as SKHuber

from solvelab.sklearn.huber import HuberRegressor, best_scale


def _data(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
    y[:20] += 8 * rng.standard_normal(20)          # outliers
    return X, y


def objective(X, y, w, b, s, eps=1.35, alpha=1e-4, sw=None):
    sw = np.ones(X.shape[0]) if sw is None else sw
    z = (X @ w + b - y) / s
    H = np.where(np.abs(z) <= eps, z * z, 2 * eps * np.abs(z) - eps ** 2)
    return float(sw @ (s + s * H)) + alpha * float(w @ w)


def joint_gradient(X, y, w, b, s, eps=1.35, alpha=1e-4, sw=None):
    """d objective / d(w, b, sigma), written out (independent of the estimator's code)."""
    sw = np.ones(X.shape[0]) if sw is None else sw
    r = X @ w + b - y
    z = r / s
    dH = np.where(np.abs(z) <= eps, 2 * z, 2 * eps * np.sign(z))      # H'(z); d/dr of s H(r/s) is H'(z)
    gw = X.T @ (sw * dH) + 2 * alpha * w
    gb = float(sw @ dH)
    gs = float(sw @ np.where(np.abs(z) <= eps, 1 - z * z, 1 - eps ** 2))
    return gw, gb, gs


def _check_stationary(X, y, est, alpha=1e-4, sw=None, rtol=1e-7):
    gw, gb, gs = joint_gradient(X, y, est.coef_, est.intercept_, est.scale_, alpha=alpha, sw=sw)
    total = X.shape[0] if sw is None else float(sw.sum())
    # relative to the size of the summands of each partial derivative
    size_w = np.abs(X).T @ np.full(X.shape[0], 2 * 1.35) + 2 * alpha * np.abs(est.coef_)
    assert np.all(np.abs(gw) <= rtol * size_w)
    assert abs(gb) <= rtol * 2 * 1.35 * total and abs(gs) <= rtol * total


def test_matches_sklearn_and_is_stationary():
    X, y = _data()
    sk = SKHuber(tol=1e-12, max_iter=10000).fit(X, y)
    me = HuberRegressor(tol=1e-10).fit(X, y)
    assert me.status_ == "optimal" and me.scale_stationarity_ <= 1e-10
    _check_stationary(X, y, me)
    f_sk = objective(X, y, sk.coef_, sk.intercept_, sk.scale_)
    f_me = objective(X, y, me.coef_, me.intercept_, me.scale_)
    assert f_me <= f_sk * (1 + 1e-12)                        # at least as good as scikit-learn's
    assert np.abs(me.coef_ - sk.coef_).max() <= 1e-4 * np.abs(sk.coef_).max()
    assert me.scale_ == pytest.approx(sk.scale_, rel=1e-4)
    assert np.array_equal(me.outliers_, sk.outliers_)
    assert me.score(X, y) == pytest.approx(sk.score(X, y), rel=1e-6)


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_scaled_targets_scale_the_solution(s):
    """(s y, alpha / s) has the minimizer s (w, b, sigma) of (y, alpha)."""
    X, y = _data(seed=1)
    one = HuberRegressor(tol=1e-9).fit(X, y)
    sc = HuberRegressor(tol=1e-9, alpha=1e-4 / s).fit(X, s * y)
    assert sc.status_ == "optimal"
    assert np.abs(sc.coef_ / s - one.coef_).max() <= 1e-7 * np.abs(one.coef_).max()
    assert sc.scale_ / s == pytest.approx(one.scale_, rel=1e-7)
    _check_stationary(X, s * y, sc, alpha=1e-4 / s)


def test_sample_weights_match_sklearn():
    X, y = _data(seed=2)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, X.shape[0])
    sk = SKHuber(tol=1e-12, max_iter=10000).fit(X, y, sample_weight=sw)
    me = HuberRegressor(tol=1e-9).fit(X, y, sample_weight=sw)
    assert me.result_.backend == "fista"
    _check_stationary(X, y, me, sw=sw, rtol=1e-6)
    assert objective(X, y, me.coef_, me.intercept_, me.scale_, sw=sw) <= \
        objective(X, y, sk.coef_, sk.intercept_, sk.scale_, sw=sw) * (1 + 1e-9)


def test_best_scale_is_the_exact_one_dimensional_minimizer():
    r = np.random.default_rng(3).standard_normal(200) * 2.0
    sw = np.ones(200)
    s = best_scale(r, 1.35, sw, 1.0)
    f = lambda t: objective(np.zeros((200, 1)), -r, np.zeros(1), 0.0, t)   # noqa: E731
    assert f(s) <= min(f(s * (1 + 1e-6)), f(s * (1 - 1e-6)))


def test_bad_parameters():
    X, y = _data()
    with pytest.raises(ValueError, match="epsilon must be >= 1.0"):
        HuberRegressor(epsilon=0.5).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        HuberRegressor(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="max_outer"):
        HuberRegressor(max_outer=0).fit(X, y)
