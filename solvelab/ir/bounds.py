"""Box bounds lo <= x <= hi on a vector of n entries, checked once for every family.

``check_box(lower, upper, n)``: None is unbounded on that side, a scalar is broadcast, an
array must have n entries; NaN, lo > hi, a lower bound of +inf or an upper bound of -inf
(no feasible point) are refused naming the index.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError, ShapeError


def check_box(lower, upper, n: int):
    """(lo, hi) float arrays of length n (module docstring)."""
    def side(v, fill, what):
        if v is None:
            return np.full(n, fill)
        arr = np.asarray(v, dtype=np.float64)
        arr = np.full(n, float(arr)) if arr.ndim == 0 else arr
        if arr.shape != (n,):
            raise ShapeError(f"the {what} bound must have length {n}, got shape {np.shape(v)}")
        if np.any(np.isnan(arr)):
            raise InvalidDataError(f"the {what} bound has NaN entries")
        return arr.copy()
    lo, hi = side(lower, -np.inf, "lower"), side(upper, np.inf, "upper")
    if np.any(lo > hi):
        i = int(np.flatnonzero(lo > hi)[0])
        raise InvalidDataError(f"the bounds contradict at index {i}: lower {lo[i]} > upper {hi[i]} (no feasible point)")
    if np.any(lo == np.inf) or np.any(hi == -np.inf):
        raise InvalidDataError("a lower bound of +inf or an upper bound of -inf leaves no feasible point")
    return lo, hi
