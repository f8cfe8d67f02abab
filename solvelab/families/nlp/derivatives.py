"""Finite-difference checks of hand-written derivatives (grad, jac, Lagrangian hvp).

Central differences along a few directions (the coordinate ones for n <= 40, otherwise
random unit directions, seeded): for a direction d, (f(x + h d) - f(x - h d)) / 2h is
compared with grad(x)^T d, and likewise for c with jac(x) d and for the Lagrangian
gradient with hvp(x, lam, d). The step h = eps^(1/3) (|x|_inf + ||d||)-ish keeps the
truncation and rounding errors balanced; the error is relative to the larger of the two
sides (0 / 0 reads 0), so a correct derivative reads about 1e-8 and a wrong one O(1).
"""
from __future__ import annotations

import numpy as np

_H = float(np.finfo(np.float64).eps) ** (1.0 / 3.0)


def _rel(a, b) -> float:
    num = float(np.max(np.abs(a - b), initial=0.0))
    den = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return 0.0 if num == 0.0 else num / max(den, float(np.finfo(np.float64).tiny))


def directions(n: int, count: int = 6, seed: int = 0) -> np.ndarray:
    if n <= 40:
        return np.eye(n)
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((count, n))
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def check_derivatives(f, x, grad=None, c=None, jac=None, hess=None, hvp=None, lam=None, seed: int = 0) -> dict:
    """{'grad': err, 'jac': err, 'hvp': err} for the derivatives given (relative errors,
    the worst over the directions); ``lam``: the multipliers of the Lagrangian f + lam^T c
    (default: ones). ``hess(x, lam)`` is checked through its products."""
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    h = _H * max(float(np.max(np.abs(x), initial=0.0)), 1.0)   # a step, not a measure
    D = directions(n, seed=seed)
    out = {}
    if grad is not None:
        g = np.asarray(grad(x), dtype=np.float64).ravel()
        fd = np.array([(float(f(x + h * d)) - float(f(x - h * d))) / (2 * h) for d in D])
        out["grad"] = _rel(D @ g, fd)
    if c is not None and jac is not None:
        J = jac(x)
        an = np.column_stack([np.asarray(J @ d).ravel() for d in D])
        fd = np.column_stack([(np.asarray(c(x + h * d), float).ravel() - np.asarray(c(x - h * d), float).ravel())
                              / (2 * h) for d in D])
        out["jac"] = _rel(an, fd)
    if (hvp is not None or hess is not None) and grad is not None:
        m = 0 if c is None else np.asarray(c(x)).size
        lam = np.ones(m) if lam is None else np.asarray(lam, dtype=np.float64).ravel()

        def lgrad(z):
            g = np.asarray(grad(z), dtype=np.float64).ravel()
            return g + (np.asarray(jac(z).T @ lam).ravel() if m else 0.0)
        prod = (lambda d: np.asarray(hvp(x, lam, d), float).ravel()) if hvp is not None else \
            (lambda d: np.asarray(hess(x, lam) @ d, float).ravel())
        an = np.column_stack([prod(d) for d in D])
        fd = np.column_stack([(lgrad(x + h * d) - lgrad(x - h * d)) / (2 * h) for d in D])
        out["hvp" if hvp is not None else "hess"] = _rel(an, fd)
    return out
