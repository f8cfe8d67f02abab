"""Kernels of the bilinear saddle family (``families/saddle``, ``backends/halpern``).

The saddle point is ``min_{x in X} max_{y in Y} c^T x + x^T K y - b^T y`` with X and Y
each a probability simplex or a box [lo, hi] (infinite bounds allowed: a free side is
the box (-inf, inf)). A domain is a ``Domain`` code with its (lo, hi) arrays (empty for
the simplex). One PDHG step at step sizes (tau, sigma), primal first:

    x+ = P_X(x - tau (c + K y))
    y+ = P_Y(y + sigma (K^T (2 x+ - x) - b))

``primal_step`` / ``dual_step`` are these updates fused with their projection (and
``prox_step`` the regularized, extrapolated one of ``alpd``) (the
products K y, K^T x come from the caller); ``mix`` is the (reflected) Halpern
combination z+ = a T z - r z + g z0, applied to the iterates and to their products
alike (a product of a combination is the combination of the products, so a step costs
two passes over K). The simplex projection is the sort-based one (Held, Wolfe and
Crowder; Duchi et al. 2008): O(n log n), exact up to rounding.

``abs_matvec`` / ``abs_rmatvec`` compute |K| v and |K|^T v (the sizes of the summands
the certificate measures against) without forming |K|, for dense (C-ordered) and CSR K.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit


class Domain(IntEnum):
    """The kind of a player's set (the kernels branch on the integer)."""
    SIMPLEX = 0
    BOX = 1


_SIMPLEX = int(Domain.SIMPLEX)


@njit(cache=True)
def project_simplex(v, out):
    """out = the Euclidean projection of v onto {x >= 0, sum x = 1}."""
    n = v.size
    u = np.sort(v)
    s = 0.0
    theta = 0.0
    for k in range(n):          # k + 1 largest entries: u[n - 1 - k] ... u[n - 1]
        s += u[n - 1 - k]
        t = (s - 1.0) / (k + 1.0)
        if u[n - 1 - k] > t:
            theta = t
        else:
            break
    # one correction of theta on the support found: the sort's cumulative sum rounds at the
    # scale of |v|, which is far from 1 when the step is long
    tot = 0.0
    cnt = 0
    for i in range(n):
        if v[i] > theta:
            tot += v[i] - theta
            cnt += 1
    if cnt > 0:
        theta += (tot - 1.0) / cnt
    for i in range(n):
        w = v[i] - theta
        out[i] = w if w > 0.0 else 0.0


@njit(cache=True)
def project(kind, lo, hi, v, out):
    """out = P_D(v) for the domain (kind, lo, hi)."""
    if kind == _SIMPLEX:
        project_simplex(v, out)
        return
    for i in range(v.size):
        w = v[i]
        if w < lo[i]:
            w = lo[i]
        elif w > hi[i]:
            w = hi[i]
        out[i] = w


@njit(cache=True)
def primal_step(x, Ky, c, tau, kind, lo, hi, out) -> float:
    """out = P_X(x - tau (c + K y)); returns |out - x|^2."""
    for i in range(x.size):
        out[i] = x[i] - tau * (c[i] + Ky[i])
    project(kind, lo, hi, out, out)
    d2 = 0.0
    for i in range(x.size):
        d = out[i] - x[i]
        d2 += d * d
    return d2


@njit(cache=True)
def dual_step(y, KTx, KTxn, b, sigma, kind, lo, hi, out) -> float:
    """out = P_Y(y + sigma (2 K^T x+ - K^T x - b)); returns |out - y|^2."""
    for j in range(y.size):
        out[j] = y[j] + sigma * (2.0 * KTxn[j] - KTx[j] - b[j])
    project(kind, lo, hi, out, out)
    d2 = 0.0
    for j in range(y.size):
        d = out[j] - y[j]
        d2 += d * d
    return d2


@njit(cache=True)
def prox_step(u, g, g_prev, theta, lin, t, sign, reg, kind, lo, hi, out) -> float:
    """One regularized player's step (``backends/alpd``) at the extrapolated product
    gb = g + theta (g - g_prev):

        out = P_D((u + sign t (gb + lin)) / (1 + t reg))

    the prox of t (lin^T u + reg/2 |u|^2 + indicator of D) at u + sign t gb: for the min
    player sign = -1, lin = c, g = K y; for the max player sign = +1, lin = -b, g = K^T x.
    Returns |out - u|^2."""
    scale = 1.0 / (1.0 + t * reg)
    for i in range(u.size):
        gb = g[i] + theta * (g[i] - g_prev[i])
        out[i] = (u[i] + sign * t * (gb + lin[i])) * scale
    project(kind, lo, hi, out, out)
    d2 = 0.0
    for i in range(u.size):
        d = out[i] - u[i]
        d2 += d * d
    return d2


@njit(cache=True)
def mix(a, r, g, t, z, z0):
    """z <- a t - r z + g z0 (in place)."""
    for i in range(z.size):
        z[i] = a * t[i] - r * z[i] + g * z0[i]


@njit(cache=True)
def dense_abs_matvec(K, v, out):
    """out = |K| v for a C-ordered dense K."""
    m, n = K.shape
    for i in range(m):
        s = 0.0
        for j in range(n):
            s += abs(K[i, j]) * v[j]
        out[i] = s


@njit(cache=True)
def dense_abs_rmatvec(K, v, out):
    """out = |K|^T v for a C-ordered dense K (row by row: one streaming pass)."""
    m, n = K.shape
    for j in range(n):
        out[j] = 0.0
    for i in range(m):
        vi = v[i]
        if vi == 0.0:
            continue
        for j in range(n):
            out[j] += abs(K[i, j]) * vi


@njit(cache=True)
def csr_abs_matvec(p, idx, val, v, out):
    """out = |M| v for M in CSR (p, idx, val)."""
    for i in range(p.size - 1):
        s = 0.0
        for k in range(p[i], p[i + 1]):
            s += abs(val[k]) * v[idx[k]]
        out[i] = s


def abs_matvec(K, v):
    """|K| v (K dense C-ordered or CSR)."""
    out = np.empty(K.shape[0])
    v = np.ascontiguousarray(v, dtype=np.float64)
    if isinstance(K, np.ndarray):
        dense_abs_matvec(K, v, out)
    else:
        csr_abs_matvec(K.indptr, K.indices, K.data, v, out)
    return out


def abs_rmatvec(K, KT, v):
    """|K|^T v (K dense C-ordered, or CSR with its transpose KT as CSR)."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    if isinstance(K, np.ndarray):
        out = np.empty(K.shape[1])
        dense_abs_rmatvec(K, v, out)
        return out
    out = np.empty(KT.shape[0])
    csr_abs_matvec(KT.indptr, KT.indices, KT.data, v, out)
    return out


def warm_up() -> float:
    """Compile (or load from Numba's cache) the kernels on a tiny game; returns seconds."""
    import time
    t0 = time.perf_counter()
    e = np.empty(0)
    v, out = np.array([0.3, -0.2]), np.empty(2)
    primal_step(v, v, v, 0.5, _SIMPLEX, e, e, out)
    dual_step(v, v, v, v, 0.5, int(Domain.BOX), np.zeros(2), np.ones(2), out)
    prox_step(v, v, v, 0.5, v, 0.5, -1.0, 0.1, _SIMPLEX, e, e, out)
    mix(1.0, 0.5, 0.5, v, out.copy(), v)
    K = np.eye(2)
    dense_abs_matvec(K, v, out)
    dense_abs_rmatvec(K, v, out)
    csr_abs_matvec(np.array([0, 1, 2]), np.array([0, 1]), np.ones(2), v, out)
    return time.perf_counter() - t0
