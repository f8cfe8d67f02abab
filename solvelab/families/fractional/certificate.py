"""The fractional certificate: the paper's stationarity, relative, with no absolute floor.

At t = F(x) = N(x) / D(x) a critical point has 0 in dN(x) - t dD(x), i.e. t d lies in
dN(x) for some d in dD(x). With g the gradient of N's smooth part (plus rho L^T Lx/|Lx|),
dN(x) is, coordinate by coordinate, the interval I_i = g_i + lam_i d|x_i| (+ the normal
cone of the box at x_i; for the simplex, + mu 1 with x >= 0's cone). In the max-norm:

    stationarity   min over d in dD(x) (and mu) of max_i dist(t d_i - mu, I_i),
                   relative to max(|g|_inf, |lam|_inf, |t| |d|_inf)
    domain         |x - P(x)|_inf relative to |x|_inf (the simplex: and |sum x - 1|)
    attained       0, or inf when x lies on a ray of G's null space along which the ratio
                   still falls (``FractionalProgram.ray_limit``): a point far out on such a
                   ray can look stationary, but the infimum is at infinity, not at x
    parametric_gap (affine D only, small n; reported, not compared) -min_z N(z) - t D(z)
                   relative to |N(x)|: 0 exactly at a global minimizer (Dinkelbach's test)

Scaling N by s scales g, lam and t alike; scaling D by s scales t by 1/s and d by s: no
verdict moves. For l1 / top-k denominators the choice of d on ties (and on zeros outside
the top k) is optimized exactly (bisection on the residual level: ``kernels.fractional.
tie_level``), so a point whose subgradient set reaches the inclusion is not refused for
picking the wrong element.
Where the ratio is quasiconvex (D affine) a critical point is a global minimizer; with a
norm denominator the ratio is nonconvex and the certificate certifies a critical point.
"""
from __future__ import annotations

import numpy as np

from ...kernels.fractional import tie_level
from ...result import Certificate, Measure

_TINY = float(np.finfo(np.float64).tiny)
GAP_MAX_N = 300   # the parametric gap needs a convex solve: computed for small programs only


def rel(num: float, den: float) -> float:
    return 0.0 if num == 0.0 else num / max(den, _TINY)


def intervals(x, g, lam, lo, hi, simplex: bool):
    """(Lo, Up): the coordinate intervals of dN(x) (without the simplex's common shift)."""
    Lo = np.where(x > 0, g + lam, g - lam)
    Up = np.where(x < 0, g - lam, g + lam)
    if simplex:
        Lo = np.where(x <= 0, -np.inf, Lo)
    else:
        Lo = np.where(x <= lo, -np.inf, Lo)
        Up = np.where(x >= hi, np.inf, Up)
    return Lo, Up


def _dist(v, Lo, Up):
    return np.maximum(np.maximum(Lo - v, v - Up), 0.0)


def _best_shift(v, Lo, Up) -> float:
    """min over mu of max_i dist(v_i - mu, [Lo_i, Up_i]) = max(mu + A, B - mu, 0)."""
    A = float(np.max(Lo - v, initial=-np.inf))
    B = float(np.max(v - Up, initial=-np.inf))
    if not np.isfinite(A) or not np.isfinite(B):
        return 0.0 if (A <= 0 or B <= 0 or not (np.isfinite(A) or np.isfinite(B))) else min(A, B)
    return max(0.5 * (A + B), 0.0)


def stationarity(node, x) -> float:
    """The relative stationarity measure at x (module docstring); inf where D(x) <= 0."""
    N, D = node.numerator(x), node.den.value(x)
    if not (np.isfinite(N) and D > 0):
        return float("inf")
    t = N / D
    g = node.smooth_grad(x)
    lam = node.lam
    Lo, Up = intervals(x, g, lam, node.lo, node.hi, node.simplex)
    den = node.den
    d = den.subgradient(x)
    size = max(float(np.max(np.abs(g), initial=0.0)), float(np.max(lam, initial=0.0)),
               abs(t) * float(np.max(np.abs(d), initial=0.0)))
    if den.kind in ("l1", "topk") and not node.simplex:
        ax = np.abs(x)
        n = x.size
        k = n if den.kind == "l1" else min(den.k, n)
        v = float(np.partition(ax, n - k)[n - k])        # the k-th largest |x_i|
        tie = ax == v
        strict = ax > v
        fixed = ~tie
        dd = np.where(strict, den.s * np.sign(x), 0.0)
        r0 = float(np.max(_dist(t * dd[fixed], Lo[fixed], Up[fixed]), initial=0.0))
        size = max(size, abs(t) * den.s)
        c = float(k - strict.sum())
        default = float(np.max(_dist(t * d[tie], Lo[tie], Up[tie]), initial=0.0))
        if v > 0:
            sig = t * den.s * np.sign(x[tie])
            r1 = tie_level(sig, Lo[tie], Up[tie], c, False, default)
        else:
            sig = np.full(int(tie.sum()), t * den.s)
            r1 = tie_level(sig, Lo[tie], Up[tie], c, True, default)
        return rel(max(r0, r1), size)
    v = t * d
    if node.simplex:
        return rel(_best_shift(v, Lo, Up), size)
    return rel(float(np.max(_dist(v, Lo, Up), initial=0.0)), size)


def domain_violation(node, x) -> float:
    if node.simplex:
        neg = float(np.max(np.maximum(-x, 0.0), initial=0.0))
        return max(rel(neg, float(np.max(np.abs(x), initial=0.0))), abs(float(x.sum()) - 1.0))
    cx = np.clip(x, node.lo, node.hi)
    return rel(float(np.max(np.abs(x - cx), initial=0.0)),
               max(float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(cx), initial=0.0))))


def parametric_gap(node, x) -> float | None:
    """-min_z N(z) - t D(z) relative to |N(x)| at t = F(x), by CVXPY + Clarabel (affine D and
    n <= GAP_MAX_N only; None otherwise or when the solve fails)."""
    if node.den.kind != "affine" or node.n > GAP_MAX_N:
        return None
    try:
        import cvxpy as cp
        N, D = node.numerator(x), node.den.value(x)
        t = N / D
        z = cp.Variable(node.n)
        expr = node.numerator_expr(z) - t * (node.den.a @ z + node.den.d)
        val = cp.Problem(cp.Minimize(expr), node.domain_constraints(z)).solve(solver="CLARABEL")
    except Exception:   # a missing solver or a failed solve: no measure, never a verdict
        return None
    if val is None or not np.isfinite(val):
        return None
    return rel(max(-float(val), 0.0), abs(N))


def fractional_certificate(node, x, reported: bool = True) -> Certificate:
    """The certificate at x; ``reported=False`` leaves out the measures that are reported
    but never compared (the parametric gap's Clarabel solve), for a caller that only
    wants the verdict."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.shape != (node.n,) or not np.all(np.isfinite(x)):
        return unmeasurable()
    kind = "fractional_global" if node.quasiconvex else "fractional_critical"
    ms = [Measure("stationarity", stationarity(node, x),
                  "dist(0, dN(x) - t dD(x)) at t = N/D, relative to |grad f|, |lam|, t |dD|"
                  + ("" if node.quasiconvex else " (a critical point: the ratio is not quasiconvex)")),
          Measure("domain", domain_violation(node, x), "distance of x to the domain, relative to |x|")]
    limit = node.ray_limit(x)
    ms.append(Measure("attained", 0.0 if limit is None else float("inf"),
                      "0, or inf where x is on a ray of G's null space along which the ratio keeps falling "
                      "toward an infimum that no point attains (no minimizer to certify)"))
    gap = parametric_gap(node, x) if reported else None
    if gap is not None:
        ms.append(Measure("parametric_gap", gap, "-min_z N(z) - t D(z) relative to N(x) (Clarabel)", compared=False))
    return Certificate.from_measures(kind, ms, primal_objective=node.objective(x))


def unmeasurable() -> Certificate:
    return Certificate.from_measures("fractional_critical", [Measure("stationarity", float("inf")),
                                                             Measure("domain", float("inf")),
                                                             Measure("attained", float("inf"))])
