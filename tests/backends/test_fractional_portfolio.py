"""fractional_portfolio (what backend='auto' runs on a fractional program): fractional_cd,
then dinkelbach from the same start, keeping the better certified critical point."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.backends.fractional_portfolio import pick


def _correlated_recovery(seed, denominator, **kw):
    """Columns sharing one strong common direction: the two backends stop at different
    critical points of the nonconvex ratio (seed 3 l2: dinkelbach lower; seed 6 top-k:
    fractional_cd lower)."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((40, 30))
    G[:, 1:] += 0.8 * G[:, :1]
    x0 = np.zeros(30)
    x0[rng.choice(30, 4, replace=False)] = rng.standard_normal(4)
    y = G @ x0 + 0.05 * rng.standard_normal(40)
    lam = 0.05 * float(np.max(np.abs(G.T @ y)))
    return sl.problems.sparse_recovery(G, y, lam=lam, denominator=denominator, **kw)


@pytest.mark.parametrize("seed, denominator, kw", [(3, "l2", {}), (6, "topk", {"k": 3})])
def test_auto_keeps_the_lower_of_the_two_certified_critical_points(seed, denominator, kw):
    prob = _correlated_recovery(seed, denominator, **kw)
    fcd = prob.solve(backend="fractional_cd", tol=1e-9, warm_start=False)
    dk = prob.solve(backend="dinkelbach", tol=1e-9, warm_start=False)
    assert fcd.status is sl.Status.OPTIMAL and dk.status is sl.Status.OPTIMAL
    assert abs(fcd.objective - dk.objective) > 1e-3 * abs(dk.objective)   # two different critical points
    res = prob.solve(tol=1e-9, warm_start=False)
    assert res.backend == "fractional_portfolio" and res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(min(fcd.objective, dk.objective), rel=1e-9)
    runs = res.info["runs"]
    assert [r["backend"] for r in runs] == ["fractional_cd", "dinkelbach"]
    assert all(r["certified"] for r in runs)
    assert res.info["chosen"] == ("fractional_cd" if fcd.objective < dk.objective else "dinkelbach")
    # the certificate is the engine's, recomputed from the returned point
    assert prob.program.certify(res.x).meets(1e-9)


def test_the_reported_history_counts_time_from_the_portfolio_start():
    prob = _correlated_recovery(3, "l2")
    res = prob.solve(backend="fractional_portfolio", tol=1e-9, warm_start=False, check_every=1)
    first = res.info["runs"][0]
    assert res.info["chosen"] == "dinkelbach"
    assert res.history[0]["time"] >= first["time"]   # dinkelbach started after fractional_cd ended


def test_a_ray_from_fractional_cd_is_the_answer_and_dinkelbach_is_not_run():
    rng = np.random.default_rng(5)
    G = rng.standard_normal((30, 6))
    G[:, 1] = G[:, 0]                       # G (e0 - e1) = 0: the ratio falls toward lam sqrt 2
    y = G @ rng.standard_normal(6)
    prob = sl.problems.sparse_recovery(G, y, lam=0.01, denominator="l2")
    res = prob.solve(tol=1e-9, max_iter=20000)
    assert res.status is not sl.Status.OPTIMAL
    runs = res.info["runs"]
    if runs[0]["status"] == "no_minimizer":
        assert len(runs) == 1 and "no minimizer" in res.message
    else:   # fractional_cd stopped at a coordinate-wise minimum: dinkelbach then finds the ray
        assert [r["backend"] for r in runs] == ["fractional_cd", "dinkelbach"]
        assert res.info["chosen"] == "dinkelbach" and "no minimizer" in res.message
    assert res.objective >= 0.01 * np.sqrt(2.0)


def test_pick_prefers_a_ray_below_every_certified_ratio_and_else_the_lowest_certified():
    def run(ratio, certified, ray=None):
        return {"ratio": ratio, "certified": certified, "ray_limit": ray}
    assert pick([run(2.0, True), run(1.5, True)]) == 1
    assert pick([run(1.5, True), run(1.5, True)]) == 0                  # ties go to the first
    assert pick([run(1.5, True), run(1.5 * (1 - 1e-15), True)]) == 0    # ... within rounding too
    assert pick([run(2.0, True), run(3.0, False, ray=1.0)]) == 1        # the infimum is lower
    assert pick([run(0.5, True), run(3.0, False, ray=1.0)]) == 0        # a certified point beats the ray
    assert pick([run(0.5, False), run(3.0, True)]) == 1                 # certified beats lower uncertified
    assert pick([run(2.0, False), run(1.0, False)]) == 1
    assert pick([run(np.nan, False)]) == 0


def test_the_simplex_runs_dinkelbach_alone():
    rng = np.random.default_rng(0)
    G = rng.standard_normal((20, 8))
    x = cp.Variable(8)
    prob = sl.problems.Fractional(cp.sum_squares(G @ x - rng.standard_normal(20)) + 0.1 * cp.norm1(x),
                                  rng.random(8) @ x + 1.0, constraints=[x >= 0, cp.sum(x) == 1])
    res = prob.solve(tol=1e-7)
    assert res.backend == "fractional_portfolio"
    assert [r["backend"] for r in res.info["runs"]] == ["dinkelbach"]
    assert res.status is sl.Status.OPTIMAL
    ref = prob.solve(backend="dinkelbach", tol=1e-7, warm_start=False)
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)


def test_options_go_to_the_backend_that_owns_them_and_unknown_ones_are_refused():
    prob = _correlated_recovery(3, "l2")
    res = prob.solve(backend="fractional_portfolio", tol=1e-8, theta=0.1, inner="cd", warm_start=False)
    assert res.status is sl.Status.OPTIMAL
    with pytest.raises(sl.InvalidDataError, match="fractional_portfolio.*accepts x0, theta"):
        prob.solve(backend="fractional_portfolio", selection="greedy")
    with pytest.raises(sl.InvalidDataError, match="theta must be a number"):
        prob.solve(backend="fractional_portfolio", theta=-1.0)
    with pytest.raises(sl.InvalidDataError, match="inner must be"):
        prob.solve(backend="fractional_portfolio", inner="newtonian")
