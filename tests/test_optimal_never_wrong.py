"""Regression tests for wrong `optimal` / `unbounded` claims (the issue "optimal must never
be wrong"): scale-invariant certificates, rays checked with a feasible point, the
reference backend's solver duals, auto's choice, options and write-back."""
import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.backends.base import RawSolution
from solvelab.engine import auto_candidates, finish
from solvelab.errors import InvalidDataError
from solvelab.ir.certificate import certify, check_primal_infeasibility, check_unboundedness


def _clarabel(obj, cons):
    p = cp.Problem(obj, cons)
    p.solve(solver="CLARABEL")
    return p


# -- certificates: no absolute floors ------------------------------------------------------

@pytest.mark.parametrize("backend", ["fista", "admm"])
def test_unbounded_at_small_scale_is_never_optimal(backend):
    # min 1e-7 sum(x), x <= 1: unbounded; an absolute floor called it optimal
    x = cp.Variable(5)
    res = sl.Problem(cp.Minimize(1e-7 * cp.sum(x)), [x <= 1]).solve(backend=backend, max_iter=2000)
    assert res.status is not sl.Status.OPTIMAL
    assert res.status in (sl.Status.UNBOUNDED, sl.Status.MAX_ITER, sl.Status.INACCURATE)


def test_infeasible_at_small_scale_is_never_optimal():
    x = cp.Variable(2)
    cons = [1e-7 * (x[0] + x[1]) >= 1e-7, 1e-7 * (x[0] + x[1]) <= 0]
    res = sl.Problem(cp.Minimize(0), cons).solve(backend="admm", max_iter=2000)
    assert res.status is not sl.Status.OPTIMAL


def test_a_point_violating_a_tiny_constraint_is_not_certified():
    x = cp.Variable(2)
    cons = [1e-7 * (x[0] + x[1]) >= 1e-7, 1e-7 * (x[0] + x[1]) <= 0]
    prog = sl.compile(cp.Problem(cp.Minimize(0), cons))
    assert certify(prog, np.array([0.25, 0.25]), None).primal_residual > 0.1


@pytest.mark.parametrize("backend", ["fista", "admm", "cvxpy"])
def test_tiny_objective_is_solved_not_floored(backend):
    # min 1e-8 sum(x), x >= -[1..5]: x = 0 used to pass as optimal (objective -5e-16)
    x = cp.Variable(5)
    lo = np.arange(1.0, 6.0)
    res = sl.Problem(cp.Minimize(1e-8 * cp.sum(x)), [x >= -lo]).solve(backend=backend, max_iter=20000)
    if res.status is sl.Status.OPTIMAL:
        assert res.objective == pytest.approx(-1.5e-7, rel=1e-5)
    prog = sl.compile(cp.Problem(cp.Minimize(1e-8 * cp.sum(x)), [x >= -lo]))
    assert not certify(prog, np.zeros(5), None).meets(1e-6)


def _portfolio(scale):
    rng = np.random.default_rng(0)
    R = rng.standard_normal((250, 10)) * 0.01 * scale   # daily returns (scale 1) or percent (100)
    S = np.cov(R.T)
    w = cp.Variable(10)
    return cp.Minimize(cp.quad_form(w, S)), [cp.sum(w) == 1, w >= 0]


@pytest.mark.parametrize("scale", [1.0, 100.0])
@pytest.mark.parametrize("backend", ["admm", "cvxpy"])
def test_min_variance_portfolio_in_ordinary_units(scale, backend):
    obj, cons = _portfolio(scale)
    ref = _clarabel(obj, cons).value
    res = sl.Problem(obj, cons).solve(backend=backend, tol=1e-7)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.objective == pytest.approx(ref, rel=1e-6)


def _scaled_lasso(obj_scale, con_scale):
    rng = np.random.default_rng(1)
    A, b = rng.standard_normal((30, 8)), rng.standard_normal(30)
    C, d = rng.standard_normal((2, 8)), rng.standard_normal(2)
    x = cp.Variable(8)
    return cp.Problem(cp.Minimize(obj_scale * (cp.sum_squares(A @ x - b) + cp.norm1(x))),
                      [con_scale * (C @ x) == con_scale * d, con_scale * x >= -con_scale])


@pytest.mark.parametrize("obj_scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("con_scale", [1e-6, 1.0, 1e6])
def test_certificate_is_scale_invariant(obj_scale, con_scale):
    """One point and its duals, mapped onto the problem scaled any way, score the same
    (objective duals scale with the objective, constraint duals by obj / con)."""
    base = sl.compile(_scaled_lasso(1.0, 1.0))
    res = sl.solve(_scaled_lasso(1.0, 1.0), backend="admm", tol=1e-7)
    assert res.status is sl.Status.OPTIMAL
    scaled = sl.compile(_scaled_lasso(obj_scale, con_scale))
    duals = [y * (obj_scale if t.role == "objective" else obj_scale / con_scale)
             for t, y in zip(scaled.terms, res.duals)]
    c1, c2 = certify(base, res.x, res.duals), certify(scaled, res.x, duals)
    for name in ("primal_residual", "dual_residual", "subgradient_residual", "gap"):
        assert getattr(c2, name) == pytest.approx(getattr(c1, name), rel=1e-3, abs=1e-12), name
    # and a point that is off by 1e-3 fails at every scale
    off = res.x + 1e-3
    assert not certify(scaled, off, None).meets(1e-6)


@pytest.mark.parametrize("obj_scale", [1e-6, 1e6])
@pytest.mark.parametrize("backend", ["admm", "cvxpy"])
def test_scaled_problems_solve_to_the_scaled_optimum(obj_scale, backend):
    base = _scaled_lasso(1.0, 1.0)
    ref = _clarabel(base.objective, base.constraints).value
    res = sl.solve(_scaled_lasso(obj_scale, 1e-3), backend=backend)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.objective == pytest.approx(obj_scale * ref, rel=1e-5)


def test_zero_optimal_value_certifies():
    """An exact fit (optimal value 0) is certified relative to the data, not to 0."""
    rng = np.random.default_rng(2)
    A = rng.standard_normal((20, 5))
    b = A @ rng.standard_normal(5)
    x = cp.Variable(5)
    res = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b))).solve(backend="fista", tol=1e-7)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.objective <= 1e-12 * np.sum(b ** 2)


def test_zero_right_hand_side_constraint_is_judged_against_the_variable():
    X = cp.Variable((4, 4))
    D = np.random.default_rng(0).standard_normal((4, 4))
    prob = cp.Problem(cp.Minimize(cp.sum_squares(X - D)), [X[0, 1:] == 0])
    prob.solve(solver="CLARABEL")
    Xv = X.value.copy()
    Xv[0, 1:] = 1e-12
    cert = certify(sl.compile(prob), Xv.ravel(order="F"), None)
    assert cert.primal_residual < 1e-10


# -- rays ----------------------------------------------------------------------------------

def _program(obj, cons):
    return sl.compile(cp.Problem(obj, cons))


def test_a_ray_without_a_feasible_point_is_not_unbounded():
    # min x0 + x1, x0 >= 1, x0 <= 0: infeasible, and (0, -1) is a valid descent direction
    x = cp.Variable(2)
    prog = _program(cp.Minimize(x[0] + x[1]), [x[0] >= 1, x[0] <= 0])
    ray = np.array([0.0, -1.0])
    assert check_unboundedness(prog, ray)
    raw = RawSolution(x=np.array([0.5, 0.0]), status="unbounded", iterations=1, ray=ray)
    res = finish(prog, raw, "test", 1e-6)
    assert res.status is not sl.Status.UNBOUNDED
    ok = RawSolution(x=None, status="unbounded", iterations=1, ray=ray)
    assert finish(prog, ok, "test", 1e-6).status is not sl.Status.UNBOUNDED


def test_a_ray_with_a_feasible_point_is_unbounded():
    x = cp.Variable(2)
    prog = _program(cp.Minimize(x[0] + x[1]), [x[0] >= 1])
    raw = RawSolution(x=np.array([2.0, 0.0]), status="unbounded", iterations=1, ray=np.array([0.0, -1.0]))
    assert finish(prog, raw, "test", 1e-6).status is sl.Status.UNBOUNDED


@pytest.mark.parametrize("scale", [1e-7, 1.0, 1e7])
def test_farkas_ray_is_checked_relative_to_the_data(scale):
    x = cp.Variable(2)
    prog = _program(cp.Minimize(0), [scale * (x[0] + x[1]) >= scale, scale * (x[0] + x[1]) <= 0])
    ray = [np.ones(t.m) if t.role == "constraint" else np.zeros(t.m) for t in prog.terms]
    assert check_primal_infeasibility(prog, ray)
    # a ray that does not cancel in x is refused at every scale
    bad = [np.array([1.0]), np.array([0.5])]
    assert not check_primal_infeasibility(prog, bad)


def test_unboundedness_ray_needs_strict_descent_relative_to_the_slope():
    x = cp.Variable(3)
    prog = _program(cp.Minimize(1e-9 * x[0] + x[1]), [x[1] >= 0, x[2] >= 0])
    assert check_unboundedness(prog, np.array([-1.0, 0.0, 0.0]))
    assert not check_unboundedness(prog, np.array([0.0, -1.0, 0.0]))   # leaves x1 >= 0
    assert not check_unboundedness(prog, np.array([0.0, 0.0, 1.0]))    # flat


# -- the reference backend's duals --------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_reference_backend_uses_solver_duals_on_random_lp_qp(seed):
    rng = np.random.default_rng(seed)
    n, m = 6, 2
    x = cp.Variable(n)
    A = rng.standard_normal((m, n))
    b = A @ rng.random(n)
    Q = rng.standard_normal((n, n))
    c = rng.standard_normal(n)
    obj = cp.Minimize(cp.sum_squares(Q @ x) + c @ x if seed % 2 else c @ x)
    cons = [A @ x == b, x >= 0, x <= 2]
    ref = _clarabel(obj, cons)
    res = sl.Problem(obj, cons).solve(backend="cvxpy")
    assert res.info["solver_duals"] >= 1
    assert res.status is sl.Status.OPTIMAL, (res.message, str(res.certificate))
    assert res.objective == pytest.approx(ref.value, rel=1e-6, abs=1e-9 * abs(ref.value) + 1e-12)


# -- auto -----------------------------------------------------------------------------------

def test_auto_does_not_send_an_lp_to_fista():
    x = cp.Variable(4)
    prog = _program(cp.Minimize(cp.sum(x)), [x >= -1])
    names = [n for n, _ in auto_candidates(prog)]
    assert names[0] != "fista"
    res = sl.Problem(cp.Minimize(cp.sum(x)), [x >= -1]).solve()
    assert res.info["auto"]["chosen"] == names[0]
    assert "why" in res.info["auto"]


def test_auto_prefers_the_structured_backend():
    from solvelab.problems import unbalanced_ot
    rng = np.random.default_rng(0)
    a, b = rng.random(5) + 0.1, rng.random(6) + 0.1
    C = rng.random((5, 6))
    prob = unbalanced_ot(a, b, C, eps=0.1, rho=1.0)
    res = prob.solve()
    assert res.info["auto"]["chosen"] in ("sinkhorn", "sinkhorn_newton")
    assert res.status is sl.Status.OPTIMAL


def test_auto_says_what_it_chose(capsys):
    x = cp.Variable(3)
    sl.Problem(cp.Minimize(cp.sum_squares(x - 1) + cp.norm1(x))).solve(verbose=True)
    assert "solvelab auto: backend" in capsys.readouterr().out


# -- options and write-back ----------------------------------------------------------------

@pytest.mark.parametrize("bad", [dict(tol=1e3), dict(tol=True), dict(tol=1.0), dict(tol=float("nan")),
                                 dict(time_limit="1"), dict(time_limit=-1), dict(check_every=0),
                                 dict(check_every=2.5), dict(max_iter=True), dict(max_iter=0),
                                 dict(callback=3)])
def test_bad_common_options_are_refused_by_name(bad):
    x = cp.Variable(3)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(x - 1)))
    with pytest.raises(InvalidDataError, match=next(iter(bad))):
        prob.solve(backend="fista", **bad)


def test_numpy_scalars_are_accepted_as_options():
    x = cp.Variable(3)
    res = sl.Problem(cp.Minimize(cp.sum_squares(x - 1))).solve(
        backend="fista", tol=np.float32(1e-6), max_iter=np.int64(100), check_every=np.int32(5))
    assert res.status is sl.Status.OPTIMAL


def test_solving_a_cvxpy_problem_sets_its_status_and_value():
    x = cp.Variable(3)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - 1)))
    res = sl.solve(prob, backend="fista")
    assert prob.status == "optimal"
    assert prob.value == pytest.approx(res.objective)


def test_two_variables_with_one_name():
    x1, x2 = cp.Variable(2, name="x"), cp.Variable(3, name="x")
    res = sl.Problem(cp.Minimize(cp.sum_squares(x1 - 1) + cp.sum_squares(x2 + 1))).solve(backend="fista")
    np.testing.assert_allclose(res.values[x1], 1.0, atol=1e-6)
    np.testing.assert_allclose(res.values[x2], -1.0, atol=1e-6)
    with pytest.raises(KeyError, match="2 variables are named 'x'"):
        res.values["x"]



def test_a_fixed_offset_through_a_parameter_matrix_follows_it():
    # sum_squares(P @ (A x - b)): P's new value must reach the offset -P b too
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((10, 4)), rng.standard_normal(10)
    x = cp.Variable(4)
    P = cp.Parameter((10, 10), value=np.eye(10))
    obj = cp.Minimize(cp.sum_squares(P @ (A @ x - b)))
    prob = sl.Problem(obj)
    prob.solve(backend="fista")
    P.value = rng.standard_normal((10, 10))
    res = prob.solve(backend="fista", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(_clarabel(obj, []).value, rel=1e-6)
