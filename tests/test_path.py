"""Regularization paths (``sl.path``): warm starts, monotonicity, agreement with cold
solves, errors."""
import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

import solvelab as sl
from solvelab.errors import InvalidDataError
from solvelab.result import Status


def _data(seed=0, m=80, p=150):
    rng = np.random.default_rng(seed)
    A = sp.random(m, p, density=0.2, random_state=seed, format="csc", data_rvs=rng.standard_normal)
    x0 = np.where(rng.random(p) < 0.1, rng.standard_normal(p), 0.0)
    return A, A @ x0 + 0.3 * rng.standard_normal(m)


def test_lasso_path_is_monotone_and_matches_cold_solves():
    A, b = _data()
    n = A.shape[0]
    lmax = np.max(np.abs(A.T @ b)) / n
    prob = sl.problems.lasso(A, b, lmax)
    lams = lmax * np.geomspace(1.0, 1e-3, 15)
    res = sl.path(prob, prob.lam, lams, backend="cd", tol=1e-8)
    assert len(res) == 15 and res.all_optimal
    assert np.all(res.coefs[0] == 0)                     # lam_max: x = 0
    l1 = np.abs(res.coefs).sum(axis=1)
    assert np.all(np.diff(l1) >= -1e-8 * max(1.0, l1.max()))   # ||x(lam)||_1 grows as lam falls
    assert np.all(np.diff(res.objectives) <= 1e-12)           # the optimal value falls with lam
    for k in (3, 9, 14):
        cold = sl.problems.lasso(A, b, lams[k]).solve(backend="cd", tol=1e-8, warm_start=False)
        assert abs(cold.objective - res[k].objective) <= 1e-7 * max(1.0, abs(cold.objective))
        assert set(np.nonzero(cold.x)[0]) == set(np.nonzero(res.coefs[k])[0])
    assert all(r.info["warm_start"] for r in res.results[1:])


def test_warm_path_needs_fewer_epochs_than_cold_solves():
    A, b = _data(1, m=100, p=400)
    n = A.shape[0]
    lmax = np.max(np.abs(A.T @ b)) / n
    lams = lmax * np.geomspace(0.5, 1e-2, 12)
    prob = sl.problems.lasso(A, b, lams[0])
    warm = sl.path(prob, "lam", lams, backend="cd")
    cold = sum(sl.problems.lasso(A, b, v).solve(backend="cd", warm_start=False).iterations for v in lams)
    assert warm.all_optimal
    assert sum(r.iterations for r in warm) < cold


def test_logreg_and_cvxpy_problem_path():
    A, b = _data(2)
    y = np.sign(b + 1e-12)
    n, p = A.shape
    lam = cp.Parameter(nonneg=True, name="alpha")
    x = cp.Variable(p)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / n + lam * cp.norm1(x)))
    lmax = np.max(np.abs(A.T @ y)) / (2 * n)
    vals = lmax * np.array([0.9, 0.3, 0.1, 0.03])
    res = sl.path(prob, lam, vals, backend="cd", tol=1e-7)
    assert res.all_optimal and all(r.backend == "cd" for r in res)
    nnz = (res.coefs != 0).sum(axis=1)
    assert nnz[0] <= nnz[-1] and nnz[-1] > 0
    assert "alpha" in repr(res)


def test_path_errors():
    A, b = _data(3, m=20, p=10)
    prob = sl.problems.lasso(A, b, 0.1)
    with pytest.raises(InvalidDataError, match="not allowed"):
        sl.path(prob, prob.lam, [0.1, -1.0])
    with pytest.raises(InvalidDataError, match="no.*parameter"):
        sl.path(prob, "nope", [0.1])
    with pytest.raises(InvalidDataError, match="does not appear"):
        sl.path(prob, cp.Parameter(nonneg=True), [0.1])
    with pytest.raises(InvalidDataError, match="no values"):
        sl.path(prob, prob.lam, [])
    res = sl.path(prob, prob.lam, [0.2, 0.1])
    assert [r.status for r in res] == [Status.OPTIMAL, Status.OPTIMAL]


@pytest.mark.parametrize("kind", ["mcp", "scad"])
def test_nonconvex_penalty_level_is_a_parameter_and_paths_follow_it(kind):
    """MCP / SCAD take lam as a Parameter named 'lam': a warm-started path gives, at each
    value, a point as good as a cold solve there (a stationary point of the same
    objective; nonconvex, so objectives are compared, with the same support)."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((80, 40))
    xt = np.where(rng.random(40) < 0.15, 2 * rng.standard_normal(40), 0.0)
    b = A @ xt + 0.1 * rng.standard_normal(80)
    make = sl.problems.mcp_regression if kind == "mcp" else sl.problems.scad
    prob = make(A, b, 0.5)
    assert any(p.name() == "lam" for p in prob.parameters())
    lams = np.geomspace(0.5, 0.02, 6)
    res = sl.path(prob, "lam", lams, backend="cd", tol=1e-8)
    assert all(r.status is Status.OPTIMAL for r in res)
    for lam, r in zip(lams, res):
        cold = make(A, b, lam).solve(backend="cd", tol=1e-8, warm_start=False)
        assert cold.status is Status.OPTIMAL
        assert r.objective <= cold.objective + 1e-6 * max(1.0, abs(cold.objective))
        assert r.objective == pytest.approx(cold.objective, rel=1e-3)
    # the objective reported follows the parameter (not the value it had when compiled)
    prob.lam.value = 0.3
    again = prob.solve(backend="cd", tol=1e-8)
    assert again.objective == pytest.approx(make(A, b, 0.3).solve(backend="cd", tol=1e-8).objective, rel=1e-6)


def test_nonconvex_penalty_parameter_without_value_is_a_clear_error():
    import cvxpy as cp
    from solvelab.errors import InvalidDataError
    from solvelab.families.glm import MCP
    lam = cp.Parameter(nonneg=True, name="lam")
    pen = MCP(lam, 3.0)
    with pytest.raises(InvalidDataError, match="has no value"):
        pen.value(np.ones(3))
    with pytest.raises(InvalidDataError, match="lam >= 0"):
        MCP(-1.0)
