"""Checks of saddle-point data, shared by the node and the constructors.

A domain spec is one of

    "simplex"              the probability simplex {x >= 0, sum x = 1}
    ("box", lo, hi)        lo <= x <= hi, lo / hi scalars or arrays, infinite entries
                           allowed (-inf lower, +inf upper)
    "free"                 the whole space, i.e. ("box", -inf, inf)

Every error names the culprit (the argument, the first bad entry).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError, ShapeError
from ...kernels.saddle import Domain


@dataclass(frozen=True)
class DomainSpec:
    """A player's set: ``kind`` (Domain), and for a box its bounds (empty for the simplex)."""
    kind: Domain
    lo: np.ndarray
    hi: np.ndarray

    @property
    def bounded(self) -> bool:
        return self.kind == Domain.SIMPLEX or bool(np.all(np.isfinite(self.lo)) and np.all(np.isfinite(self.hi)))

    def center(self, size: int) -> np.ndarray:
        """The uniform strategy on the simplex, 0 clipped into a box: the start of the
        saddle backends and the first of the coupling's check points."""
        if self.kind == Domain.SIMPLEX:
            return np.full(size, 1.0 / size)
        return np.clip(np.zeros(size), self.lo, self.hi)

    def describe(self) -> str:
        if self.kind == Domain.SIMPLEX:
            return "simplex"
        if np.all(np.isneginf(self.lo)) and np.all(np.isposinf(self.hi)):
            return "free"
        return "box"


def _real_array(v, name: str) -> np.ndarray:
    arr = np.asarray(v)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
            or np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidDataError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def check_matrix(K, name: str = "K"):
    """K as a C-ordered float64 array or a CSR matrix (sorted, no explicit zeros), non-empty
    and finite."""
    if sp.issparse(K):
        if np.issubdtype(K.dtype, np.complexfloating) or not (np.issubdtype(K.dtype, np.number)
                                                              or K.dtype == bool):
            raise InvalidDataError(f"{name} must hold real numbers, got dtype {K.dtype}")
        K = sp.csr_matrix(K, dtype=np.float64)
        if K.shape[0] == 0 or K.shape[1] == 0:
            raise ShapeError(f"{name} is empty (shape {K.shape}): a saddle point needs both players")
        if not np.all(np.isfinite(K.data)):
            raise InvalidDataError(f"{name} has NaN or Inf entries")
        K.sum_duplicates()
        K.eliminate_zeros()
        K.sort_indices()
        return K
    try:
        A = _real_array(K, name)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{name} must be a numeric 2-D matrix: {exc}") from None
    if A.ndim != 2:
        raise ShapeError(f"{name} must be a 2-D matrix (m, n), got shape {A.shape}")
    if A.size == 0:
        raise ShapeError(f"{name} is empty (shape {A.shape}): a saddle point needs both players")
    bad = ~np.isfinite(A)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InvalidDataError(f"{name} has NaN or Inf entries ({name}[{i}, {j}] = {A[i, j]!r})")
    return np.ascontiguousarray(A)


def check_vector(v, size: int, name: str) -> np.ndarray:
    """v as a finite float64 vector of ``size`` (None: zeros)."""
    if v is None:
        return np.zeros(size)
    arr = _real_array(v, name)
    if arr.ndim == 0:
        arr = np.full(size, float(arr))
    arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.shape != (size,):
        raise ShapeError(f"{name} must have shape ({size},) to match K, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidDataError(f"{name} has NaN or Inf entries (entry {int(np.flatnonzero(~np.isfinite(arr))[0])})")
    return arr


def check_reg(v, name: str) -> float:
    """A quadratic regularizer's weight: a finite real >= 0 (0: none)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not np.isfinite(v) or v < 0:
        raise InvalidDataError(f"{name} must be a finite number >= 0 (the weight of the quadratic regularizer), "
                               f"got {v!r}")
    return float(v)


def _bound(v, size: int, name: str) -> np.ndarray:
    arr = _real_array(v, name)
    if arr.ndim == 0:
        arr = np.full(size, float(arr))
    if arr.shape != (size,):
        raise ShapeError(f"{name} must be a scalar or have shape ({size},), got {arr.shape}")
    if np.isnan(arr).any():
        raise InvalidDataError(f"{name} has NaN entries (entry {int(np.flatnonzero(np.isnan(arr))[0])})")
    return arr


def check_domain(spec, size: int, name: str) -> DomainSpec:
    """The DomainSpec of ``spec`` for a player with ``size`` coordinates (module docstring)."""
    if isinstance(spec, DomainSpec):
        return spec
    if isinstance(spec, str):
        if spec == "simplex":
            return DomainSpec(Domain.SIMPLEX, np.empty(0), np.empty(0))
        if spec == "free":
            return DomainSpec(Domain.BOX, np.full(size, -np.inf), np.full(size, np.inf))
        raise InvalidDataError(f"{name}: unknown domain {spec!r}; use 'simplex', 'free' or ('box', lo, hi)")
    if isinstance(spec, (tuple, list)) and len(spec) == 3 and isinstance(spec[0], str) and spec[0] == "box":
        lo = _bound(spec[1], size, f"{name} lower bound")
        hi = _bound(spec[2], size, f"{name} upper bound")
        if np.isposinf(lo).any():
            i = int(np.flatnonzero(np.isposinf(lo))[0])
            raise InvalidDataError(f"{name} lower bound has +inf entries (entry {i})")
        if np.isneginf(hi).any():
            i = int(np.flatnonzero(np.isneginf(hi))[0])
            raise InvalidDataError(f"{name} upper bound has -inf entries (entry {i})")
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise InvalidDataError(f"{name}: lower bound {lo[i]:g} > upper bound {hi[i]:g} at entry {i}: the box is "
                                   f"empty")
        return DomainSpec(Domain.BOX, np.ascontiguousarray(lo), np.ascontiguousarray(hi))
    raise InvalidDataError(f"{name}: a domain is 'simplex', 'free' or ('box', lo, hi), got {spec!r:.80}")
