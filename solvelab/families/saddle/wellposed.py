"""Whether a saddle point exists when a side is unbounded (checked at construction).

On polyhedral X and Y (simplices, boxes) the bilinear game is an LP pair: phi(x) =
max_y L(x, y) is minimized over X, psi(y) = min_x L(x, y) maximized over Y, and by LP
duality a saddle point exists if and only if both have a point where they are finite:

    x side  some y in Y makes g_x = c + K y allowed on x's unbounded coordinates
            (= 0 where x_i is free, >= 0 where only x_i -> +inf, <= 0 where only -inf)
    y side  some x in X makes g_y = K^T x - b allowed on y's unbounded coordinates
            (= 0 free, <= 0 where y_j -> +inf only, >= 0 where y_j -> -inf only)

A side with a positive quadratic regularizer (strongly convex in x, concave in y) has
a finite best response everywhere and needs no check. Each check is one feasibility LP, solved by HiGHS (scipy.optimize.linprog) on the data divided
by its largest entry (HiGHS's tolerances are absolute). Bounded sides need no check
(von Neumann / Sion); a side with k unbounded coordinates costs an LP with k rows.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError
from ...kernels.saddle import Domain


def _bounds_and_eq(dom, size):
    """linprog's (bounds, A_eq, b_eq) of a player's set."""
    if dom.kind == Domain.SIMPLEX:
        return [(0.0, None)] * size, np.ones((1, size)), np.ones(1)
    bnds = [(None if np.isneginf(a) else float(a), None if np.isposinf(b) else float(b))
            for a, b in zip(dom.lo, dom.hi)]
    return bnds, None, None


def _feasible(M, offset, other, lo_free, hi_free, sign) -> bool:
    """Is there a point v of the set ``other`` with s = sign (M v + offset) satisfying, on
    each row i: s_i = 0 when both lo_free and hi_free, s_i >= 0 when only hi_free (the
    coordinate can go to +inf), s_i <= 0 when only lo_free?"""
    from scipy.optimize import linprog
    both = lo_free & hi_free
    up = hi_free & ~lo_free
    down = lo_free & ~hi_free
    bnds, Aeq0, beq0 = _bounds_and_eq(other, M.shape[1])
    Mm = sp.csr_matrix(M) * sign
    off = offset * sign
    A_ub = sp.vstack([-Mm[up], Mm[down]]).tocsr() if (up.any() or down.any()) else None
    b_ub = np.r_[off[up], -off[down]] if A_ub is not None else None
    eqs, rhs = [], []
    if both.any():
        eqs.append(Mm[both])
        rhs.append(-off[both])
    if Aeq0 is not None:
        eqs.append(sp.csr_matrix(Aeq0))
        rhs.append(beq0)
    A_eq = sp.vstack(eqs).tocsr() if eqs else None
    b_eq = np.concatenate(rhs) if eqs else None
    res = linprog(np.zeros(M.shape[1]), A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bnds, method="highs")
    if res.status == 2:
        return False
    if res.status != 0:
        raise InvalidDataError(f"could not decide whether the saddle point exists (HiGHS: {res.message})")
    return True


def check_exists(K, c, b, X, Y, x_reg: float = 0.0, y_reg: float = 0.0) -> None:
    """Raise InvalidDataError when a side is unbounded and the game has no saddle point."""
    check_x = not X.bounded and x_reg == 0.0
    check_y = not Y.bounded and y_reg == 0.0
    if not (check_x or check_y):
        return
    scale = max(float(np.max(np.abs(K.data if sp.issparse(K) else K), initial=0.0)), float(np.max(np.abs(c))),
                float(np.max(np.abs(b))))
    if scale == 0.0:
        return        # L is identically 0: every point is a saddle point
    Ks = K / scale
    if check_x:
        lo_free, hi_free = np.isneginf(X.lo), np.isposinf(X.hi)
        rows = lo_free | hi_free
        if not _feasible(Ks[rows] if sp.issparse(Ks) else Ks[rows], c[rows] / scale, Y, lo_free[rows],
                         hi_free[rows], 1.0):
            raise InvalidDataError("the game has no saddle point: min over x is -inf (no y in Y makes c + K y vanish "
                                   "on x's free coordinates, or point away from x's infinite bounds); bound x")
    if check_y:
        lo_free, hi_free = np.isneginf(Y.lo), np.isposinf(Y.hi)
        cols = lo_free | hi_free
        KT = (Ks.T.tocsr() if sp.issparse(Ks) else Ks.T)[cols]
        # y maximizes g_y^T y: y_j -> +inf needs g_y <= 0, i.e. -(K^T x - b) >= 0
        if not _feasible(KT, -b[cols] / scale, X, lo_free[cols], hi_free[cols], -1.0):
            raise InvalidDataError("the game has no saddle point: max over y is +inf (no x in X makes K^T x - b vanish "
                                   "on y's free coordinates, or point away from y's infinite bounds); bound y")
