"""BilevelProgram: min_u f(u, w*(u)) where w*(u) = argmin_w g(u, w), held as derivatives.

The flat vector is x = [u; w] (the upper variables, then the lower ones). A subclass
provides the two levels' values and derivatives:

    lower_value(u, w), lower_grad(u, w) -> (grad_w g, its summands' size)
    lower_hessian(u, w) -> dense H = d2_ww g   (or ``lower_hvp(u, w, v)`` when p is large)
    cross(u, w, v) -> (d2_wu g)^T v             (the q-vector the implicit term needs)
    upper_value(u, w), upper_grad_w(u, w), upper_grad_u(u, w)
    reference(u, F) -> the size |grad F| is compared with (certificate.py)

and this base adds what the backends and the certificate share: Newton's method on the
lower level (Cholesky for p <= ``DENSE_MAX``, CG on Hessian products beyond), and the
hypergradient by implicit differentiation (one more Hessian solve).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import LinearOperator, cg

from ...errors import InvalidDataError
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from ...kernels.threads import threads
from .certificate import bilevel_certificate, rel, unmeasurable

DENSE_MAX = 2000     # Cholesky up to this many lower variables, CG on products beyond


class HessianSolver:
    """H^-1 rhs for the lower Hessian at one (u, w): a Cholesky factor, or CG."""

    def __init__(self, program, u, w):
        self.p = program.p
        if self.p <= DENSE_MAX:
            H = program.lower_hessian(u, w)
            self.factor = sla.cho_factor(H, lower=False, check_finite=True)
            self.op = None
        else:
            self.factor = None
            self.op = LinearOperator((self.p, self.p), matvec=lambda v: program.lower_hvp(u, w, v), dtype=np.float64)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        if self.factor is not None:
            return sla.cho_solve(self.factor, rhs, check_finite=False)
        x, _ = cg(self.op, rhs, rtol=1e-13, atol=0.0, maxiter=10 * self.p)
        return x


class BilevelProgram(StructuredProgram):
    """The bilevel family's program node (see the module docstring)."""

    family = "bilevel"
    backends = ("hypergradient", "bamm")
    #: the lower level is quadratic in w (one Newton step is exact)
    quadratic = False
    #: the lower level has constraints (the backends refuse them)
    constrained = False
    #: the lower level is strongly convex in w for every u by construction (a ridge term)
    strongly_convex = False

    def __init__(self, q: int, p: int, u0: np.ndarray, names=("u", "w"), keys=None, constant: float = 0.0,
                 u_bounds=None):
        infos = [VariableInfo(name=names[0], shape=(q,), offset=0, size=q, key=None),
                 VariableInfo(name=names[1], shape=(p,), offset=q, size=p, key=None)]
        super().__init__(infos if keys is None else keys, constant=constant)
        self.q, self.p = int(q), int(p)
        lo, hi = (-np.inf, np.inf) if u_bounds is None else u_bounds
        self.u_lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (self.q,)).copy()
        self.u_hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (self.q,)).copy()
        self.u0 = np.clip(np.asarray(u0, dtype=np.float64), self.u_lo, self.u_hi)
        self._ref0 = None

    # -- the pieces a subclass provides -------------------------------------------------
    def lower_value(self, u, w) -> float:
        raise NotImplementedError

    def lower_grad(self, u, w):
        raise NotImplementedError

    def lower_hessian(self, u, w) -> np.ndarray:
        raise NotImplementedError

    def lower_hvp(self, u, w, v) -> np.ndarray:
        return self.lower_hessian(u, w) @ v

    def cross(self, u, w, v) -> np.ndarray:
        raise NotImplementedError

    def upper_value(self, u, w) -> float:
        raise NotImplementedError

    def upper_grad_w(self, u, w) -> np.ndarray:
        raise NotImplementedError

    def upper_grad_u(self, u, w) -> np.ndarray:
        return np.zeros(self.q)

    def reference(self, u, F: float) -> float:
        """The size |grad F(u)|_1 is compared with (default: |grad F(u0)|_1)."""
        if self._ref0 is None:
            _, g0, _, _ = self.hypergradient(self.u0, None)
            self._ref0 = float(np.abs(g0).sum())
        return self._ref0

    def w_start(self, u) -> np.ndarray:
        return np.zeros(self.p)

    def projected(self, u, grad) -> np.ndarray:
        """grad with the components that push out of the box on u at an active bound zeroed:
        the part of the hypergradient a feasible step can still use (the stationarity
        measure with bounds)."""
        g = np.array(grad, dtype=np.float64)
        g[((u <= self.u_lo) & (g > 0)) | ((u >= self.u_hi) & (g < 0))] = 0.0
        return g

    @property
    def has_bounds(self) -> bool:
        return bool(np.isfinite(self.u_lo).any() or np.isfinite(self.u_hi).any())

    # -- shared machinery ---------------------------------------------------------------
    def split_x(self, x):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return x[:self.q], x[self.q:]

    def _grad_stat(self, u, w):
        """(grad_w g, its relative size): the step's direction and the stopping test from one pass."""
        g, scale = self.lower_grad(u, w)
        return g, rel(float(np.max(np.abs(g), initial=0.0)), scale)

    def lower_stationarity(self, u, w) -> float:
        return self._grad_stat(u, w)[1]

    def lower_solve(self, u, w0=None, rtol: float = 1e-13, max_iter: int = 100):
        """Damped Newton on g(u, .) from w0 (Armijo backtracking; a quadratic level takes
        one exact step). Returns (w, relative stationarity, iterations)."""
        w = self.w_start(u) if w0 is None else np.array(w0, dtype=np.float64)
        val = self.lower_value(u, w)
        g, stat = self._grad_stat(u, w)
        it, stalls = 0, 0
        for it in range(1, max_iter + 1):
            if stat <= rtol:
                it -= 1
                break
            d = -HessianSolver(self, u, w).solve(g)
            t, slope = 1.0, float(g @ d)
            while True:
                w_new = w + t * d
                v_new = self.lower_value(u, w_new)
                if self.quadratic or v_new <= val + 1e-4 * t * slope or t < 1e-12:
                    g_new, stat_new = self._grad_stat(u, w_new)
                    break
                if t == 1.0:   # near the solution the values tie in rounding: judge by the gradient
                    g_new, stat_new = self._grad_stat(u, w_new)
                    if np.isfinite(v_new) and stat_new <= 0.5 * stat:
                        break
                t *= 0.5
            if not np.isfinite(v_new) or (v_new > val and stat_new >= stat):
                break          # no progress left at machine precision
            stalls = stalls + 1 if stat_new > 0.5 * stat else 0
            w, val, g, stat = w_new, v_new, g_new, stat_new
            if stalls >= 3:    # Newton converges quadratically: three slow steps mean rounding rules
                break
        return w, stat, it

    def implicit_gradient(self, u, w):
        """(F(u), grad F(u), v) at a solved lower point w = w*(u): v = H^-1 d_w f,
        grad F = d_u f - (d2_wu g)^T v."""
        v = HessianSolver(self, u, w).solve(self.upper_grad_w(u, w))
        grad = self.upper_grad_u(u, w) - self.cross(u, w, v)
        return self.upper_value(u, w), grad, v

    def hypergradient(self, u, w0=None):
        """(F(u), grad F(u), w*(u), v): w* re-solved by ``lower_solve`` from w0, then
        ``implicit_gradient`` there."""
        u = np.asarray(u, dtype=np.float64)
        w, _, _ = self.lower_solve(u, w0)
        F, grad, v = self.implicit_gradient(u, w)
        return F, grad, w, v

    # -- the StructuredProgram contract ---------------------------------------------------
    def objective(self, x) -> float:
        u, w = self.split_x(x)
        return self.upper_value(u, w) + self.constant

    def value_function(self, u) -> float:
        """F(u) = f(u, w*(u)), w* solved to machine precision."""
        w, _, _ = self.lower_solve(np.asarray(u, dtype=np.float64))
        return self.upper_value(u, w)

    def certify(self, x, duals=None):
        with threads(blas=1):     # small products: spin-waiting BLAS threads cost 10-100x on a busy box
            return self._certify(x)

    def _certify(self, x):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size != self.q + self.p or not np.all(np.isfinite(x)):
            return unmeasurable()
        u, w = self.split_x(x)
        if np.any(u < self.u_lo) or np.any(u > self.u_hi):
            return unmeasurable()
        try:
            F, grad, wstar, _ = self.hypergradient(u, w)
            lower_stat = self.lower_stationarity(u, w)
            g_ret, g_star = self.lower_value(u, w), self.lower_value(u, wstar)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError, InvalidDataError):
            return unmeasurable()
        upper_stat = rel(float(np.abs(self.projected(u, grad)).sum()), self.reference(u, F))
        gap = rel(abs(g_ret - g_star), abs(g_star))
        return bilevel_certificate(upper_stat, lower_stat, gap, F + self.constant)
