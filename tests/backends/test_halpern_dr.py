"""halpern on any prox-affine program: Halpern-anchored Douglas-Rachford over admm's splitting.

Checked against Clarabel on the same instances (at data scales 1e-6 .. 1e6), with rays for
infeasible and unbounded programs, auto's choice, warm starts after a Parameter change,
the options it refuses, and the anchor itself on a map where the plain iteration cycles.
"""
import numpy as np
import cvxpy as cp
import pytest

import solvelab as sl
from solvelab.backends.anchoring import HalpernAnchor
from solvelab.engine import auto_candidates
from solvelab.errors import InvalidDataError
from solvelab.problems.saddle import matrix_game

rng = np.random.default_rng(11)
A = rng.standard_normal((40, 15))
b = rng.standard_normal(40)


def _cases(s=1.0):
    x = cp.Variable(15)
    yield "lasso-box", cp.Minimize(s * (0.5 * cp.sum_squares(A @ x - b) + 0.5 * cp.norm1(x))), [x >= -0.2, x <= 0.3]
    x = cp.Variable(15)
    yield "simplex-ls", cp.Minimize(s * cp.sum_squares(A @ x - b)), [cp.sum(x) == 1, x >= 0]
    x = cp.Variable(15)
    yield "lad", cp.Minimize(s * cp.norm1(A @ x - b)), [x <= 0.5, x >= -0.5]
    x = cp.Variable(15)
    t = cp.Variable()
    yield "soc", cp.Minimize(s * (cp.sum(cp.huber(A @ x - b, 0.5)) + t)), [cp.norm2(x) <= t]


def _clarabel(obj, cons):
    return cp.Problem(obj, list(cons)).solve(solver="CLARABEL")


@pytest.mark.parametrize("name,obj,cons", list(_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_matches_clarabel_with_a_certificate(name, obj, cons):
    res = sl.Problem(obj, cons).solve(backend="halpern", tol=1e-7)
    assert res.status is sl.Status.OPTIMAL, (name, res.message)
    assert res.backend == "halpern" and res.info["halpern"]["alpha"] == 2.0
    assert res.certificate.value <= 1e-7
    assert res.objective == pytest.approx(_clarabel(obj, cons), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_objective_scale_changes_nothing_but_the_value(scale):
    # the reference is scale x Clarabel's value at scale 1: at 1e-6 Clarabel's absolute
    # tolerances give 35.2679e-6 on simplex-ls, against the exact 35.26636e-6
    for (name, obj, cons), (_, obj1, cons1) in zip(_cases(scale), _cases()):
        res = sl.Problem(obj, cons).solve(backend="halpern", tol=1e-7)
        assert res.status is sl.Status.OPTIMAL, (name, scale, res.message)
        assert res.objective == pytest.approx(scale * _clarabel(obj1, cons1), rel=1e-5), (name, scale)


def test_plain_douglas_rachford_anchored_also_certifies():
    name, obj, cons = next(_cases())
    res = sl.Problem(obj, cons).solve(backend="halpern", tol=1e-7, reflection=0.0)
    assert res.status is sl.Status.OPTIMAL and res.info["halpern"]["alpha"] == 1.0
    assert res.objective == pytest.approx(_clarabel(obj, cons), rel=1e-5)


def test_restarts_pay():
    name, obj, cons = next(_cases())
    on = sl.Problem(obj, cons).solve(backend="halpern", tol=1e-7)
    off = sl.Problem(obj, cons).solve(backend="halpern", tol=1e-7, restart=False)
    assert on.status is off.status is sl.Status.OPTIMAL
    assert on.info["halpern"]["restarts"] > 0 and off.info["halpern"]["restarts"] == 0
    assert on.iterations < off.iterations


def test_infeasible_socp_gets_a_checked_ray():
    x = cp.Variable(5)
    res = sl.Problem(cp.Minimize(cp.norm2(x)), [x >= 1, cp.sum(x) <= 2]).solve(backend="halpern")
    assert res.status is sl.Status.INFEASIBLE and res.x is None and "ray" in res.message


def test_unbounded_socp_gets_a_ray_and_a_feasible_point():
    x = cp.Variable(5)
    res = sl.Problem(cp.Minimize(-x[0] + cp.norm2(x[1:3])), [x >= 0]).solve(backend="halpern")
    assert res.status is sl.Status.UNBOUNDED and "feasible point" in res.message


def test_auto_keeps_admm_with_a_curved_term_and_says_why():
    name, obj, cons = list(_cases())[-1]        # soc + huber: no structure of its own (cd takes the Lasso)
    cands = auto_candidates(sl.Problem(obj, cons).compile())
    assert cands[0][0] == "admm" and "halpern declined" in cands[0][1] and "curved terms (huber, soc)" in cands[0][1]


def test_auto_picks_halpern_on_a_polyhedral_program_and_it_certifies():
    x = cp.Variable(15)
    obj, cons = cp.Minimize(cp.norm1(A @ x - b) + 0.1 * cp.norm1(x)), [x <= 0.5, x >= -0.5]
    prob = sl.Problem(obj, cons)
    assert auto_candidates(prob.compile())[0][0] == "halpern"
    res = prob.solve(tol=1e-7)
    assert res.backend == "halpern" and res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(_clarabel(obj, cons), rel=1e-6)


def test_warm_start_follows_a_parameter():
    x = cp.Variable(15)
    lam = cp.Parameter(nonneg=True, value=0.5)
    obj = cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x))
    prob = sl.Problem(obj, [x >= -1])
    first = prob.solve(backend="halpern", tol=1e-7)
    lam.value = 2.0
    second = prob.solve(backend="halpern", tol=1e-7)
    assert first.status is second.status is sl.Status.OPTIMAL
    assert second.objective == pytest.approx(_clarabel(obj, [x >= -1]), rel=1e-5)
    assert second.objective > first.objective


@pytest.mark.parametrize("bad,words", [
    ({"primal_weight": 2.0}, "PDHG scheme"),
    ({"device": "cpu"}, "PDHG scheme"),
    ({"scheme": "pdhg"}, "backend='admm'"),
    ({"reflection": 1.5}, "reflection must be"),
    ({"rho": -1.0}, "backend 'halpern'"),
    ({"restart_every": 0.5}, "restart_every"),
    ({"restart_every": 0}, "restart_every must be a positive integer"),
])
def test_bad_options_name_the_backend_and_the_option(bad, words):
    name, obj, cons = next(_cases())
    with pytest.raises(InvalidDataError, match=words):
        sl.Problem(obj, cons).solve(backend="halpern", **bad)


def test_splitting_options_are_refused_on_a_saddle_point():
    game = matrix_game(np.arange(6.0).reshape(3, 2))
    with pytest.raises(InvalidDataError, match="prox-affine programs"):
        game.solve(backend="halpern", rho=1.0)


def test_anchor_converges_where_the_plain_iteration_cycles():
    # T = rotation by 90 degrees: nonexpansive, fixed point 0, plain iterates keep norm 1
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    s_plain = s = np.array([1.0, 0.0])
    anchor = HalpernAnchor(restart=False)
    for _ in range(400):
        s_plain = R @ s_plain
        s = anchor.combine([R @ s], lambda d: float(np.linalg.norm(d[0])))[0]
    assert np.linalg.norm(s_plain) == pytest.approx(1.0)
    assert np.linalg.norm(s) < 0.01          # O(1/k): about 1/k at k = 400
