"""Kernels of restarted PDHG for LPs (``backends/pdhg``): fused steps over plain arrays.

The LP (scaled) is ``min c^T x  s.t.  rl <= A x <= ru,  l <= x <= u`` with A as CSR
(``Ap, Aj, Av``) and A^T as CSR (``Tp, Tj, Tv``); ``data`` is the tuple
``(Ap, Aj, Av, Tp, Tj, Tv, c, l, u, rl, ru)`` and ``it`` the iterate tuple
``(x, y, Ax, ATy, xn, yn, Axn, ATyn, xs, ys, Axs, ATys)`` (current, trial, and the
step-weighted sums of the average), all float64 except the index arrays.

One step (PDLP's adaptive PDHG, tau = eta / w, sigma = eta w):

    x+ = clip(x - tau (c - A^T y), l, u)
    y+ = v + clip(-v, sigma rl, sigma ru),  v = y - sigma A (2 x+ - x)

accepted when eta <= |dz|_w^2 / (2 |dy^T A dx|); the next eta is
min((1 - k^-0.3) eta_max, (1 + k^-0.6) eta). A rejected step costs one A pass (the
test needs A x+ only); an accepted one an A and an A^T pass.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from . import lp_measures


@njit(cache=True)
def csr_matvec(p, j, v, x, out):
    """out = M x for M in CSR (p, j, v)."""
    for i in range(p.size - 1):
        s = 0.0
        for k in range(p[i], p[i + 1]):
            s += v[k] * x[j[k]]
        out[i] = s


@njit(cache=True)
def primal_step(x, ATy, c, l, u, tau, out) -> float:
    """out = clip(x - tau (c - A^T y), l, u); returns |out - x|^2."""
    dx2 = 0.0
    for jj in range(x.size):
        v = x[jj] - tau * (c[jj] - ATy[jj])
        if v < l[jj]:
            v = l[jj]
        elif v > u[jj]:
            v = u[jj]
        out[jj] = v
        d = v - x[jj]
        dx2 += d * d
    return dx2


@njit(cache=True)
def dual_step(y, Ax, Axn, rl, ru, sigma, out):
    """out = v + clip(-v, sigma rl, sigma ru), v = y - sigma (2 A x+ - A x); returns
    (|out - y|^2, (out - y)^T A (x+ - x))."""
    dy2 = 0.0
    inter = 0.0
    for i in range(y.size):
        vv = y[i] - sigma * (2.0 * Axn[i] - Ax[i])
        t = -vv
        lo = sigma * rl[i]
        hi = sigma * ru[i]
        if t < lo:
            t = lo
        elif t > hi:
            t = hi
        yi = vv + t
        out[i] = yi
        d = yi - y[i]
        dy2 += d * d
        inter += d * (Axn[i] - Ax[i])
    return dy2, inter


@njit(cache=True)
def pdhg_steps(data, it, eta, w, k0, nsteps):
    """Run ``nsteps`` accepted steps from step count ``k0``. Returns (eta, k, A passes,
    A^T passes, sum of the accepted etas); the sums xs, ys, Axs, ATys gain eta * iterate."""
    Ap, Aj, Av, Tp, Tj, Tv, c, l, u, rl, ru = data
    x, y, Ax, ATy, xn, yn, Axn, ATyn, xs, ys, Axs, ATys = it
    n, m = x.size, y.size
    k = k0
    na = 0
    nt = 0
    wsum = 0.0
    done = 0
    while done < nsteps:
        tau = eta / w
        sigma = eta * w
        dx2 = primal_step(x, ATy, c, l, u, tau, xn)
        csr_matvec(Ap, Aj, Av, xn, Axn)
        na += 1
        dy2, inter = dual_step(y, Ax, Axn, rl, ru, sigma, yn)
        inter = abs(inter)
        move = 0.5 * (w * dx2 + dy2 / w)
        eta_max = move / inter if inter > 0.0 else np.inf
        k += 1
        eta_new = min((1.0 - (k + 1.0) ** -0.3) * eta_max, (1.0 + (k + 1.0) ** -0.6) * eta)
        if eta <= eta_max:
            csr_matvec(Tp, Tj, Tv, yn, ATyn)
            nt += 1
            for jj in range(n):
                x[jj] = xn[jj]
                ATy[jj] = ATyn[jj]
                xs[jj] += eta * xn[jj]
                ATys[jj] += eta * ATyn[jj]
            for i in range(m):
                y[i] = yn[i]
                Ax[i] = Axn[i]
                ys[i] += eta * yn[i]
                Axs[i] += eta * Axn[i]
            wsum += eta
            done += 1
        eta = eta_new
    return eta, k, na, nt, wsum


def ruiz(A, iters: int = 10):
    """(row scale dr, column scale dc) so that diag(dr) A diag(dc) has rows and columns of
    max-norm near 1 (Ruiz equilibration), followed by one Pock–Chambolle step (alpha = 1:
    rows and columns divided by the square roots of their 1-norms). One Numba pass over
    the CSR entries per round (scipy's diagonal products cost ~4 ms on a small LP)."""
    M = sp.csr_matrix(A)
    m, n = M.shape
    return ruiz_csr(M.indptr.astype(np.int64), M.indices.astype(np.int64), np.asarray(M.data, dtype=np.float64),
                    m, n, int(iters))


@njit(cache=True)
def _row_col_reduce(p, j, v, dr, dc, rsum, csum, use_max):
    """Row and column max (``use_max``) or sums of |diag(dr) A diag(dc)| into rsum, csum."""
    rsum[:] = 0.0
    csum[:] = 0.0
    for i in range(p.size - 1):
        for k in range(p[i], p[i + 1]):
            jj = j[k]
            a = (dr[i] * abs(v[k])) * dc[jj]
            if use_max:
                rsum[i] = max(rsum[i], a)
                csum[jj] = max(csum[jj], a)
            else:
                rsum[i] += a
                csum[jj] += a


@njit(cache=True)
def _divide_by_root(d, s):
    """d_i / sqrt(s_i) where s_i > 0 (a line without a nonzero keeps its scale)."""
    for i in range(d.size):
        if s[i] > 0.0:
            d[i] = d[i] / np.sqrt(s[i])


@njit(cache=True)
def ruiz_csr(p, j, v, m, n, iters):
    """``ruiz`` on CSR arrays (|v| entries are scaled as stored; a row or column without a
    nonzero keeps scale 1)."""
    dr = np.ones(m)
    dc = np.ones(n)
    rs = np.empty(m)
    cs = np.empty(n)
    for _ in range(iters):
        _row_col_reduce(p, j, v, dr, dc, rs, cs, True)
        _divide_by_root(dr, rs)
        _divide_by_root(dc, cs)
    _row_col_reduce(p, j, v, dr, dc, rs, cs, False)
    _divide_by_root(dr, rs)
    _divide_by_root(dc, cs)
    return dr, dc


def warm_up() -> float:
    """Compile (or load from cache) the kernels on a tiny LP; returns the seconds spent."""
    import time
    t0 = time.perf_counter()
    A = sp.csr_matrix(np.array([[1.0, 1.0]]))
    T = A.T.tocsr()
    data = (A.indptr, A.indices, A.data, T.indptr, T.indices, T.data, np.ones(2), np.zeros(2),
            np.full(2, np.inf), np.ones(1), np.full(1, np.inf))
    it = tuple(np.zeros(k) for k in (2, 1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2))
    pdhg_steps(data, it, 0.5, 1.0, 0, 2)
    halpern_steps(data, it[:8], it[8:], 0.5, 1.0, 1.0, 0, 2)
    ruiz(A, 1)
    lp_measures.warm_up()
    return time.perf_counter() - t0


@njit(cache=True)
def halpern_steps(data, it, anchor, eta, w, rho, j0, nsteps):
    """``nsteps`` reflected Halpern steps z+ = h ((1 + rho) T z - rho z) + (1 - h) z0 with
    h = (j + 1) / (j + 2) over the PDHG operator T at fixed eta and weight w (j counts
    from the last restart, ``j0``). ``it`` is (x, y, Ax, ATy, xt, yt, Axt, ATyt): z and
    T z with their products; ``anchor`` is (x0, y0, Ax0, ATy0). Each step makes one A
    and one A^T pass (the products of z+ are the same combination of known products).
    Returns (j, the w-weighted fixed-point residual |z - T z|_w of the last step)."""
    Ap, Aj, Av, Tp, Tj, Tv, c, l, u, rl, ru = data
    x, y, Ax, ATy, xt, yt, Axt, ATyt = it
    x0, y0, Ax0, ATy0 = anchor
    n, m = x.size, y.size
    tau = eta / w
    sigma = eta * w
    j = j0
    res = 0.0
    for _ in range(nsteps):
        dx2 = primal_step(x, ATy, c, l, u, tau, xt)
        csr_matvec(Ap, Aj, Av, xt, Axt)
        dy2, _ = dual_step(y, Ax, Axt, rl, ru, sigma, yt)
        csr_matvec(Tp, Tj, Tv, yt, ATyt)
        res = np.sqrt(w * dx2 + dy2 / w)
        h = (j + 1.0) / (j + 2.0)
        a, b = h * (1.0 + rho), h * rho
        g = 1.0 - h
        for jj in range(n):
            x[jj] = a * xt[jj] - b * x[jj] + g * x0[jj]
            ATy[jj] = a * ATyt[jj] - b * ATy[jj] + g * ATy0[jj]
        for i in range(m):
            y[i] = a * yt[i] - b * y[i] + g * y0[i]
            Ax[i] = a * Axt[i] - b * Ax[i] + g * Ax0[i]
        j += 1
    return j, res
