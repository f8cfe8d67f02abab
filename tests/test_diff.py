"""Implicit gradients of a function of the solution w.r.t. Parameters, checked by central
differences of tightly solved problems (the only place solves are differenced)."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl


def _fd(prob, param, x_var, v, h, direction=None, tol=1e-13):
    """Central difference of L = v . x(param) along ``direction`` (default: the one entry
    of a scalar Parameter)."""
    base = np.array(param.value, dtype=np.float64)
    d = np.ones_like(base) if direction is None else direction
    vals = []
    for sgn in (1, -1):
        moved = base + sgn * h * d
        param.value = moved if base.shape else float(moved)
        prob.solve(backend="cd", tol=tol, max_iter=100000)
        vals.append(float(v @ x_var.value))
    param.value = base if base.shape else float(base)
    return (vals[0] - vals[1]) / (2 * h)


def test_lasso_gradient_in_lam_and_b():
    rng = np.random.default_rng(0)
    m, n = 40, 15
    A = rng.standard_normal((m, n))
    b = cp.Parameter(m, value=A[:, :3] @ np.array([2.0, -1.0, 0.5]) + 0.3 * rng.standard_normal(m))
    lam = cp.Parameter(nonneg=True, value=0.05)
    x = cp.Variable(n)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) / (2 * m) + lam * cp.norm1(x)))
    res = prob.solve(backend="cd", tol=1e-13, max_iter=100000)
    assert res.status is sl.Status.OPTIMAL and 0 < np.count_nonzero(res.x) < n
    v = rng.standard_normal(n)
    g = res.vjp({x: v})
    assert set(g) == {b, lam}
    assert g[lam] == pytest.approx(_fd(prob, lam, x, v, 1e-6), rel=1e-5, abs=1e-8)
    for _ in range(3):    # directional derivatives in b
        d = rng.standard_normal(m)
        assert float(g[b] @ d) == pytest.approx(_fd(prob, b, x, v, 1e-6, d), rel=1e-5, abs=1e-8)


def test_logistic_and_elastic_net_gradients():
    rng = np.random.default_rng(1)
    m, n = 60, 10
    A = rng.standard_normal((m, n))
    y = np.sign(A[:, :3] @ np.ones(3) + 0.5 * rng.standard_normal(m))
    lam = cp.Parameter(nonneg=True, value=0.02)
    mu = cp.Parameter(nonneg=True, value=0.05)
    x = cp.Variable(n)
    obj = cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / m + lam * cp.norm1(x) + mu * cp.sum_squares(x)
    prob = sl.Problem(cp.Minimize(obj))
    res = prob.solve(backend="cd", tol=1e-12, max_iter=100000)
    assert res.status is sl.Status.OPTIMAL
    v = rng.standard_normal(n)
    g = res.vjp(v)
    # (tol 1e-11: at 1e-13 cd's Newton line searches spin on this logistic model, ~20 s a solve)
    assert g[lam] == pytest.approx(_fd(prob, lam, x, v, 1e-5, tol=1e-11), rel=1e-5, abs=1e-8)
    assert g[mu] == pytest.approx(_fd(prob, mu, x, v, 1e-5, tol=1e-11), rel=1e-5, abs=1e-8)


def test_ot_value_gradients_are_the_envelope():
    rng = np.random.default_rng(2)
    a = rng.random(8) + 0.2
    b = rng.random(6) + 0.2
    a, b = a / a.sum(), b / b.sum()
    C = rng.random((8, 6))
    eps = 0.1

    def value(a_, b_, C_):
        r = sl.problems.entropic_ot(a_, b_, C_, eps).solve(backend="sinkhorn_newton", tol=1e-13)
        return r.objective

    prob = sl.problems.entropic_ot(a, b, C, eps)
    res = prob.solve(backend="sinkhorn_newton", tol=1e-13)
    grads = sl.diff.value_gradients(prob, res)
    h = 1e-6
    dC = np.zeros_like(C)
    dC[2, 3] = h
    assert (value(a, b, C + dC) - value(a, b, C - dC)) / (2 * h) == pytest.approx(grads["C"][2, 3], rel=1e-6)
    da, db = np.zeros_like(a), np.zeros_like(b)     # a balanced move: sum da = sum db
    da[1], db[4] = h, h
    fd = (value(a + da, b + db, C) - value(a - da, b - db, C)) / (2 * h)
    assert fd == pytest.approx(grads["a"][1] + grads["b"][4], rel=1e-6)


def test_refusals_say_what_is_supported():
    x = cp.Variable(3)
    p = cp.Parameter(3, value=np.ones(3))
    prob = sl.Problem(cp.Minimize(cp.sum_squares(x - p)), [cp.norm(x, 2) <= 1])
    res = prob.solve(backend="admm")
    with pytest.raises(sl.BackendRefusedError, match=r"soc .* not supported by the KKT derivative .* are\)"):
        res.vjp({x: np.ones(3)})
    with pytest.raises(NotImplementedError):
        sl.Result(x=None, status=sl.Status.OPTIMAL, objective=0.0, certificate=None, iterations=0).vjp(None)
