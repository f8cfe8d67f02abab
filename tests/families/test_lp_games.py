"""Matrix games as LPs (sl.problems.matrix_game_lp): the value against HiGHS (scipy's
linprog) on the same payoff matrix, and both strategies checked by the minimax theorem."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

import solvelab as sl


def _highs_value(A):
    m, k = A.shape
    res = linprog(np.r_[np.zeros(m), 1.0], A_ub=np.c_[A.T, -np.ones(k)], b_ub=np.zeros(k),
                  A_eq=np.r_[np.ones(m), 0.0][None, :], b_eq=[1.0], bounds=[(0, None)] * m + [(None, None)],
                  method="highs")
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("backend", ["pdhg", "admm"])
@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 1e-6), (2, 1e6)])
def test_value_and_strategies(backend, seed, scale):
    rng = np.random.default_rng(seed)
    A = scale * rng.standard_normal((9, 7))
    prob = sl.problems.matrix_game_lp(A)
    res = prob.solve(backend=backend, tol=1e-8, max_iter=200000)
    assert res.status is sl.Status.OPTIMAL, res.message
    x, y, v = sl.problems.game_solution(prob, res)
    assert v == pytest.approx(_highs_value(A), rel=1e-6)
    assert np.all(x >= -1e-9) and x.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(y >= 0) and y.sum() == pytest.approx(1.0, abs=1e-12)
    # minimax: x guarantees at most v against any column, y at least v against any row
    assert (A.T @ x).max() == pytest.approx(v, rel=1e-6)
    assert (A @ y).min() == pytest.approx(v, rel=1e-5)


def test_bad_payoff_matrices_are_refused():
    with pytest.raises(sl.InvalidDataError, match="2-D"):
        sl.problems.matrix_game_lp(np.ones(3))
    with pytest.raises(sl.InvalidDataError, match="NaN"):
        sl.problems.matrix_game_lp(np.array([[1.0, np.nan]]))
