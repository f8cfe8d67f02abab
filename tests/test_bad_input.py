"""Bad input gets a clear error or the right status, never a plausible wrong answer."""
import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.ir.linop import MatrixOperator

RNG = np.random.default_rng(7)
A = RNG.standard_normal((20, 6))
b = RNG.standard_normal(20)


def lasso(A=A, b=b, lam=0.5):
    x = cp.Variable(A.shape[1])
    return sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x))), x


# -- data --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_matrix_is_named(bad):
    A2 = A.copy()
    A2[3, 2] = bad
    prob, _ = lasso(A=A2)
    with pytest.raises(sl.InvalidDataError, match="NaN or Inf"):
        prob.solve(backend="admm")


def test_non_finite_vector_is_named():
    b2 = b.copy()
    b2[0] = np.nan
    prob, _ = lasso(b=b2)
    with pytest.raises(sl.InvalidDataError, match="NaN or Inf"):
        prob.compile()


def test_non_finite_parameter_value_is_caught_on_resolve():
    x = cp.Variable(6)
    bp = cp.Parameter(20, value=b)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - bp)))
    assert prob.solve(backend="admm").status is sl.Status.OPTIMAL
    bad = b.copy()
    bad[4] = np.inf
    bp.value = bad
    with pytest.raises(sl.InvalidDataError, match="NaN or Inf"):
        prob.solve(backend="admm")


def test_missing_parameter_value_is_named():
    x = cp.Variable(6)
    lam = cp.Parameter(nonneg=True, name="lam")
    with pytest.raises(sl.InvalidDataError, match="lam"):
        sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x))))


def test_integer_data_gives_the_right_answer():
    Ai = RNG.integers(-3, 4, size=(20, 6))
    bi = RNG.integers(-5, 6, size=20)
    x = cp.Variable(6)
    obj = cp.Minimize(cp.sum_squares(Ai @ x - bi) + cp.norm1(x))
    ref = cp.Problem(obj).solve(solver="CLARABEL")
    res = sl.Problem(obj).solve(backend="admm")
    assert res.status is sl.Status.OPTIMAL
    assert res.objective == pytest.approx(ref, rel=1e-5)


def test_integer_variables_are_refused_with_a_pointer():
    x = cp.Variable(3, integer=True)
    with pytest.raises(sl.UnsupportedAtomError, match="integer"):
        sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(x - 0.5))))


def test_empty_data_is_refused():
    x = cp.Variable(6)
    with pytest.raises(sl.SolvelabError, match="empty|no variables|0"):
        sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(np.zeros((0, 6)) @ x))))


def test_constant_only_problem_is_refused():
    with pytest.raises(sl.InvalidDataError, match="no variables"):
        sl.compile(cp.Problem(cp.Minimize(cp.Constant(3.0))))


# -- shapes ------------------------------------------------------------------------------

def test_operator_shape_mismatch_names_both_shapes():
    op = MatrixOperator(A)
    with pytest.raises(sl.ShapeError, match=r"length 6.*\(5,\)"):
        op.matvec(np.ones(5))


def test_a_python_bool_as_constraint_is_explained():
    x = cp.Variable(2)
    with pytest.raises(TypeError, match="CVXPY constraints"):
        sl.Problem(cp.Minimize(cp.sum_squares(x)), [True])


# -- modelling -----------------------------------------------------------------------------

def test_unsupported_atom_is_named_with_its_expression():
    X = cp.Variable((3, 3), name="X")
    with pytest.raises(sl.UnsupportedAtomError, match=r"sigma_max.*sigma_max\(X"):
        sl.compile(cp.Problem(cp.Minimize(cp.sigma_max(X))))


@pytest.mark.parametrize("objective", [
    lambda x: cp.Minimize(-cp.sum_squares(x)),
    lambda x: cp.Maximize(cp.norm1(x)),
    lambda x: cp.Minimize(cp.sum(cp.entr(x))),
])
def test_non_convex_objective_is_refused(objective):
    x = cp.Variable(3)
    with pytest.raises(sl.NonConvexError, match="not"):
        sl.Problem(objective(x)).solve(backend="admm")


def test_non_convex_constraint_is_refused():
    x = cp.Variable(3)
    with pytest.raises(sl.NonConvexError, match="constraint"):
        sl.compile(cp.Problem(cp.Minimize(cp.sum(x)), [cp.sum_squares(x) >= 1]))


def test_backend_refusal_names_form_and_alternatives():
    x = cp.Variable(4)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(x - 1)), [cp.norm(x, 2) <= x[0] + 1])
    with pytest.raises(sl.BackendRefusedError) as err:
        prob.solve(backend="fista")
    msg = str(err.value)
    assert "'fista'" in msg and "Composite" in msg and "admm" in msg


def test_unknown_backend_lists_the_known_ones():
    prob, _ = lasso()
    with pytest.raises(sl.BackendRefusedError, match="admm"):
        prob.solve(backend="no-such-backend")


@pytest.mark.parametrize("opts", [{"tol": -1}, {"tol": float("nan")}, {"max_iter": 0}, {"time_limit": -2}])
def test_bad_options_are_refused(opts):
    prob, _ = lasso()
    with pytest.raises(sl.InvalidDataError):
        prob.solve(backend="admm", **opts)


# -- statuses: infeasible, unbounded, budget ---------------------------------------------

def test_infeasible_bounds_are_certified():
    x = cp.Variable(3)
    res = sl.Problem(cp.Minimize(cp.sum_squares(x)), [x >= 1, x <= 0]).solve(backend="admm")
    assert res.status is sl.Status.INFEASIBLE
    assert res.x is None and res.objective == float("inf")


def test_infeasible_equalities_are_certified():
    x = cp.Variable(3)
    res = sl.Problem(cp.Minimize(cp.sum_squares(x)), [cp.sum(x) == 1, cp.sum(x) == 2]).solve(backend="admm")
    assert res.status is sl.Status.INFEASIBLE


def test_unbounded_is_certified():
    x = cp.Variable(3)
    res = sl.Problem(cp.Minimize(cp.sum(x)), [x <= 1]).solve(backend="admm")
    assert res.status is sl.Status.UNBOUNDED
    assert res.objective == -float("inf")


def test_budget_exhaustion_is_never_optimal():
    prob, _ = lasso()
    for backend in ("admm", "fista"):
        res = prob.solve(backend=backend, max_iter=2, warm_start=False, check_every=1)
        assert res.status is not sl.Status.OPTIMAL
        assert not res.certificate.meets(1e-6)
