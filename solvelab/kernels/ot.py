"""Fused log-domain kernels for entropic optimal transport (Numba, over plain arrays).

Convention: a plan in log form is ``P_ij = exp((f_i + g_j - C_ij) / eps)``; arrays are
C-ordered ``(n, m)`` float64. Column operations run on the transposed cost ``C^T`` (kept
C-ordered by the caller) so every pass streams contiguous rows, in parallel over rows.

Each kernel skips the ``exp`` of entries whose exponent lies more than ``CUT`` below the
row maximum: they add less than ``m * exp(-CUT)`` (relative) to a row sum, below double
rounding. At small eps almost every entry is skipped, which is what makes log-domain
passes cheap where they matter. ``+inf`` costs (forbidden pairs) give exactly zero.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .threads import threads  # noqa: F401  (the backends use it as kernels.ot.threads)

#: exponents below (row max - CUT) are treated as zero (exp(-50) ~ 2e-22)
CUT = 50.0
#: below this exponent exp underflows to 0 in float64
_UNDERFLOW = -745.0
#: ``gibbs`` flushes entries below exp(GIBBS_CUT) ~ 1e-282 to exact zeros. exp(-708) to
#: exp(-745) are subnormal numbers, which make every BLAS mat-vec over the kernel ~100x
#: slower; with scalings u, v in [exp(-50), exp(50)] (the absorption bounds) every product
#: K_ij v_j then stays a normal float. Entries that small cannot change any sum.
GIBBS_CUT = -650.0


@njit(cache=True, parallel=True, fastmath=False)
def lse_rows(C, f, g, inv_eps, out):
    """out_i = log sum_j exp((f_i + g_j - C_ij) * inv_eps), max-shifted (one row in cache)."""
    n, m = C.shape
    for i in prange(n):
        fi = f[i]
        mx = -np.inf
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            if v > mx:
                mx = v
        if mx == -np.inf:
            out[i] = -np.inf
            continue
        lo = mx - CUT
        s = 0.0
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            if v > lo:
                s += np.exp(v - mx)
        out[i] = mx + np.log(s)


@njit(cache=True, parallel=True, fastmath=False)
def lse_rows_shift(C, g, inv_eps, out):
    """out_i = log sum_j exp((g_j - C_ij) * inv_eps) (the f-free update of a potential)."""
    n, m = C.shape
    for i in prange(n):
        mx = -np.inf
        for j in range(m):
            v = (g[j] - C[i, j]) * inv_eps
            if v > mx:
                mx = v
        if mx == -np.inf:
            out[i] = -np.inf
            continue
        lo = mx - CUT
        s = 0.0
        for j in range(m):
            v = (g[j] - C[i, j]) * inv_eps
            if v > lo:
                s += np.exp(v - mx)
        out[i] = mx + np.log(s)


@njit(cache=True, parallel=True, fastmath=False)
def gibbs(C, f, g, inv_eps, out):
    """out_ij = exp((f_i + g_j - C_ij) * inv_eps), exact zeros below exp(GIBBS_CUT)
    (no subnormal numbers in the kernel)."""
    n, m = C.shape
    for i in prange(n):
        fi = f[i]
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            out[i, j] = np.exp(v) if v > GIBBS_CUT else 0.0


@njit(cache=True, parallel=True, fastmath=False)
def marginals(C, f, g, inv_eps, rows, cols_parts):
    """Row sums into ``rows`` and per-chunk column sums into ``cols_parts`` (k, m) of the
    plan exp((f + g - C) / eps), in one pass. Sum ``cols_parts`` over axis 0 afterwards.

    Entries below exp(-CUT) times the largest possible entry of their row are skipped."""
    n, m = C.shape
    k = cols_parts.shape[0]
    chunk = (n + k - 1) // k
    for c in prange(k):
        acc = cols_parts[c]
        for j in range(m):
            acc[j] = 0.0
        start = c * chunk
        stop = min(n, start + chunk)
        for i in range(start, stop):
            fi = f[i]
            mx = -np.inf
            for j in range(m):
                v = (fi + g[j] - C[i, j]) * inv_eps
                if v > mx:
                    mx = v
            lo = mx - CUT
            if lo < _UNDERFLOW:
                lo = _UNDERFLOW
            s = 0.0
            for j in range(m):
                v = (fi + g[j] - C[i, j]) * inv_eps
                if v > lo:
                    e = np.exp(v)
                    s += e
                    acc[j] += e
            rows[i] = s


@njit(cache=True, parallel=True, fastmath=False)
def count_significant(C, f, g, inv_eps, log_rel, counts):
    """Per row, how many entries satisfy log P_ij >= log(max_j P_ij) + log_rel."""
    n, m = C.shape
    for i in prange(n):
        fi = f[i]
        mx = -np.inf
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            if v > mx:
                mx = v
        lo = mx + log_rel
        c = 0
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            if v >= lo and v > _UNDERFLOW:
                c += 1
        counts[i] = c


@njit(cache=True, parallel=True, fastmath=False)
def fill_significant(C, f, g, inv_eps, log_rel, indptr, indices, data):
    """CSR of the entries counted by ``count_significant`` (values exp((f+g-C)/eps))."""
    n, m = C.shape
    for i in prange(n):
        fi = f[i]
        mx = -np.inf
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            if v > mx:
                mx = v
        lo = mx + log_rel
        p = indptr[i]
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            if v >= lo and v > _UNDERFLOW:
                indices[p] = j
                data[p] = np.exp(v)
                p += 1


@njit(cache=True, parallel=True, fastmath=False)
def topk_thresholds(C, f, g, inv_eps, log_rel, k, thr, counts):
    """Per row: thr_i = the larger of (row max + log_rel) and the k-th largest exponent
    (f_i + g_j - C_ij) / eps, and counts_i = how many entries reach it (ties can add a
    few beyond k). Sparsification "top-k per row, within a factor of the row's largest"."""
    n, m = C.shape
    for i in prange(n):
        fi = f[i]
        vals = np.empty(m)
        mx = -np.inf
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            vals[j] = v
            if v > mx:
                mx = v
        lo = mx + log_rel
        if k < m:
            kth = np.partition(vals, m - k)[m - k]
            if kth > lo:
                lo = kth
        if lo < _UNDERFLOW:
            lo = _UNDERFLOW
        thr[i] = lo
        c = 0
        for j in range(m):
            if vals[j] >= lo and vals[j] > _UNDERFLOW:
                c += 1
        counts[i] = c


@njit(cache=True, parallel=True, fastmath=False)
def fill_above(C, f, g, inv_eps, thr, indptr, indices, data):
    """CSR of the entries with exponent >= thr_i (``topk_thresholds``), values exp."""
    n, m = C.shape
    for i in prange(n):
        fi = f[i]
        lo = thr[i]
        p = indptr[i]
        stop = indptr[i + 1]
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            if v >= lo and v > _UNDERFLOW and p < stop:
                indices[p] = j
                data[p] = np.exp(v)
                p += 1


@njit(cache=True, parallel=True, fastmath=False)
def plan_objective_parts(CT, PT, parts):
    """Over the transposed plan ``PT`` (the F-ordered flat plan, reshaped (m, n)):
    parts[c] = (sum C P over P > 0, sum P log P over P > 0, mass, negative mass, nonfinite count)
    per chunk c. A +inf cost under a positive entry counts as nonfinite."""
    m, n = CT.shape
    k = parts.shape[0]
    chunk = (m + k - 1) // k
    for c in prange(k):
        cp = 0.0
        ent = 0.0
        mass = 0.0
        neg = 0.0
        bad = 0.0
        start = c * chunk
        stop = min(m, start + chunk)
        for j in range(start, stop):
            for i in range(n):
                p = PT[j, i]
                if p > 0.0:
                    cij = CT[j, i]
                    if np.isfinite(cij) and np.isfinite(p):
                        cp += cij * p
                        ent += p * np.log(p)
                        mass += p
                    else:
                        bad += 1.0
                elif p < 0.0:
                    neg -= p
                elif p != p:
                    bad += 1.0
        parts[c, 0] = cp
        parts[c, 1] = ent
        parts[c, 2] = mass
        parts[c, 3] = neg
        parts[c, 4] = bad


@njit(cache=True, parallel=True, fastmath=False)
def gibbs_transposed(CT, f, g, inv_eps, out):
    """out[j, i] = exp((f_i + g_j - C_ij) / eps) from C^T: the plan, F-ordered when flattened."""
    m, n = CT.shape
    for j in prange(m):
        gj = g[j]
        for i in range(n):
            v = (f[i] + gj - CT[j, i]) * inv_eps
            out[j, i] = np.exp(v) if v > _UNDERFLOW else 0.0


#: tile edge of ``plan_transposed_stats`` (a 64 x 64 float64 tile is 32 KiB, in L1/L2)
_TILE = 64


@njit(cache=True, parallel=True, fastmath=False)
def plan_transposed_stats(C, f, g, inv_eps, out, parts):
    """out[j, i] = exp((f_i + g_j - C_ij) / eps) (the F-ordered flat plan, as
    ``gibbs_transposed`` but read from C itself, in 64 x 64 tiles: no transposed copy of C),
    and per column tile t: parts[t] = (sum C P, sum P log P, mass) over the entries
    P > 0 with a finite cost; log P is the exponent itself (no log). Entries below
    exp(-745) are exact zeros."""
    n, m = C.shape
    nt = (m + _TILE - 1) // _TILE
    for t in prange(nt):
        j0 = t * _TILE
        j1 = min(m, j0 + _TILE)
        cp = 0.0
        ent = 0.0
        mass = 0.0
        for i0 in range(0, n, _TILE):
            i1 = min(n, i0 + _TILE)
            for i in range(i0, i1):
                fi = f[i]
                for j in range(j0, j1):
                    cij = C[i, j]
                    v = (fi + g[j] - cij) * inv_eps
                    if v > _UNDERFLOW:
                        p = np.exp(v)
                        out[j, i] = p
                        if np.isfinite(cij):
                            cp += cij * p
                            ent += p * v
                            mass += p
                    else:
                        out[j, i] = 0.0
        parts[t, 0] = cp
        parts[t, 1] = ent
        parts[t, 2] = mass


@njit(cache=True, parallel=True, fastmath=False)
def plan_from_kernel_transposed(Kmat, C, f, g, u, v, inv_eps, out, parts):
    """As ``plan_transposed_stats`` for the plan diag(u) Kmat diag(v) of a kernel
    Kmat = exp((f0 + g0 - C) / eps) (``f = f0 + eps log u``, ``g = g0 + eps log v``): no
    exp, the entries are products; log P_ij = (f_i + g_j - C_ij) / eps in the entropy."""
    n, m = C.shape
    nt = (m + _TILE - 1) // _TILE
    for t in prange(nt):
        j0 = t * _TILE
        j1 = min(m, j0 + _TILE)
        cp = 0.0
        ent = 0.0
        mass = 0.0
        for i0 in range(0, n, _TILE):
            i1 = min(n, i0 + _TILE)
            for i in range(i0, i1):
                fi = f[i]
                ui = u[i]
                for j in range(j0, j1):
                    p = ui * Kmat[i, j] * v[j]
                    out[j, i] = p
                    if p > 0.0:
                        cij = C[i, j]
                        if np.isfinite(cij):
                            cp += cij * p
                            ent += p * ((fi + g[j] - cij) * inv_eps)
                            mass += p
        parts[t, 0] = cp
        parts[t, 1] = ent
        parts[t, 2] = mass


@njit(cache=True, parallel=True, fastmath=False)
def gibbs_exponents(C, f, g, inv_eps, out, i0, i1, rowmin):
    """Rows i0:i1 of the exponents (f_i + g_j - C_ij) / eps into ``out``, -inf at or
    below GIBBS_CUT (exp gives exact zeros there). With ``rowmin``, f_i is first set to
    min_j (C_ij - g_j) over the finite entries (0 when none), so that row's largest
    exponent is 0. The exp itself is NumPy's (``gibbs_fast``): SIMD, several times faster
    than the scalar exp of a Numba loop."""
    m = C.shape[1]
    for i in prange(i0, i1):
        if rowmin:
            mn = np.inf
            for j in range(m):
                c = C[i, j] - g[j]
                if c < mn:
                    mn = c
            f[i] = mn if np.isfinite(mn) else 0.0
        fi = f[i]
        for j in range(m):
            v = (fi + g[j] - C[i, j]) * inv_eps
            out[i, j] = v if v > GIBBS_CUT else -np.inf


def gibbs_fast(C, f, g, inv_eps, out, rowmin=False):
    """``gibbs`` with NumPy's exp on row blocks that stay in cache (same values and
    flushing; about 3-5x faster on one thread). ``rowmin=True`` overwrites f with the row
    minima of C - g first (see ``gibbs_exponents``)."""
    n, m = C.shape
    rows = max(1, (1 << 17) // max(1, m))  # ~1 MiB blocks
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        gibbs_exponents(C, f, g, inv_eps, out, i0, i1, rowmin)
        blk = out[i0:i1]
        np.exp(blk, out=blk)


def n_tiles(m: int) -> int:
    """Rows of the ``parts`` array of ``plan_transposed_stats``."""
    return (m + _TILE - 1) // _TILE


def n_chunks(n: int) -> int:
    """How many column-accumulator chunks to use (a few per thread)."""
    import numba
    return max(1, min(n, 2 * numba.get_num_threads()))


def warm_up() -> float:
    """Compile (or load from cache) every kernel on a tiny instance; returns seconds."""
    import time
    t = time.perf_counter()
    C = np.ones((3, 2))
    f, g, out = np.zeros(3), np.zeros(2), np.zeros(3)
    lse_rows(C, f, g, 1.0, out)
    lse_rows_shift(C, g, 1.0, out)
    gibbs(C, f, g, 1.0, np.empty((3, 2)))
    marginals(C, f, g, 1.0, out, np.zeros((1, 2)))
    counts = np.zeros(3, dtype=np.int64)
    count_significant(C, f, g, 1.0, -10.0, counts)
    indptr = np.zeros(4, dtype=np.int64)
    indptr[1:] = np.cumsum(counts)
    fill_significant(C, f, g, 1.0, -10.0, indptr, np.zeros(indptr[-1], dtype=np.int64), np.zeros(indptr[-1]))
    plan_objective_parts(C.T.copy(), np.ones((2, 3)), np.zeros((1, 5)))
    gibbs_transposed(C.T.copy(), f, g, 1.0, np.empty((2, 3)))
    plan_transposed_stats(C, f, g, 1.0, np.empty((2, 3)), np.zeros((1, 3)))
    plan_from_kernel_transposed(C, C, f, g, out, g, 1.0, np.empty((2, 3)), np.zeros((1, 3)))
    gibbs_exponents(C, np.zeros(3), g, 1.0, np.empty((3, 2)), 0, 3, True)
    thr = np.empty(3)
    topk_thresholds(C, f, g, 1.0, -10.0, 1, thr, counts)
    indptr[1:] = np.cumsum(counts)
    fill_above(C, f, g, 1.0, thr, indptr, np.zeros(indptr[-1], dtype=np.int64), np.zeros(indptr[-1]))
    return time.perf_counter() - t
