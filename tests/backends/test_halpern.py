"""The halpern backend: the simplex projection against a QP oracle, the pass count, the
step condition's norm, halpern against plain pdhg in passes, options, warm start and
the workspace lifecycle."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.backends.halpern import norm_estimate
from solvelab.errors import InvalidDataError
from solvelab.kernels.saddle import project_simplex
from solvelab.problems.saddle import bilinear_saddle, matrix_game


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_simplex_projection_against_clarabel(scale):
    v = scale * np.random.default_rng(0).standard_normal(30)
    out = np.empty(30)
    project_simplex(v, out)
    x = cp.Variable(30)
    cp.Problem(cp.Minimize(cp.sum_squares(x - v)), [x >= 0, cp.sum(x) == 1]).solve(
        solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert out.sum() == pytest.approx(1.0, abs=1e-14) and out.min() >= 0
    assert np.allclose(out, x.value, atol=1e-7)
    # the KKT conditions: x = v - theta on the support, v <= theta off it
    on = out > 0
    theta = np.mean(v[on] - out[on])
    assert np.allclose(v[on] - out[on], theta, rtol=0, atol=1e-14 * max(1.0, np.abs(v).max()))
    assert np.all(v[~on] <= theta)


def test_the_norm_is_that_of_the_centered_operator():
    A = np.random.default_rng(1).random((40, 30))
    view = sl.compile(matrix_game(A))
    est, passes = norm_estimate(view)
    P = lambda k: np.eye(k) - np.ones((k, k)) / k  # noqa: E731
    assert est == pytest.approx(np.linalg.norm(P(40) @ A @ P(30), 2), rel=1e-6)
    assert est < 0.2 * np.linalg.norm(A, 2)          # the constant part of the payoffs is gone
    assert passes > 0
    box = sl.compile(bilinear_saddle(A, x_domain=("box", 0, 1), y_domain=("box", 0, 1)))
    assert norm_estimate(box)[0] == pytest.approx(np.linalg.norm(A, 2), rel=1e-6)


def test_matvecs_count_every_pass():
    A = np.random.default_rng(2).standard_normal((50, 40))
    res = matrix_game(A).solve(backend="halpern", tol=1e-7, warm_start=False)
    info = res.info
    assert res.status is sl.Status.OPTIMAL
    assert info["matvecs"] == info["matvecs_norm"] + info["matvecs_steps"] + info["matvecs_checks"]
    assert info["matvecs_steps"] == 2 * res.iterations + 2     # two per step, two for the start
    assert info["matvecs_checks"] % 2 == 0 and info["matvecs_checks"] >= 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_halpern_needs_fewer_passes_than_plain_pdhg(seed):
    A = np.random.default_rng(seed).standard_normal((80, 60))
    prob = matrix_game(A)
    h = prob.solve(backend="halpern", tol=1e-6, warm_start=False)
    assert h.status is sl.Status.OPTIMAL
    # plain PDHG gets 20 times halpern's steps: it certifies with more passes, or not at all
    p = prob.solve(backend="halpern", tol=1e-6, warm_start=False, scheme="pdhg", max_iter=20 * h.iterations)
    assert h.info["scheme"] == "halpern" and p.info["scheme"] == "pdhg"
    assert h.info["matvecs"] < p.info["matvecs"]
    if p.status is sl.Status.OPTIMAL:
        assert h.objective == pytest.approx(p.objective, rel=1e-4, abs=1e-5 * np.abs(A).max())
    else:
        assert p.status is sl.Status.MAX_ITER and p.certificate.value > 1e-6


def test_warm_start_from_the_solution_takes_no_step_and_setup_is_kept():
    prob = matrix_game(np.random.default_rng(3).standard_normal((30, 30)))
    cold = prob.solve(backend="halpern", tol=1e-7)
    warm = prob.solve(backend="halpern", tol=1e-7)
    assert cold.status is warm.status is sl.Status.OPTIMAL
    assert warm.iterations == 0 and warm.info["warm_start"]
    assert warm.info["lifecycle"]["setups"] == 1 and not warm.info["lifecycle"]["set_up"]
    assert warm.info["matvecs_norm"] == 0 < cold.info["matvecs_norm"]


def test_a_small_budget_is_not_called_optimal():
    prob = matrix_game(np.random.default_rng(4).standard_normal((60, 50)))
    res = prob.solve(backend="halpern", tol=1e-9, max_iter=20, warm_start=False)
    assert res.status is sl.Status.MAX_ITER and res.iterations == 20
    assert res.certificate.value > 1e-9


def test_reflection_zero_and_a_fixed_weight_still_certify():
    prob = matrix_game(np.random.default_rng(5).standard_normal((20, 25)))
    for extra in ({"reflection": 0.0}, {"primal_weight": 10.0, "primal_weight_smoothing": 0.0}):
        res = prob.solve(backend="halpern", tol=1e-6, warm_start=False, max_iter=300000, **extra)
        assert res.status is sl.Status.OPTIMAL, (extra, res.message)


def test_without_restarts_halpern_is_sublinear():
    """Unrestarted Halpern converges at O(1/k): it certifies 1e-4, in more steps than the
    restarted iteration, which gets linear convergence from the restarts."""
    prob = matrix_game(np.random.default_rng(5).standard_normal((20, 25)))
    plain = prob.solve(backend="halpern", tol=1e-4, warm_start=False, max_iter=300000, restart=False)
    restarted = prob.solve(backend="halpern", tol=1e-4, warm_start=False)
    assert plain.status is restarted.status is sl.Status.OPTIMAL
    assert plain.info["restarts"] == 0 < restarted.info["restarts"]
    assert restarted.iterations < plain.iterations


@pytest.mark.parametrize("extra,match", [
    ({"scheme": "adaptive"}, "scheme must be 'halpern' or 'pdhg'"),
    ({"reflection": 1.5}, "reflection must be a number in \\[0, 1\\]"),
    ({"reflection": True}, "reflection must be a number"),
    ({"restart_every": 0}, "restart_every must be a positive integer"),
    ({"restart": "yes"}, "restart must be True or False"),
    ({"primal_weight": -1.0}, "primal_weight must be a number"),
    ({"primal_weight_smoothing": 2.0}, "primal_weight_smoothing must be"),
    ({"eval_every": 3}, "does not know option"),
])
def test_bad_options_are_refused(extra, match):
    with pytest.raises(InvalidDataError, match=match):
        matrix_game(np.eye(3)).solve(backend="halpern", **extra)


def test_an_lp_runs_pdhgs_halpern_scheme_and_agrees_with_highs():
    from scipy.optimize import linprog
    rng = np.random.default_rng(8)
    A = rng.random((15, 25))
    c = rng.random(25) + 0.1
    lp = sl.problems.linear_program(c, A, rl=np.ones(15), l=np.zeros(25))
    res = lp.solve(backend="halpern", tol=1e-8)
    assert res.status == "optimal", res.message
    ref = linprog(c, A_ub=-A, b_ub=-np.ones(15), bounds=(0, None), method="highs")
    assert res.objective == pytest.approx(ref.fun, rel=1e-7)
    assert res.certificate.meets(1e-8)
    with pytest.raises(sl.InvalidDataError, match="is backend='pdhg'"):
        lp.solve(backend="halpern", scheme="adaptive")


def test_small_lp_step_uses_the_exact_norm():
    """At most EXACT_NORM_SIDE rows or columns, and the Pock-Chambolle bound not shown by the
    power test: |A|_2 from the short side's Gram matrix, exactly, counted as min(m, n) passes."""
    import scipy.sparse as sp

    from solvelab.backends.pdhg import EXACT_NORM_SIDE, halpern_step

    class _S:
        pass

    rng = np.random.default_rng(4)
    A = sp.csr_matrix(rng.standard_normal((20, 45)) * 0.05)     # |A|_2 well below the bound 1
    S = _S()
    S.A, S.AT = A, A.T.tocsr()
    passes = [0, 0]
    step = halpern_step(S, passes)
    exact = np.linalg.norm(A.toarray(), 2)
    assert min(A.shape) <= EXACT_NORM_SIDE
    assert S.norm_2 == pytest.approx(exact, rel=1e-12)
    assert step == pytest.approx(0.998 / exact, rel=1e-12)
    assert passes[0] >= 20 and passes[1] >= 20         # the Gram matrix's products are counted
