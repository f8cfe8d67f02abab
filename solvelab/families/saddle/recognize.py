"""Reading c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2 (+ constant) and the
players' sets off CVXPY objects.

The bilinear term is not DCP, but CVXPY builds it (``x @ K @ y``, ``cp.sum(cp.multiply(x,
K @ y))``); the objective's tree is walked once: sums, negations and scalar constant
factors are distributed, every remaining term is

    affine in x alone      its coefficients join c (and the constant)
    affine in y alone      they join -b
    s * sum_squares(v)     v one player's whole variable: x_reg += 2 s (s >= 0 needed:
                           convex in x), y_reg -= 2 s (s <= 0: concave in y)
    a product l @ r        l affine in one variable, r in the other (vectors of one
                           length, or scalars; matmul, or sum of an elementwise multiply):
                           l = A_l x + l0, r = A_r y + r0 adds A_l^T A_r to K, A_l^T r0 to
                           c, -A_r^T l0 to b and l0^T r0 to the constant

Affine coefficients come from CVXPY's own Jacobians (``expr.grad`` at zero). Constraints
on each variable v (a 1-D Variable) may be v >= lo, v <= hi (constants, either side) and
sum(v) == 1 (the simplex, with v >= 0 and nothing else); none leaves the side free.
Anything else is refused with the term or constraint named.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import InvalidDataError, NonConvexError, ShapeError


def player_variable(v, role: str):
    import cvxpy as cp
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise InvalidDataError(f"{role}: SaddlePoint takes one variable per player, got {len(v)}")
        v = v[0]
    if not isinstance(v, cp.Variable) or len(v.shape) != 1:
        raise ShapeError(f"{role} must be a 1-D cvxpy Variable, got {type(v).__name__} of shape "
                         f"{getattr(v, 'shape', None)}")
    return v


def _affine(expr, var):
    """(A, e0) with expr = A var + e0 (flattened), for an expression affine in var alone."""
    size = int(np.prod(expr.shape)) if expr.shape else 1
    saved = {v.id: v.value for v in expr.variables()}
    try:
        for v in expr.variables():
            v.value = np.zeros(v.shape)
        e0 = np.atleast_1d(np.asarray(expr.value, dtype=np.float64)).ravel(order="F")
        if var is None:
            return None, e0
        G = expr.grad.get(var)
    finally:
        for v in expr.variables():
            v.value = saved[v.id]
    if G is None or (np.isscalar(G) and G == 0):
        A = np.zeros((size, var.size))
    else:
        A = (G.toarray() if sp.issparse(G) else np.asarray(G, dtype=np.float64)).reshape(var.size, size).T
    return A, e0


def _scalar_constant(e) -> float | None:
    if e.is_constant() and (not e.shape or int(np.prod(e.shape)) == 1):
        return float(np.asarray(e.value).ravel()[0])
    return None


def _terms(expr, sign=1.0):
    """(sign, term) pairs of the objective with sums, negations and scalar factors (and
    divisions by scalar constants) distributed."""
    from cvxpy.atoms.affine.add_expr import AddExpression
    from cvxpy.atoms.affine.binary_operators import DivExpression, MulExpression, multiply
    from cvxpy.atoms.affine.unary_operators import NegExpression
    if isinstance(expr, AddExpression):
        for a in expr.args:
            yield from _terms(a, sign)
        return
    if isinstance(expr, NegExpression):
        yield from _terms(expr.args[0], -sign)
        return
    if isinstance(expr, DivExpression) and len(expr.args) == 2:
        s = _scalar_constant(expr.args[1])
        if s is not None and s != 0.0 and not expr.args[0].is_constant():
            yield from _terms(expr.args[0], sign / s)
            return
    if isinstance(expr, (MulExpression, multiply)) and len(expr.args) == 2:
        for k in (0, 1):
            s = _scalar_constant(expr.args[k])
            if s is not None and not expr.args[1 - k].is_constant():
                yield from _terms(expr.args[1 - k], sign * s)
                return
    yield sign, expr


def _factors(t):
    """(l, r) of a bilinear product term, or None."""
    from cvxpy.atoms.affine.binary_operators import MulExpression, multiply
    from cvxpy.atoms.affine.sum import Sum
    if isinstance(t, Sum) and isinstance(t.args[0], multiply) and getattr(t, "axis", None) is None:
        return tuple(t.args[0].args)
    if isinstance(t, (MulExpression, multiply)) and (not t.shape or int(np.prod(t.shape)) == 1):
        return tuple(t.args)
    return None


def _squares_of(t, var) -> bool:
    """Whether t is sum_squares(var) of the whole variable."""
    import cvxpy as cp
    from cvxpy.atoms.quad_over_lin import quad_over_lin
    return isinstance(t, quad_over_lin) and isinstance(t.args[0], cp.Variable) and t.args[0].id == var.id \
        and _scalar_constant(t.args[1]) == 1.0


def objective_data(objective, x, y):
    """(K, c, b, constant, x_reg, y_reg) of ``objective`` = c^T x + x_reg/2 |x|^2 + x^T K y
    - b^T y - y_reg/2 |y|^2 + constant."""
    if getattr(objective, "shape", None) not in ((), (1,)):
        raise ShapeError(f"the saddle objective must be scalar, got shape {getattr(objective, 'shape', None)}")
    m, n = x.size, y.size
    K, c, b, const = np.zeros((m, n)), np.zeros(m), np.zeros(n), 0.0
    x_reg, y_reg = 0.0, 0.0
    for sign, t in _terms(objective):
        ids = {v.id for v in t.variables()}
        if not ids <= {x.id, y.id}:
            raise InvalidDataError(f"term {t} reads a variable that is neither {x.name()} nor {y.name()}")
        if len(ids) <= 1:
            var = x if x.id in ids else (y if y.id in ids else None)
            if var is not None and _squares_of(t, var):
                if (var is x and sign < 0) or (var is y and sign > 0):
                    side = "convex in the min player" if var is x else "concave in the max player"
                    raise NonConvexError(f"term {sign:g} * {t}: the objective must be {side} {var.name()} "
                                         f"({'+' if var is x else '-'} a * sum_squares({var.name()}) with a >= 0)")
                if var is x:
                    x_reg += 2.0 * sign
                else:
                    y_reg -= 2.0 * sign
                continue
            if not t.is_affine():
                raise NonConvexError(f"term {t} is not affine in {var.name()}: SaddlePoint takes c^T x + x^T K y "
                                     f"- b^T y, plus a * sum_squares({x.name()}) and - a * sum_squares({y.name()}) "
                                     f"(a >= 0)")
            A, e0 = _affine(t, var)
            if e0.size != 1:
                raise ShapeError(f"term {t} is not scalar")
            const += sign * float(e0[0])
            if var is x:
                c += sign * A[0]
            elif var is y:
                b -= sign * A[0]
            continue
        parts = _factors(t)
        if parts is None:
            raise NonConvexError(f"term {t} mixes {x.name()} and {y.name()} but is not a product l @ r of an affine "
                                 f"expression in each")
        lhs, rhs = parts
        lv, rv = {v.id for v in lhs.variables()}, {v.id for v in rhs.variables()}
        if lv == {y.id} and rv == {x.id}:
            lhs, rhs = rhs, lhs
        elif not (lv == {x.id} and rv == {y.id}):
            raise NonConvexError(f"term {t}: each factor of the bilinear product must read one player only")
        if not (lhs.is_affine() and rhs.is_affine()):
            raise NonConvexError(f"term {t}: the factors of the bilinear product must be affine")
        Al, l0 = _affine(lhs, x)
        Ar, r0 = _affine(rhs, y)
        if l0.size != r0.size:
            raise ShapeError(f"term {t}: factors of lengths {l0.size} and {r0.size}")
        K += sign * (Al.T @ Ar)
        c += sign * (Al.T @ r0)
        b -= sign * (Ar.T @ l0)
        const += sign * float(l0 @ r0)
    return K, c, b, const, x_reg, y_reg


def _side(expr, var):
    """'var', a constant array (broadcast to var's shape), or None."""
    import cvxpy as cp
    if isinstance(expr, cp.Variable) and expr.id == var.id:
        return "var"
    if expr.is_constant():
        return np.broadcast_to(np.asarray(expr.value, dtype=np.float64), var.shape).astype(np.float64)
    return None


def domain_of(var, constraints):
    """The domain spec of ``var`` from the constraints that read it."""
    import cvxpy as cp
    from cvxpy.atoms.affine.sum import Sum
    lo, hi = np.full(var.size, -np.inf), np.full(var.size, np.inf)
    simplex = False
    for con in constraints:
        if var.id not in {v.id for v in con.variables()}:
            continue
        if isinstance(con, cp.constraints.Inequality):
            a, b = (_side(e, var) for e in con.args)         # a <= b
            if isinstance(a, str) and isinstance(b, np.ndarray):
                hi = np.minimum(hi, b)
                continue
            if isinstance(b, str) and isinstance(a, np.ndarray):
                lo = np.maximum(lo, a)
                continue
        if isinstance(con, cp.constraints.Equality):
            sides = list(con.args)
            for k in (0, 1):
                e, other = sides[k], sides[1 - k]
                if isinstance(e, Sum) and isinstance(e.args[0], cp.Variable) and e.args[0].id == var.id \
                        and getattr(e, "axis", None) is None and other.is_constant() and \
                        float(np.asarray(other.value)) == 1.0:
                    simplex = True
                    break
            else:
                raise InvalidDataError(f"constraint {con}: only sum({var.name()}) == 1 is supported as an equality")
            continue
        raise InvalidDataError(f"constraint {con}: a player's set is given by {var.name()} >= lo, {var.name()} <= hi "
                               f"or sum({var.name()}) == 1 with {var.name()} >= 0")
    if simplex:
        if not (np.all(lo == 0.0) and np.all(np.isposinf(hi))):
            raise InvalidDataError(f"sum({var.name()}) == 1 is supported with {var.name()} >= 0 and no other bound "
                                   f"(the probability simplex)")
        return "simplex"
    return ("box", lo, hi)
