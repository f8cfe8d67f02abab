"""Numba kernels of the fractional family: exact coordinate minimization of a ratio, and
the Lasso-with-box coordinate descent of Dinkelbach's inner problems.

The numerator is N(x) = 1/2 |G x - y|^2 + q^T x + c0 + sum lam_i |x_i| with r = G x - y
kept up to date; along coordinate i, with z the new value and delta = z - x_i,

    N = f + g_i delta + colsq_i / 2 delta^2 + lam_i |z| + (the other l1 terms)

exactly (f is quadratic), so the 1-D problem min_z N / D over [lo_i, hi_i] is a ratio of
a piecewise quadratic and a piecewise linear (affine, l1, top-k) or a square-root
quadratic (l2) function. ``best_coordinate`` solves it globally: on each piece between
breakpoints (0, the top-k threshold +-v, the bounds) the ratio's stationary points are the
roots of a quadratic (linear D) or a cubic (sqrt-quadratic D), and the minimum is among
them and the piece ends (the current value is always a candidate, so F never increases).

Data travel as tuples of arrays (num: G, colsq, q, lam, lo, hi, f; den: kind, s, d, a,
B, colsqB, k, Bx), never long positional lists.
"""
from __future__ import annotations

import enum

import numpy as np
from numba import njit

from .cd import prox1d


class DenKind(enum.IntEnum):
    """The denominators' kernel codes (named once; the backends read them from here)."""
    AFFINE = 0
    L2 = 1
    L1 = 2
    TOPK = 3


_AFFINE, _L2, _L1, _TOPK = 0, 1, 2, 3


@njit(cache=True)
def _quad_roots(c2, c1, c0, out, m):
    """Append the real roots of c2 z^2 + c1 z + c0 to out[m:]; returns the new count."""
    if c2 == 0.0:
        if c1 != 0.0:
            out[m] = -c0 / c1
            m += 1
        return m
    disc = c1 * c1 - 4.0 * c2 * c0
    if disc < 0.0:
        return m
    sq = np.sqrt(disc)
    qq = -0.5 * (c1 + (sq if c1 >= 0 else -sq))
    if qq != 0.0:
        out[m] = qq / c2
        out[m + 1] = c0 / qq
        return m + 2
    out[m] = 0.0
    return m + 1


@njit(cache=True)
def _cubic_roots(c3, c2, c1, c0, out, m):
    """Append the real roots of c3 z^3 + c2 z^2 + c1 z + c0 (Cardano / trigonometric,
    then two Newton steps each); the quadratic's roots too when c3 is negligible."""
    scale = max(abs(c2), abs(c1), abs(c0))
    if c3 == 0.0 or abs(c3) <= 1e-14 * scale:
        return _quad_roots(c2, c1, c0, out, m)
    a, b, c = c2 / c3, c1 / c3, c0 / c3
    p = b - a * a / 3.0
    q = 2.0 * a * a * a / 27.0 - a * b / 3.0 + c
    disc = 0.25 * q * q + p * p * p / 27.0
    start = m
    if disc > 0.0:
        sd = np.sqrt(disc)
        u = np.cbrt(-0.5 * q + sd)
        v = np.cbrt(-0.5 * q - sd)
        out[m] = u + v - a / 3.0
        m += 1
    elif p == 0.0:
        out[m] = -a / 3.0
        m += 1
    else:
        r = 2.0 * np.sqrt(-p / 3.0)
        arg = 3.0 * q / (p * r)
        arg = min(1.0, max(-1.0, arg))
        phi = np.arccos(arg) / 3.0
        for j in range(3):
            out[m] = r * np.cos(phi - 2.0 * np.pi * j / 3.0) - a / 3.0
            m += 1
    for j in range(start, m):
        z = out[j]
        for _ in range(2):
            f = ((c3 * z + c2) * z + c1) * z + c0
            df = (3.0 * c3 * z + 2.0 * c2) * z + c1
            if df == 0.0:
                break
            z = z - f / df
        out[j] = z
    return m


@njit(cache=True)
def _den_piece(kind, s, dl, de, w, u, sig, v, sp, a_piece, b_piece):
    """The denominator on the piece [a_piece, b_piece]: (is_sqrt, delta, eps) for a linear
    d = delta z + eps, or for l2 (1, 0, 0) with Q(z) = w z^2 + 2 u z + sig (times s^2)."""
    mid = 0.5 * (a_piece + b_piece) if np.isfinite(a_piece) and np.isfinite(b_piece) else \
        (b_piece - 1.0 if np.isfinite(b_piece) else (a_piece + 1.0 if np.isfinite(a_piece) else 0.0))
    if kind == _AFFINE:
        return 0, dl, de
    if kind == _L2:
        return 1, 0.0, 0.0
    if kind == _L1:
        return 0, (s if mid >= 0 else -s), s * sp
    # top-k: s (S' + max(v, |z|))
    if abs(mid) <= v:
        return 0, 0.0, s * (sp + v)
    return 0, (s if mid >= 0 else -s), s * sp


@njit(cache=True)
def _den_at(kind, s, dl, de, w, u, sig, v, sp, z):
    if kind == _AFFINE:
        return dl * z + de
    if kind == _L2:
        Q = (w * z + 2.0 * u) * z + sig
        return s * np.sqrt(max(Q, 0.0))
    if kind == _L1:
        return s * (sp + abs(z))
    return s * (sp + max(v, abs(z)))


@njit(cache=True)
def best_coordinate(al, be, ga, lmb, lo, hi, xi, kind, s, dl, de, w, u, sig, v, sp):
    """argmin over z in [lo, hi] of (al z^2 + be z + ga + lmb |z|) / d(z) (module
    docstring); returns (z, ratio). ``xi`` (the current value) is always a candidate."""
    bps = np.empty(6)
    nb = 0
    bps[nb] = lo
    nb += 1
    for c in (0.0, -v, v):
        if (kind == _TOPK or c == 0.0) and lo < c < hi:
            bps[nb] = c
            nb += 1
    bps[nb] = hi
    nb += 1
    bps[:nb].sort()
    best_z = xi
    dxi = _den_at(kind, s, dl, de, w, u, sig, v, sp, xi)
    best = (al * xi * xi + be * xi + ga + lmb * abs(xi)) / dxi if dxi > 0 else np.inf
    cand = np.empty(8)
    best_c, cz = np.inf, xi
    for j in range(nb - 1):
        A, B = bps[j], bps[j + 1]
        if not A < B:
            continue
        mid = 0.5 * (A + B) if np.isfinite(A) and np.isfinite(B) else (B - 1.0 if np.isfinite(B) else A + 1.0)
        if not (np.isfinite(A) or np.isfinite(B)):
            mid = 0.0 if lmb == 0.0 else 1.0
        b2 = be + (lmb if mid >= 0 else -lmb)
        is_sqrt, dd, ee = _den_piece(kind, s, dl, de, w, u, sig, v, sp, A, B)
        m = 0
        if np.isfinite(A):
            cand[m] = A
            m += 1
        if np.isfinite(B):
            cand[m] = B
            m += 1
        if is_sqrt == 1:
            m = _cubic_roots(al * w, 3.0 * al * u, 2.0 * al * sig + b2 * u - ga * w, b2 * sig - ga * u, cand, m)
        else:
            m = _quad_roots(al * dd, 2.0 * al * ee, b2 * ee - ga * dd, cand, m)
        for c in range(m):
            z = cand[c]
            if not (A <= z <= B) or not np.isfinite(z):
                continue
            dz = _den_at(kind, s, dl, de, w, u, sig, v, sp, z)
            if not dz > 0:
                continue
            val = (al * z * z + b2 * z + ga) / dz if not (z == 0.0) else ga / dz
            if val < best_c:
                best_c, cz = val, z
    # a stationary candidate within rounding of the current value wins: comparing values
    # alone would stop at sqrt(eps) accuracy in z; the roots are accurate to eps
    if best_c <= best + 8.0 * 2.220446049250313e-16 * abs(best):
        return cz, best_c
    return best_z, best


@njit(cache=True)
def _topk_state(x, k):
    """(S_k, u_k, u_{k+1}) of |x| sorted decreasingly (u_{n+1} = 0)."""
    n = x.size
    ax = np.abs(x)
    if k >= n:
        return float(ax.sum()), float(ax.min()), 0.0
    part = np.partition(ax, n - k - 1)       # O(n): the k largest in part[n - k:]
    S, uk = 0.0, np.inf
    for j in range(n - k, n):
        S += part[j]
        uk = min(uk, part[j])
    return S, uk, part[n - k - 1]


@njit(cache=True)
def fcd_epochs(num, den, x, r, epochs, theta):
    """``epochs`` cyclic passes of exact coordinate minimization of N / D from x (updated
    in place with the residual r = G x - y). num = (G, colsq, q, lam, lo, hi, f_value)
    with f_value = 1/2 |r|^2 + q^T x + c0; den = (kind, s, d, a, B, colsqB, k, Bx): D =
    a^T x + d (affine), s |B x|_2 (l2; B with 0 rows: the identity), s |x|_1, s |x|_topk.
    ``theta`` >= 0 adds the proximal term theta / 2 (z - x_i)^2 to each 1-D numerator (the
    paper's safeguard; 0: exact minimization). Returns (the 1-D model's last ratio, the
    coordinates changed in the last pass)."""
    G, colsq, q, lam, lo, hi, f0 = num
    kind, s, d, a, B, colsqB, k, Bx = den
    m, n = G.shape
    f = f0
    l1 = 0.0
    for i in range(n):
        l1 += lam[i] * abs(x[i])
    dval = 0.0
    sumsq = 0.0
    absx = 0.0
    Sk, uk, uk1 = 0.0, 0.0, 0.0
    if kind == _AFFINE:
        dval = float(np.dot(a, x)) + d
    elif kind == _L2:
        if B.shape[0] > 0:
            sumsq = float(np.dot(Bx, Bx))
        else:
            sumsq = float(np.dot(x, x))
    elif kind == _L1:
        absx = float(np.sum(np.abs(x)))
    else:
        Sk, uk, uk1 = _topk_state(x, k)
    ratio = np.inf
    changed = 0
    for ep in range(epochs):
        changed = 0
        for i in range(n):
            xi = x[i]
            gi = q[i]
            for row in range(m):
                gi += G[row, i] * r[row]
            al = 0.5 * (colsq[i] + theta)
            nrest = f + l1 - lam[i] * abs(xi)
            be = gi - 2.0 * al * xi
            ga = al * xi * xi - gi * xi + nrest
            dl = de = w = u = sig = v = sp = 0.0
            if kind == _AFFINE:
                dl = a[i]
                de = dval - a[i] * xi
            elif kind == _L2:
                if B.shape[0] > 0:
                    w = colsqB[i]
                    bu = 0.0
                    for row in range(B.shape[0]):
                        bu += B[row, i] * Bx[row]
                    u = bu - xi * w
                    sig = sumsq - 2.0 * xi * bu + xi * xi * w
                else:
                    w = 1.0
                    u = 0.0
                    sig = sumsq - xi * xi
                if sig < 0.0:
                    sig = 0.0
            elif kind == _L1:
                sp = absx - abs(xi)
            else:
                axi = abs(xi)
                if axi >= uk:
                    sp = Sk - axi
                    v = uk1
                else:
                    sp = Sk - uk
                    v = uk
            z, val = best_coordinate(al, be, ga, lam[i], lo[i], hi[i], xi, kind, s, dl, de, w, u, sig, v, sp)
            delta = z - xi
            if delta != 0.0:
                changed += 1
                f += gi * delta + 0.5 * colsq[i] * delta * delta
                l1 += lam[i] * (abs(z) - abs(xi))
                for row in range(m):
                    r[row] += delta * G[row, i]
                if kind == _AFFINE:
                    dval += a[i] * delta
                elif kind == _L2:
                    if B.shape[0] > 0:
                        for row in range(B.shape[0]):
                            Bx[row] += delta * B[row, i]
                        sumsq = float(np.dot(Bx, Bx))
                    else:
                        sumsq += z * z - xi * xi
                elif kind == _L1:
                    absx += abs(z) - abs(xi)
                x[i] = z
                if kind == _TOPK and (abs(xi) >= uk1 or abs(z) >= uk1):
                    Sk, uk, uk1 = _topk_state(x, k)
            ratio = val
    return ratio, changed


@njit(cache=True)
def lasso_box_cd(G, colsq, r, x, c, lam, lo, hi, tol, max_epochs):
    """min 1/2 |G x - y|^2 + c^T x + sum lam_i |x_i| over lo <= x <= hi by cyclic CD from x
    (r = G x - y kept). Stops when, in one pass, every coordinate's KKT violation
    dist(0, g_i + lam_i d|x_i| + N_box) <= tol max(|g|_inf, |lam|_inf) (or a coordinate
    with colsq_i = 0 runs off to infinity: returns -1 epochs). Returns (epochs, the last
    pass's violation relative to that scale)."""
    m, n = G.shape
    viol, scale = np.inf, 1.0
    lam_max = 0.0
    for i in range(n):
        lam_max = max(lam_max, lam[i])
    for ep in range(1, max_epochs + 1):
        viol, gmax = 0.0, 0.0
        for i in range(n):
            xi = x[i]
            gi = c[i]
            for row in range(m):
                gi += G[row, i] * r[row]
            gmax = max(gmax, abs(gi))
            lo_s = gi - lam[i] if xi <= 0 else gi + lam[i]
            up_s = gi + lam[i] if xi >= 0 else gi - lam[i]
            if xi <= lo[i]:
                lo_s = -np.inf
            if xi >= hi[i]:
                up_s = np.inf
            viol = max(viol, max(lo_s, -up_s, 0.0))
            if colsq[i] > 0:     # the l1 prox clipped to the box: cd's own coordinate step
                z = prox1d(0, xi - gi / colsq[i], 1.0 / colsq[i], lam[i], 0.0, lo[i], hi[i], 0.0)
            else:
                z = lo[i] if gi > lam[i] else (hi[i] if gi < -lam[i] else 0.0)
                if not np.isfinite(z):
                    return -1, np.inf
                z = min(max(z, lo[i]), hi[i])
            if z != xi:
                d = z - xi
                for row in range(m):
                    r[row] += d * G[row, i]
                x[i] = z
        scale = max(gmax, lam_max)
        if viol <= tol * scale:
            return ep, (viol / scale if scale > 0 else 0.0)
    return max_epochs, (viol / scale if scale > 0 else viol)


@njit(cache=True)
def _tie_feasible(sig, Lo, Up, r, c, signed):
    """Whether theta exists with sig * theta in [Lo - r, Up + r]: signed=False, theta in
    [0, 1]^T with sum theta = c; signed=True, theta in [-1, 1]^T with sum |theta| <= c."""
    lo_t = -1.0 if signed else 0.0
    s1 = 0.0
    s2 = 0.0
    need = 0.0
    for i in range(sig.size):
        a = Lo[i] - r
        b = Up[i] + r
        si = sig[i]
        if si > 0:
            t1, t2 = a / si, b / si
        elif si < 0:
            t1, t2 = b / si, a / si
        elif a <= 0 and b >= 0:
            t1, t2 = -np.inf, np.inf
        else:
            t1, t2 = np.inf, -np.inf
        if t1 < lo_t:
            t1 = lo_t
        if t2 > 1.0:
            t2 = 1.0
        if t1 > t2:
            return False
        if signed:
            if not (t1 <= 0.0 <= t2):
                need += min(abs(t1), abs(t2))
        else:
            s1 += t1
            s2 += t2
    if signed:
        return need <= c * (1 + 1e-12)
    return s1 <= c * (1 + 1e-12) and s2 >= c * (1 - 1e-12)


@njit(cache=True)
def tie_level(sig, Lo, Up, c, signed, hi):
    """The least r in [0, hi] with ``_tie_feasible`` (hi when even hi is not): 80 halvings.
    The fractional certificate's choice of the l1 / top-k subgradient on ties."""
    if sig.size == 0:
        return 0.0
    if not _tie_feasible(sig, Lo, Up, hi, c, signed):
        return hi
    if _tie_feasible(sig, Lo, Up, 0.0, c, signed):
        return 0.0
    low, high = 0.0, hi
    for _ in range(80):
        mid = 0.5 * (low + high)
        if _tie_feasible(sig, Lo, Up, mid, c, signed):
            high = mid
        else:
            low = mid
    return high
