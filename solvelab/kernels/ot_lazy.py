"""Lazy kernels for entropic OT between point clouds (Numba, over plain arrays).

Nothing of size n x m is ever stored: every pass recomputes the squared Euclidean cost
``c_ij = |x_i - y_j|^2`` on the fly from the clouds, held transposed and C-ordered as
``XT`` (d, n) and ``YT`` (d, m) so the inner loops stream contiguous coordinates. Rows run
in parallel (``prange``) in tiles of ``ROW_TILE`` rows against column blocks of ``COL_BLOCK``
points, so a block of y (and its potential) stays in L1 while the tile's rows pass over it.

Log-domain convention (as ``kernels.ot``): the plan is ``P_ij = exp((f_i + g_j - c_ij) / eps)``.

The exponential is ``_exp``: Cody-Waite range reduction and a degree-12 Taylor polynomial
(relative error below 4e-16 on [-708, 709]), written in arithmetic and integer bit
operations only, so LLVM vectorizes the loops that call it (AVX2: 4 lanes). libm's exp is
a scalar call, and this machine's Numba has no SVML. Exponents below -708 give exact zeros
(no subnormal numbers), above 709 +inf.

``lse`` is the row update of Sinkhorn: ``out_i = log sum_j exp((w_j - c_ij) / eps)``. It
makes one pass over the row when a pivot ``shift_i`` is given that bounds the row's largest
exponent from above (the previous iteration's value plus the largest increase of w, which
the caller knows); the row is recomputed with its exact maximum (two passes) when the pivot
is not finite or the shifted sum leaves [1e-250, 1e250] (the pivot was too loose to keep
the terms normal floats). The column update is the same kernel with the clouds swapped.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir as _llir
from numba import njit, prange, types
from numba.extending import intrinsic

#: columns per block of the cost buffer (the generic-d paths) and of the row loops
#: (3 arrays x 4096 doubles = 96 KiB of y and its potential, in L2)
COL_BLOCK = 4096
#: a shifted row sum outside [SUM_LO, SUM_HI] is recomputed with the row's exact maximum
SUM_LO = 1e-250
SUM_HI = 1e250
#: exponents at or below this give exact zeros in ``_exp`` (exp(-708) ~ 3e-308, the
#: smallest normal float)
EXP_LO = -708.0
EXP_HI = 709.0

#: fast-math flags of the vectorized loops: reassociation (for the sum reductions) and
#: contraction (FMA); not 'nnan' / 'ninf', so NaN and inf keep their meaning
_FM = {"contract", "reassoc", "nsz", "arcp"}

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_MAGIC = 6755399441055744.0          # 1.5 * 2**52: adding it rounds to an integer in the low bits


@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64, as an int64 (a bit cast, no conversion)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _llir.IntType(64))
    return sig, codegen


@intrinsic
def _bits_f64(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 x (a bit cast, no conversion)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _llir.DoubleType())
    return sig, codegen


_MAGIC_BITS = 4843621399236968448    # the bits of _MAGIC


@njit(inline="always", fastmath={"contract"})
def _exp_clamped(x):
    """exp(min(max(x, -708), 709)) (the shared core of ``_exp`` and ``_exp_pivoted``)."""
    xc = min(max(x, EXP_LO), EXP_HI)
    t = xc * _LOG2E + _MAGIC
    kf = t - _MAGIC
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = 2.08767569878681e-09            # 1 / 12!
    p = p * r + 2.505210838544172e-08   # 1 / 11!
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.755731922398589e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = _f64_bits(t) - _MAGIC_BITS
    return p * _bits_f64((k + 1023) << 52)


@njit(cache=True, fastmath={"contract"})
def _exp(x):
    """exp(x): 0 for x < -708, +inf for x > 709, NaN for NaN; relative error < 4e-16.

    exp(x) = 2^k exp(r) with k = round(x / ln 2) (the _MAGIC addition rounds, and its low
    bits hold k, read by a bit cast), r = x - k ln 2 in two parts (Cody-Waite), |r| <= 0.35,
    exp(r) by Horner's rule, 2^k by writing the exponent bits. Not fast-math-reassociated
    (that would fold x + M - M to x)."""
    y = _exp_clamped(x)
    y = 0.0 if x < EXP_LO else y
    y = np.inf if x > EXP_HI else y
    return x if x != x else y


@njit(cache=True, fastmath={"contract"})
def _exp_pivoted(x):
    """``_exp`` for the pivoted sums of ``lse`` (x <= 0 when the pivot is an upper bound):
    the input is clamped to [-708, 709] and exact zeros are returned below -708, without
    the inf / NaN selects (a sum that overflows anyway is caught by ``lse``'s range test)."""
    y = _exp_clamped(x)
    return 0.0 if x < EXP_LO else y


# --- cost blocks ---------------------------------------------------------------------
# Every block loop runs over slices (views) indexed from 0: indexing y[j0 + j] with a
# runtime offset makes Numba's negative-index wraparound unprovable, and the loads become
# scalar (1.5x slower); a slice's index range(L) is known nonnegative.

@njit(cache=True, fastmath=_FM)
def _cost_block(XT, i, YT, j0, L, cbuf):
    """cbuf[:L] = |x_i - y_j|^2 for j = j0 .. j0 + L - 1 (any dimension)."""
    d = XT.shape[0]
    xi = XT[0, i]
    yb = YT[0, j0:j0 + L]
    for j in range(L):
        q = xi - yb[j]
        cbuf[j] = q * q
    for k in range(1, d):
        xk = XT[k, i]
        yb = YT[k, j0:j0 + L]
        for j in range(L):
            q = xk - yb[j]
            cbuf[j] += q * q


@njit(cache=True, fastmath=_FM)
def _block_sum(XT, i, YT, w, j0, L, scale, shift, cbuf):
    """sum_j exp((w_j - c_ij) * scale - shift) over one column block; the cost is fused
    into the loop for d = 1, 2, 3 (vectorized), else computed into cbuf first."""
    d = XT.shape[0]
    wb = w[j0:j0 + L]
    s = 0.0
    if d == 2:
        x0 = XT[0, i]
        x1 = XT[1, i]
        y0 = YT[0, j0:j0 + L]
        y1 = YT[1, j0:j0 + L]
        for j in range(L):
            q0 = x0 - y0[j]
            q1 = x1 - y1[j]
            s += _exp_pivoted((wb[j] - (q0 * q0 + q1 * q1)) * scale - shift)
    elif d == 1:
        x0 = XT[0, i]
        y0 = YT[0, j0:j0 + L]
        for j in range(L):
            q0 = x0 - y0[j]
            s += _exp_pivoted((wb[j] - q0 * q0) * scale - shift)
    elif d == 3:
        x0 = XT[0, i]
        x1 = XT[1, i]
        x2 = XT[2, i]
        y0 = YT[0, j0:j0 + L]
        y1 = YT[1, j0:j0 + L]
        y2 = YT[2, j0:j0 + L]
        for j in range(L):
            q0 = x0 - y0[j]
            q1 = x1 - y1[j]
            q2 = x2 - y2[j]
            s += _exp_pivoted((wb[j] - (q0 * q0 + q1 * q1 + q2 * q2)) * scale - shift)
    else:
        _cost_block(XT, i, YT, j0, L, cbuf)
        for j in range(L):
            s += _exp_pivoted((wb[j] - cbuf[j]) * scale - shift)
    return s


@njit(cache=True, fastmath=_FM)
def _block_max(XT, i, YT, w, j0, L, scale, cbuf):
    """max_j (w_j - c_ij) * scale over one column block."""
    _cost_block(XT, i, YT, j0, L, cbuf)
    wb = w[j0:j0 + L]
    mx = -np.inf
    for j in range(L):
        mx = max(mx, (wb[j] - cbuf[j]) * scale)
    return mx


@njit(cache=True)
def _row_lse_exact(XT, i, YT, w, scale, cbuf):
    """log sum_j exp((w_j - c_ij) * scale) with the row's exact maximum as pivot (two passes)."""
    m = YT.shape[1]
    mx = -np.inf
    for j0 in range(0, m, COL_BLOCK):
        mx = max(mx, _block_max(XT, i, YT, w, j0, min(COL_BLOCK, m - j0), scale, cbuf))
    if not np.isfinite(mx):
        return mx
    s = 0.0
    for j0 in range(0, m, COL_BLOCK):
        s += _block_sum(XT, i, YT, w, j0, min(COL_BLOCK, m - j0), scale, mx, cbuf)
    return mx + math.log(s)


@njit(cache=True, parallel=True)
def lse(XT, YT, w, inv_eps, shift, out):
    """out_i = log sum_j exp((w_j - |x_i - y_j|^2) * inv_eps), for every row of XT.

    ``shift_i`` (finite) must bound the row's largest exponent from above; then one pass
    suffices. Rows whose pivot is not finite, or whose shifted sum is outside
    [SUM_LO, SUM_HI], are recomputed with their exact maximum. Returns how many were."""
    n = XT.shape[1]
    m = YT.shape[1]
    redone = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        cbuf = np.empty(min(COL_BLOCK, m))
        sh = shift[i]
        s = 0.0
        if np.isfinite(sh):
            for j0 in range(0, m, COL_BLOCK):
                s += _block_sum(XT, i, YT, w, j0, min(COL_BLOCK, m - j0), inv_eps, sh, cbuf)
        if np.isfinite(sh) and s >= SUM_LO and s <= SUM_HI:
            out[i] = sh + math.log(s)
        else:
            out[i] = _row_lse_exact(XT, i, YT, w, inv_eps, cbuf)
            redone[i] = 1
    return redone.sum()


# --- passes over the plan ------------------------------------------------------------------

@njit(cache=True, fastmath=_FM)
def _stats_block(cbuf, L, fi, gb, inv_eps, accb, out4):
    """Adds one block's (row sum, sum c P, sum P log P, +inf count) to out4 and its column
    sums to accb."""
    srow = 0.0
    cp = 0.0
    ent = 0.0
    bad = 0.0
    for j in range(L):
        cij = cbuf[j]
        v = (fi + gb[j] - cij) * inv_eps
        e = _exp(v)
        srow += e
        accb[j] += e
        cp += cij * e
        ent += e * v if e > 0.0 else 0.0
        bad += 1.0 if e == np.inf else 0.0
    out4[0] += srow
    out4[1] += cp
    out4[2] += ent
    out4[3] += bad


@njit(cache=True, parallel=True)
def plan_stats(XT, YT, f, g, inv_eps, rows, cols_parts, parts):
    """One pass over the plan P_ij = exp((f_i + g_j - c_ij) * inv_eps): its row sums into
    ``rows``, per-chunk column sums into ``cols_parts`` (k, m) (sum over axis 0 after),
    and per chunk c: parts[c] = (sum c P, sum P log P, mass, count of +inf entries), with
    log P the exponent itself. Entries below exp(-708) are exact zeros."""
    n = XT.shape[1]
    m = YT.shape[1]
    k = cols_parts.shape[0]
    chunk = (n + k - 1) // k
    for c in prange(k):
        acc = cols_parts[c]
        acc[:] = 0.0
        cbuf = np.empty(min(COL_BLOCK, m))
        tot = np.zeros(4)
        mass = 0.0
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            row = np.zeros(4)
            for j0 in range(0, m, COL_BLOCK):
                L = min(COL_BLOCK, m - j0)
                _cost_block(XT, i, YT, j0, L, cbuf)
                _stats_block(cbuf, L, f[i], g[j0:j0 + L], inv_eps, acc[j0:j0 + L], row)
            rows[i] = row[0]
            mass += row[0]
            tot[1:] += row[1:]
        parts[c, 0] = tot[1]
        parts[c, 1] = tot[2]
        parts[c, 2] = mass
        parts[c, 3] = tot[3]


@njit(cache=True, fastmath=_FM)
def _plan_row(XT, i, YT, fi, g, inv_eps, out_row, cbuf):
    m = YT.shape[1]
    for j0 in range(0, m, COL_BLOCK):
        L = min(COL_BLOCK, m - j0)
        _cost_block(XT, i, YT, j0, L, cbuf)
        gb = g[j0:j0 + L]
        ob = out_row[j0:j0 + L]
        for j in range(L):
            ob[j] = _exp((fi + gb[j] - cbuf[j]) * inv_eps)


@njit(cache=True, parallel=True)
def plan_block(XT, YT, f, g, inv_eps, i0, out):
    """Rows i0 .. i0 + out.shape[0] - 1 of the plan into ``out`` (dense, (rows, m))."""
    nr, m = out.shape
    for r in prange(nr):
        cbuf = np.empty(min(COL_BLOCK, m))
        _plan_row(XT, i0 + r, YT, f[i0 + r], g, inv_eps, out[r], cbuf)


@njit(cache=True, fastmath=_FM)
def _count_block(cbuf, L, fi, gb, inv_eps, lo):
    c = 0
    for j in range(L):
        c += 1 if (fi + gb[j] - cbuf[j]) * inv_eps >= lo else 0
    return c


@njit(cache=True, parallel=True)
def count_above(XT, YT, f, g, inv_eps, log_thr, counts):
    """counts_i = #{j : (f_i + g_j - c_ij) * inv_eps >= log_thr_i} (the entries a sparse
    plan keeps)."""
    n = XT.shape[1]
    m = YT.shape[1]
    for i in prange(n):
        cbuf = np.empty(min(COL_BLOCK, m))
        c = 0
        for j0 in range(0, m, COL_BLOCK):
            L = min(COL_BLOCK, m - j0)
            _cost_block(XT, i, YT, j0, L, cbuf)
            c += _count_block(cbuf, L, f[i], g[j0:j0 + L], inv_eps, log_thr[i])
        counts[i] = c


@njit(cache=True, parallel=True)
def fill_above(XT, YT, f, g, inv_eps, log_thr, indptr, indices, data):
    """The CSR entries counted by ``count_above`` (column indices ascending), values P_ij."""
    n = XT.shape[1]
    m = YT.shape[1]
    for i in prange(n):
        cbuf = np.empty(min(COL_BLOCK, m))
        fi = f[i]
        lo = log_thr[i]
        p = indptr[i]
        stop = indptr[i + 1]
        for j0 in range(0, m, COL_BLOCK):
            L = min(COL_BLOCK, m - j0)
            _cost_block(XT, i, YT, j0, L, cbuf)
            for j in range(L):
                v = (fi + g[j0 + j] - cbuf[j]) * inv_eps
                if v >= lo and p < stop:
                    indices[p] = j0 + j
                    data[p] = _exp(v)
                    p += 1


@njit(cache=True, fastmath=_FM)
def _block_cmax(cbuf, L):
    mx = 0.0
    for j in range(L):
        mx = max(mx, cbuf[j])
    return mx


@njit(cache=True, parallel=True)
def max_cost(XT, YT, out):
    """out_i = max_j |x_i - y_j|^2 (reduce with out.max())."""
    n = XT.shape[1]
    m = YT.shape[1]
    for i in prange(n):
        cbuf = np.empty(min(COL_BLOCK, m))
        mx = 0.0
        for j0 in range(0, m, COL_BLOCK):
            L = min(COL_BLOCK, m - j0)
            _cost_block(XT, i, YT, j0, L, cbuf)
            mx = max(mx, _block_cmax(cbuf, L))
        out[i] = mx


def n_chunks(n: int) -> int:
    """Row chunks of ``plan_stats`` (a few per thread; each holds an m-vector of column sums)."""
    import numba
    return max(1, min(n, 2 * numba.get_num_threads()))


def warm_up() -> float:
    """Compile (or load from the cache) every kernel on a tiny instance; returns seconds."""
    import time
    t = time.perf_counter()
    for d in (1, 2, 3, 4):
        XT = np.zeros((d, 3))
        YT = np.ones((d, 2))
        f, g = np.zeros(3), np.zeros(2)
        out = np.empty(3)
        lse(XT, YT, g, 1.0, np.full(3, np.nan), out)
        lse(XT, YT, g, 1.0, np.zeros(3), out)
    plan_stats(XT, YT, f, g, 1.0, out, np.zeros((1, 2)), np.zeros((1, 4)))
    plan_block(XT, YT, f, g, 1.0, 0, np.empty((3, 2)))
    counts = np.zeros(3, dtype=np.int64)
    thr = np.full(3, -10.0)
    count_above(XT, YT, f, g, 1.0, thr, counts)
    indptr = np.zeros(4, dtype=np.int64)
    indptr[1:] = np.cumsum(counts)
    fill_above(XT, YT, f, g, 1.0, thr, indptr, np.zeros(indptr[-1], dtype=np.int64), np.zeros(indptr[-1]))
    max_cost(XT, YT, out)
    return time.perf_counter() - t
