"""Kernels of metric-constrained programs (Numba, over plain arrays).

X is a dense, C-ordered, symmetric (n, n) float64 matrix with zero diagonal; a triangle
row ``(i, j, k)`` of an int64 (t, 3) array means the constraint ``X_ij <= X_ik + X_kj``
(i < j, k not in {i, j}); each of the 3 n (n-1) (n-2) / 2 constraints has exactly one
such row. Sweeps write both X_ab and X_ba, so any entry may be read either way.

    triangle_scan       the separation oracle: for every pair its most violated k (one O(n^3)
                        scan over contiguous rows; ``_parallel``: the same over Numba threads)
    max_violation       the certificate's full pass over all triangles
    sweep_triangles     one Hildreth / Dykstra pass over an active set of triangles
    sweep_upper_box     the same for X_ij <= 1 (the correlation-clustering LP)
    sweep_l1_pairs      the same for X_ij - F_ij <= D_ij and D_ij - X_ij <= F_ij (L1)
    sweep_pair_bounds   the same for lo <= X_ij <= hi on a list of pairs (metric learning)
    scatter_adjoint     G = A^T z on the upper triangle (the dual's A^T z)
    forget              drop the triangles whose multiplier is exactly zero
    merge_triangles     add the oracle's rows to the active set (kept sorted, no duplicates)
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .threads import threads  # noqa: F401  (the backend limits Numba threads with it)


@njit(cache=True, fastmath=True, inline="always")
def two_hop(xi, xj, xij):
    """min(X_ij, min_k X_ik + X_kj): the shortest path of at most two hops between i and
    j (rows xi, xj; k = i or j gives X_ij itself, so no branch and the loop vectorizes)."""
    best = xij
    for k in range(xi.size):
        best = min(best, xi[k] + xj[k])
    return best


@njit(cache=True, fastmath=True)
def triangle_scan(X, thr, tri, vals, per_pair=1):
    """For each pair i < j, v = X_ij - min_k (X_ik + X_jk). For a pair with v > thr, its
    most violated k and up to per_pair - 1 more with violation > max(thr, v / 2) go into
    ``tri`` / ``vals`` (capacity per_pair n (n-1) / 2). Returns (count, max v+).

    k = i or k = j gives X_ij (zero diagonal), so v > 0 only if some triangle is violated.
    fastmath lets the min vectorize (X is finite: the caller checks its iterates)."""
    n = X.shape[0]
    nb = n // 8
    m = 0
    vmax = 0.0
    for i in range(n):
        xi = X[i]
        for j in range(i + 1, n):
            xj = X[j]
            best = xi[j]
            blk = -1          # the block of 8 k's holding the min (the argmin is found there)
            for b in range(nb):
                o = 8 * b
                mb = xi[o] + xj[o]
                for q in range(1, 8):
                    mb = min(mb, xi[o + q] + xj[o + q])
                if mb < best:
                    best = mb
                    blk = b
            for k in range(8 * nb, n):
                sk = xi[k] + xj[k]
                if sk < best:
                    best = sk
                    blk = nb
            v = xi[j] - best
            if v > vmax:
                vmax = v
            if v > thr:
                kb = -1
                lo = 8 * blk
                hi = min(n, lo + 8) if blk < nb else n
                for k in range(lo, hi):   # exact: min returns one of the sums
                    if k != i and k != j and xi[k] + xj[k] <= best:
                        kb = k
                        break
                tri[m, 0] = i
                tri[m, 1] = j
                tri[m, 2] = kb
                vals[m] = v
                m += 1
                if per_pair > 1:
                    cut = xi[j] - max(thr, 0.5 * v)
                    got = 1
                    for k in range(n):
                        if got >= per_pair:
                            break
                        s = xi[k] + xj[k]
                        if s < cut and k != kb and k != i and k != j:
                            tri[m, 0] = i
                            tri[m, 1] = j
                            tri[m, 2] = k
                            vals[m] = xi[j] - s
                            m += 1
                            got += 1
    return m, vmax


@njit(cache=True, fastmath=True, parallel=True)
def triangle_scan_parallel(X, thr, tri, vals, slot):
    """``triangle_scan`` over Numba threads: rows r and n-1-r go to one task (balanced);
    pair (i, j) owns slot i n - i (i+1) / 2 + j - i - 1 of ``slot`` (capacity n (n-1) / 2,
    int64: -1 or the violating k), then one serial pass compacts into ``tri`` / ``vals``."""
    n = X.shape[0]
    half = (n + 1) // 2
    rowmax = np.zeros(n)
    for rr in prange(half):
        r = np.int64(rr)
        for side in range(2):
            i = r if side == 0 else n - 1 - r
            if side == 1 and i == r:
                continue
            xi = X[i]
            base = i * n - (i * (i + 1)) // 2 - i - 1
            vm = 0.0
            for j in range(i + 1, n):
                xj = X[j]
                best = two_hop(xi, xj, xi[j])
                v = xi[j] - best
                if v > vm:
                    vm = v
                kb = -1
                if v > thr:
                    for k in range(n):
                        if k != i and k != j and xi[k] + xj[k] <= best:
                            kb = k
                            break
                slot[base + j] = kb
            rowmax[i] = vm
    m = 0
    for i in range(n):
        base = i * n - (i * (i + 1)) // 2 - i - 1
        for j in range(i + 1, n):
            k = slot[base + j]
            if k >= 0:
                tri[m, 0] = i
                tri[m, 1] = j
                tri[m, 2] = k
                vals[m] = X[i, j] - X[i, k] - X[k, j]
                m += 1
    return m, rowmax.max()


@njit(cache=True, fastmath=True)
def max_violation(X):
    """max over all triangles of (X_ij - X_ik - X_kj)_+ (the certificate's full pass; X
    finite with zero diagonal, checked by the caller). k = i or j gives X_ij itself, so the
    min runs over every k without a branch (and vectorizes) and the result is already >= 0."""
    n = X.shape[0]
    vmax = 0.0
    for i in range(n):
        xi = X[i]
        for j in range(i + 1, n):
            v = xi[j] - two_hop(xi, X[j], xi[j])
            if v > vmax:
                vmax = v
    return vmax


@njit(cache=True)
def sweep_triangles(X, Winv, uniform, tri, z, t):
    """One pass of Hildreth's method (Dykstra for half-spaces) over tri[:t], in the norm
    sum_p w_p x_p^2 / 2 (Winv = 1/w; ``uniform``: w = 1). z[s] >= 0 is the multiplier of
    row s; X moves by -dz W^{-1} a_s. Branch-free (a zero step writes the same values back:
    2x faster than skipping it, whose branch mispredicts). Returns the largest |dz|."""
    big = 0.0
    wij = 1.0
    wik = 1.0
    wjk = 1.0
    for s in range(t):
        i = tri[s, 0]
        j = tri[s, 1]
        k = tri[s, 2]
        if not uniform:
            wij = Winv[i, j]
            wik = Winv[i, k]
            wjk = Winv[j, k]
        v = X[i, j] - X[i, k] - X[j, k]   # rows i and j (X is symmetric)
        zs = z[s]
        zn = max(zs + v / (wij + wik + wjk), 0.0)
        c = zn - zs
        z[s] = zn
        a = X[i, j] - c * wij
        X[i, j] = a
        X[j, i] = a
        b = X[i, k] + c * wik
        X[i, k] = b
        X[k, i] = b
        e = X[j, k] + c * wjk
        X[j, k] = e
        X[k, j] = e
        big = max(big, abs(c))
    return big


@njit(cache=True)
def sweep_upper_box(X, zu):
    """Hildreth over X_ij <= 1 (i < j), multipliers zu (upper triangle), Euclidean norm."""
    n = X.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            zs = zu[i, j]
            zn = zs + (X[i, j] - 1.0)
            if zn < 0.0:
                zn = 0.0
            c = zn - zs
            if c != 0.0:
                zu[i, j] = zn
                a = X[i, j] - c
                X[i, j] = a
                X[j, i] = a


@njit(cache=True)
def sweep_l1_pairs(X, F, D, mu1, mu2):
    """Hildreth over X - F <= D and D - X <= F (i < j; F upper triangle), Euclidean norm
    in (X, F): the epigraph of |X - D| in the regularized L1 problem."""
    n = X.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            x = X[i, j]
            f = F[i, j]
            d = D[i, j]
            zs = mu1[i, j]
            zn = zs + 0.5 * (x - f - d)
            if zn < 0.0:
                zn = 0.0
            c = zn - zs
            mu1[i, j] = zn
            x -= c
            f += c
            zs = mu2[i, j]
            zn = zs + 0.5 * (d - x - f)
            if zn < 0.0:
                zn = 0.0
            c = zn - zs
            mu2[i, j] = zn
            x += c
            f += c
            X[i, j] = x
            X[j, i] = x
            F[i, j] = f


@njit(cache=True)
def scatter_adjoint(n, tri, z, t, G):
    """G (upper triangle, i < j) = A^T z: +z at (i, j), -z at (i, k) and (k, j)."""
    for a in range(n):
        for b in range(n):
            G[a, b] = 0.0
    for s in range(t):
        i = tri[s, 0]
        j = tri[s, 1]
        k = tri[s, 2]
        zs = z[s]
        G[i, j] += zs
        if i < k:
            G[i, k] -= zs
        else:
            G[k, i] -= zs
        if k < j:
            G[k, j] -= zs
        else:
            G[j, k] -= zs


@njit(cache=True)
def forget(tri, z, t):
    """Compact tri[:t], z[:t] in place, keeping rows with z > 0; returns the new count."""
    m = 0
    for s in range(t):
        if z[s] > 0.0:
            if m != s:
                tri[m, 0] = tri[s, 0]
                tri[m, 1] = tri[s, 1]
                tri[m, 2] = tri[s, 2]
                z[m] = z[s]
            m += 1
    return m


@njit(cache=True)
def merge_triangles(tri, z, t, new, m, n, out_tri, out_z):
    """out = the sorted union of tri[:t] (sorted by (i, j, k), multipliers z) and new[:m]
    (sorted by (i, j) from the oracle, any order within a pair; multiplier 0); an active
    row keeps its multiplier. Returns the count. O(t + m) (plus a sort within pairs)."""
    codes = np.empty(m, dtype=np.int64)
    for s in range(m):
        codes[s] = (new[s, 0] * n + new[s, 1]) * n + new[s, 2]
    order = np.arange(m)
    for s in range(1, m):            # insertion sort: only rows of one pair are out of order
        c = codes[order[s]]
        q = s - 1
        cur = order[s]
        while q >= 0 and codes[order[q]] > c:
            order[q + 1] = order[q]
            q -= 1
        order[q + 1] = cur
    a = 0
    b = 0
    o = 0
    last = -1
    while a < t or b < m:
        ca = (tri[a, 0] * n + tri[a, 1]) * n + tri[a, 2] if a < t else -1
        cb = codes[order[b]] if b < m else -1
        if b >= m or (a < t and ca <= cb):
            out_tri[o, 0] = tri[a, 0]
            out_tri[o, 1] = tri[a, 1]
            out_tri[o, 2] = tri[a, 2]
            out_z[o] = z[a]
            last = ca
            if b < m and ca == cb:
                b += 1
            a += 1
            o += 1
        else:
            if cb != last:
                r = order[b]
                out_tri[o, 0] = new[r, 0]
                out_tri[o, 1] = new[r, 1]
                out_tri[o, 2] = new[r, 2]
                out_z[o] = 0.0
                last = cb
                o += 1
            b += 1
    return o


#: objective kinds of the metric family, by MetricProgram.kind (the only place they are numbered)
L2, L1, LP = 0, 1, 2
KIND_CODES = {"l2": L2, "l1": L1, "lp": LP}


@njit(cache=True)
def pair_values(kind, X, D, W2, C, G):
    """(primal, dual) without the constant, over pairs i < j, G = A^T z (upper triangle):
    l2  sum W2 (x - d)^2 | sum G d - G^2 / (4 W2);  l1  sum W2 |x - d| | s sum G d with
    s = min(1, min W2 / |G|);  lp  sum C x | sum min(0, C + G)  (see families.metric.certificate)."""
    n = X.shape[0]
    prim = 0.0
    dual = 0.0
    ratio = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            g = G[i, j]
            if kind == LP:
                c = C[i, j]
                prim += c * X[i, j]
                if c + g < 0.0:
                    dual += c + g
            else:
                r = X[i, j] - D[i, j]
                w = W2[i, j]
                if kind == L2:
                    prim += w * r * r
                    dual += g * D[i, j] - g * g / (4.0 * w)
                else:
                    prim += w * abs(r)
                    dual += g * D[i, j]
                    q = abs(g) / w
                    if q > ratio:
                        ratio = q
    if kind == L1 and ratio > 1.0:
        dual /= ratio
    return prim, dual


@njit(cache=True)
def sweep_pair_bounds(X, Winv, uniform, bi, bj, lo, hi, zl, zu):
    """Hildreth over lo_s <= X_ij <= hi_s for the bounded pairs s (i = bi[s] < j = bj[s];
    +-inf where a side is absent), in the norm of ``sweep_triangles`` (Winv = 1/w,
    ``uniform``: w = 1); zl, zu >= 0 the multipliers of the lower and upper sides."""
    for s in range(bi.shape[0]):
        i = bi[s]
        j = bj[s]
        w = 1.0 if uniform else Winv[i, j]
        x = X[i, j]
        if hi[s] < np.inf:
            zs = zu[s]
            zn = max(zs + (x - hi[s]) / w, 0.0)
            x -= (zn - zs) * w
            zu[s] = zn
        if lo[s] > -np.inf:
            zs = zl[s]
            zn = max(zs + (lo[s] - x) / w, 0.0)
            x += (zn - zs) * w
            zl[s] = zn
        X[i, j] = x
        X[j, i] = x
