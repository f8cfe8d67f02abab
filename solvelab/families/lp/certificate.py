"""The LP certificate (PDLP's relative KKT error) and the checks of its two rays.

For ``min c^T x + c0  s.t.  rl <= A x <= ru, l <= x <= u`` with row multipliers y
(y_i > 0: the lower row bound holds the solution, y_i < 0: the upper one) the reduced
costs are r = c - A^T y. ``lp`` is anything with the data ``c, A, AT, rl, ru, l, u,
constant, norm_A`` (the program node or its form view). With no absolute floor
(0 / 0 reads 0):

    primal_residual  max of the worst row's |a_i x - clip(a_i x)| / max(|a_i x|,
                     |clip(a_i x)|, |a_i| |x|) (row by row, as each row is a constraint of
                     its own: a row multiplied by 1e6 changes nothing; |a_i| |x| is the size
                     of the row's summands, so a homogeneous row a_i x = 0 is judged against
                     them; rows below sqrt(eps) of the largest row are judged at that level)
                     and of |x - clip(x, l, u)| / max(|x|, |clip(x)|) (the bounds as one
                     constraint on x, in the max-norm)

and in the max-norm:

    dual_residual    |r - r^| / max(|c|, |A^T y^|), r^ the reduced costs the bounds allow
                     (r_j > 0 needs a finite l_j, r_j < 0 a finite u_j), y^ the
                     multipliers the row bounds allow
    gap              |P - D| / max(|P|, |D|) (PDLP's relative gap, without c0 and less a
                     few ulps of the parts), P = c^T x,
                     D = sum y^+ rl - y^- ru + sum r^+ l - r^- u

Rays (``check_farkas``, ``check_unbounded_ray``): a dual ray dy (in the multipliers'
domain) with A^T dy + dr = 0 for allowed reduced costs dr and a positive Farkas value
proves the rows and bounds cannot all hold; a primal ray dx in the recession cones of
rows and bounds with c^T dx < 0 proves unboundedness together with a feasible point.
"""
from __future__ import annotations

import numpy as np

from ...result import Certificate, Measure

_TINY = float(np.finfo(np.float64).tiny)
_ROUNDING = 8 * float(np.finfo(np.float64).eps)
#: the relative tolerance of the ray checks (as the engine's generic ray tests)
RAY_TOL = 1e-6


def _inf(v) -> float:
    return float(np.max(np.abs(v), initial=0.0)) if np.size(v) else 0.0


def _rel(num: float, den: float) -> float:
    return 0.0 if num == 0.0 else num / max(den, _TINY)


def project_multipliers(lp, y):
    """y with the signs the row bounds allow (y_i > 0 needs rl_i, y_i < 0 needs ru_i finite)."""
    y = np.where(np.isfinite(lp.rl), y, np.minimum(y, 0.0))
    return np.where(np.isfinite(lp.ru), y, np.maximum(y, 0.0))


def project_reduced(lp, r):
    """The reduced costs the column bounds allow (r_j > 0 needs l_j, r_j < 0 u_j finite)."""
    r = np.where(np.isfinite(lp.l), r, np.minimum(r, 0.0))
    return np.where(np.isfinite(lp.u), r, np.maximum(r, 0.0))


def _support(v, lo, hi):
    """sum v+ lo - v- hi (inf * 0 read as 0), and the sum of the parts' sizes."""
    with np.errstate(invalid="ignore"):
        t = np.where(v > 0, v * lo, np.where(v < 0, v * hi, 0.0))
    return float(t.sum()), float(np.abs(t).sum())


def dual_value(lp, y, r):
    """(D without c0, size of its parts) at sign-feasible multipliers y and reduced costs r."""
    a, sa = _support(y, lp.rl, lp.ru)
    b, sb = _support(r, lp.l, lp.u)
    return a + b, sa + sb


def row_sizes(lp, x) -> np.ndarray:
    """|A| |x|: for each row, the sum of the magnitudes of its summands."""
    absA = getattr(lp, "_absA", None)
    if absA is None:
        absA = abs(lp.A)
        try:
            lp._absA = absA
        except AttributeError:
            pass
    return absA @ np.abs(x)


#: rows whose sizes are below this fraction of the largest row's are judged against that
#: level: their values are rounding of the others' (a vertex's zero entries, 1e-14 each)
ROW_FLOOR = _ROW_FLOOR = float(np.sqrt(np.finfo(np.float64).eps))


def _rowwise(viol, *sizes) -> float:
    """max_i viol_i / max(sizes_i, sqrt(eps) max_k sizes_k) (0 / 0 reads 0): row by row,
    so each row is scale-free on its own."""
    bad = viol > 0
    if not bad.any():
        return 0.0
    floor = _ROW_FLOOR * max(_inf(s) for s in sizes)
    den = np.maximum.reduce([np.abs(s[bad]) for s in sizes])
    return float(np.max(viol[bad] / np.maximum(np.maximum(den, floor), _TINY)))


def measures(lp, x, Ax, y, ATy, reads=None):
    """(primal_residual, dual_residual, gap, P, D) at x with products Ax = A x, ATy = A^T y
    (y as given: projected here, with A^T y corrected for the projection). ``reads``:
    ``row_sizes(lp, x)`` when the caller has it (0.0 gives a stricter primal residual)."""
    yh = project_multipliers(lp, y)
    if np.any(yh != y):
        ATy = ATy - lp.AT @ (y - yh)
    cAx = np.clip(Ax, lp.rl, lp.ru)
    viol = np.abs(Ax - cAx)
    if reads is None and viol.any():
        reads = row_sizes(lp, x)
    reads = np.zeros_like(viol) if reads is None or np.isscalar(reads) else reads
    rows = _rowwise(viol, Ax, cAx, reads)
    cx = np.clip(x, lp.l, lp.u)
    cols = _rel(_inf(x - cx), max(_inf(x), _inf(cx)))
    r = lp.c - ATy
    rh = project_reduced(lp, r)
    dres = _rel(_inf(r - rh), max(_inf(lp.c), _inf(ATy)))
    P = float(lp.c @ x)
    D, parts = dual_value(lp, yh, rh)
    gap = relative_gap(P, D, parts + float(np.abs(lp.c) @ np.abs(x)))
    return max(rows, cols), dres, gap, P, D


def relative_gap(P: float, D: float, size: float) -> float:
    """|P - D| beyond the rounding of sums of magnitude ``size`` (sum |terms| of P and D),
    relative to max(|P|, |D|)."""
    excess = max(abs(P - D) - _ROUNDING * size, 0.0) if np.isfinite(P - D) else abs(P - D)
    return _rel(excess, max(abs(P), abs(D)))


def measures_from_parts(rows: float, x_clip: float, x_max: float, r_viol: float, dual_scale: float,
                        P: float, D: float, size: float):
    """``measures`` from norms reduced elsewhere (a device run's): the row measure (``rows``,
    already row-wise with ``ROW_FLOOR``), max|x - clip(x)| and max(|x|, |clip(x)|), the
    reduced costs' violation and max(|c|, |A^T y|), the objectives and their ``size``.
    Returns (primal_residual, dual_residual, gap)."""
    return max(rows, _rel(x_clip, x_max)), _rel(r_viol, dual_scale), relative_gap(P, D, size)


def lp_certificate(lp, x, y) -> Certificate:
    """The certificate at x with row multipliers y (PDLP convention; None: zeros)."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (lp.c.size,) or not np.all(np.isfinite(x)):
        return _cert(float("inf"), float("inf"), float("inf"), None, None)
    m = lp.rl.size
    y = np.zeros(m) if y is None else np.asarray(y, dtype=np.float64)
    if y.shape != (m,) or not np.all(np.isfinite(y)):
        return _cert(float("inf"), float("inf"), float("inf"), None, None)
    p, d, g, P, D = measures(lp, x, lp.A @ x, y, lp.AT @ y)
    return _cert(p, d, g, P + lp.constant, D + lp.constant)


def _cert(p, d, g, P, D) -> Certificate:
    ms = [Measure("primal_residual", p, "worst row / bound violation, each relative to its row's size"),
          Measure("dual_residual", d, "reduced costs the bounds do not allow, relative to |c| and |A^T y|"),
          Measure("gap", g, "|c^T x - D| / max(|c^T x|, |D|), PDLP's relative gap")]
    return Certificate.from_measures("lp_kkt", ms, dual_objective=D, primal_objective=P)


def _unit_ray(v, shape):
    """(v / |v|_inf, |v|_inf) for a finite nonzero ray of the given shape, else None."""
    v = np.asarray(v, dtype=np.float64)
    if v.shape != shape or not np.all(np.isfinite(v)):
        return None
    norm = _inf(v)
    return None if norm == 0.0 else (v / norm, norm)


def check_farkas(lp, dy, ATdy=None, tol: float = RAY_TOL) -> bool:
    """True if the multipliers' direction dy proves that no x meets rows and bounds."""
    unit = _unit_ray(dy, lp.rl.shape)
    if unit is None:
        return False
    dy, norm = unit
    dy = project_multipliers(lp, dy)
    ATdy = lp.AT @ dy if ATdy is None else np.asarray(ATdy) / norm
    dr = project_reduced(lp, -ATdy)
    res = _rel(_inf(ATdy + dr), max(_inf(ATdy), lp.norm_A * _inf(dy)))
    value, size = dual_value(lp, dy, dr)
    return res <= tol and value > tol * size and value > 0


def check_unbounded_ray(lp, dx, Adx=None, tol: float = RAY_TOL) -> bool:
    """True if dx keeps rows and bounds satisfied (recession cones) and decreases c^T x."""
    unit = _unit_ray(dx, lp.c.shape)
    if unit is None:
        return False
    dx, norm = unit
    Adx = lp.A @ dx if Adx is None else np.asarray(Adx) / norm

    def bad(d, lo, hi):
        return max(_inf(np.where(np.isfinite(hi), np.maximum(d, 0.0), 0.0)),
                   _inf(np.where(np.isfinite(lo), np.minimum(d, 0.0), 0.0)))
    if _rel(bad(Adx, lp.rl, lp.ru), max(_inf(Adx), lp.norm_A)) > tol or bad(dx, lp.l, lp.u) > tol:
        return False
    slope = float(lp.c @ dx)
    return slope < 0 and -slope > tol * float(np.abs(lp.c) @ np.abs(dx))
