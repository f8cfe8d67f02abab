"""Implicit differentiation of a solution through the KKT conditions of a program held
as terms (QPs, LPs, least squares with constraints, ...), as OptNet / cvxpylayers do.

At the solution x, every term w_i f_i(A_i x - b_i) (z_i = A_i x - b_i) is one of

    smooth      sum_squares, linear, huber, logistic, squared_hinge, exp (separable: the
                Hessian in z is the diagonal read from central differences of grad f)
    pinned      rows held at a constraint's boundary: every row of ``zero`` (equalities),
                the active rows of ``nonneg`` / ``nonpos`` / ``box`` (|z_j - bound| small
                against the row's size |A_j| |x| + |b_j|), the rows of ``l1`` where z_j = 0
    free        the other rows: inactive constraints (nothing) and l1 rows off zero
                (the constant w sign(z_j))

so the optimality conditions restricted to this active set are the equations

    F(x, y; theta) = [g(x; theta) + P(theta)^T y;  P(theta) x - b_P(theta)] = 0,
    g = sum_smooth w A^T grad f(A x - b) + sum_l1 w A^T (w_l1 sign z)_free

With K = dF/d(x, y) = [[M, P^T], [P, 0]] (M = sum_smooth w A^T diag(f'') A) and K [p; q]
= [v; 0] (the minimum-norm solution where K is singular), dL/dtheta = -[p; q]^T
dF/dtheta. y comes from stationarity at x (least squares, P^T y = -g). The data (the
matrices, b, weights, the functions' own data) follow the Parameters (DPP: affine), so
dF/dtheta is a central difference of F at the fixed (x, y), one Parameter entry at a
time (no re-solve; exact for quadratic and linear terms, whose F is affine in the data).
The map is differentiable where the active set is stable (strict complementarity); at a
degenerate point the result is the derivative for the active set found.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import BackendRefusedError

SMOOTH = ("sum_squares", "linear", "huber", "weighted_huber", "logistic", "weighted_logistic",
          "squared_hinge", "exp")
CONSTRAINTS = ("zero", "nonneg", "nonpos", "box")


def _kind(t) -> str:
    name = t.f.name
    if name == "zero" and not getattr(t.f, "is_indicator", False):
        return "smooth"      # the zero function f = 0 (not the equality set)
    if name in SMOOTH:
        return "smooth"
    if name in CONSTRAINTS:
        return "constraint"
    if name == "l1":
        return "l1"
    return ""


def check_supported(program) -> None:
    for i, t in enumerate(program.terms):
        if not _kind(t):
            raise BackendRefusedError(
                f"vjp: term [{i}] {t.f.name} ({t.label or 'no label'}) is not supported by the KKT derivative "
                f"(smooth separable terms {', '.join(SMOOTH)}, constraints {', '.join(CONSTRAINTS)} and l1 are)")


def _hess_diag(f, z) -> np.ndarray:
    """diag of f's Hessian at z (separable f), by central differences of grad."""
    if f.name in ("linear", "zero"):
        return np.zeros_like(z)
    if f.name == "sum_squares":
        return np.full_like(z, 2.0)
    h = 1e-6 * np.maximum(np.abs(z), 1e-3 * (float(np.max(np.abs(z), initial=0.0)) or 1.0))   # a step, not a measure
    return (f.grad(z + h) - f.grad(z - h)) / (2.0 * h)


def _pinned(t, z, A, x, rtol) -> np.ndarray:
    """The rows of term t held at a boundary (see the module docstring)."""
    name = t.f.name
    if name == "zero" and getattr(t.f, "is_indicator", False):
        return np.ones(z.size, dtype=bool)
    size = abs(A) @ np.full(x.size, float(np.max(np.abs(x), initial=0.0))) + np.abs(t.b) if z.size else z
    size = np.asarray(size).ravel()
    near = lambda v: np.abs(v) <= rtol * size   # noqa: E731
    if name == "nonneg" or name == "nonpos":
        return near(z)
    if name == "box":
        lo, hi = np.broadcast_to(t.f.lo, z.shape), np.broadcast_to(t.f.hi, z.shape)
        return (np.isfinite(lo) & near(z - lo)) | (np.isfinite(hi) & near(z - hi))
    if name == "l1":
        return near(z)
    return np.zeros(z.size, dtype=bool)


def _pinned_system(program, rows):
    """(P, b_P) at the current data: the pinned rows' matrix and the bounds they are held at
    (b, or b + lo / hi for a box)."""
    P, out = [], []
    for t, (mask, side) in zip(program.terms, rows):
        if mask is None or not mask.any():
            continue
        P.append(t.A.to_sparse()[mask])
        b = np.asarray(t.b, dtype=np.float64).ravel() * np.ones(mask.size)
        if t.f.name == "box":
            lo, hi = np.broadcast_to(t.f.lo, b.shape), np.broadcast_to(t.f.hi, b.shape)
            b = b + np.where(side, hi, lo)
        out.append(b[mask])
    if not P:
        return sp.csr_matrix((0, program.n)), np.zeros(0)
    return sp.vstack(P).tocsr(), np.concatenate(out)


def _residual(program, x, y, rows, free_l1) -> np.ndarray:
    """F = [g(x) + P^T y; P x - b_P] at the current data (x, y and the active set fixed)."""
    g = np.zeros(program.n)
    for i, t in enumerate(program.terms):
        k = _kind(t)
        if k == "smooth":
            z = t.A.matvec(x) - t.b
            g += t.weight * t.A.rmatvec(t.f.grad(z))
        elif k == "l1":
            z = t.A.matvec(x) - t.b
            s = np.where(free_l1[i], t.f.project_subdifferential(z, np.zeros_like(z)), 0.0)
            g += t.weight * t.A.rmatvec(s)
    P, bP = _pinned_system(program, rows)
    return np.concatenate([g + P.T @ y, P @ x - bP])


def kkt_vjp(program, x, v, parameters, rtol: float = 1e-7) -> dict:
    """{Parameter: dL/dParameter} at the solution x for dL/dx = v (module docstring)."""
    check_supported(program)
    n = program.n
    M = sp.csr_matrix((n, n))
    P_rows, rows, free_l1 = [], [], {}
    for i, t in enumerate(program.terms):
        A = t.A.to_sparse()
        z = A @ x - t.b
        k = _kind(t)
        if k == "smooth":
            h = t.weight * _hess_diag(t.f, z)
            if np.any(h):
                M = M + A.T @ sp.diags(h) @ A
            rows.append((None, None))
            continue
        mask = _pinned(t, z, A, x, rtol)
        side = None
        if t.f.name == "box":
            lo, hi = np.broadcast_to(t.f.lo, z.shape), np.broadcast_to(t.f.hi, z.shape)
            side = np.abs(z - hi) < np.abs(z - lo)      # pinned at hi (True) or lo
        if k == "l1":
            free_l1[i] = ~mask
        rows.append((mask, side))
        if mask.any():
            P_rows.append(A[mask])
    P = sp.vstack(P_rows).tocsr() if P_rows else sp.csr_matrix((0, n))
    m = P.shape[0]
    K = sp.bmat([[M, P.T], [P, None]], format="csc") if m else M.tocsc()
    sol = np.linalg.lstsq(K.toarray(), np.concatenate([v, np.zeros(m)]), rcond=None)[0]   # min-norm if singular
    # the pinned rows' multipliers from stationarity at x: P^T y = -g
    F0 = _residual(program, x, np.zeros(m), rows, free_l1)
    y = np.linalg.lstsq(P.T.toarray(), -F0[:n], rcond=None)[0] if m else np.zeros(0)
    grads = {}
    for par in parameters:
        base = np.array(par.value, dtype=np.float64)
        flat = base.ravel(order="F")
        out = np.zeros(flat.size)
        try:
            for j in range(flat.size):
                h = 1e-4 * abs(flat[j]) if flat[j] != 0 else 1e-4    # a step: the data are affine in it
                F = []
                for sgn in (1.0, -1.0):
                    moved = flat.copy()
                    moved[j] += sgn * h
                    par.value = moved.reshape(base.shape, order="F") if base.shape else float(moved[0])
                    program.refresh()
                    F.append(_residual(program, x, y, rows, free_l1))
                out[j] = -float(sol @ ((F[0] - F[1]) / (2 * h)))
        finally:
            par.value = base if base.shape else float(base)
            program.refresh()
        grads[par] = out.reshape(base.shape, order="F") if base.shape else float(out[0])
    return grads
