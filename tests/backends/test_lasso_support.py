"""Dinkelbach's inner box Lasso by CD bursts and Newton steps on the support
(backends.lasso_support), against Clarabel on the same problem and against the CD kernel
alone."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.backends.lasso_support import SupportFactor, lasso_support_newton, newton_on_support
from solvelab.kernels.fractional import lasso_box_cd


def _correlated(seed, m=80, n=40, rho=0.95):
    """Columns with pairwise correlation rho: CD alone needs many epochs."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((m, 1))
    G = np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.standard_normal((m, n))
    y = G @ (rng.standard_normal(n) * (rng.random(n) < 0.5)) + 0.1 * rng.standard_normal(m)
    return np.asfortranarray(G), y, rng


def _value(G, y, c, lam, x):
    r = G @ x - y
    return 0.5 * float(r @ r) + float(c @ x) + float(lam @ np.abs(x))


def _clarabel(G, y, c, lam, lo, hi):
    z = cp.Variable(G.shape[1])
    cons = [z[i] >= lo[i] for i in np.flatnonzero(np.isfinite(lo))] + \
           [z[i] <= hi[i] for i in np.flatnonzero(np.isfinite(hi))]
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(G @ z - y) + c @ z + lam @ cp.abs(z)), cons).solve(
        solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14)
    return z.value


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("box", ["free", "nonneg", "bounded"])
def test_the_inner_solution_matches_clarabel_at_every_scale(scale, box):
    G, y, rng = _correlated(1)
    n = G.shape[1]
    c = 0.1 * rng.standard_normal(n)
    lam = np.full(n, 0.5)
    lo = {"free": np.full(n, -np.inf), "nonneg": np.zeros(n), "bounded": np.full(n, -0.3)}[box]
    hi = {"free": np.full(n, np.inf), "nonneg": np.full(n, np.inf), "bounded": np.full(n, 0.4)}[box]
    ref = _clarabel(G, y, c, lam, lo, hi)
    s = np.sqrt(scale)   # G, y by s; c, lam by scale: the objective by scale, x* unchanged
    Gs, ys = np.asfortranarray(s * G), s * y
    x = np.zeros(n)
    r = Gs @ x - ys
    epochs, steps = lasso_support_newton(Gs, np.einsum("ij,ij->j", Gs, Gs), r, x, scale * c, scale * lam, lo, hi,
                                         1e-12, 100000, SupportFactor())
    assert epochs > 0 and steps > 0
    np.testing.assert_allclose(r, Gs @ x - ys, rtol=0, atol=1e-9 * np.linalg.norm(ys))   # r kept exact
    f_ours, f_ref = _value(Gs, ys, scale * c, scale * lam, x), _value(Gs, ys, scale * c, scale * lam, ref)
    assert f_ours <= f_ref + 1e-10 * abs(f_ref)
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-6 * np.max(np.abs(ref)))
    assert np.all(x >= lo) and np.all(x <= hi)


def test_newton_steps_cut_the_epochs_and_never_raise_the_objective():
    G, y, rng = _correlated(2, m=120, n=60, rho=0.99)
    n = G.shape[1]
    c, lam = np.zeros(n), np.full(n, 0.2)
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    colsq = np.einsum("ij,ij->j", G, G)
    x_cd = np.zeros(n)
    ep_cd, _ = lasso_box_cd(G, colsq, G @ x_cd - y, x_cd, c, lam, lo, hi, 1e-10, 200000)
    x = np.zeros(n)
    ep_nt, _ = lasso_support_newton(G, colsq, G @ x - y, x, c, lam, lo, hi, 1e-10, 200000, SupportFactor())
    assert ep_nt * 5 <= ep_cd
    assert _value(G, y, c, lam, x) <= _value(G, y, c, lam, x_cd) * (1 + 1e-12)
    cache = SupportFactor()
    for trial in range(20):   # from random points: each step lowers the objective, r follows x
        z = rng.standard_normal(n) * (rng.random(n) < 0.6)
        r = G @ z - y
        before = _value(G, y, c, lam, z)
        if newton_on_support(G, r, z, c, lam, lo, hi, cache):
            assert _value(G, y, c, lam, z) < before
        np.testing.assert_allclose(r, G @ z - y, rtol=0, atol=1e-10 * np.linalg.norm(y))


def test_a_rank_deficient_support_still_reaches_the_minimum():
    """Duplicated columns make G_S^T G_S singular: the damped step stays a descent step."""
    G, y, rng = _correlated(3, m=50, n=20)
    G = np.asfortranarray(np.hstack([G, G[:, :5]]))
    n = G.shape[1]
    c, lam = 0.05 * rng.standard_normal(n), np.full(n, 0.3)
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    ref = _clarabel(G, y, c, lam, lo, hi)
    x = np.zeros(n)
    ep, _ = lasso_support_newton(G, np.einsum("ij,ij->j", G, G), G @ x - y, x, c, lam, lo, hi, 1e-11, 100000,
                                 SupportFactor())
    assert 0 < ep < 100000
    f_ref = _value(G, y, c, lam, ref)
    assert _value(G, y, c, lam, x) <= f_ref + 1e-9 * abs(f_ref)


@pytest.mark.parametrize("den", ["l2", "topk"])
def test_dinkelbach_newton_and_cd_inner_agree(den):
    G, y, _ = _correlated(4, m=100, n=50)
    prob = sl.problems.sparse_recovery(G, y, lam=0.05 * float(np.max(np.abs(G.T @ y))), denominator=den,
                                       k=5 if den == "topk" else None)
    a = prob.solve(backend="dinkelbach", tol=1e-9, inner="newton")
    b = prob.solve(backend="dinkelbach", tol=1e-9, inner="cd", warm_start=False)
    assert a.status is sl.Status.OPTIMAL and b.status is sl.Status.OPTIMAL
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    assert a.info["inner_iterations"] * 3 < b.info["inner_iterations"]
    assert a.info["newton_steps"] > 0


def test_an_inner_problem_unbounded_along_a_flat_direction_is_reported():
    """Columns 0 and 1 equal: along v = e0 - e1 the quadratic is flat and the objective
    falls by c0 - c1 + 2 lam < 0 per unit; the solver says so instead of running off."""
    G, y, rng = _correlated(8, m=40, n=8, rho=0.3)
    G[:, 1] = G[:, 0]
    n = G.shape[1]
    c, lam = np.zeros(n), np.full(n, 0.1)
    c[0] = -1.0
    cache = SupportFactor()
    x = np.zeros(n)
    ep, _ = lasso_support_newton(G, np.einsum("ij,ij->j", G, G), G @ x - y, x, c, lam, np.full(n, -np.inf),
                                 np.full(n, np.inf), 1e-10, 100000, cache)
    assert ep == -1
    v = np.zeros(n)
    v[0], v[1] = 1.0, -1.0
    assert abs(float(cache.ray @ v)) == pytest.approx(np.sqrt(2.0), rel=1e-6)
    assert np.linalg.norm(G @ cache.ray) <= 1e-6 * np.linalg.norm(G, axis=0).max()
