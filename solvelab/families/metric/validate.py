"""Checks of metric-family data, shared with the constructors (``solvelab.problems.metric``).

Each error names the shape or the first offending entry (i, j)."""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError, ShapeError

#: relative tolerance of the symmetry test (times max |M|)
SYM_RTOL = 1e-12


def _entry(mask) -> tuple:
    i, j = np.argwhere(mask)[0]
    return int(i), int(j)


def check_square(M, name: str, min_n: int = 3) -> np.ndarray:
    """M as a float64 (n, n) array with n >= min_n and no NaN / Inf."""
    try:
        A = np.array(M, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{name} must be a numeric (n, n) array: {exc}") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ShapeError(f"{name} must be a square (n, n) matrix, got shape {A.shape}")
    if A.shape[0] < min_n:
        raise ShapeError(f"{name} must be at least {min_n} x {min_n} (a triangle needs 3 points), "
                         f"got shape {A.shape}")
    bad = ~np.isfinite(A)
    if bad.any():
        i, j = _entry(bad)
        raise InvalidDataError(f"{name}[{i}, {j}] = {A[i, j]!r}: entries must be finite")
    return np.ascontiguousarray(A)


def check_symmetric(A: np.ndarray, name: str) -> np.ndarray:
    """A (already square and finite) with its exact symmetrization; an error names the
    worst asymmetric entry."""
    scale = float(np.max(np.abs(A)))
    diff = np.abs(A - A.T)
    if diff.max() > SYM_RTOL * scale:
        i, j = np.unravel_index(int(np.argmax(diff)), A.shape)
        raise InvalidDataError(f"{name} must be symmetric: {name}[{i}, {j}] = {A[i, j]!r} but "
                               f"{name}[{j}, {i}] = {A[j, i]!r}")
    return np.ascontiguousarray(0.5 * (A + A.T))


def check_dissimilarity(D, name: str = "D") -> np.ndarray:
    """A symmetric, nonnegative (n, n) dissimilarity matrix with zero diagonal."""
    A = check_symmetric(check_square(D, name), name)
    neg = A < 0
    if neg.any():
        i, j = _entry(neg)
        raise InvalidDataError(f"{name}[{i}, {j}] = {A[i, j]!r}: dissimilarities must be nonnegative")
    diag = np.diag(A)
    if np.any(diag != 0):
        i = int(np.nonzero(diag)[0][0])
        raise InvalidDataError(f"{name}[{i}, {i}] = {diag[i]!r}: a dissimilarity matrix has a zero diagonal")
    return A


def check_weights(W, n: int, name: str = "W", positive: bool = True) -> np.ndarray:
    """Symmetric (n, n) weights, off-diagonal entries > 0 (``positive``) or >= 0; the
    diagonal is not read."""
    A = check_square(W, name)
    if A.shape != (n, n):
        raise ShapeError(f"{name} must have the shape of D, ({n}, {n}), got {A.shape}")
    off = ~np.eye(n, dtype=bool)
    neg = (A < 0) & off
    if neg.any():
        i, j = _entry(neg)
        raise InvalidDataError(f"{name}[{i}, {j}] = {A[i, j]!r}: weights must be nonnegative")
    if positive:
        zero = (A == 0) & off
        if zero.any():
            i, j = _entry(zero)
            raise InvalidDataError(f"{name}[{i}, {j}] = 0: metric nearness needs positive weights "
                                   f"(a zero weight leaves the pair free)")
    A = check_symmetric(A, name)
    np.fill_diagonal(A, 1.0)
    return A


def check_pair_bounds(bounds, n: int):
    """(bi, bj, lo, hi): pairs i < j (int64, no repeats) with lo <= hi (+-inf: no bound on
    that side), from ``bounds`` = (pairs (k, 2), lo (k,) or scalar, hi (k,) or scalar)."""
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 3:
        raise InvalidDataError("bounds must be a triple (pairs (k, 2), lower, upper)")
    pairs, lo, hi = bounds
    try:
        P = np.asarray(pairs)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"bound pairs must be an integer (k, 2) array: {exc}") from None
    if P.size == 0:
        P = P.reshape(0, 2)
    if P.ndim != 2 or P.shape[1] != 2:
        raise ShapeError(f"bound pairs must be a (k, 2) array of indices, got shape {P.shape}")
    if P.size and not np.issubdtype(P.dtype, np.integer):
        raise InvalidDataError(f"bound pairs must hold integer indices, got dtype {P.dtype}")
    P = P.astype(np.int64)
    k = P.shape[0]

    def side(v, what):
        arr = np.broadcast_to(np.asarray(v, dtype=np.float64), (k,)).copy() if np.ndim(v) == 0 \
            else np.asarray(v, dtype=np.float64).ravel()
        if arr.shape != (k,):
            raise ShapeError(f"the {what} bounds must be a scalar or one per pair ({k}), got shape {arr.shape}")
        if np.any(np.isnan(arr)):
            raise InvalidDataError(f"the {what} bounds have NaN entries")
        return arr
    lo = side(-np.inf if lo is None else lo, "lower")
    hi = side(np.inf if hi is None else hi, "upper")
    if k and (P.min() < 0 or P.max() >= n):
        s = int(np.flatnonzero((P < 0).any(1) | (P >= n).any(1))[0])
        raise InvalidDataError(f"bound pair {s} = {tuple(P[s])} is out of range for n = {n} points")
    if np.any(P[:, 0] == P[:, 1]):
        s = int(np.flatnonzero(P[:, 0] == P[:, 1])[0])
        raise InvalidDataError(f"bound pair {s} = {tuple(P[s])} is a diagonal entry (X_ii = 0 always)")
    bi, bj = P.min(axis=1), P.max(axis=1)
    keys = bi * n + bj
    if np.unique(keys).size != k:
        raise InvalidDataError("a pair appears twice among the bounds; give each pair one (lower, upper)")
    if np.any(lo > hi):
        s = int(np.flatnonzero(lo > hi)[0])
        raise InvalidDataError(f"bound pair {s} = ({bi[s]}, {bj[s]}): lower {lo[s]} > upper {hi[s]}")
    if np.any(hi < 0):
        s = int(np.flatnonzero(hi < 0)[0])
        raise InvalidDataError(f"bound pair {s} = ({bi[s]}, {bj[s]}): upper bound {hi[s]} < 0, but a metric "
                               f"is nonnegative")
    if np.any(lo == np.inf) or np.any(hi == -np.inf):
        raise InvalidDataError("a lower bound of +inf or an upper bound of -inf leaves no feasible metric")
    order = np.argsort(keys, kind="stable")   # row-major order: cache-friendly sweeps
    return (np.ascontiguousarray(bi[order]), np.ascontiguousarray(bj[order]),
            np.ascontiguousarray(lo[order]), np.ascontiguousarray(hi[order]))
