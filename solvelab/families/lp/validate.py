"""Validation of LP data, shared by the program node and the constructors."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError, ShapeError


def _real(v, name: str) -> np.ndarray:
    arr = np.asarray(v)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
            or np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidDataError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def check_cost(c) -> np.ndarray:
    c = _real(c, "c")
    if c.ndim != 1 or c.size == 0:
        raise ShapeError(f"c must be a non-empty 1-D array, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise InvalidDataError("c has NaN or Inf entries")
    return c


def check_matrix(A, n: int):
    """A as CSR float64 with n columns (None: no rows)."""
    if A is None:
        return sp.csr_matrix((0, n))
    if sp.issparse(A):
        if np.issubdtype(A.dtype, np.complexfloating) or not (np.issubdtype(A.dtype, np.number)
                                                              or A.dtype == bool):
            raise InvalidDataError(f"A must hold real numbers, got dtype {A.dtype}")
        A = sp.csr_matrix(A, dtype=np.float64)
    else:
        A = _real(A, "A")
        if A.ndim == 1:
            A = A.reshape(1, -1)
        if A.ndim != 2:
            raise ShapeError(f"A must be a 2-D matrix, got shape {A.shape}")
        A = sp.csr_matrix(A)
    if A.shape[1] != n:
        raise ShapeError(f"A has {A.shape[1]} columns but c has {n} entries")
    if not np.all(np.isfinite(A.data)):
        raise InvalidDataError("A has NaN or Inf entries")
    A.sum_duplicates()
    A.eliminate_zeros()
    A.sort_indices()
    return A


def check_bounds(lo, hi, size: int, names: tuple, defaults: tuple) -> tuple:
    """(lo, hi) as float64 arrays of ``size``; NaN, +inf lower / -inf upper bounds and
    lo > hi are errors naming the first bad entry."""
    out = []
    for v, name, d in zip((lo, hi), names, defaults):
        if v is None:
            out.append(np.full(size, d))
            continue
        arr = _real(v, name)
        if arr.ndim == 0:
            arr = np.full(size, float(arr))
        if arr.shape != (size,):
            raise ShapeError(f"{name} must have shape ({size},), got {arr.shape}")
        if np.isnan(arr).any():
            raise InvalidDataError(f"{name} has NaN entries (entry {int(np.flatnonzero(np.isnan(arr))[0])})")
        out.append(arr)
    lo, hi = out
    if np.isposinf(lo).any():
        raise InvalidDataError(f"{names[0]} has +inf entries (entry {int(np.flatnonzero(np.isposinf(lo))[0])})")
    if np.isneginf(hi).any():
        raise InvalidDataError(f"{names[1]} has -inf entries (entry {int(np.flatnonzero(np.isneginf(hi))[0])})")
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        i = int(bad[0])
        raise InvalidDataError(f"{names[0]}[{i}] = {lo[i]:g} > {names[1]}[{i}] = {hi[i]:g}: "
                               f"the problem is trivially infeasible ({bad.size} such entries)")
    return lo, hi
