"""Validation of OT data, shared by the program node, the constructors and the recognizer."""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError, ShapeError

#: relative tolerance on sum(a) == sum(b) for balanced transport
MASS_RTOL = 1e-9


def check_eps(eps) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise InvalidDataError(f"eps must be a positive number, got {eps!r}") from None
    if not (np.isfinite(e) and e > 0):
        raise InvalidDataError(f"eps must be a positive finite number (the entropic regularization), got {eps!r}")
    return e


def check_marginal(v, name: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array of masses, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidDataError(f"{name} has NaN or Inf entries")
    if np.any(v < 0):
        raise InvalidDataError(f"{name} has negative entries (min {v.min():g}); masses must be >= 0")
    if not v.sum() > 0:
        raise InvalidDataError(f"{name} has zero total mass")
    return v


def check_balanced(a: np.ndarray, b: np.ndarray) -> None:
    sa, sb = float(a.sum()), float(b.sum())
    if abs(sa - sb) > MASS_RTOL * max(sa, sb):
        raise InvalidDataError(
            f"balanced OT needs equal total masses, got sum(a) = {sa:.12g} and sum(b) = {sb:.12g} "
            f"(relative difference {abs(sa - sb) / max(sa, sb):.2e}); normalize them or use unbalanced_ot")


def check_cost(C: np.ndarray, a: np.ndarray, b: np.ndarray, balanced: bool = True) -> np.ndarray:
    """C as a C-ordered float64 (n, m) array; +inf marks a forbidden pair, NaN and -inf are errors."""
    C = np.ascontiguousarray(C, dtype=np.float64)
    if C.shape != (a.size, b.size):
        raise ShapeError(f"cost matrix has shape {C.shape}, expected (len(a), len(b)) = ({a.size}, {b.size})")
    if np.isnan(C).any():
        raise InvalidDataError("cost matrix has NaN entries")
    if np.isneginf(C).any():
        raise InvalidDataError("cost matrix has -inf entries (the transport cost would be unbounded below)")
    if np.isposinf(C).any():
        ok = np.isfinite(C[np.ix_(a > 0, b > 0)])
        if balanced and (not ok.any(axis=1).all() or not ok.any(axis=0).all()):
            raise InvalidDataError("cost matrix is +inf on a whole row or column of positive mass: "
                                   "no transport plan is feasible (+inf marks forbidden pairs)")
    return C
