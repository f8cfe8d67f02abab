"""The lowering of an LP node to generic IR terms (admm / cvxpy take it), and the map
between the duals of those terms and the LP's row multipliers.

    [0] c^T x                       Linear(c) on x                      objective
    [1] A_E x == rl_E               ZeroSet on the equality rows E      (when E is not empty)
    [2] rl_I <= A_I x <= ru_I       Box on the other rows with a bound  (when not empty)
    [3] l <= x <= u                 Box on x                            (when a bound is finite)

A term's dual y_t lies in the subdifferential of its function, so c + sum A_t^T y_t = 0:
the LP's multipliers (y_i > 0 at a lower row bound) are minus the row terms' duals.
"""
from __future__ import annotations

import numpy as np

from ...ir import functions as F
from ...ir.linop import BlockRowOperator, IdentityOperator, MatrixOperator
from ...ir.program import Term


def row_groups(p):
    """(equality rows, other rows with a finite bound) of the node ``p``."""
    eq = np.flatnonzero(p.rl == p.ru)
    bounded = np.isfinite(p.rl) | np.isfinite(p.ru)
    ineq = np.flatnonzero(bounded & (p.rl != p.ru))
    return eq, ineq


def build_terms(p) -> list:
    m, n = p.shape
    ident = BlockRowOperator([(0, IdentityOperator(n))], n)
    terms = [Term(F.Linear(p.c.copy()), ident, np.zeros(n), 1.0, "c^T x", "objective")]
    eq, ineq = row_groups(p)
    if eq.size:
        op = BlockRowOperator([(0, MatrixOperator(p.A[eq]))], n)
        terms.append(Term(F.ZeroSet(), op, p.rl[eq].copy(), 1.0, "A_E x == b_E", "constraint"))
    if ineq.size:
        op = p.operator if ineq.size == m else MatrixOperator(p.A[ineq])
        terms.append(Term(F.Box(p.rl[ineq].copy(), p.ru[ineq].copy()), BlockRowOperator([(0, op)], n),
                          np.zeros(ineq.size), 1.0, "rl <= A x <= ru", "constraint"))
    if np.isfinite(p.l).any() or np.isfinite(p.u).any():
        terms.append(Term(F.Box(p.l.copy(), p.u.copy()), ident, np.zeros(n), 1.0, "l <= x <= u", "constraint"))
    return terms


def _layout(p):
    eq, ineq = row_groups(p)
    slots = [("obj", None)]
    if eq.size:
        slots.append(("rows", eq))
    if ineq.size:
        slots.append(("rows", ineq))
    if np.isfinite(p.l).any() or np.isfinite(p.u).any():
        slots.append(("cols", None))
    return slots


def duals_to_multipliers(p, duals):
    """The LP's row multipliers y from term duals in the lowering's layout (None when
    ``duals`` does not fit it)."""
    if duals is None or callable(duals):
        if callable(duals):
            duals = duals()
        if duals is None:
            return None
    slots = _layout(p)
    if not isinstance(duals, (list, tuple)) or len(duals) != len(slots):
        return None
    y = np.zeros(p.shape[0])
    for (kind, rows), d in zip(slots, duals):
        if kind == "rows":
            d = np.asarray(d, dtype=np.float64).ravel()
            if d.shape != rows.shape:
                return None
            y[rows] = -d
    return y


def multipliers_to_duals(p, y, x=None) -> list:
    """Term duals in the lowering's layout from row multipliers y (column duals: minus
    the allowed reduced costs)."""
    from .certificate import project_multipliers, project_reduced
    y = project_multipliers(p, np.asarray(y, dtype=np.float64))
    out = []
    for kind, rows in _layout(p):
        if kind == "obj":
            out.append(p.c.copy())
        elif kind == "rows":
            out.append(-y[rows])
        else:
            out.append(-project_reduced(p, p.c - p.AT @ y))
    return out


def ray_to_multipliers(p, ray):
    """A Farkas ray given as term duals (lowering layout) or as a plain row vector, in
    the multipliers' convention; None when it fits neither."""
    if isinstance(ray, np.ndarray) and ray.shape == (p.shape[0],):
        return ray.astype(np.float64)
    if isinstance(ray, (list, tuple)):
        slots = _layout(p)
        if len(ray) == len(slots):
            obj = np.asarray(ray[0], dtype=np.float64)
            if np.any(obj != 0):
                return None   # a ray has no objective part
            return duals_to_multipliers(p, list(ray))
    return None
