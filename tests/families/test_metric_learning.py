"""Metric learning from similar / dissimilar pairs (``sl.problems.metric_learning``): L2
metric nearness with pair bounds, solved by project_forget and checked against
CVXPY + Clarabel on the explicit triangles, at data scales 1e-6 .. 1e6."""
from __future__ import annotations

import numpy as np
import pytest

import solvelab as sl
from solvelab.errors import InvalidDataError, ShapeError
from solvelab.problems.metric import metric_learning


def _instance(n=24, seed=0, k=50):
    rng = np.random.default_rng(seed)
    half = n // 2
    pts = np.vstack([rng.normal(0, 1, (half, 2)), rng.normal(2.5, 1, (n - half, 2))])
    lab = np.r_[np.zeros(half), np.ones(n - half)]
    iu, ju = np.triu_indices(n, 1)
    pick = rng.choice(iu.size, k, replace=False)
    P = np.c_[iu[pick], ju[pick]]
    same = lab[P[:, 0]] == lab[P[:, 1]]
    return pts, P[same], P[~same]


def _clarabel(prob):
    cp_prob, X = prob.to_cvxpy()
    cp_prob.solve(solver="CLARABEL", tol_gap_rel=1e-10, tol_feas=1e-10, tol_gap_abs=0.0, tol_ktratio=1e-10)
    return cp_prob.value, np.asarray(X.value)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_matches_clarabel_and_meets_the_pair_bounds(scale):
    pts, S, Dp = _instance()
    prob = metric_learning(scale * pts, S, Dp)
    res = prob.solve(backend="project_forget", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL, res.message
    n = pts.shape[0]
    X = res.x.reshape(n, n)
    bi, bj, lo, hi = prob.program.bounds
    assert np.all(X[bi, bj] <= hi * (1 + 1e-12)) and np.all(X[bi, bj] >= lo * (1 - 1e-12))
    assert sl.is_metric  # the constraint constructor exists beside the check below
    tri = X[:, None, :] + X[None, :, :]                      # X_ik + X_kj over k (axis 1 -> k)
    assert np.all(X[:, :, None] <= np.transpose(tri, (0, 2, 1)) + 1e-8 * X.max())
    # the oracle solves the unit-scale problem (Clarabel's absolute tolerances fail at 1e-6 and
    # 1e6): the scaled problem's solution is s X* and its value s^2 f*
    val, Xc = _clarabel(metric_learning(pts, S, Dp))
    val, Xc = scale ** 2 * val, scale * Xc
    assert res.objective == pytest.approx(val, rel=1e-6)
    assert np.abs(X - Xc).max() <= 1e-4 * np.abs(Xc).max()
    # at least one bound is active, so the bounds shaped the answer
    assert np.any(np.isclose(X[bi, bj], np.where(np.isfinite(hi), hi, lo), rtol=1e-9))


def test_certificate_sees_a_violated_pair_bound():
    pts, S, Dp = _instance(seed=1)
    prob = metric_learning(pts, S, Dp)
    res = prob.solve(backend="project_forget", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL
    n = pts.shape[0]
    bi, bj, lo, hi = prob.program.bounds
    X = res.x.reshape(n, n).copy()
    s = int(np.flatnonzero(np.isfinite(hi))[0])
    X[bi[s], bj[s]] = X[bj[s], bi[s]] = hi[s] + 0.1 * prob.program.scale
    cert = prob.program.certify(X.ravel(), [res.info["triangles"], res.info["multipliers"]])
    assert cert.structure_violation >= 0.09 and not cert.meets(1e-6)


def test_defaults_are_itml_percentiles_and_points_give_euclidean_distances():
    pts, S, Dp = _instance(seed=2)
    prob = metric_learning(pts, S, Dp)
    D = prob.program.D
    assert np.allclose(D, np.linalg.norm(pts[:, None] - pts[None], axis=-1))
    off = D[~np.eye(D.shape[0], dtype=bool)]
    bi, bj, lo, hi = prob.program.bounds
    assert set(hi[np.isfinite(hi)]) == {np.percentile(off, 5)}
    assert set(lo[np.isfinite(lo)]) == {np.percentile(off, 95)}


def test_bad_inputs_are_named():
    pts, S, Dp = _instance()
    with pytest.raises(InvalidDataError, match="both similar and dissimilar"):
        metric_learning(pts, S, np.vstack([Dp, S[:1]]))
    with pytest.raises(InvalidDataError, match="out of range"):
        metric_learning(pts, [[0, 99]], [])
    with pytest.raises(InvalidDataError, match="diagonal"):
        metric_learning(pts, [[3, 3]], [])
    with pytest.raises(ShapeError, match=r"\(k, 2\)"):
        metric_learning(pts, [1, 2, 3], [])
    with pytest.raises(InvalidDataError, match="upper must be"):
        metric_learning(pts, S, Dp, upper=-1.0)
    bad = pts.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        metric_learning(bad, S, Dp)
    from solvelab.families.metric import MetricProgram
    with pytest.raises(InvalidDataError, match="l2 objective only"):
        MetricProgram("l1", D=np.ones((4, 4)) - np.eye(4), bounds=([[0, 1]], 0.0, 1.0))
    with pytest.raises(InvalidDataError, match="lower .* > upper"):
        MetricProgram("l2", D=np.ones((4, 4)) - np.eye(4), bounds=([[0, 1]], 2.0, 1.0))
