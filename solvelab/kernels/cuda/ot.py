"""Log-domain Sinkhorn kernels on the device (Numba-CUDA), the GPU counterparts of
``kernels.ot.lse_rows_shift`` + the backend's potential update.

Convention as on the CPU: the plan is ``P_ij = exp((f_i + g_j - C_ij) / eps)``, C a
C-ordered (n, m) float64 device array; balanced updates (k = 1, unbalanced: k =
rho / (rho + eps), the CPU's ``Reduced._update``)

    f_i = eps log a_i - k eps LSE_j((g_j - C_ij) / eps)
    g_j = eps log b_j - k eps LSE_i((f_i - C_ij) / eps)

``row_update``      one block per row; threads stride over the row (coalesced reads),
                    shared-memory max then sum reductions (entries more than ``CUT``
                    below the row max skipped, as on the CPU). Before overwriting f_i it
                    writes the row's terms of the stopping test at the current plan
                    (f, g): Q[0, i] = |r_i - a_i|, Q[1, i] = f_i (r_i - a_i),
                    Q[2, i] = f_i r_i with r_i = exp(f_i / eps + LSE_i) its row marginal.
``col_partial``     the column update without a transposed copy of C: a (column
                    blocks, row chunks) grid, one thread per column over a chunk of rows
                    (coalesced across the warp), an online max-shifted sum per thread;
``col_finish``      merges the chunks' (max, sum) pairs and writes g_j, after writing
                    Q[0, j] = g_j b_j of the g it replaces (the plan Q of ``row_update``
                    describes).
``row_update`` on C^T (f for g, log b for log a) is the one-block-per-column variant of
the column update (it needs a transposed copy of C; the loop uses the two kernels above).
"""
from __future__ import annotations

import math
from functools import lru_cache

from numba import cuda, float64

from ..ot import CUT


@lru_cache(maxsize=None)
def kernels(tpb: int):
    """The kernels for ``tpb`` threads per block (a power of two): (row_update,
    col_partial, col_finish)."""

    @cuda.jit
    def row_update(C, g, la, a, f, inv_eps, eps, k, Q):
        i = cuda.blockIdx.x
        t = cuda.threadIdx.x
        m = C.shape[1]
        sm = cuda.shared.array(tpb, float64)
        mx = -math.inf
        j = t
        while j < m:
            v = (g[j] - C[i, j]) * inv_eps
            if v > mx:
                mx = v
            j += tpb
        sm[t] = mx
        cuda.syncthreads()
        s = tpb // 2
        while s > 0:
            if t < s and sm[t + s] > sm[t]:
                sm[t] = sm[t + s]
            cuda.syncthreads()
            s //= 2
        mx = sm[0]
        cuda.syncthreads()
        acc = 0.0
        if mx != -math.inf:
            lo = mx - CUT
            j = t
            while j < m:
                v = (g[j] - C[i, j]) * inv_eps
                if v > lo:
                    acc += math.exp(v - mx)
                j += tpb
        sm[t] = acc
        cuda.syncthreads()
        s = tpb // 2
        while s > 0:
            if t < s:
                sm[t] += sm[t + s]
            cuda.syncthreads()
            s //= 2
        if t == 0:
            lse = -math.inf if mx == -math.inf else mx + math.log(sm[0])
            fi = f[i]
            r = math.exp(fi * inv_eps + lse)
            Q[0, i] = abs(r - a[i])
            Q[1, i] = fi * (r - a[i])
            Q[2, i] = fi * r
            f[i] = eps * (la[i] - lse) if k == 1.0 else eps * la[i] - k * eps * lse

    @cuda.jit
    def col_partial(C, f, inv_eps, pmx, ps):
        j = cuda.blockIdx.x * tpb + cuda.threadIdx.x
        c = cuda.blockIdx.y
        nchunk = cuda.gridDim.y
        n, m = C.shape
        if j >= m:
            return
        rows = (n + nchunk - 1) // nchunk
        i0 = c * rows
        i1 = min(n, i0 + rows)
        mx = -math.inf
        acc = 0.0
        for i in range(i0, i1):
            v = (f[i] - C[i, j]) * inv_eps
            if v > mx:
                acc = (acc * math.exp(mx - v) if mx != -math.inf else 0.0) + 1.0
                mx = v
            elif v > mx - CUT:
                acc += math.exp(v - mx)
        pmx[c, j] = mx
        ps[c, j] = acc

    @cuda.jit
    def col_finish(pmx, ps, lb, b, g, eps, k, Q):
        j = cuda.grid(1)
        m = g.shape[0]
        if j >= m:
            return
        nchunk = pmx.shape[0]
        mx = -math.inf
        for c in range(nchunk):
            if pmx[c, j] > mx:
                mx = pmx[c, j]
        lse = -math.inf
        if mx != -math.inf:
            acc = 0.0
            for c in range(nchunk):
                if pmx[c, j] != -math.inf:
                    acc += ps[c, j] * math.exp(pmx[c, j] - mx)
            lse = mx + math.log(acc)
        Q[0, j] = g[j] * b[j]
        g[j] = eps * (lb[j] - lse) if k == 1.0 else eps * lb[j] - k * eps * lse

    return row_update, col_partial, col_finish


def row_chunks(n: int, col_blocks: int, sms: int) -> int:
    """Row chunks of the column pass: enough blocks for ~4 per multiprocessor, chunks of at
    least 64 rows."""
    want = -(-4 * max(1, sms) // max(1, col_blocks))
    return max(1, min(want, n // 64 if n >= 64 else 1))
