"""The atom table: a scalar convex CVXPY objective -> weighted IR function terms.

The objective is read as a nonnegative combination of atoms of affine arguments::

    coef * atom(affine)  |  coef * sum(atom(affine))  |  coef * (w @ atom(affine))  |  affine

A concave atom (entr, log, sqrt, geo_mean, min, ...) enters as its convex negation with
the coefficient negated. Atoms with an exact lowering become existing functions
(``maximum(a, b) = b + pos(a - b)``, ``w_i pos(z_i) = pos(w_i z_i)``, ...); no auxiliary
variables are added.

Every Parameter stays live, and is re-checked when read: coefficients (``Coef``),
weight vectors and data inside functions (``Data``: huber's M, kl_div's second argument,
quad_form's matrix, ...). Data inside a function reaches the IR through
``Piece.f_source`` / ``f_build`` (see ``ir.program.Term``). Anything outside the table
raises ``UnsupportedAtomError`` naming the atom as the user wrote it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError, NonConvexError, UnsupportedAtomError
from ..ir import functions as F
from ..ir import linop as L
from .affine import (AffineCompiler, AffineMap, LazyText, _concat, _shape2, _short, eval_offset, flat,
                     index_array)

SUPPORTED = (
    "affine terms, sum_squares, quad_over_lin (constant denominator), quad_form (constant PSD "
    "matrix), square and power(u, p), sqrt, inv_pos, abs, norm1, norm2, norm_inf, pnorm (p >= 1), "
    "norms with axis, mixed_norm(X, p, 1), huber, logistic, exp, log, entr, kl_div and rel_entr "
    "(constant second argument), pos, neg, maximum, minimum, max, min, log_sum_exp, sum_largest, "
    "sum_smallest, geo_mean, and nonnegative (weighted) sums of these")


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

    def inverse(self, label) -> "Coef":
        """1 / coef, refusing a zero (now and on every later read)."""
        def inv(c):
            if c == 0:
                raise InvalidDataError(f"division by zero in '{label}'")
            return 1.0 / c
        if self.source is None:
            return Coef(inv(self.value))
        src = self.source
        return Coef(inv(self.value), lambda: inv(src()))

    def current(self) -> float:
        return self.source() if self.source is not None else self.value


@dataclass
class Data:
    """An array fixed at compile time (``source`` None) or re-read from Parameters on
    every solve (``source`` returns the current value, checked)."""
    value: np.ndarray
    source: Callable[[], np.ndarray] | None = None

    @property
    def live(self) -> bool:
        return self.source is not None

    def current(self) -> np.ndarray:
        return self.source() if self.source is not None else self.value

    def map(self, fn) -> "Data":
        return Data.combine(fn, self)

    @staticmethod
    def combine(fn, *parts: "Data") -> "Data":
        """fn of the parts' values, live if any part is."""
        value = fn(*[p.value for p in parts])
        if not any(p.live for p in parts):
            return Data(value)
        return Data(value, lambda: fn(*[p.current() for p in parts]))

    def uniform(self) -> bool:
        """Fixed and constant across entries (then it folds into the coefficient)."""
        return not self.live and bool(np.all(self.value == self.value.ravel()[0]))


@dataclass
class Piece:
    """One objective term: weight * f(arg) (``f`` None means a constant contribution).
    ``f_source`` / ``f_build`` (both or neither) rebuild ``f`` from Parameter data."""
    f: F.Function | None
    arg: AffineMap | None
    coef: Coef
    label: str
    concave: bool = False   # the atom was concave (the weight is -coef)
    f_source: Callable[[], tuple] | None = None
    f_build: Callable[[tuple], F.Function] | None = None


def user_name(expr) -> str:
    """The CVXPY function a user writes for this node (GeoMeanApprox -> geo_mean)."""
    name = re.sub(r"Approx$", "", type(expr).__name__)
    special = {"Pnorm": "pnorm", "MulExpression": "@", "Sum": "sum"}
    if name in special or not name[:1].isupper():   # CVXPY's function names are its lower-case classes
        return special.get(name, name)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()   # GeoMean -> geo_mean


def _dense(val) -> np.ndarray:
    return val.toarray() if sp.issparse(val) else np.asarray(val, dtype=np.float64)


def _scalar_coef(compiler: AffineCompiler, expr) -> Coef:
    val = _dense(compiler.constant_value(expr))
    if val.size != 1:
        raise UnsupportedAtomError(f"'{_short(expr)}' is not a scalar coefficient")
    if compiler.is_parametric(expr):
        return Coef(float(val.ravel()[0]), lambda: float(_dense(compiler.constant_value(expr)).ravel()[0]))
    return Coef(float(val.ravel()[0]))


class ObjectiveCompiler:
    def __init__(self, affine: AffineCompiler):
        self.affine = affine

    def decompose(self, expr, coef: Coef) -> list[Piece]:
        from cvxpy.atoms.affine import add_expr, binary_operators as bo, sum as cpsum, unary_operators

        for node in (expr, *expr.args):
            if node.size == 0:
                raise InvalidDataError(f"'{_short(node)}' in the objective is empty (shape {node.shape})")
        if expr.is_constant():
            return [Piece(None, self.affine.compile(expr), coef, _short(expr))]
        if expr.is_affine():
            amap = self.affine.compile(expr)
            # (0 * f(x) is affine to CVXPY and compiles to a constant: no linear term)
            return [Piece(None if amap.is_constant() else F.Linear(1.0), amap, coef, _short(expr))]
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
            if isinstance(expr, bo.MulExpression) and (const.ndim != 1 or other.ndim != 1):
                return self._separable(expr, coef, None, _short(expr))
            return self._separable(other, coef, self._weights(const, other.shape, _short(expr)), _short(expr))
        if isinstance(expr, bo.DivExpression):
            num, den = expr.args
            return self.decompose(num, coef.times(_scalar_coef(self.affine, den).inverse(_short(expr))))
        if isinstance(expr, cpsum.Sum):
            if expr.axis is not None and expr.args[0].ndim > 1:
                raise UnsupportedAtomError(f"'{_short(expr)}': a sum over one axis of a nonlinear atom "
                                           f"is not scalar")
            return self._separable(expr.args[0], coef, None, _short(expr))
        return self._atom(expr, coef)

    # -- whole-vector atoms ---------------------------------------------------------------
    def _atom(self, expr, coef: Coef) -> list[Piece]:
        from cvxpy.atoms.geo_mean import GeoMean
        from cvxpy.atoms.log_sum_exp import log_sum_exp
        from cvxpy.atoms.max import max as cp_max
        from cvxpy.atoms.min import min as cp_min
        from cvxpy.atoms.norm1 import norm1
        from cvxpy.atoms.norm_inf import norm_inf
        from cvxpy.atoms.pnorm import Pnorm
        from cvxpy.atoms.quad_form import QuadForm
        from cvxpy.atoms.quad_over_lin import quad_over_lin
        from cvxpy.atoms.sum_largest import sum_largest

        label = _short(expr)
        if isinstance(expr, (norm1, norm_inf, Pnorm)) and not expr.args[0].is_affine():
            return self._norm_of_atoms(expr, coef, label)
        if isinstance(expr, norm1):
            return [self._piece(F.L1Norm(), self._arg(expr.args[0]), coef, label)]
        if isinstance(expr, norm_inf):
            return [self._piece(F.LInfNorm(), self._arg(expr.args[0]), coef, label)]
        if isinstance(expr, Pnorm):
            return [self._piece(_pnorm_function(expr, label), self._arg(expr.args[0]), coef, label)]
        if isinstance(expr, quad_over_lin):
            x, y = expr.args
            if not y.is_constant():
                raise UnsupportedAtomError(f"quad_over_lin with a non-constant denominator ('{label}'); "
                                           f"write quad_over_lin(u, c) with c a constant or Parameter")
            c = self._positive_coef(y, "quad_over_lin needs a positive denominator", label)
            hinge = self._hinge_arg(x)
            if hinge is not None:
                return [self._piece(F.SquaredHinge(), hinge, coef.times(c.inverse(label)), label)]
            return [self._piece(F.SumSquares(), self._arg(x), coef.times(c.inverse(label)), label)]
        if isinstance(expr, QuadForm):
            return [self._quad_form(expr, coef, label)]
        if isinstance(expr, (cp_max, cp_min, log_sum_exp)):
            f = F.LogSumExp() if isinstance(expr, log_sum_exp) else F.MaxEntry()
            return [self._concave_or_convex(f, expr, self._arg(expr.args[0]), coef, label)]
        if isinstance(expr, sum_largest):
            return [self._piece(F.SumLargest(float(expr.k)), self._arg(expr.args[0]), coef, label)]
        if isinstance(expr, GeoMean):
            return [self._geo_mean(expr, coef, label)]
        if expr.size == 1 and _is_elementwise(expr):
            return self._separable(expr, coef, None, label)
        raise _not_in_table(expr, label)

    # -- elementwise and per-block atoms, summed (with weights w >= 0) --------------------------
    def _separable(self, expr, coef: Coef, w: Data | None, label) -> list[Piece]:
        from cvxpy.atoms.affine import add_expr, binary_operators as bo, sum as cpsum, unary_operators
        from cvxpy.atoms.axis_atom import AxisAtom
        from cvxpy.atoms.elementwise.abs import abs as cp_abs
        from cvxpy.atoms.elementwise.entr import entr
        from cvxpy.atoms.elementwise.exp import exp as cp_exp
        from cvxpy.atoms.elementwise.huber import huber
        from cvxpy.atoms.elementwise.kl_div import kl_div
        from cvxpy.atoms.elementwise.log import log as cp_log
        from cvxpy.atoms.elementwise.logistic import logistic
        from cvxpy.atoms.elementwise.maximum import maximum
        from cvxpy.atoms.elementwise.minimum import minimum
        from cvxpy.atoms.elementwise.power import Power
        from cvxpy.atoms.elementwise.rel_entr import rel_entr

        if isinstance(expr, bo.multiply) and not expr.is_affine():
            a, b = expr.args
            const, other = (a, b) if a.is_constant() else (b, a)
            if const.is_constant():
                if const.size == 1:
                    return self._separable(other, coef.times(_scalar_coef(self.affine, const)), w, label)
                cw = self._weights(const, expr.shape, label)
                return self._separable(other, coef, cw if w is None else Data.combine(np.multiply, w, cw), label)
        if isinstance(expr, bo.MulExpression) and not expr.is_affine():
            return self._separable(coef=coef, label=label, **self._matrix_weights(expr, w, label))
        if isinstance(expr, add_expr.AddExpression) and not expr.is_affine():
            # sum(f(x) + g(x)) = sum(f(x)) + sum(g(x)) (same weights), e.g. the Poisson
            # sum(exp(A x) - multiply(y, A x)); a constant summand is a constant piece
            out = []
            for a in expr.args:
                if a.is_constant():
                    out.append(Piece(None, self._total(a, expr.shape, w), coef, label))
                    continue
                if a.shape != expr.shape:
                    raise UnsupportedAtomError(f"'{label}': a sum of terms of different shapes "
                                               f"({a.shape} in {expr.shape})")
                out += self._separable(a, coef, w, label)
            return out
        if expr.is_affine():
            # w @ affine, or sum(affine): a linear term
            arg = self.affine.compile(expr)
            if w is None:
                return [Piece(F.Linear(1.0), arg, coef, label)]
            return [self._built(F.Linear, [w], arg, coef, label)]
        if isinstance(expr, unary_operators.NegExpression):
            return self._separable(expr.args[0], coef.times(Coef(-1.0)), w, label)
        if isinstance(expr, cpsum.Sum) and expr.axis is not None:
            return self._separable(expr.args[0], coef, self._spread(expr, w), label)
        if isinstance(expr, AxisAtom) and expr.axis is not None and expr.args[0].ndim > 1:
            return self._per_block(expr, coef, w, label)
        if expr.size > 1 and not _is_elementwise(expr):
            raise _not_in_table(expr, label)
        if not _is_elementwise(expr):
            return self._atom_weighted(expr, coef, w, label)
        c, w = _fold(w)
        coef = coef.times(c)
        if isinstance(expr, cp_abs):
            z = self._arg(expr.args[0], expr.shape)
            if w is None:
                return [self._piece(F.L1Norm(), z, coef, label)]
            return [self._built(F.L1Norm, [w], z, coef, label)]
        if isinstance(expr, Power):
            return self._power(expr, coef, w, label)
        if isinstance(expr, cp_exp):
            z = self._arg(expr.args[0], expr.shape)
            if w is not None:
                # w_i exp(z_i) = exp(z_i + log w_i): a weight is an offset
                logw = w.map(lambda v: np.log(_positive(v, f"exp with weights needs positive weights "
                                                            f"(drop the zero-weight entries) in '{label}'")))
                z = z.plus(AffineMap(z.shape, {}, logw.source if logw.live else logw.value))
            return [self._piece(F.Exp(), z, coef, label)]
        if isinstance(expr, huber):
            return [self._huber(expr, coef, w, label)]
        if isinstance(expr, logistic):
            z = self._arg(expr.args[0], expr.shape)
            if w is None:
                return [self._piece(F.Logistic(), z, coef, label)]
            return [self._built(F.WeightedLogistic, [w], z, coef, label)]
        if isinstance(expr, entr):
            return self._entr(expr, coef, w, label)
        if isinstance(expr, cp_log):
            z = self._arg(expr.args[0], expr.shape)
            if w is None:
                return [self._piece(F.NegLog(), z, coef.times(Coef(-1.0)), label, concave=True)]
            w = w.map(lambda v: _positive(v, f"log with weights needs positive weights in '{label}'"))
            return [self._built(F.NegLog, [w], z, coef.times(Coef(-1.0)), label, concave=True)]
        if isinstance(expr, (kl_div, rel_entr)):
            return self._kl(expr, coef, w, label, rel=isinstance(expr, rel_entr))
        if isinstance(expr, (maximum, minimum)):
            return self._max_min(expr, coef, w, label, is_max=isinstance(expr, maximum))
        raise _not_in_table(expr, label)

    # -- atom handlers -------------------------------------------------------------------------
    def _atom_weighted(self, expr, coef, w, label) -> list[Piece]:
        """A scalar whole-vector atom under a weight (a size-1 w) from the separable walk."""
        c, w = _fold(w)
        if w is not None:
            raise UnsupportedAtomError(f"'{label}': a Parameter weight on '{user_name(expr)}'; "
                                       f"use a scalar Parameter coefficient instead")
        return self._atom(expr, coef.times(c))

    def _per_block(self, expr, coef, w, label) -> list[Piece]:
        """norm1 / norm2 / norm_inf / max / min / log_sum_exp along an axis, summed: one
        function over the argument's blocks (each block made contiguous)."""
        from cvxpy.atoms.log_sum_exp import log_sum_exp
        from cvxpy.atoms.max import max as cp_max
        from cvxpy.atoms.min import min as cp_min
        from cvxpy.atoms.norm1 import norm1
        from cvxpy.atoms.norm_inf import norm_inf
        from cvxpy.atoms.pnorm import Pnorm

        name = user_name(expr)
        z, g = self._blocks(expr, label)
        c, w = _fold(w)
        coef = coef.times(c)
        wide = None if w is None else w.map(lambda v: np.repeat(v, g))   # one weight per block entry
        if isinstance(expr, norm1):
            if wide is None:
                return [self._piece(F.L1Norm(), z, coef, label)]
            return [self._built(F.L1Norm, [wide], z, coef, label)]
        if isinstance(expr, log_sum_exp):
            if w is not None:
                raise UnsupportedAtomError(f"'{label}': log_sum_exp along an axis with non-uniform or "
                                           f"Parameter weights is not in the table (it is not positively "
                                           f"homogeneous); use one scalar coefficient")
            return [self._piece(F.LogSumExp(g), z, coef, label)]
        if isinstance(expr, Pnorm) and float(expr.original_p) == 2:
            f = F.GroupL2Norm(g)
        elif isinstance(expr, norm_inf):
            f = F.GroupLInfNorm(g)
        elif isinstance(expr, (cp_max, cp_min)):
            f = F.MaxEntry(g)
        else:
            raise UnsupportedAtomError(f"'{name}' with axis= is not in the table (in '{label}'): along an axis "
                                       f"solvelab takes norm1, norm2, norm_inf, max, min and log_sum_exp; "
                                       f"write a sum of {name} of slices")
        if wide is not None:   # w_j f(u_j) = f(w_j u_j) for these positively homogeneous f
            z = self._scale_rows(z, wide)
        return [self._concave_or_convex(f, expr, z, coef, label)]

    def _concave_or_convex(self, f, expr, z, coef, label) -> Piece:
        """max / log_sum_exp as they are; min(u) = -max(-u), concave."""
        from cvxpy.atoms.min import min as cp_min
        if isinstance(expr, cp_min):
            return self._piece(f, z.scaled(-1.0), coef.times(Coef(-1.0)), label, concave=True)
        return self._piece(f, z, coef, label)

    def _norm_of_atoms(self, expr, coef, label) -> list[Piece]:
        """norm1 of nonnegative atoms is their sum (mixed_norm(X, p, 1)); other norms of
        atoms are refused."""
        from cvxpy.atoms.norm1 import norm1
        from cvxpy.atoms.pnorm import Pnorm
        inner = expr.args[0]
        one = isinstance(expr, norm1) or (isinstance(expr, Pnorm) and float(expr.original_p) == 1)
        if one and inner.is_nonneg() and inner.is_convex():
            return self._separable(inner, coef, None, label)
        raise UnsupportedAtomError(f"'{user_name(expr)}' of the non-affine '{_short(inner)}' is not in the table "
                                   f"(in '{label}'): of a vector of norms only the sum (mixed_norm(X, p, 1), "
                                   f"sum(norm(X, p, axis=...))) is supported")

    def _power(self, expr, coef, w, label) -> list[Piece]:
        p = _power_p(expr, label)
        if p == 2 and _is_whole_norm2(expr.args[0]):
            # norm2(u)**2 (pnorm(u, 2)**2, norm(u, 'fro')**2, square(norm(u))) is sum_squares(u)
            if w is not None:
                raise UnsupportedAtomError(f"'{label}': a Parameter weight on the square of a norm; use a "
                                           f"scalar Parameter coefficient on sum_squares(...) instead")
            return [self._piece(F.SumSquares(), self._arg(expr.args[0].args[0]), coef, label)]
        if not expr.args[0].is_affine() and self._hinge_arg(expr.args[0]) is None:
            raise UnsupportedAtomError(f"power/square of '{_short(expr.args[0])}' in '{label}': it takes an "
                                       f"affine argument, pos(u)**2 or norm2(u)**2, and this one is not affine")
        hinge = self._hinge_arg(expr.args[0]) if p == 2 else None
        z = self._arg(expr.args[0], expr.shape) if hinge is None else hinge
        if p == 2:
            f = F.SumSquares() if hinge is None else F.SquaredHinge()
            if w is not None:  # w_i g(z_i)^2 = g(sqrt(w_i) z_i)^2 for g = identity or max(., 0), w >= 0
                z = self._scale_rows(z, w.map(np.sqrt))
            return [self._piece(f, z, coef, label)]
        if w is not None:     # w x^p = (w^(1/p) x)^p with w > 0 keeps the domain
            wp = w.map(lambda v: _positive(v, f"power with weights needs positive weights in '{label}'") ** (1.0 / p))
            z = self._scale_rows(z, wp)
        concave = 0 < p < 1
        return [self._piece(F.Power(p), z, coef.times(Coef(-1.0 if concave else 1.0)), label, concave=concave)]

    def _huber(self, expr, coef, w, label) -> Piece:
        """huber(z, M); w_i huber(z_i, M) = huber(sqrt(w_i) z_i, sqrt(w_i) M)."""
        z = self._arg(expr.args[0], expr.shape)
        M = self._data(expr.M, (), lambda v: _nonneg(v, f"huber needs M >= 0 in '{label}'"))
        if w is None:
            if not M.live:
                return self._piece(F.Huber(float(M.value[0])), z, coef, label)
            return self._built(lambda m: F.Huber(float(m[0])), [M], z, coef, label)
        root = w.map(np.sqrt)
        z = self._scale_rows(z, root)
        return self._built(F.WeightedHuber, [Data.combine(lambda r, m: r * m[0], root, M)], z, coef, label)

    def _entr(self, expr, coef, w, label) -> list[Piece]:
        """entr is concave: -entr = neg_entropy. Weighted: w z log z = (w z) log (w z) - (w log w) z."""
        z = self._arg(expr.args[0], expr.shape)
        neg = coef.times(Coef(-1.0))
        if w is None:
            return [self._piece(F.NegEntropy(), z, neg, label, concave=True)]
        w = w.map(lambda v: _positive(v, f"entr with weights needs positive weights (a zero weight would drop "
                                         f"the domain z >= 0) in '{label}'"))
        return [self._piece(F.NegEntropy(), self._scale_rows(z, w), neg, label, concave=True),
                self._built(F.Linear, [w.map(lambda v: v * np.log(v))], z, coef, label)]

    def _kl(self, expr, coef, w, label, rel: bool) -> list[Piece]:
        """kl_div(z, c) = z log(z/c) - z + c; rel_entr(z, c) = kl_div(z, c) + z - c; c constant
        > 0. Weighted: w kl_div(z, c) = kl_div(w z, w c)."""
        name = "rel_entr" if rel else "kl_div"
        x, y = expr.args
        if not y.is_constant():
            raise UnsupportedAtomError(f"{name} with a variable second argument is not in the table "
                                       f"('{label}'); write {name}(u, c) with c a constant or Parameter")
        c = self._data(y, expr.shape, lambda v: _positive(v, f"{name} needs a positive second argument in '{label}'"))
        z = self._arg(x, expr.shape)
        if w is not None:
            w = w.map(lambda v: _positive(v, f"{name} with weights needs positive weights in '{label}'"))
            z, c = self._scale_rows(z, w), Data.combine(np.multiply, c, w)
        pieces = [self._built(F.KLDiv, [c], z, coef, label)]
        if rel:  # + sum(w z) - sum(w c)
            pieces.append(Piece(F.Linear(1.0), self._total(x, expr.shape, w), coef, label))
            total_c = AffineMap((), {}, (lambda: np.array([-np.sum(c.current())])) if c.live
                                else np.array([-np.sum(c.value)]))
            pieces.append(Piece(None, total_c, coef, label))
        return pieces

    def _max_min(self, expr, coef, w, label, is_max: bool) -> list[Piece]:
        """maximum(a, b) = b + pos(a - b) and minimum(a, b) = b - pos(b - a) (b the constant
        argument if there is one); three or more arguments: the per-entry max of the stacked
        arguments (min(a, ...) = -max(-a, ...))."""
        args = list(expr.args)
        shape = expr.shape
        sign = 1.0 if is_max else -1.0
        if len(args) == 2:
            a, b = (args[1], args[0]) if args[0].is_constant() else args
            z = self._arg(a, shape).plus(self._arg(b, shape).scaled(-1.0)).scaled(sign)   # sign (a - b)
            if w is not None:   # w_i pos(z_i) = pos(w_i z_i)
                z = self._scale_rows(z, w)
            pos = self._piece(F.Pos(), z, coef.times(Coef(sign)), label, concave=not is_max)
            rest = self._total(b, shape, w)
            return [pos, Piece(None if b.is_constant() else F.Linear(1.0), rest, coef, label)]
        k = len(args)
        parts = [self._arg(a, shape).scaled(sign) for a in args]
        n = parts[0].size
        z = _concat(parts).gather(np.arange(n * k).reshape(k, n).T.ravel(), (n * k,))   # entry i's k values together
        if w is not None:
            z = self._scale_rows(z, w.map(lambda v: np.repeat(v, k)))
        return [self._piece(F.MaxEntry(k), z, coef.times(Coef(sign)), label, concave=not is_max)]

    def _quad_form(self, expr, coef, label) -> Piece:
        """x^T P x = ||R x||^2 with R^T R = P; a Parameter P keeps a full-size root (its rank
        may change) and is re-checked for symmetry and PSD on every read."""
        x, P = expr.args
        if not P.is_constant():
            raise UnsupportedAtomError(f"quad_form needs a constant or Parameter matrix ('{label}')")
        live = self.affine.is_parametric(P)
        if live:
            root = L.MatrixOperator(source=lambda: _psd_root(self.affine.constant_value(P), label, full=True))
            self.affine.refreshable.append(root)
        else:
            root = L.MatrixOperator(_psd_root(self.affine.constant_value(P), label))
        return self._piece(F.SumSquares(), _left_live(self._arg(x), root, (root.shape[0],), live), coef, label)

    def _geo_mean(self, expr, coef, label) -> Piece:
        if expr.axis is not None and expr.args[0].ndim > 1:
            raise UnsupportedAtomError(f"geo_mean with axis= is not in the table ('{label}'); "
                                       f"write a sum of geo_mean of slices")
        keep = np.flatnonzero(np.asarray(getattr(expr, "_keep", np.ones(expr.args[0].size, dtype=bool))).ravel())
        z = self._arg(expr.args[0]).gather(keep, (keep.size,))
        w = np.array([float(v) for v in expr.w])
        return self._piece(F.NegGeoMean(w), z, coef.times(Coef(-1.0)), label, concave=True)

    # -- helpers -----------------------------------------------------------------------------
    def _arg(self, expr, shape=None) -> AffineMap:
        """The affine map of ``expr`` (broadcast to ``shape`` when given)."""
        m = self.affine.compile(expr)
        return m if shape is None else self.affine._broadcast(m, expr.shape, shape)

    def _blocks(self, expr, label):
        """(the argument with each reduced block contiguous, the block length)."""
        a = expr.args[0]
        shape = _shape2(a.shape)
        axis = expr.axis
        if len(shape) != 2 or not isinstance(axis, (int, np.integer)):
            raise UnsupportedAtomError(f"'{user_name(expr)}' over axis {axis!r} of a {len(shape)}-D argument "
                                       f"('{label}'): only one axis of a matrix is supported")
        z = self.affine.compile(a)
        if axis % 2 == 0:
            return z, shape[0]          # columns are contiguous in F order
        return z.gather(flat(index_array(shape).T), (z.size,)), shape[1]

    def _spread(self, expr, w: Data | None) -> Data | None:
        """Weights on sum(U, axis) as weights on the entries of U (U a matrix)."""
        if w is None:
            return None
        rows, cols = np.indices(_shape2(expr.args[0].shape))
        idx = flat(cols if expr.axis % 2 == 0 else rows)   # the output each entry is summed into
        return w.map(lambda v: v[idx])

    def _weights(self, const, shape, label) -> Data:
        """A nonnegative weight vector (flat, F order, broadcast to ``shape``)."""
        def read():
            v = flat(np.broadcast_to(_dense(self.affine.constant_value(const)), _shape2(shape)))
            if np.any(v < 0):
                raise NonConvexError(f"'{label}' weights a convex atom with negative entries: not convex")
            return v.astype(np.float64)
        return Data(read(), read if self.affine.is_parametric(const) else None)

    def _matrix_weights(self, expr, w, label):
        """(atom, weights) for C @ atom(u) under weights w: sum_i w_i (C f)_i = (C^T w) . f,
        which needs C^T w >= 0."""
        C, f = expr.args
        if not C.is_constant() or f.is_constant() or f.ndim != 1 or C.ndim != 2:
            raise UnsupportedAtomError(f"'{label}': a nonlinear atom in a product is supported as C @ atom(u) "
                                       f"with a constant matrix C on the left; write w @ atom(u) or C @ atom(u)")
        Cd = Data(_dense(self.affine.constant_value(C)))
        if self.affine.is_parametric(C):
            Cd.source = lambda: _dense(self.affine.constant_value(C))
        outer = w if w is not None else Data(np.ones(C.shape[0]))

        def fold(Cv, wv):
            v = Cv.T @ wv
            if np.any(v < 0):
                raise NonConvexError(f"'{label}': the matrix gives the convex atom negative weights: not convex")
            return v
        return {"expr": f, "w": Data.combine(fold, Cd, outer)}

    def _data(self, expr, shape, check) -> Data:
        """The value of a constant expression (flat, broadcast), checked by ``check``."""
        def read():
            return check(flat(np.broadcast_to(_dense(self.affine.constant_value(expr)), _shape2(shape))))
        return Data(read(), read if self.affine.is_parametric(expr) else None)

    def _positive_coef(self, expr, what, label) -> Coef:
        c = _scalar_coef(self.affine, expr)
        # the message is formatted only on failure: the label prints the user's expression,
        # data included (5 ms on a9a's Lasso, paid at every compile and refresh before)
        check = lambda v: float(_positive(np.array([v]), lambda: f"{what} ('{label}')")[0])  # noqa: E731
        if c.source is None:
            return Coef(check(c.value))
        src = c.source
        return Coef(check(c.value), lambda: check(src()))

    def _scale_rows(self, z: AffineMap, w: Data) -> AffineMap:
        """diag(w) z."""
        return _left_live(z, self._diag(w), z.shape, w.live)

    def _diag(self, w: Data) -> L.LinearOperator:
        if not w.live:
            return L.DiagonalOperator(w.value)
        op = L.DiagonalOperator(source=w.current)
        self.affine.refreshable.append(op)
        return op

    def _total(self, expr, shape, w: Data | None) -> AffineMap:
        """sum_i w_i expr_i (w None: plain sum) as a scalar affine map."""
        z = self._arg(expr, shape)
        if w is not None:
            z = self._scale_rows(z, w)
        return z.left(L.ReduceSumOperator(z.size, 1, None), ())

    def _hinge_arg(self, expr):
        """The affine map z with expr = max(z, 0) (CVXPY's ``pos(z)`` is ``maximum(z, 0)``),
        or None when expr is not such a hinge."""
        from cvxpy.atoms.elementwise.maximum import maximum
        if isinstance(expr, maximum) and len(expr.args) == 2:
            a, b = expr.args
            var, const = (a, b) if b.is_constant() else (b, a)
            if const.is_constant() and not const.parameters() and var.is_affine():
                if np.all(_dense(self.affine.constant_value(const)) == 0):
                    return self._arg(var, expr.shape)
        return None

    def _piece(self, f, arg, coef, label, concave=False) -> Piece:
        piece = Piece(f, arg, coef, label, concave)
        check_sign(piece)
        return piece

    def _built(self, build, data: list[Data], arg, coef, label, concave=False) -> Piece:
        """Piece(build(*data)), rebuilt from the data's sources when any is live."""
        piece = self._piece(build(*[d.value for d in data]), arg, coef, label, concave)
        if any(d.live for d in data):
            piece.f_source = lambda: tuple(d.current() for d in data)
            piece.f_build = lambda values: build(*values)
        return piece


def _left_live(z: AffineMap, op, shape, live: bool) -> AffineMap:
    """op z; when op follows Parameters its offset is re-read through op as well
    (``AffineMap.left`` maps a fixed offset once)."""
    out = z.left(op, shape)
    if live and z.offset is not None:
        off, size = z.offset, z.size
        out.offset = lambda: op.matvec(eval_offset(off, size))
    return out


def _not_in_table(expr, label) -> UnsupportedAtomError:
    return UnsupportedAtomError(f"atom '{user_name(expr)}' is not in solvelab's atom table (in '{label}'). "
                                f"Supported: {SUPPORTED}")


def _fold(w: Data | None):
    """(coefficient, remaining weights): fixed uniform weights fold into the coefficient."""
    if w is not None and w.uniform():
        return Coef(float(w.value.ravel()[0])), None
    return Coef(1.0), w


def _positive(v, what) -> np.ndarray:
    """v, checked > 0; ``what`` (a string, or a callable making it) names it in the error."""
    v = np.asarray(v, dtype=np.float64)
    if np.any(~(v > 0)):
        raise InvalidDataError(f"{what() if callable(what) else what}; got min {np.min(v):g}")
    return v


def _nonneg(v, what) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if np.any(~(v >= 0)):
        raise InvalidDataError(f"{what}; got min {np.min(v):g}")
    return v


def _pnorm_function(expr, label) -> F.Function:
    p = float(expr.original_p)
    if p == 2:
        return F.L2Norm()
    if p == 1:
        return F.L1Norm()
    if np.isinf(p):
        return F.LInfNorm()
    if p > 1:
        return F.PNorm(p)
    raise UnsupportedAtomError(f"pnorm with p = {p:g} < 1 is concave and not in solvelab's atom table "
                               f"(in '{label}'); supported: p >= 1 (for a concave mean use geo_mean)")


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


def _psd_root(P, label, full: bool = False) -> np.ndarray:
    """R with R^T R = P for a symmetric PSD P (so x^T P x = ||R x||^2); ``full`` keeps
    every eigenvector (a fixed shape for a Parameter whose rank may change)."""
    P = P.toarray() if sp.issparse(P) else np.atleast_2d(np.asarray(P, dtype=np.float64))
    if not np.allclose(P, P.T, atol=1e-10 * max(1.0, np.abs(P).max())):
        raise NonConvexError(f"quad_form matrix is not symmetric ('{label}')")
    vals, vecs = np.linalg.eigh(0.5 * (P + P.T))
    if vals.size and vals.min() < -1e-9 * max(1.0, vals.max()):
        raise NonConvexError(f"quad_form matrix is not positive semidefinite (min eigenvalue "
                             f"{vals.min():.3g}) in '{label}'")
    keep = np.ones(vals.size, dtype=bool) if full else vals > 1e-14 * max(1.0, vals.max(initial=0.0))
    return (vecs[:, keep] * np.sqrt(np.maximum(vals[keep], 0.0))).T


def _is_whole_norm2(expr) -> bool:
    """norm2 / pnorm(., 2) / the Frobenius norm of its whole argument (no axis)."""
    from cvxpy.atoms.pnorm import Pnorm
    return isinstance(expr, Pnorm) and expr.axis is None and float(getattr(expr, "original_p", expr.p)) == 2


def _power_p(expr, label) -> float:
    """The exponent as the user wrote it (CVXPY's rational approximation is its own)."""
    p = getattr(expr, "_p_orig", None)
    if p is None:
        p = expr.p
    if hasattr(p, "parameters") and p.parameters():
        raise UnsupportedAtomError(f"power with a Parameter exponent is not supported ('{label}'); "
                                   f"the exponent must be a number")
    return float(np.asarray(getattr(p, "value", p), dtype=np.float64).ravel()[0])
