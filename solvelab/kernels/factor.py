"""Cached factorizations of symmetric systems for ADMM-type x-updates.

Two kinds of matrix reach this module:

  * SPD (``K = sigma I + M^T D M``): dense Cholesky (LAPACK) when small, otherwise a
    sparse Cholesky;
  * quasi-definite KKT (``[[sigma I, M^T], [M, -D^-1]]``): a sparse LDL^T, which exists
    for every symmetric permutation of a quasi-definite matrix (Vanderbei 1995).

Sparse factorizations go through CHOLMOD (scikit-sparse, extra ``solvelab[cholmod]``)
with the symbolic analysis done once per sparsity pattern and only the numeric
factorization repeated when values change (a new rho). Without scikit-sparse, or with
``SOLVELAB_NO_CHOLMOD=1``, SciPy's SuperLU takes over (correct, slower, no symbolic
reuse) and a one-line notice says how to get CHOLMOD.

``stats`` counts symbolic analyses and numeric factorizations process-wide, so tests
can check that a re-solve with unchanged matrices does not refactorize.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla


@dataclass
class FactorStats:
    symbolic: int = 0
    numeric: int = 0


stats = FactorStats()


def reset_stats() -> None:
    stats.symbolic = 0
    stats.numeric = 0


_cholmod = None
_cholmod_checked = False
_notice_given = False


def cholmod_module():
    """scikit-sparse's cholmod module, or None (with a one-time notice) when unavailable."""
    global _cholmod, _cholmod_checked, _notice_given
    if os.environ.get("SOLVELAB_NO_CHOLMOD", "") not in ("", "0"):
        return None
    if not _cholmod_checked:
        _cholmod_checked = True
        try:
            from sksparse import cholmod as _mod
            _cholmod = _mod
        except ImportError:
            _cholmod = None
    if _cholmod is None and not _notice_given:
        _notice_given = True
        warnings.warn("solvelab: scikit-sparse (CHOLMOD) is not installed; sparse factorizations use "
                      "SciPy's SuperLU instead (slower). Install it with: apt-get install "
                      "libsuitesparse-dev && pip install 'solvelab[cholmod]'", RuntimeWarning, stacklevel=3)
    return _cholmod


def backend_name() -> str:
    return "cholmod" if cholmod_module() is not None else "scipy-superlu"


class FactorizationError(ArithmeticError):
    """The matrix could not be factorized (not positive definite / singular / NaN)."""


class DenseCholesky:
    """LAPACK Cholesky of a dense SPD matrix."""
    kind = "dense-cholesky"

    def __init__(self, K):
        self.n = K.shape[0]
        self.refactor(K)

    def refactor(self, K) -> None:
        K = K.toarray() if sp.issparse(K) else np.asarray(K, dtype=np.float64)
        if not np.all(np.isfinite(K)):
            raise FactorizationError("the system matrix has NaN or Inf entries")
        try:
            self._c = sla.cho_factor(K, lower=True, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise FactorizationError(f"dense Cholesky failed: {exc}") from None
        stats.numeric += 1

    def solve(self, rhs):
        return sla.cho_solve(self._c, rhs, check_finite=False)


class SparseSymmetric:
    """Sparse Cholesky (SPD) or LDL^T (quasi-definite) of a symmetric matrix.

    The sparsity pattern is fixed at construction (symbolic analysis once); ``refactor``
    takes a matrix with the same pattern and redoes only the numeric factorization.
    """

    def __init__(self, K, quasi_definite: bool = False):
        K = sp.csc_matrix(K, dtype=np.float64)
        K.sort_indices()
        self.n = K.shape[0]
        self.quasi_definite = quasi_definite
        self._pattern = (K.indptr.copy(), K.indices.copy())
        cm = cholmod_module()
        self._cm = cm
        if cm is not None:
            mode = "simplicial" if quasi_definite else "auto"
            self._factor = cm.analyze(K, mode=mode)
            stats.symbolic += 1
            self.kind = "cholmod-ldl" if quasi_definite else "cholmod-cholesky"
        else:
            self._factor = None
            self.kind = "superlu"
        self.refactor(K)

    def same_pattern(self, K) -> bool:
        K = sp.csc_matrix(K)
        K.sort_indices()
        ip, ix = self._pattern
        return K.shape == (self.n, self.n) and np.array_equal(K.indptr, ip) and np.array_equal(K.indices, ix)

    def refactor(self, K) -> None:
        K = sp.csc_matrix(K, dtype=np.float64)
        if not np.all(np.isfinite(K.data)):
            raise FactorizationError("the system matrix has NaN or Inf entries")
        if self._cm is not None:
            try:
                self._factor.cholesky_inplace(K)
            except Exception as exc:  # CholmodNotPositiveDefiniteError and friends
                raise FactorizationError(f"CHOLMOD factorization failed: {exc}") from None
        else:
            try:
                self._lu = spla.splu(K, permc_spec="MMD_AT_PLUS_A",
                                     options={"SymmetricMode": True}, diag_pivot_thresh=0.0)
            except RuntimeError as exc:
                raise FactorizationError(f"SuperLU factorization failed: {exc}") from None
            if not getattr(self, "_analyzed", False):
                stats.symbolic += 1
                self._analyzed = True
        stats.numeric += 1

    def solve(self, rhs):
        if self._cm is not None:
            return self._factor(rhs)
        return self._lu.solve(rhs)


def factorize_spd(K, dense_limit: int = 2500):
    """Factor an SPD matrix: dense LAPACK when it is small, sparse otherwise."""
    n = K.shape[0]
    if n <= dense_limit:
        return DenseCholesky(K)
    return SparseSymmetric(K, quasi_definite=False)


def factorize_quasi_definite(K):
    return SparseSymmetric(K, quasi_definite=True)
