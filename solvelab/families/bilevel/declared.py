"""CVXPYBilevel: a bilevel program declared with CVXPY expressions.

    min_u upper(u, w)   where w solves   min_w lower(u, w)   (s.t. lower_constraints)

The declaration is checked on construction (``validate.check_cvxpy``: convex in w for
fixed u by DCP, every upper variable present in the lower level). Derivatives come from
CVXPY's own ``Expression.grad`` (first order, exact for smooth atoms); the second-order
blocks d2_ww g and d2_wu g are central differences of those gradients (step eps^(1/3)
times the coordinate's size: about 1e-10 relative accuracy for smooth levels). A level
whose gradient CVXPY cannot give (a non-smooth atom such as norm1 at a kink) is refused
when evaluated, naming it. Constrained levels are held (``constrained``) but the
backends refuse them (no proximal Lagrangian value-function method yet).
"""
from __future__ import annotations

import numpy as np

from ...errors import BackendRefusedError
from ...ir.program import VariableInfo
from .program import BilevelProgram
from .validate import check_cvxpy

_STEP = float(np.finfo(np.float64).eps) ** (1.0 / 3.0)


def _infos(variables, offset: int):
    out = []
    for v in variables:
        out.append(VariableInfo(name=v.name(), shape=tuple(v.shape), offset=offset, size=int(v.size), key=v.id))
        offset += int(v.size)
    return out, offset


class CVXPYBilevel(BilevelProgram):
    """The node of ``solvelab.problems.Bilevel`` built from CVXPY expressions."""

    def __init__(self, upper, lower, upper_vars, lower_vars, lower_constraints=None, upper_constraints=None):
        uv, wv, lcons, ucons = check_cvxpy(upper, lower, upper_vars, lower_vars, lower_constraints,
                                           upper_constraints)
        ui, q = _infos(uv, 0)
        wi, end = _infos(wv, q)
        u0 = np.concatenate([np.zeros(v.size) if v.value is None else np.asarray(v.value, dtype=float).ravel("F")
                             for v in uv])
        super().__init__(q, end - q, u0, keys=ui + wi)
        self.upper_expr, self.lower_expr = upper, lower
        self.uv, self.wv = uv, wv
        self.lower_constraints, self.upper_constraints = lcons, ucons
        self.constrained = bool(lcons or ucons)
        self.summands = list(lower.args) if type(lower).__name__ == "AddExpression" else [lower]

    # -- values and CVXPY gradients -------------------------------------------------------
    def _set(self, u, w):
        x = np.concatenate([u, w])
        for v, info in zip(self.uv + self.wv, self.variables):
            vals = x[info.slice]
            v.value = vals.reshape(info.shape, order="F") if info.shape else float(vals[0])

    def _grad(self, expr, variables, what: str) -> np.ndarray:
        g = expr.grad if expr.variables() else {}
        out = []
        for v in variables:
            if v not in g:          # expr does not depend on v
                out.append(np.zeros(v.size))
                continue
            gv = g[v]
            if gv is None:
                raise BackendRefusedError(f"CVXPY gives no gradient of the {what} in {v.name()} at this point "
                                          f"(a non-smooth atom): the bilevel backends need smooth levels")
            gv = gv.toarray() if hasattr(gv, "toarray") else np.asarray(gv, dtype=float)
            out.append(np.asarray(gv, dtype=float).reshape(-1))
        return np.concatenate(out)

    def _value(self, expr) -> float:
        val = expr.value
        return float("nan") if val is None else float(np.asarray(val).reshape(()))

    def lower_value(self, u, w) -> float:
        self._set(u, w)
        return self._value(self.lower_expr)

    def lower_grad(self, u, w):
        self._set(u, w)
        parts = [self._grad(e, self.wv, "lower level") for e in self.summands]
        g = np.sum(parts, axis=0)
        return g, max(float(np.max(np.abs(p), initial=0.0)) for p in parts)

    def _gw(self, u, w) -> np.ndarray:
        self._set(u, w)
        return self._grad(self.lower_expr, self.wv, "lower level")

    def lower_hessian(self, u, w) -> np.ndarray:
        H = np.empty((self.p, self.p))
        for j in range(self.p):
            h = _STEP * max(abs(w[j]), float(np.max(np.abs(w), initial=0.0)), 1.0)   # a step, not a measure
            e = np.zeros(self.p)
            e[j] = h
            H[:, j] = (self._gw(u, w + e) - self._gw(u, w - e)) / (2 * h)
        return 0.5 * (H + H.T)

    def cross(self, u, w, v) -> np.ndarray:
        out = np.empty(self.q)
        for k in range(self.q):
            h = _STEP * max(abs(u[k]), float(np.max(np.abs(u), initial=0.0)), 1.0)   # a step, not a measure
            e = np.zeros(self.q)
            e[k] = h
            out[k] = float((self._gw(u + e, w) - self._gw(u - e, w)) @ v) / (2 * h)
        return out

    def upper_value(self, u, w) -> float:
        self._set(u, w)
        return self._value(self.upper_expr)

    def upper_grad_w(self, u, w) -> np.ndarray:
        self._set(u, w)
        return self._grad(self.upper_expr, self.wv, "upper level")

    def upper_grad_u(self, u, w) -> np.ndarray:
        self._set(u, w)
        return self._grad(self.upper_expr, self.uv, "upper level")

    def __repr__(self) -> str:
        return f"CVXPYBilevel(q={self.q} upper, p={self.p} lower variables" + \
            (", constrained)" if self.constrained else ")")
