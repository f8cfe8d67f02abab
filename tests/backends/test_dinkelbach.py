"""The fractional backends, dinkelbach and fractional_cd: against independent oracles
(the Charnes-Cooper convex reformulation, CVXPY's DQCP bisection, Clarabel on the
linearized problem at the returned point), the scaling law, the 1-D global solve of the
coordinate kernel against brute force, and the options' refusals."""
from __future__ import annotations

import warnings

import numpy as np
import cvxpy as cp
import pytest

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError
from solvelab.kernels.fractional import DenKind, best_coordinate

BACKENDS = ("fractional_cd", "dinkelbach")


def _data(seed=0, m=40, n=25):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, n)) / np.sqrt(m)
    y = G @ (rng.standard_normal(n) * (rng.random(n) < 0.3)) + 0.01 * rng.standard_normal(m)
    return G, y, rng


def _charnes_cooper(G, y, a, d, lam):
    """min (1/2|Gx - y|^2 + lam |x|_1) / (a^T x + d) over x >= 0 as a convex program."""
    n = G.shape[1]
    v, s = cp.Variable(n, nonneg=True), cp.Variable(nonneg=True)
    val = cp.Problem(cp.Minimize(0.5 * cp.quad_over_lin(G @ v - s * y, s) + lam * cp.norm1(v)),
                     [a @ v + d * s == 1]).solve(solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14,
                                                tol_feas=1e-14)
    return float(val), v.value / s.value


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_affine_denominator_global_optimum_and_scaling_law(backend, scale):
    G, y, rng = _data(1)
    n = G.shape[1]
    a = rng.random(n)
    ref, xref = _charnes_cooper(G, y, a, 1.0, 0.05)
    c = np.sqrt(scale)   # N by scale, D by 1 / scale: F by scale^2, x* unchanged
    x = cp.Variable(n)
    prob = sl.problems.Fractional(0.5 * cp.sum_squares(c * G @ x - c * y) + 0.05 * scale * cp.norm1(x),
                                  (a @ x + 1.0) / scale, [x >= 0])
    res = prob.solve(backend=backend, tol=1e-9)
    assert res.status is sl.Status.OPTIMAL, (res.message, res.certificate)
    assert res.certificate.kind == "fractional_global"
    assert prob.program.certify(res.x).stationarity <= 1e-9
    assert res.objective == pytest.approx(scale ** 2 * ref, rel=1e-7)
    assert res.objective <= scale ** 2 * ref * (1 + 1e-9)
    np.testing.assert_allclose(res.x, xref, rtol=0, atol=1e-5 * np.max(np.abs(xref)))
    np.testing.assert_allclose(x.value, res.x)   # written back to the user's variable


def test_at_least_as_good_as_cvxpy_dqcp_where_it_models_the_problem():
    G, y, rng = _data(2, m=30, n=20)
    x = cp.Variable(20)
    prob = sl.problems.Fractional(0.5 * cp.sum_squares(G @ x - y) + 0.1 * cp.norm1(x), np.ones(20) @ x + 1,
                                  [x >= 0])
    cpp, z = prob.to_cvxpy()
    assert cpp.is_dqcp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dq = cpp.solve(qcp=True, solver="CLARABEL")
    for backend in BACKENDS:
        res = prob.solve(backend=backend, tol=1e-9)
        assert res.status is sl.Status.OPTIMAL
        assert res.objective <= dq * (1 + 1e-9)
        assert res.objective == pytest.approx(dq, rel=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("den,k", [("l2", None), ("topk", 4), ("l1", None)])
def test_norm_denominators_reach_a_critical_point_checked_by_clarabel(backend, den, k):
    """Nonconvex ratios: the returned x must minimize the convex N(z) - t s^T z (s in dD(x),
    t = F(x)); Clarabel's minimum of it is compared with its value at x, relative to N(x)."""
    G, y, _ = _data(3)
    prob = sl.problems.sparse_recovery(G, y, lam=0.02, denominator=den, k=k)
    res = prob.solve(backend=backend, tol=1e-9)
    assert res.status is sl.Status.OPTIMAL, (res.message, res.certificate)
    assert res.certificate.kind == "fractional_critical"
    p = prob.program
    x = res.x
    t = p.ratio(x)
    s = p.den.subgradient(x)
    if den != "l2":   # the zeros' part of dD is chosen as the certificate does: check only a smooth case
        assert p.certify(x).stationarity <= 1e-9
        return
    z = cp.Variable(p.n)
    val = cp.Problem(cp.Minimize(p.numerator_expr(z) - t * s @ z)).solve(
        solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14)
    at_x = p.numerator(x) - t * float(s @ x)
    assert abs(at_x) <= 1e-12 * p.numerator(x)          # s^T x = D(x) for a norm
    assert (at_x - val) / p.numerator(x) <= 1e-7


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_general_l2_operator_and_the_proximal_term(backend):
    """D = |B x|_2 with B full rank (the l2 kernel's general branch), and theta > 0."""
    G, y, rng = _data(8, m=30, n=12)
    B = rng.standard_normal((15, 12))
    x = cp.Variable(12)
    prob = sl.problems.Fractional(0.5 * cp.sum_squares(G @ x - y) + 0.02 * cp.norm1(x), cp.norm(B @ x, 2))
    extra = {"theta": 0.1} if backend == "fractional_cd" else {}
    res = prob.solve(backend=backend, tol=1e-9, **extra)
    assert res.status is sl.Status.OPTIMAL, (res.message, res.certificate)
    p = prob.program
    t, s = p.ratio(res.x), p.den.subgradient(res.x)
    z = cp.Variable(12)
    val = cp.Problem(cp.Minimize(p.numerator_expr(z) - t * s @ z)).solve(
        solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14)
    assert (p.numerator(res.x) - t * float(s @ res.x) - val) / p.numerator(res.x) <= 1e-7


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_sparse_recovery_scaling_law(scale):
    G, y, _ = _data(4)
    base = sl.problems.sparse_recovery(G, y, lam=0.02, denominator="topk", k=3).solve(backend="fractional_cd",
                                                                                      tol=1e-10)
    c = np.sqrt(scale)
    res = sl.problems.sparse_recovery(c * G, c * y, lam=0.02 * scale, denominator="topk", k=3).solve(
        backend="fractional_cd", tol=1e-10)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(scale * base.objective, rel=1e-9)
    np.testing.assert_allclose(res.x, base.x, rtol=0, atol=1e-7 * np.max(np.abs(base.x)))
    assert res.iterations == base.iterations


def test_fcd_never_increases_the_ratio():
    G, y, _ = _data(5)
    res = sl.problems.sparse_recovery(G, y, lam=0.01, denominator="l2").solve(backend="fractional_cd", tol=1e-10,
                                                                             check_every=1)
    vals = [h["objective"] for h in res.history]
    assert all(b <= a * (1 + 1e-14) for a, b in zip(vals, vals[1:]))
    assert res.status is sl.Status.OPTIMAL


def test_sharpe_ratio_against_the_qp():
    rng = np.random.default_rng(6)
    n = 12
    A = rng.standard_normal((n, n))
    Sigma, mu = A @ A.T / n + 0.05 * np.eye(n), rng.random(n) + 0.1
    prob = sl.problems.sharpe_ratio(mu, Sigma, rf=0.05)
    res = prob.solve(backend="dinkelbach", tol=1e-7)
    assert res.status is sl.Status.OPTIMAL, res.message
    yv = cp.Variable(n, nonneg=True)
    qp = cp.Problem(cp.Minimize(cp.quad_form(yv, Sigma)), [(mu - 0.05) @ yv == 1]).solve(
        solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14)
    assert res.objective == pytest.approx(np.sqrt(qp), rel=1e-7)
    assert abs(res.x.sum() - 1) <= 1e-12 and np.all(res.x >= 0)
    with pytest.raises(BackendRefusedError, match="simplex couples the coordinates"):
        prob.solve(backend="fractional_cd")


def _brute(al, be, ga, lmb, lo, hi, dfun):
    a, b = max(lo, -30.0), min(hi, 30.0)
    z = np.linspace(a, b, 400001)
    d = dfun(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d > 0, (al * z * z + be * z + ga + lmb * np.abs(z)) / d, np.inf)
    return float(np.min(r))


@pytest.mark.parametrize("seed", range(12))
def test_the_1d_subproblem_is_solved_globally(seed):
    rng = np.random.default_rng(seed)
    al, be, lmb = rng.random() + 0.1, rng.standard_normal() * 2, rng.random()
    ga = abs(rng.standard_normal()) + 0.5
    lo, hi = (-np.inf, np.inf) if seed % 3 else (-1.5, 2.5)
    kind = (DenKind.AFFINE, DenKind.L2, DenKind.L1, DenKind.TOPK)[seed % 4]
    s, dl, de, w, u, sig, v, sp = 1.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    if kind == DenKind.AFFINE:
        dl, de = 0.2 * rng.standard_normal(), 5.0 + rng.random()
        lo, hi = max(lo, -2.0), min(hi, 2.0)   # keep d > 0
        dfun = lambda z: dl * z + de  # noqa: E731
    elif kind == DenKind.L2:
        w, u = rng.random() + 0.2, 0.3 * rng.standard_normal()
        sig = u * u / w + rng.random() + 0.1
        dfun = lambda z: s * np.sqrt(np.maximum(w * z * z + 2 * u * z + sig, 0))  # noqa: E731
    elif kind == DenKind.L1:
        sp = rng.random() + 0.1
        dfun = lambda z: s * (sp + np.abs(z))  # noqa: E731
    else:
        sp, v = rng.random() + 0.1, rng.random()
        dfun = lambda z: s * (sp + np.maximum(v, np.abs(z)))  # noqa: E731
    xi = float(np.clip(rng.standard_normal(), lo, hi))
    z, val = best_coordinate(al, be, ga, lmb, lo, hi, xi, int(kind), s, dl, de, w, u, sig, v, sp)
    ref = _brute(al, be, ga, lmb, lo, hi, dfun)
    assert lo <= z <= hi
    assert val == pytest.approx((al * z * z + be * z + ga + lmb * abs(z)) / dfun(np.array([z]))[0], rel=1e-12)
    assert val <= ref + 1e-9 * abs(ref)          # never worse than the grid
    assert val >= ref - 1e-6 * abs(ref)          # and the grid (4e5 points) is close behind


@pytest.mark.parametrize("backend,opt,value,text", [
    ("fractional_cd", "theta", -1.0, "theta must be a number >= 0"),
    ("fractional_cd", "x0", np.ones(3), "x0 must be a finite vector"),
    ("fractional_cd", "newton", "yes", "newton must be True or False"),
    ("dinkelbach", "inner", "lbfgs", "inner must be 'newton', 'cd' or 'clarabel'"),
    ("dinkelbach", "inner_tol", 2.0, "inner_tol must be a number in (0, 1)"),
    ("dinkelbach", "inner_max_epochs", 0, "inner_max_epochs must be a positive integer"),
    ("dinkelbach", "warp", 1, "does not know option"),
])
def test_bad_options_are_refused(backend, opt, value, text):
    G, y, _ = _data(7, m=10, n=6)
    prob = sl.problems.sparse_recovery(G, y, lam=0.01)
    with pytest.raises(InvalidDataError) as info:
        prob.solve(backend=backend, **{opt: value})
    assert text in str(info.value)


def test_inner_cd_refused_on_the_simplex():
    prob = sl.problems.sharpe_ratio(np.array([0.5, 0.6]), np.eye(2))
    with pytest.raises(InvalidDataError, match="inner='cd' takes box domains"):
        prob.solve(backend="dinkelbach", inner="cd")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_box_away_from_zero(backend):
    """lo = 0.5 > 0: the start stays in the box, and the answer minimizes the linearized
    convex problem over the box (Clarabel)."""
    rng = np.random.default_rng(9)
    G = rng.standard_normal((8, 5))
    x = cp.Variable(5)
    prob = sl.problems.Fractional(0.5 * cp.sum_squares(G @ x - 3) + 0.1 * cp.norm1(x), cp.norm2(x),
                                  [x >= 0.5, x <= 4])
    res = prob.solve(backend=backend, tol=1e-9)
    assert res.status is sl.Status.OPTIMAL
    p = prob.program
    assert np.all(res.x >= 0.5) and np.all(res.x <= 4)
    t, s = p.ratio(res.x), p.den.subgradient(res.x)
    z = cp.Variable(5)
    val = cp.Problem(cp.Minimize(p.numerator_expr(z) - t * s @ z), [z >= 0.5, z <= 4]).solve(
        solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14)
    assert (p.numerator(res.x) - t * float(s @ res.x) - val) / p.numerator(res.x) <= 1e-7

