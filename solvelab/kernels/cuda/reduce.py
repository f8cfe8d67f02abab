"""Two-stage block reductions on the device: the rows of a (q, N) array, each by sum or by
max, into q scalars (one small read-back per check, never a vector).

Stage one: a (blocks, q) grid; block b reduces its grid-stride share of row k into
``partials[k, b]`` with a shared-memory tree. Stage two: the same kernel over
``partials`` with one block per row. Deterministic (no atomics). Max propagates NaN
(a NaN anywhere gives NaN), as a sum does, so numerical trouble reaches the host.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import cuda, float64

from .device import simulator, threads_per_block

#: the operations of ``reduce_rows``
SUM, MAX = 0, 1


@lru_cache(maxsize=None)
def _kernel(tpb: int):
    @cuda.jit
    def reduce_rows(Q, ops, out):
        """out[k, b] = op_k over Q[k, b::blocks * tpb-strided share]."""
        sm = cuda.shared.array(tpb, float64)
        k = cuda.blockIdx.y
        b = cuda.blockIdx.x
        t = cuda.threadIdx.x
        nb = cuda.gridDim.x
        N = Q.shape[1]
        op = ops[k]
        acc = 0.0 if op == 0 else -math.inf
        i = b * tpb + t
        while i < N:
            v = Q[k, i]
            if op == 0:
                acc += v
            elif v > acc or v != v:
                if acc == acc:
                    acc = v
            i += nb * tpb
        sm[t] = acc
        cuda.syncthreads()
        s = tpb // 2
        while s > 0:
            if t < s:
                v = sm[t + s]
                if op == 0:
                    sm[t] += v
                elif (v > sm[t] or v != v) and sm[t] == sm[t]:
                    sm[t] = v
            cuda.syncthreads()
            s //= 2
        if t == 0:
            out[k, b] = sm[0]
    return reduce_rows


class Reducer:
    """Reduces a fixed (q, N) device array by the row operations ``ops`` (SUM / MAX) into
    a host vector of q floats; buffers are allocated once. One stage when one block per
    row suffices (always under the simulator, where every thread costs a Python thread)."""

    def __init__(self, q: int, N: int, ops, max_blocks: int | None = None):
        self.tpb = threads_per_block()
        if max_blocks is None:
            max_blocks = 1 if simulator() else 1024
        self.q, self.N = int(q), int(N)
        self.nb = max(1, min(max_blocks, -(-max(self.N, 1) // self.tpb)))
        self.ops = cuda.to_device(np.asarray(ops, dtype=np.int64))
        self.partials = cuda.device_array((self.q, self.nb))
        self.out = cuda.device_array((self.q, 1))
        self.kernel = _kernel(self.tpb)

    def __call__(self, Q) -> np.ndarray:
        k = self.kernel
        if self.nb == 1:
            k[(1, self.q), self.tpb](Q, self.ops, self.out)
        else:
            k[(self.nb, self.q), self.tpb](Q, self.ops, self.partials)
            k[(1, self.q), self.tpb](self.partials, self.ops, self.out)
        return self.out.copy_to_host()[:, 0]
