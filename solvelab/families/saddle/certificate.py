"""The saddle certificate, recomputed from the returned point (x, y) alone.

For L(x, y) = c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2 the players' linear
parts are g_x = c + K y (x minimizes g_x^T x + alpha/2 |x|^2 over X) and g_y = K^T x - b
(y maximizes g_y^T y - mu/2 |y|^2 over Y). The duality gap splits into the two
best-response gaps:

    max_{y' in Y} L(x, y') - min_{x' in X} L(x', y)
        = [g_y^T (y' - y) - mu/2 (|y'|^2 - |y|^2)] + [g_x^T (x - x') + alpha/2 (|x|^2 - |x'|^2)]

with x', y' the best responses: without a regularizer a vertex of the simplex (the min /
max entry) or a corner of a box (the bound the gradient's sign points at); with one, the
projection P_X(-g_x / alpha), P_Y(g_y / mu) (finite on any side, bounded or not). On a side with an infinite bound
the part of the gradient pointing at it, r, makes the best response infinite: the gap
is then taken with the allowed part g - r, and r is measured on its own (the
stationarity that a free coordinate needs: c + K y = 0 there). Measures (0 / 0 reads 0,
no absolute floor):

    gap               (gap_x + gap_y) / D, D = max(S(x, y), S(x, y'), S(x', y)),
                      S(u, v) = |c|^T |u| + |u|^T |K| |v| + |b|^T |v| (+ alpha/2 |u|^2
                      + mu/2 |v|^2 with the regularizers): the size of the
                      summands of the three values of L the gap compares. Why: the value
                      of a game can be 0 (rock-paper-scissors) and the gradients vanish
                      at the solution, so |value| or |g| would leave 0 / 0; the summands'
                      size is the scale at which the payoffs are resolved (for a matrix
                      game, the mean |payoff| under the strategies played), is
                      multiplied by s when K, c, b are, and is 0 only when every payoff
                      at the point is.
    stationarity      (only with an unbounded side) max(|r_x|_inf / |c| + |K||y||_inf,
                      |r_y|_inf / ||K|^T|x| + |b||_inf)
    domain_violation  simplex: max(|sum x - 1|, max(-x)_+) (the simplex has no scale);
                      box: |x - clip(x)|_inf / max(|x|_inf, |clip(x)|_inf); worst side

The objective reported is L(x, y) (plus the node's constant); ``dual_objective`` is min_{x'} L(x', y) (a lower
bound of the value when r_x = 0).
"""
from __future__ import annotations

import numpy as np

from ...kernels.saddle import Domain, abs_matvec, abs_rmatvec, project
from ...result import Certificate, Measure

_TINY = float(np.finfo(np.float64).tiny)


def rel(num: float, den: float) -> float:
    return 0.0 if num == 0.0 else float(num) / max(float(den), _TINY)


def _inf(v) -> float:
    return float(np.max(np.abs(v), initial=0.0))


def _regs(p) -> tuple:
    return float(getattr(p, "x_reg", 0.0)), float(getattr(p, "y_reg", 0.0))


def allowed(dom, g, maximize: bool, reg: float = 0.0) -> np.ndarray:
    """The part of g whose linear minimization (maximization) over dom is finite (all of
    it with a positive regularizer ``reg``)."""
    if dom.kind == Domain.SIMPLEX or reg > 0:
        return g
    s = -g if maximize else g     # minimize s^T x: s > 0 needs a finite lower bound
    ok = ((s > 0) & np.isfinite(dom.lo)) | ((s < 0) & np.isfinite(dom.hi)) | (s == 0)
    return np.where(ok, g, 0.0)


def best_response(dom, g, current, maximize: bool, reg: float = 0.0) -> np.ndarray:
    """argmin of g^T u + reg/2 |u|^2 (argmax of g^T u - reg/2 |u|^2) over dom, for an
    allowed g; without a regularizer ties and zeros keep ``current``."""
    if reg > 0:
        out = np.empty(g.size)
        project(int(dom.kind), dom.lo, dom.hi, np.ascontiguousarray((g if maximize else -g) / reg), out)
        return out
    if dom.kind == Domain.SIMPLEX:
        out = np.zeros(g.size)
        out[int(np.argmax(g) if maximize else np.argmin(g))] = 1.0
        return out
    s = -g if maximize else g
    return np.where(s > 0, dom.lo, np.where(s < 0, dom.hi, current))


def violation(dom, u) -> float:
    if dom.kind == Domain.SIMPLEX:
        return max(abs(float(u.sum()) - 1.0), float(np.max(-u, initial=0.0)))
    cu = np.clip(u, dom.lo, dom.hi)
    return rel(_inf(u - cu), max(_inf(u), _inf(cu)))


def parts(p, x, y, Ky, KTx):
    """The gap and what the certificate needs of it at (x, y) with K y, K^T x given:
    (gap_x + gap_y, L(x, y), lower value, best responses x', y', residuals r_x, r_y)."""
    alpha, mu = _regs(p)
    gx = p.c + Ky
    gy = KTx - p.b
    ax, ay = allowed(p.X, gx, False, alpha), allowed(p.Y, gy, True, mu)
    xb, yb = best_response(p.X, ax, x, False, alpha), best_response(p.Y, ay, y, True, mu)
    qx, qy, qxb, qyb = 0.5 * alpha * float(x @ x), 0.5 * mu * float(y @ y), 0.5 * alpha * float(xb @ xb), \
        0.5 * mu * float(yb @ yb)
    gap_x = float(ax @ x - ax @ xb) + qx - qxb
    gap_y = float(ay @ yb - ay @ y) - qyb + qy
    L = float(p.c @ x + x @ Ky - p.b @ y) + qx - qy + p.constant
    lower = float(-p.b @ y + ax @ xb) + qxb - qy + p.constant
    return abs(gap_x) + abs(gap_y), L, lower, xb, yb, gx - ax, gy - ay


def size(p, x, y, xb, yb, absKy, absKTx) -> float:
    """D = max(S(x, y), S(x, y'), S(x', y)) (module docstring)."""
    alpha, mu = _regs(p)
    ac, ab = np.abs(p.c), np.abs(p.b)
    ax, ay, axb, ayb = np.abs(x), np.abs(y), np.abs(xb), np.abs(yb)
    qx, qy, qxb, qyb = 0.5 * alpha * float(x @ x), 0.5 * mu * float(y @ y), 0.5 * alpha * float(xb @ xb), \
        0.5 * mu * float(yb @ yb)
    s_xy = float(ac @ ax + ax @ absKy + ab @ ay) + qx + qy
    s_xyb = float(ac @ ax + absKTx @ ayb + ab @ ayb) + qx + qyb
    s_xby = float(ac @ axb + axb @ absKy + ab @ ay) + qxb + qy
    return max(s_xy, s_xyb, s_xby)


def size_bound(p, x, y, xb, yb) -> float:
    """An upper bound of D from |K|_max alone (no pass over K): the cheap screen of a check."""
    alpha, mu = _regs(p)
    kmax = p.K_max
    ac, ab = np.abs(p.c), np.abs(p.b)
    nx, ny, nxb, nyb = (float(np.abs(v).sum()) for v in (x, y, xb, yb))
    q = 0.5 * alpha * max(float(x @ x), float(xb @ xb)) + 0.5 * mu * max(float(y @ y), float(yb @ yb))
    return q + max(float(ac @ np.abs(x)) + kmax * nx * max(ny, nyb) + float(ab @ np.abs(y)) + float(ab @ np.abs(yb)),
                   float(ac @ np.abs(xb)) + kmax * nxb * ny + float(ab @ np.abs(y)))


def stationarity(p, rx, ry, absKy, absKTx) -> float:
    sx = rel(_inf(rx), _inf(np.abs(p.c) + absKy)) if rx.size else 0.0
    sy = rel(_inf(ry), _inf(absKTx + np.abs(p.b))) if ry.size else 0.0
    return max(sx, sy)


def measures(p, x, y, Ky, KTx, absKy=None, absKTx=None) -> dict:
    """All measures at (x, y) with products K y, K^T x (and |K||y|, |K|^T|x| when the
    caller has them): {'gap', 'stationarity', 'domain_violation', 'objective', 'lower'}."""
    gap, L, lower, xb, yb, rx, ry = parts(p, x, y, Ky, KTx)
    if absKy is None:
        absKy = abs_matvec(p.K, np.abs(y))
    if absKTx is None:
        absKTx = abs_rmatvec(p.K, p.KT, np.abs(x))
    out = {"gap": rel(gap, size(p, x, y, xb, yb, absKy, absKTx)),
           "domain_violation": max(violation(p.X, x), violation(p.Y, y)),
           "objective": L, "lower": lower if not np.any(rx) else None}
    out["stationarity"] = stationarity(p, rx, ry, absKy, absKTx)
    return out


def saddle_certificate(p, x, y) -> Certificate:
    """The certificate at the point (x, y) on the node ``p`` (products computed here)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m, n = p.shape
    if x.shape != (m,) or y.shape != (n,) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return build(p, {"gap": np.inf, "stationarity": np.inf, "domain_violation": np.inf,
                         "objective": None, "lower": None})
    return build(p, measures(p, x, y, p.matvec(y), p.rmatvec(x)))


def build(p, ms: dict) -> Certificate:
    out = [Measure("gap", ms["gap"], "duality gap max_y' L(x, y') - min_x' L(x', y), relative to the size "
                                     "of the summands of those values of L"),
           Measure("domain_violation", ms["domain_violation"], "how far x, y lie outside their simplex / box")]
    alpha, mu = _regs(p)
    if not ((p.X.bounded or alpha > 0) and (p.Y.bounded or mu > 0)):
        out.insert(1, Measure("stationarity", ms["stationarity"],
                              "gradient components pointing at an infinite bound, relative to their summands"))
    return Certificate.from_measures("saddle_gap", out, dual_objective=ms["lower"], primal_objective=ms["objective"])
