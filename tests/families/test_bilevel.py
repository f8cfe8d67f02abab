"""The bilevel family: GLM hyperparameters and CVXPY declarations, both backends, checked
against independent oracles (NumPy ridge solves, scipy's scalar search, finite
differences of an independently computed value function) at data scales 1e-6 .. 1e6."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError, NonConvexError, ShapeError
from solvelab.problems.bilevel import corrupt_labels, data_hypercleaning, hyperparameter_learning

BACKENDS = ("hypergradient", "bamm")


def ridge_data(n=40, p=10, nv=50, seed=2, noise=2.0):
    """Noisy enough that the best single weight is inside (near e^-1.4, not at 0)."""
    rng = np.random.default_rng(seed)
    X, Xv = rng.standard_normal((n, p)), rng.standard_normal((nv, p))
    wt = np.r_[rng.standard_normal(p // 2), np.zeros(p - p // 2)]
    return X, X @ wt + noise * rng.standard_normal(n), Xv, Xv @ wt + noise * rng.standard_normal(nv)


def ridge_value(X, y, Xv, yv, u):
    """F(u) for per-feature (u of size p) or single (size 1) weights, by np.linalg.solve."""
    n, p = X.shape
    lam = np.exp(u) if np.size(u) == p else np.full(p, np.exp(u[0]))
    w = np.linalg.solve(X.T @ X / n + np.diag(lam), X.T @ y / n)
    return 0.5 * np.mean((Xv @ w - yv) ** 2)


def logistic_value(X, y, Xv, yv, u):
    """F(u) for the l2-logistic lower level, w* by a plain NumPy Newton iteration."""
    n, p = X.shape
    lam = np.exp(u) if np.size(u) == p else np.full(p, np.exp(u[0]))
    w = np.zeros(p)
    for _ in range(100):
        sig = 1 / (1 + np.exp(y * (X @ w)))          # sigma(-y z)
        grad = X.T @ (-y * sig) / n + lam * w
        H = (X.T * (sig * (1 - sig))) @ X / n + np.diag(lam)
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() <= 1e-15 * max(np.abs(w).max(), 1e-300):
            break
    return np.mean(np.logaddexp(0, -yv * (Xv @ w)))


def measure(cert, name):
    return next(m.value for m in cert.measures if m.name == name)


def fd_grad(F, u, h=1e-5):
    out = np.empty(u.size)
    for j in range(u.size):
        e = np.zeros(u.size)
        e[j] = h
        out[j] = (F(u + e) - F(u - e)) / (2 * h)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_single_ridge_weight_matches_a_scalar_search_at_every_scale(backend, scale):
    X, y, Xv, yv = ridge_data()
    Fo = lambda u: ridge_value(X, y, Xv, yv, np.array([u]))  # noqa: E731
    grid = np.linspace(-10, 5, 151)
    u0 = grid[int(np.argmin([Fo(u) for u in grid]))]
    ref = minimize_scalar(Fo, bounds=(u0 - 0.1, u0 + 0.1), method="bounded", options={"xatol": 1e-10})
    # X -> s X, y -> t y: the weight scales by s^2 (u shifts by 2 log s), F by t^2
    s, t = scale, np.sqrt(scale)
    prob = hyperparameter_learning(s * X, t * y, s * Xv, t * yv, weights="single")
    res = prob.solve(backend=backend, tol=1e-9)
    assert res.status == "optimal", res.message
    assert res.certificate.meets(1e-9)
    assert res.objective == pytest.approx(ref.fun * t * t, rel=1e-9)
    assert res.values["u"][0] - 2 * np.log(s) == pytest.approx(ref.x, abs=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_feature_ridge_is_stationary_for_an_independent_value_function(backend):
    X, y, Xv, yv = ridge_data(p=6)
    prob = hyperparameter_learning(X, y, Xv, yv, u_bounds=None)
    res = prob.solve(backend=backend, tol=1e-8)
    assert res.status == "optimal", res.message
    u = res.values["u"]
    F = lambda v: ridge_value(X, y, Xv, yv, v)  # noqa: E731
    assert res.objective == pytest.approx(F(u), rel=1e-12)
    g = fd_grad(F, u)
    assert np.abs(g).sum() <= 1e-6 * F(u)          # the certified 1e-8, plus the FD error
    # (a stationary point only: unbounded weights drift to +-inf, where F is flat; the two
    # backends may stop at different such points, which is all the certificate claims)


def test_the_hypergradient_matches_finite_differences_of_an_independent_solve():
    X, y, Xv, yv = ridge_data(p=6, seed=3)
    yl, yvl = np.sign(y), np.sign(yv)
    prob = hyperparameter_learning(X, yl, Xv, yvl, loss="logistic")
    u = np.log(np.array([0.01, 0.1, 0.05, 0.3, 1.0, 0.02]))
    _, grad, _, _ = prob.program.hypergradient(u)
    fd = fd_grad(lambda v: logistic_value(X, yl, Xv, yvl, v), u, h=1e-4)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-7 * np.abs(fd).max())


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_logistic_single_weight_agrees_across_backends_and_with_an_independent_solve(scale):
    X, y, Xv, yv = ridge_data(n=150, p=5, nv=100, seed=4)
    yl, yvl = np.sign(y), np.sign(yv)
    Fo = lambda u: logistic_value(X, yl, Xv, yvl, np.array([u]))  # noqa: E731
    grid = np.linspace(-10, 3, 53)
    u0 = grid[int(np.argmin([Fo(u) for u in grid]))]
    assert -10 < u0 < 3                                  # an interior optimum
    ref = minimize_scalar(Fo, bounds=(u0 - 0.25, u0 + 0.25), method="bounded", options={"xatol": 1e-9})
    for backend in BACKENDS:
        prob = hyperparameter_learning(scale * X, yl, scale * Xv, yvl, loss="logistic", weights="single")
        res = prob.solve(backend=backend, tol=1e-8)
        assert res.status == "optimal", (backend, res.message)
        assert res.objective == pytest.approx(ref.fun, rel=1e-10)
        assert res.values["u"][0] - 2 * np.log(scale) == pytest.approx(ref.x, abs=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_logistic_per_feature_weights_are_stationary_for_an_independent_value_function(backend):
    X, y, Xv, yv = ridge_data(n=150, p=5, nv=100, seed=4)
    yl, yvl = np.sign(y), np.sign(yv)
    prob = hyperparameter_learning(X, yl, Xv, yvl, loss="logistic")
    res = prob.solve(backend=backend, tol=1e-7)
    assert res.status == "optimal", res.message
    u = res.values["u"]
    F = lambda v: logistic_value(X, yl, Xv, yvl, v)  # noqa: E731
    assert res.objective == pytest.approx(F(u), rel=1e-12)
    g = prob.program.projected(u, fd_grad(F, u, h=1e-4))
    assert np.abs(g).sum() <= 1e-5 * F(u)


def test_hypercleaning_weights_down_the_corrupted_samples():
    rng = np.random.default_rng(5)
    X, Xv = rng.standard_normal((300, 5)), rng.standard_normal((200, 5))
    wt = rng.standard_normal(5) * 2
    y, yv = np.sign(X @ wt), np.sign(Xv @ wt)
    yc, mask = corrupt_labels(y, 0.4, seed=1)
    assert mask.sum() == 120 and np.all(yc[mask] != y[mask])
    results = {}
    for backend in BACKENDS:
        prob = data_hypercleaning(X, yc, Xv, yv)
        res = prob.solve(backend=backend, tol=1e-6, max_iter=20000)
        assert res.status == "optimal", (backend, res.message)
        s = prob.weights(res)
        assert s[mask].mean() < 0.5 * s[~mask].mean()
        results[backend] = res
    # the cleaned fit beats the plain (all weights 1/2) fit on the validation loss
    plain = data_hypercleaning(X, yc, Xv, yv).program
    assert results["bamm"].objective < plain.value_function(plain.u0)


def test_a_cvxpy_declaration_solves_the_same_problem():
    X, y, Xv, yv = ridge_data(p=4, seed=6)
    n = X.shape[0]
    u, w = cp.Variable(1, name="u"), cp.Variable(4, name="w")
    lower = cp.sum_squares(X @ w - y) / (2 * n) + 0.5 * cp.exp(u[0]) * cp.sum_squares(w)
    upper = cp.sum_squares(Xv @ w - yv) / (2 * Xv.shape[0])
    prob = sl.Bilevel(upper, lower, [u], [w])
    res = prob.solve(backend="hypergradient", tol=1e-7)
    assert res.status == "optimal", res.message
    ref = hyperparameter_learning(X, y, Xv, yv, weights="single", u_bounds=None).solve(backend="hypergradient",
                                                                                        tol=1e-9)
    assert res.objective == pytest.approx(ref.objective, rel=1e-8)
    assert u.value[0] == pytest.approx(ref.values["u"][0], abs=1e-3)
    np.testing.assert_allclose(w.value, ref.values["w"], rtol=1e-3, atol=1e-6)


def test_the_certificate_rejects_a_point_that_is_not_stationary():
    X, y, Xv, yv = ridge_data()
    prob = hyperparameter_learning(X, y, Xv, yv, weights="single")
    res = prob.solve(backend="hypergradient", tol=1e-9)
    x = res.x.copy()
    x[0] += 0.5                     # another weight, with its own exact lower solution
    cert = prob.program.certify(x)
    assert measure(cert, "upper_stationarity") > 1e-3
    x = res.x.copy()
    x[1:] *= 1.01                   # the right weight, a wrong lower point
    cert = prob.program.certify(x)
    assert measure(cert, "lower_stationarity") > 1e-4 and measure(cert, "lower_value_gap") > 1e-8
    assert not cert.meets(1e-6)


def test_bounds_on_the_weights_are_held_and_certified():
    X, y, Xv, yv = ridge_data()
    prob = hyperparameter_learning(X, y, Xv, yv, weights="single", u_bounds=(-20.0, -8.0))
    res = prob.solve(backend="hypergradient", tol=1e-9)
    assert res.status == "optimal", res.message
    assert res.values["u"][0] == pytest.approx(-8.0)      # the optimum lies above the box: held at the bound


# ---- bad input ------------------------------------------------------------------------

def test_bad_data_is_refused_with_its_name():
    X, y, Xv, yv = ridge_data()
    with pytest.raises(InvalidDataError, match="X_val has NaN"):
        hyperparameter_learning(X, y, np.where(Xv > 2, np.inf, Xv), yv)
    with pytest.raises(ShapeError, match="y_train must be a vector of 40"):
        hyperparameter_learning(X, y[:10], Xv, yv)
    with pytest.raises(ShapeError, match="empty data"):
        hyperparameter_learning(X[:0], y[:0], Xv, yv)
    with pytest.raises(InvalidDataError, match="must be a numeric matrix"):
        hyperparameter_learning(np.array([["a", "b"]]), y, Xv, yv)
    with pytest.raises(InvalidDataError, match="weights must be 'feature' or 'single'"):
        hyperparameter_learning(X, y, Xv, yv, weights="sample")
    with pytest.raises(InvalidDataError, match="loss must be one of"):
        hyperparameter_learning(X, y, Xv, yv, loss="hinge")
    with pytest.raises(ShapeError, match="u0 must have 10 entries"):
        hyperparameter_learning(X, y, Xv, yv, u0=np.zeros(3))
    with pytest.raises(InvalidDataError, match="lower bound exceeds"):
        hyperparameter_learning(X, y, Xv, yv, u_bounds=(1.0, 0.0))
    with pytest.raises(InvalidDataError, match="all zeros"):
        hyperparameter_learning(0 * X, y, Xv, yv)


def test_bad_options_are_refused_by_the_backend_that_reads_them():
    X, y, Xv, yv = ridge_data()
    prob = hyperparameter_learning(X, y, Xv, yv, weights="single")
    with pytest.raises(InvalidDataError, match="memory must be a positive integer"):
        prob.solve(backend="hypergradient", memory=0)
    with pytest.raises(InvalidDataError, match="mu0 must be a nonnegative number"):
        prob.solve(backend="bamm", mu0=-1.0)


def test_a_lower_level_not_convex_in_w_is_refused():
    u, w = cp.Variable(1), cp.Variable(3)
    with pytest.raises(NonConvexError, match="not convex in the lower variables"):
        sl.Bilevel(cp.sum_squares(w), -cp.sum_squares(w) + cp.exp(u[0]) * cp.sum(w), [u], [w])


def test_upper_variables_absent_from_the_lower_level_are_refused():
    u, v, w = cp.Variable(1, name="u"), cp.Variable(1, name="v"), cp.Variable(3)
    with pytest.raises(InvalidDataError, match=r"absent from the lower level: \['v'\]"):
        sl.Bilevel(cp.sum_squares(w) + v[0] ** 2, cp.sum_squares(w - 1) + cp.exp(u[0]) * cp.sum_squares(w),
                   [u, v], [w])
    with pytest.raises(InvalidDataError, match="neither upper nor lower"):
        z = cp.Variable(2)
        sl.Bilevel(cp.sum_squares(w), cp.sum_squares(w) + cp.exp(u[0]) * cp.sum_squares(z), [u], [w])


def test_constrained_levels_are_refused_clearly():
    u, w = cp.Variable(1), cp.Variable(3)
    prob = sl.Bilevel(cp.sum_squares(w - 1), cp.sum_squares(w) + cp.exp(u[0]) * cp.sum_squares(w - 2), [u], [w],
                      lower_constraints=[w >= 0])
    for backend in BACKENDS:
        with pytest.raises(BackendRefusedError, match="has constraints"):
            prob.solve(backend=backend)


def test_a_bilevel_program_is_refused_by_convex_backends_naming_its_own():
    X, y, Xv, yv = ridge_data()
    prob = hyperparameter_learning(X, y, Xv, yv)
    with pytest.raises(BackendRefusedError, match="hypergradient"):
        prob.solve(backend="admm")
