"""Matrix-free linear operators and their algebra.

Every operator maps a flat vector of length ``shape[1]`` to one of length ``shape[0]``.
Matrices over CVXPY expressions are flattened in column-major ('F') order, as CVXPY
does. Operators never materialize a matrix unless a backend asks (``to_sparse``,
``to_dense``); the norm estimate is computed once and cached.

``version`` identifies the numeric content of an operator: two calls with the same
version are guaranteed to act identically, so factorization caches key on it. Operators
whose data comes from a CVXPY Parameter bump their version when the value changes.
"""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import ShapeError

_ids = itertools.count(1)

#: operators with min(m, n) at most this get an exact norm from their small Gram matrix
_EXACT_NORM_DIM = 64


def _as_1d(x: np.ndarray, n: int, who: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1 or x.shape[0] != n:
        raise ShapeError(f"{who}: expected a vector of length {n}, got shape {x.shape}")
    return x


class LinearOperator:
    """Base class: subclasses implement ``_matvec`` and ``_rmatvec`` on 1-D arrays."""

    kind = "linear"

    def __init__(self, shape: tuple[int, int]):
        self.shape = (int(shape[0]), int(shape[1]))
        self._norm: float | None = None
        self._uid = next(_ids)

    # -- application -------------------------------------------------------------
    def matvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(_as_1d(x, self.shape[1], f"{self!r}.matvec"))

    def rmatvec(self, y: np.ndarray) -> np.ndarray:
        return self._rmatvec(_as_1d(y, self.shape[0], f"{self!r}.rmatvec"))

    def _matvec(self, x):
        raise NotImplementedError

    def _rmatvec(self, y):
        raise NotImplementedError

    def _refresh_array(self, attr: str, ravel: bool = False) -> bool:
        """Re-read ``self._source()`` into the dense array ``attr`` (same shape); True if the
        numbers changed, which bumps the data version and drops the cached norm."""
        if self._source is None:
            return False
        new = np.array(self._source(), dtype=np.float64, copy=True)
        new = new.ravel() if ravel else new
        old = getattr(self, attr)
        if new.shape != old.shape:
            raise ShapeError(f"{type(self).__name__}.refresh: the source changed shape from {old.shape} "
                             f"to {new.shape}")
        if np.array_equal(new, old):
            return False
        setattr(self, attr, new)
        self._data_version += 1
        self._norm = None
        return True

    def __call__(self, x):
        return self.matvec(x)

    # -- identity of the numeric content ------------------------------------------
    @property
    def version(self) -> tuple:
        """Changes whenever the operator's numbers change (see module docstring)."""
        return (self._uid,)

    # -- algebra -------------------------------------------------------------------
    @property
    def T(self) -> "LinearOperator":
        return AdjointOperator(self)

    def adjoint(self) -> "LinearOperator":
        return self.T

    def __matmul__(self, other: "LinearOperator") -> "LinearOperator":
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return compose(self, other)

    def __add__(self, other: "LinearOperator") -> "LinearOperator":
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return add(self, other)

    def __sub__(self, other: "LinearOperator") -> "LinearOperator":
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return add(self, scale(other, -1.0))

    def __mul__(self, alpha: float) -> "LinearOperator":
        return scale(self, float(alpha))

    __rmul__ = __mul__

    def __neg__(self) -> "LinearOperator":
        return scale(self, -1.0)

    # -- materialization (only on a backend's request) -----------------------------
    def to_sparse(self) -> sp.csr_matrix:
        """Materialize as CSR by applying the operator to unit vectors (slow default)."""
        m, n = self.shape
        cols = [sp.csc_matrix(self.matvec(np.eye(1, n, j).ravel()).reshape(m, 1)) for j in range(n)]
        return (sp.hstack(cols, format="csr") if cols else sp.csr_matrix((m, n)))

    def to_dense(self) -> np.ndarray:
        return np.asarray(self.to_sparse().todense())

    def gram_sparse(self) -> sp.csc_matrix:
        """A^T A as a sparse matrix (for factorizations)."""
        S = self.to_sparse()
        return (S.T @ S).tocsc()

    # -- structure queries -----------------------------------------------------------
    def is_identity(self) -> bool:
        return False

    def diagonal_of_gram(self) -> np.ndarray:
        """diag(A^T A): squared column norms (used for scaling and Lipschitz constants)."""
        S = self.to_sparse()
        return np.asarray(S.multiply(S).sum(axis=0)).ravel()

    # -- norm estimate -----------------------------------------------------------------
    def norm_est(self, iters: int = 100, tol: float = 1e-6, seed: int = 0) -> float:
        """||A||_2, from above: exact (small Gram matrix) when min(m, n) is small, else
        Lanczos on A^T A (power iteration as a fallback), times a small safety factor.
        Cached per ``version``."""
        if self._norm is not None and getattr(self, "_norm_version", None) == self.version:
            return self._norm
        m, n = self.shape
        if m == 0 or n == 0:
            val = 0.0
        elif min(m, n) <= _EXACT_NORM_DIM:
            val = self._norm_small()
        else:
            val = self._norm_lanczos(tol, seed)
            if val is None:
                val = self._norm_power(iters, tol, seed)
        self._norm, self._norm_version = float(val), self.version
        return self._norm

    def _norm_small(self) -> float:
        """Exact ||A||_2 from the small Gram matrix (min(m, n) products with A and A^T)."""
        m, n = self.shape
        k = min(m, n)
        G = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = 1.0
            G[:, j] = self.rmatvec(self.matvec(e)) if n <= m else self.matvec(self.rmatvec(e))
        G = 0.5 * (G + G.T)
        lam = float(np.max(np.linalg.eigvalsh(G), initial=0.0))
        # eigvalsh is backward stable: the error is a few ulps of ||G||
        return float(np.sqrt(max(lam, 0.0) * (1.0 + 1e-12)))

    def _norm_lanczos(self, tol, seed) -> float | None:
        """Largest singular value by Lanczos on A^T A (ARPACK); None if it fails."""
        from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh
        from scipy.sparse.linalg import LinearOperator as _SciPyOp
        n = self.shape[1]
        gram = _SciPyOp((n, n), matvec=lambda v: self.rmatvec(self.matvec(np.ravel(v))), dtype=np.float64)
        v0 = np.random.default_rng(seed).standard_normal(n)
        try:
            lam = eigsh(gram, k=1, which="LA", v0=v0, tol=min(tol, 1e-8) * 1e-2,
                        return_eigenvectors=False)
        except (ArpackNoConvergence, ArpackError):
            return None
        lam = float(np.max(lam))
        if not np.isfinite(lam):
            return None
        return float(np.sqrt(max(lam, 0.0)) * (1.0 + 1e-6))

    def _norm_power(self, iters, tol, seed) -> float:
        """Power iteration on A^T A (the fallback when Lanczos fails)."""
        v = np.random.default_rng(seed).standard_normal(self.shape[1])
        v /= np.linalg.norm(v)
        val = 0.0
        for _ in range(iters):
            w = self.rmatvec(self.matvec(v))
            nw = np.linalg.norm(w)
            if nw == 0.0:
                return 0.0
            new = np.sqrt(nw)
            v = w / nw
            if abs(new - val) <= tol * new:
                val = new
                break
            val = new
        return val * (1.0 + 1e-3)  # power iteration underestimates; stay on the safe side

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shape[0]}x{self.shape[1]})"

    def describe(self) -> str:
        return repr(self)


# ---------------------------------------------------------------------------------------
# Leaves
# ---------------------------------------------------------------------------------------

class MatrixOperator(LinearOperator):
    """A dense ndarray or SciPy sparse matrix, possibly fetched lazily from a source.

    ``source`` is a callable returning the current matrix; it lets an operator follow a
    CVXPY Parameter. ``refresh()`` re-reads it and bumps ``version`` only if the values
    changed.
    """

    def __init__(self, matrix=None, source: Callable[[], object] | None = None):
        if matrix is None:
            if source is None:
                raise ValueError("MatrixOperator needs a matrix or a source")
            matrix = source()
        self._source = source
        self.M = self._normalize(matrix, copy=source is not None)
        super().__init__(self.M.shape)
        self._data_version = 0

    @staticmethod
    def _normalize(matrix, copy: bool = False):
        """CSR/CSC or 2-D float64 ndarray. ``copy``: never alias the caller's array (a
        source may hand back the same array mutated in place; aliasing it would hide
        the change from ``refresh``)."""
        if sp.issparse(matrix):
            M = matrix.tocsr() if matrix.format not in ("csr", "csc") else matrix
            if M.dtype != np.float64:
                M = M.astype(np.float64)
            elif copy and M is matrix:
                M = M.copy()
        else:
            M = np.array(matrix, dtype=np.float64, copy=True) if copy else np.asarray(matrix, dtype=np.float64)
            if M.ndim == 1:
                M = M.reshape(1, -1)
            elif M.ndim == 0:
                M = M.reshape(1, 1)
        return M

    def _set(self, matrix):
        self.M = self._normalize(matrix, copy=self._source is not None)

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.M)

    def refresh(self) -> bool:
        """Re-read a parametric source; return True if the numbers changed."""
        if self._source is None:
            return False
        new = self._normalize(self._source(), copy=True)
        old = self.M
        if new.shape != old.shape:
            raise ShapeError(f"MatrixOperator.refresh: the source changed shape from {old.shape} to {new.shape}")
        if sp.issparse(new) or sp.issparse(old):
            d = new - old
            d = d.toarray() if sp.issparse(d) else np.asarray(d)
        else:
            d = new - old
        if not np.any(d != 0) and not np.any(np.isnan(d)):
            return False
        self.M = new
        self._data_version += 1
        self._norm = None
        return True

    @property
    def version(self):
        return (self._uid, self._data_version)

    def _matvec(self, x):
        return np.asarray(self.M @ x).ravel()

    def _rmatvec(self, y):
        return np.asarray(self.M.T @ y).ravel()

    def _norm_small(self) -> float:
        """``LinearOperator._norm_small`` with the small Gram matrix as one product (M^T M
        or M M^T) instead of min(m, n) pairs of mat-vecs (~2 ms of SciPy calls at k = 27)."""
        M = self.M
        m, n = M.shape
        G = (M.T @ M) if n <= m else (M @ M.T)
        G = G.toarray() if sp.issparse(G) else np.asarray(G)
        G = 0.5 * (G + G.T)
        lam = float(np.max(np.linalg.eigvalsh(G), initial=0.0))
        return float(np.sqrt(max(lam, 0.0) * (1.0 + 1e-12)))

    def to_sparse(self):
        return self.M.tocsr() if self.sparse else sp.csr_matrix(self.M)

    def to_dense(self):
        return self.M.toarray() if self.sparse else np.array(self.M, copy=True)  # never hand out our data

    def diagonal_of_gram(self):
        if self.sparse:
            return np.asarray(self.M.multiply(self.M).sum(axis=0)).ravel()
        return np.einsum("ij,ij->j", self.M, self.M)

    def describe(self):
        kind = f"sparse {self.M.format}, nnz={self.M.nnz}" if self.sparse else "dense"
        return f"Matrix({self.shape[0]}x{self.shape[1]}, {kind})"


def DenseOperator(M) -> MatrixOperator:
    return MatrixOperator(np.asarray(M, dtype=np.float64))


def SparseOperator(M) -> MatrixOperator:
    return MatrixOperator(sp.csr_matrix(M))


class IdentityOperator(LinearOperator):
    def __init__(self, n: int):
        super().__init__((n, n))

    def _matvec(self, x):
        return x.astype(np.float64, copy=True)

    _rmatvec = _matvec

    @property
    def version(self):
        return ("I", self.shape[0])

    def is_identity(self):
        return True

    def to_sparse(self):
        return sp.identity(self.shape[0], format="csr")

    def diagonal_of_gram(self):
        return np.ones(self.shape[0])

    def norm_est(self, *a, **k):
        return 1.0 if self.shape[0] else 0.0

    def describe(self):
        return f"I({self.shape[0]})"


class ZeroOperator(LinearOperator):
    def _matvec(self, x):
        return np.zeros(self.shape[0])

    def _rmatvec(self, y):
        return np.zeros(self.shape[1])

    @property
    def version(self):
        return ("0",) + self.shape

    def to_sparse(self):
        return sp.csr_matrix(self.shape)

    def diagonal_of_gram(self):
        return np.zeros(self.shape[1])

    def norm_est(self, *a, **k):
        return 0.0


class DiagonalOperator(LinearOperator):
    """y = d * x; ``d`` may follow a Parameter through ``source``."""

    def __init__(self, d=None, source: Callable[[], np.ndarray] | None = None):
        self._source = source
        self.d = np.array(d if d is not None else source(), dtype=np.float64, copy=True).ravel()
        super().__init__((self.d.size, self.d.size))
        self._data_version = 0

    def refresh(self) -> bool:
        return self._refresh_array("d", ravel=True)

    @property
    def version(self):
        return (self._uid, self._data_version)

    def _matvec(self, x):
        return self.d * x

    _rmatvec = _matvec

    def to_sparse(self):
        return sp.diags(self.d, format="csr")

    def diagonal_of_gram(self):
        return self.d ** 2

    def norm_est(self, *a, **k):
        return float(np.max(np.abs(self.d), initial=0.0))

    def describe(self):
        return f"Diag({self.shape[0]})"


class GatherOperator(LinearOperator):
    """y = x[idx]: index/slice, transpose, promote and any other entry selection.

    The adjoint scatters with accumulation, so repeated indices (promotion of a scalar to
    a vector) are handled exactly.
    """

    def __init__(self, idx: np.ndarray, n: int):
        self.idx = np.asarray(idx, dtype=np.int64).ravel()
        if self.idx.size and (self.idx.min() < 0 or self.idx.max() >= n):
            raise ShapeError(f"GatherOperator: index out of range for length {n}")
        super().__init__((self.idx.size, n))
        self._injective = None

    @property
    def version(self):
        return (self._uid,)

    def _matvec(self, x):
        return x[self.idx].astype(np.float64, copy=False)

    def _rmatvec(self, y):
        return np.bincount(self.idx, weights=y, minlength=self.shape[1]).astype(np.float64)

    def is_identity(self):
        return self.shape[0] == self.shape[1] and bool(np.array_equal(self.idx, np.arange(self.shape[1])))

    def is_selection(self) -> bool:
        """True if no index repeats (each output picks a distinct input)."""
        if self._injective is None:
            self._injective = bool(np.unique(self.idx).size == self.idx.size)
        return self._injective

    def to_sparse(self):
        m, n = self.shape
        return sp.csr_matrix((np.ones(m), (np.arange(m), self.idx)), shape=(m, n))

    def diagonal_of_gram(self):
        return np.bincount(self.idx, minlength=self.shape[1]).astype(np.float64)

    def norm_est(self, *a, **k):
        return float(np.sqrt(np.max(self.diagonal_of_gram(), initial=0.0)))

    def describe(self):
        return f"Gather({self.shape[0]} of {self.shape[1]})"


class ReduceSumOperator(LinearOperator):
    """Sum of a (rows x cols) F-ordered matrix along ``axis`` (None: all entries)."""

    def __init__(self, rows: int, cols: int, axis: int | None):
        if axis not in (None, 0, 1):
            raise ShapeError(f"sum over axis {axis!r} of a {rows}x{cols} matrix: axis must be None, 0 or 1")
        self.rows, self.cols, self.axis = int(rows), int(cols), axis
        m = 1 if axis is None else (cols if axis == 0 else rows)
        super().__init__((m, rows * cols))

    @property
    def version(self):
        return ("sum", self.rows, self.cols, self.axis)

    def _matvec(self, x):
        if self.axis is None:
            return np.array([x.sum()], dtype=np.float64)
        X = x.reshape(self.rows, self.cols, order="F")
        return np.asarray(X.sum(axis=self.axis), dtype=np.float64).ravel()

    def _rmatvec(self, y):
        if self.axis is None:
            return np.full(self.rows * self.cols, float(y[0]))
        if self.axis == 0:
            Y = np.broadcast_to(y.reshape(1, self.cols), (self.rows, self.cols))
        else:
            Y = np.broadcast_to(y.reshape(self.rows, 1), (self.rows, self.cols))
        return np.asarray(Y, dtype=np.float64).ravel(order="F")

    def to_sparse(self):
        r, c = self.rows, self.cols
        j = np.arange(r * c)
        if self.axis is None:
            i = np.zeros(r * c, dtype=np.int64)
        elif self.axis == 0:
            i = j // r
        else:
            i = j % r
        return sp.csr_matrix((np.ones(r * c), (i, j)), shape=self.shape)


class MatMulOperator(LinearOperator):
    """Left or right multiplication of an F-ordered matrix variable by a constant.

    side='left':  X (n x k) -> C @ X,   C is (m x n)
    side='right': X (m x n) -> X @ C,   C is (n x k)
    """

    def __init__(self, C: MatrixOperator, side: str, other: int):
        if side not in ("left", "right"):
            raise ValueError(f"MatMulOperator: side must be 'left' or 'right', got {side!r}")
        self.C, self.side, self.other = C, side, int(other)
        m, n = C.shape
        if side == "left":
            shape = (m * other, n * other)
        else:
            shape = (other * n, other * m)
        super().__init__(shape)

    @property
    def version(self):
        return (self._uid,) + self.C.version

    def refresh(self):
        return self.C.refresh()

    def _matvec(self, x):
        C = self.C.M
        if self.side == "left":
            X = x.reshape(C.shape[1], self.other, order="F")
            return np.asarray(C @ X).ravel(order="F")
        X = x.reshape(self.other, C.shape[0], order="F")
        return np.asarray((C.T @ X.T).T).ravel(order="F")

    def _rmatvec(self, y):
        C = self.C.M
        if self.side == "left":
            Y = y.reshape(C.shape[0], self.other, order="F")
            return np.asarray(C.T @ Y).ravel(order="F")
        Y = y.reshape(self.other, C.shape[1], order="F")
        return np.asarray((C @ Y.T).T).ravel(order="F")

    def to_sparse(self):
        C = self.C.to_sparse()
        eye = sp.identity(self.other, format="csr")
        if self.side == "left":
            return sp.kron(eye, C, format="csr")
        return sp.kron(C.T, eye, format="csr")

    def describe(self):
        return f"MatMul[{self.side}]({self.C.describe()}, k={self.other})"


class MaskedGatherOperator(LinearOperator):
    """y_i = x[idx_i] where idx_i >= 0, else 0 (idx_i == -1).

    A rearrangement that also places structural zeros: diag of a vector, the strictly
    lower part of vec_to_upper_tri. The adjoint scatters with accumulation.
    """

    def __init__(self, idx: np.ndarray, n: int):
        self.idx = np.asarray(idx, dtype=np.int64).ravel()
        if self.idx.size and (self.idx.min() < -1 or self.idx.max() >= n):
            raise ShapeError(f"MaskedGatherOperator: index out of range [-1, {n})")
        self._rows = np.flatnonzero(self.idx >= 0)
        self._cols = self.idx[self._rows]
        super().__init__((self.idx.size, n))

    def _matvec(self, x):
        out = np.zeros(self.shape[0])
        out[self._rows] = x[self._cols]
        return out

    def _rmatvec(self, y):
        return np.bincount(self._cols, weights=y[self._rows], minlength=self.shape[1]).astype(np.float64)

    def to_sparse(self):
        return sp.csr_matrix((np.ones(self._rows.size), (self._rows, self._cols)), shape=self.shape)

    def diagonal_of_gram(self):
        return np.bincount(self._cols, minlength=self.shape[1]).astype(np.float64)

    def norm_est(self, *a, **k):
        return float(np.sqrt(np.max(self.diagonal_of_gram(), initial=0.0)))

    def describe(self):
        return f"MaskedGather({self._rows.size} of {self.shape[0]} rows from {self.shape[1]})"


def _split_axis(shape: tuple, axis: int) -> tuple[int, int, int]:
    """(before, along, after) sizes: an F-ordered array of ``shape`` reshaped (F order)
    to these three dimensions keeps ``axis`` as the middle one."""
    shape = tuple(int(d) for d in shape) or (1,)
    axis = int(axis) % len(shape)
    return (int(np.prod(shape[:axis])), shape[axis], int(np.prod(shape[axis + 1:])))


class CumsumOperator(LinearOperator):
    """Cumulative sum along ``axis`` of an F-ordered array of ``shape`` (cvxpy.cumsum).

    The adjoint is the reversed cumulative sum along the same axis.
    """

    def __init__(self, shape: tuple, axis: int):
        self.dims = _split_axis(shape, axis)
        n = int(np.prod(self.dims))
        super().__init__((n, n))

    @property
    def version(self):
        return ("cumsum",) + self.dims

    def _matvec(self, x):
        X = x.reshape(self.dims, order="F")
        return np.cumsum(X, axis=1, dtype=np.float64).ravel(order="F")

    def _rmatvec(self, y):
        Y = y.reshape(self.dims, order="F")[:, ::-1, :]
        return np.cumsum(Y, axis=1, dtype=np.float64)[:, ::-1, :].ravel(order="F")

    def to_sparse(self):
        pre, dim, post = self.dims
        i, j = np.tril_indices(dim)
        tril = sp.csr_matrix((np.ones(i.size), (i, j)), shape=(dim, dim))
        eye = lambda k: sp.identity(k, format="csr")  # noqa: E731
        return sp.kron(sp.kron(eye(post), tril), eye(pre), format="csr")

    def describe(self):
        return f"Cumsum({'x'.join(map(str, self.dims))}, axis=1)"


class KronOperator(LinearOperator):
    """X (m x n) -> kron(C, X) (``const_first``) or kron(X, C), C (p x q) a constant.

    Entry (i, j) of C times entry (r, s) of X lands in the F-ordered output viewed as the
    4-D array (m, p, n, q)[r, i, s, j] for kron(C, X), (p, m, q, n)[i, r, j, s] for
    kron(X, C); so both directions are one einsum, with no Kronecker matrix formed.
    """

    def __init__(self, C: MatrixOperator, var_shape: tuple, const_first: bool):
        self.C, self.const_first = C, bool(const_first)
        self.m, self.n = (int(d) for d in var_shape)
        p, q = C.shape
        super().__init__((p * self.m * q * self.n, self.m * self.n))

    @property
    def version(self):
        return (self._uid,) + self.C.version

    def refresh(self):
        return self.C.refresh()

    def _dense_c(self):
        return self.C.M.toarray() if self.C.sparse else self.C.M

    def _tensor_shape(self):
        p, q = self.C.shape
        return (self.m, p, self.n, q) if self.const_first else (p, self.m, q, self.n)

    def _pattern(self):
        """einsum subscripts of C (ij) times X (rs) into the 4-D output view."""
        return "ij,rs->risj" if self.const_first else "ij,rs->irjs"

    def _matvec(self, x):
        X = x.reshape(self.m, self.n, order="F")
        return np.einsum(self._pattern(), self._dense_c(), X).ravel(order="F")

    def _rmatvec(self, y):
        Y = y.reshape(self._tensor_shape(), order="F")
        inp, out = self._pattern().split("->")
        c_sub, x_sub = inp.split(",")
        return np.einsum(f"{c_sub},{out}->{x_sub}", self._dense_c(), Y).ravel(order="F")

    def to_sparse(self):
        S = self.C.to_sparse().tocoo()
        p, q = self.C.shape
        m, n = self.m, self.n
        r, s = (a.ravel(order="F") for a in np.meshgrid(np.arange(m), np.arange(n), indexing="ij"))
        i, j, v = S.row[:, None], S.col[:, None], S.data[:, None]
        if self.const_first:
            row = (i * m + r) + p * m * (j * n + s)
        else:
            row = (r * p + i) + p * m * (s * q + j)
        col = np.broadcast_to(r + m * s, row.shape)
        val = np.broadcast_to(v, row.shape)
        return sp.csr_matrix((val.ravel(), (row.ravel(), col.ravel())), shape=self.shape)

    def describe(self):
        side = "C ⊗ X" if self.const_first else "X ⊗ C"
        return f"Kron[{side}]({self.C.describe()}, X {self.m}x{self.n})"


class ConvolveOperator(LinearOperator):
    """x (n,) -> full 1-D convolution c * x (length n + k - 1), c a constant k-vector held
    as a 1 x k ``MatrixOperator`` (so it can follow a Parameter). The adjoint is the
    'valid' cross-correlation. Direct summation, as numpy.convolve (exact, O(n k))."""

    def __init__(self, c: MatrixOperator, n: int):
        if c.shape[0] != 1:
            raise ShapeError(f"ConvolveOperator: the kernel must be a 1 x k row, got {c.shape}")
        self.c, self.n = c, int(n)
        super().__init__((self.n + c.shape[1] - 1, self.n))

    @property
    def version(self):
        return (self._uid,) + self.c.version

    def refresh(self):
        return self.c.refresh()

    def _kernel(self):
        M = self.c.M
        return (M.toarray() if self.c.sparse else M).ravel()

    def _matvec(self, x):
        return np.convolve(self._kernel(), x).astype(np.float64, copy=False)

    def _rmatvec(self, y):
        return np.correlate(y, self._kernel(), mode="valid").astype(np.float64, copy=False)

    def to_sparse(self):
        c = self._kernel()
        i, j = np.meshgrid(np.arange(c.size), np.arange(self.n), indexing="ij")
        return sp.csr_matrix((np.repeat(c, self.n), ((i + j).ravel(), j.ravel())), shape=self.shape)

    def describe(self):
        return f"Convolve(k={self.c.shape[1]}, n={self.n})"


class BatchMatMulOperator(LinearOperator):
    """NumPy's batched matmul by a constant stack C, on F-ordered arrays.

    side='left':  X (*batch, k, n) -> C @ X,  C (*batch, m, k)
    side='right': X (*batch, m, k) -> X @ C,  C (*batch, k, n)

    The stack is ``self.stack``; it may follow a Parameter through ``source``; ``refresh()`` re-reads it.
    """

    def __init__(self, C=None, side: str = "left", var_shape: tuple = (), source=None):
        if side not in ("left", "right"):
            raise ValueError(f"BatchMatMulOperator: side must be 'left' or 'right', got {side!r}")
        self._source, self.side = source, side
        self.stack = np.array(C if C is not None else source(), dtype=np.float64, copy=True)
        self.var_shape = tuple(int(d) for d in var_shape)
        self.out_shape = self._product_shape()
        if self.out_shape[:-2] != self.var_shape[:-2]:
            raise ShapeError(f"BatchMatMulOperator: X {self.var_shape} must carry the whole batch "
                             f"{self.out_shape[:-2]} (broadcast it first)")
        super().__init__((int(np.prod(self.out_shape)), int(np.prod(self.var_shape))))
        self._data_version = 0

    def _product_shape(self) -> tuple:
        C, X = np.empty(self.stack.shape, dtype=[]), np.empty(self.var_shape, dtype=[])
        try:
            lhs, rhs = (C, X) if self.side == "left" else (X, C)
            return tuple(np.broadcast_shapes(lhs.shape[:-2], rhs.shape[:-2])) + (lhs.shape[-2], rhs.shape[-1])
        except ValueError as e:
            raise ShapeError(f"BatchMatMulOperator: shapes {self.stack.shape} and {self.var_shape}: {e}") from e

    def refresh(self) -> bool:
        """Re-read a parametric source; return True if the numbers changed."""
        return self._refresh_array("stack")

    @property
    def version(self):
        return (self._uid, self._data_version)

    def _matvec(self, x):
        X = x.reshape(self.var_shape, order="F")
        Y = self.stack @ X if self.side == "left" else X @ self.stack
        return np.asarray(Y, dtype=np.float64).ravel(order="F")

    def _rmatvec(self, y):
        Y = y.reshape(self.out_shape, order="F")
        Ct = np.swapaxes(self.stack, -1, -2)
        X = Ct @ Y if self.side == "left" else Y @ Ct
        return np.asarray(X, dtype=np.float64).ravel(order="F")

    def to_sparse(self):
        """One kron(I, C_t) (or kron(C_t^T, I)) block per batch entry, placed by index."""
        batch = self.out_shape[:-2]
        Cs = np.broadcast_to(self.stack, batch + self.stack.shape[-2:]).reshape((-1,) + self.stack.shape[-2:])
        outs = _f_numbers(self.out_shape).reshape((-1,) + self.out_shape[-2:])
        ins = _f_numbers(self.var_shape).reshape((-1,) + self.var_shape[-2:])
        rows, cols, vals = [], [], []
        for t in range(Cs.shape[0]):
            if self.side == "left":
                blk = sp.kron(sp.identity(self.var_shape[-1]), sp.csr_matrix(Cs[t])).tocoo()
            else:
                blk = sp.kron(sp.csr_matrix(Cs[t].T), sp.identity(self.var_shape[-2])).tocoo()
            rows.append(outs[t].ravel(order="F")[blk.row])
            cols.append(ins[t].ravel(order="F")[blk.col])
            vals.append(blk.data)
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=self.shape)

    def describe(self):
        return f"BatchMatMul[{self.side}](C {self.stack.shape}, X {self.var_shape})"


def _f_numbers(shape: tuple) -> np.ndarray:
    """Entry numbers of an array of ``shape`` in F order."""
    return np.arange(int(np.prod(shape))).reshape(shape, order="F")


# ---------------------------------------------------------------------------------------
# Combinations
# ---------------------------------------------------------------------------------------

class AdjointOperator(LinearOperator):
    def __init__(self, A: LinearOperator):
        self.A = A
        super().__init__((A.shape[1], A.shape[0]))

    @property
    def version(self):
        return ("T",) + self.A.version

    @property
    def T(self):
        return self.A

    def _matvec(self, x):
        return self.A._rmatvec(x)

    def _rmatvec(self, y):
        return self.A._matvec(y)

    def to_sparse(self):
        return self.A.to_sparse().T.tocsr()

    def norm_est(self, *a, **k):
        return self.A.norm_est(*a, **k)

    def describe(self):
        return f"({self.A.describe()})^T"


class ScaledOperator(LinearOperator):
    def __init__(self, A: LinearOperator, alpha: float):
        self.A, self.alpha = A, float(alpha)
        super().__init__(A.shape)

    @property
    def version(self):
        return ("s", self.alpha) + self.A.version

    def _matvec(self, x):
        return self.alpha * self.A._matvec(x)

    def _rmatvec(self, y):
        return self.alpha * self.A._rmatvec(y)

    def to_sparse(self):
        return (self.alpha * self.A.to_sparse()).tocsr()

    def diagonal_of_gram(self):
        return self.alpha ** 2 * self.A.diagonal_of_gram()

    def norm_est(self, *a, **k):
        return abs(self.alpha) * self.A.norm_est(*a, **k)

    def describe(self):
        return f"{self.alpha:g}*{self.A.describe()}"


class SumOperator(LinearOperator):
    def __init__(self, ops: Sequence[LinearOperator]):
        self.ops = list(ops)
        if not self.ops:
            raise ShapeError("a sum of operators needs at least one operator")
        shape = self.ops[0].shape
        for op in self.ops:
            if op.shape != shape:
                raise ShapeError(f"cannot add operators of shapes {shape} and {op.shape}")
        super().__init__(shape)

    @property
    def version(self):
        return ("+",) + tuple(v for op in self.ops for v in op.version)

    def _matvec(self, x):
        out = self.ops[0]._matvec(x).astype(np.float64, copy=True)
        for op in self.ops[1:]:
            out += op._matvec(x)
        return out

    def _rmatvec(self, y):
        out = self.ops[0]._rmatvec(y).astype(np.float64, copy=True)
        for op in self.ops[1:]:
            out += op._rmatvec(y)
        return out

    def to_sparse(self):
        out = self.ops[0].to_sparse()
        for op in self.ops[1:]:
            out = out + op.to_sparse()
        return out.tocsr()

    def describe(self):
        return " + ".join(op.describe() for op in self.ops)


class ComposedOperator(LinearOperator):
    """A @ B (apply B first)."""

    def __init__(self, A: LinearOperator, B: LinearOperator):
        if A.shape[1] != B.shape[0]:
            raise ShapeError(f"cannot compose operators of shapes {A.shape} and {B.shape}")
        self.A, self.B = A, B
        super().__init__((A.shape[0], B.shape[1]))

    @property
    def version(self):
        return ("@",) + self.A.version + ("|",) + self.B.version

    def _matvec(self, x):
        return self.A._matvec(self.B._matvec(x))

    def _rmatvec(self, y):
        return self.B._rmatvec(self.A._rmatvec(y))

    def to_sparse(self):
        return (self.A.to_sparse() @ self.B.to_sparse()).tocsr()

    def describe(self):
        return f"{self.A.describe()} @ {self.B.describe()}"


class VStackOperator(LinearOperator):
    """Rows of several operators with the same input, stacked."""

    def __init__(self, ops: Sequence[LinearOperator]):
        self.ops = list(ops)
        if not self.ops:
            raise ShapeError("a stack of operators needs at least one operator")
        n = self.ops[0].shape[1]
        for op in self.ops:
            if op.shape[1] != n:
                raise ShapeError(f"cannot stack operators of shapes {self.ops[0].shape} and {op.shape}: "
                                 f"{n} and {op.shape[1]} columns")
        self.splits = np.cumsum([0] + [op.shape[0] for op in self.ops])
        super().__init__((int(self.splits[-1]), n))

    @property
    def version(self):
        return ("v",) + tuple(v for op in self.ops for v in op.version)

    def _matvec(self, x):
        return np.concatenate([op._matvec(x) for op in self.ops]) if self.ops else np.zeros(0)

    def _rmatvec(self, y):
        out = np.zeros(self.shape[1])
        for op, a, b in zip(self.ops, self.splits[:-1], self.splits[1:]):
            out += op._rmatvec(y[a:b])
        return out

    def to_sparse(self):
        return sp.vstack([op.to_sparse() for op in self.ops], format="csr")

    def diagonal_of_gram(self):
        return sum(op.diagonal_of_gram() for op in self.ops)

    def describe(self):
        return "[" + "; ".join(op.describe() for op in self.ops) + "]"


class BlockRowOperator(LinearOperator):
    """Acts on the program's full variable vector: sum_j B_j x[offset_j : offset_j + n_j].

    This is how a term that touches a few variables sees the concatenated vector.
    """

    def __init__(self, blocks: Sequence[tuple[int, LinearOperator]], n: int, m: int | None = None):
        self.blocks = [(int(o), op) for o, op in blocks]
        if m is None:
            if not self.blocks:
                raise ShapeError("BlockRowOperator needs blocks or an explicit row count")
            m = self.blocks[0][1].shape[0]
        for o, op in self.blocks:
            if op.shape[0] != m or o < 0 or o + op.shape[1] > n:
                raise ShapeError(f"block of shape {op.shape} at column {o} does not fit ({m}, {n})")
        super().__init__((m, n))

    @property
    def version(self):
        return ("b",) + tuple(v for o, op in self.blocks for v in (o,) + op.version)

    def _matvec(self, x):
        out = np.zeros(self.shape[0])
        for o, op in self.blocks:
            out += op._matvec(x[o:o + op.shape[1]])
        return out

    def _rmatvec(self, y):
        out = np.zeros(self.shape[1])
        for o, op in self.blocks:
            out[o:o + op.shape[1]] += op._rmatvec(y)
        return out

    def to_sparse(self):
        m, n = self.shape
        out = sp.csr_matrix((m, n))
        for o, op in self.blocks:
            S = op.to_sparse().tocoo()
            out = out + sp.csr_matrix((S.data, (S.row, S.col + o)), shape=(m, n))
        return out.tocsr()

    def diagonal_of_gram(self):
        touched = np.zeros(self.shape[1], dtype=np.int64)
        for o, op in self.blocks:
            touched[o:o + op.shape[1]] += 1
        if np.any(touched > 1):
            # overlapping blocks add columns before squaring: cross terms count
            return super().diagonal_of_gram()
        out = np.zeros(self.shape[1])
        for o, op in self.blocks:
            out[o:o + op.shape[1]] += op.diagonal_of_gram()
        return out

    def columns_touched(self) -> np.ndarray:
        """Boolean mask of the variable entries this operator reads."""
        mask = np.zeros(self.shape[1], dtype=bool)
        for o, op in self.blocks:
            mask[o:o + op.shape[1]] = True
        return mask

    def selection(self) -> np.ndarray | None:
        """If this operator just picks distinct entries of x, return their indices."""
        idx = []
        for o, op in self.blocks:
            if op.is_identity():
                idx.append(np.arange(o, o + op.shape[1]))
            elif isinstance(op, GatherOperator) and op.is_selection():
                idx.append(op.idx + o)
            else:
                return None
        if len(idx) != 1:
            return None  # a sum of selections is not a selection
        return idx[0]

    def describe(self):
        return " + ".join(f"{op.describe()}·x[{o}:{o + op.shape[1]}]" for o, op in self.blocks)


# ---------------------------------------------------------------------------------------
# Constructors that simplify as they go
# ---------------------------------------------------------------------------------------

def scale(A: LinearOperator, alpha: float) -> LinearOperator:
    if alpha == 1.0:
        return A
    if isinstance(A, ScaledOperator):
        return scale(A.A, alpha * A.alpha)
    if isinstance(A, ZeroOperator):
        return A
    return ScaledOperator(A, alpha)


def add(A: LinearOperator, B: LinearOperator) -> LinearOperator:
    if A.shape != B.shape:
        raise ShapeError(f"cannot add operators of shapes {A.shape} and {B.shape}")
    if isinstance(A, ZeroOperator):
        return B
    if isinstance(B, ZeroOperator):
        return A
    ops = (A.ops if isinstance(A, SumOperator) else [A]) + (B.ops if isinstance(B, SumOperator) else [B])
    return SumOperator(ops)


def compose(A: LinearOperator, B: LinearOperator) -> LinearOperator:
    if A.shape[1] != B.shape[0]:
        raise ShapeError(f"cannot compose operators of shapes {A.shape} and {B.shape}")
    if A.is_identity():
        return B
    if B.is_identity():
        return A
    if isinstance(A, ZeroOperator) or isinstance(B, ZeroOperator):
        return ZeroOperator((A.shape[0], B.shape[1]))
    if isinstance(A, ScaledOperator):
        return scale(compose(A.A, B), A.alpha)
    if isinstance(B, ScaledOperator):
        return scale(compose(A, B.A), B.alpha)
    if isinstance(A, GatherOperator) and isinstance(B, GatherOperator):
        return GatherOperator(B.idx[A.idx], B.shape[1])
    if isinstance(A, _GATHERS) and isinstance(B, _GATHERS):
        return gather(np.where(A.idx >= 0, B.idx[np.maximum(A.idx, 0)], -1), B.shape[1])
    if isinstance(A, DiagonalOperator) and isinstance(B, DiagonalOperator) and A._source is None and B._source is None:
        return DiagonalOperator(A.d * B.d)
    return ComposedOperator(A, B)


_GATHERS = (GatherOperator, MaskedGatherOperator)


def gather(idx: np.ndarray, n: int) -> LinearOperator:
    """The selection y_i = x[idx_i] (0 where idx_i == -1), as the simplest operator:
    a ``GatherOperator`` without -1 entries, a ``ZeroOperator`` with nothing else."""
    idx = np.asarray(idx, dtype=np.int64).ravel()
    if idx.size and np.all(idx < 0):
        return ZeroOperator((idx.size, int(n)))
    if np.all(idx >= 0):
        return GatherOperator(idx, n)
    return MaskedGatherOperator(idx, n)


def aslinearoperator(M) -> LinearOperator:
    """Wrap an ndarray, SciPy sparse matrix or LinearOperator."""
    if isinstance(M, LinearOperator):
        return M
    return MatrixOperator(M)
