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
    return time.perf_counter() - t


class threads:
    """Context manager: at most ``blas`` BLAS threads (threadpoolctl) and ``numba``
    Numba threads inside. The passes here are memory-bound, so extra threads buy little
    on an idle machine, while spin-waiting OpenBLAS threads on a busy one slowed Sinkhorn
    iterations 10-20x in our measurements. None leaves a setting alone."""

    def __init__(self, blas: int | None = 1, numba_threads: int | None = None):
        self.blas, self.numba_threads = blas, numba_threads
        self._limiter = None
        self._old_numba = None

    def __enter__(self):
        if self.blas is not None:
            try:
                from threadpoolctl import threadpool_limits
                self._limiter = threadpool_limits(limits=int(self.blas), user_api="blas")
            except ImportError:  # threadpoolctl comes with scikit-learn; without it, no limit
                self._limiter = None
        if self.numba_threads is not None:
            import numba
            self._old_numba = numba.get_num_threads()
            numba.set_num_threads(max(1, min(int(self.numba_threads), numba.config.NUMBA_NUM_THREADS)))
        return self

    def __exit__(self, *exc):
        if self._limiter is not None:
            self._limiter.unregister()
        if self._old_numba is not None:
            import numba
            numba.set_num_threads(self._old_numba)
        return False
