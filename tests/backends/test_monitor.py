"""The one iteration loop tail (``solvelab.backends.base.IterationMonitor``): alone, and in
every iterative backend -- a callback returning True stops the run at its first check
(status 'stopped', a message saying so), and a time limit of 1e-9 s gives 'time_limit'.
"""
import time

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.backends import registry
from solvelab.backends.base import IterationMonitor, SolveOptions, Table
from solvelab.problems import entropic_ot, unbalanced_ot
from solvelab.result import Status

from ot_oracle import ot_instance


# --------------------------------------------------------------------------------------
# the monitor alone
# --------------------------------------------------------------------------------------

def test_checks_fall_every_check_every_iterations_and_at_the_budget():
    mon = IterationMonitor(SolveOptions(max_iter=23, check_every=5))
    assert [it for it in range(30) if mon.due(it)] == [0, 5, 10, 15, 20, 23, 24, 25, 26, 27, 28, 29]
    assert IterationMonitor(SolveOptions(check_every=0)).check_every == 1   # at least every iteration
    assert IterationMonitor(SolveOptions(max_iter=9), max_iter=4).max_iter == 4


def test_max_iter_stop():
    mon = IterationMonitor(SolveOptions(max_iter=10))
    assert (mon.status, mon.message) == ("max_iter", "")
    assert not mon.check(mon.record(9, 1.0))
    assert mon.check(mon.record(10, 1.0), max_iter_message="10 iterations (residual 1)")
    assert (mon.status, mon.message) == ("max_iter", "10 iterations (residual 1)")
    other = IterationMonitor(SolveOptions(max_iter=10))
    assert other.limits(3, exhausted=True) and other.status == "max_iter"   # another budget ran out


def test_deadline():
    assert not IterationMonitor(SolveOptions()).out_of_time()             # no time limit
    mon = IterationMonitor(SolveOptions(time_limit=1e-9))
    time.sleep(1e-4)
    assert mon.out_of_time() and mon.status == "max_iter"                # the test alone stops nothing
    assert mon.timed_out(7)
    assert (mon.status, mon.message) == ("time_limit", "time limit of 1e-09 s reached at iteration 7")
    ep = IterationMonitor(SolveOptions(time_limit=1e-9), unit="epochs")
    time.sleep(1e-4)
    assert ep.check(ep.record(12)) and ep.message == "time limit of 1e-09 s reached after 12 epochs"
    own = IterationMonitor(SolveOptions(time_limit=1e-9), time_message="time up at {it}")
    time.sleep(1e-4)
    assert own.limits(3) and own.message == "time up at 3"
    long = IterationMonitor(SolveOptions(time_limit=60.0))
    assert not long.out_of_time() and not long.timed_out(1)


def test_callback_stop_sees_a_copy_of_the_record_and_x():
    seen = []

    def cb(info):
        seen.append(info)
        info["residual"] = -1.0          # a copy: the history keeps its own
        return info["iteration"] >= 20

    mon = IterationMonitor(SolveOptions(callback=cb, max_iter=100, check_every=10))
    x = np.arange(3.0)
    stops = [mon.check(mon.record(it, 0.5, objective=1.0), x) for it in (0, 10, 20)]
    assert stops == [False, False, True]
    assert (mon.status, mon.message) == ("stopped", "stopped by the callback at iteration 20")
    assert [s["iteration"] for s in seen] == [0, 10, 20] and seen[0]["x"] is x
    assert all(h["residual"] == 0.5 and "x" not in h for h in mon.history)
    # the callback comes before the budget and the deadline
    mon2 = IterationMonitor(SolveOptions(callback=lambda info: True, max_iter=1, time_limit=1e-9),
                            unit="epochs")
    time.sleep(1e-4)
    assert mon2.check(mon2.record(5)) and mon2.message == "stopped by the callback after 5 epochs"


def test_history_records():
    mon = IterationMonitor(SolveOptions())
    a = mon.record(0, 2.0, objective=3.0, certificate=None)
    b = mon.record(10, objective=2.5)
    assert mon.history == [a, b]
    assert set(a) == {"iteration", "time", "objective", "certificate", "residual"} and a["residual"] == 2.0
    assert "residual" not in b and b["iteration"] == 10                   # (the engine fills it in)
    assert 0.0 <= a["time"] <= b["time"]
    assert mon.stop("converged", "done") and (mon.status, mon.message) == ("converged", "done")
    # a child (a sub-run with its own budget) shares the clock, deadline and history
    sub = mon.child(3)
    assert sub.max_iter == 3 and sub.status == "max_iter" and sub.t0 == mon.t0 and sub.deadline == mon.deadline
    sub.record(3)
    assert mon.history[-1]["iteration"] == 3 and mon.status == "converged"


_TABLE = Table(("iteration", "iter", "5d"), ("gap", "gap", "9.2e", "n/a"), ("cert", "cert", "8.1e"))


def test_verbose_table_header_once_and_one_row_per_check(capsys):
    mon = IterationMonitor(SolveOptions(verbose=True), table=_TABLE)
    mon.header()
    mon.record(0, gap=1.5, cert=0.25)
    mon.record(10, gap=None)
    mon.record(20, show=False, gap=1.0)
    mon.row({"iteration": 21, "gap": 2.0, "cert": 1.0})
    mon.header()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [" iter       gap     cert",
                     "    0  1.50e+00  2.5e-01",
                     "   10       n/a         ",
                     "   21  2.00e+00  1.0e+00"]
    quiet = IterationMonitor(SolveOptions(), table=_TABLE)
    quiet.header()
    quiet.record(0, gap=1.0)
    quiet.summary("x", "1 iteration", 0.1)
    assert capsys.readouterr().out == ""
    mon.stop("max_iter", "why")
    mon.summary("demo", "3 iterations", 0.12345, digits=2)
    assert capsys.readouterr().out == "demo: max_iter after 3 iterations, 0.12 s; why\n"


def test_row_without_header_call_prints_the_header_first(capsys):
    other = Table(("iteration", "n", "3d"))
    mon = IterationMonitor(SolveOptions(verbose=True), table=_TABLE)
    mon.row({"iteration": 1}, other)
    mon.row({"iteration": 2}, other)
    assert capsys.readouterr().out.splitlines() == ["  n", "  1", "  2"]


# --------------------------------------------------------------------------------------
# every backend: callback stop at the first check, and time_limit
# --------------------------------------------------------------------------------------

def _regression(seed=0, m=40, n=15):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n)), rng.standard_normal(m)


def _admm():
    A, b = _regression(1)
    x = cp.Variable(A.shape[1])
    return sl.Problem(cp.Minimize(cp.norm1(A @ x - b)), [x >= -1])


def _fista():
    A, b = _regression(2)
    x = cp.Variable(A.shape[1])
    return sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 0.1 * cp.norm1(x)))


def _cd():
    A, b = _regression(3, m=60, n=80)
    return sl.problems.lasso(A, b, 0.001)


def _cd_groups():
    A, b = _regression(4, m=60, n=40)
    return sl.problems.group_lasso(A, b, [np.arange(i, i + 4) for i in range(0, 40, 4)], 0.001)


def _ot():
    a, b, C = ot_instance(5, 30, 25)
    return entropic_ot(a, b, C, 1e-3 * C.max())


CASES = {"admm": ("admm", _admm), "fista": ("fista", _fista), "cd": ("cd", _cd),
         "cd groups": ("cd", _cd_groups), "sinkhorn": ("sinkhorn", _ot),
         "sinkhorn_newton": ("sinkhorn_newton", _ot)}


def _raw(prob, backend, **opts):
    """The backend's own RawSolution (before the engine maps its status)."""
    impl = registry.get(backend)
    view = registry.view_for(impl, prob.compile())
    return impl.run(view, SolveOptions(max_iter=impl.default_max_iter, **opts))


@pytest.mark.parametrize("case", list(CASES))
def test_a_callback_returning_true_stops_at_the_first_check(case):
    backend, make = CASES[case]
    seen = []

    def cb(info):
        seen.append(info["iteration"])
        return True

    raw = _raw(make(), backend, tol=1e-14, check_every=5, callback=cb)
    assert raw.status == "stopped", (raw.status, raw.message)
    assert raw.message.startswith("stopped by the callback") and str(seen[0]) in raw.message
    assert len(seen) == 1 and raw.iterations == seen[0] == raw.history[-1]["iteration"]
    if backend in ("fista", "cd"):
        assert seen == [0]                 # these check the starting point
    # through the engine: not optimal, and the message says why
    res = make().solve(backend=backend, tol=1e-14, check_every=5, callback=lambda info: True)
    assert res.status is Status.INACCURATE and "stopped by the callback" in res.message


@pytest.mark.parametrize("case", list(CASES))
def test_a_tiny_time_limit_gives_time_limit(case):
    backend, make = CASES[case]
    raw = _raw(make(), backend, tol=1e-14, time_limit=1e-9)
    assert raw.status == "time_limit", (raw.status, raw.message)
    assert "time limit" in raw.message
    res = make().solve(backend=backend, tol=1e-14, time_limit=1e-9)
    assert res.status is Status.TIME_LIMIT


@pytest.mark.parametrize("case", list(CASES))
def test_every_history_record_has_iteration_time_and_residual(case):
    backend, make = CASES[case]
    raw = _raw(make(), backend, tol=1e-8, check_every=5)
    assert raw.history
    for rec in raw.history:
        assert {"iteration", "time", "residual"} <= set(rec) and np.isfinite(rec["residual"])
    its = [rec["iteration"] for rec in raw.history]
    assert its == sorted(its)


def test_unbalanced_sinkhorn_records_the_potential_change_as_its_residual():
    a, b, C = ot_instance(6, 20, 15)
    raw = _raw(unbalanced_ot(a, b, C, 0.05 * C.max(), 1.0), "sinkhorn", tol=1e-9, check_every=5)
    assert raw.history and all(rec["residual"] == rec["potential_change"] for rec in raw.history)
