"""Checks of fractional-program data, shared by the node and the constructors.

Every array is checked for dtype, shape and NaN/Inf here; the denominator's sign on the
domain is checked by ``check_positive`` (the refusal names the point or the reason).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError, ShapeError
from ...ir.bounds import check_box


def real_array(v, what: str, ndim: int | None = None) -> np.ndarray:
    """``v`` as a finite float64 array (dense), refusing complex, object and bool dtypes."""
    if sp.issparse(v):
        v = v.toarray()
    arr = np.asarray(v)
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or \
            np.iscomplexobj(arr):
        raise InvalidDataError(f"{what} must hold real numbers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{what} must be {ndim}-D, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.size == 0:
        raise ShapeError(f"{what} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise InvalidDataError(f"{what} has NaN or Inf entries")
    return arr


def vector(v, n: int, what: str) -> np.ndarray:
    """A length-n vector (a scalar is broadcast)."""
    arr = real_array(v, what)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.shape != (n,):
        raise ShapeError(f"{what} must have length {n}, got shape {np.shape(v)}")
    return arr


def matrix(M, cols: int, what: str) -> np.ndarray:
    arr = real_array(M, what, ndim=2)
    if arr.shape[1] != cols:
        raise ShapeError(f"{what} must have {cols} columns (one per variable), got shape {arr.shape}")
    return np.asfortranarray(arr)


def scalar(v, what: str, positive: bool = False, nonneg: bool = False) -> float:
    arr = real_array(v, what)
    if arr.size != 1:
        raise ShapeError(f"{what} must be a scalar, got shape {arr.shape}")
    val = float(arr.reshape(()))
    if positive and not val > 0:
        raise InvalidDataError(f"{what} must be > 0, got {val!r}")
    if nonneg and not val >= 0:
        raise InvalidDataError(f"{what} must be >= 0, got {val!r}")
    return val


def bounds(lo, hi, n: int):
    """(lo, hi) of the domain's box; lo <= hi, -inf / +inf allowed, no NaN."""
    return check_box(lo, hi, n)


def affine_min(a: np.ndarray, d: float, lo, hi, simplex: bool) -> tuple[float, np.ndarray | None]:
    """min of a^T x + d over the domain and a point attaining it (None when -inf)."""
    if simplex:
        i = int(np.argmin(a))
        x = np.zeros(a.size)
        x[i] = 1.0
        return float(a[i] + d), x
    x = np.where(a > 0, lo, np.where(a < 0, hi, np.clip(0.0, lo, hi)))
    if not np.all(np.isfinite(x)):
        return -np.inf, None
    return float(a @ x + d), x
