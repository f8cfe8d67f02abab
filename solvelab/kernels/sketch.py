"""The Newton-KKT linear algebra of the NLP backends: assembly, direct solves and
randomized iterative sketching (sketch-and-project) for K z = b, K symmetric.

    K = [[H + delta I, J^T], [J, 0]]      (n + m square, symmetric, indefinite)

Sketch-and-project (Gower and Richtarik's framework, W = I): with a sketch S (N x s),
Y = K^T S = K S and the residual r = K z - b,

    z <- z - Y (Y^T Y)^+ S^T r

which projects z onto the solutions of the sketched system S^T K z = S^T b. Sketches:
'gaussian' (S with N(0, 1 / s) entries: Y costs s products with K), 'countsketch'
(each row of K hashed to one of s buckets with a random sign: Y costs one pass over K)
and 'block_kaczmarz' (S picks s random rows: Y is those rows). The loop stops at the
accuracy condition |r| <= theta |b| (the caller sharpens theta as the KKT error falls,
which is what gives the local superlinear rate) or at ``max_iter``. ``flops`` counts
multiply-adds, for the sketch-versus-direct comparison.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

SKETCHES = ("gaussian", "countsketch", "block_kaczmarz")


def kkt_matrix(H, J, delta: float = 0.0):
    """K with H + delta I (sparse when H or J is, else dense)."""
    n, m = H.shape[0], J.shape[0]
    if sp.issparse(H) or sp.issparse(J):
        Hd = sp.csr_matrix(H) + (delta * sp.identity(n, format="csr") if delta else 0)
        return sp.bmat([[Hd, sp.csr_matrix(J).T], [sp.csr_matrix(J), None]], format="csr")
    K = np.zeros((n + m, n + m))
    K[:n, :n] = H
    if delta:
        K[np.arange(n), np.arange(n)] += delta
    K[n:, :n] = J
    K[:n, n:] = J.T
    return K


def direct_solve(K, b):
    """(z, flops): LU for dense K (LAPACK), SuperLU for sparse; None when singular."""
    N = b.size
    try:
        with warnings.catch_warnings():   # an ill-conditioned K is expected while delta is scanned
            warnings.simplefilter("ignore", sla.LinAlgWarning)
            if sp.issparse(K):
                lu = spla.splu(sp.csc_matrix(K))
                z = lu.solve(b)
                flops = float(lu.L.nnz + lu.U.nnz) ** 1.5   # a rough count of the factorization
            else:
                z = sla.solve(K, b, assume_a="sym")
                flops = N ** 3 / 3.0
    except (np.linalg.LinAlgError, RuntimeError, ValueError):
        return None, 0.0
    if not np.all(np.isfinite(z)):
        return None, 0.0
    return z, flops


def _nnz(K) -> int:
    return K.nnz if sp.issparse(K) else K.size


def _sketch(K, kind: str, s: int, rng):
    """(Y = K^T S as (N, s) dense, the sketch applied to a vector, flops)."""
    N = K.shape[0]
    if kind == "block_kaczmarz":
        idx = rng.choice(N, size=s, replace=False)
        rows = K[idx]
        Y = (rows.toarray() if sp.issparse(rows) else rows).T
        return Y, (lambda r: r[idx]), float(s)
    if kind == "countsketch":
        bucket = rng.integers(0, s, N)
        sign = rng.choice((-1.0, 1.0), N)
        S = sp.csr_matrix((sign, (np.arange(N), bucket)), shape=(N, s))
        Y = K.T @ S
        Y = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
        return Y, (lambda r: S.T @ r), float(_nnz(K))
    S = rng.standard_normal((N, s)) / np.sqrt(s)
    Y = np.asarray(K.T @ S)
    return Y, (lambda r: S.T @ r), float(_nnz(K) * s)


def sketch_solve(K, b, z0=None, theta: float = 0.1, kind: str = "block_kaczmarz", block: int | None = None,
                 max_iter: int = 1000, rng=None):
    """Sketch-and-project for K z = b from z0 (module docstring). Returns (z, residual
    ratio |K z - b| / |b|, iterations, flops)."""
    if kind not in SKETCHES:
        raise ValueError(f"unknown sketch {kind!r}; known: {', '.join(SKETCHES)}")
    rng = np.random.default_rng(0) if rng is None else rng
    N = b.size
    s = int(min(N, block if block else max(8, int(np.sqrt(N)) * 2)))
    z = np.zeros(N) if z0 is None else np.array(z0, dtype=np.float64)
    bn = float(np.linalg.norm(b))
    if bn == 0.0:
        return np.zeros(N), 0.0, 0, 0.0
    nnz = float(_nnz(K))
    r = K @ z - b
    flops = nnz
    ratio = float(np.linalg.norm(r)) / bn
    it = 0
    while ratio > theta and it < max_iter:
        Y, apply_S, f_y = _sketch(K, kind, s, rng)
        G = Y.T @ Y
        w = np.linalg.lstsq(G, apply_S(r), rcond=None)[0]
        z -= Y @ w
        r = K @ z - b
        flops += f_y + N * s * s + s ** 3 / 3.0 + 2 * N * s + nnz
        ratio = float(np.linalg.norm(r)) / bn
        it += 1
        if not np.isfinite(ratio):
            break
    return z, ratio, it, flops
