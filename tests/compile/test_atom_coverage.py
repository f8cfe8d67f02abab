"""Coverage of the convex atoms practitioners write.

1. The IR functions behind them, by identity (STYLE.md's first layer): the prox against
   CVXPY + Clarabel, the prox residual is a subgradient, Moreau's identity, Fenchel–Young,
   finite-difference gradients, domain projections, support functions.
2. Each supported atom end to end: a small seeded model solved by solvelab (admm or
   fista, tol 1e-7) is optimal and matches CVXPY + Clarabel to 1e-5 in objective.
3. Atoms outside the table are refused with a message naming the user's atom.
"""
from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.ir import functions as F

INF = float("inf")
N = 6
TS = [0.1, 1.0, 7.0]
SEEDS = [0, 1]

_rng = np.random.default_rng(4321)
W_GEO = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 2.0])
M_VEC = np.array([0.5, 1.0, 2.0, 0.2, 1.5, 0.0])
W_VEC = np.array([0.5, 1.0, 2.0, 0.0, 1.5, 3.0])
W_POS = np.array([0.5, 1.0, 2.0, 0.3, 1.5, 3.0])


def _sum(terms):
    return cp.sum(cp.hstack(terms))


# id -> (constructor, cvxpy model: x -> (expression, constraints))
CATALOGUE = {
    "group_l2": (lambda: F.GroupL2Norm(3), lambda x: (cp.norm(x[:3], 2) + cp.norm(x[3:], 2), [])),
    "group_linf": (lambda: F.GroupLInfNorm(2), lambda x: (_sum([cp.norm_inf(x[i:i + 2]) for i in (0, 2, 4)]), [])),
    "max": (lambda: F.MaxEntry(), lambda x: (cp.max(x), [])),
    "max_group": (lambda: F.MaxEntry(3), lambda x: (cp.max(x[:3]) + cp.max(x[3:]), [])),
    "log_sum_exp": (lambda: F.LogSumExp(), lambda x: (cp.log_sum_exp(x), [])),
    "log_sum_exp_group": (lambda: F.LogSumExp(2), lambda x: (_sum([cp.log_sum_exp(x[i:i + 2]) for i in (0, 2, 4)]), [])),
    "sum_largest": (lambda: F.SumLargest(2), lambda x: (cp.sum_largest(x, 2), [])),
    "neg_geo_mean": (lambda: F.NegGeoMean(W_GEO), lambda x: (-cp.geo_mean(x, W_GEO), [])),
    "pnorm_3": (lambda: F.PNorm(3), lambda x: (cp.pnorm(x, 3), [])),
    "pnorm_1.5": (lambda: F.PNorm(1.5), lambda x: (cp.pnorm(x, 1.5), [])),
    "power_4": (lambda: F.Power(4), lambda x: (cp.sum(cp.power(x, 4)), [])),
    "power_3": (lambda: F.Power(3), lambda x: (cp.sum(cp.power(x, 3)), [])),
    "power_1.5": (lambda: F.Power(1.5), lambda x: (cp.sum(cp.power(x, 1.5)), [])),
    "power_0.5": (lambda: F.Power(0.5), lambda x: (-cp.sum(cp.sqrt(x)), [])),
    "power_0.25": (lambda: F.Power(0.25), lambda x: (-cp.sum(cp.power(x, 0.25)), [])),
    "power_-1": (lambda: F.Power(-1), lambda x: (cp.sum(cp.inv_pos(x)), [])),
    "power_-2.5": (lambda: F.Power(-2.5), lambda x: (cp.sum(cp.power(x, -2.5)), [])),
    "neg_log": (lambda: F.NegLog(), lambda x: (-cp.sum(cp.log(x)), [])),
    "neg_log_weighted": (lambda: F.NegLog(W_POS), lambda x: (-W_POS @ cp.log(x), [])),
    "weighted_huber": (lambda: F.WeightedHuber(M_VEC),
                       lambda x: (_sum([cp.huber(x[i], M_VEC[i]) for i in range(N)]), [])),
    "weighted_logistic": (lambda: F.WeightedLogistic(W_VEC), lambda x: (W_VEC @ cp.logistic(x), [])),
    "soc_product": (lambda: F.SOCProduct(2), lambda x: (cp.Constant(0.0), [cp.SOC(x[:2], cp.reshape(x[2:], (2, 2), order="F"))])),
    "l1_cone": (lambda: F.L1Cone(), lambda x: (cp.Constant(0.0), [cp.norm1(x[1:]) <= x[0]])),
    "linf_cone": (lambda: F.LInfCone(), lambda x: (cp.Constant(0.0), [cp.norm_inf(x[1:]) <= x[0]])),
    "l1_cone_product": (lambda: F.L1ConeProduct(2),
                        lambda x: (cp.Constant(0.0), [cp.norm1(x[2:4]) <= x[0], cp.norm1(x[4:]) <= x[1]])),
    "linf_cone_product": (lambda: F.LInfConeProduct(2),
                          lambda x: (cp.Constant(0.0), [cp.norm_inf(x[2:4]) <= x[0], cp.norm_inf(x[4:]) <= x[1]])),
}
IDS = list(CATALOGUE)
SMOOTH = [k for k in IDS if CATALOGUE[k][0]().smooth]
INDICATORS = [k for k in IDS if CATALOGUE[k][0]().is_indicator]


def make(key):
    return CATALOGUE[key][0]()


def rand_v(seed, scale=2.0):
    return scale * np.random.default_rng(seed).standard_normal(N)


def clarabel(problem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=400)
        if problem.status != cp.OPTIMAL:
            problem.solve(solver=cp.CLARABEL)
    return problem


def _scale(*arrays):
    return 1.0 + max(float(np.max(np.abs(a), initial=0.0)) for a in arrays)


# ---------------------------------------------------------------------------------------
# 1. identities
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("t", TS)
@pytest.mark.parametrize("key", IDS)
def test_prox_matches_cvxpy_and_its_residual_is_a_subgradient(key, t, seed):
    f = make(key)
    v = rand_v(seed)
    p = f.prox(v, t)
    assert p.shape == v.shape and np.all(np.isfinite(p)) and np.isfinite(f.value(p)), key
    x = cp.Variable(N)
    expr, cons = CATALOGUE[key][1](x)
    clarabel(cp.Problem(cp.Minimize(expr + cp.sum_squares(x - v) / (2 * t)), cons))
    # Clarabel reaches about 1e-6 on power and exponential cones; ours must not be worse
    np.testing.assert_allclose(p, x.value, rtol=0, atol=1e-5 * _scale(v), err_msg=key)
    xs = f.project_domain(x.value)
    if f.is_indicator:
        xs = f.project(xs)
    phi = f.value(p) + (p - v) @ (p - v) / (2 * t)
    assert phi <= f.value(xs) + (xs - v) @ (xs - v) / (2 * t) + 1e-12 * (1 + abs(phi)), key
    s = (v - p) / t
    np.testing.assert_allclose(f.project_subdifferential(p, s), s, rtol=1e-8, atol=1e-8 * _scale(s), err_msg=key)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("t", TS)
@pytest.mark.parametrize("key", IDS)
def test_moreau_identity_and_fenchel_young_equality(key, t, seed):
    """v = prox_{tf}(v) + t prox_{f*/t}(v/t); at p = prox(v), y = (v - p)/t:
    f(p) + f*(y) = <p, y>; prox_conj beats its neighbours in dom f*."""
    f = make(key)
    v = rand_v(seed)
    p, q = f.prox(v, t), f.prox_conj(v / t, 1.0 / t)
    np.testing.assert_allclose(p + t * q, v, rtol=1e-12, atol=1e-12 * _scale(v))
    y = (v - p) / t
    fp, fy = f.value(p), f.conj(y)
    assert np.isfinite(fp) and np.isfinite(fy), (key, fp, fy)
    assert abs(fp + fy - p @ y) <= 1e-8 * (1 + abs(fp) + abs(fy) + np.abs(p).max() * np.abs(y).max() * N), key
    phi = f.conj(q) + (q - v / t) @ (q - v / t) * t / 2
    rng = np.random.default_rng(200 + seed)
    for _ in range(5):
        qq = f.project_dual_domain(q + 1e-3 * rng.standard_normal(N))
        assert phi <= f.conj(qq) + (qq - v / t) @ (qq - v / t) * t / 2 + 1e-9 * (1 + abs(phi)), key


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("key", IDS)
def test_prox_keeps_its_point_for_every_step(key, seed):
    """p = prox_t(v) and y = (v - p)/t in ∂f(p) give p = prox_s(p + s y) for every s > 0
    (how the certificate reads a subgradient)."""
    f = make(key)
    v = rand_v(seed)
    p = f.prox(v, 1.0)
    y = v - p
    base = np.abs(p).max() / max(np.abs(y).max(), 1e-300)
    for s in (0.01 * base, base, 100 * base, 1e-3, 1e3):
        np.testing.assert_allclose(f.prox(p + s * y, s), p, rtol=0, atol=1e-8 * _scale(p, s * y), err_msg=key)


@pytest.mark.parametrize("key", IDS)
def test_fenchel_young_inequality_and_domain_projections(key):
    f = make(key)
    rng = np.random.default_rng(11)
    for _ in range(20):
        z = 3 * rng.standard_normal(N)
        x, y = f.project_domain(z), f.project_dual_domain(3 * rng.standard_normal(N))
        if key in ("neg_log", "neg_log_weighted") or key.startswith("power_-"):
            x = x + 0.1  # dom f is open at 0
        fx, fy = f.value(x), f.conj(y)
        assert np.isfinite(fx) and np.isfinite(fy), (key, x, y)
        assert fx + fy >= x @ y - 1e-10 * (1 + abs(fx) + abs(fy) + abs(x @ y)), key
        np.testing.assert_allclose(f.project_domain(x), x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(f.project_dual_domain(y), y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("key", IDS)
def test_project_subdifferential_is_the_nearest_subgradient(key):
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
            assert abs(fp + fr - p @ r) <= 1e-8 * (1 + abs(fp) + abs(fr) + np.abs(p).max() * np.abs(r).max() * N), key
            assert np.linalg.norm(s - r) <= np.linalg.norm(s - y) + 1e-7 * (1 + np.linalg.norm(s) + np.linalg.norm(y)), key


@pytest.mark.parametrize("key", [k for k in IDS if k not in INDICATORS])
def test_value_matches_cvxpy_atom(key):
    f = make(key)
    rng = np.random.default_rng(14)
    x = cp.Parameter(N)
    expr, _ = CATALOGUE[key][1](x)
    for _ in range(5):
        z = f.project_domain(3 * rng.standard_normal(N)) + 0.05
        x.value = z
        assert np.isclose(f.value(z), expr.value, rtol=1e-12, atol=1e-12), (key, f.value(z), expr.value)


@pytest.mark.parametrize("key", SMOOTH)
def test_grad_matches_central_differences(key):
    f = make(key)
    rng = np.random.default_rng(15)
    h = 1e-6
    for _ in range(5):
        z = 1.5 * rng.standard_normal(N)
        fd = np.array([(f.value(z + h * e) - f.value(z - h * e)) / (2 * h) for e in np.eye(N)])
        np.testing.assert_allclose(f.grad(z), fd, rtol=1e-6, atol=1e-6, err_msg=key)


def test_log_sum_exp_lipschitz_bound():
    f = F.LogSumExp(3)
    rng = np.random.default_rng(16)
    for _ in range(50):
        a, b = 3 * rng.standard_normal(N), 3 * rng.standard_normal(N)
        assert np.linalg.norm(f.grad(a) - f.grad(b)) <= f.lipschitz * np.linalg.norm(a - b) + 1e-12


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("key", INDICATORS)
def test_projection_and_support_match_cvxpy(key, seed):
    f = make(key)
    y = rand_v(seed)
    x = cp.Variable(N)
    _, cons = CATALOGUE[key][1](x)
    clarabel(cp.Problem(cp.Minimize(cp.sum_squares(x - y)), cons))
    np.testing.assert_allclose(f.project(y), x.value, atol=1e-6 * _scale(y))
    assert f.value(f.project(y)) == 0.0
    # the support of a cone is 0 on its polar, +inf elsewhere: check at a polar point
    polar = f.project_dual_domain(y)
    assert f.support(polar) == 0.0
    ref = cp.Problem(cp.Maximize(polar @ x), cons + [cp.norm_inf(x) <= 10])
    clarabel(ref)
    assert ref.value <= 1e-6


# ---------------------------------------------------------------------------------------
# 2. end to end: solvelab vs CVXPY + Clarabel
# ---------------------------------------------------------------------------------------

R = np.random.default_rng(7)
mA, nA = 15, 5
A = R.standard_normal((mA, nA))
bA = R.standard_normal(mA)
C34 = R.standard_normal((3, 4))
Q = A.T @ A / mA + 0.1 * np.eye(nA)
W_M = np.abs(R.standard_normal(mA)) + 0.1
W_N = np.abs(R.standard_normal(nA)) + 0.1
TAU = 0.3
RES_LS = float(np.sum((A @ np.linalg.lstsq(A, bA, rcond=None)[0] - bA) ** 2))


def _multinomial():
    Xd = R.standard_normal((20, 3))
    labels = R.integers(0, 4, 20)
    Y = np.eye(4)[labels]
    Wv = cp.Variable((3, 4))
    Z = Xd @ Wv
    return cp.Minimize(cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(Y, Z)) + 0.5 * cp.sum_squares(Wv)), []


def _models():
    x, y, X = cp.Variable(nA), cp.Variable(nA), cp.Variable((3, 4))
    xp = cp.Variable(nA, nonneg=True)
    xb = cp.Variable(nA, bounds=[np.array([-np.inf, 0, 0, -1, -np.inf]), np.array([0.2, np.inf, 0.1, np.inf, np.inf])])
    r = A @ x - bA
    return {
        # constraints
        "norm1_le": ("admm", cp.Minimize(cp.sum_squares(r)), [cp.norm1(x) <= 0.8]),
        "norm_inf_le": ("admm", cp.Minimize(cp.sum_squares(r)), [cp.norm_inf(x) <= 0.2 + 0.1 * x[0]]),
        "quad_form_le": ("admm", cp.Minimize(np.ones(nA) @ x), [cp.quad_form(x - 0.2, Q) <= 0.5]),
        "sum_squares_le": ("admm", cp.Minimize(cp.norm1(x)), [cp.sum_squares(r) <= RES_LS + 1.0]),
        "sum_square_le_t": ("admm", cp.Minimize(cp.sum_squares(r) + y[0]), [cp.sum(cp.square(x)) <= y[0], y >= -1, y <= 1]),
        "quad_over_lin_le": ("admm", cp.Minimize(cp.norm1(x - 1)), [cp.quad_over_lin(x, 2.0) <= 0.5]),
        "norm2_axis_le": ("admm", cp.Minimize(cp.sum_squares(X - C34)), [cp.norm(X, 2, axis=0) <= 0.5]),
        "norm2_axis1_le_vector": ("admm", cp.Minimize(cp.sum_squares(X - C34)), [cp.norm(X, 2, axis=1) <= np.array([0.2, 0.5, 1.0])]),
        "soc_vector_t": ("admm", cp.Minimize(cp.sum_squares(X - C34) + cp.sum(y[:4])), [cp.SOC(y[:4], X, axis=0)]),
        "abs_max_le": ("admm", cp.Minimize(cp.sum_squares(r)), [cp.abs(x) <= 0.3, cp.max(x) <= 0.1, cp.maximum(x[0], x[1]) <= 0.05]),
        "min_ge": ("admm", cp.Minimize(cp.sum_squares(r)), [cp.min(x) >= -0.1, cp.minimum(x[2], x[3]) >= 0.0]),
        "robust_rows_norm1": ("admm", cp.Minimize(np.ones(nA) @ x), [A @ x + 0.1 * cp.norm1(x) <= 1 + np.abs(bA)]),
        "robust_rows_norm_inf": ("admm", cp.Minimize(np.ones(nA) @ x), [A @ x + cp.norm_inf(x) / 4 <= 1 + np.abs(bA)]),
        "robust_rows_norm2": ("admm", cp.Minimize(np.ones(nA) @ x), [A @ x + 0.5 * cp.norm2(x) <= 1 + np.abs(bA)]),
        "atom_minus_affine_le": ("admm", cp.Minimize(cp.sum_squares(r)), [2 * cp.norm1(x) - x[0] <= 1]),
        "negated_atom_above": ("admm", cp.Minimize(cp.sum_squares(r)), [x[1] + 0.5 <= 1 - cp.norm_inf(x)]),
        "infinite_bounds": ("fista", cp.Minimize(cp.sum_squares(r)), [x <= np.array([0.1, np.inf, 0.0, np.inf, 0.2]),
                                                                     x >= np.array([-np.inf, -0.1, -np.inf, 0.0, -np.inf])]),
        "infinite_bounds_attribute": ("fista", cp.Minimize(cp.sum_squares(A @ xb - bA)), []),
        # objective atoms
        "quantile_regression": ("admm", cp.Minimize(cp.sum(cp.maximum(TAU * r, (TAU - 1) * r))), []),
        "maximum_two_affine": ("admm", cp.Minimize(cp.sum(cp.maximum(r, 2 * r - 1)) + cp.sum_squares(x)), []),
        "maximum_three": ("admm", cp.Minimize(cp.sum(cp.maximum(r, -r, 0.5)) + cp.sum_squares(x)), []),
        "max_vector": ("admm", cp.Minimize(cp.max(r) + cp.sum_squares(x)), []),
        "max_axis": ("admm", cp.Minimize(cp.sum(cp.max(X - C34, axis=1)) + cp.sum_squares(X)), []),
        "min_maximized": ("admm", cp.Maximize(cp.min(x) - cp.sum_squares(x - 1)), [cp.sum(x) <= 2]),
        "minimum_maximized": ("admm", cp.Maximize(cp.sum(cp.minimum(r, 1 - r)) - cp.sum_squares(x)), []),
        "log_sum_exp": ("fista", cp.Minimize(cp.log_sum_exp(r) + 0.1 * cp.sum_squares(x)), []),
        "multinomial_logistic": ("fista",) + _multinomial(),
        "geo_mean": ("admm", cp.Maximize(cp.geo_mean(xp, [1, 2, 1, 3, 1])), [A[:3] @ xp <= 1 + np.abs(bA[:3]), xp <= 2]),
        "pnorm_3": ("admm", cp.Minimize(cp.pnorm(r, 3) + 0.1 * cp.sum_squares(x)), []),
        "pnorm_1_5": ("admm", cp.Minimize(cp.pnorm(r, 1.5) + 0.1 * cp.sum_squares(x)), []),
        "log_maximized": ("admm", cp.Maximize(cp.sum(cp.log(1 - A[:8] @ x))), [cp.norm_inf(x) <= 1]),
        "sqrt_maximized": ("admm", cp.Maximize(cp.sum(cp.sqrt(xp))), [cp.sum(xp) == 1, xp[0] <= 0.1]),
        "inv_pos": ("admm", cp.Minimize(cp.sum(cp.inv_pos(xp)) + W_N @ xp), []),
        "power_3": ("admm", cp.Minimize(cp.sum(cp.power(xp, 3)) - np.ones(nA) @ xp), []),
        "power_4_even": ("admm", cp.Minimize(cp.sum(cp.power(r, 4)) / mA), []),
        "power_1_5": ("admm", cp.Minimize(cp.sum(cp.power(np.abs(A) @ xp, 1.5)) - 3 * cp.sum(xp)), [xp <= 2]),
        "power_0_3_concave": ("admm", cp.Maximize(cp.sum(cp.power(xp, 0.3)) - cp.sum_squares(xp)), []),
        "power_negative": ("admm", cp.Minimize(cp.sum(cp.power(xp + 0.5, -1.5)) + cp.sum(xp)), []),
        "sum_largest": ("admm", cp.Minimize(cp.sum_largest(r, 3) + cp.sum_squares(x)), []),
        "sum_smallest_maximized": ("admm", cp.Maximize(cp.sum_smallest(r, 2) - cp.sum_squares(x)), []),
        "group_norm_axis0": ("admm", cp.Minimize(cp.sum_squares(X - C34) + cp.sum(cp.norm(X, 2, axis=0))), []),
        "group_norm_axis1_weighted": ("admm", cp.Minimize(cp.sum_squares(X - C34) + np.array([0.1, 1.0, 3.0]) @ cp.norm(X, 2, axis=1)), []),
        "norm1_axis": ("fista", cp.Minimize(cp.sum_squares(X - C34) + cp.sum(cp.norm1(X, axis=0))), []),
        "norm_inf_axis": ("admm", cp.Minimize(cp.sum_squares(X - C34) + cp.sum(cp.norm_inf(X, axis=1))), []),
        "mixed_norm": ("admm", cp.Minimize(cp.sum_squares(X - C34) + cp.mixed_norm(X, 2, 1)), []),
        "rel_entr": ("admm", cp.Minimize(cp.sum(cp.rel_entr(xp, W_N)) - bA[:nA] @ xp), [cp.sum(xp) == 2]),
        "weighted_huber": ("fista", cp.Minimize(W_M @ cp.huber(r, 0.5)), []),
        "weighted_pos": ("admm", cp.Minimize(cp.sum(cp.multiply(W_M, cp.pos(r))) + cp.sum_squares(x)), []),
        "weighted_logistic": ("fista", cp.Minimize(W_M @ cp.logistic(-cp.multiply(np.sign(bA), A @ x)) + cp.sum_squares(x)), []),
        "weighted_entr": ("admm", cp.Maximize(W_N @ cp.entr(xp) + bA[:nA] @ xp), [cp.sum(xp) == 1]),
        "pnorm2_squared": ("fista", cp.Minimize(cp.pnorm(r, p=2) ** 2 + cp.pnorm(x, p=2) ** 2), []),
        "square_of_norm": ("fista", cp.Minimize(cp.square(cp.norm(r)) + cp.norm1(x)), []),
        "fro_norm_squared": ("fista", cp.Minimize(cp.norm(X - C34, "fro") ** 2 + cp.norm1(X)), []),
        "weighted_square_sum_axis": ("fista", cp.Minimize(np.array([1.0, 2.0, 0.5]) @ cp.sum(cp.square(X - C34), axis=1) + cp.norm1(X)), []),
    }


MODELS = _models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_atom_solves_to_the_clarabel_objective(name):
    backend, obj, cons = MODELS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cp.Problem(obj, cons).solve(solver="CLARABEL")
    res = sl.Problem(obj, cons).solve(backend=backend, tol=1e-7)
    assert res.status is sl.Status.OPTIMAL, (name, res.status, res.message, res.certificate)
    assert res.objective == pytest.approx(ref, rel=1e-5, abs=1e-8), (name, res.objective, ref)


def test_weighted_matrix_of_atoms_folds_into_weights():
    x = cp.Variable(4)
    Cn = np.abs(R.standard_normal((3, 4)))
    obj = cp.Minimize(cp.sum(Cn @ cp.abs(x - 1)) + cp.sum_squares(x))
    res = sl.Problem(obj).solve(backend="admm", tol=1e-7)
    assert res.objective == pytest.approx(cp.Problem(obj).solve(solver="CLARABEL"), rel=1e-5)


def test_bounds_with_infinite_entries_stay_one_box():
    x = cp.Variable(3)
    prog = sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(x)), [x <= np.array([0.1, np.inf, 2.0]),
                                                                   x >= np.array([-np.inf, 0.0, -np.inf])]))
    (box,) = prog.constraint_terms()
    np.testing.assert_array_equal(np.broadcast_to(box.f.hi, 3), [0.1, np.inf, 2.0])
    np.testing.assert_array_equal(np.broadcast_to(box.f.lo, 3), [-np.inf, 0.0, -np.inf])
    assert "Composite" in prog.forms()


def test_lowered_atoms_add_no_variables():
    """Epigraph-free lowerings: the program's variables are the user's, so res.values are too."""
    x, X = cp.Variable(nA, name="x"), cp.Variable((3, 4), name="X")
    obj = cp.Minimize(cp.sum(cp.maximum(A @ x - bA, 0.3 * (A @ x - bA))) + cp.mixed_norm(X, 2, 1) + cp.max(x))
    prob = sl.Problem(obj, [cp.norm1(x) <= 2, cp.sum_squares(X) <= 3])
    res = prob.solve(backend="admm", tol=1e-6)
    assert [v.name for v in prob.compile().variables] == ["x", "X"]
    assert set(res.values) == {"x", "X"}


# ---------------------------------------------------------------------------------------
# 3. refusals name the user's atom and what to write
# ---------------------------------------------------------------------------------------

def _refusals():
    x, y = cp.Variable(4, name="x"), cp.Variable(4, name="y")
    S3, M34 = cp.Variable((3, 3), name="S"), cp.Variable((3, 4), name="M")
    return {
        "sigma_max": (cp.Minimize(cp.sigma_max(S3)), [], r"atom 'sigma_max' .*Supported:"),
        "log_det": (cp.Maximize(cp.log_det(S3)), [], r"atom 'log_det'"),
        "rel_entr_two_variables": (cp.Minimize(cp.sum(cp.rel_entr(x, y))), [], r"rel_entr with a variable second.*rel_entr\(u, c\)"),
        "kl_div_two_variables": (cp.Minimize(cp.sum(cp.kl_div(x, y))), [], r"kl_div with a variable second"),
        "pnorm_below_one": (cp.Maximize(cp.pnorm(x, 0.5)), [], r"pnorm with p = 0.5 < 1.*geo_mean"),
        "harmonic_mean": (cp.Maximize(cp.harmonic_mean(x)), [], r"pnorm with p = -1"),
        "weighted_log_sum_exp": (cp.Minimize(np.array([1.0, 2.0, 3.0]) @ cp.log_sum_exp(M34, axis=1)), [], r"log_sum_exp along an axis"),
        "geo_mean_axis": (cp.Maximize(cp.sum(cp.geo_mean(M34, axis=0))), [M34 >= 0], r"'geo_mean' with axis="),
        "norm1_axis_constraint": (cp.Minimize(cp.sum(M34)), [cp.norm1(M34, axis=0) <= 1], r"axis=.*norm2 only"),
        "pnorm_constraint": (cp.Minimize(cp.sum(x)), [cp.pnorm(x, 3) <= 1], r"pnorm\(u, 3\) <= t"),
        "mixed_norm_q2": (cp.Minimize(cp.mixed_norm(M34, 2, 2)), [], r"vector of norms only the sum"),
        "log_sum_exp_constraint": (cp.Minimize(cp.sum(x)), [cp.log_sum_exp(x) <= 1], r"'log_sum_exp' <= t"),
        "power_of_pnorm3": (cp.Minimize(cp.pnorm(x, 3) ** 2), [], r"power/square of 'pnorm\(x, 3\)'.*affine argument"),
        "two_atoms_in_a_constraint": (cp.Minimize(cp.sum(x)), [cp.norm1(x) + cp.norm2(x) <= 1], r"2 non-affine terms on one side"),
        "entr_zero_weight": (cp.Maximize(np.array([1.0, 0.0, 1.0, 1.0]) @ cp.entr(x)), [], r"positive weights"),
    }


REFUSALS = _refusals()


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusal_names_the_atom(name):
    obj, cons, pattern = REFUSALS[name]
    with pytest.raises(sl.SolvelabError, match=pattern) as err:
        sl.compile(cp.Problem(obj, cons))
    assert "Approx" not in str(err.value)


@pytest.mark.parametrize("backend", ["cd", "fista", "admm"])
def test_a_zero_weight_on_a_convex_atom_is_dropped(backend):
    """0 * sum_squares(x) is affine to CVXPY; it compiles to the constant 0 (it used to be
    refused as 'quad_over_lin is not affine', and as a linear term it hid the GLM form)."""
    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((20, 4)), rng.standard_normal(20)
    x = cp.Variable(4)
    base = cp.sum_squares(A @ x - b) + 0.5 * cp.norm1(x)
    res = sl.Problem(cp.Minimize(base + 0.0 * cp.sum_squares(x) + 0 * cp.norm1(x) + 2.0)).solve(backend=backend,
                                                                                               tol=1e-9)
    ref = cp.Problem(cp.Minimize(base))
    ref.solve(solver="CLARABEL")
    assert res.status == sl.Status.OPTIMAL
    assert res.objective == pytest.approx(ref.value + 2.0, rel=1e-6)
