"""Polishing admm's point on polyhedral QPs and LPs: a few steps of the proximal method of
multipliers with semismooth Newton inner solves, started from ADMM's (x, y).

ADMM reaches moderate accuracy quickly and high accuracy slowly: on the Netlib LPs it sits
at relative KKT 1e-4..1e-2 for tens of thousands of iterations, because one ill-scaled row
moves slowly. OSQP finishes with a *polish*: one linear solve over the rows its iterate
guesses active. On degenerate LPs that guess is often wrong (adlittle at 5000 iterations:
rows at a bound with a zero dual, and a rank-deficient, inconsistent system), so here the
guess is corrected by Newton's method instead of trusted. For

    min  q^T x + 1/2 x^T P x   s.t.  l <= A x <= u       (the split rows, equalities l = u)

each outer step k minimizes the proximal augmented Lagrangian

    phi(x) = q^T x + 1/2 x^T P x + sigma/2 |x - x_k|^2 + rho/2 |v - proj_[l,u](v)|^2,
    v = A x + y_k / rho,

a convex piecewise quadratic, by semismooth Newton (the active rows J are those where v
is outside [l, u]; the step solves [[P + sigma I, A_J^T], [A_J, -I/rho]] [dx; w] = [-grad; 0],
quasi-definite, by SciPy's sparse LU; exact line search along the step: phi' is monotone
and piecewise linear), then sets
y_{k+1} = rho (v - proj(v)). For an LP the method of multipliers ends in finitely many outer
steps; from a good enough ADMM point a handful suffice (adlittle after 5000 iterations: 3),
from a poor one they often do not, and the try is given up. After each outer step the point
is also judged with x moved onto the bounds of the rows with a nonzero multiplier and with
the multipliers nearest y that make x exactly stationary on those rows (``_dual_fit``); the
best of the four pairs is the step's candidate.

Each Newton step costs one sparse LU (and each outer step two more, for the snapped x and
the refitted y); admm lets polishing spend 120 plus one per 100 of its own iterations in all
(``PolishData.factorizations``), at most 12 outer steps of at most 40 Newton steps per try,
and gives a try up after three outer steps that do not halve the certificate.

Everything is in admm's equilibrated variables (x = col_scale * x_internal), each split row
divided by its largest entry (box rows are separable, so that is exact), the objective by
its size (OSQP's cost scaling): rho = 1e4 and sigma = 1e-8 then mean the same whatever the
data's scale. (A larger rho converges in fewer outer steps, but y = rho (v - proj v) loses
rho eps |v| to cancellation: at 1e6 that alone held adlittle's gap at 1e-7.) The caller keeps the polished point only when the problem's own certificate,
computed from it, passes. Programs qualify when every split term is a zero / nonneg /
nonpos / box indicator.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

POLISHABLE = ("zero", "nonneg", "nonpos", "box")
RHO = 1e4
SIGMA = 1e-8
OUTER_STEPS = 12
NEWTON_STEPS = 40
REFINE_STEPS = 3
#: the KKT system's size above which no polish is tried (a sparse LU of that size per step)
MAX_SIZE = 200_000


def polishable(split_terms) -> bool:
    """Whether every split term is a polyhedral indicator the polish knows the bounds of."""
    return bool(split_terms) and all(t.f.is_indicator and t.f.name in POLISHABLE for t in split_terms)


def bounds(f, m: int):
    """(lo, hi) of the set {lo <= z <= hi} the indicator f describes, as arrays of length m."""
    zeros, inf = np.zeros(m), np.full(m, np.inf)
    if f.name == "zero":
        return zeros, zeros
    if f.name == "nonneg":
        return zeros, inf
    if f.name == "nonpos":
        return -inf, zeros
    return (np.broadcast_to(np.asarray(f.lo, dtype=np.float64), (m,)).copy(),
            np.broadcast_to(np.asarray(f.hi, dtype=np.float64), (m,)).copy())


class PolishData:
    """The QP / LP in polishing's scaling, built once per (data, structure)."""

    def __init__(self, S, split_ids, split_terms, q_lin, quad_d, quad_target, obj_scale):
        M = S.M_sparse if S.dense else S.M
        n = S.n
        rows, lo, hi = [], [], []
        for i, t in zip(split_ids, split_terms):
            a, b = S.offsets[i]
            bb = np.broadcast_to(np.asarray(t.b, dtype=np.float64), (t.m,))
            tl, th = bounds(t.f, t.m)
            rows.append(M[a:b])
            lo.append(bb + tl)
            hi.append(bb + th)
        A = sp.vstack(rows, format="csr")
        big = np.asarray(abs(A).max(axis=1).todense()).ravel()
        self.row_scale = np.where(big > 0, 1.0 / np.where(big > 0, big, 1.0), 1.0)
        R = sp.diags(self.row_scale)
        self.A = (R @ A).tocsr()
        self.AT = self.A.T.tocsr()
        self.lo = self.row_scale * np.concatenate(lo)
        self.hi = self.row_scale * np.concatenate(hi)
        self.eq = self.lo == self.hi
        # each row's largest finite bound: the scale of "on a bound, within rounding"
        self.bound_size = np.maximum(np.abs(np.where(np.isfinite(self.lo), self.lo, 0.0)),
                                     np.abs(np.where(np.isfinite(self.hi), self.hi, 0.0)))
        q = q_lin.copy()
        if S.m_quad:
            Mq = M[:S.m_quad]
            self.P = (Mq.T @ sp.diags(quad_d) @ Mq).tocsr() / obj_scale
            q -= Mq.T @ (quad_d * quad_target)
        else:
            self.P = sp.csr_matrix((n, n))
        self.q = q / obj_scale
        self.obj_scale = obj_scale
        self.n, self.m = n, self.A.shape[0]
        self.sizes = [t.m for t in split_terms]
        self.factorizations = 0     # sparse LUs so far (the caller's budget)

    def to_rows(self, duals_split):
        """Split-term duals (original units) -> the scaled rows' y."""
        return np.concatenate(duals_split) / (self.row_scale * self.obj_scale)

    def from_rows(self, y):
        """The scaled rows' y -> one dual array per split term, in original units."""
        full = y * self.row_scale * self.obj_scale
        return np.split(full, np.cumsum(self.sizes)[:-1])


def _solve(d, K, rhs):
    """K^-1 rhs by SciPy's sparse LU (counted in ``d.factorizations``) with a few steps of
    iterative refinement: the matrices are ill-conditioned (rho / sigma, or the 1e-12
    regularization of a least-squares system). None when the factorization fails or the
    answer is not finite."""
    try:
        d.factorizations += 1
        lu = spla.splu(K)
        sol = lu.solve(rhs)
        for _ in range(REFINE_STEPS):
            sol += lu.solve(rhs - K @ sol)
    except (RuntimeError, ValueError):   # a singular factor
        return None
    return sol if np.all(np.isfinite(sol)) else None


def _residual(d, v):
    return v - np.clip(v, d.lo, d.hi)


def _line_min(d, x, dx, xk, v, a, rho: float) -> float:
    """The exact minimizer t >= 0 of phi(x + t dx) (v = A x + y_k / rho, a = A dx). phi' is
    nondecreasing (phi is convex), c0 + c1 t + rho sum_j a_j r_j(t): bracketed by doubling,
    then bisected; 0 when phi'(0) >= 0."""
    Pdx = d.P @ dx
    c0 = float(d.q @ dx + Pdx @ x + SIGMA * dx @ (x - xk))
    c1 = float(dx @ Pdx + SIGMA * dx @ dx)

    def slope(t):
        return c0 + c1 * t + rho * float(a @ _residual(d, v + t * a))

    if not slope(0.0) < 0:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(80):
        if slope(hi) >= 0:
            break
        lo, hi = hi, 2.0 * hi
    else:
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if slope(mid) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return hi


def _newton(d, x, xk, yk, rho: float):
    """(x, y) after minimizing phi (the outer step's subproblem) from x by semismooth
    Newton with exact line searches; None if a linear solve fails."""
    v = d.A @ x + yk / rho
    r = _residual(d, v)
    J_prev = None
    for _ in range(NEWTON_STEPS):
        grad = d.q + d.P @ x + SIGMA * (x - xk) + rho * (d.AT @ r)
        gsize = max(float(np.max(np.abs(d.q), initial=0.0)), float(np.max(np.abs(rho * r), initial=0.0)), 1e-300)
        if float(np.max(np.abs(grad), initial=0.0)) <= 1e-14 * gsize:
            break
        # the rows outside [l, u], and those on a bound (within rounding): an exact line
        # search ends on a breakpoint, and leaving that row out of the next step flips it
        # in and out of J from step to step
        edge = 1e-12 * np.maximum(np.abs(v), d.bound_size)
        J = np.flatnonzero((r != 0.0) | d.eq | (v >= d.hi - edge) | (v <= d.lo + edge))
        AJ = d.A[J]
        K = sp.bmat([[d.P + SIGMA * sp.identity(d.n), AJ.T], [AJ, -sp.identity(J.size) / rho]], format="csc")
        sol = _solve(d, K, np.concatenate([-grad, np.zeros(J.size)]))
        if sol is None:
            return None
        dx = sol[:d.n]
        a = d.A @ dx
        step = _line_min(d, x, dx, xk, v, a, rho)
        if step == 0.0:
            break
        x = x + step * dx
        v = v + step * a
        r = _residual(d, v)
        if J_prev is not None and step == 1.0 and np.array_equal(J, J_prev):
            break
        J_prev = J
    return x, rho * r


def _snap(d, x, y):
    """x moved (least squares) onto the bounds of the rows whose multiplier is nonzero.
    A proximal-multiplier point holds them only to within |y| / rho, which leaves a duality
    gap of order |y|^2 / rho; this removes it. None if the solve fails."""
    J = np.flatnonzero(y != 0.0)
    if J.size == 0:
        return x
    AJ = d.A[J]
    t = np.where(y[J] > 0, d.hi[J], d.lo[J])
    if not np.all(np.isfinite(t)):
        return None
    K = sp.bmat([[sp.identity(d.n), AJ.T], [AJ, -1e-12 * sp.identity(J.size)]], format="csc")
    sol = _solve(d, K, np.concatenate([np.zeros(d.n), t - AJ @ x]))
    return None if sol is None else x + sol[:d.n]


def _dual_fit(d, x, y):
    """The multipliers nearest y, on the rows where y is nonzero, that make x exactly
    stationary: min |w - y_J|^2 s.t. A_J^T w = -(q + P x) (regularized by 1e-12). The
    proximal-multiplier y leaves a stationarity error of ~1e-9 that a reduced cost on an
    interior column, weighted by a distant bound, turns into a duality gap (sp150x300d:
    5e-6). None if the solve fails."""
    J = np.flatnonzero(y != 0.0)
    if J.size == 0:
        return y
    AJ = d.A[J]
    K = sp.bmat([[sp.identity(J.size), AJ], [AJ.T, -1e-12 * sp.identity(d.n)]], format="csc")
    sol = _solve(d, K, np.concatenate([y[J], -(d.q + d.P @ x)]))
    if sol is None:
        return None
    out = np.zeros_like(y)
    out[J] = sol[:J.size]
    return out


def polish(d: PolishData, x0, duals_split, judge, good: float, budget: int, max_outer: int = OUTER_STEPS):
    """Outer proximal-multiplier steps from ADMM's (x0, duals); after each, ``judge(x,
    duals_split)`` gives the certificate's value, and a value <= ``good`` ends the run, as
    does ``d.factorizations`` reaching ``budget`` (checked between outer steps). Returns
    (x, duals_split, value) of the best point judged, or None where no step could be taken."""
    x, y = x0.copy(), d.to_rows(duals_split)
    best = None
    stalled = 0
    for _ in range(max_outer):
        if d.factorizations >= budget:
            break
        got = _newton(d, x, x, y, RHO)
        if got is None:
            break
        x, y = got
        # the point and its multipliers as the method leaves them, and with x snapped onto
        # the active rows' bounds and y fitted to exact stationarity there: the best of the
        # four pairs is the step's candidate (the method itself goes on from (x, y))
        snapped = _snap(d, x, y)
        fitted = _dual_fit(d, x if snapped is None else snapped, y)
        xs = [x] + ([] if snapped is None else [snapped])
        ys = [d.from_rows(y)] + ([] if fitted is None else [d.from_rows(fitted)])
        step_best = min(((judge(xc, yc), k, xc, yc) for k, (xc, yc) in enumerate((a, b) for a in xs for b in ys)),
                        key=lambda c: (c[0], c[1]))
        value, _, xc, yc = step_best
        if not np.isfinite(value):
            break
        if value <= good:
            return xc, yc, value
        # a step that does not halve the best value so far counts toward giving up
        stalled = 0 if (best is None or value < 0.5 * best[2]) else stalled + 1
        if best is None or value < best[2]:
            best = (xc.copy(), yc, value)
        if stalled >= 3:
            break
    return best
