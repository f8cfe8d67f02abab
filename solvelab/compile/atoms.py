"""The atom table: a scalar convex CVXPY objective -> weighted IR function terms.

The objective is read as a nonnegative combination of atoms of affine arguments::

    coef * atom(affine)  |  coef * sum(atom(affine))  |  coef * (w @ atom(affine))  |  affine

Coefficients may be Parameters; they stay live (``Coef.source``) and their sign is
re-checked when the Parameter changes, so a convex model cannot silently turn concave.
Anything outside the table raises ``UnsupportedAtomError`` naming the atom and the
expression it sits in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError, NonConvexError, UnsupportedAtomError
from ..ir import functions as F
from ..ir import linop as L
from .affine import AffineCompiler, AffineMap, _short, flat


@dataclass
class Coef:
    """A scalar coefficient, fixed or following Parameters."""
    value: float
    source: Callable[[], float] | None = None

    def times(self, other: "Coef") -> "Coef":
        if self.source is None and other.source is None:
            return Coef(self.value * other.value)
        a, b = self, other
        return Coef(self.value * other.value, lambda: a.current() * b.current())

    def current(self) -> float:
        return self.source() if self.source is not None else self.value


@dataclass
class Piece:
    """One objective term: weight * f(arg) (``f`` None means a constant contribution)."""
    f: F.Function | None
    arg: AffineMap | None
    coef: Coef
    label: str
    concave: bool = False   # the atom was concave (the weight is -coef)


def _scalar_coef(compiler: AffineCompiler, expr) -> Coef:
    val = compiler.constant_value(expr)
    val = val.toarray() if sp.issparse(val) else np.asarray(val)
    if val.size != 1:
        raise UnsupportedAtomError(f"'{_short(expr)}' is not a scalar coefficient")
    if compiler.is_parametric(expr):
        return Coef(float(val.ravel()[0]), lambda: float(np.asarray(compiler.constant_value(expr)).ravel()[0]))
    return Coef(float(val.ravel()[0]))


class ObjectiveCompiler:
    def __init__(self, affine: AffineCompiler):
        self.affine = affine

    def decompose(self, expr, coef: Coef) -> list[Piece]:
        import cvxpy as cp
        from cvxpy.atoms.affine import add_expr, binary_operators as bo, sum as cpsum, unary_operators

        for node in (expr, *expr.args):
            if node.size == 0:
                raise InvalidDataError(f"'{_short(node)}' in the objective is empty (shape {node.shape})")
        if expr.is_constant():
            return [Piece(None, self.affine.compile(expr), coef, _short(expr))]
        if expr.is_affine():
            return [Piece(F.Linear(1.0), self.affine.compile(expr), coef, _short(expr))]
        if isinstance(expr, add_expr.AddExpression):
            out = []
            for a in expr.args:
                if a.size != 1:
                    raise UnsupportedAtomError(f"'{_short(expr)}': a scalar objective adds a non-scalar term")
                out += self.decompose(a, coef)
            return out
        if isinstance(expr, unary_operators.NegExpression):
            return self.decompose(expr.args[0], coef.times(Coef(-1.0)))
        if isinstance(expr, (bo.multiply, bo.MulExpression)):
            a, b = expr.args
            const, other = (a, b) if a.is_constant() else (b, a)
            if not const.is_constant():
                raise UnsupportedAtomError(f"'{_short(expr)}' multiplies two non-constant expressions")
            if const.size == 1:
                return self.decompose(other, coef.times(_scalar_coef(self.affine, const)))
            # w @ atom(x) or sum-free weighted combination: a weighted separable sum
            return self._separable(other, coef, weights=const, label=_short(expr))
        if isinstance(expr, bo.DivExpression):
            num, den = expr.args
            c = _scalar_coef(self.affine, den)
            if c.source is None:
                if c.value == 0:
                    raise InvalidDataError(f"division by zero in '{_short(expr)}'")
                inv = Coef(1.0 / c.value)
            else:
                inv = Coef(1.0 / c.value, lambda: 1.0 / c.current())
            return self.decompose(num, coef.times(inv))
        if isinstance(expr, cpsum.Sum):
            if expr.axis is not None and expr.args[0].ndim > 1:
                raise UnsupportedAtomError(f"'{_short(expr)}': a sum over one axis of a nonlinear atom "
                                           f"is not scalar")
            return self._separable(expr.args[0], coef, weights=None, label=_short(expr))
        return self._atom(expr, coef)

    # -- whole-vector atoms ---------------------------------------------------------------
    def _atom(self, expr, coef: Coef) -> list[Piece]:
        from cvxpy.atoms.norm1 import norm1
        from cvxpy.atoms.norm_inf import norm_inf
        from cvxpy.atoms.pnorm import Pnorm
        from cvxpy.atoms.quad_form import QuadForm
        from cvxpy.atoms.quad_over_lin import quad_over_lin

        label = _short(expr)
        if isinstance(expr, norm1):
            return [self._piece(F.L1Norm(), expr.args[0], coef, label)]
        if isinstance(expr, norm_inf):
            return [self._piece(F.LInfNorm(), expr.args[0], coef, label)]
        if isinstance(expr, Pnorm):
            p = float(expr.p)
            if p == 2:
                return [self._piece(F.L2Norm(), expr.args[0], coef, label)]
            if p == 1:
                return [self._piece(F.L1Norm(), expr.args[0], coef, label)]
            if np.isinf(p):
                return [self._piece(F.LInfNorm(), expr.args[0], coef, label)]
            raise UnsupportedAtomError(f"pnorm with p={p} is not in solvelab's atom table (in '{label}'); "
                                       f"supported: p = 1, 2, inf")
        if isinstance(expr, quad_over_lin):
            x, y = expr.args
            if not y.is_constant():
                raise UnsupportedAtomError(f"quad_over_lin with a non-constant denominator ('{label}')")
            c = _scalar_coef(self.affine, y)
            if c.current() <= 0:
                raise InvalidDataError(f"quad_over_lin needs a positive denominator ('{label}')")
            inv = Coef(1.0 / c.value) if c.source is None else Coef(1.0 / c.value, lambda: 1.0 / c.current())
            hinge = self._hinge_arg(x)
            if hinge is not None:
                return [self._checked(Piece(F.SquaredHinge(), hinge, coef.times(inv), label))]
            return [self._piece(F.SumSquares(), x, coef.times(inv), label)]
        if isinstance(expr, QuadForm):
            x, P = expr.args
            if not P.is_constant() or P.parameters():
                raise UnsupportedAtomError(f"quad_form needs a constant (non-Parameter) matrix ('{label}')")
            R = _psd_root(self.affine.constant_value(P), label)
            arg = self.affine.compile(x).left(L.MatrixOperator(R), (R.shape[0],))
            return [self._checked(Piece(F.SumSquares(), arg, coef, label))]
        if expr.size == 1 and _is_elementwise(expr):
            return self._separable(expr, coef, weights=None, label=label)
        raise UnsupportedAtomError(
            f"atom '{type(expr).__name__}' is not in solvelab's atom table (in '{label}'). Supported: "
            "sum_squares, quad_over_lin (constant denominator), square, quad_form (constant PSD), norm1, "
            "norm2/pnorm(p=1,2,inf), norm_inf, abs, huber, logistic, exp, pos, neg, maximum(x, c), "
            "square(pos(x)) / sum_squares(pos(x)) (squared hinge), entr, kl_div (constant second "
            "argument), and sums of these")

    # -- elementwise atoms summed ---------------------------------------------------------------
    def _separable(self, expr, coef: Coef, weights, label: str) -> list[Piece]:
        from cvxpy.atoms.elementwise.abs import abs as cp_abs
        from cvxpy.atoms.elementwise.entr import entr
        from cvxpy.atoms.elementwise.huber import huber
        from cvxpy.atoms.elementwise.kl_div import kl_div
        from cvxpy.atoms.elementwise.logistic import logistic
        from cvxpy.atoms.elementwise.maximum import maximum
        from cvxpy.atoms.elementwise.minimum import minimum
        from cvxpy.atoms.elementwise.power import Power
        from cvxpy.atoms.affine import add_expr, unary_operators
        from cvxpy.atoms.elementwise.exp import exp as cp_exp

        w = None
        if weights is not None:
            w = self.affine.constant_value(weights)
            w = flat(w.toarray() if sp.issparse(w) else np.asarray(w))
            if weights.parameters():
                raise UnsupportedAtomError(f"Parameter-valued weight vectors are not supported yet ('{label}')")
            if np.any(w < 0):
                raise NonConvexError(f"'{label}' weights a convex atom with negative entries: not convex")
        from cvxpy.atoms.affine.binary_operators import multiply
        if isinstance(expr, multiply) and not expr.is_affine():
            a, b = expr.args
            const, other = (a, b) if a.is_constant() else (b, a)
            if const.is_constant():
                if const.size == 1:
                    return self._separable(other, coef.times(_scalar_coef(self.affine, const)), weights, label)
                cw = self.affine.constant_value(const)
                cw = flat(np.broadcast_to(cw.toarray() if sp.issparse(cw) else cw, other.shape))
                if const.parameters():
                    raise UnsupportedAtomError(f"Parameter-valued weight vectors are not supported yet ('{label}')")
                if np.any(cw < 0):
                    raise NonConvexError(f"'{label}' weights a convex atom with negative entries: not convex")
                w = cw if w is None else w * cw
                from cvxpy.expressions.constants import Constant
                return self._separable(other, coef, Constant(w.reshape(other.shape, order="F") if other.shape else w[0]), label)
        if isinstance(expr, add_expr.AddExpression) and not expr.is_affine():
            # sum(f(x) + g(x)) = sum(f(x)) + sum(g(x)) (same weights), e.g. the Poisson
            # sum(exp(A x) - multiply(y, A x)); a constant summand is a constant piece
            out = []
            for a in expr.args:
                if a.is_constant():
                    out.append(Piece(None, self._const_sum(a, expr.shape, w), coef, label))
                    continue
                if a.shape != expr.shape:
                    raise UnsupportedAtomError(f"'{label}': a sum of terms of different shapes "
                                               f"({a.shape} in {expr.shape})")
                out += self._separable(a, coef, weights, label)
            return out
        if expr.is_affine():
            # w @ affine, or sum(affine): a linear term
            arg = self.affine.compile(expr)
            c = w if w is not None else 1.0
            return [Piece(F.Linear(c), arg, coef, label)]
        if isinstance(expr, unary_operators.NegExpression):
            return self._separable(expr.args[0], coef.times(Coef(-1.0)), weights, label)
        if isinstance(expr, cp_abs):
            f = F.L1Norm(w if w is not None else 1.0)
            return [self._piece(f, expr.args[0], coef, label)]
        if isinstance(expr, Power):
            if _power_p(expr) != 2.0:
                raise UnsupportedAtomError(f"power with p={expr.p} is not in the atom table ('{label}'); use square")
            hinge = self._hinge_arg(expr.args[0])
            f = F.SumSquares() if hinge is None else F.SquaredHinge()
            arg = self.affine.compile(expr.args[0]) if hinge is None else hinge
            if w is not None:
                # w_i g(z_i)^2 = g(sqrt(w_i) z_i)^2 for g = identity or max(., 0), w >= 0
                arg = arg.left(L.DiagonalOperator(np.sqrt(w)), arg.shape)
            return [self._checked(Piece(f, arg, coef, label))]
        if isinstance(expr, cp_exp):
            if w is not None and not np.allclose(w, w[0]) and np.all(w > 0):
                # w_i exp(z_i) = exp(z_i + log w_i): a non-uniform weight is an offset
                from cvxpy.expressions.constants import Constant
                z = expr.args[0]
                shift = Constant(np.log(w).reshape(z.shape, order="F") if z.shape else float(np.log(w[0])))
                arg = self.affine._broadcast(self.affine.compile(z), z.shape, expr.shape)
                return [self._checked(Piece(F.Exp(), arg.plus(self.affine.compile(shift)), coef, label))]
            return [self._piece(F.Exp(), expr.args[0], coef, label, w)]
        if isinstance(expr, huber):
            M = expr.M.value if hasattr(expr.M, "value") else expr.M
            return [self._piece(F.Huber(float(np.asarray(M).ravel()[0])), expr.args[0], coef, label, w)]
        if isinstance(expr, logistic):
            return [self._piece(F.Logistic(), expr.args[0], coef, label, w)]
        if isinstance(expr, entr):
            return [self._piece(F.NegEntropy(), expr.args[0], coef.times(Coef(-1.0)), label, w, concave=True)]
        if isinstance(expr, kl_div):
            x, y = expr.args
            if not y.is_constant():
                raise UnsupportedAtomError(f"kl_div needs a constant second argument ('{label}')")
            c = np.broadcast_to(self.affine.constant_value(y), x.shape)
            if np.any(c <= 0):
                raise InvalidDataError(f"kl_div needs a positive second argument ('{label}')")
            return [self._piece(F.KLDiv(flat(c)), x, coef, label, w)]
        if isinstance(expr, maximum) and len(expr.args) == 2:
            a, b = expr.args
            var, const = (a, b) if b.is_constant() else (b, a)
            if not const.is_constant():
                raise UnsupportedAtomError(f"maximum of two non-constant expressions ('{label}')")
            # max(x, c) = c + pos(x - c)
            arg = self._shifted(var, const, expr.shape, sign=1.0)
            pieces = [self._checked(Piece(F.Pos(), arg, coef, label, False), w)]
            pieces.append(Piece(None, self._const_sum(const, expr.shape, w), coef, label))
            return pieces
        if isinstance(expr, minimum) and len(expr.args) == 2:
            a, b = expr.args
            var, const = (a, b) if b.is_constant() else (b, a)
            if not const.is_constant():
                raise UnsupportedAtomError(f"minimum of two non-constant expressions ('{label}')")
            # min(x, c) = c - pos(c - x): concave, needs a negative coefficient
            arg = self._shifted(var, const, expr.shape, sign=-1.0)
            neg = coef.times(Coef(-1.0))
            pieces = [self._checked(Piece(F.Pos(), arg, neg, label, True), w)]
            pieces.append(Piece(None, self._const_sum(const, expr.shape, w), coef, label))
            return pieces
        raise UnsupportedAtomError(
            f"atom '{type(expr).__name__}' is not in solvelab's atom table (in '{label}')")

    # -- helpers -----------------------------------------------------------------------------
    def _hinge_arg(self, expr):
        """The affine map z with expr = max(z, 0) (CVXPY's ``pos(z)`` is ``maximum(z, 0)``),
        or None when expr is not such a hinge."""
        from cvxpy.atoms.elementwise.maximum import maximum
        if isinstance(expr, maximum) and len(expr.args) == 2:
            a, b = expr.args
            var, const = (a, b) if b.is_constant() else (b, a)
            if const.is_constant() and not const.parameters() and var.is_affine():
                cv = self.affine.constant_value(const)
                cv = cv.toarray() if sp.issparse(cv) else np.asarray(cv)
                if np.all(cv == 0):
                    return self.affine._broadcast(self.affine.compile(var), var.shape, expr.shape)
        return None

    def _shifted(self, var, const, shape, sign):
        """sign * (var - const) broadcast to ``shape``, as an affine map."""
        a = self.affine._broadcast(self.affine.compile(var), var.shape, shape)
        c = self.affine._broadcast(self.affine.compile(const), const.shape, shape)
        return a.plus(c.scaled(-1.0)).scaled(sign)

    def _const_sum(self, const, shape, w):
        c = self.affine._broadcast(self.affine.compile(const), const.shape, shape)
        wv = np.ones(c.size) if w is None else w
        return c.left(L.MatrixOperator(wv.reshape(1, -1)), ())

    def _piece(self, f, arg_expr, coef, label, w=None, concave=False) -> Piece:
        arg = self.affine.compile(arg_expr)
        return self._checked(Piece(f, arg, coef, label, concave), w)

    def _checked(self, piece: Piece, w=None) -> Piece:
        if w is not None:
            if np.allclose(w, w[0]):
                piece.coef = piece.coef.times(Coef(float(w[0])))
            else:
                raise UnsupportedAtomError(f"a non-uniform weight vector on {piece.f.name} ('{piece.label}') "
                                           f"is supported for abs, square and exp (positive weights) only")
        check_sign(piece)
        return piece


def check_sign(piece: Piece) -> None:
    """A convex atom needs a nonnegative weight (a concave one was negated already)."""
    if piece.f is None or isinstance(piece.f, F.Linear):
        return
    val = piece.coef.current()
    if val < 0:
        kind = "concave" if piece.concave else "convex"
        raise NonConvexError(f"'{piece.label}': the {kind} atom {piece.f.name} enters the minimized "
                             f"objective with weight {val:g}; the problem is not convex")


def _is_elementwise(expr) -> bool:
    from cvxpy.atoms.elementwise.elementwise import Elementwise
    return isinstance(expr, Elementwise)


def _psd_root(P, label) -> np.ndarray:
    """R with R^T R = P for a symmetric PSD constant P (so x^T P x = ||R x||^2)."""
    P = P.toarray() if sp.issparse(P) else np.atleast_2d(np.asarray(P, dtype=np.float64))
    if not np.allclose(P, P.T, atol=1e-10 * max(1.0, np.abs(P).max())):
        raise NonConvexError(f"quad_form matrix is not symmetric ('{label}')")
    vals, vecs = np.linalg.eigh(0.5 * (P + P.T))
    if vals.size and vals.min() < -1e-9 * max(1.0, vals.max()):
        raise NonConvexError(f"quad_form matrix is not positive semidefinite (min eigenvalue "
                             f"{vals.min():.3g}) in '{label}'")
    keep = vals > 1e-14 * max(1.0, vals.max(initial=0.0))
    return (vecs[:, keep] * np.sqrt(vals[keep])).T


def _power_p(expr) -> float:
    p = getattr(expr, "_p_orig", None)
    if p is None:
        p = expr.p
    return float(np.asarray(getattr(p, "value", p)).ravel()[0])
