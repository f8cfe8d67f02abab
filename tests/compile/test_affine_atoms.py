"""Affine atoms: every affine / rearranging CVXPY atom compiles to exactly what CVXPY
evaluates, its operators pass the adjoint dot-test and materialize correctly, Parameters
inside stay live, a few atoms solve end to end against Clarabel, and an atom outside the
table is refused by its CVXPY name."""
import warnings

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from cvxpy.atoms.affine.affine_atom import AffAtom

import solvelab as sl
from solvelab.compile.affine import AffineCompiler, flat
from solvelab.errors import UnsupportedAtomError
from solvelab.ir import linop as L

RNG = np.random.default_rng(20240611)
C23 = RNG.standard_normal((2, 3))
C44 = RNG.standard_normal((4, 4))
SP56 = sp.random(5, 6, density=0.4, format="csr", random_state=2)


def _compile(expr):
    """The AffineMap of ``expr`` and the parametric operators to refresh."""
    refreshable = []
    compiler = AffineCompiler({v.id: v.size for v in expr.variables()}, refreshable)
    return compiler.compile(expr), refreshable


def _apply(amap, expr) -> np.ndarray:
    """The compiled map at the variables' current values (F-ordered)."""
    out = amap.offset_value().copy()
    for v in expr.variables():
        if v.id in amap.blocks:
            out = out + amap.blocks[v.id].matvec(flat(np.asarray(v.value, dtype=np.float64)))
    return out


def _draw(expr):
    for v in expr.variables():
        v.value = RNG.standard_normal(v.shape)


def _assert_equals_cvxpy(amap, expr):
    val = expr.value
    ref = flat(np.asarray(val.toarray() if sp.issparse(val) else val, dtype=np.float64))
    got = _apply(amap, expr)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * max(1.0, np.max(np.abs(ref))))


def _cases():
    """name -> a builder of the expression (fresh variables each call)."""
    x, X, S, T, z = (lambda: cp.Variable(6), lambda: cp.Variable((3, 4)), lambda: cp.Variable((4, 4)),
                     lambda: cp.Variable((2, 3, 4)), lambda: cp.Variable())
    mask = np.arange(12).reshape(3, 4) % 3 == 0
    return {
        # indexing: negative steps, any start/stop, 2-D / N-D keys, mixed, arrays, masks
        "x[::-1]": lambda: x()[::-1],
        "x[::-2]": lambda: x()[::-2],
        "x[4::-1]": lambda: x()[4::-1],
        "x[-2:0:-2]": lambda: x()[-2:0:-2],
        "x[5:1:-3]": lambda: x()[5:1:-3],
        "x[-1]": lambda: x()[-1],
        "X[::-1, ::-2]": lambda: X()[::-1, ::-2],
        "X[2, ::-1]": lambda: X()[2, ::-1],
        "X[:, -1]": lambda: X()[:, -1],
        "X[1]": lambda: X()[1],
        "X[[0,2],[1,3]]": lambda: X()[[0, 2], [1, 3]],
        "X[[2,0]][:, ::-1]": lambda: X()[[2, 0]][:, ::-1],
        "X[mask]": lambda: X()[mask],
        "x[bool]": lambda: x()[np.array([1, 0, 1, 1, 0, 0], dtype=bool)],
        "x[None, :]": lambda: x()[None, :],
        "T[1, ::-1, 2:0:-1]": lambda: T()[1, ::-1, 2:0:-1],
        "T[..., 1]": lambda: T()[..., 1],
        # diag, upper_tri, trace
        "diag(x)": lambda: cp.diag(x()),
        "diag(x, 2)": lambda: cp.diag(x(), 2),
        "diag(x, -1)": lambda: cp.diag(x(), -1),
        "diag(S)": lambda: cp.diag(S()),
        "diag(S, -2)": lambda: cp.diag(S(), -2),
        "upper_tri(S)": lambda: cp.upper_tri(S()),
        "vec_to_upper_tri strict": lambda: cp.vec_to_upper_tri(x(), strict=True),
        "vec_to_upper_tri": lambda: cp.vec_to_upper_tri(x()),
        "trace(S)": lambda: cp.trace(S()),
        "trace(S[1:3, 0:2])": lambda: cp.trace(S()[1:3, 0:2]),
        "trace(C @ S)": lambda: cp.trace(C44 @ S()),
        "trace(S @ C)": lambda: cp.trace(S() @ C44),
        "trace batched": lambda: cp.trace(cp.Variable((2, 3, 3))),
        # sums
        "cumsum(x)": lambda: cp.cumsum(x()),
        "cumsum(X, 0)": lambda: cp.cumsum(X(), axis=0),
        "cumsum(X, 1)": lambda: cp.cumsum(X(), axis=1),
        "cumsum(X, None)": lambda: cp.cumsum(X(), axis=None),
        "cumsum(T, 1)": lambda: cp.cumsum(T(), axis=1),
        "cumsum(T, -1)": lambda: cp.cumsum(T(), axis=-1),
        "sum(X, 0)": lambda: cp.sum(X(), axis=0),
        "sum(X, 1)": lambda: cp.sum(X(), axis=1),
        "sum(X, 0, keepdims)": lambda: cp.sum(X(), axis=0, keepdims=True),
        "sum(X, 1, keepdims)": lambda: cp.sum(X(), axis=1, keepdims=True),
        "sum(X, keepdims)": lambda: cp.sum(X(), keepdims=True),
        "sum(T, (0, 2))": lambda: cp.sum(T(), axis=(0, 2)),
        "sum(T, 1)": lambda: cp.sum(T(), axis=1),
        "sum(T, -1, keepdims)": lambda: cp.sum(T(), axis=-1, keepdims=True),
        "mean(X, 0)": lambda: cp.mean(X(), axis=0),
        "diff(x)": lambda: cp.diff(x()),
        "diff(X, 2, axis=1)": lambda: cp.diff(X(), 2, axis=1),
        # products with constants
        "kron(C, X)": lambda: cp.kron(C23, X()),
        "kron(X, C)": lambda: cp.kron(X(), C23),
        "kron(sparse I, X)": lambda: cp.kron(sp.eye(2), X()),
        "kron(X, sparse)": lambda: cp.kron(X(), sp.random(2, 3, density=0.5, random_state=4)),
        "convolve(c, x)": lambda: cp.convolve(np.array([1.0, -2.0, 0.5]), x()),
        "convolve(scalar, x)": lambda: cp.convolve(2.5, x()),
        "conv(column, x)": lambda: _quiet(lambda: cp.conv(np.array([[1.0], [3.0]]), x())),
        "outer(x, c)": lambda: cp.outer(x(), np.arange(1.0, 4.0)),
        "outer(c, x)": lambda: cp.outer(np.arange(1.0, 4.0), x()),
        "multiply column": lambda: cp.multiply(RNG.standard_normal((3, 1)), X()),
        "multiply row": lambda: cp.multiply(np.arange(4.0), X()),
        "multiply both broadcast": lambda: cp.multiply(X()[0:1, :], np.arange(1.0, 4.0).reshape(3, 1)),
        "multiply sparse": lambda: cp.multiply(sp.random(3, 4, density=0.5, random_state=5), X()),
        "scalar * x": lambda: 3.0 * x(),
        "z * vector": lambda: z() * np.arange(3.0),
        "x / c": lambda: x() / np.arange(1.0, 7.0),
        "C @ X": lambda: C23 @ X(),
        "X @ C": lambda: X() @ RNG.standard_normal((4, 2)),
        "sparse @ x": lambda: SP56 @ x(),
        "x @ C": lambda: x() @ RNG.standard_normal((6, 3)),
        "X @ v": lambda: X() @ np.arange(4.0),
        "v @ X": lambda: np.arange(3.0) @ X(),
        "C @ X @ C": lambda: C23 @ X() @ RNG.standard_normal((4, 2)),
        "vdot(c, x)": lambda: cp.vdot(np.arange(6.0), x()),
        "batched C @ T": lambda: RNG.standard_normal((2, 5, 3)) @ T(),
        "batched T @ C": lambda: T() @ RNG.standard_normal((2, 4, 2)),
        "broadcast C @ T": lambda: RNG.standard_normal((5, 3)) @ T(),
        "T @ v": lambda: T() @ np.arange(4.0),
        "einsum ij,jk->ik": lambda: cp.einsum("ij,jk->ik", C23, X()),
        "einsum ii->": lambda: cp.einsum("ii->", S()),
        "einsum ijk->ki": lambda: cp.einsum("ijk->ki", T()),
        "partial_trace": lambda: cp.partial_trace(cp.Variable((6, 6)), (2, 3), 1),
        "partial_transpose": lambda: cp.partial_transpose(cp.Variable((6, 6)), (2, 3), 0),
        # reshaping and stacking
        "vec F": lambda: cp.vec(X(), order="F"),
        "vec C": lambda: cp.vec(X(), order="C"),
        "reshape C": lambda: cp.reshape(X(), (2, 6), order="C"),
        "reshape F": lambda: cp.reshape(X(), (6, 2), order="F"),
        "reshape -1 C": lambda: cp.reshape(X(), (-1, 3), order="C"),
        "reshape T C": lambda: cp.reshape(T(), (4, 6), order="C"),
        "squeeze": lambda: cp.squeeze(X()[:, 1:2]),
        "X.T": lambda: X().T,
        "permute_dims": lambda: cp.permute_dims(T(), (2, 0, 1)),
        "swapaxes": lambda: cp.swapaxes(T(), 0, 2),
        "moveaxis": lambda: cp.moveaxis(T(), 0, -1),
        "broadcast_to": lambda: cp.broadcast_to(x(), (3, 6)),
        "hstack": lambda: cp.hstack([x(), x()[:2]]),
        "vstack": lambda: (lambda v: cp.vstack([v, v[0:1], np.ones((1, 4))]))(X()),
        "bmat": lambda: (lambda v, s: cp.bmat([[v, np.ones((3, 2))], [v[:1], s * np.ones((1, 2))]]))(X(), z()),
        "concatenate axis 1": lambda: (lambda v: cp.concatenate([v, -v], axis=1))(X()),
        "concatenate axis None": lambda: cp.concatenate([X(), x()], axis=None),
        "stack axis 1": lambda: (lambda v: cp.stack([v, 2 * v], axis=1))(x()),
        "promote": lambda: x() - z(),
        # identities on real expressions
        "real": lambda: cp.real(x()),
        "imag + x": lambda: (lambda v: cp.imag(v) + v)(x()),
        "conj": lambda: cp.conj(x()),
        "psd_wrap": lambda: cp.psd_wrap(S()),
        "symmetric_wrap": lambda: cp.symmetric_wrap(S()),
        # atoms of atoms
        "cumsum(diag(x)[::-1])": lambda: cp.cumsum(cp.diag(x())[::-1], axis=1),
        "kron(C, X[:, ::-1]) sum": lambda: cp.sum(cp.kron(C23, X()[:, ::-1]), axis=0),
        "convolve(c, cumsum(x))[::-1]": lambda: cp.convolve(np.array([1.0, 2.0]), cp.cumsum(x()))[::-1],
    }


def _quiet(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_map_equals_cvxpy_value(name):
    expr = _quiet(CASES[name])
    amap, _ = _compile(expr)
    assert amap.shape == tuple(expr.shape)
    for _ in range(3):
        _draw(expr)
        _assert_equals_cvxpy(amap, expr)


def _dot_test(op):
    m, n = op.shape
    for _ in range(2):
        x, y = RNG.standard_normal(n), RNG.standard_normal(m)
        lhs, rhs = op.matvec(x) @ y, x @ op.rmatvec(y)
        assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12 * np.linalg.norm(x) * np.linalg.norm(y))


def _dense_by_matvec(op) -> np.ndarray:
    return np.column_stack([op.matvec(e) for e in np.eye(op.shape[1])])


@pytest.mark.parametrize("name", list(CASES))
def test_every_compiled_block_passes_the_dot_test_and_materializes(name):
    expr = _quiet(CASES[name])
    amap, _ = _compile(expr)
    for op in amap.blocks.values():
        _dot_test(op)
        np.testing.assert_allclose(op.to_sparse().toarray(), _dense_by_matvec(op), rtol=1e-13, atol=1e-13)


def _new_operators():
    """The operators this file's atoms introduced, on awkward shapes."""
    C, Csp = L.MatrixOperator(C23), L.MatrixOperator(sp.random(3, 2, density=0.5, format="csr", random_state=7))
    yield "masked", L.MaskedGatherOperator(np.array([2, -1, 0, 2, -1, 4]), 5)
    yield "gather helper", L.gather(np.array([-1, 1, 1, 3]), 4)
    for shape, axis in (((7,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 1), ((2, 3, 4), 2)):
        yield f"cumsum{shape}@{axis}", L.CumsumOperator(shape, axis)
    yield "kron C.X", L.KronOperator(C, (3, 4), True)
    yield "kron X.C", L.KronOperator(C, (4, 2), False)
    yield "kron sparse", L.KronOperator(Csp, (2, 3), True)
    yield "convolve", L.ConvolveOperator(L.MatrixOperator(np.array([[1.0, -2.0, 0.25, 3.0]])), 6)
    yield "convolve long kernel", L.ConvolveOperator(L.MatrixOperator(RNG.standard_normal((1, 9))), 3)
    yield "bmm left", L.BatchMatMulOperator(RNG.standard_normal((2, 5, 3)), "left", (2, 3, 4))
    yield "bmm right", L.BatchMatMulOperator(RNG.standard_normal((2, 4, 2)), "right", (2, 3, 4))
    yield "bmm broadcast C", L.BatchMatMulOperator(RNG.standard_normal((1, 4, 2)), "right", (3, 3, 4))


@pytest.mark.parametrize("name,op", [pytest.param(*c, id=c[0]) for c in _new_operators()])
def test_new_operators_adjoint_and_materialization(name, op):
    _dot_test(op)
    _dot_test(op.T)
    dense = _dense_by_matvec(op)
    np.testing.assert_allclose(op.to_sparse().toarray(), dense, rtol=1e-13, atol=1e-13)
    assert op.norm_est() == pytest.approx(np.linalg.norm(dense, 2), rel=1e-6)


def test_gathers_compose_into_one_gather():
    A = L.MaskedGatherOperator(np.array([1, -1, 0]), 2)
    B = L.GatherOperator(np.array([4, 2]), 5)
    AB = L.compose(A, B)
    assert isinstance(AB, L.MaskedGatherOperator)
    x = RNG.standard_normal(5)
    np.testing.assert_array_equal(AB.matvec(x), [x[2], 0.0, x[4]])
    assert isinstance(L.gather(np.array([-1, -1]), 3), L.ZeroOperator)
    assert isinstance(L.gather(np.array([0, 2]), 3), L.GatherOperator)


# ---------------------------------------------------------------------------------------
# Parameters stay live
# ---------------------------------------------------------------------------------------

def _param_cases():
    X, x, S, T = cp.Variable((3, 4)), cp.Variable(6), cp.Variable((4, 4)), cp.Variable((2, 3, 4))
    P = cp.Parameter((2, 3), value=C23)
    p = cp.Parameter(3, value=np.array([1.0, -1.0, 2.0]))
    q = cp.Parameter(6, value=RNG.standard_normal(6))
    Q = cp.Parameter((4, 4), value=C44)
    B = cp.Parameter((2, 5, 3), value=RNG.standard_normal((2, 5, 3)))
    return {
        "kron(P, X)": (cp.kron(P, X), P),
        "kron(X, P)": (cp.kron(X, P), P),
        "convolve(p, x)": (cp.convolve(p, x), p),
        "P @ X": (P @ X, P),
        "X.T @ P.T": (X.T @ P.T, P),
        "multiply(p, X[:, 1:])": (cp.multiply(p[:, None], X[:, 1:]), p),
        "cumsum(multiply(q, x))": (cp.cumsum(cp.multiply(q, x)), q),
        "diag(q) + diag(x)": (cp.diag(q) + cp.diag(x), q),
        "trace(Q @ S)": (cp.trace(Q @ S), Q),
        "trace(S @ Q[::-1])": (cp.trace(S @ Q[::-1]), Q),
        "sum(multiply(Q, S), 0)": (cp.sum(cp.multiply(Q, S), axis=0), Q),
        "x[::-1] - q": (x[::-1] - q, q),
        "batched B @ T": (B @ T, B),
        "hstack(x, q)": (cp.hstack([x, q]), q),
    }


PARAM_CASES = _param_cases()


@pytest.mark.parametrize("name", list(PARAM_CASES))
def test_parameter_change_is_followed_without_recompiling(name):
    expr, param = PARAM_CASES[name]
    amap, refreshable = _compile(expr)
    _draw(expr)
    _assert_equals_cvxpy(amap, expr)
    param.value = 3.0 * param.value + 1.0
    changed = [op.refresh() for op in refreshable]
    _assert_equals_cvxpy(amap, expr)
    if refreshable:
        assert any(changed)
    for op in amap.blocks.values():
        _dot_test(op)
        np.testing.assert_allclose(op.to_sparse().toarray(), _dense_by_matvec(op), rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------------------
# The reported bug: negative-step slices compile (they used to give an empty block)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [slice(None, None, -1), slice(None, None, -2), slice(4, None, -1),
                                 slice(-1, -7, -1), slice(3, 0, -1)])
def test_negative_step_slices_compile_in_a_problem(key):
    x = cp.Variable(6)
    obj = cp.Minimize(cp.sum_squares(x[key] - 1) + cp.norm1(x))
    prog = sl.Problem(obj).compile()
    for _ in range(3):
        x.value = RNG.standard_normal(6)
        assert prog.user_objective(x.value) == pytest.approx(obj.value, rel=1e-12)


# ---------------------------------------------------------------------------------------
# End to end against Clarabel
# ---------------------------------------------------------------------------------------

def _solves():
    b = RNG.standard_normal(10)
    x = cp.Variable(8)
    yield "cumsum fista", "fista", cp.Minimize(cp.sum_squares(cp.cumsum(x)[::-1] - b[:8]) + 0.1 * cp.norm1(x)), []
    x = cp.Variable(8)
    yield "cumsum admm", "admm", cp.Minimize(cp.sum_squares(cp.cumsum(x) - b[:8])), [x >= -0.3]
    x = cp.Variable(8)
    yield "reverse+diff", "admm", cp.Minimize(cp.sum_squares(x[::-1] - b[:8]) + cp.norm1(cp.diff(x))), []
    X = cp.Variable((3, 3))
    yield "kron+trace", "admm", cp.Minimize(cp.sum_squares(cp.kron(C23[:, :2], X) - 1)), [cp.trace(X) == 1]
    x = cp.Variable(8)
    yield "convolve", "fista", cp.Minimize(cp.sum_squares(cp.convolve(np.array([1.0, -2.0, 0.5]), x) - b)
                                           + 0.1 * cp.norm1(x)), []
    X = cp.Variable((4, 4))
    yield "diag+upper_tri", "admm", cp.Minimize(cp.sum_squares(X - C44) + cp.sum_squares(cp.diag(X) - 1)), \
        [cp.upper_tri(X) == 0.5]
    X = cp.Variable((3, 4))
    yield "reshape C+sum", "admm", cp.Minimize(cp.sum_squares(cp.reshape(X, (4, 3), order="C") @ np.ones(3) - 1)
                                               + cp.sum_squares(X)), [cp.sum(X, axis=0, keepdims=True) >= 0.2]


@pytest.mark.parametrize("name,backend,obj,cons", [pytest.param(*c, id=c[0]) for c in _solves()])
def test_solves_match_clarabel(name, backend, obj, cons):
    res = sl.Problem(obj, cons).solve(backend=backend, tol=1e-8)
    assert res.status is sl.Status.OPTIMAL, (name, res.status, res.message)
    ref = cp.Problem(obj, cons).solve(solver="CLARABEL")
    assert res.objective == pytest.approx(ref, rel=1e-6, abs=1e-7)


def test_resolve_follows_a_parameter_inside_convolve():
    x = cp.Variable(8)
    k = cp.Parameter(3, value=np.array([1.0, -2.0, 0.5]))
    y = RNG.standard_normal(10)
    obj = cp.Minimize(cp.sum_squares(cp.convolve(k, x) - y) + 0.1 * cp.norm1(x))
    prob = sl.Problem(obj)
    for kernel in ([1.0, -2.0, 0.5], [0.3, 1.0, 0.3]):
        k.value = np.array(kernel)
        res = prob.solve(backend="fista", tol=1e-8)
        assert res.status is sl.Status.OPTIMAL, res.message
        ref = _quiet(lambda: cp.Problem(obj).solve(solver="CLARABEL"))  # (not DPP: CVXPY warns)
        assert res.objective == pytest.approx(ref, rel=1e-6)
    assert prob.compile_count == 1


# ---------------------------------------------------------------------------------------
# Refusals name the user's atom
# ---------------------------------------------------------------------------------------

class shift_down(AffAtom):
    """An affine atom outside solvelab's table (a stand-in for a future CVXPY atom)."""

    def shape_from_args(self):
        return self.args[0].shape

    def numeric(self, values):
        return np.roll(values[0], 1)


def test_an_affine_atom_outside_the_table_is_refused_by_name():
    x = cp.Variable(4)
    with pytest.raises(UnsupportedAtomError, match=r"'cp\.shift_down'.*write it with the atoms"):
        sl.Problem(cp.Minimize(cp.sum_squares(shift_down(x) - 1))).compile()


def test_a_non_affine_argument_of_an_affine_atom_is_refused_naming_the_atom():
    x = cp.Variable(4)
    with pytest.raises(UnsupportedAtomError, match="cumsum"):
        sl.Problem(cp.Minimize(cp.sum(cp.cumsum(cp.abs(x))))).compile()
    with pytest.raises(UnsupportedAtomError, match="cumsum"):
        sl.Problem(cp.Minimize(cp.sum_squares(x)), [cp.cumsum(cp.abs(x)) <= 1]).compile()
