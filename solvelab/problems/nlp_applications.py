"""Smooth-NLP applications of the sketched-Newton paper: constrained logistic regression
and a 2-D Poisson control problem (``solvelab bench nlp``).

    constrained_logistic(X, y)   min (1/N) sum log(1 + exp(-y_i x_i^T w))
                                 s.t. A w = b (k Gaussian rows), ||w||^2 = 1
    poisson_control(n)           min 1/2 h^2 ||s - s_d||^2 + alpha/2 h^2 ||u||^2
                                 s.t. -Lap_h s = u on the n x n interior grid (Dirichlet 0)

Both return ``solvelab.NLP`` models with exact derivatives (the logistic Hessian X^T D X
/ N from the sparse data, the Poisson problem's constant sparse Jacobian), ready for
``sketched_newton`` or ``sqp``; ``nlp_functions(problem)`` gives the same callables in
the form the bench peers (scipy SLSQP / trust-constr) read.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError, ShapeError
from ..ir.losses import logistic, sigmoid
from .nlp import NLP

__all__ = ["constrained_logistic", "poisson_control"]


def _check_xy(X, y):
    if not sp.issparse(X):
        X = np.asarray(X)
        if X.dtype == object or not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
            raise InvalidDataError(f"X must hold real numbers, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ShapeError(f"X must be 2-D (samples x features), got shape {X.shape}")
        X = X.astype(np.float64)
        vals = X
    else:
        X = sp.csr_matrix(X, dtype=np.float64)
        vals = X.data
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ShapeError(f"X is empty (shape {X.shape})")
    if not np.all(np.isfinite(vals)):
        raise InvalidDataError("X has NaN or Inf entries")
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape != (X.shape[0],):
        raise ShapeError(f"y must have one label per row of X ({X.shape[0]}), got shape {y.shape}")
    labels = np.unique(y)
    if labels.size != 2:
        raise InvalidDataError(f"y must hold two classes, got {labels.size} distinct values")
    return X, np.where(y == labels.max(), 1.0, -1.0)


def constrained_logistic(X, y, n_linear: int = 10, seed: int = 0, A=None, b=None) -> NLP:
    """The seed paper's constrained logistic regression on (X, y): mean logistic loss
    subject to A w = b and ||w||^2 = 1. Default A: ``n_linear`` standard Gaussian rows
    (seeded) with b = A w_f for a random unit w_f, so the constraints are consistent; or
    pass A (k, d) and b (k,). Labels: any two values (the larger is +1). Starting point:
    the unit vector e / sqrt(d)."""
    X, y = _check_xy(X, y)
    N, d = X.shape
    if A is None:
        if not isinstance(n_linear, (int, np.integer)) or isinstance(n_linear, bool) or not 0 <= n_linear < d:
            raise InvalidDataError(f"n_linear must be an integer in [0, {d - 1}] (fewer rows than the {d} "
                                   f"features, with the sphere), got {n_linear!r}")
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((int(n_linear), d))
        wf = rng.standard_normal(d)
        wf /= np.linalg.norm(wf)
        b = A @ wf
    else:
        A = np.asarray(A, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64).ravel() if b is not None else None
        if A.ndim != 2 or A.shape[1] != d or b is None or b.shape != (A.shape[0],):
            raise ShapeError(f"A must be (k, {d}) with b of length k, got A {A.shape} and b "
                             f"{None if b is None else b.shape}")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise InvalidDataError("A or b has NaN or Inf entries")
    XT = X.T.tocsr() if sp.issparse(X) else X.T

    def f(w):
        return float(logistic(-y * (X @ w)).sum()) / N

    def grad(w):
        return XT @ (-y * sigmoid(-y * (X @ w))) / N

    def c(w):
        return np.concatenate([A @ w - b, [w @ w - 1.0]])

    def jac(w):
        return np.vstack([A, 2.0 * w[None, :]])

    def hess(w, lam):
        s = sigmoid(y * (X @ w))
        dvec = s * (1.0 - s) / N
        H = (XT @ sp.diags(dvec) @ X) if sp.issparse(X) else (XT * dvec) @ X
        H = H.toarray() if sp.issparse(H) else np.asarray(H)
        H[np.diag_indices(d)] += 2.0 * lam[-1]
        return H

    return NLP(f, np.full(d, 1.0 / np.sqrt(d)), eq=c, grad=grad, jac=jac, hess=hess)


def laplacian_2d(n: int) -> sp.csr_matrix:
    """-Lap_h on the n x n interior grid of the unit square (h = 1 / (n + 1), Dirichlet 0):
    the 5-point stencil, scaled by 1 / h^2."""
    h = 1.0 / (n + 1)
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    I = sp.identity(n)
    return (sp.kron(I, T) + sp.kron(T, I)).tocsr() / h ** 2


def poisson_control(n: int = 32, alpha: float = 1e-2, target=None) -> NLP:
    """Distributed control of the Poisson equation on the unit square, discretized on the
    n x n interior grid: variables x = (s, u) (state and control, n^2 each), objective
    h^2 (||s - s_d||^2 + alpha ||u||^2) / 2, constraints -Lap_h s - u = 0 (n^2 rows, a
    sparse Jacobian). ``target``: s_d as an (n, n) array (default sin(pi x) sin(pi y))."""
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise InvalidDataError(f"n must be an integer >= 2 (grid points per side), got {n!r}")
    if not (np.isscalar(alpha) and np.isfinite(alpha) and alpha > 0):
        raise InvalidDataError(f"alpha must be a positive finite number, got {alpha!r}")
    n = int(n)
    h = 1.0 / (n + 1)
    if target is None:
        t = np.arange(1, n + 1) * h
        sd = np.outer(np.sin(np.pi * t), np.sin(np.pi * t)).ravel()
    else:
        sd = np.asarray(target, dtype=np.float64)
        if sd.shape != (n, n):
            raise ShapeError(f"target must be an ({n}, {n}) array, got shape {sd.shape}")
        if not np.all(np.isfinite(sd)):
            raise InvalidDataError("target has NaN or Inf entries")
        sd = sd.ravel()
    m = n * n
    J = sp.hstack([laplacian_2d(n), -sp.identity(m)]).tocsr()
    wts = h ** 2 * np.concatenate([np.ones(m), alpha * np.ones(m)])
    H = sp.diags(wts).tocsr()
    shift = np.concatenate([sd, np.zeros(m)])

    def f(x):
        r = x - shift
        return 0.5 * float(wts @ (r * r))

    return NLP(f, np.zeros(2 * m), eq=(lambda x: J @ x, lambda x: J), grad=lambda x: wts * (x - shift),
               hess=lambda x, lam: H)
