"""The gradient pass of a consensus ADMM row block in one sweep over its CSR rows.

grad F_k(x) = A_k^T (c s phi'(s A_k x - b)): row i's product a_i . x, the loss
derivative and the scatter d_i a_i into the gradient happen while the row is in cache,
so the block's nonzeros are read once per pass instead of twice (A x, then A^T d).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .cd import phi_deriv


@njit(cache=True)
def csr_glm_gradient(indptr, indices, data, s, b, c, dkind, dpar, x, g):
    """g = A^T (c s phi'(s A x - b)) for CSR A (g is overwritten)."""
    g[:] = 0.0
    for i in range(indptr.size - 1):
        u = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            u += data[p] * x[indices[p]]
        d = c * s[i] * phi_deriv(dkind, s[i] * u - b[i], dpar)
        if d != 0.0:
            for p in range(indptr[i], indptr[i + 1]):
                g[indices[p]] += d * data[p]


def warm_up() -> float:
    """Compile the kernel on a tiny block; the seconds it took."""
    import time
    t = time.perf_counter()
    one = np.ones(1)
    csr_glm_gradient(np.array([0, 1], dtype=np.int32), np.zeros(1, dtype=np.int32), one, one, one, 1.0, 1, 0.0,
                     one, np.zeros(1))
    return time.perf_counter() - t
