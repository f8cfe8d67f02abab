"""``cvxpy.Problem.solve(method="solvelab")``: CVXPY's own call, solvelab's backends.

In the style of CVXPY's solver conformance tests: after the solve, status, value, the
variables and the constraints' dual values are as CVXPY+Clarabel leaves them."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl


def _pair(make):
    """(problem for solvelab, problem for Clarabel, its variables), built twice from make."""
    a, b = make(), make()
    b[0].solve(solver="CLARABEL")
    assert b[0].status == "optimal"
    return a, b


def _lp():
    rng = np.random.default_rng(0)
    x = cp.Variable(6, name="x")
    G = rng.standard_normal((8, 6))
    h = G @ np.full(6, 0.1) + rng.random(8)
    Aeq = rng.standard_normal((2, 6))
    beq = Aeq @ np.full(6, 0.1)
    c = rng.standard_normal(6)
    cons = [G @ x <= h, Aeq @ x == beq, x >= -1, x <= 1]
    return cp.Problem(cp.Minimize(c @ x), cons), x, cons


def _qp():
    rng = np.random.default_rng(1)
    x = cp.Variable(8, name="x")
    A, b = rng.standard_normal((20, 8)), rng.standard_normal(20)
    C = rng.standard_normal((3, 8))
    cons = [C @ x == C @ np.full(8, 0.05), rng.standard_normal((4, 8)) @ x <= 0.5]
    return cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), cons), x, cons


def _socp():
    rng = np.random.default_rng(2)
    x = cp.Variable(6, name="x")
    A, b = rng.standard_normal((15, 6)), rng.standard_normal(15)
    cons = [cp.norm(x, 2) <= 0.5]
    return cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), cons), x, cons


def _lasso():
    rng = np.random.default_rng(3)
    x = cp.Variable(20, name="x")
    A, b = rng.standard_normal((50, 20)), rng.standard_normal(50)
    return cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) / 100 + 0.05 * cp.norm1(x))), x, []


def _ot():
    rng = np.random.default_rng(4)
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    C = rng.random((6, 5))
    P = cp.Variable((6, 5), nonneg=True, name="P")
    cons = [cp.sum(P, axis=1) == a, cp.sum(P, axis=0) == b]
    return cp.Problem(cp.Minimize(cp.sum(cp.multiply(C, P)) - 0.1 * cp.sum(cp.entr(P))), cons), P, cons


CASES = [(_lp, "admm"), (_qp, "admm"), (_socp, "admm"), (_lasso, "cd"), (_lasso, "fista"), (_ot, "sinkhorn")]


@pytest.mark.parametrize("make,backend", CASES, ids=[f"{m.__name__[1:]}-{b}" for m, b in CASES])
def test_status_value_variables_and_duals_as_clarabel_leaves_them(make, backend):
    (prob, x, cons), (ref, xr, cons_r) = _pair(make)
    value = prob.solve(method="solvelab", backend=backend, tol=1e-9)
    assert prob.status == "optimal" and value == prob.value
    assert prob.value == pytest.approx(ref.value, rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(x.value, xr.value, atol=2e-4 * max(1.0, np.abs(xr.value).max()))
    stats = prob.solver_stats
    assert stats.solver_name == f"SOLVELAB/{backend}" and stats.num_iters >= 0
    assert stats.extra_stats["status"] == "optimal"
    assert stats.extra_stats["certificate"]["value"] <= 1e-9
    for c, cr in zip(cons, cons_r):
        if c.dual_value is None:
            continue   # merged into a variable's bounds, or a cone: left unset (documented)
        np.testing.assert_allclose(c.dual_value, cr.dual_value, atol=1e-4 * max(1.0, np.abs(cr.dual_value).max()))


def test_general_equality_and_inequality_rows_get_their_duals():
    (prob, x, cons), (ref, xr, cons_r) = _pair(_qp)
    prob.solve(method="solvelab", backend="admm", tol=1e-10)
    for c, cr in zip(cons, cons_r):
        assert c.dual_value is not None
        np.testing.assert_allclose(c.dual_value, cr.dual_value, rtol=1e-4, atol=1e-6)


def test_parameters_re_solve_without_recompiling():
    rng = np.random.default_rng(5)
    A, b = rng.standard_normal((40, 10)), rng.standard_normal(40)
    lam = cp.Parameter(nonneg=True, value=0.1)
    x = cp.Variable(10)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) / 80 + lam * cp.norm1(x)))
    for val in (0.1, 0.05, 0.01):
        lam.value = val
        prob.solve(method="solvelab", backend="cd", tol=1e-9)
        ref = cp.Problem(prob.objective).solve(solver="CLARABEL")
        assert prob.status == "optimal" and prob.value == pytest.approx(ref, rel=1e-6)
    assert prob._solvelab_problem.compile_count == 1


def test_status_mapping():
    x = cp.Variable(3)
    infeasible = cp.Problem(cp.Minimize(cp.sum_squares(x)), [x >= 1, cp.sum(x) <= 0])
    assert infeasible.solve(method="solvelab", backend="admm") == np.inf
    assert infeasible.status == "infeasible" and x.value is None
    unbounded = cp.Problem(cp.Maximize(cp.sum(x)), [x >= 0])
    assert unbounded.solve(method="solvelab", backend="admm") == np.inf     # a Maximize: +inf
    assert unbounded.status == "unbounded"
    rng = np.random.default_rng(6)
    A, b = rng.standard_normal((30, 10)), rng.standard_normal(30)
    y = cp.Variable(10)
    limited = cp.Problem(cp.Minimize(cp.sum_squares(A @ y - b) + cp.norm1(y)))
    limited.solve(method="solvelab", backend="fista", max_iter=1, tol=1e-12)
    assert limited.status == "user_limit"
    assert limited.solver_stats.extra_stats["status"] == "max_iter"


def test_bad_calls_are_refused_with_the_reason():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - 1)))
    with pytest.raises(TypeError, match="backend="):
        prob.solve(method="solvelab", solver="SCS")
    with pytest.raises(TypeError, match="keyword"):
        prob.solve("admm", method="solvelab")
    with pytest.raises(sl.InvalidDataError, match="tol"):
        prob.solve(method="solvelab", tol=-1)
    with pytest.raises(sl.BackendRefusedError, match="unknown backend"):
        prob.solve(method="solvelab", backend="nope")
