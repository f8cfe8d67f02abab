"""What every solvelab estimator shares: input checks, the Problem cache that makes
warm starts survive ``clone`` (GridSearchCV), the solve and its warning.

A fit builds (or reuses) a ``solvelab.Problem`` (a CVXPY model, or for the least-squares
estimators a program built from (X, y) directly: ``_program``) with a CVXPY Parameter
``lam`` for the regularization level; only ``lam`` changes between fits of the same data and structure,
so a new alpha re-solves without compiling again and starts from the previous solution.
"""
from __future__ import annotations

import hashlib
import numbers
import warnings
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

#: (data fingerprint, structure) -> (Problem, handles); a few entries, newest last
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 16

#: Cold fits (warm_start=False) on data with at most this many stored values also reuse a
#: cached Problem (never its solution): hashing them costs less than building and
#: compiling the CVXPY model (~1 ms), which is most of a fit on data this small. Larger
#: data is not hashed on cold fits: there the hash would cost more than the compile.
SMALL_DATA_VALUES = 50_000


def clear_cache() -> None:
    """Forget the Problems kept for warm starts across clones (they hold the data)."""
    _CACHE.clear()


def fingerprint(*arrays) -> str:
    """A hash of the arrays' contents (dense or sparse): the same data gives the same key.

    A sparse matrix is hashed in its own format (no conversion): the same matrix stored
    as CSR and as CSC gets two keys, which only costs a cache miss, never a false hit.
    """
    h = hashlib.sha1()     # (SHA-NI hardware: 1.7 GB/s here, blake2b 0.9; a cache key, not a secret)
    for a in arrays:
        if a is None:
            h.update(b"none")
        elif sp.issparse(a):
            if a.format not in ("csr", "csc"):
                a = a.tocsr()
            h.update(a.format.encode())
            for part in (a.data, a.indices, a.indptr):
                h.update(np.ascontiguousarray(part).view(np.uint8))
            h.update(str(a.shape).encode())
        else:
            a = np.ascontiguousarray(a)
            h.update(str(a.dtype).encode())
            h.update(a.view(np.uint8).ravel())
            h.update(str(a.shape).encode())
    return h.hexdigest()


def private_copy(X):
    """X copied (dense or sparse): the programs built from (X, y) directly read X in place."""
    return X.copy() if sp.issparse(X) else np.array(X, copy=True)


class _Entry(tuple):
    """A cache key that is equal to its tuple but hashes by identity, so that two
    Problems whose data share a signature (but differ) get entries of their own."""
    __hash__ = object.__hash__
    __eq__ = tuple.__eq__


def signature(*arrays) -> tuple:
    """A cheap summary of the arrays (format, shape, size and a few sampled values): equal
    data gives equal signatures; ``same_data`` decides."""
    out = []
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        vals = a.data if sp.issparse(a) else np.asarray(a)
        at = np.linspace(0, vals.size - 1, min(vals.size, 17)).astype(np.int64)
        out.append((a.format if sp.issparse(a) else "dense", a.shape, int(vals.size),
                    vals.flat[at].tobytes()))     # (flat: C order whatever the layout)
    return tuple(out)


def same_data(kept, X, y, sw) -> bool:
    """Whether (X, y, sw) equal the kept (X, y, sw) exactly (same sparse format)."""
    if kept is None:
        return False
    kX, ky, ksw = kept
    if sp.issparse(kX) != sp.issparse(X) or kX.shape != X.shape or (sw is None) != (ksw is None):
        return False
    if sp.issparse(X):
        if kX.format != X.format or kX.nnz != X.nnz or not (np.array_equal(kX.indptr, X.indptr)
                                                            and np.array_equal(kX.indices, X.indices)
                                                            and np.array_equal(kX.data, X.data)):
            return False
    elif not np.array_equal(kX, X):
        return False
    return bool(np.array_equal(ky, y) and (sw is None or np.array_equal(ksw, sw)))


def stored_values(X) -> int:
    """How many numbers X holds (nonzeros for a sparse matrix)."""
    return int(X.nnz) if sp.issparse(X) else int(np.size(X))


def check_nonneg(value, name, who, upper=None):
    """A finite real >= 0 (and <= upper), else a ValueError naming the parameter."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value) or value < 0 \
            or (upper is not None and value > upper):
        rng = f"in [0, {upper}]" if upper is not None else ">= 0"
        raise ValueError(f"{who}: {name} must be a finite number {rng}, got {value!r}")
    return float(value)


class SolvelabEstimator(BaseEstimator):
    """Base: subclasses give ``_build(X, y, sw)`` -> (Problem, handles: a dict with 'coef',
    'intercept' (or None) and the level Parameters), ``_set_level(handles, n, sw)`` (write
    alpha into the Parameters) and ``_structure()`` (what forces a rebuild)."""

    #: False where a weighted datafit is no ``cd`` form: weighted fits then go to ``fista``
    _cd_takes_weights = True

    def __getstate__(self):
        """Pickle the fitted numbers, not the Problem (CVXPY objects and compiled kernels)."""
        state = super().__getstate__()
        for k in ("problem_", "_handles", "_fit_key"):
            state.pop(k, None)
        for k in ("result_", "results_"):
            if k in state:
                state[k] = _plain(state[k])
        return state

    def _validate(self, X, y, reset=True, **kw):
        return validate_data(self, X, y, reset=reset, accept_sparse=["csr", "csc"], dtype=np.float64,
                             y_numeric=kw.pop("y_numeric", True), **kw)

    def _options(self):
        return dict(tol=float(self.tol), max_iter=int(self.max_iter))

    def _check_common(self):
        who = type(self).__name__
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"{who}: max_iter must be a positive integer, got {self.max_iter!r}")
        check_nonneg(self.tol, "tol", who)
        if self.tol <= 0:
            raise ValueError(f"{who}: tol must be > 0, got {self.tol!r}")

    def _problem(self, X, y, sw):
        """The Problem for this data and structure: reused (same Parameters, no compile)
        when the data and structure match an earlier fit and either ``warm_start`` is set
        or the data is small (``SMALL_DATA_VALUES``). A cold fit solves from zero either
        way (``_solve`` passes warm_start=False): only the compiled model is shared.

        Programs built from (X, y) directly (``_reads_data_in_place``) are found by
        comparing the data exactly with the private copy their program holds (a cheap
        signature picks the candidates); CVXPY models, which hold CVXPY's own copy, by a
        SHA-1 hash of the data."""
        if not self.warm_start and stored_values(X) > SMALL_DATA_VALUES:
            self._fit_key = None   # no reuse: no fingerprint to pay for
            return self._build(X, y, sw)
        head = (type(self).__name__, self._structure(), getattr(self, "backend", "cd"))
        exact = self._reads_data_in_place()
        key = head + (("exact", signature(X, y, sw)) if exact else ("sha1", fingerprint(X, y, sw)))
        own = getattr(self, "_fit_key", None)
        if own is not None and own[:-1] == key and hasattr(self, "problem_") \
                and (not exact or same_data(own[-1], X, y, sw)):
            return self.problem_, self._handles
        for k, (prob, handles, data) in _CACHE.items():
            if k == key and (not exact or same_data(data, X, y, sw)):
                _CACHE.move_to_end(k)
                self._fit_key = key + (data,)
                return prob, handles
        # a cached Problem outlives this call: a program that reads X in place gets its own
        # copy, so that a caller who later changes X cannot change what its entry promised
        # (a CVXPY model copies X into its Constant itself)
        Xp = private_copy(X) if exact else X
        prob, handles = self._build(Xp, y, sw)
        data = (Xp, np.array(y, copy=True), None if sw is None else np.array(sw, copy=True)) if exact else None
        _CACHE[_Entry(key)] = (prob, handles, data)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        self._fit_key = key + (data,)
        return prob, handles

    def _reads_data_in_place(self) -> bool:
        """Whether ``_build`` makes a program that reads X itself (no CVXPY copy)."""
        return False

    def _solve(self, X, y, sw):
        """Build or reuse the Problem, set lam, solve, read coef_/intercept_, warn if not optimal."""
        prob, h = self._problem(X, y, sw)
        self.problem_, self._handles = prob, h
        self._set_level(h, X.shape[0], sw)
        backend = self.backend
        if sw is not None and backend == "cd" and not self._cd_takes_weights:
            backend = "fista"
        res = prob.solve(backend=backend, warm_start=bool(self.warm_start), **self._options())
        self.result_ = res
        self.status_ = str(res.status)
        self.n_iter_ = int(res.iterations)
        coef = h["coef"].value
        self.coef_ = np.zeros(X.shape[1]) if coef is None else np.asarray(coef, dtype=np.float64).ravel().copy()
        b = h.get("intercept")
        self.intercept_ = float(b.value) if (b is not None and b.value is not None) else 0.0
        self.dual_gap_ = res.certificate.gap if res.certificate is not None else None
        if not res.optimal:
            cert = "none" if res.certificate is None else f"{res.certificate.value:.2e}"
            warnings.warn(f"{type(self).__name__}: solvelab's {res.backend!r} backend ended with status "
                          f"{res.status} (certificate {cert}, tol {self.tol:g}); increase max_iter or tol, "
                          f"see result_", ConvergenceWarning, stacklevel=3)
        return self

    def _decision(self, X):
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=np.float64)
        return np.asarray(X @ self.coef_).ravel() + self.intercept_


def _plain(res):
    """A picklable copy of a Result (or a list of them): no bound closures."""
    import copy
    if isinstance(res, list):
        return [_plain(r) for r in res]
    out = copy.copy(res)
    out.__dict__ = {k: v for k, v in res.__dict__.items() if not callable(v)}
    out.info = {k: v for k, v in res.info.items() if not callable(v)}
    return out


def sample_weights(sample_weight, X, normalize=True):
    """sklearn's sample-weight check (shape, finite, >= 0), rescaled to mean one when
    ``normalize`` (as sklearn's Lasso/ElasticNet do); None when all weights are one."""
    if sample_weight is None:
        return None
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if normalize:
        if sw.sum() <= 0:
            raise ValueError("sample_weight: the weights sum to zero")
        sw = sw * (sw.shape[0] / sw.sum())
    return None if np.all(sw == 1.0) else sw
