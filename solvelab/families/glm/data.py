"""The arrays the GLM kernels read: the datafit's matrix (Fortran-ordered dense or CSC),
row scales and offsets, built on first use and cached per operator version."""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError
from ...ir.linop import (BlockRowOperator, ComposedOperator, DiagonalOperator, IdentityOperator,
                         MatrixOperator, ScaledOperator)


def _extract(op):
    """(matrix, row scale or None) with op = diag(s) @ matrix; matrix not copied."""
    if isinstance(op, MatrixOperator):
        return op.M, None
    if isinstance(op, ScaledOperator):
        M, s = _extract(op.A)
        return M, op.alpha * (np.ones(M.shape[0]) if s is None else s)
    if isinstance(op, ComposedOperator) and isinstance(op.A, DiagonalOperator):
        M, s = _extract(op.B)
        d = np.asarray(op.A.d, dtype=np.float64)
        return M, d * (1.0 if s is None else s)
    if isinstance(op, IdentityOperator):
        return sp.identity(op.shape[0], format="csc"), None
    return op.to_sparse(), None


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass
class GLMData:
    """Arrays the kernels read. ``dense`` is a Fortran-ordered ndarray or None; ``csc`` a
    CSC matrix or None (exactly one is set)."""
    dense: np.ndarray | None
    csc: sp.csc_matrix | None
    s: np.ndarray
    b: np.ndarray
    m: int
    p: int

    @property
    def matrix(self):
        return self.dense if self.dense is not None else self.csc

    def matvec(self, x):
        return np.asarray(self.matrix @ x).ravel()

    def rmatvec(self, d):
        if self.dense is not None:
            return np.asarray(d @ self.dense).ravel()
        T = self.__dict__.get("_csr_T")        # CSR view of the same arrays, built once
        if T is None:
            T = self.__dict__["_csr_T"] = self.csc.T
        return np.asarray(T @ d).ravel()

    def rmatvec_recurring(self, d):
        """A^T d for a d that recurs from solve to solve on the same data (A^T b, the
        datafit's gradient at the origin: a grid of alphas or a cross-validation fold asks
        for them at every fit). The last two (d, A^T d) pairs are kept; an exactly equal d
        gets a copy of its product, O(m) instead of a pass over the matrix."""
        d = np.asarray(d, dtype=np.float64)
        memo = self.__dict__.setdefault("_recurring", [])
        for key, val in memo:
            if key.shape == d.shape and np.array_equal(key, d):
                return val.copy()
        val = self.rmatvec(d)
        memo.insert(0, (d.copy(), val.copy()))
        del memo[2:]
        return val

    @property
    def nnz(self) -> int:
        return int(self.dense.size if self.dense is not None else self.csc.nnz)


def _build_data(term, n, label) -> GLMData:
    A = term.A
    blocks = A.blocks if isinstance(A, BlockRowOperator) else [(0, A)]
    mats = []
    for off, op in blocks:
        M, s = _extract(op)
        mats.append((off, M, s))
    m = A.shape[0]
    if len(mats) == 1 and mats[0][0] == 0 and mats[0][1].shape[1] == n:
        _, M, s = mats[0]
        s = np.ones(m) if s is None else np.asarray(s, dtype=np.float64).ravel()
    else:
        # several blocks (e.g. an intercept variable): fold the row scales in, stack as CSC
        cols = []
        for off, M, s in mats:
            Ms = sp.csc_matrix(M)
            if s is not None:
                Ms = sp.diags(s) @ Ms
            cols.append((off, sp.csc_matrix(Ms)))
        M = _stack_columns(cols, m, n)
        s = np.ones(m)
    if sp.issparse(M):
        csc = M.tocsc() if M.format != "csc" else M
        if csc.dtype != np.float64:
            csc = csc.astype(np.float64)
        if not csc.has_sorted_indices:
            csc = csc.sorted_indices()
        data_ok = np.all(np.isfinite(csc.data))
        dense = None
        csc = sp.csc_matrix((csc.data, csc.indices.astype(np.int32, copy=False), csc.indptr.astype(np.int32, copy=False)),
                            shape=csc.shape) if csc.nnz < 2 ** 31 else csc
    else:
        dense = np.asfortranarray(M, dtype=np.float64)
        data_ok = np.all(np.isfinite(dense))
        csc = None
    if not data_ok:
        raise InvalidDataError(f"SparseGLM: the data matrix of the datafit '{label}' has NaN or Inf entries")
    b = np.asarray(term.b, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(s))):
        raise InvalidDataError(f"SparseGLM: the datafit '{label}' has NaN or Inf in its offset or labels")
    return GLMData(dense, csc, s, _offsets(term), m, n)


def _stack_columns(cols, m: int, n: int):
    """The (m, n) CSC matrix with each block's columns at its offset (entries of blocks that
    share a column summed). Blocks on disjoint column ranges (the usual X and intercept) are
    laid side by side, an O(nnz) copy; overlapping ones go through one COO -> CSC conversion
    (an empty LIL start, m Python lists, had cost 0.1 s at m = 40000; the COO route for X and
    its intercept ~20 ms per compile)."""
    spans = sorted(cols, key=lambda t: t[0])
    if all(spans[k][0] + spans[k][1].shape[1] <= spans[k + 1][0] for k in range(len(spans) - 1)) \
            and spans[-1][0] + spans[-1][1].shape[1] <= n:
        counts = np.zeros(n, dtype=np.int64)
        idx, vals = [], []
        for off, Ms in spans:
            Ms = Ms.copy() if not Ms.has_canonical_format else Ms
            Ms.sum_duplicates()
            counts[off:off + Ms.shape[1]] = np.diff(Ms.indptr)
            idx.append(Ms.indices)
            vals.append(Ms.data)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return sp.csc_matrix((np.concatenate(vals), np.concatenate(idx), indptr), shape=(m, n))
    parts = [(off, Ms.tocoo()) for off, Ms in cols]
    rows = np.concatenate([P.row for _, P in parts])
    colj = np.concatenate([P.col + off for off, P in parts])
    vals = np.concatenate([P.data for _, P in parts])
    return sp.csc_matrix((vals, (rows, colj)), shape=(m, n))


def _offsets(term) -> np.ndarray:
    """A private copy of the datafit's offsets b. All zero (logistic, squared hinge):
    a fresh np.zeros, whose pages the kernels only read -- the OS maps them lazily, so an
    m-vector of zeros costs no resident memory (seen on a9a: 0.25 MB of the peak)."""
    b = np.asarray(term.b, dtype=np.float64).ravel()
    return b.copy() if np.any(b) else np.zeros(b.shape[0])


def glm_data(term, n) -> GLMData:
    """The cached arrays for a datafit term (re-built when its operator's numbers change)."""
    key = term.A
    ver = (key.version, n)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == ver:
        data = hit[1]
        data.b = _offsets(term)                  # vector data may change freely
        return data
    data = _build_data(term, n, term.label or repr(term.f))
    _CACHE[key] = (ver, data)
    return data
