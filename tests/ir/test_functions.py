"""The IR's function library, tested in the first two layers (STYLE.md):

identities (prox optimality, Moreau, Fenchel–Young, finite differences) and oracles
(CVXPY + Clarabel solves of the prox problem, of the support function, and CVXPY's own
atom values). One prox convention: prox(v, t) = argmin_x f(x) + ||x - v||^2 / (2 t).
"""
from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from solvelab.errors import InvalidDataError
from solvelab.ir import functions as F

INF = float("inf")
N = 5  # dimension of every test vector
TS = [0.1, 1.0, 7.0]
SEEDS = [0, 1]

_rng = np.random.default_rng(1234)
C_LIN = _rng.standard_normal(N)
C_KL = np.exp(_rng.standard_normal(N))            # kl_div's c > 0
W_L1 = np.array([0.5, 0.0, 2.0, 1.0, 3.0])         # includes a zero weight
LO_FIN, HI_FIN = -np.abs(_rng.standard_normal(N)) - 0.2, np.abs(_rng.standard_normal(N)) + 0.2
LO_INF = np.array([-INF, -1.0, 0.5, -INF, -2.0])
HI_INF = np.array([1.0, INF, INF, INF, -2.0])      # last entry: lo == hi
CENTER = 0.3 * _rng.standard_normal(N)
A_AFF = _rng.standard_normal((2, N))
D_AFF = _rng.standard_normal(2)


def _box_cons(x, lo, hi):
    out = []
    for i in range(N):
        if np.isfinite(lo[i]):
            out.append(x[i] >= lo[i])
        if np.isfinite(hi[i]):
            out.append(x[i] <= hi[i])
    return out


# id -> (constructor, cvxpy model (x -> (expression, constraints)))
CATALOGUE = {
    "zero": (lambda: F.Zero(), lambda x: (cp.Constant(0.0), [])),
    "linear_scalar": (lambda: F.Linear(0.7), lambda x: (0.7 * cp.sum(x), [])),
    "linear_vector": (lambda: F.Linear(C_LIN), lambda x: (C_LIN @ x, [])),
    "sum_squares": (lambda: F.SumSquares(), lambda x: (cp.sum_squares(x), [])),
    "huber": (lambda: F.Huber(0.7), lambda x: (cp.sum(cp.huber(x, 0.7)), [])),
    "logistic": (lambda: F.Logistic(), lambda x: (cp.sum(cp.logistic(x)), [])),
    "squared_hinge": (lambda: F.SquaredHinge(), lambda x: (cp.sum_squares(cp.pos(x)), [])),
    "exp": (lambda: F.Exp(), lambda x: (cp.sum(cp.exp(x)), [])),
    "neg_entropy": (lambda: F.NegEntropy(), lambda x: (-cp.sum(cp.entr(x)), [])),
    "kl_div": (lambda: F.KLDiv(C_KL), lambda x: (cp.sum(cp.kl_div(x, C_KL)), [])),
    "l1_scalar": (lambda: F.L1Norm(1.3), lambda x: (1.3 * cp.norm1(x), [])),
    "l1_vector": (lambda: F.L1Norm(W_L1), lambda x: (cp.norm1(cp.multiply(W_L1, x)), [])),
    "l2": (lambda: F.L2Norm(), lambda x: (cp.norm2(x), [])),
    "linf": (lambda: F.LInfNorm(), lambda x: (cp.norm_inf(x), [])),
    "pos": (lambda: F.Pos(), lambda x: (cp.sum(cp.pos(x)), [])),
    "neg": (lambda: F.Neg(), lambda x: (cp.sum(cp.neg(x)), [])),
    "zero_set": (lambda: F.ZeroSet(), lambda x: (cp.Constant(0.0), [x == 0])),
    "nonneg": (lambda: F.NonNeg(), lambda x: (cp.Constant(0.0), [x >= 0])),
    "nonpos": (lambda: F.NonPos(), lambda x: (cp.Constant(0.0), [x <= 0])),
    "box_finite": (lambda: F.Box(LO_FIN, HI_FIN), lambda x: (cp.Constant(0.0), _box_cons(x, LO_FIN, HI_FIN))),
    "box_infinite": (lambda: F.Box(LO_INF, HI_INF), lambda x: (cp.Constant(0.0), _box_cons(x, LO_INF, HI_INF))),
    "l2_ball": (lambda: F.L2Ball(1.5, CENTER), lambda x: (cp.Constant(0.0), [cp.norm2(x - CENTER) <= 1.5])),
    "simplex": (lambda: F.Simplex(2.0), lambda x: (cp.Constant(0.0), [x >= 0, cp.sum(x) == 2.0])),
    "soc": (lambda: F.SOC(), lambda x: (cp.Constant(0.0), [cp.SOC(x[0], x[1:])])),
    "affine_set": (lambda: F.AffineSet(A_AFF, D_AFF), lambda x: (cp.Constant(0.0), [A_AFF @ x == D_AFF])),
}
IDS = list(CATALOGUE)
SMOOTH = [k for k in IDS if CATALOGUE[k][0]().smooth]
SMOOTH_LIPSCHITZ = [k for k in SMOOTH if CATALOGUE[k][0]().lipschitz is not None]
INDICATORS = [k for k in IDS if CATALOGUE[k][0]().is_indicator]


def make(key):
    return CATALOGUE[key][0]()


def rand_v(seed, scale=2.0):
    return scale * np.random.default_rng(seed).standard_normal(N)


def solve_cvx(problem):
    """Clarabel with tight tolerances; its defaults if it cannot reach them (SOC apex
    solutions). The callers compare numbers, so a loose status cannot hide an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10,
                      max_iter=400)
        if problem.status in (cp.OPTIMAL_INACCURATE, cp.UNBOUNDED_INACCURATE):
            problem.solve(solver=cp.CLARABEL)
    return problem


def close(a, b, tol=1e-9):
    """|a - b| <= tol * (1 + |a| + |b|), elementwise."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.all(np.abs(a - b) <= tol * (1.0 + np.abs(a) + np.abs(b)))


def prox_objective(f, x, v, t):
    return f.value(x) + float(np.dot(x - v, x - v)) / (2 * t)


def conj_prox_objective(f, y, u, s):
    return f.conj(y) + float(np.dot(y - u, y - u)) / (2 * s)


# ---------------------------------------------------------------------------------------
# prox optimality
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("t", TS)
@pytest.mark.parametrize("key", IDS)
def test_prox_residual_is_a_subgradient(key, t, seed):
    """(v - p)/t is in ∂f(p): the subdifferential projection leaves it where it is."""
    f = make(key)
    v = rand_v(seed)
    p = f.prox(v, t)
    assert p.shape == v.shape and np.all(np.isfinite(p))
    assert np.isfinite(f.value(p)), f"{key}: prox left the domain"
    s = (v - p) / t
    proj = f.project_subdifferential(p, s)
    assert np.allclose(proj, s, rtol=1e-9, atol=1e-9 * (1 + np.abs(s).max())), (key, proj, s)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("t", TS)
@pytest.mark.parametrize("key", IDS)
def test_prox_matches_cvxpy_and_beats_perturbations(key, t, seed):
    f = make(key)
    v = rand_v(seed)
    p = f.prox(v, t)
    x = cp.Variable(N)
    expr, cons = CATALOGUE[key][1](x)
    prob = solve_cvx(cp.Problem(cp.Minimize(expr + cp.sum_squares(x - v) / (2 * t)), cons))
    assert prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE), prob.status  # the numbers decide
    xs = x.value
    np.testing.assert_allclose(p, xs, rtol=0, atol=2e-6 * (1 + np.abs(v).max()), err_msg=key)
    # the prox objective is 1/t strongly convex: p must beat every nearby point of dom f
    phi = prox_objective(f, p, v, t)
    if not f.is_indicator:
        assert phi <= float(prob.value) + 1e-9 * (1 + abs(phi)), (phi, prob.value)
    rng = np.random.default_rng(100 + seed)
    for scale in (1e-2, 1e-4):
        for _ in range(5):
            q = f.project_domain(p + scale * rng.standard_normal(N))
            if f.is_indicator:
                q = f.project(q)
            assert phi <= prox_objective(f, q, v, t) + 1e-12 * (1 + abs(phi))


@pytest.mark.parametrize("key", IDS)
def test_prox_is_firmly_nonexpansive(key):
    """||p1 - p2||^2 <= <p1 - p2, v1 - v2> for any prox (all t)."""
    f = make(key)
    rng = np.random.default_rng(7)
    for t in TS:
        for _ in range(10):
            v1, v2 = 3 * rng.standard_normal(N), 3 * rng.standard_normal(N)
            d = f.prox(v1, t) - f.prox(v2, t)
            assert d @ d <= d @ (v1 - v2) + 1e-12 * (1 + np.abs(v1 - v2).max() ** 2)


# ---------------------------------------------------------------------------------------
# Moreau and Fenchel–Young
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("t", TS)
@pytest.mark.parametrize("key", IDS)
def test_moreau_identity(key, t, seed):
    """v = prox_{tf}(v) + t prox_{f*/t}(v/t), and prox_conj really is the prox of f*:
    it beats its neighbours on f*(y) + ||y - u||^2/(2s), with f* from ``conj``."""
    f = make(key)
    v = rand_v(seed)
    p = f.prox(v, t)
    q = f.prox_conj(v / t, 1.0 / t)
    np.testing.assert_allclose(p + t * q, v, rtol=1e-12, atol=1e-12 * (1 + np.abs(v).max()))
    u, s = v / t, 1.0 / t
    phi = conj_prox_objective(f, q, u, s)
    assert np.isfinite(phi), f"{key}: prox_conj left dom f*"
    rng = np.random.default_rng(200 + seed)
    for scale in (1e-2, 1e-4):
        for _ in range(5):
            qq = f.project_dual_domain(q + scale * rng.standard_normal(N))
            assert phi <= conj_prox_objective(f, qq, u, s) + 1e-10 * (1 + abs(phi)), key


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("t", TS)
@pytest.mark.parametrize("key", IDS)
def test_fenchel_young_equality_on_the_subgradient(key, t, seed):
    f = make(key)
    v = rand_v(seed)
    p = f.prox(v, t)
    y = (v - p) / t
    fp, fy, inner = f.value(p), f.conj(y), float(p @ y)
    assert np.isfinite(fp) and np.isfinite(fy), (key, fp, fy)
    assert abs(fp + fy - inner) <= 1e-9 * (1 + abs(fp) + abs(fy) + np.abs(p).max() * np.abs(y).max() * N)


@pytest.mark.parametrize("key", IDS)
def test_fenchel_young_inequality(key):
    f = make(key)
    rng = np.random.default_rng(11)
    for _ in range(30):
        x = f.project_domain(3 * rng.standard_normal(N))
        y = f.project_dual_domain(3 * rng.standard_normal(N))
        fx, fy = f.value(x), f.conj(y)
        assert np.isfinite(fx) and np.isfinite(fy), (key, x, y, fx, fy)
        assert fx + fy >= float(x @ y) - 1e-10 * (1 + abs(fx) + abs(fy) + abs(float(x @ y)))


@pytest.mark.parametrize("key", IDS)
def test_domain_projections(key):
    """project_domain / project_dual_domain land in the domains and are idempotent."""
    f = make(key)
    rng = np.random.default_rng(12)
    for _ in range(20):
        z = 3 * rng.standard_normal(N)
        pz = f.project_domain(z)
        assert np.isfinite(f.value(pz))
        np.testing.assert_allclose(f.project_domain(pz), pz, rtol=1e-12, atol=1e-12)
        py = f.project_dual_domain(z)
        assert np.isfinite(f.conj(py))
        np.testing.assert_allclose(f.project_dual_domain(py), py, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", IDS)
def test_project_subdifferential_is_the_nearest_subgradient(key):
    """For any s, r = P_{∂f(p)}(s) is a subgradient (Fenchel–Young equality) and no other
    known subgradient (the prox residual) is closer to s."""
    f = make(key)
    rng = np.random.default_rng(13)
    for t in TS:
        v = rand_v(int(rng.integers(1 << 30)))
        p = f.prox(v, t)
        y = (v - p) / t
        for _ in range(5):
            s = 3 * rng.standard_normal(N)
            r = f.project_subdifferential(p, s)
            fp, fr = f.value(p), f.conj(r)
            assert np.isfinite(fr), key
            assert abs(fp + fr - p @ r) <= 1e-9 * (1 + abs(fp) + abs(fr) + np.abs(p).max() * np.abs(r).max() * N)
            assert np.linalg.norm(s - r) <= np.linalg.norm(s - y) + 1e-9 * (1 + np.linalg.norm(s))
            np.testing.assert_allclose(f.project_subdifferential(p, r), r, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------
# Values against CVXPY's atoms
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [k for k in IDS if k not in INDICATORS])
def test_value_matches_cvxpy_atom(key):
    f = make(key)
    rng = np.random.default_rng(14)
    x = cp.Parameter(N)
    expr, _ = CATALOGUE[key][1](x)
    for _ in range(5):
        z = f.project_domain(3 * rng.standard_normal(N))
        x.value = z
        assert close(f.value(z), expr.value, 1e-12), (key, f.value(z), expr.value)


@pytest.mark.parametrize("key", ["neg_entropy", "kl_div"])
def test_entropies_are_infinite_off_the_domain(key):
    f = make(key)
    z = np.array([1.0, -1e-3, 2.0, 0.5, 0.1])
    assert f.value(z) == INF
    assert f.value(f.project_domain(z)) < INF


# ---------------------------------------------------------------------------------------
# Smooth functions
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", SMOOTH)
def test_grad_matches_central_differences(key):
    f = make(key)
    rng = np.random.default_rng(15)
    h = 1e-6
    for _ in range(5):
        z = 2 * rng.standard_normal(N)
        g = f.grad(z)
        fd = np.array([(f.value(z + h * e) - f.value(z - h * e)) / (2 * h) for e in np.eye(N)])
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("key", SMOOTH_LIPSCHITZ)
def test_lipschitz_and_strong_convexity_bounds(key):
    f = make(key)
    rng = np.random.default_rng(16)
    L, mu = f.lipschitz, f.strong_convexity
    worst = 0.0
    for scale in (0.1, 1.0, 5.0):
        for _ in range(50):
            a, b = scale * rng.standard_normal(N), scale * rng.standard_normal(N)
            dg = f.grad(a) - f.grad(b)
            ratio = np.linalg.norm(dg) / np.linalg.norm(a - b)
            worst = max(worst, ratio)
            assert ratio <= L * (1 + 1e-12) + 1e-15, (key, ratio, L)
            assert dg @ (a - b) >= mu * (a - b) @ (a - b) * (1 - 1e-12)
    if L > 0:
        assert worst >= 0.5 * L, f"{key}: lipschitz={L} is far from the observed {worst}"


def test_exp_is_smooth_without_a_global_lipschitz_constant():
    """exp declares no Lipschitz constant (its gradient grows without bound), so the
    Composite form (fista) refuses it with that reason; its prox is still exact at
    extreme arguments (x + t e^x = v through the Wright omega function)."""
    f = F.Exp()
    assert f.smooth and f.lipschitz is None
    z = np.array([0.0, 5.0, 10.0])
    assert np.linalg.norm(f.grad(z + 1) - f.grad(z)) / np.sqrt(3) > 1e3
    v = np.array([-800.0, -40.0, 0.0, 40.0, 700.0])
    for t in (1e-3, 1.0, 1e3):
        p = f.prox(v, t)
        assert np.all(np.isfinite(p))
        np.testing.assert_allclose(p + t * np.exp(p), v, rtol=1e-13, atol=1e-12 * (1 + t))
    from solvelab.ir.forms import match
    import solvelab as sl
    x = cp.Variable(3)
    prog = sl.Problem(cp.Minimize(cp.sum(cp.exp(x)) + cp.norm1(x))).compile()
    refusal = match(prog, "Composite")
    assert not refusal and "exp" in refusal.reason and "Lipschitz" in refusal.reason


def test_squared_hinge_prox_closed_form():
    f = F.SquaredHinge()
    v = np.array([-2.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(f.prox(v, 0.5), [-2.0, 0.0, 0.25, 1.5])
    assert f.conj(np.array([-1.0, 0.0])) == INF and f.conj(np.array([2.0, 0.0])) == 1.0


def test_logistic_prox_extreme_arguments():
    f = F.Logistic()
    v = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    for t in (1e-3, 1.0, 1e3):
        p = f.prox(v, t)
        assert np.all(np.isfinite(p))
        np.testing.assert_allclose(p + t * f.grad(p), v, rtol=1e-13, atol=1e-12 * t)


# ---------------------------------------------------------------------------------------
# Indicators
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", INDICATORS)
def test_projection_is_idempotent_and_lands_in_the_set(key):
    f = make(key)
    rng = np.random.default_rng(17)
    for _ in range(20):
        z = 4 * rng.standard_normal(N)
        p = f.project(z)
        assert f.value(p) == 0.0
        assert f.distance(p) <= 1e-12 * (1 + np.abs(p).max())
        np.testing.assert_allclose(f.project(p), p, rtol=1e-12, atol=1e-12 * (1 + np.abs(p).max()))
        # nearest point: p beats other points of the set (projections of random points)
        for _ in range(3):
            q = f.project(4 * rng.standard_normal(N))
            assert np.linalg.norm(z - p) <= np.linalg.norm(z - q) + 1e-12
        # the obtuse-angle characterization: <z - p, q - p> <= 0 for q in C
        assert (z - p) @ (q - p) <= 1e-10 * (1 + np.linalg.norm(z - p) * np.linalg.norm(q - p))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("key", INDICATORS)
def test_support_matches_cvxpy(key, seed):
    """sigma_C(y) = max_{x in C} y^T x, CVXPY solving the same LP/SOCP (unbounded -> inf)."""
    f = make(key)
    rng = np.random.default_rng(300 + seed)
    ys = [rng.standard_normal(N), f.project_dual_domain(rng.standard_normal(N))]
    for y in ys:
        x = cp.Variable(N)
        _, cons = CATALOGUE[key][1](x)
        prob = solve_cvx(cp.Problem(cp.Maximize(y @ x), cons))
        sigma = f.support(y)
        assert f.conj(y) == sigma
        if prob.status == cp.UNBOUNDED:
            assert sigma == INF, (key, y, sigma)
        else:
            assert prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE), prob.status  # the numbers decide
            assert close(sigma, prob.value, 1e-7), (key, sigma, prob.value)


def test_box_support_with_infinite_bounds_and_zero_direction():
    f = F.Box(LO_INF, HI_INF)
    assert f.support(np.zeros(N)) == 0.0
    y = np.array([0.0, 0.0, -1.0, 0.0, 3.0])    # only finite bounds are hit
    assert f.support(y) == pytest.approx(-0.5 + 3 * -2.0)
    assert f.support(np.array([1.0, 0, 0, 0, 0])) == 0.0 + 1.0
    assert f.support(np.array([-1.0, 0, 0, 0, 0])) == INF


def test_set_constructors_reject_empty_sets():
    with pytest.raises(InvalidDataError):
        F.Box(1.0, 0.0)
    with pytest.raises(InvalidDataError):
        F.Simplex(-1.0)


def test_simplex_with_zero_total_is_the_origin():
    f = F.Simplex(0.0)
    v = np.array([1.0, 2.0, -3.0])
    np.testing.assert_array_equal(f.project(v), np.zeros(3))
    assert f.support(v) == 0.0
    # the l1-ball projection reuses the simplex one; radius 0 is the origin too
    np.testing.assert_array_equal(F._project_l1_ball(v, 0.0), np.zeros(3))


def test_kl_div_prox_closed_form():
    """x + t log(x / c) = v at x = prox(v, t) (this is where the +t of NegEntropy's
    optimality condition must be carried over)."""
    f = F.KLDiv(C_KL)
    v = rand_v(5)
    for t in TS:
        p = f.prox(v, t)
        np.testing.assert_allclose(p + t * np.log(p / C_KL), v, rtol=1e-12, atol=1e-12 * t)


@pytest.mark.parametrize("w", [-1.0, np.array([1.0, -0.5]), np.array([1.0, np.nan])])
def test_l1_rejects_negative_or_nonfinite_weights(w):
    from solvelab.errors import InvalidDataError
    with pytest.raises(InvalidDataError, match="l1: weights"):
        F.L1Norm(w)
