"""The saddle family: matrix games and bilinear saddle points on simplices and boxes,
checked against independent oracles (HiGHS through scipy's linprog and CVXPY+Clarabel on
the LP formulation, closed-form values) at data scales 1e-6, 1 and 1e6; the certificate
recomputed by hand and its scale invariance; the errors of bad input."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

import solvelab as sl
from solvelab.errors import InvalidDataError, ShapeError
from solvelab.problems.saddle import bilinear_saddle, matrix_game

SCALES = (1e-6, 1.0, 1e6)


def highs_value(A):
    """The value of min_x max_y x^T A y by HiGHS on min v s.t. A^T x <= v 1, x in the simplex."""
    m, n = A.shape
    res = linprog(np.r_[np.zeros(m), 1.0], A_ub=np.c_[A.T, -np.ones(n)], b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(m), 0.0][None, :], b_eq=[1.0], bounds=[(0, None)] * m + [(None, None)],
                  method="highs")
    assert res.status == 0
    return float(res.fun)


def hand_gap(A, x, y):
    """max_j (A^T x)_j - min_i (A y)_i over the size of the summands (the documented D)."""
    aA = np.abs(A)
    gap = (A.T @ x).max() - (A @ y).min()
    j, i = int(np.argmax(A.T @ x)), int(np.argmin(A @ y))
    D = max(x @ aA @ y, (aA.T @ x)[j], (aA @ y)[i])
    return gap / D


@pytest.mark.parametrize("scale", SCALES)
def test_matrix_game_value_and_strategies_against_highs(scale):
    A = np.random.default_rng(0).standard_normal((30, 20))
    v = highs_value(A)                      # at scale 1: HiGHS's tolerances are absolute
    prob = matrix_game(scale * A)
    res = prob.solve(backend="halpern", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL, res.message
    x, y, val = prob.strategies(res)
    assert hand_gap(scale * A, x, y) <= 1e-8
    assert val == pytest.approx(scale * v, rel=1e-7)
    assert np.all(x >= 0) and x.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(y >= 0) and y.sum() == pytest.approx(1.0, abs=1e-12)
    # minimax: x concedes at most v against any column, y gains at least v against any row
    assert (A.T @ x).max() == pytest.approx(v, rel=1e-6)
    assert (A @ y).min() == pytest.approx(v, rel=1e-6)


def test_matrix_game_against_clarabel_on_the_lp_formulation():
    A = np.random.default_rng(1).uniform(-1, 2, (15, 25))
    prob = matrix_game(A)
    cvx, x = prob.to_cvxpy()
    cvx.solve(solver="CLARABEL")
    res = prob.solve(backend="halpern", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(cvx.value, rel=1e-6)
    assert cvx.value == pytest.approx(highs_value(A), rel=1e-7)
    y = prob.y_from_cvxpy(cvx)
    assert (A @ (y / y.sum())).min() == pytest.approx(cvx.value, rel=1e-6)


@pytest.mark.parametrize("scale", SCALES)
def test_known_values_rps_and_diagonal(scale):
    rps = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])
    res = matrix_game(scale * rps).solve(backend="halpern", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL
    assert np.allclose(res.values["x"], 1 / 3, atol=1e-8) and np.allclose(res.values["y"], 1 / 3, atol=1e-8)
    assert abs(res.objective) <= 1e-9 * scale
    a = np.random.default_rng(2).uniform(1, 10, 40)
    res = matrix_game(sp.diags(scale * a).tocsr()).solve(backend="halpern", tol=1e-9)
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(scale / np.sum(1 / a), rel=1e-8)
    assert np.allclose(res.values["x"], (1 / a) / np.sum(1 / a), rtol=1e-6)


def _clarabel(prob):
    cvx, _ = prob.to_cvxpy()
    cvx.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert cvx.status == "optimal"
    return float(cvx.value)


DOMAINS = {
    "box-box": (("box", -1.0, 2.0), ("box", 0.0, 1.0)),
    "simplex-box": ("simplex", ("box", -1.0, 1.0)),
    "box-simplex": (("box", 0.0, 3.0), "simplex"),
    "halfline-simplex": (("box", 0.0, np.inf), "simplex"),
}


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_bilinear_saddles_on_boxes_against_clarabel(name, scale):
    rng = np.random.default_rng(3)
    K, c, b = rng.standard_normal((12, 9)), rng.standard_normal(12), rng.standard_normal(9)
    if name == "halfline-simplex":
        c = np.abs(c) + 2 * np.abs(K).sum(1)       # c + K y > 0 for all y: x = 0 is the best response
    xd, yd = DOMAINS[name]
    ref = _clarabel(bilinear_saddle(K, c, b, xd, yd))   # the oracle at scale 1, then scaled
    res = bilinear_saddle(scale * K, scale * c, scale * b, xd, yd).solve(backend="halpern", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.objective == pytest.approx(scale * ref, rel=1e-6)


def test_a_free_side_is_solved_when_a_saddle_point_exists():
    rng = np.random.default_rng(4)
    K = rng.standard_normal((3, 8))
    y0 = rng.random(8)
    c = -K @ (y0 / y0.sum())                        # some y in the simplex has c + K y = 0
    b = rng.standard_normal(8)
    prob = bilinear_saddle(K, c, b, x_domain="free", y_domain="simplex")
    res = prob.solve(backend="halpern", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert "stationarity" in res.certificate.as_dict()
    assert res.objective == pytest.approx(_clarabel(prob), rel=1e-6)
    x, y, _ = prob.strategies(res)
    assert np.abs(c + K @ y).max() <= 1e-6 * np.abs(K).max()


def test_an_unbounded_side_without_a_saddle_point_is_refused():
    with pytest.raises(InvalidDataError, match="min over x is -inf"):
        bilinear_saddle(np.array([[1.0, 2.0]]), np.array([-5.0]), x_domain="free")
    with pytest.raises(InvalidDataError, match="max over y is \\+inf"):
        bilinear_saddle(np.array([[1.0], [2.0]]), b=np.array([-5.0]), y_domain=("box", 0.0, np.inf))
    # x >= 0 with c + K y >= 0 reachable: accepted
    assert bilinear_saddle(np.array([[1.0, -1.0]]), np.array([0.0]), x_domain=("box", 0.0, np.inf)).program


def test_the_certificate_is_scale_invariant_and_recomputed_by_hand():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((8, 6))
    x, y = rng.random(8), rng.random(6)
    x, y = x / x.sum(), y / y.sum()
    z = np.r_[x, y]
    base = matrix_game(A).program.certify(z)
    assert base.gap == pytest.approx(hand_gap(A, x, y), rel=1e-12)
    for s in (1e-6, 1e6):
        other = matrix_game(s * A).program.certify(z)
        assert other.gap == pytest.approx(base.gap, rel=1e-12)
        assert other.primal_objective == pytest.approx(s * base.primal_objective, rel=1e-12)
    assert not base.meets(1e-3)                       # uniform-ish strategies are no equilibrium


def test_the_certificate_rejects_points_outside_the_sets():
    A = np.random.default_rng(6).standard_normal((5, 4))
    res = matrix_game(A).solve(backend="halpern", tol=1e-9)
    z = res.x.copy()
    z[0] += 1e-3                                       # off the simplex
    cert = matrix_game(A).program.certify(z)
    assert cert.domain_violation == pytest.approx(1e-3, rel=1e-6) and not cert.meets(1e-6)
    assert not matrix_game(A).program.certify(np.r_[z, 0.0]).meets(1e-3)   # wrong length
    z[1] = np.nan
    assert matrix_game(A).program.certify(z).value == np.inf


def test_sparse_and_dense_agree():
    A = sp.random(60, 40, density=0.2, random_state=7, format="csr")
    rd = matrix_game(A.toarray()).solve(backend="halpern", tol=1e-8)
    rs = matrix_game(A).solve(backend="halpern", tol=1e-8)
    assert rd.status is rs.status is sl.Status.OPTIMAL
    assert rs.objective == pytest.approx(rd.objective, rel=1e-6)
    assert rs.objective == pytest.approx(highs_value(A.toarray()), rel=1e-6)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: matrix_game(np.array([[1.0, np.nan]])), InvalidDataError, "NaN or Inf"),
    (lambda: matrix_game(np.array([[1.0, np.inf], [0.0, 1.0]])), InvalidDataError, "NaN or Inf"),
    (lambda: matrix_game(sp.csr_matrix(np.array([[1.0, np.nan]]))), InvalidDataError, "NaN or Inf"),
    (lambda: matrix_game(np.ones(3)), ShapeError, "2-D"),
    (lambda: matrix_game(np.zeros((0, 3))), ShapeError, "empty"),
    (lambda: matrix_game(sp.csr_matrix((3, 0))), ShapeError, "empty"),
    (lambda: matrix_game(np.array([["a", "b"]])), InvalidDataError, "real numbers"),
    (lambda: matrix_game(np.ones((2, 2)) * 1j), InvalidDataError, "real numbers"),
    (lambda: bilinear_saddle(np.ones((2, 3)), c=np.ones(3)), ShapeError, "c must have shape (2,)"),
    (lambda: bilinear_saddle(np.ones((2, 3)), b=np.ones(2)), ShapeError, "b must have shape (3,)"),
    (lambda: bilinear_saddle(np.ones((2, 3)), c=[np.nan, 1.0]), InvalidDataError, "c has NaN"),
    (lambda: bilinear_saddle(np.ones((2, 3)), x_domain="simplx"), InvalidDataError, "unknown domain 'simplx'"),
    (lambda: bilinear_saddle(np.ones((2, 3)), y_domain=("ball", 1.0)), InvalidDataError, "a domain is"),
    (lambda: bilinear_saddle(np.ones((2, 3)), x_domain=("box", 1.0, 0.0)), InvalidDataError, "the box is empty"),
    (lambda: bilinear_saddle(np.ones((2, 3)), x_domain=("box", np.zeros(3), 1.0)), ShapeError, "shape (2,)"),
    (lambda: bilinear_saddle(np.ones((2, 3)), y_domain=("box", np.nan, 1.0)), InvalidDataError, "NaN"),
    (lambda: bilinear_saddle(np.ones((2, 3)), y_domain=("box", np.inf, np.inf)), InvalidDataError, "+inf"),
])
def test_bad_input_is_refused_with_a_clear_error(make, exc, match):
    with pytest.raises(exc, match=match.replace("(", "\\(").replace(")", "\\)").replace("+", "\\+")):
        make()


def test_generic_backends_refuse_the_node_and_name_halpern():
    prob = matrix_game(np.eye(3))
    with pytest.raises(sl.BackendRefusedError, match="halpern"):
        prob.solve(backend="admm")
    assert sl.compile(prob).forms() == ["BilinearSaddle"]
    res = prob.solve(backend="auto", tol=1e-8)
    assert res.backend == "halpern" and res.status is sl.Status.OPTIMAL


def test_to_cvxpy_of_a_box_y_side_matches_the_closed_form():
    rng = np.random.default_rng(8)
    K, c, b = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal(3)
    prob = bilinear_saddle(K, c, b, "simplex", ("box", -1.0, 2.0))
    cvx, x = prob.to_cvxpy()
    cvx.solve(solver="CLARABEL")
    xv = np.asarray(x.value)
    g = K.T @ xv - b
    phi = c @ xv + np.sum(np.maximum(-g, 2 * g))      # max over [-1, 2] of g y, coordinatewise
    assert cvx.value == pytest.approx(phi, rel=1e-7)
    assert isinstance(cvx, cp.Problem)


def test_saddle_point_declared_with_cvxpy_reads_the_data_and_writes_back():
    from solvelab.problems.saddle import SaddlePoint
    rng = np.random.default_rng(9)
    K, c, b = rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal(4)
    x, y = cp.Variable(6, name="x"), cp.Variable(4, name="y")
    prob = SaddlePoint(c @ x + x @ K @ y - b @ y + 3.0, minimize=x, maximize=[y],
                       constraints=[x >= 0, cp.sum(x) == 1, y >= -1, y <= 2])
    p = prob.program
    assert np.array_equal(p.K, K) and np.allclose(p.c, c) and np.allclose(p.b, b) and p.constant == 3.0
    assert p.X.describe() == "simplex" and p.Y.describe() == "box"
    res = prob.solve(backend="halpern", tol=1e-8)
    ref = bilinear_saddle(K, c, b, "simplex", ("box", -1.0, 2.0))
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(_clarabel(ref) + 3.0, rel=1e-6)
    assert np.allclose(x.value, res.values["x"]) and np.allclose(y.value, res.values["y"])
    # an elementwise form of the same kind of term, with a constant in a factor
    q = SaddlePoint(cp.sum(cp.multiply(2 * x + 1, K @ y)) - 0.5 * (b @ y), minimize=x, maximize=y,
                    constraints=[x >= 0, cp.sum(x) == 1, y >= 0, cp.sum(y) == 1]).program
    assert np.allclose(q.K, 2 * K) and np.allclose(q.c, 0) and np.allclose(q.b, 0.5 * b - K.sum(0))


def test_saddle_point_refuses_what_it_cannot_read():
    from solvelab.problems.saddle import SaddlePoint
    x, y, z = cp.Variable(3), cp.Variable(2), cp.Variable(2)
    K = np.ones((3, 2))
    with pytest.raises(sl.NonConvexError, match="not affine"):
        SaddlePoint(cp.norm1(x) + x @ K @ y, minimize=x, maximize=y)   # sum_squares(x) is a regularizer now
    with pytest.raises(InvalidDataError, match="neither"):
        SaddlePoint(x @ K @ y + cp.sum(z), minimize=x, maximize=y)
    with pytest.raises(InvalidDataError, match="sum\\(.*\\) == 1 is supported as an equality|only sum"):
        SaddlePoint(x @ K @ y, minimize=x, maximize=y, constraints=[cp.sum(x) == 2, x >= 0, y >= 0, y <= 1])
    with pytest.raises(InvalidDataError, match="probability simplex"):
        SaddlePoint(x @ K @ y, minimize=x, maximize=y, constraints=[cp.sum(x) == 1, x >= 0, x <= 0.9, y >= 0, y <= 1])
    with pytest.raises(ShapeError, match="1-D cvxpy Variable"):
        SaddlePoint(cp.sum(x) , minimize=cp.Variable((2, 2)), maximize=y)
    with pytest.raises(InvalidDataError, match="one variable per player"):
        SaddlePoint(x @ K @ y, minimize=[x, z], maximize=y)
    with pytest.raises(InvalidDataError, match="no saddle point"):     # free sides, c = 0 but b != 0 with y free
        SaddlePoint(x @ K @ y - np.array([1.0, -2.0]) @ y, minimize=x, maximize=y, constraints=[x >= 0, x <= 1])


def test_stationarity_is_measured_on_a_free_side_and_sparse_data_is_checked_too():
    K = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]])
    for data in (K, sp.csr_matrix(K)):
        prob = bilinear_saddle(data, np.zeros(2), x_domain="free", y_domain="simplex")
        cert = prob.program.certify(np.r_[0.0, 0.0, 1.0, 0.0, 0.0])   # K y = (1, 0) != 0: not stationary in x
        assert cert.stationarity == pytest.approx(1.0) and not cert.meets(1e-3)
        res = prob.solve(backend="halpern", tol=1e-8)
        assert res.status is sl.Status.OPTIMAL
        assert np.abs(K @ res.values["y"]).max() <= 1e-7
    with pytest.raises(InvalidDataError, match="no saddle point"):
        bilinear_saddle(sp.csr_matrix(np.abs(K) + 0.1), np.zeros(2), x_domain="free")
