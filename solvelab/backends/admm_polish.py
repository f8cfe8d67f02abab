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
quasi-definite, with a sparse LU that is updated for the rows that change rather than
refactored (``active_kkt``); exact line search along the step: phi' is monotone and
piecewise linear, so its breakpoints are sorted and walked), then sets
y_{k+1} = rho (v - proj(v)). For an LP the method of multipliers ends in finitely many outer
steps. After each outer step the point is also judged with x moved onto the bounds of the
rows with a nonzero multiplier and with the multipliers nearest y that make x exactly
stationary on those rows (``_dual_fit``); the best of the four pairs is the step's
candidate.

With sigma this small a Newton step moves in the null space of the active rows until the
line search meets the next row's kink, so a subproblem can take hundreds of steps, one row
at a time (e226: ~1,700 Newton steps in all). That is why the KKT factor is updated, not
refactored, per step: consecutive J differ by a row or three (e226 then needs ~120 LUs, not
1,400). A try first probes: at most PROBE_OUTER outer steps of at most PROBE_NEWTON Newton
steps at rho = RHO (inexact subproblems; from a point near the solution that is enough:
standata). Where the probe gives up (PROBE_PATIENCE outer steps that do not halve the
certificate), the try starts again from ADMM's point with near-exact subproblems (up to
NEWTON_STEPS Newton steps), raising rho tenfold, up to RHO_MAX, after each outer step that
does not halve the certificate, and gives up after PATIENCE of them. admm lets polishing
spend the work of 120 sparse LUs plus one per 10 of its own iterations in all
(``PolishData.work``); a try the budget cuts short is resumed by the next one
(``Resume``) unless ADMM's own point has since become clearly better.

Everything is in admm's equilibrated variables (x = col_scale * x_internal), each split row
divided by its largest entry (box rows are separable, so that is exact), the objective by
its size (OSQP's cost scaling): rho and sigma then mean the same whatever the data's
scale. (A large rho converges in fewer outer steps, but y = rho (v - proj v) loses
rho eps |v| to cancellation: at 1e6 that alone held adlittle's gap at 1e-7 before the
multipliers were refitted; so rho starts at 1e4 and rises only where the steps stall.)
The caller keeps the polished point only when the problem's own certificate, computed
from it, passes. Programs qualify when every split term is a zero / nonneg /
nonpos / box indicator.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .active_kkt import ActiveKKT

POLISHABLE = ("zero", "nonneg", "nonpos", "box")
RHO = 1e4
SIGMA = 1e-8
OUTER_STEPS = 30
NEWTON_STEPS = 200
PROBE_OUTER = 12
PROBE_NEWTON = 40
#: outer steps that do not halve the certificate before a probe / a near-exact run gives up
PROBE_PATIENCE = 3
PATIENCE = 10
SOLVES_PER_LU = 20
#: the near-exact run's largest rho (raised tenfold from RHO at each step that does not halve)
RHO_MAX = 1e8
REFINE_STEPS = 3
#: the KKT system's size above which no polish is tried (its sparse LUs would be too costly)
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
        self.factorizations = 0     # sparse LUs so far
        self.solves = 0             # solves with an updated factor (active_kkt)
        self._kkt = None

    @property
    def work(self) -> float:
        """The polish's work so far in sparse LUs (the caller's budget): the LUs, and each
        solve with an updated factor as 1/SOLVES_PER_LU of one (a solve plus the Woodbury
        correction and the line search cost 1/40-1/20 of an LU on the Netlib LPs)."""
        return self.factorizations + self.solves / SOLVES_PER_LU

    def kkt(self, rho: float) -> ActiveKKT:
        """The Newton steps' KKT solver for this rho (one, kept across outer steps and tries:
        consecutive subproblems start from nearly the same active rows)."""
        if self._kkt is None or self._kkt.rho != rho:
            self._kkt = ActiveKKT(self.P + SIGMA * sp.identity(self.n), self.A, rho)
        return self._kkt

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
    """The exact minimizer t >= 0 of phi(x + t dx) (v = A x + y_k / rho, a = A dx); 0 when
    phi'(0) >= 0. phi' is continuous, nondecreasing and piecewise linear in t,

        phi'(t) = c0 + c1 t + rho sum_j a_j r_j(t),   r_j = v_j(t) - clip(v_j(t), l_j, u_j),

    and its slope changes by -rho a_j^2 where row j enters [l_j, u_j] and by +rho a_j^2 where
    it leaves: the breakpoints are sorted and walked to the root."""
    Pdx = d.P @ dx
    c0 = float(d.q @ dx + Pdx @ x + SIGMA * dx @ (x - xk))
    c1 = float(dx @ Pdx + SIGMA * dx @ dx)
    s0 = c0 + rho * float(a @ _residual(d, v))
    if not s0 < 0:
        return 0.0
    moving = a != 0.0
    am, vm = a[moving], v[moving]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lo = (d.lo[moving] - vm) / am
        t_hi = (d.hi[moving] - vm) / am
    # the row is outside its bounds for t < t_in (coming in) and for t > t_out (going out)
    t_in = np.where(am > 0, t_lo, t_hi)
    t_out = np.where(am > 0, t_hi, t_lo)
    w = rho * am * am
    outside = (t_in > 0) | (t_out <= 0)
    slope = c1 + float(w[outside].sum())
    t_bp = np.concatenate([t_in[t_in > 0], t_out[(t_out > 0) & np.isfinite(t_out)]])
    dw = np.concatenate([-w[t_in > 0], w[(t_out > 0) & np.isfinite(t_out)]])
    order = np.argsort(t_bp, kind="stable")
    t_bp, dw = t_bp[order], dw[order]
    # slope of phi' on each segment [t_{k-1}, t_k] and phi' at each breakpoint
    seg_slope = slope + np.concatenate([[0.0], np.cumsum(dw)])
    ends = np.concatenate([[0.0], t_bp])
    vals = s0 + np.cumsum(seg_slope[:-1] * np.diff(ends))
    k = int(np.searchsorted(vals >= 0, True)) if np.any(vals >= 0) else t_bp.size
    t0, f0, sl = ends[k], (s0 if k == 0 else vals[k - 1]), seg_slope[k]
    if not sl > 0:
        return float(t0) if t0 > 0 else 0.0
    return float(t0 - f0 / sl)


def _newton(d, x, xk, yk, rho: float, may_go_on, steps: int):
    """(x, y, done) after minimizing phi (the outer step's subproblem) from x by semismooth
    Newton with exact line searches; done is False when ``may_go_on()`` (asked before each
    step) said the budget was spent before the minimization ended. None if a linear solve
    fails."""
    v = d.A @ x + yk / rho
    r = _residual(d, v)
    mask_prev = None
    kkt = d.kkt(rho)
    for _ in range(steps):
        if not may_go_on():
            return x, rho * r, False
        grad = d.q + d.P @ x + SIGMA * (x - xk) + rho * (d.AT @ r)
        gsize = max(float(np.max(np.abs(d.q), initial=0.0)), float(np.max(np.abs(rho * r), initial=0.0)), 1e-300)
        if float(np.max(np.abs(grad), initial=0.0)) <= 1e-14 * gsize:
            break
        # the rows outside [l, u], and those on a bound (within rounding): an exact line
        # search ends on a breakpoint, and leaving that row out of the next step flips it
        # in and out of J from step to step
        edge = 1e-12 * np.maximum(np.abs(v), d.bound_size)
        mask = (r != 0.0) | d.eq | (v >= d.hi - edge) | (v <= d.lo + edge)
        f0, s0 = kkt.factorizations, kkt.solves
        sol = kkt.solve(mask, -grad)
        d.factorizations += kkt.factorizations - f0
        d.solves += kkt.solves - s0
        if sol is None:
            return None
        dx = sol[0]
        a = d.A @ dx
        step = _line_min(d, x, dx, xk, v, a, rho)
        if step == 0.0:
            break
        x = x + step * dx
        v = v + step * a
        r = _residual(d, v)
        if mask_prev is not None and step == 1.0 and np.array_equal(mask, mask_prev):
            break
        mask_prev = mask
    return x, rho * r, True


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


class Resume:
    """A try's state between outer steps or inside one: the proximal center xk and the
    multipliers yk of the outer step, the Newton iterate x, the try's best point judged,
    its stall count and its outer steps so far. When the budget cuts a try short, the next
    one goes on from here instead of from ADMM's point, so the work spent is not lost
    (before the KKT updates, e226 needed one try of 1,414 LUs, and seven tries cut short
    from ADMM's points did not certify it); ``value`` (set at the cut) is the certificate
    there; ``rho`` the outer steps' current rho."""

    def __init__(self, xk, yk, x, probe: bool):
        self.xk, self.yk, self.x, self.probe = xk, yk, x, probe
        self.best, self.stalled, self.outer = None, 0, 0
        self.rho = RHO
        self.value = np.inf

    def cut(self, d, judge) -> "Resume":
        """This state as the budget leaves it, judged: the certificate at the Newton
        iterate with the multipliers the outer step would give it (the caller goes on from
        here only where ADMM's own point is no better)."""
        r = _residual(d, d.A @ self.x + self.yk / self.rho)
        self.value = float(judge(self.x, d.from_rows(self.rho * r)))
        return self


def _outer_steps(d, st: Resume, judge, good: float, may_go_on, newton_steps: int, max_outer: int):
    """Outer proximal-multiplier steps from st (updated in place), each subproblem by at
    most ``newton_steps`` Newton steps. Returns (best, cut): best is (x, duals_split,
    value) of the best point judged (the certified one where value <= good), cut whether
    the budget ended the run."""
    while st.outer < max_outer:
        if not may_go_on():
            return st.best, True
        got = _newton(d, st.x, st.xk, st.yk, st.rho, may_go_on, newton_steps)
        if got is None:
            break
        st.x, y_next, done = got
        if not done:
            return st.best, True
        st.yk, st.xk = y_next, st.x
        st.outer += 1
        x, y = st.x, st.yk
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
            return (xc, yc, value), False
        # a step that does not halve the best value so far counts toward giving up
        st.stalled = 0 if (st.best is None or value < 0.5 * st.best[2]) else st.stalled + 1
        # the near-exact run raises rho tenfold after each such step: the method of
        # multipliers then converges faster (israel: the objective creeps to the optimum
        # over tens of outer steps at 1e4 and reaches it at 1e8), and the refitted
        # multipliers (_dual_fit) undo the cancellation a large rho brings to y
        if st.stalled and not st.probe and st.rho < RHO_MAX:
            st.rho = min(10.0 * st.rho, RHO_MAX)
        if st.best is None or value < st.best[2]:
            st.best = (xc.copy(), yc, value)
        if st.stalled >= (PROBE_PATIENCE if st.probe else PATIENCE):
            break
    return st.best, False


def polish(d: PolishData, x0, duals_split, judge, good: float, may_go_on, resume: Resume | None = None):
    """One try: outer proximal-multiplier steps from ADMM's (x0, duals), or from ``resume``.
    After each outer step, ``judge(x, duals_split)`` gives the certificate's value; a value
    <= ``good`` ends the try, as does ``may_go_on()`` turning False (the caller's budget,
    asked before each Newton step). A fresh try first probes with PROBE_OUTER outer steps of
    at most PROBE_NEWTON Newton steps (inexact subproblems: enough from a point near the
    solution: standata), then starts again from ADMM's point with OUTER_STEPS of
    at most NEWTON_STEPS (e226, gesa2 and standmps need near-exact subproblems: with the
    probe's cap their outer steps wander). Returns (best, resume): best is (x, duals_split,
    value) of the best point judged, or None; resume is a ``Resume`` when the budget cut
    the try short, else None."""
    best = None
    if resume is None or resume.probe:
        probe = resume or Resume(x0.copy(), d.to_rows(duals_split), x0.copy(), probe=True)
        best, cut = _outer_steps(d, probe, judge, good, may_go_on, PROBE_NEWTON, PROBE_OUTER)
        if cut or (best is not None and best[2] <= good):
            return best, (probe.cut(d, judge) if cut else None)
        resume = Resume(x0.copy(), d.to_rows(duals_split), x0.copy(), probe=False)
    full, cut = _outer_steps(d, resume, judge, good, may_go_on, NEWTON_STEPS, OUTER_STEPS)
    if full is not None and (best is None or full[2] <= best[2]):
        best = full
    return best, (resume.cut(d, judge) if cut else None)
