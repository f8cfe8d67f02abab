"""Numba kernels of sparse (truncated) log-domain Sinkhorn between point clouds.

The support is a CSR pattern over rows i of x: ``indptr`` (n + 1, int64), ``indices``
(column j of y per entry, int32); its transpose (CSC) the same over columns. Costs
C_ij = |x_i - y_j|^2 are recomputed from the transposed clouds XT (d, n), YT (d, m), so an
entry costs 4 bytes (8 with the transpose).

Support construction (``support_scan``: ``support_count``, then ``support_fill``): the entries with
f_i + g_j - C_ij >= -eps T. y is bucketed into cells (``cell_ptr`` over ``cell_members``)
with each cell's bounding box and max g; a cell is scanned only when
dist^2(x_i, box) - gmax_cell <= f_i + eps T, a valid test (C_ij - g_j >= dist^2 - gmax).
The kept set is exact: every dropped entry has exponent (f_i + g_j - C_ij)/eps < -T.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _sq(XT, i, YT, j):
    s = 0.0
    for k in range(XT.shape[0]):
        t = XT[k, i] - YT[k, j]
        s += t * t
    return s


@njit(cache=True)
def _box_d2(XT, i, lo, hi, c):
    s = 0.0
    for k in range(XT.shape[0]):
        v = XT[k, i]
        if v < lo[k, c]:
            t = lo[k, c] - v
            s += t * t
        elif v > hi[k, c]:
            t = v - hi[k, c]
            s += t * t
    return s


@njit(cache=True, parallel=True)
def support_scan(XT, YT, f, g, thr, cell_ptr, cell_members, lo, hi, gmax_cell, fill, counts, indptr, indices):
    """The entries {j : C_ij - f_i - g_j <= thr} (thr = eps T) of every row i: their count
    into ``counts`` (``fill`` False), or their column indices row by row into ``indices``
    at ``indptr`` (``fill`` True; the counts' cumulative sum)."""
    n = XT.shape[1]
    nc = cell_ptr.size - 1
    for i in prange(n):
        q = indptr[i] if fill else 0
        lim = f[i] + thr
        for c in range(nc):
            if _box_d2(XT, i, lo, hi, c) - gmax_cell[c] > lim:
                continue
            for p in range(cell_ptr[c], cell_ptr[c + 1]):
                j = cell_members[p]
                if _sq(XT, i, YT, j) - g[j] <= lim:
                    if fill:
                        indices[q] = j
                    q += 1
        if not fill:
            counts[i] = q


def support_count(XT, YT, f, g, thr, cell_ptr, cell_members, lo, hi, gmax_cell, counts):
    """counts[i] = #{j : C_ij - f_i - g_j <= thr} (``support_scan``)."""
    none = np.zeros(1, dtype=np.int64)
    support_scan(XT, YT, f, g, thr, cell_ptr, cell_members, lo, hi, gmax_cell, False, counts, none,
                 np.zeros(1, dtype=np.int32))


def support_fill(XT, YT, f, g, thr, cell_ptr, cell_members, lo, hi, gmax_cell, indptr, indices):
    """The column indices of ``support_count``'s entries, row by row into ``indices``."""
    support_scan(XT, YT, f, g, thr, cell_ptr, cell_members, lo, hi, gmax_cell, True, np.zeros(1, dtype=np.int64),
                 indptr, indices)


@njit(cache=True)
def transpose_pattern(indptr, indices, m, tptr, tind):
    """The CSC pattern (tptr (m + 1), tind: row of each entry, rows ascending per column)."""
    n = indptr.size - 1
    cnt = np.zeros(m + 1, dtype=np.int64)
    for q in range(indices.size):
        cnt[indices[q] + 1] += 1
    for j in range(m):
        cnt[j + 1] += cnt[j]
    for j in range(m + 1):
        tptr[j] = cnt[j]
    for i in range(n):
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            tind[cnt[j]] = i
            cnt[j] += 1


@njit(cache=True, parallel=True)
def lse_sparse(XT, YT, indptr, indices, w, inv_eps, out):
    """out_i = log sum_{j in row i} exp((w_j - C_ij) / eps) (-inf for an empty row);
    rows of XT against columns of YT (pass the transposes for the column update)."""
    n = indptr.size - 1
    for i in prange(n):
        mx = -np.inf
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            v = (w[j] - _sq(XT, i, YT, j)) * inv_eps
            if v > mx:
                mx = v
        if mx == -np.inf:
            out[i] = -np.inf
            continue
        s = 0.0
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            s += np.exp((w[j] - _sq(XT, i, YT, j)) * inv_eps - mx)
        out[i] = mx + np.log(s)


@njit(cache=True, parallel=True)
def stats_sparse(XT, YT, indptr, indices, f, g, inv_eps, rows, parts):
    """Row sums of P = exp((f + g - C)/eps) on the support into ``rows``; parts[i] =
    (sum_j C_ij P_ij, sum_j P_ij log P_ij) of row i."""
    n = indptr.size - 1
    eps = 1.0 / inv_eps
    for i in prange(n):
        r = 0.0
        cp = 0.0
        pl = 0.0
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            c = _sq(XT, i, YT, j)
            e = (f[i] + g[j] - c) * inv_eps
            p = np.exp(e)
            r += p
            cp += c * p
            pl += p * e
        rows[i] = r
        parts[i, 0] = cp
        parts[i, 1] = pl
    return eps


def warm_up() -> float:
    """Compile (or load from cache) the kernels on a tiny problem; the seconds it took."""
    import time
    t = time.perf_counter()
    XT = np.zeros((2, 2))
    f = np.zeros(2)
    cp = np.array([0, 2], dtype=np.int64)
    cm = np.array([0, 1], dtype=np.int64)
    lo = np.zeros((2, 1))
    hi = np.zeros((2, 1))
    gm = np.zeros(1)
    counts = np.zeros(2, dtype=np.int64)
    support_count(XT, XT, f, f, 1.0, cp, cm, lo, hi, gm, counts)
    ip = np.array([0, 2, 4], dtype=np.int64)
    ind = np.zeros(4, dtype=np.int32)
    support_fill(XT, XT, f, f, 1.0, cp, cm, lo, hi, gm, ip, ind)
    tp = np.zeros(3, dtype=np.int64)
    ti = np.zeros(4, dtype=np.int32)
    transpose_pattern(ip, ind, 2, tp, ti)
    out = np.zeros(2)
    lse_sparse(XT, XT, ip, ind, f, 1.0, out)
    stats_sparse(XT, XT, ip, ind, f, f, 1.0, out, np.zeros((2, 2)))
    return time.perf_counter() - t
