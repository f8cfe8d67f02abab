"""The fractional family: the CVXPY recognizer, the certificate against independent
computations, its scale invariance, and the refusals of bad input."""
from __future__ import annotations

import numpy as np
import cvxpy as cp
import pytest

import solvelab as sl
from solvelab.errors import InvalidDataError, NonConvexError, ShapeError, SolvelabError
from solvelab.families.fractional import Denominator, FractionalProgram, stationarity
from solvelab.families.fractional.certificate import intervals


def _data(seed=0, m=15, n=8):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, n))
    y = G @ (rng.standard_normal(n) * (rng.random(n) < 0.5)) + 0.1 * rng.standard_normal(m)
    return G, y, rng


@pytest.mark.parametrize("den", ["l2", "l1", "topk", "l2B", "affine"])
def test_recognized_values_equal_cvxpy(den):
    G, y, rng = _data()
    n = G.shape[1]
    x = cp.Variable(n)
    B = rng.standard_normal((n + 2, n))
    a = rng.random(n)
    P = rng.standard_normal((n, n))
    N = 0.7 * cp.sum_squares(G @ x - y) + cp.quad_form(x, P @ P.T) + a @ x + 2.0 + 0.3 * cp.norm1(x)
    D = {"l2": 2 * cp.norm2(x), "l1": cp.norm1(x), "topk": 3 * cp.sum_largest(cp.abs(x), 3),
         "l2B": cp.norm(B @ x, 2), "affine": 1 + a @ x}[den]
    cons = [x >= 0] if den == "affine" else []
    p = sl.problems.Fractional(N, D, cons).program
    for _ in range(3):
        v = np.abs(rng.standard_normal(n))
        x.value = v
        assert p.numerator(v) == pytest.approx(float(N.value), rel=1e-12)
        assert p.den.value(v) == pytest.approx(float(D.value), rel=1e-12)
        assert p.objective(v) == pytest.approx(float(N.value) / float(D.value), rel=1e-12)


def test_simplex_and_bounds_are_read():
    x = cp.Variable(4)
    p = sl.problems.Fractional(cp.sum_squares(x - 1), 1 + cp.sum(x), [x >= 0, cp.sum(x) == 1]).program
    assert p.simplex
    p = sl.problems.Fractional(cp.sum_squares(x - 1), 1 + cp.sum(x), [x >= 0.5, x <= 2]).program
    assert not p.simplex and np.all(p.lo == 0.5) and np.all(p.hi == 2)


def _critical_affine(G, y, a, lam):
    """The global minimizer of (1/2|Gx - y|^2 + lam |x|_1) / (1 + a^T x), x >= 0, by the
    Charnes-Cooper perspective program (Clarabel): x = y / s."""
    n = G.shape[1]
    v, s = cp.Variable(n, nonneg=True), cp.Variable(nonneg=True)
    cp.Problem(cp.Minimize(0.5 * cp.quad_over_lin(G @ v - s * y, s) + lam * cp.norm1(v)), [a @ v + s == 1]).solve(
        solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14)
    x = v.value / s.value
    return np.where(x < 1e-9 * np.max(x), 0.0, x)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_certificate_small_at_the_oracle_and_scale_invariant(scale):
    G, y, rng = _data(1)
    a = rng.random(G.shape[1])
    x = _critical_affine(G, y, a, 0.2)
    c = np.sqrt(scale)   # N scales by c^2 = scale; D by 1 / scale (a, d): F by scale^2
    p = FractionalProgram(G.shape[1], Denominator("affine", a=a / scale, d=1.0 / scale), G=c * G, y=c * y,
                          lam=0.2 * scale, lo=0.0)
    cert = p.certify(x)
    assert cert.stationarity <= 1e-7, cert
    ref = FractionalProgram(G.shape[1], Denominator("affine", a=a, d=1.0), G=G, y=y, lam=0.2, lo=0.0).certify(x)
    assert cert.stationarity == pytest.approx(ref.stationarity, rel=1e-6, abs=1e-15)
    assert p.objective(x) == pytest.approx(scale ** 2 * ref.primal_objective, rel=1e-12)
    far = p.certify(x + 0.3)
    assert far.stationarity > 1e-2 and not far.meets(1e-6)


def test_stationarity_matches_a_direct_computation_for_l2():
    """At a point with no zero entries, the l2 measure is |grad N - t x/|x||_inf relative."""
    G, y, rng = _data(2)
    n = G.shape[1]
    p = FractionalProgram(n, Denominator("l2"), G=G, y=y, lam=0.1)
    x = rng.standard_normal(n)
    N, D = p.numerator(x), np.linalg.norm(x)
    gN = G.T @ (G @ x - y) + 0.1 * np.sign(x)
    r = gN - N / D * x / D
    size = max(np.max(np.abs(G.T @ (G @ x - y))), 0.1, N / D * np.max(np.abs(x / D)))
    assert stationarity(p, x) == pytest.approx(np.max(np.abs(r)) / size, rel=1e-12)


def test_topk_ties_use_the_best_subgradient():
    """With fewer than k nonzeros, d on the zeros is free (sum |d| <= k - nnz). For N =
    1/2 |x - y|^2 at x = e_1 with y = x - t d, d = (1, 1/2, 0, 0, 0) and t = 2 / |d|^2
    (so that t = N(x) / D(x)), x is critical for D = top-3 (with that d) but not for
    D = |x|_2 (whose gradient at x is e_1)."""
    n = 5
    x = np.eye(n)[0]
    d = np.array([1.0, 0.5, 0.0, 0.0, 0.0])
    t = 2.0 / float(d @ d)
    yv = x - t * d
    p = FractionalProgram(n, Denominator("topk", k=3), G=np.eye(n), y=yv)
    assert p.ratio(x) == pytest.approx(t, rel=1e-15)
    assert stationarity(p, x) <= 1e-15
    assert stationarity(FractionalProgram(n, Denominator("topk", k=1), G=np.eye(n), y=yv), x) > 0.1
    assert stationarity(FractionalProgram(n, Denominator("l2"), G=np.eye(n), y=yv), x) > 0.1


def test_simplex_shift_is_exact():
    """On the simplex the normal cone adds mu 1: a point critical up to that shift reads 0."""
    x = np.array([0.5, 0.5, 0.0])
    g = np.array([1.0, 1.0, 3.0])
    Lo, Up = intervals(x, g, np.zeros(3), np.zeros(3), np.full(3, np.inf), True)
    assert Lo[2] == -np.inf and Up[0] == Lo[0] == 1.0


# ---- bad input -------------------------------------------------------------------------------

def _on(fn):
    """A thunk calling fn(x) with one fresh variable x of length 3."""
    return lambda: fn(cp.Variable(3))


BAD = {
    "vanishing affine": (_on(lambda x: sl.problems.Fractional(cp.sum_squares(x), np.array([1.0, -1.0, 0.0]) @ x + 1)),
                         InvalidDataError, "can vanish or change sign"),
    "zero over zero": (_on(lambda x: sl.problems.Fractional(cp.norm1(x), cp.norm2(x))), InvalidDataError, "0 / 0"),
    "concave numerator": (_on(lambda x: sl.problems.Fractional(-cp.sum_squares(x), cp.norm2(x) + 1)),
                          NonConvexError, "is not convex"),
    "nonconvex denominator": (_on(lambda x: sl.problems.Fractional(cp.sum_squares(x - 1), cp.norm2(x) - cp.norm1(x))),
                              NonConvexError, "neither convex nor concave"),
    "concave denominator": (_on(lambda x: sl.problems.Fractional(cp.sum_squares(x - 1), cp.sqrt(cp.sum(x)),)),
                            InvalidDataError, "concave denominators other than affine are not supported"),
    "unsupported numerator": (_on(lambda x: sl.problems.Fractional(cp.sum(cp.exp(x)), cp.norm2(x))),
                              InvalidDataError, "not supported"),
    "unsupported constraint": (_on(lambda x: sl.problems.Fractional(cp.sum_squares(x - 1), cp.norm2(x),
                                                              [cp.norm2(x) <= 1])), SolvelabError, ""),
    "nan data": (_on(lambda x: sl.problems.Fractional(cp.sum_squares(np.array([np.nan, 1, 1]) - x), cp.norm2(x))),
                 InvalidDataError, "NaN or Inf"),
    "not an expression": (_on(lambda x: sl.problems.Fractional(3.0, cp.norm2(x))), InvalidDataError,
                          "CVXPY expression"),
    "vector numerator": (_on(lambda x: sl.problems.Fractional(x + 1, cp.norm2(x))), ShapeError, "scalar"),
    "rank-deficient B": (_on(lambda x: sl.problems.Fractional(cp.sum_squares(x - 1), cp.norm(np.ones((2, 3)) @ x))),
                         InvalidDataError, "null space of B"),
    "parameter": (_on(lambda x: sl.problems.Fractional(cp.sum_squares(x - cp.Parameter(3, value=np.ones(3))),
                                                 cp.norm2(x))), InvalidDataError, "Parameters"),
    "negative lam": (lambda: sl.problems.sparse_recovery(np.eye(3), np.ones(3), lam=-1.0), InvalidDataError, ">= 0"),
    "bad denominator name": (lambda: sl.problems.sparse_recovery(np.eye(3), np.ones(3), denominator="l3"),
                             InvalidDataError, "denominator must be"),
    "topk without k": (lambda: sl.problems.sparse_recovery(np.eye(3), np.ones(3), denominator="topk"),
                       InvalidDataError, "needs k"),
    "topk k too large": (lambda: sl.problems.sparse_recovery(np.eye(3), np.ones(3), denominator="topk", k=5),
                         InvalidDataError, "k must be an integer"),
    "y shape": (lambda: sl.problems.sparse_recovery(np.eye(3), np.ones(4)), ShapeError, "y must have length"),
    "complex G": (lambda: sl.problems.sparse_recovery(np.eye(3) * 1j, np.ones(3)), InvalidDataError, "real numbers"),
    "sharpe mu <= rf": (lambda: sl.problems.sharpe_ratio(np.array([0.1, 0.3]), np.eye(2), rf=0.2),
                        InvalidDataError, "can vanish or change sign"),
    "sharpe Sigma not psd": (lambda: sl.problems.sharpe_ratio(np.array([0.5, 0.3]), -np.eye(2)),
                             InvalidDataError, "positive semidefinite"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_with_its_cause(case):
    thunk, err, text = BAD[case]
    with pytest.raises(err) as info:
        thunk()
    assert text in str(info.value)


def test_two_variables_are_refused():
    x, z = cp.Variable(2), cp.Variable(2)
    with pytest.raises(InvalidDataError, match="one vector variable"):
        sl.problems.Fractional(cp.sum_squares(x - 1), cp.norm2(z) + 1)


def test_generic_backends_refuse_the_node_naming_the_family_backends():
    G, y, _ = _data()
    prob = sl.problems.sparse_recovery(G, y, 0.1)
    with pytest.raises(SolvelabError, match="fractional_cd"):
        prob.solve(backend="admm")


def test_cd_takes_a_fractional_program_through_the_fractional_kernels():
    """backend='cd' on the FractionalRatio form runs fractional CD (the 1-D ratio solved
    globally per coordinate): the same certified point as backend='fractional_cd'."""
    from solvelab.bench.suites import fractional as suite
    inst = suite.demo_instance()
    prob = inst.make_problem(inst.data())
    a = prob.solve(backend="cd", tol=1e-8)
    b = prob.solve(backend="fractional_cd", tol=1e-8, warm_start=False)
    assert a.status == "optimal" and b.status == "optimal"
    assert a.backend == "cd"
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    with pytest.raises(sl.InvalidDataError, match="accepts theta, x0"):
        prob.solve(backend="cd", selection="greedy")
