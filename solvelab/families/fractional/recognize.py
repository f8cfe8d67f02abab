"""from_cvxpy: a FractionalProgram from CVXPY expressions N, D and constraints.

Supported (anything else is refused with the supported list):

    N   convex: w sum_squares(A x - b), quad_form(x, P), affine terms, w norm1(x) (or
        sum(abs(x)), a weighted l1 of x), and one w norm2(L x) term
    D   affine (checked positive on the domain), s norm2(B x), s norm1(x),
        s sum_largest(abs(x), k); a concave D other than affine is refused (not yet)
    constraints   bounds on x (x >= lo, x <= hi, x == bound not included) or the simplex
                  x >= 0, sum(x) == 1

The numerator is compiled by solvelab's own compiler (one pass over the tree); the
denominator is recognized atom by atom. One vector variable, no Parameters.
"""
from __future__ import annotations

import numpy as np

from ...compile import compile_problem
from ...errors import InvalidDataError, NonConvexError, ShapeError
from .denominator import Denominator
from .program import FractionalProgram

SUPPORTED_N = ("w sum_squares(A x - b), quad_form(x, P), affine terms, w norm1(x) (weighted l1 of x), "
               "one w norm2(L x)")
SUPPORTED_D = "an affine expression a^T x + d, s norm2(B x), s norm1(x), s sum_largest(abs(x), k)"


def _dense(op) -> np.ndarray:
    S = op.to_sparse()
    return np.asarray(S.todense()) if hasattr(S, "todense") else np.asarray(S)


def _variable(numerator, denominator, constraints):
    vs = {v.id: v for e in [numerator, denominator, *constraints] for v in e.variables()}
    if len(vs) != 1:
        names = ", ".join(v.name() for v in vs.values()) or "none"
        raise InvalidDataError(f"Fractional takes one vector variable; the expressions use {len(vs)} ({names})")
    x = next(iter(vs.values()))
    if len(x.shape) > 1 and min(x.shape) != 1:
        raise ShapeError(f"Fractional takes a vector variable; {x.name()} has shape {x.shape}")
    params = [p.name() for e in [numerator, denominator, *constraints] for p in e.parameters()]
    if params:
        raise InvalidDataError(f"Fractional does not follow CVXPY Parameters yet ({', '.join(params)}): "
                               f"pass numbers")
    return x


def _numerator(numerator, constraints, n):
    import cvxpy as cp
    if not numerator.is_convex():
        raise NonConvexError(f"the numerator {numerator} is not convex (DCP); Fractional needs N convex: "
                             f"{SUPPORTED_N}")
    prog = compile_problem(cp.Minimize(numerator), constraints)
    G, y = [], []
    out = dict(q=np.zeros(n), c0=float(prog.constant), lam=np.zeros(n), rho=0.0, L=None,
               lo=np.full(n, -np.inf), hi=np.full(n, np.inf), simplex=False)
    sums = []
    for t in prog.terms:
        f, w = t.f, float(t.weight)
        b = np.asarray(t.b, dtype=np.float64).reshape(-1)
        sel = t.A.selection() if hasattr(t.A, "selection") else None
        if t.role == "objective":
            if f.name == "sum_squares" and w >= 0:
                A = _dense(t.A)
                G.append(np.sqrt(2 * w) * A)
                y.append(np.sqrt(2 * w) * b)
            elif f.name == "linear":
                c = np.broadcast_to(np.asarray(f.c, dtype=np.float64), b.shape)
                out["q"] += w * (_dense(t.A).T @ c)
                out["c0"] -= w * float(c @ b)
            elif f.name == "l1" and sel is not None and not np.any(b):
                out["lam"][sel] += w * np.broadcast_to(np.asarray(f.w, dtype=np.float64), sel.shape)
            elif f.name == "l2" and out["L"] is None and not np.any(b):
                out["rho"], out["L"] = w, _dense(t.A)
            else:
                raise InvalidDataError(f"the numerator's term {t.label or f.name} ({f.name}) is not supported; "
                                       f"N may hold {SUPPORTED_N}")
        else:
            if f.name in ("nonneg", "nonpos", "box") and sel is not None:
                lo = 0.0 if f.name == "nonneg" else (-np.inf if f.name == "nonpos" else f.lo)
                hi = np.inf if f.name == "nonneg" else (0.0 if f.name == "nonpos" else f.hi)
                out["lo"][sel] = np.maximum(out["lo"][sel], lo + b)
                out["hi"][sel] = np.minimum(out["hi"][sel], hi + b)
            elif f.name == "zero" and t.A.shape[0] == 1:
                sums.append((_dense(t.A).reshape(-1), float(b[0])))
            else:
                raise InvalidDataError(f"the constraint {t.label or f.name} is not supported; Fractional takes "
                                       f"bounds on x and the simplex (x >= 0, sum(x) == 1)")
    if sums:
        row, rhs = sums[0]
        if len(sums) > 1 or rhs == 0 or not np.allclose(row / rhs, 1.0, rtol=1e-14, atol=0) or \
                not np.all(out["lo"] >= 0):
            raise InvalidDataError("an equality constraint is supported only as the simplex (x >= 0, sum(x) == 1)")
        if np.any(np.isfinite(out["hi"])) or np.any(out["lo"] > 0):
            raise InvalidDataError("the simplex is supported with x >= 0 only (no other bounds)")
        out["simplex"] = True
        out["lo"], out["hi"] = np.zeros(n), np.full(n, np.inf)
    if G:
        out["G"], out["y"] = np.vstack(G), np.concatenate(y)
    return out


def _scale_of(expr):
    """(s, inner) when expr is a positive constant times inner, else (1, expr)."""
    from cvxpy.atoms.affine.binary_operators import MulExpression, multiply
    if isinstance(expr, (MulExpression, multiply)) and len(expr.args) == 2:
        a, b = expr.args
        for c, e in ((a, b), (b, a)):
            if c.is_constant() and c.size == 1:
                s = float(np.asarray(c.value).reshape(()))
                return s, e
    return 1.0, expr


def _denominator(denominator, x, n) -> Denominator:
    import cvxpy as cp
    from cvxpy.atoms.elementwise.abs import abs as cp_abs
    from cvxpy.atoms.sum_largest import sum_largest
    s, inner = _scale_of(denominator)
    if isinstance(inner, sum_largest) and isinstance(inner.args[0], cp_abs) and \
            inner.args[0].args[0] is x and s > 0:
        return Denominator("topk", s=s, k=int(inner.k))
    if not (denominator.is_convex() or denominator.is_concave()):
        raise NonConvexError(f"the denominator {denominator} is neither convex nor concave (DCP); Fractional "
                             f"takes {SUPPORTED_D}")
    if denominator.is_concave() and not denominator.is_affine():
        raise InvalidDataError(f"the denominator {denominator} is concave but not affine: concave denominators "
                               f"other than affine are not supported yet; Fractional takes {SUPPORTED_D}")
    prog = compile_problem(cp.Minimize(denominator), [])
    terms = prog.terms
    if denominator.is_affine():
        a = np.zeros(n)
        d = float(prog.constant)
        for t in terms:
            c = np.broadcast_to(np.asarray(t.f.c, dtype=np.float64), np.shape(t.b))
            a += float(t.weight) * (_dense(t.A).T @ c)
            d -= float(t.weight) * float(c @ np.asarray(t.b, dtype=np.float64).reshape(-1))
        return Denominator("affine", a=a, d=d)
    if len(terms) == 1 and prog.constant == 0 and not np.any(terms[0].b):
        t = terms[0]
        sel = t.A.selection() if hasattr(t.A, "selection") else None
        full = sel is not None and np.array_equal(sel, np.arange(n))
        if t.f.name == "l2":
            return Denominator("l2", s=float(t.weight), B=None if full else _dense(t.A))
        if t.f.name == "l1" and full and np.ndim(t.f.w) == 0:
            return Denominator("l1", s=float(t.weight) * float(t.f.w))
    raise InvalidDataError(f"the denominator {denominator} is not supported; Fractional takes {SUPPORTED_D}")


def from_cvxpy(numerator, denominator, constraints=None) -> FractionalProgram:
    """The node of min numerator / denominator s.t. constraints (module docstring)."""
    import cvxpy as cp
    constraints = list(constraints or [])
    for e, what in ((numerator, "numerator"), (denominator, "denominator")):
        if not isinstance(e, cp.Expression):
            raise InvalidDataError(f"the {what} must be a CVXPY expression, got {type(e).__name__}")
        if e.size != 1:
            raise ShapeError(f"the {what} must be scalar, got shape {e.shape}")
    for c in constraints:
        if not isinstance(c, cp.constraints.constraint.Constraint):
            raise InvalidDataError(f"constraints must be CVXPY constraints, got {type(c).__name__}")
    x = _variable(numerator, denominator, constraints)
    n = int(x.size)
    num = _numerator(numerator, constraints, n)
    den = _denominator(denominator, x, n)
    return FractionalProgram(n, den, name=x.name(), key=x.id, shape=tuple(x.shape),
                             cvx=(numerator, denominator, constraints), **num)
