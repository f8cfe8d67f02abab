"""The ``auglag`` backend (bound-constrained augmented Lagrangian, projected Newton inner
steps): NLPs with bounds against SLSQP and closed forms at objective scales 1e-6 .. 1e6,
the certificate recomputed from the point (stationarity less what active bounds allow)."""
from __future__ import annotations

import numpy as np
import pytest

import solvelab as sl
from solvelab.errors import InvalidDataError


def _hs71_eq(scale):
    """HS71 with its inequality dropped: min x1 x4 (x1 + x2 + x3) + x3 s.t. |x|^2 = 40,
    1 <= x <= 5 (three variables end on a bound)."""
    f = lambda x: scale * (x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2])  # noqa: E731
    g = lambda x: scale * np.array([x[3] * (2 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1,  # noqa: E731
                                    x[0] * (x[0] + x[1] + x[2])])
    c = lambda x: np.array([x @ x - 40.0])  # noqa: E731
    J = lambda x: 2 * x[None, :]  # noqa: E731

    def H(x, lam):
        s = 2 * x[0] + x[1] + x[2]
        Hf = np.array([[2 * x[3], x[3], x[3], s], [x[3], 0, 0, x[0]], [x[3], 0, 0, x[0]], [s, x[0], x[0], 0]])
        return scale * Hf + 2 * lam[0] * np.eye(4)
    return f, g, c, J, H


def _slsqp(f, g, c, J, x0, bounds):
    from scipy.optimize import minimize
    r = minimize(f, x0, jac=g, method="SLSQP", bounds=bounds, constraints=[{"type": "eq", "fun": c, "jac": J}],
                 options={"ftol": 1e-12, "maxiter": 500})   # (scipy 1.17's SLSQP reports a failed line
                                                                # search at 1e-15, at the same point)
    assert r.success
    return r


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_bounds_and_equalities_match_slsqp(scale):
    f, g, c, J, H = _hs71_eq(scale)
    prob = sl.NLP(f, [1, 5, 5, 1], eq=c, grad=g, jac=J, hess=H, bounds=(1, 5))
    res = prob.solve(backend="auglag", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert prob.program.certify(res.x, None).meets(1e-9)     # least-squares multipliers, from the point
    ref = _slsqp(*_hs71_eq(1.0)[:4], [1, 5, 5, 1], [(1, 5)] * 4)
    assert res.objective == pytest.approx(scale * ref.fun, rel=1e-8)
    assert np.abs(res.x - ref.x).max() < 1e-6
    assert res.x[0] == 1.0 and res.x[1] == 5.0 and res.x[3] == 1.0    # exactly on the bounds
    # the closed form: x3 = sqrt(40 - 1 - 25 - 1), f = 6 + 2 sqrt(13)
    assert res.x[2] == pytest.approx(np.sqrt(13.0), rel=1e-9)
    assert res.objective == pytest.approx(scale * (6.0 + 2.0 * np.sqrt(13.0)), rel=1e-9)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_box_only_projection_is_exact(scale):
    """min |x - a|^2 over a box: x = clip(a), with the bounds at both sides active."""
    a = scale * np.array([-3.0, 0.5, 2.0, 7.0])
    lo, hi = scale * np.array([-1.0, -1.0, -1.0, 0.0]), scale * np.array([1.0, 1.0, 3.0, 5.0])
    prob = sl.NLP(lambda x: float((x - a) @ (x - a)), np.zeros(4), grad=lambda x: 2 * (x - a),
                  hess=lambda x, lam: 2 * np.eye(4), bounds=(lo, hi))
    res = prob.solve(backend="auglag", tol=1e-10)
    assert res.status is sl.Status.OPTIMAL
    np.testing.assert_allclose(res.x, np.clip(a, lo, hi), rtol=1e-12, atol=0)


def test_equalities_without_bounds_agree_with_sqp():
    f, g, c, J, H = _hs71_eq(1.0)
    prob = sl.NLP(f, [1.5, 4.5, 3.5, 1.5], eq=c, grad=g, jac=J, hess=H)
    a = prob.solve(backend="auglag", tol=1e-9)
    b = prob.solve(backend="sqp", tol=1e-9)
    assert a.status is b.status is sl.Status.OPTIMAL
    if abs(a.objective - b.objective) > 1e-8 * abs(b.objective):    # two local minima are possible:
        assert prob.program.certify(a.x, None).meets(1e-9)          # then each must be stationary


def test_the_other_nlp_backends_still_refuse_bounds_and_name_auglag():
    f, g, c, J, H = _hs71_eq(1.0)
    prob = sl.NLP(f, [1, 5, 5, 1], eq=c, grad=g, jac=J, hess=H, bounds=(1, 5))
    with pytest.raises(sl.BackendRefusedError, match="auglag"):
        prob.solve(backend="sketched_newton")
    assert prob.solve(tol=1e-8).backend == "auglag"    # auto picks the one that takes bounds


def test_infeasible_constraints_are_never_optimal():
    prob = sl.NLP(lambda x: x @ x, [0.5, 0.5], eq=lambda x: np.array([x[0] + x[1] - 10.0]),
                  grad=lambda x: 2 * x, jac=lambda x: np.array([[1.0, 1.0]]), hess=lambda x, l: 2 * np.eye(2),
                  bounds=(0, 1))
    res = prob.solve(backend="auglag", max_iter=30)
    assert res.status is not sl.Status.OPTIMAL


def test_bad_options():
    f, g, c, J, H = _hs71_eq(1.0)
    prob = sl.NLP(f, [1, 5, 5, 1], eq=c, grad=g, jac=J, hess=H, bounds=(1, 5))
    with pytest.raises(InvalidDataError, match="rho0"):
        prob.solve(backend="auglag", rho0=-1.0)
    with pytest.raises(InvalidDataError, match="inner_max_iter"):
        prob.solve(backend="auglag", inner_max_iter=0)
