"""The spectral norm of a linear map given by its products, for the fixed steps of PDHG / Halpern.

A fixed primal-dual step needs tau sigma |K|_2^2 < 1, and the steps take 0.99-0.998 of
1 / |K|_2: an estimate must be accurate to a fraction of that margin, and an estimate from
below breaks the condition. A 60-step power iteration is from below and can be too low:
0.36 % on scrs8 (0.99516 against 0.99877), more than pdhg's 0.2 % margin, and the
reflected Halpern scheme then never certified. Lanczos bidiagonalization (ARPACK's
``svds``) converges far faster: its Ritz value is within the residual, tol times itself,
of the largest singular value (and typically within about tol^2), so a tol below the
step's margin is safe (pdhg: 1e-3 against 0.2 %, measured errors <= 1e-11 on Netlib). When
ARPACK fails, the power iteration's estimate times ``POWER_SAFETY`` is used instead.
The callers count the products (their ``mv`` / ``rmv`` wrappers).
"""
from __future__ import annotations

import math

import numpy as np

#: the power iteration's estimate is from below: a fallback step is taken from it times this
POWER_SAFETY = 1.05


def operator_norm(mv, rmv, m: int, n: int, seed: int = 0, tol: float = 1e-6) -> float:
    """|K|_2 for K: R^n -> R^m given by ``mv`` (K v) and ``rmv`` (K^T w); min(m, n) >= 3;
    ``tol`` ARPACK's, below the caller's step margin."""
    from scipy.sparse.linalg import LinearOperator, svds
    op = LinearOperator((m, n), matvec=lambda v: mv(np.ravel(v)), rmatvec=lambda w: rmv(np.ravel(w)),
                        dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(min(m, n))
    try:
        return float(np.max(svds(op, k=1, tol=tol, v0=v0, return_singular_vectors=False)))
    except Exception:   # noqa: BLE001 - ARPACK failed (a null operator, no convergence)
        return power_norm(mv, rmv, n, seed) * POWER_SAFETY


def power_norm(mv, rmv, n: int, seed: int = 0, iters: int = 200) -> float:
    """|K|_2 by power iteration on K^T K: an estimate from below (the fallback)."""
    v = np.random.default_rng(seed).standard_normal(n)
    v /= np.linalg.norm(v)
    s = 0.0
    for _ in range(iters):
        wv = rmv(mv(v))
        s_new = float(np.linalg.norm(wv))
        if s_new == 0.0:
            return 0.0
        v = wv / s_new
        if abs(s_new - s) <= 1e-10 * s_new:
            return float(np.sqrt(s_new))
        s = s_new
    return float(np.sqrt(s))


def power_reaches(mv, rmv, n: int, level: float, steps: int, seed: int = 0) -> bool:
    """Whether a power iteration on A^T A shows |A|_2 >= level within ``steps`` products
    with each of A and A^T (its estimate sqrt(v^T A^T A v), |v| = 1, is from below)."""
    v = np.random.default_rng(seed).standard_normal(n)
    v /= np.linalg.norm(v)
    for _ in range(steps):
        w = rmv(mv(v))
        if math.sqrt(max(float(v @ w), 0.0)) >= level:
            return True
        nw = float(np.linalg.norm(w))
        if nw == 0.0 or not math.isfinite(nw):
            return False
        v = w / nw
    return False
