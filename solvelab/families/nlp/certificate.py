"""The smooth-NLP certificate: relative stationarity and feasibility, no absolute floor.

For ``min f(x) s.t. c(x) = 0`` (and bounds l <= x <= u) with multipliers lam, r = grad f
+ J^T lam is the Lagrangian gradient. In the max-norm, with 0 / 0 read as 0:

    stationarity  |r^| / max(|grad f(x)|, |J^T lam|, |grad f(x0)|)
                  r^ is r less the parts the bounds allow (r_i > 0 at a lower bound,
                  r_i < 0 at an upper one); |grad f(x0)| is the gradient's size in the
                  problem as posed: without it an unconstrained (or inactive-constraint)
                  optimum, where grad f -> 0 and lam -> 0, would read 1 forever
    feasibility   max(|c(x)| / max(|c(x0)|, |J(x)| |x|), bound violation / max(|x|, |clip x|))
                  |c(x0)| is the constraint's size as posed, |J| |x| the size of the
                  linear part's summands (a constraint scaled by 1e6 changes nothing)

Multiplying f by s scales grad f, J^T lam and grad f(x0) alike; multiplying c by t
scales c, c(x0), J and leaves J^T lam (lam scales by s / t): no verdict moves. Without
duals the multipliers are the least-squares ones, argmin |grad f + J^T lam|_2 over the
coordinates off their bounds (at an active bound that component is the bound's multiplier's).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...result import Certificate, Measure

_TINY = float(np.finfo(np.float64).tiny)


def inf_norm(v) -> float:
    if sp.issparse(v):
        return float(abs(v).sum(axis=1).max()) if v.shape[0] else 0.0
    v = np.asarray(v)
    if v.ndim == 2:
        return float(np.abs(v).sum(axis=1).max(initial=0.0)) if v.size else 0.0
    return float(np.max(np.abs(v), initial=0.0)) if v.size else 0.0


def rel(num: float, den: float) -> float:
    return 0.0 if num == 0.0 else num / max(den, _TINY)


def least_squares_multipliers(g, J, free=None) -> np.ndarray:
    """argmin_lam |g + J^T lam|_2 (dense lstsq; sparse: LSQR to machine precision); with
    ``free`` (a mask), over the free coordinates only: at an active bound the bound's own
    multiplier takes up that component."""
    m = J.shape[0]
    if m == 0:
        return np.zeros(0)
    if free is not None and not np.all(free):
        g = g[free]
        J = J[:, free] if not sp.issparse(J) else sp.csr_matrix(J)[:, np.flatnonzero(free)]
    if sp.issparse(J):
        from scipy.sparse.linalg import lsqr
        return lsqr(J.T.tocsr(), -g, atol=1e-15, btol=1e-15, iter_lim=10 * (m + J.shape[1]))[0]
    return np.linalg.lstsq(J.T, -g, rcond=None)[0]


def bound_allowed(r, x, lo, hi):
    """r less the parts the bounds allow: at x_i <= l_i, r_i > 0; at x_i >= u_i, r_i < 0."""
    at_lo, at_hi = x <= lo, x >= hi
    out = r.copy()
    out[at_lo] = np.minimum(out[at_lo], 0.0)
    out[at_hi] = np.maximum(out[at_hi], 0.0)
    return out


def measures(g, c, J, lam, x, g0_norm: float, c0_norm: float, lo=None, hi=None):
    """(stationarity, feasibility) from the arrays at x (module docstring)."""
    JTl = J.T @ lam if lam.size else np.zeros_like(g)
    r = g + JTl
    if lo is not None:
        r = bound_allowed(r, x, lo, hi)
    stat = rel(inf_norm(r), max(inf_norm(g), inf_norm(JTl), g0_norm))
    feas = rel(inf_norm(c), max(c0_norm, inf_norm(J) * inf_norm(x))) if c.size else 0.0
    if lo is not None:
        cx = np.clip(x, lo, hi)
        feas = max(feas, rel(inf_norm(x - cx), max(inf_norm(x), inf_norm(cx))))
    return stat, feas


def infeasible_stationarity(c, J, x, lo=None, hi=None) -> float:
    """|J^T c| relative to |J| |c| (max-norms): 0 at a stationary point of ||c(x)||^2 / 2
    (within the bounds: the parts the bounds allow are dropped). Scaling c by t scales
    both sides by t^2, so the reading is scale-invariant."""
    r = np.asarray(J.T @ c).ravel()
    if lo is not None:
        r = bound_allowed(r, x, lo, hi)
    return rel(inf_norm(r), inf_norm(J) * inf_norm(c))


def nlp_certificate(stat: float, feas: float, objective: float | None = None) -> Certificate:
    ms = [Measure("stationarity", stat, "|grad f + J^T lam| relative to |grad f|, |J^T lam|, |grad f(x0)|"),
          Measure("feasibility", feas, "|c(x)| relative to |c(x0)| and |J| |x| (and the bounds' violation)")]
    return Certificate.from_measures("nlp_kkt", ms, primal_objective=objective)


def unmeasurable() -> Certificate:
    return nlp_certificate(float("inf"), float("inf"))
