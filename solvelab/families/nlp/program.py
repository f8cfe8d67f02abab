"""NLPProgram: a smooth NLP held as user callables (no CVXPY tree).

    min f(x)   s.t.   c(x) = 0,   l <= x <= u

``f`` returns a scalar, ``grad`` its gradient, ``c`` the m equality values and ``jac``
their (m, n) Jacobian (a NumPy array or a SciPy sparse matrix). Second order: ``hess(x,
lam)``, the Hessian of the Lagrangian f + lam^T c (dense or sparse), or ``hvp(x, lam,
v)``, its product with v; at least one of them. Every callable is evaluated at x0 on
construction, so shapes and NaN are checked before a solve; ``counts`` tallies the calls.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from .validate import check_bounds, check_callable, check_x0, matrix, scalar, vector
from .certificate import (inf_norm, infeasible_stationarity, least_squares_multipliers, measures, nlp_certificate,
                          unmeasurable)


_HOW = ("write it by hand (check it with NLP.check_derivatives), or build the problem with "
        "NLP.from_jax(f, c, x0) to differentiate in JAX (pip install jax)")


def _require(f, grad, c, jac, hess, hvp):
    """Refuse a missing derivative, naming it and how to get it."""
    check_callable(f, "objective", "f(x) -> float")
    for fn, name, sig in ((grad, "grad", "grad(x) -> (n,)"), (c, "eq", "c(x) -> (m,)"),
                          (jac, "jac", "jac(x) -> (m, n)"), (hess, "hess", "hess(x, lam) -> (n, n)"),
                          (hvp, "hvp", "hvp(x, lam, v) -> (n,)")):
        check_callable(fn, name, sig)
    if grad is None:
        raise InvalidDataError(f"missing derivative: grad (the objective's gradient, grad(x) -> (n,)); {_HOW}")
    if c is not None and jac is None:
        raise InvalidDataError(f"missing derivative: jac (the Jacobian of the equality constraints, "
                               f"jac(x) -> (m, n), dense or scipy.sparse); {_HOW}")
    if jac is not None and c is None:
        raise InvalidDataError("jac was given without equality constraints eq")
    if hess is None and hvp is None:
        raise InvalidDataError(f"missing derivative: hess or hvp (the Hessian of the Lagrangian "
                               f"f + lam^T c: hess(x, lam) -> (n, n), or hvp(x, lam, v) -> (n,)); {_HOW}")


class NLPProgram(StructuredProgram):
    """The smooth-NLP family's program node (see the module docstring)."""

    family = "nlp"
    backends = ("sketched_newton", "sqp")

    def __init__(self, f, grad, x0, c=None, jac=None, hess=None, hvp=None, lower=None, upper=None,
                 name: str = "x", constant: float = 0.0):
        x0 = check_x0(x0)
        n = x0.size
        _require(f, grad, c, jac, hess, hvp)
        super().__init__([VariableInfo(name=name, shape=(n,), offset=0, size=n, key=None)], constant=constant)
        self._f, self._grad, self._c, self._jac = f, grad, c, jac
        self._hess, self._hvp = hess, hvp
        self.x0 = x0
        self.lo, self.hi = check_bounds(lower, upper, n)
        self.has_bounds = bool(np.isfinite(self.lo).any() or np.isfinite(self.hi).any())
        self.counts = {"f": 0, "grad": 0, "c": 0, "jac": 0, "hess": 0, "hvp": 0}
        self.m = 0
        self._probe()

    # -- evaluation (validated shapes; ``where`` names the point in errors) -----------
    def _probe(self):
        x0 = self.x0
        self.f0 = self.fun(x0)
        self.g0 = self.gradient(x0)
        if self._c is not None:
            c0 = np.asarray(self._c(x0), dtype=np.float64)
            self.m = int(c0.size)
            self.c0 = self.cons(x0)
            J0 = self.jacobian(x0)
        else:
            self.c0, J0 = np.zeros(0), np.zeros((0, x0.size))
        self.sparse = sp.issparse(J0)
        self.g0_norm = inf_norm(self.g0)
        self.c0_norm = inf_norm(self.c0)
        lam = least_squares_multipliers(self.g0, J0)
        if self._hess is not None:
            self.hessian(x0, lam)
        else:
            self.hvp(x0, lam, np.ones(x0.size))

    def fun(self, x, where: str = "x0") -> float:
        self.counts["f"] += 1
        return scalar(self._f(x), "objective", where)

    def gradient(self, x, where: str = "x0") -> np.ndarray:
        self.counts["grad"] += 1
        return vector(self._grad(x), x.size, "grad", where)

    def cons(self, x, where: str = "x0") -> np.ndarray:
        if self._c is None:
            return np.zeros(0)
        self.counts["c"] += 1
        return vector(self._c(x), self.m, "eq (the constraints c)", where)

    def jacobian(self, x, where: str = "x0"):
        if self._c is None:
            return np.zeros((0, x.size))
        self.counts["jac"] += 1
        return matrix(self._jac(x), (self.m, x.size), "jac", where)

    def hessian(self, x, lam, where: str = "x0"):
        """The Lagrangian Hessian (dense or sparse); from n products when only hvp is given."""
        n = x.size
        if self._hess is None:
            return np.column_stack([self.hvp(x, lam, e, where) for e in np.eye(n)]) if n else np.zeros((0, 0))
        self.counts["hess"] += 1
        return matrix(self._hess(x, lam), (n, n), "hess", where)

    def hvp(self, x, lam, v, where: str = "x0") -> np.ndarray:
        """The Lagrangian Hessian times v."""
        if self._hvp is None:
            H = self.hessian(x, lam, where)
            return np.asarray(H @ v, dtype=np.float64).reshape(-1)
        self.counts["hvp"] += 1
        return vector(self._hvp(x, lam, v), x.size, "hvp", where)

    @property
    def has_hessian(self) -> bool:
        return self._hess is not None

    # -- the StructuredProgram contract -------------------------------------------------
    def objective(self, x) -> float:
        return self.fun(np.asarray(x, dtype=np.float64), "x") + self.constant

    def multipliers(self, duals):
        """lam from the backend's duals: a vector of length m, or [vector] (None: none)."""
        if duals is None:
            return None
        if callable(duals):
            duals = duals()
        if isinstance(duals, (list, tuple)):
            if len(duals) != 1:
                return None
            duals = duals[0]
        lam = np.asarray(duals, dtype=np.float64).reshape(-1)
        return lam if lam.shape == (self.m,) and np.all(np.isfinite(lam)) else None

    def certify(self, x, duals=None):
        """Relative stationarity and feasibility at x (``certificate``); duals: the
        multipliers lam (None: the least-squares ones at x)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.x0.shape or not np.all(np.isfinite(x)):
            return unmeasurable()
        try:
            f, g, c, J = self.fun(x, "x"), self.gradient(x, "x"), self.cons(x, "x"), self.jacobian(x, "x")
        except (InvalidDataError, ValueError, FloatingPointError):
            return unmeasurable()
        lam = self.multipliers(duals)
        if lam is None:
            lam = least_squares_multipliers(g, J, self.free(x))
        bl = (self.lo, self.hi) if self.has_bounds else (None, None)
        stat, feas = measures(g, c, J, lam, x, self.g0_norm, self.c0_norm, *bl)
        return nlp_certificate(stat, feas, f + self.constant)

    def free(self, x):
        """The coordinates strictly inside their bounds (None without bounds)."""
        return ((x > self.lo) & (x < self.hi)) if self.has_bounds else None

    def check_local_infeasibility(self, x, tol: float) -> tuple[bool, str]:
        """Recheck a backend's 'locally infeasible' claim at x: the constraints are violated
        (feasibility measure > tol) and x is a stationary point of ||c||^2 / 2 (relative
        |J^T c| <= sqrt(tol), the bounds' parts dropped). (verdict, the figures in words)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.x0.shape or not np.all(np.isfinite(x)) or self.m == 0:
            return False, "no constraints or no finite point to recheck"
        try:
            c, J, g = self.cons(x, "x"), self.jacobian(x, "x"), self.gradient(x, "x")
        except (InvalidDataError, ValueError, FloatingPointError) as exc:
            return False, f"the recheck could not evaluate the functions at x: {exc}"
        bl = (self.lo, self.hi) if self.has_bounds else (None, None)
        _, feas = measures(g, c, J, np.zeros(self.m), x, self.g0_norm, self.c0_norm, *bl)
        stat = infeasible_stationarity(c, J, x, *bl)
        ok = feas > tol and stat <= np.sqrt(tol)
        return ok, f"feasibility {feas:.2e}, stationarity of |c|^2 {stat:.1e} (relative)"

    def __repr__(self) -> str:
        kind = "sparse" if self.sparse else "dense"
        return f"NLPProgram(n={self.n}, m={self.m} equalities, {kind} Jacobian" + \
            (", bounds)" if self.has_bounds else ")")
