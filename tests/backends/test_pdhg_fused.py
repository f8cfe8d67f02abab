"""pdhg's Halpern scheme runs its uneventful evaluations in Numba (``kernels.halpern_lp``)
and the eventful ones in Python. A callback turns the fusion off (it sees every record
and x), so the same solve with and without a callback must take the same decisions:
the same iterations, passes, restarts, point and history, on optimal, infeasible and
unbounded LPs (the last runs the feasibility phase fused too)."""
import importlib
from pathlib import Path

import numpy as np
import pytest

import solvelab as sl
from solvelab.bench.data import search_dirs
from solvelab.bench.suites.lp import generated_lp

pdhg = importlib.import_module("solvelab.backends.pdhg")


def _random_lp(seed, scale=1.0, m=30, n=40):
    """Feasible and bounded, every kind of row and column bound (the bench suite's generator,
    denser), its data times ``scale``."""
    d = generated_lp(m, n, seed)
    return sl.problems.linear_program(d["c"] * scale, d["A"] * scale, d["rl"] * scale, d["ru"] * scale, d["l"],
                                      d["u"])


def _infeasible():
    return sl.problems.linear_program([1.0, 2.0], [[1.0, 1.0], [1.0, 1.0]], rl=[-np.inf, 3.0], ru=[1.0, np.inf])


def _unbounded():
    return sl.problems.linear_program([-1.0, 0.0], [[1.0, -1.0], [0.0, 1.0]], rl=[-np.inf, 0.0],
                                      ru=[1.0, np.inf])


def _netlib(name):
    for base in search_dirs():
        p = Path(base) / "lp" / f"{name}.mps.xz"
        if p.is_file():
            return lambda: sl.problems.read_mps(p, relax_integrality=True)
    pytest.skip(f"Netlib LP {name}.mps.xz not found under lp/ in {', '.join(map(str, search_dirs()))} "
                "(set SOLVELAB_DATA to the shared data directory)")


CASES = {"random_0": lambda: _random_lp(0), "random_1_1e-6": lambda: _random_lp(1, 1e-6),
         "random_2_1e6": lambda: _random_lp(2, 1e6), "infeasible": _infeasible, "unbounded": _unbounded}


def _pair(build, monkeypatch, **kw):
    calls = []
    real = pdhg._Fused.evaluations

    def counted(self, *a, **k):
        calls.append(1)
        return real(self, *a, **k)
    monkeypatch.setattr(pdhg._Fused, "evaluations", counted)
    fused = build().solve(backend="halpern", **kw)
    n_fused = len(calls)
    plain = build().solve(backend="halpern", callback=lambda info: False, **kw)
    assert n_fused > 0 and len(calls) == n_fused   # the first ran fused, the second did not
    return fused, plain


def _same(a, b):
    assert a.status == b.status and a.iterations == b.iterations
    for key in ("matvecs", "matvecs_A", "matvecs_AT", "restarts", "primal_weight"):
        assert a.info[key] == b.info[key], key
    assert a.message == b.message
    if a.x is None or b.x is None:
        assert a.x is None and b.x is None
    else:
        np.testing.assert_array_equal(a.x, b.x)
    keys = ("iteration", "residual", "primal_residual", "dual_residual", "gap", "matvecs", "restarts", "omega",
            "phase")
    assert [[h.get(k) for k in keys] for h in a.history] == [[h.get(k) for k in keys] for h in b.history]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fused_loop_takes_the_python_loops_decisions(case, monkeypatch):
    a, b = _pair(CASES[case], monkeypatch, tol=1e-7, max_iter=100000)
    _same(a, b)
    want = {"infeasible": "infeasible", "unbounded": "unbounded"}.get(case, "optimal")
    assert a.status == want, a.message


@pytest.mark.parametrize("name", ["afiro", "adlittle", "woodinfe"])
def test_the_fused_loop_on_netlib(name, monkeypatch):
    a, b = _pair(_netlib(name), monkeypatch, tol=1e-6, max_iter=100000)
    _same(a, b)
    assert a.status == ("infeasible" if name == "woodinfe" else "optimal")


def test_a_small_budget_and_a_time_limit_stop_the_fused_loop(monkeypatch):
    a, b = _pair(lambda: _random_lp(3), monkeypatch, tol=1e-12, max_iter=200)
    _same(a, b)
    assert a.status != "optimal" and a.iterations == 200
    res = _random_lp(4, m=3000, n=4000).solve(backend="halpern", tol=1e-14, max_iter=10**8, time_limit=0.3)
    total = res.timings["total"]
    assert res.status == "time_limit" and total < 3.0, (res.status, total)
    assert res.history[-1]["time"] <= total
