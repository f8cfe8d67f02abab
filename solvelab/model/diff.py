"""Gradients of a function of the solution with respect to Parameters, by implicit
differentiation through the family's optimality conditions (no differencing of solves).

    res = prob.solve(backend="cd", tol=1e-10)
    grads = res.vjp({x: v})          # {Parameter: dL/dParameter} for L with dL/dx = v

Sparse GLMs (the SparseGLM form, convex penalties w1 |x| + r x^2, bounds): on the support
S of the solution (nonzero or unpenalized coordinates, off their bounds) the optimality
conditions read G_S(x; data) = c A_S^T (s * phi'(s A x - b)) + w1_S sign(x_S) + 2 r_S x_S
= 0; with M = dG_S/dx_S = c A_S^T diag(s^2 phi'') A_S + 2 diag(r_S), the implicit
function theorem gives dL/dtheta = -(M^{-1} v_S)^T dG_S/dtheta. The data (c, b, w1, r) are
affine in the Parameters (CVXPY's DPP rules), so their derivatives are read exactly from
one re-read of the program per Parameter entry; a Parameter inside the matrix A is
refused. The solution map is differentiable where the support is stable (strict
complementarity: |grad_j| < w1_j off the support); at a kink the result is the one-sided
derivative on the current support.

Other CVXPY programs of smooth separable terms, l1 and linear constraints (QPs, LPs,
constrained least squares): the KKT system on the active set (``diff_kkt``).

Entropic OT: the value's envelope gradients (d value / d C = P, d value / d a = f,
d value / d b = g, POT's ``grad="envelope"``) are in ``value_gradients``.
"""
from __future__ import annotations

import numpy as np

from ..errors import BackendRefusedError, InvalidDataError
from ..ir import forms, losses


def _flat(program, dx) -> np.ndarray:
    """dL/dx as the program's flat vector (dx: {cvxpy Variable or name: array} or flat)."""
    if not isinstance(dx, dict):
        v = np.asarray(dx, dtype=np.float64).ravel(order="F")
        if v.size != program.n:
            raise InvalidDataError(f"vjp: dx has {v.size} entries, the solution has {program.n}")
        return v
    v = np.zeros(program.n)
    for key, val in dx.items():
        info = next((i for i in program.variables if i.key == getattr(key, "id", None) or i.name == key), None)
        if info is None:
            raise InvalidDataError(f"vjp: {key!r} is not a variable of this problem "
                                   f"(variables: {[i.name for i in program.variables]})")
        val = np.asarray(val, dtype=np.float64)
        if val.size != info.size:
            raise InvalidDataError(f"vjp: dx for {info.name} has shape {val.shape}, the variable {info.shape}")
        v[info.slice] = val.ravel(order="F")
    return v


def _glm_parts(view):
    D = view.data()
    return D, np.array(view.w1, dtype=np.float64), np.array(view.r, dtype=np.float64), float(view.c), D.b.copy()


def vjp(problem, result, dx) -> dict:
    """{Parameter: dL/dParameter} for a function L of the solution with dL/dx = dx."""
    if result.x is None:
        raise InvalidDataError(f"vjp: the solve ended {result.status.value}; there is no solution to differentiate")
    program = problem.compile()
    view = forms.match(program, "SparseGLM")
    if not view:
        if getattr(program, "family", None) is None and hasattr(program, "terms"):
            from .diff_kkt import kkt_vjp    # QPs, LPs, constrained least squares: the KKT system
            return kkt_vjp(program, np.asarray(result.x, dtype=np.float64), _flat(program, dx),
                           program.parameters)
        raise BackendRefusedError("vjp is available for sparse GLMs (the SparseGLM form: Lasso, elastic net, "
                                  "sparse logistic, ...) and for CVXPY programs of smooth terms, l1 and linear "
                                  "constraints (QPs, LPs: the KKT system); for entropic OT use value_gradients; "
                                  f"this program is {', '.join(forms.matching_forms(program)) or 'of no known form'}")
    if view.pkind != losses.CONVEX or view.groups or view.lin is not None:
        raise BackendRefusedError("vjp: implemented for convex coordinate penalties (l1, weighted l1, ridge, "
                                  "bounds) with a non-Poisson datafit; this GLM has "
                                  + ("MCP/SCAD" if view.pkind != losses.CONVEX else
                                     "group penalties" if view.groups else "a Poisson datafit"))
    v = _flat(program, dx)
    x = np.asarray(result.x, dtype=np.float64)
    D, w1, r, c, b = _glm_parts(view)
    at_bound = (np.isfinite(view.lo) & (x <= view.lo)) | (np.isfinite(view.hi) & (x >= view.hi))
    S = np.nonzero(((x != 0) | (w1 == 0)) & ~at_bound)[0]
    grads = {}
    if S.size == 0:
        return {p: np.zeros(np.shape(p.value)) for p in program.parameters}
    A_S = D.matrix[:, S]
    A_S = A_S.toarray() if hasattr(A_S, "toarray") else np.asarray(A_S)
    z = D.s * D.matvec(x) - b
    h = c * D.s * D.s * losses.curv(view.dkind, z, view.dpar)
    M = A_S.T @ (h[:, None] * A_S) + np.diag(2.0 * r[S])
    q, *_ = np.linalg.lstsq(M, v[S], rcond=None)     # the minimum-norm solution where M is singular
    Aq = A_S @ q
    sphi1 = D.s * losses.deriv(view.dkind, z, view.dpar)
    sphi2 = D.s * losses.curv(view.dkind, z, view.dpar)
    sign_S = np.sign(x[S])
    version = program.data_version

    def dL(db, dw1, dc, dr):
        return (c * float(Aq @ (sphi2 * db)) - float(q @ (sign_S * dw1[S])) - dc * float(Aq @ sphi1)
                - 2.0 * float(q @ (x[S] * dr[S])))

    for p in program.parameters:
        base = np.array(p.value, dtype=np.float64)
        out = np.zeros(base.size)
        flat = base.ravel(order="F")
        try:
            for k in range(flat.size):
                step = 1e-3 * abs(flat[k]) if flat[k] != 0 else 1e-3
                moved = flat.copy()
                moved[k] += step
                p.value = moved.reshape(base.shape, order="F") if base.shape else float(moved[0])
                program.refresh()
                if program.data_version != version:
                    raise BackendRefusedError(f"vjp: Parameter {p.name()!r} enters a matrix of the model; "
                                              "derivatives through the data matrix are not implemented")
                moved_view = forms.match(program, "SparseGLM")
                D2, w1b, rb, cb, bb = _glm_parts(moved_view)
                out[k] = dL((bb - b) / step, (w1b - w1) / step, (cb - c) / step, (rb - r) / step)
        finally:
            p.value = base if base.shape else float(base)
            program.refresh()
        grads[p] = out.reshape(base.shape, order="F") if base.shape else float(out[0])
    return grads


def value_gradients(problem, result) -> dict:
    """Entropic OT: the envelope gradients of the optimal value, {'C': P, 'a': f, 'b': g},
    f and g the multipliers of the marginal constraints, unique up to (f + k, g - k) (a
    balanced perturbation has sum da = sum db); centred here so that mean f = mean g."""
    program = problem.compile()
    if getattr(program, "family", None) != "ot" or program.kind != "balanced":
        raise BackendRefusedError("value_gradients: for balanced entropic OT programs (sl.problems.entropic_ot)")
    if result.x is None or result.duals is None:
        raise InvalidDataError(f"value_gradients: the solve ended {result.status.value} without potentials")
    # the backends' potentials make P = exp((f + g - C) / eps); the Lagrange multipliers of
    # the marginal constraints (the envelope gradients) make P = exp((f + g - C) / eps - 1)
    f, g = (np.asarray(d, dtype=np.float64) + 0.5 * program.eps for d in result.duals)
    k = 0.5 * (np.mean(f[np.isfinite(f)]) - np.mean(g[np.isfinite(g)]))
    return {"C": program.plan(result.x), "a": f - k, "b": g + k}
