"""Distributionally robust logistic regression (the DROSaddle form, backends ``dro_newton``
and ``alpd``):
against CVXPY+Clarabel on the DCP formulation (``to_cvxpy``), the certificate's bounds
checked independently (the upper bound by brute force over p, the lower one against an
accurate inner solve), the limits rho -> inf (ridge logistic regression, scikit-learn's
objective) and small rho, data scales 1e-6 ... 1e6, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError, ShapeError
from solvelab.families.saddle.dro import dual_lower_bound, primal_value
from solvelab.problems.saddle import dro_logistic


def _data(n=120, d=6, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    b = np.sign(A @ rng.standard_normal(d) + 0.7 * rng.standard_normal(n))
    b[b == 0] = 1.0
    return A, b


def _clarabel(prob):
    cvx, x = prob.to_cvxpy()
    cvx.solve(solver="CLARABEL")
    assert cvx.status == "optimal"
    return float(cvx.value), np.asarray(x.value)


@pytest.mark.parametrize("rho", [10.0, 0.5, 0.02])
def test_alpd_against_clarabel(rho):
    A, b = _data()
    prob = dro_logistic(A, b, lam=0.05, rho=rho)
    res = prob.solve(backend="alpd", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL, res.message
    value, x_ref = _clarabel(prob)
    assert res.objective == pytest.approx(value, rel=1e-7)
    x, p = prob.program.split_xp(res.x)
    # lam-strong convexity of P: |x - x*|^2 <= 2 (P(x) - P*) / lam
    assert np.linalg.norm(x - x_ref) <= np.sqrt(2 * 2e-9 * value / 0.05) + 1e-6
    assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-12)
    assert prob.program.certify(res.x).value <= 1e-9


def test_the_certificate_bounds_are_valid_and_tight_only_at_the_solution():
    A, b = _data(seed=1)
    prob = dro_logistic(A, b, lam=0.1, rho=0.3)
    prog = prob.program
    rng = np.random.default_rng(2)
    x = rng.standard_normal(6) * 0.3
    p = rng.dirichlet(np.ones(120))
    # the upper bound is the exact max over p: no random point of the simplex beats it
    best = max(prog.value(x, q) for q in rng.dirichlet(np.ones(120) * 0.3, size=2000))
    assert primal_value(prog, x) >= best
    assert primal_value(prog, x) >= prog.value(x, prog.worst_weights(prog.losses(prog.margins(x)))) - 1e-15
    # the lower bound is below min_x L(x, p), found accurately by BFGS
    inner = minimize(lambda z: prog.value(z, p), np.zeros(6), method="BFGS", options={"gtol": 1e-12})
    assert dual_lower_bound(prog, x, p) <= inner.fun + 1e-12
    assert dual_lower_bound(prog, inner.x, p) == pytest.approx(inner.fun, rel=1e-9)
    assert prog.certify(np.r_[x, p]).value > 1e-2          # a random point is not certified


def test_large_rho_is_ridge_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    A, b = _data(seed=3)
    lam = 0.05
    prob = dro_logistic(A, b, lam=lam, rho=1e6)
    res = prob.solve(backend="alpd", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL
    x, p = prob.program.split_xp(res.x)
    assert np.allclose(p, 1.0 / 120, atol=1e-6)
    # sklearn: C sum_i l_i + |x|^2 / 2, i.e. C = 1 / (n lam) for mean loss + lam/2 |x|^2
    sk = LogisticRegression(C=1.0 / (120 * lam), fit_intercept=False, tol=1e-12, max_iter=10000).fit(A, b)
    # within what the certificate guarantees: |x - x*| <= sqrt(2 gap P / lam) (p = u to 1e-6 adds ~1e-9)
    bound = np.sqrt(2 * res.certificate.value * res.objective / lam)
    assert np.linalg.norm(x - sk.coef_.ravel()) <= bound + 1e-7


def test_small_rho_puts_the_weight_on_the_hardest_samples():
    A, b = _data(seed=4)
    prob = dro_logistic(A, b, lam=0.05, rho=1e-3)
    res = prob.solve(backend="alpd", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL
    x, p = prob.program.split_xp(res.x)
    loss = prob.program.losses(prob.program.margins(x))
    assert p[np.argmax(loss)] > 10.0 / 120                      # far above the uniform weight
    assert np.sum(p > 0) < 120                                  # the easiest samples get no weight
    # the worst-case weights are a projection of u + loss / mu: nondecreasing in the loss
    order = np.argsort(loss)
    assert np.all(np.diff(p[order]) >= -1e-6)


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3])
def test_data_scales_are_certified_without_a_floor(scale):
    """Scaling A moves the solution (logistic loss is not scale-free): at 1e-6 the losses
    are ~log 2 and x ~ 0, at 1e3 the data are nearly separated at a tiny x and the ridge
    term balances. Each is certified, and the value agrees with Clarabel."""
    A, b = _data(n=60, d=4, seed=5)
    prob = dro_logistic(scale * A, b, lam=0.1, rho=0.5)
    value = _clarabel(prob)[0]
    for backend in ("alpd", "dro_newton"):
        res = prob.solve(backend=backend, tol=1e-7, max_iter=400000, warm_start=False)
        assert res.status is sl.Status.OPTIMAL, (backend, scale, res.message)
        assert prob.program.certify(res.x).value <= 1e-7
        assert res.objective == pytest.approx(value, rel=1e-6)
    # at 1e-6 P varies by ~1e-12 over all x: x = 0 has a relative gap of ~1e-12 but is no
    # solution; the stationarity measure refuses it
    assert prob.program.certify(np.zeros(4 + 60)).value >= (1.0 if scale < 1 else 0.0)


def test_an_ill_conditioned_scale_is_reported_not_claimed():
    """At A * 1e6 the losses are piecewise linear to rounding (l'' ~ 0 but at one margin):
    alpd's constant steps are ~1e-13 (worst-case curvature |a_i|^2 / 4 ~ 1e12 over lam =
    0.1) and Newton's relative stationarity stalls near 1e-5 (the gradient's summands
    cancel). Neither may call that optimal."""
    A, b = _data(n=60, d=4, seed=5)
    prob = dro_logistic(1e6 * A, b, lam=0.1, rho=0.5)
    res = prob.solve(backend="alpd", tol=1e-9, max_iter=2000)
    assert res.status is sl.Status.MAX_ITER
    assert prob.program.certify(res.x).value > 1e-9
    res = prob.solve(backend="dro_newton", tol=1e-9, max_iter=60)
    assert res.status is not sl.Status.OPTIMAL
    assert res.x is None or prob.program.certify(res.x).value > 1e-9


def test_sparse_and_dense_agree():
    A, b = _data(seed=6)
    A[np.abs(A) < 0.8] = 0.0
    r1 = dro_logistic(A, b, 0.1, 0.2).solve(backend="alpd", tol=1e-9)
    r2 = dro_logistic(sp.csr_matrix(A), b, 0.1, 0.2).solve(backend="alpd", tol=1e-9)
    assert r1.objective == pytest.approx(r2.objective, rel=1e-9)


@pytest.mark.parametrize("rho", [10.0, 0.5, 0.02, 1e-3])
def test_dro_newton_against_clarabel_and_alpd(rho):
    A, b = _data(seed=7)
    prob = dro_logistic(A, b, lam=0.05, rho=rho)
    res = prob.solve(backend="dro_newton", tol=1e-10)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.iterations <= 20
    assert res.objective == pytest.approx(_clarabel(prob)[0], rel=1e-7)
    first = prob.solve(backend="alpd", tol=1e-9, warm_start=False)
    assert first.objective == pytest.approx(res.objective, rel=1e-8)
    assert prob.program.certify(res.x).value <= 1e-10


def test_dro_newton_warm_starts_and_refuses_too_many_features():
    A, b = _data(n=40, d=5, seed=8)
    prob = dro_logistic(sp.csr_matrix(A), b, 0.1, 0.3)
    first = prob.solve(backend="dro_newton", tol=1e-9)
    again = prob.solve(backend="dro_newton", tol=1e-9)
    assert first.status is sl.Status.OPTIMAL and again.iterations == 0
    with pytest.raises(BackendRefusedError, match="max_features=3.*'alpd'"):
        prob.solve(backend="dro_newton", max_features=3)
    with pytest.raises(InvalidDataError, match="max_features must be a positive integer"):
        prob.solve(backend="dro_newton", max_features=0)


def test_auto_picks_dro_newton_and_the_other_saddle_backends_refuse_it():
    A, b = _data(n=30, d=3)
    prob = dro_logistic(A, b, 0.1, 1.0)
    res = prob.solve(tol=1e-8)
    assert res.backend == "dro_newton" and res.status is sl.Status.OPTIMAL
    with pytest.raises(BackendRefusedError, match="not bilinear"):
        prob.solve(backend="halpern")
    with pytest.raises(InvalidDataError, match="scheme is 'auto'"):
        prob.solve(backend="alpd", scheme="accelerated")


@pytest.mark.parametrize("scheme", ["auto", "plain"])
def test_alpd_schemes_on_dro_agree_with_dro_newton(scheme):
    """'auto' (forward-backward-forward on the coupled view, stopped by the DRO certificate)
    and 'plain' (APD) reach dro_newton's worst-case risk; the engine recertifies both."""
    from solvelab.families.saddle.dro import primal_value
    A, b = _data(n=60, d=5)
    prob = dro_logistic(A, b, 0.1, 1.0)
    ref = prob.solve(backend="dro_newton", tol=1e-10)
    res = prob.solve(backend="alpd", scheme=scheme, tol=1e-8, max_iter=100000, warm_start=False)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert prob.program.certify(res.x).meets(1e-8)
    d = A.shape[1]
    assert primal_value(prob.program, res.x[:d]) == pytest.approx(primal_value(prob.program, ref.x[:d]), rel=1e-7)
    assert res.info["scheme"] == ("fbf" if scheme == "auto" else "apd")


@pytest.mark.parametrize("make, exc, match", [
    (lambda A, b: dro_logistic(A, b, 0.0, 1.0), InvalidDataError, "lam must be > 0"),
    (lambda A, b: dro_logistic(A, b, 0.1, 0.0), InvalidDataError, "rho must be > 0"),
    (lambda A, b: dro_logistic(A, b, -1.0, 1.0), InvalidDataError, "lam must be a finite number >= 0"),
    (lambda A, b: dro_logistic(A, 2 * b, 0.1, 1.0), InvalidDataError, "labels must be -1 or \\+1"),
    (lambda A, b: dro_logistic(A, b[:-1], 0.1, 1.0), ShapeError, "labels must have shape"),
    (lambda A, b: dro_logistic(np.where(A > 1, np.nan, A), b, 0.1, 1.0), InvalidDataError, "NaN or Inf"),
    (lambda A, b: dro_logistic(A[:0], b[:0], 0.1, 1.0), ShapeError, "empty"),
    (lambda A, b: dro_logistic(A.astype(complex), b, 0.1, 1.0), InvalidDataError, "real numbers"),
    (lambda A, b: dro_logistic(A[0], b, 0.1, 1.0), ShapeError, "2-D"),
])
def test_bad_input_is_refused_with_a_clear_error(make, exc, match):
    A, b = _data(n=20, d=3)
    with pytest.raises(exc, match=match):
        make(A, b)
