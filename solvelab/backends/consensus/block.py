"""One row block of a consensus ADMM solve: its data, its cached factorization, its
local variable x_k and scaled dual u_k. The same class runs in this process or as a Dask
actor on a worker, so the two paths do the same arithmetic.

The block's datafit is F_k(x) = sum_{i in block} c phi(s_i (A_k x)_i - b_i). Its local
update is

    x_k = argmin_x F_k(x) + (rho / 2) ||x - v||^2,   v = z - u_k,

solved by majorization steps x <- x - (H_k + rho I)^{-1} grad, with H_k = c A_k^T
diag(s^2 L_phi) A_k the curvature bound of the loss (L_phi = sup phi''). For least
squares H_k is the exact Hessian, so one step from anywhere is the exact minimizer and
the gradient at 0 suffices (no pass over A_k per iteration). H_k is eigendecomposed once
(H_k = Q diag(lam) Q^T), so a change of rho costs nothing: (H_k + rho I)^{-1} g =
Q ((Q^T g) / (lam + rho)).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ...ir import losses
from ...ir.losses import DATAFIT

SQUARES = DATAFIT["sum_squares"]


class ConsensusBlock:
    """Rows ``A`` (CSR or dense, n columns) of a GLM datafit with scales ``s`` and offsets ``b``."""

    def __init__(self, A, s, b, c: float, dkind: int, dpar: float, lphi: float):
        self.A = A.tocsr() if sp.issparse(A) else np.ascontiguousarray(A, dtype=np.float64)
        # (sparse rows need no transposed copy: the fused kernel sweeps the CSR rows once)
        self.AT = None if sp.issparse(self.A) else np.ascontiguousarray(self.A.T)
        if sp.issparse(self.A):
            self.A.sort_indices()
            from ...kernels.consensus import warm_up
            warm_up()        # compile (or load) the gradient kernel here, not in the first iteration
        self.s = np.asarray(s, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        self.c, self.dkind, self.dpar = float(c), int(dkind), float(dpar)
        t = time.perf_counter()
        w = self.c * self.s * self.s * float(lphi)
        if sp.issparse(self.A):
            H = (self.A.T @ sp.diags(w) @ self.A).toarray()
        else:
            H = self.AT @ (w[:, None] * self.A)
        H = 0.5 * (H + H.T)
        lam, self.Q = sla.eigh(H, overwrite_a=True, check_finite=False)
        self.lam = np.maximum(lam, 0.0)
        self.exact = self.dkind == SQUARES           # H is the Hessian: one step is exact
        n = self.A.shape[1]
        self.passes = 0
        self.g0 = self.gradient(np.zeros(n)) if self.exact else None
        self.x = None
        self.u = np.zeros(n)
        self.rho = None
        self.factor_seconds = time.perf_counter() - t

    # -- the datafit ------------------------------------------------------------------
    def gradient(self, x) -> np.ndarray:
        """grad F_k(x) = A_k^T (c s phi'(s A_k x - b)): one fused sweep over CSR rows
        (``kernels.consensus``), else a pass over A_k each way."""
        if sp.issparse(self.A):
            from ...kernels.consensus import csr_glm_gradient
            g = np.empty(self.A.shape[1])
            A = self.A
            csr_glm_gradient(A.indptr, A.indices, A.data, self.s, self.b, self.c, self.dkind, self.dpar,
                             np.ascontiguousarray(x, dtype=np.float64), g)
            self.passes += 1
            return g
        u = self.A @ x
        d = self.c * self.s * losses.deriv(self.dkind, self.s * u - self.b, self.dpar)
        self.passes += 1
        return np.asarray(self.AT @ d).ravel()

    def _solve(self, g, rho) -> np.ndarray:
        return self.Q @ ((self.Q.T @ g) / (self.lam + rho))

    # -- one ADMM iteration -----------------------------------------------------------
    def step(self, z, rho: float, inner_tol: float, inner_max: int):
        """Dual update with the new consensus point z (skipped on the first call), a
        rescale of u for a new rho, then the local x-update. Returns (x_k + u_k,
        ||x_k_old - z||^2, inner steps taken, ||u_k||^2)."""
        z = np.asarray(z, dtype=np.float64)
        r2 = 0.0
        if self.x is None:
            self.x = z.copy()
        else:
            diff = self.x - z
            r2 = float(diff @ diff)
            self.u += diff
        if self.rho is not None and rho != self.rho:
            self.u *= self.rho / rho
        self.rho = rho
        v = z - self.u
        steps = 0
        if self.exact:
            # (H + rho I) x = rho v - g0  (the gradient is H x + g0)
            self.x = self._solve(rho * v - self.g0, rho)
            steps = 1
        else:
            x = self.x
            for _ in range(max(1, int(inner_max))):
                g = self.gradient(x) + rho * (x - v)
                if steps > 0 and float(np.linalg.norm(g)) <= inner_tol:
                    break
                x = x - self._solve(g, rho)
                steps += 1
            self.x = x
        return self.x + self.u, r2, steps, float(self.u @ self.u)

    def curvature_scale(self) -> float:
        """trace(H_k) / n: the block's mean curvature (the automatic initial rho)."""
        return float(np.mean(self.lam)) if self.lam.size else 0.0

    def state(self):
        """(x_k, u_k, rho, passes): for warm starts and the report."""
        return self.x, self.u, self.rho, self.passes

    def warm(self, x, u, rho):
        self.x = None if x is None else np.asarray(x, dtype=np.float64).copy()
        self.u = np.zeros(self.A.shape[1]) if u is None else np.asarray(u, dtype=np.float64).copy()
        self.rho = rho
