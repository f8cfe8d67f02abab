"""Checks shared by the bilevel constructors: data matrices, labels, the level's losses,
and the CVXPY declaration (convexity of the lower level in w, u present in it)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError, NonConvexError, ShapeError

LOSSES = ("squared", "logistic")
WEIGHTS = ("feature", "single", "sample")


def matrix(X, name: str):
    """A finite 2-D float64 array or CSR matrix."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        if not np.all(np.isfinite(X.data)):
            raise InvalidDataError(f"{name} has NaN or Inf entries")
        return X
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{name} must be a numeric matrix: {exc}") from None
    if X.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (samples x features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InvalidDataError(f"{name} has NaN or Inf entries")
    return np.ascontiguousarray(X)


def labels(y, n: int, name: str, loss: str) -> np.ndarray:
    """A finite vector of n targets; for the logistic loss, labels in {-1, +1} ({0, 1} is mapped)."""
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{name} must be numeric: {exc}") from None
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1 or y.size != n:
        raise ShapeError(f"{name} must be a vector of {n} entries (one per row of its matrix), got shape {np.shape(y)}")
    if not np.all(np.isfinite(y)):
        raise InvalidDataError(f"{name} has NaN or Inf entries")
    if loss == "logistic":
        vals = set(np.unique(y).tolist())
        if vals <= {0.0, 1.0}:
            y = 2.0 * y - 1.0
        elif not vals <= {-1.0, 1.0}:
            raise InvalidDataError(f"{name}: the logistic loss needs labels in {{-1, +1}} (or {{0, 1}}), "
                                   f"got values {sorted(vals)[:5]}")
    return np.ascontiguousarray(y)


def choice(value, allowed, name: str) -> str:
    if value not in allowed:
        raise InvalidDataError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidDataError(f"{name} must be a positive number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise InvalidDataError(f"{name} must be a positive finite number, got {value!r}")
    return v


def vector_u0(u0, q: int) -> np.ndarray | None:
    if u0 is None:
        return None
    u0 = np.asarray(u0, dtype=np.float64).reshape(-1)
    if u0.size == 1 and q > 1:
        u0 = np.full(q, float(u0[0]))
    if u0.size != q:
        raise ShapeError(f"u0 must have {q} entries (one per upper variable), got {u0.size}")
    if not np.all(np.isfinite(u0)):
        raise InvalidDataError("u0 has NaN or Inf entries")
    return u0


def bounds_pair(bounds, q: int):
    """(lo, hi) on the q upper variables: scalars or q-vectors, lo <= hi, no NaN."""
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise InvalidDataError(f"u_bounds must be a pair (lo, hi), got {bounds!r}")
    out = []
    for b, name in zip(bounds, ("lower", "upper")):
        b = np.asarray(-np.inf if b is None and name == "lower" else np.inf if b is None else b, dtype=np.float64)
        if b.size not in (1, q) or np.isnan(b).any():
            raise InvalidDataError(f"u_bounds: the {name} bound must be a number or {q} numbers without NaN")
        out.append(np.broadcast_to(b.reshape(-1), (q,)).copy())
    if np.any(out[0] > out[1]):
        raise InvalidDataError("u_bounds: a lower bound exceeds its upper bound")
    return out[0], out[1]


# ---- the CVXPY declaration --------------------------------------------------------------

def substitute(expr, mapping):
    """expr with the leaves in ``mapping`` (id -> replacement) replaced, rebuilt atom by atom."""
    if id(expr) in mapping:
        return mapping[id(expr)]
    if not expr.args:
        return expr
    return expr.copy([substitute(a, mapping) for a in expr.args])


def check_cvxpy(upper, lower, upper_vars, lower_vars, lower_constraints, upper_constraints):
    """Shapes and roles of a CVXPY bilevel declaration; returns the variable lists.

    The lower level must be convex in w for every fixed u: it is checked by DCP with each
    upper variable replaced by a Parameter of its shape (so exp(u) * sum_squares(w) is
    convex in w, sum_squares(w) - u * ... is judged as posed). Every upper variable must
    appear in the lower level (else the lower level does not depend on it and the
    problem is not bilevel in it)."""
    import cvxpy as cp
    for e, name in ((upper, "upper"), (lower, "lower")):
        if not isinstance(e, cp.Expression):
            raise InvalidDataError(f"the {name} objective must be a CVXPY expression, got {type(e).__name__}")
        if e.size != 1:
            raise ShapeError(f"the {name} objective must be scalar, got shape {e.shape}")
    uv, wv = list(upper_vars), list(lower_vars)
    if not uv or not wv:
        raise InvalidDataError("Bilevel needs at least one upper variable and one lower variable")
    for v in uv + wv:
        if not isinstance(v, cp.Variable):
            raise InvalidDataError(f"upper_vars and lower_vars must be cvxpy Variables, got {type(v).__name__}")
    if {v.id for v in uv} & {v.id for v in wv}:
        raise InvalidDataError("a variable is both an upper and a lower variable")
    lcons, ucons = list(lower_constraints or []), list(upper_constraints or [])
    declared = {v.id for v in uv + wv}
    for e, name in [(upper, "the upper objective"), (lower, "the lower objective")] + \
            [(c, "a constraint") for c in lcons + ucons]:
        extra = [v.name() for v in e.variables() if v.id not in declared]
        if extra:
            raise InvalidDataError(f"{name} uses variables that are neither upper nor lower: {extra}")
    in_lower = {v.id for e in [lower] + lcons for v in e.variables()}
    absent = [v.name() for v in uv if v.id not in in_lower]
    if absent:
        raise InvalidDataError(f"upper variables absent from the lower level: {absent} (the lower level does "
                               f"not depend on them, so they are not hyperparameters of it; move them to a "
                               f"single-level problem)")
    if not any(v.id in {w.id for w in wv} for v in lower.variables()):
        raise InvalidDataError("the lower objective does not depend on the lower variables")
    mapping = {id(v): cp.Parameter(v.shape, name=f"{v.name()}_fixed") for v in uv}
    low = substitute(lower, mapping)
    if not low.is_dcp() or not low.is_convex():
        raise NonConvexError(f"the lower level is not convex in the lower variables for fixed upper ones "
                             f"(DCP with the upper variables as parameters: curvature {low.curvature}); "
                             f"bilevel backends need a convex lower level")
    for c in lcons:
        if not substitute(c, mapping).is_dcp():
            raise NonConvexError(f"a lower-level constraint is not DCP in the lower variables: {c}")
    return uv, wv, lcons, ucons
