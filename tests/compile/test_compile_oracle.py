"""Compile oracle: the IR evaluates exactly what CVXPY evaluates, at random points."""
import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

import solvelab as sl
from solvelab.errors import UnsupportedAtomError
from solvelab.ir import functions as F

RNG = np.random.default_rng(12345)
m, n = 15, 6
A = RNG.standard_normal((m, n))
b = RNG.standard_normal(m)
As = sp.random(m, n, density=0.4, format="csr", random_state=1)
C = RNG.standard_normal((2, 3))


def _models():
    x = cp.Variable(n, name="x")
    X = cp.Variable((3, 4), name="X")
    y = cp.Variable(2, name="y")
    lam = cp.Parameter(nonneg=True, value=0.7, name="lam")
    w = np.abs(RNG.standard_normal(n))
    return {
        "lasso": (cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + lam * cp.norm1(x)), [x >= -1, x <= 1]),
        "sparse_ls": (cp.Minimize(cp.sum_squares(As @ x - b) / 3), [cp.sum(x) == 1]),
        "weighted_l1": (cp.Minimize(cp.sum_squares(A @ x - b) + w @ cp.abs(x)), []),
        "weighted_square": (cp.Minimize(cp.sum(cp.multiply(w, cp.square(x - 1)))), []),
        "huber": (cp.Minimize(cp.sum(cp.huber(A @ x - b, 1.5))), []),
        "logistic": (cp.Minimize(cp.sum(cp.logistic(-cp.multiply(np.sign(b), A @ x))) / m + 0.1 * cp.norm1(x)), []),
        "hinge": (cp.Minimize(cp.sum(cp.pos(1 - cp.multiply(np.sign(b), A @ x))) + cp.sum_squares(x)), []),
        "group": (cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm(x[:3], 2) + cp.pnorm(x[3:], 2)), []),
        "linf": (cp.Minimize(cp.norm_inf(A @ x - b) + cp.norm(x, 1)), []),
        "soc": (cp.Minimize(cp.sum_squares(A @ x - b)), [cp.norm(x, 2) <= 0.5 * x[0] + 1]),
        "soc_obj": (cp.Minimize(cp.norm(A @ x - b, 2) + x @ np.ones(n)), [cp.SOC(y[0], x[:2])]),
        "matrix": (cp.Minimize(cp.sum_squares(C @ X - 1) + cp.norm1(X.T) + cp.sum(cp.pos(X[0, :]))
                               + cp.sum(cp.neg(cp.sum(X, axis=0))) + cp.sum(cp.abs(X @ np.ones(4)))),
                   [cp.reshape(X, (12,), order="F")[2:5] <= 3, cp.hstack([X[0, :], X[1, :]]) >= -2,
                    cp.vstack([X[0, :], X[2, :]]) <= 5, cp.sum(X, axis=1) == 1]),
        "quad_form": (cp.Minimize(cp.quad_form(x, A.T @ A) + x @ np.ones(n) + 3), []),
        "quad_over_lin": (cp.Minimize(cp.quad_over_lin(A @ x - b, 4.0)), [x[1:3] >= 0]),
        "maximize_entropy": (cp.Maximize(-cp.sum_squares(x - 1) + cp.sum(cp.entr(x))), [x <= 2]),
        "kl": (cp.Minimize(cp.sum(cp.kl_div(x, np.full(n, 2.0))) + cp.norm_inf(x)), []),
        "div_neg_const": (cp.Minimize(-(-cp.sum_squares(x) / 2) + 5 - cp.sum(x) * 2), [x[0] == 1]),
        "maximum_minimum": (cp.Minimize(cp.sum(cp.maximum(x, 0.5)) - cp.sum(cp.minimum(A @ x, 1))), []),
        "index_fancy": (cp.Minimize(cp.sum_squares(x[[0, 2, 4]]) + cp.abs(x[1] - x[5])), [x[::2] <= 1]),
        "promote_broadcast": (cp.Minimize(cp.sum_squares(x - y[0]) + cp.sum_squares(y)), [y >= -3]),
        "squared_hinge_sum_squares": (cp.Minimize(cp.sum_squares(cp.pos(1 - cp.multiply(np.sign(b), A @ x))) / m
                                                  + 0.1 * cp.norm1(x)), []),
        "squared_hinge_square": (cp.Minimize(cp.sum(cp.square(cp.pos(1 - cp.multiply(np.sign(b), A @ x))))
                                             + cp.sum(cp.multiply(w, cp.square(cp.maximum(x - 1, 0))))), []),
        "poisson": (cp.Minimize(cp.sum(cp.exp(0.3 * A @ x) - cp.multiply(np.abs(np.round(b)), 0.3 * A @ x)) / m
                                + lam * cp.norm1(x)), []),
        "exp_weighted_plus_const": (cp.Minimize(w @ cp.exp(x - 1) + cp.sum(cp.exp(A @ x / 5) + 2)), []),
        "transpose_right": (cp.Minimize(cp.sum_squares(X.T @ np.ones(3) - 1) + cp.sum_squares(np.ones(4) @ X.T)), []),
    }


MODELS = _models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_objective_matches_cvxpy_at_random_points(name):
    obj, cons = MODELS[name]
    prob = sl.Problem(obj, cons)
    prog = prob.compile()
    for _ in range(4):
        for v in prob.variables():
            v.value = RNG.uniform(0.05, 1.5, v.shape)
        x = np.concatenate([np.ravel(v.value, order="F") for v in prob.variables()])
        ref = obj.value
        assert prog.user_objective(x) == pytest.approx(ref, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_constraint_feasibility_matches_cvxpy(name):
    """At random points, the IR's constraint terms are satisfied iff CVXPY's are."""
    obj, cons = MODELS[name]
    if not cons:
        pytest.skip("no constraints in this model")
    prob = sl.Problem(obj, cons)
    prog = prob.compile()
    agree = 0
    for trial in range(40):
        for v in prob.variables():
            v.value = RNG.uniform(-2.5, 2.5, v.shape) * (0.1 if trial % 3 == 0 else 1.0)
        x = np.concatenate([np.ravel(v.value, order="F") for v in prob.variables()])
        theirs = all(bool(c.value(tolerance=1e-9)) for c in cons)
        ours = all(t.f.distance(t.residual(x)) <= 1e-9 for t in prog.constraint_terms())
        assert ours == theirs
        agree += 1
    assert agree == 40


def test_single_constraint_residuals_equal_cvxpy_expressions():
    x = cp.Variable(n)
    ineq = A @ x - b <= 2
    eq = As @ x == b
    prog = sl.Problem(cp.Minimize(cp.sum_squares(x)), [ineq, eq]).compile()
    x.value = RNG.standard_normal(n)
    terms = prog.constraint_terms()
    assert [t.f.name for t in terms] == ["nonpos", "zero"]
    np.testing.assert_allclose(terms[0].residual(x.value), ineq.expr.value, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(terms[1].residual(x.value), eq.expr.value, rtol=1e-13, atol=1e-13)


def test_bounds_are_merged_into_one_box_per_variable():
    x = cp.Variable(n, nonneg=True)
    prog = sl.Problem(cp.Minimize(cp.sum_squares(x - 1)), [x <= 3, -x >= -2, x[0] >= 0.5]).compile()
    boxes = [t for t in prog.terms if t.f.name == "box"]
    assert len(boxes) == 1 and len(prog.constraint_terms()) == 1
    lo, hi = np.broadcast_to(boxes[0].f.lo, n), np.broadcast_to(boxes[0].f.hi, n)
    np.testing.assert_array_equal(lo, [0.5] + [0.0] * (n - 1))
    np.testing.assert_array_equal(hi, [2.0] * n)
    assert "Composite" in prog.forms()


def test_conflicting_bounds_are_kept_for_the_backend_to_certify():
    x = cp.Variable(3)
    prog = sl.Problem(cp.Minimize(cp.sum(x)), [x >= 1, x <= 0]).compile()
    assert len(prog.constraint_terms()) == 2  # not merged into an empty box


def test_program_prints_variables_terms_and_forms():
    x = cp.Variable(n, name="coef")
    text = repr(sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm1(x)), [x >= 0])))
    assert "coef: shape (6,)" in text and "sum_squares" in text and "l1" in text
    assert "forms: ProxAffine, Composite" in text


def test_compile_keeps_sparse_data_without_copy():
    x = cp.Variable(n)
    Acsc = sp.random(m, n, density=0.5, format="csc", random_state=3)
    prog = sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(Acsc @ x - b))))
    (offset, op), = prog.terms[0].A.blocks
    assert op.sparse and op.M.nnz == Acsc.nnz


def test_shared_subexpressions_are_compiled_once():
    x = cp.Variable(n)
    r = A @ x - b
    prob = sl.Problem(cp.Minimize(cp.sum_squares(r) + cp.norm1(r) + cp.sum(cp.huber(r))))
    prog = prob.compile()
    ops = [t.A.blocks[0][1] for t in prog.terms]
    assert ops[0] is ops[1] is ops[2]


# ---------------------------------------------------------------------------------------
# Parameters: new values are re-read, the tree is not walked again
# ---------------------------------------------------------------------------------------

def test_parameter_change_refreshes_data_without_recompiling():
    x = cp.Variable(n)
    lam = cp.Parameter(nonneg=True, value=1.0)
    bp = cp.Parameter(m, value=b)
    Ap = cp.Parameter((m, n), value=A)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(Ap @ x - bp) + lam * cp.norm1(x)))
    prog = prob.compile()
    x0 = RNG.standard_normal(n)
    x.value = x0
    v0 = prog.objective(x0)
    assert v0 == pytest.approx(prob.objective.value, rel=1e-12)
    lam.value, bp.value = 3.0, 2 * b
    assert prog.refresh() is False           # only vector/scalar data changed
    x.value = x0
    assert prog.objective(x0) == pytest.approx(prob.objective.value, rel=1e-12)
    version = prog.data_version
    Ap.value = 2 * A
    assert prog.refresh() is True            # a matrix changed: factorizations are stale
    assert prog.data_version == version + 1
    assert prog.objective(x0) == pytest.approx(prob.objective.value, rel=1e-12)
    assert prob.compile_count == 1


def test_parameter_sign_flip_is_caught_on_refresh():
    x = cp.Variable(n)
    lam = cp.Parameter(value=1.0)  # not declared nonneg: DCP rejects it
    with pytest.raises(sl.NonConvexError):
        sl.compile(cp.Problem(cp.Minimize(cp.sum_squares(x) + lam * cp.norm1(x))))


def test_glm_atoms_compile_to_their_ir_functions():
    """square(pos(.)) and sum_squares(pos(.)) become the squared hinge; sum(exp(.) - y * .)
    an exp term plus a linear term (the Poisson datafit)."""
    for name, want in (("squared_hinge_sum_squares", "squared_hinge"), ("squared_hinge_square", "squared_hinge"),
                       ("poisson", "exp"), ("exp_weighted_plus_const", "exp")):
        obj, cons = MODELS[name]
        names = [t.f.name for t in sl.Problem(obj, cons).compile().terms]
        assert want in names, (name, names)
    x = cp.Variable(3)
    # max(z, c) with c != 0 squared is not a squared hinge: refused, not miscompiled
    with pytest.raises(UnsupportedAtomError):
        sl.Problem(cp.Minimize(cp.sum(cp.square(cp.maximum(x, 1))))).compile()
