"""The status contract, for every backend on every fixture it claims: a budget of one
iteration gives max_iter (or a certified optimal), a time limit that has passed gives
time_limit, a callback that asks to stop is obeyed and named, and a warm start from the
solution is certified again in no more iterations."""
from __future__ import annotations

import pytest

import solvelab as sl
from kit import pairs, recheck

BUDGET_STATUSES = (sl.Status.MAX_ITER, sl.Status.OPTIMAL)


def _honest(fx, problem, res):
    """An optimal claim is backed by the recomputed certificate."""
    if res.status is sl.Status.OPTIMAL:
        assert recheck(problem, res) <= fx.tol


@pytest.mark.parametrize("fx,backend", pairs())
def test_a_budget_of_one_iteration(fx, backend):
    case = fx.build(1.0)
    res = case.problem.solve(backend=backend, tol=fx.tol, max_iter=1, warm_start=False)
    if backend == "cvxpy":   # the reference ignores iteration budgets below its own
        assert res.status in (sl.Status.OPTIMAL, sl.Status.INACCURATE, sl.Status.MAX_ITER)
    else:
        assert res.status in BUDGET_STATUSES, (res.status, res.message)
        assert res.iterations <= 1 or res.status is sl.Status.OPTIMAL, res.iterations
    _honest(fx, case.problem, res)


@pytest.mark.parametrize("fx,backend", pairs())
def test_a_time_limit_that_has_passed(fx, backend):
    if backend == "cvxpy":
        pytest.skip("the cvxpy reference hands the time limit to the external solver")
    case = fx.build(1.0)
    res = case.problem.solve(backend=backend, tol=fx.tol, max_iter=fx.max_iter, time_limit=1e-9, warm_start=False)
    assert res.status in (sl.Status.TIME_LIMIT, sl.Status.OPTIMAL), (res.status, res.message)
    if res.status is sl.Status.TIME_LIMIT:
        assert "time limit" in res.message
    _honest(fx, case.problem, res)


@pytest.mark.parametrize("fx,backend", pairs())
def test_a_callback_that_asks_to_stop(fx, backend):
    if backend == "cvxpy":
        pytest.skip("the cvxpy reference has no iterations to call back from")
    case = fx.build(1.0)
    seen = []

    def stop(info):
        seen.append(info)
        return True

    res = case.problem.solve(backend=backend, tol=fx.tol, max_iter=fx.max_iter, callback=stop, warm_start=False,
                             check_every=1)
    assert seen, "the callback was never called"
    assert "iteration" in seen[0] and "residual" in seen[0]
    assert len(seen) == 1, "the run went on after the callback asked to stop"
    assert res.status in (sl.Status.INACCURATE, sl.Status.OPTIMAL), (res.status, res.message)
    if res.status is sl.Status.INACCURATE:
        assert "callback" in res.message
    _honest(fx, case.problem, res)


@pytest.mark.parametrize("fx,backend", pairs())
def test_a_warm_start_from_the_solution(fx, backend):
    case = fx.build(1.0)
    cold = case.problem.solve(backend=backend, tol=fx.tol, max_iter=fx.max_iter, warm_start=False)
    warm = case.problem.solve(backend=backend, tol=fx.tol, max_iter=fx.max_iter, warm_start=True)
    assert warm.status is cold.status, (cold.status, warm.status, warm.message)
    _honest(fx, case.problem, warm)
    if backend != "cvxpy":
        assert warm.iterations <= cold.iterations, (cold.iterations, warm.iterations)
