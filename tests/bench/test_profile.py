"""Performance profile and shifted geometric mean against hand computations."""
import math

import numpy as np
import pytest

from solvelab.bench.report import profile_ratios, profile_value, shifted_geomean

INF = math.inf


def test_performance_profile_matches_hand_computation():
    # instances x solvers; inf = not solved. Row 2: nobody solved it.
    T = [[1.0, 2.0, INF],
         [3.0, 3.0, 6.0],
         [INF, INF, INF],
         [2.0, 1.0, 4.0]]
    R = profile_ratios(T)
    expected = np.array([[1, 2, INF], [1, 1, 2], [INF, INF, INF], [2, 1, 4]], dtype=float)
    assert np.array_equal(R, expected)
    # rho_s(tau) = #{p : r_ps <= tau} / 4
    assert profile_value(R[:, 0], 1.0) == 0.5      # p0, p1
    assert profile_value(R[:, 0], 2.0) == 0.75     # + p3
    assert profile_value(R[:, 1], 1.0) == 0.5      # p1, p3
    assert profile_value(R[:, 1], 1.99) == 0.5
    assert profile_value(R[:, 1], 2.0) == 0.75     # + p0
    assert profile_value(R[:, 2], 1.0) == 0.0
    assert profile_value(R[:, 2], 2.0) == 0.25     # p1
    assert profile_value(R[:, 2], 4.0) == 0.5      # + p3
    assert profile_value(R[:, 2], 1e9) == 0.5      # never p0, p2


def test_shifted_geometric_mean():
    assert math.isclose(shifted_geomean([1.0, 10.0], shift=0.0), math.sqrt(10.0))
    assert math.isclose(shifted_geomean([1.0, 10.0], shift=1.0), math.sqrt(22.0) - 1.0)
    assert math.isnan(shifted_geomean([]))


def test_reference_only_peer_is_shown_but_not_judged_or_profiled():
    """A peer that solves a different problem (ot.emd next to entropic OT) is kept out of
    the solved counts, the ratios and the profile, and its row says why."""
    from solvelab.bench.report import judge, render_markdown, summary, time_matrix
    base = {"suite": "s", "instance": "i", "tol": 1e-6, "time_limit": 10.0, "repeat": 0, "reference_given": 1.0}
    rows = [dict(base, kind="backend", solver="b", status="optimal", objective=1.0, time=2.0),
            dict(base, kind="peer", solver="p", status="converged", objective=1.0, time=1.0),
            dict(base, kind="peer", solver="exact", status="converged", objective=1.0, time=0.5,
                 reference_only="solves the unregularized problem")]
    judged = judge(rows)
    ref = next(r for r in judged if r["solver"] == "exact")
    assert ref["solved"] is False and ref["judged_by"] == "reference only" and ref["ratio"] is None
    assert next(r for r in judged if r["solver"] == "p")["ratio"] == 1.0        # not 2.0 against emd's 0.5 s
    assert [s["solver"] for s in summary(judged)] == ["b", "p"]
    _, solvers, _ = time_matrix(judged)
    assert ("peer", "exact") not in solvers
    text = render_markdown(judged, {}, {})
    assert "reference only: solves the unregularized problem" in text


def test_peer_objective_error_is_relative_at_any_scale():
    from solvelab.bench.report import rel_error
    # the same 1e-3 relative miss at objective scales 1e-6 and 1e6 (a max(1, |ref|) floor
    # called the first one solved to 1e-9)
    assert rel_error(1.001e-6, 1e-6) == pytest.approx(1e-3)
    assert rel_error(1.001e6, 1e6) == pytest.approx(1e-3)
    # a zero optimum is judged against the instance's objective scale when it has one
    assert rel_error(1e-9, 0.0, scale=2.0) == pytest.approx(5e-10)
    assert rel_error(1e-9, 0.0) > 1e6
    assert rel_error(None, 1.0) is None and rel_error(float("nan"), 1.0) is None
