"""Smooth nonlinear programs: ``NLP(objective, x0, eq=..., grad=..., jac=..., hess=...)``.

    min f(x)  s.t.  c(x) = 0  (and l <= x <= u)

NumPy callables with hand-written derivatives (a missing one is an error naming it), or
JAX functions differentiated in float64 (``NLP.from_jax(f, c, x0)``); dense or SciPy
sparse Jacobians; the Lagrangian's Hessian as a matrix (``hess(x, lam)``) or products
(``hvp(x, lam, v)``). Solved by ``sketched_newton`` (exact augmented Lagrangian with
randomized sketching) or ``sqp``; the engine certifies stationarity and feasibility::

    prob = sl.NLP(f, x0, eq=c, grad=g, jac=J, hess=H)
    res = prob.solve(backend="sketched_newton", tol=1e-8)
    res.x, res.duals, res.certificate

``NLP.check_derivatives(f, x, grad=..., c=..., jac=..., hvp=...)`` compares hand-written
derivatives with finite differences.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError, MissingDependencyError
from ..families.nlp import NLPProgram, check_derivatives
from ..model.problem import Problem

__all__ = ["NLP"]

_JAX_HINT = "NLP.from_jax needs JAX (pip install jax); or pass NumPy callables with grad, jac and hess / hvp"


def _fd_hvp(grad, jac):
    """hvp(x, lam, v) by central differences of the Lagrangian gradient (``hvp='fd'``: two
    gradient and Jacobian calls a product, about 1e-7 relative accuracy)."""
    if grad is None:
        return None

    def lgrad(z, lam):
        g = np.asarray(grad(z), dtype=np.float64).ravel()
        return g + (np.asarray(jac(z).T @ lam).ravel() if jac is not None and np.size(lam) else 0.0)

    def hvp(x, lam, v):
        nv = float(np.linalg.norm(v))
        if nv == 0.0:
            return np.zeros_like(x)
        h = np.finfo(np.float64).eps ** (1 / 3) * max(float(np.linalg.norm(x)), 1.0) / nv   # a step, not a measure
        return (lgrad(x + h * v, lam) - lgrad(x - h * v, lam)) / (2 * h)
    return hvp


class NLP(Problem):
    """A smooth NLP (see the module docstring). ``eq``: c(x) -> (m,), or a pair (c, jac);
    ``bounds``: (lower, upper), scalars or arrays (None: free); the sketched_newton
    backend refuses bounds. Keyword aliases of the CUTEst loader: ``gradient``,
    ``equality``, ``lower``, ``upper`` (``inequality`` is refused: equalities only).
    ``hvp='fd'``: Lagrangian Hessian products by finite differences of grad and jac
    (explicit opt-in; without hess or hvp the constructor says what is missing)."""

    def __init__(self, objective=None, x0=None, eq=None, bounds=None, grad=None, jac=None, hess=None,
                 hvp=None, *, gradient=None, equality=None, lower=None, upper=None, inequality=None,
                 program=None, variables=()):
        if program is not None:   # Problem.from_program
            super().__init__(program=program, variables=variables)
            return
        if inequality is not None:
            raise InvalidDataError("NLP takes equality constraints and bounds only; inequalities c(x) >= 0 "
                                   "are not supported yet (add slacks s >= 0 with c(x) - s = 0 and bounds)")
        grad = grad if grad is not None else gradient
        eq = eq if eq is not None else equality
        if isinstance(eq, (tuple, list)):
            if len(eq) != 2:
                raise InvalidDataError("eq must be c or a pair (c, jac)")
            eq, jac = eq[0], eq[1] if jac is None else jac
        lo, hi = lower, upper
        if bounds is not None:
            if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
                raise InvalidDataError("bounds must be a pair (lower, upper)")
            lo, hi = bounds
        if x0 is None:
            raise InvalidDataError("NLP needs a starting point x0")
        if isinstance(hvp, str):
            if hvp != "fd":
                raise InvalidDataError(f"hvp must be a callable hvp(x, lam, v) or 'fd', got {hvp!r}")
            hvp = _fd_hvp(grad, jac)
        node = NLPProgram(objective, grad, x0, c=eq, jac=jac, hess=hess, hvp=hvp, lower=lo, upper=hi)
        super().__init__(program=node)

    @property
    def program(self) -> NLPProgram:
        return self.compile()

    @classmethod
    def from_jax(cls, f, c=None, x0=None, bounds=None, sparse_jacobian: bool = False) -> "NLP":
        """f(x) -> scalar and c(x) -> (m,) as JAX functions; grad, jac and the
        Lagrangian's hvp by JAX in float64 (jit-compiled on first use)."""
        try:
            import jax
        except ImportError as exc:
            raise MissingDependencyError(_JAX_HINT) from exc
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def lag(x, lam):
            return f(x) + (jnp.dot(lam, c(x)) if c is not None else 0.0)
        gf, jf = jax.jit(jax.grad(f)), (jax.jit(jax.jacfwd(c)) if c is not None else None)
        hv = jax.jit(lambda x, lam, v: jax.jvp(lambda z: jax.grad(lag)(z, lam), (x,), (v,))[1])
        fj, cj = jax.jit(f), (jax.jit(c) if c is not None else None)

        def np_fn(fn):
            return lambda *a: np.asarray(fn(*(jnp.asarray(v, dtype=jnp.float64) for v in a)), dtype=np.float64)
        jac = np_fn(jf) if jf is not None else None
        if jac is not None and sparse_jacobian:
            import scipy.sparse as sp
            dense = jac
            jac = lambda x: sp.csr_matrix(dense(x))  # noqa: E731
        try:
            return cls(np_fn(fj), x0, eq=np_fn(cj) if cj is not None else None, bounds=bounds,
                       grad=np_fn(gf), jac=jac, hvp=np_fn(hv))
        except TypeError as exc:   # a jax trace error on a non-smooth / non-traceable function
            raise InvalidDataError(f"NLP.from_jax: JAX could not differentiate the functions: {exc}") from None

    check_derivatives = staticmethod(check_derivatives)

    def __repr__(self) -> str:
        return f"solvelab.NLP({self.program!r})"
