"""Regularized saddle points (the RegularizedSaddle form, backend ``alpd``):

    min_{x in X} max_{y in Y} c^T x + x_reg/2 |x|^2 + x^T K y - b^T y - y_reg/2 |y|^2

checked against CVXPY+Clarabel on the QP formulation (``to_cvxpy``) at data scales 1e-6,
1 and 1e6; the certificate's gap recomputed from best responses that CVXPY finds; every
scheme; the CVXPY reading of the regularizers; refusals and bad input."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError, NonConvexError
from solvelab.families.saddle import Domain
from solvelab.problems.saddle import SaddlePoint, bilinear_saddle, matrix_game

SCALES = (1e-6, 1.0, 1e6)


def _cases():
    rng = np.random.default_rng(5)
    A = rng.uniform(-1, 1, (12, 9))
    K, c, b = rng.standard_normal((8, 10)), rng.standard_normal(8), rng.standard_normal(10)
    return {
        "game_y_reg": (A, None, None, "simplex", "simplex", 0.0, 0.4),
        "game_x_reg": (A, None, None, "simplex", "simplex", 0.3, 0.0),
        "game_both": (A, None, None, "simplex", "simplex", 0.2, 0.5),
        "free_x_box_y": (K, c, b, "free", ("box", -1.0, 2.0), 1.5, 0.0),
        "box_x_free_y": (K, c, b, ("box", -1.0, 1.0), "free", 0.0, 2.0),
    }


def _build(case, scale):
    K, c, b, X, Y, a, mu = case
    s = lambda v: None if v is None else scale * v       # noqa: E731
    return bilinear_saddle(scale * K, s(c), s(b), X, Y, x_reg=scale * a, y_reg=scale * mu)


_REF = {}


def _reference(name):
    """(value, x*) from Clarabel on the QP formulation at scale 1."""
    if name not in _REF:
        prob = _build(_cases()[name], 1.0)
        cvx, x = prob.to_cvxpy()
        cvx.solve(solver="CLARABEL")
        assert cvx.status == "optimal"
        _REF[name] = (float(cvx.value), np.asarray(x.value).copy())
    return _REF[name]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", list(_cases()))
def test_alpd_against_clarabel(name, scale):
    value, x_ref = _reference(name)
    prob = _build(_cases()[name], scale)
    res = prob.solve(backend="alpd", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.objective == pytest.approx(scale * value, rel=1e-6)
    x, y, _ = prob.strategies(res)
    # strongly convex in x: the min player's point is unique, and so is y's where y_reg > 0
    if _cases()[name][5] > 0:
        assert np.linalg.norm(x - x_ref) <= 1e-4 * max(1.0, np.linalg.norm(x_ref))
    cert = prob.program.certify(res.x)
    assert cert.value <= 1e-9 and cert.value == pytest.approx(res.certificate.value, rel=1e-9, abs=1e-15)


def _best_responses_by_cvxpy(p, x, y):
    """max_{y'} L(x, y') and min_{x'} L(x', y) by CVXPY (concave / convex QPs in one player)."""
    from solvelab.problems.saddle import _set_constraints
    m, n = p.shape
    yv, xv = cp.Variable(n), cp.Variable(m)
    gy = p.K.T @ x - p.b
    up = cp.Problem(cp.Maximize(gy @ yv - 0.5 * p.y_reg * cp.sum_squares(yv)), _set_constraints(yv, p.Y))
    up.solve(solver="CLARABEL")
    gx = p.c + p.K @ y
    lo = cp.Problem(cp.Minimize(gx @ xv + 0.5 * p.x_reg * cp.sum_squares(xv)), _set_constraints(xv, p.X))
    lo.solve(solver="CLARABEL")
    const = p.c @ x + 0.5 * p.x_reg * (x @ x)
    return const + up.value, lo.value - p.b @ y - 0.5 * p.y_reg * (y @ y)


@pytest.mark.parametrize("name", ["game_both", "free_x_box_y", "box_x_free_y"])
def test_the_gap_is_recomputed_from_best_responses(name):
    """At a point that is not the saddle point, the certificate's gap (times its reported
    denominator) is max_y' L(x, y') - min_x' L(x', y) with the best responses CVXPY finds."""
    from solvelab.families.saddle.certificate import parts
    prob = _build(_cases()[name], 1.0)
    p = prob.program
    rng = np.random.default_rng(9)
    m, n = p.shape
    def point(dom, size):
        if dom.kind == Domain.SIMPLEX:
            return rng.dirichlet(np.ones(size))
        return np.clip(rng.standard_normal(size), dom.lo, dom.hi)
    x, y = point(p.X, m), point(p.Y, n)
    upper, lower = _best_responses_by_cvxpy(p, x, y)
    gap, L, low, *_ = parts(p, x, y, p.matvec(y), p.rmatvec(x))
    assert gap == pytest.approx(upper - lower, rel=1e-6)
    assert low == pytest.approx(lower, rel=1e-6, abs=1e-9)
    assert L == pytest.approx(p.value(x, y), rel=1e-12)
    assert prob.program.certify(np.r_[x, y]).value > 1e-3       # far from optimal: not certified


@pytest.mark.parametrize("scheme", ["auto", "plain", "accelerated", "restarted", "linear"])
def test_every_scheme_reaches_the_same_saddle_point(scheme):
    value, _ = _reference("game_both")
    prob = _build(_cases()["game_both"], 1.0)
    res = prob.solve(backend="alpd", tol=1e-8, scheme=scheme, warm_start=False)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.objective == pytest.approx(value, rel=1e-6)
    assert res.info["scheme"] == ("plain" if scheme == "auto" else scheme)


def test_one_strongly_convex_side_runs_the_accelerated_schedule_on_it():
    prob = _build(_cases()["game_y_reg"], 1.0)
    res = prob.solve(backend="alpd", tol=1e-8, scheme="accelerated")
    assert res.status is sl.Status.OPTIMAL and res.info["strong_side"] == "y"
    assert res.info["sigma"] < res.info["tau"]          # the strong side's step shrinks, the other's grows
    with pytest.raises(InvalidDataError, match="needs both sides strongly convex"):
        prob.solve(backend="alpd", scheme="linear")


def test_a_warm_start_resolves_at_once():
    prob = _build(_cases()["game_both"], 1.0)
    first = prob.solve(backend="alpd", tol=1e-8)
    again = prob.solve(backend="alpd", tol=1e-8)
    assert first.status is sl.Status.OPTIMAL and again.status is sl.Status.OPTIMAL
    assert again.iterations == 0 and again.info["warm_start"]


def test_saddle_point_reads_the_regularizers_off_cvxpy():
    A = np.random.default_rng(3).uniform(-1, 1, (7, 5))
    x, y = cp.Variable(7, name="x"), cp.Variable(5, name="y")
    sets = [x >= 0, cp.sum(x) == 1, y >= 0, cp.sum(y) == 1]
    prob = SaddlePoint(x @ A @ y + 0.5 * cp.sum_squares(x) - cp.sum_squares(y) / 4, minimize=x, maximize=y,
                       constraints=sets)
    p = prob.program
    assert p.x_reg == pytest.approx(1.0) and p.y_reg == pytest.approx(0.5)
    res = prob.solve(tol=1e-8)           # auto: halpern first (measured faster), alpd also takes it
    assert res.backend == "halpern" and res.status is sl.Status.OPTIMAL
    ref = matrix_game(A, x_reg=1.0, y_reg=0.5)
    cvx, _ = ref.to_cvxpy()
    cvx.solve(solver="CLARABEL")
    assert res.objective == pytest.approx(cvx.value, rel=1e-6)
    assert np.allclose(x.value, prob.strategies(res)[0]) and y.value is not None
    with pytest.raises(NonConvexError, match="convex in the min player"):
        SaddlePoint(x @ A @ y - cp.sum_squares(x), minimize=x, maximize=y, constraints=sets)
    with pytest.raises(NonConvexError, match="concave in the max player"):
        SaddlePoint(x @ A @ y + cp.sum_squares(y), minimize=x, maximize=y, constraints=sets)
    with pytest.raises(NonConvexError, match="sum_squares"):
        SaddlePoint(x @ A @ y + cp.sum_squares(2 * x), minimize=x, maximize=y, constraints=sets)


def test_alpd_refuses_bilinear_games_and_halpern_takes_both():
    A = np.random.default_rng(4).uniform(-1, 1, (6, 4))
    with pytest.raises(BackendRefusedError, match="halpern"):
        matrix_game(A).solve(backend="alpd")
    assert sl.compile(matrix_game(A, y_reg=0.1)).backends == ("alpd", "halpern")
    assert matrix_game(A, y_reg=0.1).solve().backend == "halpern"       # auto: halpern first (BENCHMARKS.md)


@pytest.mark.parametrize("regs", [(0.5, 0.0), (0.0, 0.1), (0.2, 0.05)])
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_halpern_on_regularized_games_agrees_with_alpd_and_the_qp(regs, scale):
    """The regularizers in halpern's prox steps: the same certified point as alpd and the
    value of CVXPY + Clarabel's QP (``to_cvxpy``) at every scale (K and the weights by s)."""
    A = np.random.default_rng(5).uniform(-1, 1, (30, 20))
    prob = matrix_game(scale * A, x_reg=scale * regs[0], y_reg=scale * regs[1])
    h = prob.solve(backend="halpern", tol=1e-9, max_iter=200000)
    a = prob.solve(backend="alpd", tol=1e-9, max_iter=200000, warm_start=False)
    assert h.status is sl.Status.OPTIMAL and a.status is sl.Status.OPTIMAL, (h.message, a.message)
    assert prob.program.certify(h.x).meets(1e-9)
    np.testing.assert_allclose(h.x, a.x, atol=1e-5)
    cvx, _ = matrix_game(A, x_reg=regs[0], y_reg=regs[1]).to_cvxpy()
    ref = scale * cvx.solve(solver="CLARABEL")
    assert h.objective == pytest.approx(ref, rel=1e-6, abs=1e-6 * scale)


def test_a_free_side_with_a_regularizer_needs_no_existence_check():
    K = np.ones((3, 2))          # x free, c + K y = c + (sum y) 1 != 0: no saddle point without x_reg
    c = np.array([1.0, -1.0, 2.0])
    with pytest.raises(InvalidDataError, match="no saddle point"):
        bilinear_saddle(K, c, None, "free", "simplex")
    prob = bilinear_saddle(K, c, None, "free", "simplex", x_reg=2.0)
    res = prob.solve(backend="alpd", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL
    x, y, _ = prob.strategies(res)
    assert np.allclose(x, -(c + K @ y) / 2.0, atol=1e-7)     # x's best response, in closed form


@pytest.mark.parametrize("bad, match", [
    (dict(x_reg=-1.0), "x_reg must be a finite number >= 0"),
    (dict(y_reg=np.nan), "y_reg must be a finite number >= 0"),
    (dict(y_reg="0.1"), "y_reg must be a finite number >= 0"),
    (dict(x_reg=np.inf), "x_reg must be a finite number >= 0"),
])
def test_bad_regularizers_are_refused(bad, match):
    with pytest.raises(InvalidDataError, match=match):
        matrix_game(np.eye(3), **bad)


@pytest.mark.parametrize("opts, match", [
    (dict(scheme="fast"), "scheme must be one of"),
    (dict(primal_weight=0.0), "primal_weight must be a finite number > 0"),
    (dict(primal_weight=True), "primal_weight must be a finite number > 0"),
    (dict(restart_every=3), "restart_every"),
])
def test_bad_options_are_refused(opts, match):
    with pytest.raises((InvalidDataError, TypeError, ValueError), match=match):
        matrix_game(np.eye(3), y_reg=0.1).solve(backend="alpd", **opts)
