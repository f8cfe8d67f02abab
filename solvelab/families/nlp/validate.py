"""Validation of smooth-NLP data, shared by the program node and the constructors.

Every user callable is evaluated once at x0 here, so a wrong shape or a NaN is an error
naming the culprit before any backend runs.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError, ShapeError
from ...ir.bounds import check_box


def check_x0(x0) -> np.ndarray:
    arr = np.asarray(x0)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InvalidDataError(f"x0 must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ShapeError(f"x0 must be a non-empty 1-D array, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidDataError("x0 has NaN or Inf entries")
    return arr


def check_callable(fn, name: str, hint: str):
    if fn is not None and not callable(fn):
        raise InvalidDataError(f"{name} must be callable ({hint}), got {type(fn).__name__}")
    return fn


def scalar(v, name: str, x_desc: str = "x0") -> float:
    arr = np.asarray(v, dtype=np.float64) if not isinstance(v, float) else v
    if np.size(arr) != 1:
        raise ShapeError(f"{name} must return a scalar, got shape {np.shape(arr)}")
    val = float(np.asarray(arr).reshape(()))
    if not np.isfinite(val):
        raise InvalidDataError(f"{name} is {val} at {x_desc}")
    return val


def vector(v, size: int, name: str, x_desc: str = "x0") -> np.ndarray:
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1 and arr.size == size and max(arr.shape, default=1) == size:
        arr = arr.reshape(-1)   # an (m, 1) or (1, m) column / row reads as a vector
    if arr.shape != (size,):
        raise ShapeError(f"{name} must return a vector of length {size}, got shape {np.shape(v)}")
    if not np.all(np.isfinite(arr)):
        raise InvalidDataError(f"{name} has NaN or Inf entries at {x_desc}")
    return arr


def matrix(M, shape: tuple, name: str, x_desc: str = "x0"):
    """M as a float64 ndarray or CSR matrix of ``shape`` (finite entries)."""
    if sp.issparse(M):
        M = sp.csr_matrix(M, dtype=np.float64)
        vals = M.data
    else:
        M = np.asarray(M, dtype=np.float64)
        if M.ndim == 1 and shape[0] == 1:
            M = M.reshape(1, -1)
        vals = M
    if M.shape != tuple(shape):
        raise ShapeError(f"{name} must return a matrix of shape {tuple(shape)}, got {M.shape}")
    if not np.all(np.isfinite(vals)):
        raise InvalidDataError(f"{name} has NaN or Inf entries at {x_desc}")
    return M


def check_bounds(lower, upper, n: int):
    """(lo, hi) arrays of length n (None: unbounded), lo <= hi, no NaN."""
    return check_box(lower, upper, n)
