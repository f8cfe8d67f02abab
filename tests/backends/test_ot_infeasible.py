"""Balanced OT whose forbidden (+inf-cost) pairs leave no feasible plan: 'infeasible' with
a Farkas ray (rechecked), found before any iteration, and never on a feasible pattern.
Feasibility is decided independently by HiGHS (scipy.optimize.linprog) on the allowed pairs."""
import numpy as np
import pytest
from scipy.optimize import linprog

import solvelab as sl
from solvelab.ir.forms import match
from solvelab.families.ot import check_infeasibility
from solvelab.problems import entropic_ot


def _instance(seed, n=9, m=7, density=0.35):
    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    a /= a.sum()
    b /= b.sum()
    C = rng.random((n, m))
    C[rng.random((n, m)) > density] = np.inf
    C[np.arange(n), rng.integers(0, m, n)] = rng.random(n)   # no row wholly forbidden
    C[rng.integers(0, n, m), np.arange(m)] = rng.random(m)   # nor a column
    return a, b, C


def _feasible_by_highs(a, b, C) -> bool:
    rows, cols = np.nonzero(np.isfinite(C))
    n, m = C.shape
    A = np.zeros((n + m, rows.size))
    A[rows, np.arange(rows.size)] = 1.0
    A[n + cols, np.arange(rows.size)] = 1.0
    res = linprog(np.zeros(rows.size), A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    return res.status == 0


@pytest.mark.parametrize("backend", ["sinkhorn", "sinkhorn_newton", "auto"])
@pytest.mark.parametrize("seed", range(12))
def test_status_matches_highs_feasibility(backend, seed):
    a, b, C = _instance(seed)
    feasible = _feasible_by_highs(a, b, C)
    prob = entropic_ot(a, b, C, 0.1)
    res = sl.solve(prob, backend=backend, tol=1e-6, max_iter=20000)
    if feasible:   # auto too: the generic forms cannot hold +inf costs, the OT backends solve it
        assert res.status is sl.Status.OPTIMAL, (res.status, res.message)
        assert res.backend in ("sinkhorn", "sinkhorn_newton")
    else:
        assert res.status is sl.Status.INFEASIBLE, (res.status, res.message)
        assert res.iterations == 0 and "a(S) - b(N(S))" in res.message


def test_both_outcomes_occur_in_the_sample():
    outcomes = {_feasible_by_highs(*_instance(s)) for s in range(12)}
    assert outcomes == {True, False}   # the parametrized test above covers both


def test_infeasibility_ray_is_rechecked():
    # rows 0 and 1 may only use column 0: a(S) = 0.8 > b_0 = 0.5
    a, b = np.array([0.4, 0.4, 0.2]), np.array([0.5, 0.5])
    C = np.array([[0.0, np.inf], [1.0, np.inf], [0.5, 0.2]])
    view = match(entropic_ot(a, b, C, 0.1).program, "EntropicOT")
    assert check_infeasibility(view, [np.array([1.0, 1.0, 0.0]), np.array([-1.0, 0.0])])
    assert check_infeasibility(view, [np.array([3.0, 3.0, 0.0]), np.array([-3.0, 0.0])])   # any positive multiple
    # positive on an allowed pair, zero value, wrong shapes, non-finite entries: refused
    assert not check_infeasibility(view, [np.array([1.0, 0.0, 0.0]), np.array([0.0, -1.0])])
    assert not check_infeasibility(view, [np.zeros(3), np.zeros(2)])
    assert not check_infeasibility(view, [np.ones(2), -np.ones(2)])
    assert not check_infeasibility(view, [np.array([np.nan, 1.0, 0.0]), np.array([-1.0, 0.0])])
    res = sl.solve(entropic_ot(a, b, C, 0.1), backend="sinkhorn")
    assert res.status is sl.Status.INFEASIBLE and res.x is None
