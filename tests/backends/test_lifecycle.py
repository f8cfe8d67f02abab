"""The backend lifecycle: setup once per operator data, update on a new solve, solve.

New vector data -- a Parameter in b, c, lam -- must reuse the workspace: no new setup, no
new factorization, no new kernel compilation (counted, not timed); a Parameter in a
matrix sets up again. Each solve stays certified against an independent reference."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.kernels import factor
from solvelab.kernels.counts import compiled_specializations


def _lifecycle(res):
    return res.info["lifecycle"]


def _clarabel(prob: cp.Problem) -> float:
    return cp.Problem(prob.objective, prob.constraints).solve(solver="CLARABEL")


def test_admm_new_right_hand_side_and_weight_never_refactorize():
    rng = np.random.default_rng(0)
    m, n = 40, 15
    A = rng.standard_normal((m, n))
    b = cp.Parameter(m, value=rng.standard_normal(m))
    lam = cp.Parameter(nonneg=True, value=0.3)
    A_par = cp.Parameter((m, n), value=A)
    x = cp.Variable(n)
    cons = [x >= -1, x <= 1]
    model = cp.Problem(cp.Minimize(cp.sum_squares(A_par @ x - b) + lam * cp.norm1(x)), cons)
    prob = sl.Problem(model.objective, cons)
    opts = dict(backend="admm", tol=1e-7, adaptive_rho=False, max_iter=50000)
    first = prob.solve(**opts)
    assert first.status is sl.Status.OPTIMAL and _lifecycle(first) == {"set_up": True, "setups": 1, "solves": 1}
    numeric, compiled = factor.stats.numeric, compiled_specializations()
    for k in range(3):
        b.value = rng.standard_normal(m) * 10.0 ** k
        lam.value = 0.1 * (k + 1)
        res = prob.solve(**opts)
        assert res.status is sl.Status.OPTIMAL, res.message
        assert res.objective == pytest.approx(_clarabel(model), rel=1e-5)
        assert _lifecycle(res)["set_up"] is False and _lifecycle(res)["setups"] == 1
    assert factor.stats.numeric == numeric, "a new b or lam refactorized"
    assert compiled_specializations() == compiled
    assert prob.compile_count == 1
    # a new matrix is new operator data: set up (and factorized) again, still certified
    A_par.value = A + 0.1 * rng.standard_normal((m, n))
    res = prob.solve(**opts)
    assert _lifecycle(res) == {"set_up": True, "setups": 2, "solves": 5}
    assert factor.stats.numeric > numeric
    assert res.status is sl.Status.OPTIMAL and res.objective == pytest.approx(_clarabel(model), rel=1e-5)


def test_cd_new_lam_compiles_nothing_and_keeps_its_gram_matrix():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((60, 30))
    b = A[:, :4] @ np.ones(4) + 0.1 * rng.standard_normal(60)
    lam_max = np.max(np.abs(A.T @ b)) / 60
    prob = sl.problems.lasso(A, b, lam_max / 5)
    first = prob.solve(backend="cd", tol=1e-8)
    assert first.status is sl.Status.OPTIMAL
    ws = prob._state["cd"]["workspace"]
    cached = {k: v for k, v in ws.items()}
    assert "colsq" in cached          # column norms (and, where used, the Gram matrix)
    compiled = compiled_specializations()
    from sklearn.linear_model import Lasso
    for ratio in (10, 20, 50):
        prob.lam.value = lam_max / ratio
        res = prob.solve(backend="cd", tol=1e-8)
        assert res.status is sl.Status.OPTIMAL and _lifecycle(res)["set_up"] is False
        coef = Lasso(alpha=lam_max / ratio, fit_intercept=False, tol=1e-12, max_iter=100000).fit(A, b).coef_
        ref = np.sum((A @ coef - b) ** 2) / 120 + lam_max / ratio * np.abs(coef).sum()
        assert res.objective == pytest.approx(ref, rel=1e-7)
    assert compiled_specializations() == compiled, "a new lam compiled a kernel"
    # the operator-dependent caches are the same objects (not rebuilt)
    assert all(ws.get(k) is v for k, v in cached.items())
    assert prob._state["cd"]["workspace"] is ws and ws.setups == 1


@pytest.mark.parametrize("backend", ["sinkhorn", "sinkhorn_newton"])
def test_ot_resolve_keeps_its_reduced_problem_and_compiles_nothing(backend):
    rng = np.random.default_rng(2)
    a = rng.random(30) + 0.1
    b = rng.random(25) + 0.1
    a[3] = 0.0                        # a zero mass: the reduced problem drops that row
    a, b = a / a.sum(), b / b.sum()
    C = rng.random((30, 25))
    prob = sl.problems.entropic_ot(a, b, C, 0.05)
    first = prob.solve(backend=backend, tol=1e-9)
    assert first.status is sl.Status.OPTIMAL
    ws = prob._state[backend]["workspace"]
    red = ws["reduced"]
    compiled = compiled_specializations()
    again = prob.solve(backend=backend, tol=1e-10)
    assert again.status is sl.Status.OPTIMAL and _lifecycle(again) == {"set_up": False, "setups": 1, "solves": 2}
    assert prob._state[backend]["workspace"]["reduced"] is red
    assert compiled_specializations() == compiled
    assert again.iterations <= first.iterations      # warm potentials from the workspace


def test_default_lifecycle_sets_up_once_per_operator_version():
    from solvelab.backends.base import Backend, Changes, RawSolution, Workspace

    class Counting(Backend):
        name = "counting"
        setups = 0

        def setup(self, view, options):
            Counting.setups += 1
            return Workspace(built=Counting.setups)

        def solve(self, view, options, ws):
            return RawSolution(x=None, status="numerical_error", iterations=0)

    impl = Counting()
    assert impl.update(Workspace(), None, None, Changes(operators=False)) is True
    assert impl.update(Workspace(), None, None, Changes(operators=True)) is False
    raw = impl.run(None, None)
    assert raw.status == "numerical_error" and Counting.setups == 1
    ws = Workspace()
    impl.run(None, None, ws)
    assert Counting.setups == 1     # a given workspace is used as it is
