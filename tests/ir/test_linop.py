"""Linear operator algebra: adjoint dot-tests, materialization, norm estimates,
Gram diagonals, versions and shape errors, for every operator and constructor."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from solvelab.errors import ShapeError
from solvelab.ir import linop as L


def _rng(seed=0):
    return np.random.default_rng(seed)


def _randn(*shape, seed=0):
    return _rng(seed).standard_normal(shape)


def _sparse(m, n, seed=0, fmt="csr"):
    return sp.random(m, n, density=0.4, format=fmt, random_state=seed, data_rvs=_rng(seed).standard_normal)


def _clustered(n, seed=0):
    """A square matrix whose top singular values are 1, 0.9999, 0.9998, ...: hard for
    power iteration."""
    rng = _rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.concatenate([1.0 - 1e-4 * np.arange(20), np.linspace(0.5, 0.01, n - 20)])
    return (U * s) @ V.T


# id -> factory. Each factory builds a fresh operator.
CASES = {
    "matrix_dense": lambda: L.MatrixOperator(_randn(7, 5)),
    "matrix_sparse_csr": lambda: L.MatrixOperator(_sparse(8, 6)),
    "matrix_sparse_csc": lambda: L.MatrixOperator(_sparse(6, 9, seed=1, fmt="csc")),
    "matrix_sparse_coo": lambda: L.MatrixOperator(_sparse(5, 5, seed=2, fmt="coo")),
    "matrix_1d_row": lambda: L.MatrixOperator(_randn(6)),
    "dense_operator": lambda: L.DenseOperator(_randn(4, 9, seed=3)),
    "sparse_operator": lambda: L.SparseOperator(_sparse(9, 4, seed=4).toarray()),
    "identity": lambda: L.IdentityOperator(6),
    "zero": lambda: L.ZeroOperator((4, 6)),
    "diagonal": lambda: L.DiagonalOperator(_randn(6, seed=5)),
    "gather_repeated": lambda: L.GatherOperator([3, 0, 0, 5, 3, 3, 1], 6),
    "gather_permutation": lambda: L.GatherOperator([2, 0, 1, 3], 4),
    "reduce_all": lambda: L.ReduceSumOperator(3, 4, None),
    "reduce_axis0": lambda: L.ReduceSumOperator(3, 4, 0),
    "reduce_axis1": lambda: L.ReduceSumOperator(3, 4, 1),
    "matmul_left_dense": lambda: L.MatMulOperator(L.MatrixOperator(_randn(4, 3, seed=6)), "left", 5),
    "matmul_left_sparse": lambda: L.MatMulOperator(L.MatrixOperator(_sparse(4, 3, seed=7)), "left", 2),
    "matmul_right_dense": lambda: L.MatMulOperator(L.MatrixOperator(_randn(3, 5, seed=8)), "right", 4),
    "matmul_right_sparse": lambda: L.MatMulOperator(L.MatrixOperator(_sparse(5, 3, seed=9)), "right", 2),
    "adjoint": lambda: L.AdjointOperator(L.MatrixOperator(_randn(7, 5, seed=10))),
    "adjoint_of_gather": lambda: L.GatherOperator([3, 0, 0, 5], 6).T,
    "scaled": lambda: L.ScaledOperator(L.MatrixOperator(_randn(5, 4, seed=11)), -2.5),
    "sum": lambda: L.SumOperator([L.MatrixOperator(_randn(6, 6, seed=12)),
                                  L.DiagonalOperator(_randn(6, seed=13)),
                                  L.GatherOperator([5, 4, 3, 2, 1, 0], 6)]),
    "composed": lambda: L.ComposedOperator(L.MatrixOperator(_randn(4, 7, seed=14)),
                                           L.GatherOperator([0, 2, 2, 1, 4, 3, 0], 5)),
    "vstack": lambda: L.VStackOperator([L.MatrixOperator(_randn(3, 5, seed=15)), L.IdentityOperator(5),
                                        L.ReduceSumOperator(5, 1, None)]),
    "blockrow": lambda: L.BlockRowOperator([(0, L.MatrixOperator(_randn(4, 3, seed=16))),
                                            (5, L.DiagonalOperator(_randn(4, seed=17))),
                                            (2, L.GatherOperator([0, 0, 3, 1], 4))], n=10),
    "blockrow_empty_rows": lambda: L.BlockRowOperator([], n=4, m=3),
    # the simplifying constructors and operator syntax
    "scale_of_scale": lambda: L.scale(L.scale(L.MatrixOperator(_randn(3, 4, seed=18)), 2.0), -0.5),
    "add_flattens": lambda: L.add(L.add(L.MatrixOperator(_randn(4, 4, seed=19)), L.IdentityOperator(4)),
                                  L.add(L.DiagonalOperator(_randn(4, seed=20)), L.ZeroOperator((4, 4)))),
    "compose_gathers": lambda: L.compose(L.GatherOperator([1, 1, 0], 3), L.GatherOperator([4, 2, 0], 5)),
    "compose_diagonals": lambda: L.compose(L.DiagonalOperator(_randn(4, seed=21)), L.DiagonalOperator(_randn(4, seed=22))),
    "compose_scaled": lambda: L.compose(L.scale(L.MatrixOperator(_randn(3, 4, seed=23)), 3.0),
                                        L.scale(L.DiagonalOperator(_randn(4, seed=24)), -1.0)),
    "syntax_mixed": lambda: (2.0 * L.MatrixOperator(_randn(5, 3, seed=25)) - L.MatrixOperator(_sparse(5, 3, seed=26))
                             @ L.IdentityOperator(3)) @ L.GatherOperator([2, 0, 1], 3),
    "neg_adjoint": lambda: -(L.MatrixOperator(_randn(3, 6, seed=27)).T),
    # large ones: the Lanczos path of norm_est
    "large_dense": lambda: L.MatrixOperator(_randn(200, 150, seed=28)),
    "large_clustered": lambda: L.MatrixOperator(_clustered(120, seed=29)),
    "large_matrix_free": lambda: L.add(L.MatMulOperator(L.MatrixOperator(_randn(30, 20, seed=30)), "left", 8),
                                       L.ScaledOperator(L.MatrixOperator(_sparse(240, 160, seed=34)), 0.5)),
    "large_sum_composed": lambda: L.compose(L.MatrixOperator(_randn(90, 100, seed=31)),
                                            L.add(L.DiagonalOperator(_randn(100, seed=32)),
                                                  L.MatrixOperator(_sparse(100, 100, seed=33)))),
}
IDS = list(CASES)


def reference(op):
    """The operator's matrix, column by column from matvec (independent of to_sparse)."""
    m, n = op.shape
    return np.column_stack([op.matvec(e) for e in np.eye(n)]) if n else np.zeros((m, 0))


@pytest.mark.parametrize("key", IDS)
def test_adjoint_dot_test(key):
    op = CASES[key]()
    m, n = op.shape
    rng = _rng(1)
    for _ in range(5):
        x, y = rng.standard_normal(n), rng.standard_normal(m)
        Ax, ATy = op.matvec(x), op.rmatvec(y)
        assert Ax.shape == (m,) and ATy.shape == (n,)
        lhs, rhs = float(Ax @ y), float(x @ ATy)
        scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(ATy)
        assert abs(lhs - rhs) <= 1e-12 * max(scale, 1e-300) or lhs == rhs == 0.0, (lhs, rhs)
    # the adjoint operator is the transpose, and .T.T gives the operator back
    np.testing.assert_allclose(reference(op.T), reference(op).T, rtol=1e-13, atol=1e-13)
    assert op.T.T is op or op.T.T.shape == op.shape


@pytest.mark.parametrize("key", IDS)
def test_materialization_agrees_with_matvec(key):
    op = CASES[key]()
    R = reference(op)
    S = op.to_sparse()
    assert sp.issparse(S) and S.shape == op.shape
    np.testing.assert_allclose(S.toarray(), R, rtol=1e-13, atol=1e-13)
    D = op.to_dense()
    assert isinstance(D, np.ndarray) and D.shape == op.shape
    np.testing.assert_allclose(D, R, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(op.gram_sparse().toarray(), R.T @ R, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", IDS)
def test_norm_est_is_a_tight_upper_bound(key):
    op = CASES[key]()
    true = np.linalg.norm(reference(op), 2) if min(op.shape) else 0.0
    est = op.norm_est()
    if true == 0.0:
        assert est == 0.0
        return
    assert est >= true * (1 - 1e-6), (est, true)
    assert est <= true * 1.01, (est, true)
    assert op.norm_est() == est  # cached


@pytest.mark.parametrize("key", IDS)
def test_diagonal_of_gram_is_squared_column_norms(key):
    op = CASES[key]()
    R = reference(op)
    np.testing.assert_allclose(op.diagonal_of_gram(), np.sum(R * R, axis=0), rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------------------
# Semantics of the structured operators against NumPy
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_matmul_semantics_on_F_ordered_matrices(side, sparse):
    C = _randn(4, 3, seed=40)
    Cop = L.MatrixOperator(sp.csr_matrix(C) if sparse else C)
    k = 5
    op = L.MatMulOperator(Cop, side, k)
    rng = _rng(41)
    if side == "left":
        X = rng.standard_normal((3, k))
        expected = C @ X
        Y = rng.standard_normal((4, k))
        expected_adj = C.T @ Y
    else:
        X = rng.standard_normal((k, 4))
        expected = X @ C
        Y = rng.standard_normal((k, 3))
        expected_adj = Y @ C.T
    assert op.shape == (expected.size, X.size)
    np.testing.assert_allclose(op.matvec(X.ravel(order="F")), expected.ravel(order="F"), rtol=1e-13)
    np.testing.assert_allclose(op.rmatvec(Y.ravel(order="F")), expected_adj.ravel(order="F"), rtol=1e-13)


@pytest.mark.parametrize("axis", [None, 0, 1], ids=["all", "axis0", "axis1"])
def test_reduce_sum_semantics(axis):
    X = _randn(3, 4, seed=42)
    op = L.ReduceSumOperator(3, 4, axis)
    np.testing.assert_allclose(op.matvec(X.ravel(order="F")), np.atleast_1d(X.sum(axis=axis)).ravel(), rtol=1e-14)


def test_gather_semantics_and_repeated_index_adjoint():
    idx = np.array([3, 0, 0, 5, 3, 3, 1])
    op = L.GatherOperator(idx, 6)
    x = _randn(6, seed=43)
    np.testing.assert_array_equal(op.matvec(x), x[idx])
    y = _randn(7, seed=44)
    expected = np.zeros(6)
    np.add.at(expected, idx, y)
    np.testing.assert_allclose(op.rmatvec(y), expected, rtol=1e-15)
    assert not op.is_selection()
    assert L.GatherOperator([2, 0, 1], 3).is_selection()
    assert L.GatherOperator(np.arange(4), 4).is_identity()


def test_simplifying_constructors_build_the_expected_nodes():
    A = L.MatrixOperator(_randn(3, 4, seed=45))
    Z = L.ZeroOperator((3, 4))
    I = L.IdentityOperator(4)
    assert L.scale(A, 1.0) is A
    s = L.scale(L.scale(A, 2.0), 3.0)
    assert isinstance(s, L.ScaledOperator) and s.A is A and s.alpha == 6.0
    assert L.scale(Z, 5.0) is Z
    assert L.add(A, Z) is A and L.add(Z, A) is A
    sm = L.add(L.add(A, A), L.add(A, A))
    assert isinstance(sm, L.SumOperator) and len(sm.ops) == 4
    assert L.compose(A, I) is A and L.compose(L.IdentityOperator(3), A) is A
    assert isinstance(L.compose(A, L.ZeroOperator((4, 2))), L.ZeroOperator)
    g = L.compose(L.GatherOperator([1, 1, 0], 3), L.GatherOperator([4, 2, 0], 5))
    assert isinstance(g, L.GatherOperator) and list(g.idx) == [2, 2, 4]
    d = L.compose(L.DiagonalOperator([1.0, 2.0]), L.DiagonalOperator([3.0, -1.0]))
    assert isinstance(d, L.DiagonalOperator) and list(d.d) == [3.0, -2.0]
    c = L.compose(L.scale(A, 2.0), I @ L.scale(L.DiagonalOperator(np.ones(4)), -1.0))
    assert isinstance(c, L.ScaledOperator) and c.alpha == -2.0
    assert L.aslinearoperator(A) is A
    assert isinstance(L.aslinearoperator(np.eye(2)), L.MatrixOperator)


def test_blockrow_selection_and_columns():
    G = L.GatherOperator([2, 0], 3)
    op = L.BlockRowOperator([(4, G)], n=8)
    np.testing.assert_array_equal(op.selection(), [6, 4])
    np.testing.assert_array_equal(op.columns_touched(), [False] * 4 + [True] * 3 + [False])
    two = L.BlockRowOperator([(0, L.IdentityOperator(2)), (3, L.IdentityOperator(2))], n=5)
    assert two.selection() is None


# ---------------------------------------------------------------------------------------
# Versions follow the numbers
# ---------------------------------------------------------------------------------------

class _Source:
    """A parameter-like source; ``inplace`` hands back the same array every time."""

    def __init__(self, value, inplace=False):
        self.value, self.inplace = value, inplace

    def __call__(self):
        if self.inplace:
            return self.value
        return self.value.copy() if isinstance(self.value, np.ndarray) else self.value.copy()


@pytest.mark.parametrize("inplace", [False, True], ids=["fresh_array", "same_array"])
@pytest.mark.parametrize("kind", ["dense", "sparse", "row"])
def test_matrix_version_follows_source_values(kind, inplace):
    M0 = {"dense": _randn(4, 3, seed=50), "sparse": _sparse(4, 3, seed=51), "row": _randn(3, seed=52)}[kind]
    src = _Source(M0, inplace)
    op = L.MatrixOperator(source=src)
    derived = [L.scale(op, 2.0), op.T, L.MatMulOperator(op, "left", 2), L.add(op, op),
               L.VStackOperator([op, op]), L.BlockRowOperator([(1, op)], n=op.shape[1] + 2)]
    v0, dv0 = op.version, [d.version for d in derived]
    n0 = op.norm_est()
    assert op.refresh() is False
    assert op.version == v0 and [d.version for d in derived] == dv0
    # change the values (in place when the source hands back the same array)
    if kind == "sparse":
        src.value.data *= 3.0
    else:
        src.value *= 3.0
    assert op.refresh() is True
    assert op.version != v0
    assert all(d.version != v for d, v in zip(derived, dv0))
    assert op.norm_est() == pytest.approx(3.0 * n0, rel=1e-9)
    x = _randn(op.shape[1], seed=53)
    M = src.value.toarray() if kind == "sparse" else np.atleast_2d(src.value)
    np.testing.assert_allclose(op.matvec(x), M @ x, rtol=1e-13)
    # and unchanged again
    v1 = op.version
    assert op.refresh() is False and op.version == v1


def test_diagonal_version_follows_source_values():
    d = _randn(5, seed=54)
    op = L.DiagonalOperator(source=lambda: d)
    v0 = op.version
    assert op.refresh() is False and op.version == v0
    d[2] += 1.0
    assert op.refresh() is True and op.version != v0
    np.testing.assert_allclose(op.matvec(np.ones(5)), d)


def test_operators_without_source_never_change_version():
    op = L.MatrixOperator(_randn(2, 2, seed=55))
    v = op.version
    assert op.refresh() is False and op.version == v
    assert L.IdentityOperator(3).version == L.IdentityOperator(3).version
    assert L.MatrixOperator(np.eye(2)).version != L.MatrixOperator(np.eye(2)).version


def test_refresh_rejects_a_source_that_changes_shape():
    holder = {"M": _randn(3, 2, seed=56)}
    op = L.MatrixOperator(source=lambda: holder["M"])
    holder["M"] = _randn(2, 3, seed=57)
    with pytest.raises(ShapeError, match=r"\(3, 2\).*\(2, 3\)"):
        op.refresh()


# ---------------------------------------------------------------------------------------
# Shape errors name the shapes
# ---------------------------------------------------------------------------------------

def test_matvec_shape_errors():
    op = L.MatrixOperator(_randn(3, 4, seed=58))
    with pytest.raises(ShapeError, match=r"3x4.*length 4.*\(5,\)"):
        op.matvec(np.ones(5))
    with pytest.raises(ShapeError, match=r"length 3.*\(4,\)"):
        op.rmatvec(np.ones(4))
    with pytest.raises(ShapeError, match=r"\(4, 1\)"):
        op.matvec(np.ones((4, 1)))


@pytest.mark.parametrize("build", [
    lambda A, B: L.add(A, B),
    lambda A, B: A + B,
    lambda A, B: A - B,
    lambda A, B: L.SumOperator([A, B]),
    lambda A, B: L.compose(A, A),
    lambda A, B: A @ A,
    lambda A, B: L.ComposedOperator(A, A),
    lambda A, B: L.VStackOperator([A, B]),
], ids=["add", "plus", "minus", "SumOperator", "compose", "matmul", "ComposedOperator", "VStack"])
def test_combination_shape_errors_name_both_shapes(build):
    A = L.MatrixOperator(_randn(3, 4, seed=59))
    B = L.MatrixOperator(_randn(4, 3, seed=60))
    with pytest.raises(ShapeError) as err:
        build(A, B)
    msg = str(err.value)
    assert "(3, 4)" in msg, msg


def test_structural_shape_errors():
    with pytest.raises(ShapeError, match="length 3"):
        L.GatherOperator([0, 3], 3)
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(2, 4\)"):
        L.BlockRowOperator([(2, L.MatrixOperator(np.ones((2, 3))))], n=4)
    with pytest.raises(ShapeError):
        L.BlockRowOperator([(-1, L.MatrixOperator(np.ones((2, 3))))], n=4)
    with pytest.raises(ShapeError):
        L.BlockRowOperator([(0, L.MatrixOperator(np.ones((2, 3)))), (0, L.MatrixOperator(np.ones((3, 3))))], n=4)
    with pytest.raises(ValueError):
        L.MatMulOperator(L.MatrixOperator(np.ones((2, 2))), "middle", 2)


def test_malformed_operators_get_named_errors():
    with pytest.raises(ShapeError, match="axis must be None, 0 or 1"):
        L.ReduceSumOperator(3, 4, axis=2)
    with pytest.raises(ShapeError, match="at least one operator"):
        L.SumOperator([])
    with pytest.raises(ShapeError, match="at least one operator"):
        L.VStackOperator([])


def test_to_dense_does_not_hand_out_the_operator_data():
    M = np.arange(6.0).reshape(2, 3)
    op = L.MatrixOperator(M)
    D = op.to_dense()
    D[0, 0] = 99.0
    assert np.array_equal(op.matvec(np.array([1.0, 0.0, 0.0])), [0.0, 3.0])
