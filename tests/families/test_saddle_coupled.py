"""Saddle points with a nonlinear coupling Phi(x, y) given as callables (``sl.Coupling``):
``alpd``'s forward-backward-forward steps against CVXPY+Clarabel and the other saddle
backends on the same instances, at data scales 1e-6 .. 1e6, the certificate rechecked,
and every bad input refused with its cause named."""
import numpy as np
import pytest

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError, MissingDependencyError, NonConvexError, ShapeError
from solvelab.problems.saddle import coupled_saddle, dro_logistic


def _ball(P, s_phi=1.0):
    """Phi(x, y) = s_phi/2 sum_i y_i |x - p_i|^2: min_x max_{y in simplex} is the center of
    the smallest ball around the points (the 1-center), its value s_phi r^2 / 2."""
    def val(x, y):
        return 0.5 * s_phi * float(y @ np.sum((x - P) ** 2, axis=1))

    def gx(x, y):
        return s_phi * (y.sum() * x - y @ P)

    def gy(x, y):
        return 0.5 * s_phi * np.sum((x - P) ** 2, axis=1)
    return sl.Coupling(val, gx, gy, name="half_sq_dist")


def _ball_reference(P):
    import cvxpy as cp
    c, t = cp.Variable(P.shape[1]), cp.Variable()
    # in units of the points' spread (Clarabel's tolerances are absolute), rescaled back
    s = float(np.abs(P).max())
    Q = P / s
    cp.Problem(cp.Minimize(t), [0.5 * cp.sum_squares(c - q) <= t for q in Q]).solve(
        solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return s * c.value, s * s * t.value


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_enclosing_ball_matches_clarabel_at_every_scale(scale):
    rng = np.random.default_rng(0)
    P = scale * (2.0 * rng.standard_normal((30, 3)) + 1.0)
    prob = coupled_saddle(_ball(P), 3, 30, x_domain="free", y_domain="simplex")
    res = prob.solve(backend="alpd", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL, res.message
    cert = prob.program.certify(res.x)
    assert cert.meets(1e-8) and cert.value == pytest.approx(res.certificate.value)
    center, value = _ball_reference(P)
    x, y = prob.program.split_xy(res.x)
    assert np.abs(x - center).max() <= 1e-6 * np.abs(P).max()
    assert res.objective == pytest.approx(value, rel=1e-6)
    # the weights sit on the farthest points, at distance r
    d = np.sqrt(np.sum((P - x) ** 2, axis=1))
    assert np.all(d[y > 1e-6] >= d.max() * (1 - 1e-5))


@pytest.mark.parametrize("s_phi", [1e-6, 1e6])
def test_scaling_phi_keeps_the_solution(s_phi):
    rng = np.random.default_rng(1)
    P = rng.standard_normal((12, 2))
    base = coupled_saddle(_ball(P), 2, 12, x_domain="free").solve(backend="alpd", tol=1e-9)
    scaled = coupled_saddle(_ball(P, s_phi), 2, 12, x_domain="free").solve(backend="alpd", tol=1e-9)
    assert base.optimal and scaled.optimal
    np.testing.assert_allclose(scaled.x[:2], base.x[:2], atol=1e-6)
    assert scaled.objective == pytest.approx(s_phi * base.objective, rel=1e-7)


def test_dro_logistic_written_as_a_coupling_matches_dro_newton():
    """sum_i p_i log(1 + exp(-b_i a_i^T x)) - rho n/2 |p - 1/n|^2 + lam/2 |x|^2 through
    callables (x_reg = lam, y_reg = rho n, b = -rho 1) against the DRO family's own node."""
    rng = np.random.default_rng(2)
    n, d = 60, 5
    A = rng.standard_normal((n, d))
    lab = np.where(A @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n) > 0, 1.0, -1.0)
    lam, rho = 0.05, 0.5
    BA = lab[:, None] * A

    def val(x, p):
        return float(p @ np.logaddexp(0.0, -BA @ x))

    def gx(x, p):
        return -BA.T @ (p / (1.0 + np.exp(BA @ x)))

    def gy(x, p):
        return np.logaddexp(0.0, -BA @ x)
    phi = sl.Coupling(val, gx, gy, name="logistic")
    u = np.full(n, 1.0 / n)
    prob = coupled_saddle(phi, d, n, b=-rho * n * u, x_domain="free", y_domain="simplex", x_reg=lam, y_reg=rho * n)
    res = prob.solve(backend="alpd", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL, res.message
    dro = dro_logistic(A, lab, lam, rho)
    ref = dro.solve(backend="dro_newton", tol=1e-10)
    assert ref.optimal
    # the same worst-case risk P(x) = lam/2 |x|^2 + max_p L(x, p), to what the gaps allow;
    # x itself only to O(sqrt(gap / lam)), strong convexity's bound
    from solvelab.families.saddle.dro import primal_value
    P_ours, P_ref = primal_value(dro.program, res.x[:d]), primal_value(dro.program, ref.x[:d])
    assert P_ours == pytest.approx(P_ref, rel=1e-8)
    np.testing.assert_allclose(res.x[:d], ref.x[:d], atol=1e-3 * np.abs(ref.x[:d]).max())
    # the objectives differ by the constant rho n/2 |u|^2 = rho / 2 that the callables omit
    assert res.objective - rho / 2 == pytest.approx(ref.objective, rel=1e-7)


def test_bilinear_coupling_as_callables_gives_the_game_value():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((8, 6))
    phi = sl.Coupling(lambda x, y: float(x @ A @ y), lambda x, y: A @ y, lambda x, y: A.T @ x, name="bilinear")
    res = coupled_saddle(phi, 8, 6).solve(backend="alpd", tol=1e-7, max_iter=200000)
    ref = sl.problems.saddle.matrix_game(A).solve(backend="halpern", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.objective == pytest.approx(ref.objective, abs=1e-6 * np.abs(A).max())


def test_saddle_point_front_end_takes_a_coupling_and_writes_values_back():
    import cvxpy as cp
    rng = np.random.default_rng(4)
    P = rng.standard_normal((10, 2))
    x, y = cp.Variable(2, name="center"), cp.Variable(10, name="w")
    prob = sl.SaddlePoint(0, minimize=x, maximize=y, constraints=[y >= 0, cp.sum(y) == 1], coupling=_ball(P))
    res = prob.solve(backend="alpd", tol=1e-8)
    assert res.optimal
    center, value = _ball_reference(P)
    np.testing.assert_allclose(x.value, center, atol=1e-6)
    assert y.value.sum() == pytest.approx(1.0) and res.values["center"].shape == (2,)
    # a linear part in the CVXPY objective joins the coupling: min_x max_y Phi + q^T x
    q = np.array([0.3, -0.2])
    prob2 = sl.SaddlePoint(q @ x, minimize=x, maximize=y, constraints=[y >= 0, cp.sum(y) == 1], coupling=_ball(P))
    res2 = prob2.solve(backend="alpd", tol=1e-8)
    c2, t2 = cp.Variable(2), cp.Variable()
    cp.Problem(cp.Minimize(t2 + q @ c2), [0.5 * cp.sum_squares(c2 - p) <= t2 for p in P]).solve(solver="CLARABEL")
    assert res2.optimal and np.abs(x.value - c2.value).max() < 1e-5


def test_a_perturbed_point_is_not_certified():
    rng = np.random.default_rng(5)
    P = rng.standard_normal((15, 2))
    prob = coupled_saddle(_ball(P), 2, 15, x_domain="free")
    res = prob.solve(backend="alpd", tol=1e-9)
    z = res.x.copy()
    z[0] += 1e-3
    assert not prob.program.certify(z).meets(1e-6)
    z = res.x.copy()
    z[2:] = 1.0 / 15        # uniform weights: not the max player's best response
    assert not prob.program.certify(z).meets(1e-6)


def test_box_domains_and_a_strongly_concave_side():
    """min_{x in [-1, 1]^2} max_{y in [0, 2]^3} sum_j y_j (x_j' - a_j)^2 / 2 - y_reg/2 |y|^2 with a
    closed form check by a fine grid search of the outer problem."""
    a = np.array([0.4, -0.7, 0.1])
    M = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])

    def val(x, y):
        r = M @ x - a
        return 0.5 * float(y @ (r * r))
    phi = sl.Coupling(val, lambda x, y: M.T @ (y * (M @ x - a)), lambda x, y: 0.5 * (M @ x - a) ** 2)
    prob = coupled_saddle(phi, 2, 3, x_domain=("box", -1, 1), y_domain=("box", 0, 2), y_reg=0.5)
    res = prob.solve(backend="alpd", tol=1e-9)
    assert res.optimal, res.message
    # phi_out(x) = max_y ... = sum_j clip(r_j^2 / (2 y_reg), 0, 2) * r_j^2 / 2 - y_reg/2 clip(...)^2
    g = np.linspace(-1, 1, 801)
    X1, X2 = np.meshgrid(g, g, indexing="ij")
    R = np.stack([X1 - a[0], X2 - a[1], X1 + X2 - a[2]], axis=-1)
    Y = np.clip(0.5 * R ** 2 / 0.5, 0, 2)
    F = np.sum(0.5 * Y * R ** 2 - 0.25 * Y ** 2, axis=-1)
    assert res.objective <= F.min() + 1e-9 and res.objective >= F.min() - 1e-4


# --- bad input -------------------------------------------------------------------------

def test_wrong_gradient_is_refused_naming_it():
    P = np.random.default_rng(6).standard_normal((5, 2))
    good = _ball(P)
    bad = sl.Coupling(good._value, lambda x, y: 2.0 * good._gx(x, y) + 1.0, good._gy)
    with pytest.raises(InvalidDataError, match="grad_x does not match the finite difference"):
        coupled_saddle(bad, 2, 5, x_domain="free")


def test_a_coupling_that_is_not_convex_concave_is_refused():
    P = np.random.default_rng(7).standard_normal((5, 2))
    neg = _ball(P, -1.0)     # concave in x: the max of minima, not a convex-concave saddle
    with pytest.raises(NonConvexError, match="not convex in x and concave in y"):
        coupled_saddle(neg, 2, 5, x_domain="free")


def test_wrong_shapes_missing_gradients_and_types_are_refused():
    P = np.random.default_rng(8).standard_normal((5, 2))
    good = _ball(P)
    short = sl.Coupling(good._value, lambda x, y: good._gx(x, y)[:1], good._gy)
    with pytest.raises(ShapeError, match="grad_x"):
        coupled_saddle(short, 2, 5, x_domain="free")
    with pytest.raises(InvalidDataError, match="grad_x"):
        sl.Coupling(good._value, grad_x=good._gx)
    with pytest.raises(InvalidDataError, match="callable"):
        sl.Coupling(3.0, good._gx, good._gy)
    import cvxpy as cp
    x, y = cp.Variable(2), cp.Variable(5)
    with pytest.raises(InvalidDataError, match="Coupling"):
        sl.SaddlePoint(0, minimize=x, maximize=y, coupling=lambda x, y: 0.0)
    nan = sl.Coupling(lambda x, y: float("nan"), good._gx, good._gy)
    with pytest.raises(InvalidDataError, match="NaN or Inf"):
        coupled_saddle(nan, 2, 5, x_domain="free")


def test_nan_during_the_solve_is_never_optimal():
    """A Phi that is finite at the check points but not on the way: no claim."""
    P = np.random.default_rng(9).standard_normal((5, 2))
    good = _ball(P)
    calls = {"n": 0}

    def gx(x, y):
        calls["n"] += 1
        return good._gx(x, y) if calls["n"] < 40 else np.full(2, np.nan)
    prob = coupled_saddle(sl.Coupling(good._value, gx, good._gy), 2, 5, x_domain="free")
    res = prob.solve(backend="alpd", tol=1e-12)
    assert res.status is not sl.Status.OPTIMAL


def test_other_backends_refuse_and_name_alpd():
    P = np.random.default_rng(10).standard_normal((5, 2))
    prob = coupled_saddle(_ball(P), 2, 5, x_domain="free")
    with pytest.raises(BackendRefusedError, match="alpd"):
        prob.solve(backend="halpern")
    assert prob.solve(tol=1e-6).backend == "alpd"          # auto finds it
    with pytest.raises(InvalidDataError, match="scheme"):
        prob.solve(backend="alpd", scheme="accelerated")
    with pytest.raises(InvalidDataError, match="CVXPY cannot"):
        prob.to_cvxpy()


def test_from_jax_differentiates_phi():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    P = np.random.default_rng(11).standard_normal((8, 2))
    Pj = jnp.asarray(P)
    phi = sl.Coupling.from_jax(lambda x, y: 0.5 * jnp.dot(y, jnp.sum((x - Pj) ** 2, axis=1)))
    res = coupled_saddle(phi, 2, 8, x_domain="free").solve(backend="alpd", tol=1e-8)
    ref = coupled_saddle(_ball(P), 2, 8, x_domain="free").solve(backend="alpd", tol=1e-8)
    assert res.optimal and jax is not None
    np.testing.assert_allclose(res.x[:2], ref.x[:2], atol=1e-6)


def test_from_jax_without_jax_says_how_to_install(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_jax(name, *a, **k):
        if name == "jax" or name.startswith("jax."):
            raise ImportError("no jax here")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_jax)
    with pytest.raises(MissingDependencyError, match="pip install"):
        sl.Coupling.from_jax(lambda x, y: 0.0)


def test_a_bilinear_part_in_the_cvxpy_objective_joins_the_coupling():
    """x^T K y in the CVXPY objective (the K products of the steps and of the certificate)
    plus a coupling Phi equals the same saddle point with x^T K y moved into the callables."""
    import cvxpy as cp
    rng = np.random.default_rng(12)
    P = rng.standard_normal((9, 2))
    K = 0.3 * rng.standard_normal((2, 9))
    ball = _ball(P)
    x, y = cp.Variable(2), cp.Variable(9)
    sets = [y >= 0, cp.sum(y) == 1]
    split = sl.SaddlePoint(x @ K @ y, minimize=x, maximize=y, constraints=sets, coupling=ball)
    assert split.program.K.shape == (2, 9)
    a = split.solve(backend="alpd", tol=1e-9)
    whole = sl.Coupling(lambda u, v: ball._value(u, v) + float(u @ K @ v),
                        lambda u, v: ball._gx(u, v) + K @ v, lambda u, v: ball._gy(u, v) + K.T @ u)
    b = coupled_saddle(whole, 2, 9, x_domain="free").solve(backend="alpd", tol=1e-9)
    assert a.optimal and b.optimal
    np.testing.assert_allclose(a.x, b.x, atol=1e-6)
    assert a.objective == pytest.approx(b.objective, rel=1e-8)
