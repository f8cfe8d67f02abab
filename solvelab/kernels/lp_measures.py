"""The LP certificate's parts and the two ray tests at a *scaled* PDHG point, read in the
original scaling without building the unscaled vectors (the CPU counterpart of
``kernels.cuda.pdhg``'s ``col_parts`` / ``row_parts`` / ``row_ratio`` / ``row_sizes``).

A point of ``backends.pdhg.Scaled`` is (x^, A^ x^, y^, A^T y^) with the original
X = clip(beta dc x^, l, u), A X = beta / dr A^ x^, Y = ratio dr y^, A^T Y = ratio / dc A^T y^
(ratio = alpha / beta). The formulas are those of ``families.lp.certificate``: ``lp_parts``
is ``measures(..., reads=0.0)`` (the strict primal residual) and ``row_ratio_reads`` its row
measure against the row sizes |A| |X|; ``farkas_ray`` and ``descent_ray`` are ``check_farkas``
and ``check_unbounded_ray`` on the difference of two scaled points. They screen: every
acceptance is rechecked by the caller with ``families.lp`` on fresh products, so a rounding
difference from numpy's summation order can delay a stop by one evaluation, never make one.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_TINY = float(np.finfo(np.float64).tiny)


@njit(cache=True)
def _one_sided(v, lo, hi):
    """v with the sign a bound pair allows (a part towards a missing bound is 0)."""
    if lo == -np.inf and v > 0.0:
        return 0.0
    if hi == np.inf and v < 0.0:
        return 0.0
    return v


@njit(cache=True)
def _support_part(v, lo, hi):
    return v * lo if v > 0.0 else (v * hi if v < 0.0 else 0.0)


@njit(cache=True)
def _rel(num, den):
    return 0.0 if num == 0.0 else num / max(den, _TINY)


@njit(cache=True)
def _x_orig(xs, dcj, beta, lo, hi):
    X = beta * dcj * xs
    if X < lo:
        X = lo
    elif X > hi:
        X = hi
    return X


@njit(cache=True)
def _row_measure(Ax, reads, dr, beta, rl, ru, floor):
    """max_i viol_i / max(|a_i X|, |clip(a_i X)|, reads_i, floor) (``reads`` empty: none)."""
    rows = 0.0
    with_reads = reads.size > 0
    for i in range(Ax.size):
        ax = beta / dr[i] * Ax[i]
        cax = min(max(ax, rl[i]), ru[i])
        viol = abs(ax - cax)
        if viol > 0.0:
            den = max(abs(ax), abs(cax))
            if with_reads:
                den = max(den, reads[i])
            rows = max(rows, viol / max(max(den, floor), _TINY))
    return rows


@njit(cache=True)
def lp_parts(x, Ax, y, ATy, dr, dc, beta, ratio, c, l, u, rl, ru, row_floor):
    """At the scaled point: (strict row measure, x_clip, x_max, r_viol, dual scale
    max(|c|, |A^T Y|), P = c^T X, D, size of P's and D's parts, y needs a projection,
    all of x, A x, y, A^T y finite)."""
    n, m = x.size, y.size
    finite = True
    P = 0.0
    cx_abs = 0.0
    x_max = 0.0
    r_viol = 0.0
    scale = 0.0
    D = 0.0
    D_abs = 0.0
    for j in range(n):
        if not (np.isfinite(x[j]) and np.isfinite(ATy[j])):
            finite = False
        X = _x_orig(x[j], dc[j], beta, l[j], u[j])
        cj = c[j]
        P += cj * X
        cx_abs += abs(cj) * abs(X)
        x_max = max(x_max, abs(X))
        aty = ratio / dc[j] * ATy[j]
        r = cj - aty
        rh = _one_sided(r, l[j], u[j])
        r_viol = max(r_viol, abs(r - rh))
        scale = max(scale, max(abs(cj), abs(aty)))
        t = _support_part(rh, l[j], u[j])
        D += t
        D_abs += abs(t)
    sizes = 0.0
    projected = False
    for i in range(m):
        if not (np.isfinite(y[i]) and np.isfinite(Ax[i])):
            finite = False
        ax = beta / dr[i] * Ax[i]
        cax = min(max(ax, rl[i]), ru[i])
        sizes = max(sizes, max(abs(ax), abs(cax)))
        Y = ratio * dr[i] * y[i]
        yh = _one_sided(Y, rl[i], ru[i])
        if yh != Y:
            projected = True
        t = _support_part(yh, rl[i], ru[i])
        D += t
        D_abs += abs(t)
    rows = _row_measure(Ax, np.zeros(0), dr, beta, rl, ru, row_floor * sizes)
    # X is clipped to [l, u] (as ``Scaled``'s caller does), so its bound violation is 0
    return rows, 0.0, x_max, r_viol, scale, P, D, D_abs + cx_abs, projected, finite


@njit(cache=True)
def row_ratio_reads(Ap, Aj, Av, x, Ax, dr, dc, beta, l, u, rl, ru, row_floor):
    """The row measure against max(|a_i X|, |clip|, |a_i| |X|) row by row, with the row
    sizes |a_i| |X| from the scaled matrix (|A_ik| = |A^_ik| / (dr_i dc_k)): one pass."""
    m = Ax.size
    reads = np.empty(m)
    sizes = 0.0
    for i in range(m):
        s = 0.0
        for k in range(Ap[i], Ap[i + 1]):
            jj = Aj[k]
            s += abs(Av[k]) * abs(_x_orig(x[jj], dc[jj], beta, l[jj], u[jj])) / dc[jj]
        reads[i] = s / dr[i]
        ax = beta / dr[i] * Ax[i]
        cax = min(max(ax, rl[i]), ru[i])
        sizes = max(sizes, max(max(abs(ax), abs(cax)), reads[i]))
    return _row_measure(Ax, reads, dr, beta, rl, ru, row_floor * sizes)


@njit(cache=True)
def farkas_ray(y1, ATy1, y0, ATy0, dr, dc, ratio, l, u, rl, ru, tol):
    """``check_farkas(lp, dy, ATdy)`` for dy = Y1 - Y0 (original scaling) with the given
    products, but for the comparison that needs |A|_2: (whether the Farkas value passes,
    the residual |A^T dy + dr|, |A^T dy| and |dy| of the unit ray). The ray passes when
    the value does and residual <= tol max(|A^T dy|, |A|_2 |dy|) (``ray_passes``)."""
    m, n = y1.size, ATy1.size
    norm = 0.0
    for i in range(m):
        d = ratio * dr[i] * y1[i] - ratio * dr[i] * y0[i]
        if not np.isfinite(d):
            return False, 0.0, 0.0, 0.0
        norm = max(norm, abs(d))
    if norm == 0.0:
        return False, 0.0, 0.0, 0.0
    dy_max = 0.0
    value = 0.0
    size = 0.0
    for i in range(m):
        d = _one_sided((ratio * dr[i] * y1[i] - ratio * dr[i] * y0[i]) / norm, rl[i], ru[i])
        dy_max = max(dy_max, abs(d))
        t = _support_part(d, rl[i], ru[i])
        value += t
        size += abs(t)
    res = 0.0
    aty_max = 0.0
    for j in range(n):
        a = (ratio / dc[j] * ATy1[j] - ratio / dc[j] * ATy0[j]) / norm
        r = _one_sided(-a, l[j], u[j])
        res = max(res, abs(a + r))
        aty_max = max(aty_max, abs(a))
        t = _support_part(r, l[j], u[j])
        value += t
        size += abs(t)
    return value > tol * size and value > 0.0, res, aty_max, dy_max


@njit(cache=True)
def descent_ray(x1, Ax1, x0, Ax0, dr, dc, beta, c, l, u, rl, ru, tol):
    """``check_unbounded_ray(lp, dx, Adx)`` for dx = X1 - X0 (original scaling, X clipped
    to its bounds) with the given products, but for the comparison that needs |A|_2:
    (whether the bounds and the slope pass, the rows' recession violation, |A dx|) of the
    unit ray. The ray passes when they do and violation <= tol max(|A dx|, |A|_2)."""
    n, m = x1.size, Ax1.size
    norm = 0.0
    for j in range(n):
        d = _x_orig(x1[j], dc[j], beta, l[j], u[j]) - _x_orig(x0[j], dc[j], beta, l[j], u[j])
        if not np.isfinite(d):
            return False, 0.0, 0.0
        norm = max(norm, abs(d))
    if norm == 0.0:
        return False, 0.0, 0.0
    slope = 0.0
    size = 0.0
    for j in range(n):
        d = (_x_orig(x1[j], dc[j], beta, l[j], u[j]) - _x_orig(x0[j], dc[j], beta, l[j], u[j])) / norm
        if (u[j] < np.inf and d > tol) or (l[j] > -np.inf and d < -tol):
            return False, 0.0, 0.0
        slope += c[j] * d
        size += abs(c[j]) * abs(d)
    if not (slope < 0.0 and -slope > tol * size):
        return False, 0.0, 0.0
    bad_rows = 0.0
    ad_max = 0.0
    for i in range(m):
        a = (beta / dr[i] * Ax1[i] - beta / dr[i] * Ax0[i]) / norm
        ad_max = max(ad_max, abs(a))
        if ru[i] < np.inf and a > 0.0:
            bad_rows = max(bad_rows, a)
        if rl[i] > -np.inf and a < 0.0:
            bad_rows = max(bad_rows, -a)
    return True, bad_rows, ad_max


@njit(cache=True)
def screen_passes(ok, viol, size, scale, tol):
    """The last comparison of a ``farkas_ray`` / ``descent_ray`` screen: ``scale`` is
    |A|_2 |dy| (Farkas) or |A|_2 (descent), needed only when the rest (``ok``) has passed."""
    return ok and _rel(viol, max(size, scale)) <= tol


def ray_passes(screen, scale: float, tol: float) -> bool:
    """``screen_passes`` on a screen's result tuple (the Python callers' form)."""
    return bool(screen_passes(bool(screen[0]), float(screen[1]), float(screen[2]), float(scale), float(tol)))


def warm_up() -> None:
    """Compile (or load from Numba's cache) these kernels on a 1 x 2 LP."""
    one, two = np.ones(1), np.ones(2)
    inf1, inf2 = np.full(1, np.inf), np.full(2, np.inf)
    p, j = np.array([0, 2], dtype=np.int64), np.array([0, 1], dtype=np.int64)
    lp_parts(two, one, one, two, one, two, 1.0, 1.0, two, -inf2, inf2, one, inf1, 1e-8)
    row_ratio_reads(p, j, two, two, one, one, two, 1.0, -inf2, inf2, one, inf1, 1e-8)
    farkas_ray(one, two, 0 * one, 0 * two, one, two, 1.0, -inf2, inf2, one, inf1, 1e-6)
    descent_ray(two, one, 0 * two, 0 * one, one, two, 1.0, two, -inf2, inf2, one, inf1, 1e-6)
    screen_passes(True, 0.0, 1.0, 1.0, 1e-6)
