"""Certificates recomputed from a returned point on the original (unscaled) program.

For ``min sum_i w_i f_i(z_i), z_i = A_i x - b_i`` the Lagrange dual is
``max -sum_i [(w_i f_i)^*(y_i) + <b_i, y_i>]  s.t.  sum_i A_i^T y_i = 0``, and (x, y) is
optimal iff
    z_i lies in dom f_i                       (primal residual)
    sum_i A_i^T y_i = 0                       (dual residual)
    y_i is in the subdifferential ∂(w_i f_i)(z_i)  (subgradient residual)

Every measure is scale-invariant: it is relative to the sizes of the quantities it
compares (as PDLP and OSQP define relative KKT errors), with no absolute floor beyond
the smallest normal number. Multiplying the objective, a constraint or a variable by
1e-6 or 1e6 changes no verdict. In the max-norm:

    primal     dist(z_i, dom f_i) / max(|A_i x|, |b_i|, |A_i| |x|) (|x| over the variables
               the term reads)
    dual       |sum_i A_i^T y_i| / max_i(|A_i^T y_i|, |A_i| |y_i|, and for smooth terms the
               two parts of their gradient |A_i^T g_i(-b_i)| and |A_i^T (y_i - g_i(-b_i))|,
               where g_i = grad(w_i f_i): OSQP's |q| and |P x|; |A_i| |y_i| measures a
               term whose own rows must cancel, as in one-term LAD regression)
    subgrad    |z_i - prox_{t w_i f_i}(z_i + t y_i)| / max(|z_i|, t |y_i|) with
               t = |z_i| / |y_i| (so both sides have one size; exact: y_i ∈ ∂(w_i f_i)(z_i)
               iff z_i = prox_{t w_i f_i}(z_i + t y_i) for every t > 0); for smooth terms
               |y_i - g_i(z_i)| / max(|y_i|, |g_i(z_i)|)
    gap        |P - D| / max(|P|, |D|) (PDLP's relative gap); where the optimal value is
               tiny against the objective at x = 0, F0 (an exact fit, a projection onto a
               set holding the point), the smaller sqrt(|P - D| / F0), the relative
               accuracy of the residual that the gap allows.

Infeasibility and unboundedness are certified by rays, checked here the same way:
    primal infeasible: dy with sum A_i^T dy_i = 0 and sum [sigma_i(dy_i) + <b_i, dy_i>] < 0
    unbounded:         dx with A_i dx in the recession cone of every constraint, zero in
                       every bounded-below objective term, and strictly decreasing the
                       linear part of the objective; a ray certifies unboundedness only
                       together with a feasible point (``primal_residual``), which the
                       engine checks.
"""
from __future__ import annotations

import numpy as np

from ..result import Certificate
from .program import Program

#: the only absolute floor: the smallest normal double (0/0 is read as 0)
_TINY = np.finfo(np.float64).tiny
#: the gap ignores what rounding alone puts between P and D: a few ulps of their parts
_ROUNDING = 8 * np.finfo(np.float64).eps


def _inf(v) -> float:
    v = np.asarray(v)
    return float(np.max(np.abs(v), initial=0.0)) if v.size else 0.0


def _rel(num: float, den: float) -> float:
    """num / den with 0 / 0 read as 0 (a residual that is exactly zero is zero)."""
    if num == 0.0:
        return 0.0
    return num / max(den, _TINY)


def _is_smooth(term) -> bool:
    return term.f.smooth and not term.f.is_indicator


def term_residuals(program: Program, x: np.ndarray) -> list[np.ndarray]:
    return [t.residual(x) for t in program.terms]


def term_size(t, x: np.ndarray, ax: np.ndarray) -> float:
    """The size a term's residual is measured against: max(|A_i x|, |b_i|, |A_i| |x|), the
    last over the variables the term reads (so ``X[0, :] == 0`` is judged against X's
    size, not against its own vanishing left side)."""
    blocks = getattr(t.A, "blocks", None)
    if blocks is not None:
        reads = sum(op.norm_est() * _inf(x[o:o + op.shape[1]]) for o, op in blocks)
    else:
        reads = t.A.norm_est() * _inf(x)
    return max(_inf(ax), _inf(t.b), reads)


def primal_residual(program: Program, x: np.ndarray) -> float:
    """max_i dist(A_i x - b_i, dom f_i) / term_size: how far x is from feasible, relative."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return float("inf")
    worst = 0.0
    for t in program.terms:
        z = t.residual(x)
        dist = _inf(z - t.f.project_domain(z))
        if dist > 0.0:
            worst = max(worst, _rel(dist, term_size(t, x, z + t.b)))
    return worst


def certify(program: Program, x: np.ndarray, duals: list[np.ndarray] | None) -> Certificate:
    """KKT residuals and duality gap of (x, duals) on ``program`` (module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return Certificate(float("inf"), float("inf"), float("inf"), None, None, "kkt")
    terms = program.terms
    z = term_residuals(program, x)
    ax = [zi + t.b for t, zi in zip(terms, z)]        # A_i x
    zsize = [max(_inf(zi), _inf(a), _inf(t.b)) for t, zi, a in zip(terms, z, ax)]
    rp, zproj = 0.0, []
    for t, zi, a in zip(terms, z, ax):
        pz = t.f.project_domain(zi)
        zproj.append(pz)
        dist = _inf(zi - pz)
        if dist > 0.0:
            rp = max(rp, _rel(dist, term_size(t, x, a)))
    if not any(t.weight != 0.0 for t in program.objective_terms()):
        duals = [np.zeros(t.m) for t in terms]  # a feasibility problem: y = 0 is dual optimal
    elif duals is None:
        duals = recover_duals(program, x)
    rd, dual_scale = _dual_residual(program, duals)
    rs = max((_subgradient_residual(t, zi, yi, s, dual_scale) for t, zi, yi, s in zip(terms, z, duals, zsize)),
             default=0.0)
    gap, dual_obj = None, None
    try:
        gap, dual_obj = _gap(program, zproj, duals)
    except NotImplementedError:
        gap = None
    return Certificate(primal_residual=rp, dual_residual=rd, subgradient_residual=rs,
                       gap=gap, dual_objective=dual_obj, kind="kkt+gap" if gap is not None else "kkt")


def _dual_residual(program: Program, duals):
    """(|sum A_i^T y_i| / scale, scale); the scale is the largest part of the sum, each
    smooth term counted as its two parts (gradient at x = 0 and the change since)."""
    total = np.zeros(program.n)
    scale = carried = 0.0
    for t, yi in zip(program.terms, duals):
        aty = t.A.rmatvec(yi)
        total += aty
        scale = max(scale, _inf(aty))
        # |A_i| |y_i|: what the term's rows could add up to, so that a term whose own rows
        # must cancel (one nonsmooth term: A^T y = 0 in LAD regression) is measured too
        carried = max(carried, t.A.norm_est() * _inf(yi))
        if _is_smooth(t) and t.f.name not in ("zero", "linear"):
            g0 = t.grad(-t.b)
            if np.all(np.isfinite(g0)):
                atg0 = t.A.rmatvec(g0)
                scale = max(scale, _inf(atg0), _inf(aty - atg0))
    return _rel(_inf(total), max(scale, carried)), scale


def _subgradient_residual(t, zi, yi, zsize: float, dual_scale: float) -> float:
    """How far y_i is from ∂(w f)(z_i), relative (continuous in z_i, unlike dist(y, ∂f(z)),
    which jumps at kinks: an l1 entry at 1e-10 vs 0).

    The step t = |z| / |y| balances the two sides, with |y| at least this term's share of
    the dual scale (dual_scale / |A_i|): a multiplier at rounding level next to an
    inactive constraint is then read as zero, as it is relative to the problem's duals."""
    if t.f.is_indicator and t.f.name == "zero":
        return 0.0  # the normal cone of {0} is everything; only the primal residual matters
    if _is_smooth(t):
        g = t.grad(zi)
        return _rel(_inf(yi - g), max(_inf(yi), _inf(g)))
    ysize = _inf(yi)
    if dual_scale > 0.0:
        ysize = max(ysize, dual_scale / max(t.A.norm_est(), _TINY))
    if ysize == 0.0:
        if t.f.is_indicator:
            return 0.0  # 0 is in every normal cone; membership is the primal residual
        ysize = abs(t.weight)
    step = zsize / ysize if zsize > 0 else 1.0 / max(ysize, _TINY)
    err = _inf(zi - t.prox(zi + step * yi, step))
    return _rel(err, max(_inf(zi), step * _inf(yi)))


def _gap(program: Program, zproj, duals):
    """(relative duality gap, dual objective in the user's sense), or (None, None).

    |P - D| (less a few ulps of its parts: rounding) relative to max(|P|, |D|), as PDLP
    measures it (the dual residual, checked apart, makes D a bound). Where the optimal
    value is tiny against F0, the objective at x = 0 (an exact fit, a projection onto a
    set that holds the point), the smaller sqrt(|P - D| / F0) is used instead: the
    relative accuracy of the residual that this gap allows (down to about sqrt(eps),
    1.5e-8, since the residual itself is then rounding)."""
    P = program.constant
    D = program.constant
    F0 = 0.0
    parts = abs(program.constant)   # the size of what P and D add up, for their rounding
    for t, pz, yi in zip(program.terms, zproj, duals):
        if t.role == "objective" and not t.f.is_indicator:
            fv = t.weight * t.f.value(pz)
            P += fv
            parts += abs(fv)
            f0 = t.weight * t.f.value(-t.b)
            F0 += abs(f0) if np.isfinite(f0) else 0.0
        yh = t.project_dual_domain(yi)
        cv, by = t.conj(yh), float(np.dot(t.b, yh))
        D -= cv + by
        parts += abs(cv) + abs(by)
    if not (np.isfinite(P) and np.isfinite(D)):
        return None, None
    excess = max(abs(P - D) - _ROUNDING * parts, 0.0)
    gap = _rel(excess, max(abs(P), abs(D)))
    if F0 > 0.0:
        gap = min(gap, float(np.sqrt(excess / F0)))
    return gap, program.sign * D


def recover_duals(program: Program, x: np.ndarray, iters: int = 500, active_tol: float = 1e-9,
                  known: dict | None = None) -> list[np.ndarray]:
    """Duals for a primal point when the backend did not return them.

    Smooth terms get their gradient, and terms in ``known`` (term index -> dual, e.g. the
    multipliers an interior-point solver returned) keep theirs. The others get the element of their
    subdifferential that best cancels the rest: projected gradient (accelerated) on
    ``min ||sum_i A_i^T y_i||^2 / 2`` over y_i in ∂(w_i f_i)(z_i). Entries of z_i within
    ``active_tol`` of a kink, relative to the term's size max(|A_i x|, |b_i|), are treated
    as at the kink, so solutions from interior-point or first-order solvers (never
    exactly 0) still get a useful dual.
    """
    terms = program.terms
    z = []
    for t in terms:
        raw = t.residual(x)
        zi = t.f.project_domain(raw)
        snap = active_tol * max(_inf(raw + t.b), _inf(t.b))
        zi = np.where(np.abs(zi) <= snap, 0.0, zi) if t.f.separable else zi
        if t.f.name == "box":
            zi = _snap_box(t.f, zi, snap)  # near-active bounds open the normal cone
        elif t.f.name in ("l2", "linf") and _inf(zi) <= snap:
            zi = np.zeros_like(zi)  # a norm at (numerically) zero: the whole dual ball is open
        elif t.f.name == "soc":
            zi = _snap_soc(zi, snap)
        z.append(zi)
    known = known or {}
    fixed = [_is_smooth(t) or i in known for i, t in enumerate(terms)]
    y = [np.asarray(known[i], dtype=np.float64) if i in known else t.grad(zi) if f else np.zeros(t.m)
         for i, (t, zi, f) in enumerate(zip(terms, z, fixed))]
    free = [i for i, f in enumerate(fixed) if not f]
    if not free:
        return y
    base = np.zeros(program.n)
    for i, f in enumerate(fixed):
        if f:
            base += terms[i].A.rmatvec(y[i])
    L = sum(terms[i].A.norm_est() ** 2 for i in free) or 1.0
    step = 1.0 / L
    yk = [terms[i].project_subdifferential(z[i], y[i]) for i in free]
    wk = [v.copy() for v in yk]
    theta = 1.0
    for _ in range(iters):
        parts = [terms[i].A.rmatvec(wk[j]) for j, i in enumerate(free)]
        r = base + sum(parts)
        if _inf(r) <= 1e-14 * max([_inf(base)] + [_inf(p) for p in parts]):
            yk = wk
            break
        new = [terms[i].project_subdifferential(z[i], wk[j] - step * terms[i].A.matvec(r))
               for j, i in enumerate(free)]
        theta_n = 0.5 * (1 + np.sqrt(1 + 4 * theta * theta))
        beta = (theta - 1) / theta_n
        wk = [a + beta * (a - b) for a, b in zip(new, yk)]
        yk, theta = new, theta_n
    for j, i in enumerate(free):
        y[i] = yk[j]
    return y


def _snap_soc(z, tol):
    """Move a point within ``tol`` of the cone's boundary onto it (normal cone opens)."""
    t, nu = z[0], np.linalg.norm(z[1:])
    if abs(nu - t) <= tol and nu > 0:
        z = z.copy()
        z[0] = nu
    elif nu <= tol and abs(t) <= tol:
        z = np.zeros_like(z)
    return z


def _snap_box(box, z, tol):
    lo = np.broadcast_to(box.lo, z.shape)
    hi = np.broadcast_to(box.hi, z.shape)
    z = np.where(np.abs(z - lo) <= tol, lo, z)
    return np.where(np.abs(z - hi) <= tol, hi, z)


# ---------------------------------------------------------------------------------------
# Rays: infeasibility and unboundedness
# ---------------------------------------------------------------------------------------

def check_primal_infeasibility(program: Program, dy: list[np.ndarray], tol: float = 1e-6) -> bool:
    """True if ``dy`` certifies that the constraints cannot all hold.

    Farkas: every feasible x has <x, sum A_i^T dy_i> <= sum [sigma_i(dy_i) + <b_i, dy_i>]
    (the support functions of the constraint sets), so a negative right side with a
    vanishing left-side operator proves infeasibility. Both tests are relative: the sum
    of operators against its largest part (and |A_i| |dy_i|, so one term alone can carry it), the right side against its parts' sizes.
    """
    if not dy or len(dy) != len(program.terms):
        return False
    norm = _inf(np.concatenate([np.ravel(d) for d in dy]))
    if not np.isfinite(norm) or norm == 0.0:
        return False
    dy = [np.asarray(d, dtype=np.float64) / norm for d in dy]
    total = np.zeros(program.n)
    biggest = 0.0
    for t, d in zip(program.terms, dy):
        if not t.f.is_indicator:
            if _inf(d) > tol:
                return False  # objective terms with full domain have sigma = +inf off 0
            continue
        atd = t.A.rmatvec(d)
        total += atd
        biggest = max(biggest, _inf(atd), t.A.norm_est() * _inf(d))  # |A_i| |dy_i|: one term alone too
    right = farkas_value(program.terms, dy)
    if right is None:
        return False
    value, size = right
    return _rel(_inf(total), biggest) <= tol and value < 0 and -value > tol * size


def farkas_value(terms, dy):
    """(sum_i [sigma_i(dy_i) + <b_i, dy_i>] over the constraint terms, the sum of the sizes
    of its parts), or None where a support function is infinite: the right side of the
    Farkas test, shared with backends that check their own rays."""
    value = size = 0.0
    for t, d in zip(terms, dy):
        if not t.f.is_indicator:
            continue
        s = t.f.support(d)
        if not np.isfinite(s):
            return None
        bd = float(np.dot(t.b, d))
        value += s + bd
        size += abs(s) + abs(bd)
    return value, size


def check_unboundedness(program: Program, dx: np.ndarray, tol: float = 1e-6) -> bool:
    """True if ``dx`` is a direction along which every constraint stays satisfied (it lies
    in their recession cones), every nonlinear objective term stays constant, and the
    linear part of the objective strictly decreases. Each test is relative to the size
    of what it measures (|A_i| |dx| per term; the slope against sum_j |g_j dx_j|).

    This certifies unboundedness only together with a feasible point: the caller checks
    one (``primal_residual``).
    """
    dx = np.asarray(dx, dtype=np.float64)
    norm = _inf(dx)
    if not np.isfinite(norm) or norm == 0.0:
        return False
    dx = dx / norm
    g = np.zeros(program.n)
    for t in program.terms:
        if t.weight == 0.0 and not t.f.is_indicator:
            continue
        Ad = t.A.matvec(dx)
        name = t.f.name
        scale = max(_inf(Ad), t.A.norm_est())
        if t.f.is_indicator:
            if name in ("nonneg", "nonpos", "zero", "soc"):
                bad = _inf(Ad - t.f.project(Ad))
            elif name == "box":
                lo = np.broadcast_to(t.f.lo, Ad.shape)
                hi = np.broadcast_to(t.f.hi, Ad.shape)
                bad = max(_inf(np.where(np.isfinite(hi), np.maximum(Ad, 0.0), 0.0)),
                          _inf(np.where(np.isfinite(lo), np.minimum(Ad, 0.0), 0.0)))
            else:
                bad = _inf(Ad)  # a bounded set (or one we know nothing about): dx must not move it
        elif name == "linear":
            g += t.A.rmatvec(t.weight * np.broadcast_to(t.f.c, Ad.shape))
            continue
        elif name == "zero":
            continue
        else:
            bad = _inf(Ad)
        if _rel(bad, scale) > tol:
            return False
    slope = float(np.dot(g, dx))
    return slope < 0 and -slope > tol * float(np.dot(np.abs(g), np.abs(dx)))
