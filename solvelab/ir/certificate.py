"""Certificates recomputed from a returned point on the original (unscaled) program.

For ``min sum_i w_i f_i(z_i), z_i = A_i x - b_i`` the Lagrange dual is
``max -sum_i [(w_i f_i)^*(y_i) + <b_i, y_i>]  s.t.  sum_i A_i^T y_i = 0``, and (x, y) is
optimal iff
    z_i lies in dom f_i                       (primal residual)
    sum_i A_i^T y_i = 0                       (dual residual)
    y_i is in the subdifferential ∂(w_i f_i)(z_i)  (subgradient residual, measured as
                                              ||z_i - prox_{w_i f_i}(z_i + y_i)||, which
                                              is continuous in z_i)
All three are measured in the max-norm, relative to the size of what they compare. The
duality gap uses the duals projected onto dom f_i^*, and is relative to max(1, |P|).

Infeasibility and unboundedness are certified by rays, checked here the same way:
    primal infeasible: dy with sum A_i^T dy_i = 0 and sum [sigma_i(dy_i) + <b_i, dy_i>] < 0
    unbounded:         dx with A_i dx in the recession cone of every constraint, zero in
                       every bounded-below objective term, and strictly decreasing the
                       linear part of the objective.
"""
from __future__ import annotations

import numpy as np

from ..result import Certificate
from .program import Program

_EPS = 1e-300


def _inf(v) -> float:
    v = np.asarray(v)
    return float(np.max(np.abs(v), initial=0.0)) if v.size else 0.0


def term_residuals(program: Program, x: np.ndarray) -> list[np.ndarray]:
    return [t.residual(x) for t in program.terms]


def certify(program: Program, x: np.ndarray, duals: list[np.ndarray] | None) -> Certificate:
    """KKT residuals and duality gap of (x, duals) on ``program``."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return Certificate(float("inf"), float("inf"), float("inf"), None, None, "kkt")
    z = term_residuals(program, x)
    # primal residual: distance of each z_i to dom f_i
    rp = 0.0
    zproj = []
    for t, zi in zip(program.terms, z):
        pz = t.f.project_domain(zi)
        zproj.append(pz)
        scale = max(1.0, _inf(zi + t.b), _inf(t.b))
        rp = max(rp, _inf(zi - pz) / scale)
    if duals is None:
        duals = recover_duals(program, x)
    # dual residual
    total = np.zeros(program.n)
    biggest = 0.0
    for t, yi in zip(program.terms, duals):
        aty = t.A.rmatvec(yi)
        total += aty
        biggest = max(biggest, _inf(aty))
    rd = _inf(total) / max(1.0, biggest)
    # subgradient residual, continuous in z: y in ∂(w f)(z)  <=>  z = prox_{w f}(z + y).
    # (Measuring dist(y, ∂f(z)) instead jumps at kinks: x = 1e-10 vs 0 in an l1 term.)
    rs = 0.0
    for t, zi, yi in zip(program.terms, z, duals):
        if t.f.name == "zero" and t.f.is_indicator:
            continue  # normal cone of {0} is everything; only the primal residual matters
        if t.f.smooth and not t.f.is_indicator:
            err = _inf(yi - t.grad(zi)) / max(1.0, _inf(yi))
        else:
            err = _inf(zi - t.prox(zi + yi, 1.0)) / max(1.0, _inf(zi), _inf(yi))
        rs = max(rs, err)
    # duality gap
    gap, dual_obj = None, None
    try:
        P = program.constant + sum(t.weight * t.f.value(pz) if not t.f.is_indicator else 0.0
                                   for t, pz in zip(program.terms, zproj) if t.role == "objective")
        D = program.constant
        for t, yi in zip(program.terms, duals):
            yh = t.project_dual_domain(yi)
            D -= t.conj(yh) + float(np.dot(t.b, yh))
        if np.isfinite(P) and np.isfinite(D):
            gap = abs(P - D) / max(1.0, abs(P), abs(D))
            dual_obj = program.sign * D
    except NotImplementedError:
        gap = None
    return Certificate(primal_residual=rp, dual_residual=rd, subgradient_residual=rs,
                       gap=gap, dual_objective=dual_obj, kind="kkt+gap" if gap is not None else "kkt")


def recover_duals(program: Program, x: np.ndarray, iters: int = 500, active_tol: float = 1e-9) -> list[np.ndarray]:
    """Duals for a primal point when the backend did not return them.

    Smooth terms get their gradient. The others get the element of their
    subdifferential that best cancels the rest: projected gradient (accelerated) on
    ``min ||sum_i A_i^T y_i||^2 / 2`` over y_i in ∂(w_i f_i)(z_i). Entries of z_i within
    ``active_tol`` (relative) of a kink are treated as at the kink, so solutions from
    interior-point or first-order solvers (never exactly 0) still get a useful dual.
    """
    terms = program.terms
    z = []
    for t in terms:
        zi = t.f.project_domain(t.residual(x))
        scale = max(1.0, _inf(zi))
        zi = np.where(np.abs(zi) <= active_tol * scale, 0.0, zi) if t.f.separable else zi
        if t.f.name == "box":
            zi = _snap_box(t.f, zi, active_tol * scale)  # near-active bounds open the normal cone
        elif t.f.name in ("l2", "linf") and _inf(zi) <= active_tol * scale:
            zi = np.zeros_like(zi)  # a norm at (numerically) zero: the whole dual ball is open
        elif t.f.name == "soc":
            zi = _snap_soc(zi, active_tol * scale)
        z.append(zi)
    fixed = [t.f.smooth and not t.f.is_indicator for t in terms]
    y = [t.grad(zi) if f else np.zeros(t.m) for t, zi, f in zip(terms, z, fixed)]
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
        r = base + sum(terms[i].A.rmatvec(wk[j]) for j, i in enumerate(free))
        if _inf(r) <= 1e-14 * max(1.0, _inf(base)):
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
    """True if ``dy`` certifies that the constraints cannot all hold."""
    norm = max(_inf(np.concatenate([np.ravel(d) for d in dy])) if dy else 0.0, _EPS)
    dy = [d / norm for d in dy]
    total = np.zeros(program.n)
    value = 0.0
    for t, d in zip(program.terms, dy):
        if not t.f.is_indicator:
            if _inf(d) > tol:
                return False  # objective terms with full domain have sigma = +inf off 0
            continue
        total += t.A.rmatvec(d)
        s = t.f.support(d)
        if not np.isfinite(s):
            return False
        value += s + float(np.dot(t.b, d))
    return _inf(total) <= tol and value < -tol


def check_unboundedness(program: Program, dx: np.ndarray, tol: float = 1e-6) -> bool:
    """True if ``dx`` is a feasible direction along which the objective goes to -inf."""
    norm = max(_inf(dx), _EPS)
    dx = np.asarray(dx, dtype=np.float64) / norm
    slope = 0.0
    for t in program.terms:
        Ad = t.A.matvec(dx)
        name = t.f.name
        if t.f.is_indicator:
            if name in ("nonneg", "nonpos", "zero", "soc"):
                if _inf(Ad - t.f.project(Ad)) > tol:
                    return False
            elif name == "box":
                lo = np.broadcast_to(t.f.lo, Ad.shape)
                hi = np.broadcast_to(t.f.hi, Ad.shape)
                if np.any((Ad > tol) & np.isfinite(hi)) or np.any((Ad < -tol) & np.isfinite(lo)):
                    return False
            elif _inf(Ad) > tol:
                return False
        elif name == "linear":
            slope += t.weight * float(np.sum(t.f.c * Ad))
        elif name == "zero":
            continue
        elif _inf(Ad) > tol:
            return False
    return slope < -tol
