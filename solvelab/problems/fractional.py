"""Fractional programs: ``Fractional(numerator, denominator, constraints)`` and applications.

    min_x N(x) / D(x),   N = smooth convex quadratic + l1 (+ one norm2),  D affine or a norm

declared with CVXPY expressions (``solvelab.families.fractional.recognize`` lists what is
supported), or built from arrays by the applications below. Solved by ``fractional_cd``
(coordinate descent with each 1-D fractional subproblem solved globally, Yuan 2023) or
``dinkelbach``; the engine certifies the paper's stationarity (global for an affine D)::

    x = cp.Variable(n)
    prob = sl.Fractional(0.5 * cp.sum_squares(G @ x - y) + lam * cp.norm1(x), cp.norm2(x))
    res = prob.solve(backend="fractional_cd", tol=1e-8)

``prob.to_cvxpy()`` is the same problem as a ``cvxpy.Problem`` min N / D, for CVXPY's
DQCP bisection (``solve(qcp=True)``) where CVXPY can model it (D concave and positive).

Applications: ``sparse_recovery`` ((1/2|Gx - y|^2 + lam |x|_1) / |x|_2, / |x|_topk or
/ |x|_1), ``sharpe_ratio`` (max (mu^T x - rf) / sqrt(x^T Sigma x) over the simplex, as
min |L x| / (mu - rf 1)^T x).
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError
from ..families.fractional import Denominator, FractionalProgram, from_cvxpy
from ..families.fractional.validate import matrix, real_array, scalar
from ..model.problem import Problem

__all__ = ["Fractional", "sparse_recovery", "sharpe_ratio"]


class Fractional(Problem):
    """min numerator / denominator s.t. constraints (see the module docstring)."""

    def __init__(self, numerator=None, denominator=None, constraints=None, *, program=None, variables=()):
        if program is not None:   # Problem.from_program
            super().__init__(program=program, variables=variables)
            return
        node = from_cvxpy(numerator, denominator, constraints)
        var = next(iter(numerator.variables() or denominator.variables()), None)
        super().__init__(program=node, variables=[var] if var is not None else [])

    @property
    def program(self) -> FractionalProgram:
        return self.compile()

    def to_cvxpy(self):
        """(cvxpy.Problem min N / D s.t. the domain, its variable): for ``solve(qcp=True)``.
        On the simplex an affine D = a^T x + d is written (a + d 1)^T x, so that CVXPY
        sees its sign from the coefficients (x >= 0)."""
        import cvxpy as cp
        p = self.program
        z = cp.Variable(p.n, nonneg=bool(p.simplex or np.all(p.lo >= 0)))
        den = p.denominator_expr(z)
        if p.simplex and p.den.kind == "affine":
            den = (p.den.a + p.den.d) @ z
        return cp.Problem(cp.Minimize(p.numerator_expr(z) / den), p.domain_constraints(z)), z

    def __repr__(self) -> str:
        return f"solvelab.Fractional({self.program!r})"


def sparse_recovery(G, y, lam: float = 0.0, denominator: str = "l2", k: int | None = None,
                    nonneg: bool = False) -> Fractional:
    """min (1/2 |G x - y|^2 + lam |x|_1) / D(x) with D = |x|_2 ('l2'), |x|_topk ('topk',
    the sum of the k largest |x_i|) or |x|_1 ('l1'); ``nonneg``: x >= 0. The ratio of
    the paper's sparse recovery experiments; N(0) = |y|^2 / 2 > 0 keeps 0 away."""
    G = matrix(G, np.shape(G)[1] if np.ndim(G) == 2 else -1, "G")
    n = G.shape[1]
    y = real_array(y, "y", ndim=1)
    if y.shape != (G.shape[0],):
        from ..errors import ShapeError
        raise ShapeError(f"y must have length {G.shape[0]} (the rows of G), got {y.shape}")
    lam = scalar(lam, "lam", nonneg=True)
    if denominator == "l2":
        den = Denominator("l2")
    elif denominator == "l1":
        den = Denominator("l1")
    elif denominator == "topk":
        if k is None:
            raise InvalidDataError("denominator='topk' needs k (the number of largest entries)")
        den = Denominator("topk", k=k)
    else:
        raise InvalidDataError(f"denominator must be 'l2', 'topk' or 'l1', got {denominator!r}")
    node = FractionalProgram(n, den, G=G, y=y, lam=lam, lo=0.0 if nonneg else None)
    return Fractional.from_program(node)


def sharpe_ratio(mu, Sigma, rf: float = 0.0) -> Fractional:
    """The maximum-Sharpe portfolio over the simplex (long only, fully invested):
    max (mu^T x - rf) / sqrt(x^T Sigma x) as min |L x|_2 / (mu - rf)^T x (L^T L = Sigma,
    rf = rf sum x on the simplex). Quasiconvex: Dinkelbach is exact. Needs min mu > rf
    (else the denominator can vanish or change sign on the simplex)."""
    mu = real_array(mu, "mu", ndim=1)
    n = mu.size
    Sigma = matrix(Sigma, n, "Sigma")
    if Sigma.shape != (n, n) or not np.allclose(Sigma, Sigma.T, rtol=1e-12, atol=0):
        raise InvalidDataError(f"Sigma must be a symmetric {n} x {n} matrix")
    w, V = np.linalg.eigh(Sigma)
    if w[0] < -1e-12 * max(abs(w[-1]), np.finfo(float).tiny):
        raise InvalidDataError(f"Sigma must be positive semidefinite (smallest eigenvalue {w[0]:.3g})")
    L = (V * np.sqrt(np.maximum(w, 0.0))).T
    rf = scalar(rf, "rf")
    node = FractionalProgram(n, Denominator("affine", a=mu - rf, d=0.0), rho=1.0, L=L, simplex=True)
    return Fractional.from_program(node)
