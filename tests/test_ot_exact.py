"""``families.ot.exact_plan``: the exact OT plan from an entropic plan by column generation on
the transport LP, its certificate recomputed from (X, u, v), against POT's network simplex
(``ot.emd2``) at data scales 1e-6 .. 1e6, with and without an entropic warm start."""
import numpy as np
import pytest

import solvelab as sl
from solvelab.errors import InvalidDataError, ShapeError
from solvelab.families.ot.exact import exact_plan

ot = pytest.importorskip("ot")


def _instance(seed, n=40, m=30):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((m, 2)) + 0.5
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return C, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("warm", [False, True])
def test_exact_plan_matches_network_simplex_and_certifies(scale, warm):
    C, a, b = _instance(int(scale > 1) + 2 * warm)
    C = C * scale
    P = ot.sinkhorn(a, b, C / scale, 0.05) if warm else None
    e = exact_plan(C, a * scale, b * scale, P)
    assert e.status == "optimal" and e.meets(1e-9)
    ref = ot.emd2(a * scale, b * scale, C)
    assert e.cost == pytest.approx(ref, rel=1e-9)
    X = e.plan.toarray()
    # the certificate, recomputed from first principles
    assert X.min() >= 0
    np.testing.assert_allclose(X.sum(1), a * scale, rtol=1e-9, atol=0)
    np.testing.assert_allclose(X.sum(0), b * scale, rtol=1e-9, atol=0)
    r = C - e.u[:, None] - e.v[None, :]
    assert r.min() >= -1e-9 * np.abs(C).max()
    assert abs(e.cost - (a @ e.u + b @ e.v) * scale) <= 1e-9 * abs(e.cost)
    assert np.all(np.abs(r[X > 0]) <= 1e-9 * np.abs(C).max())   # complementary slackness


def test_an_entropic_plan_from_solvelab_warm_starts_it():
    C, a, b = _instance(7, 60, 60)
    res = sl.problems.entropic_ot(a, b, C, 1e-3 * C.max()).solve(backend="sinkhorn_newton", tol=1e-6)
    warm = exact_plan(C, a, b, res.values["P"])
    cold = exact_plan(C, a, b)
    assert warm.status == cold.status == "optimal"
    assert warm.cost == pytest.approx(cold.cost, rel=1e-10)
    assert warm.rounds <= cold.rounds


def test_bad_input_is_refused():
    C, a, b = _instance(0)
    with pytest.raises(ShapeError, match="cost has shape"):
        exact_plan(C[:, :-1], a, b)
    with pytest.raises(ShapeError, match="entropic plan has shape"):
        exact_plan(C, a, b, np.ones((3, 3)))
    with pytest.raises(InvalidDataError, match="equal total masses"):
        exact_plan(C, a, 2 * b)
    with pytest.raises(InvalidDataError, match="negative entries"):
        exact_plan(C, a - 2 * a.max() * (np.arange(a.size) == 0), b)
    with pytest.raises(InvalidDataError, match="solver must be"):
        exact_plan(C, a, b, solver="network")
    with pytest.raises(InvalidDataError, match="finite and nonnegative"):
        exact_plan(C, a, b, np.full(C.shape, np.nan))
    bad = C.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidDataError, match="NaN or Inf"):
        exact_plan(bad, a, b)


def test_rows_and_columns_without_mass_leave_the_lp_and_get_pricing_duals():
    C, a, b = _instance(5, 50, 45)
    a[::3] = 0.0
    b[1::4] = 0.0
    a, b = a / a.sum(), b / b.sum()
    P = sl.problems.entropic_ot(a, b, C, 0.05).solve(backend="sinkhorn_newton", tol=1e-6).values["P"]
    e = exact_plan(C, a, b, P)
    assert e.status == "optimal" and e.cost == pytest.approx(ot.emd2(a, b, C), rel=1e-9)
    X = e.plan.toarray()
    assert not X[a == 0].any() and not X[:, b == 0].any()
    assert (C - e.u[:, None] - e.v[None, :]).min() >= -1e-9 * C.max()
