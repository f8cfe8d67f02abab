"""CVXPY constraints and variable attributes -> indicator terms.

    affine == 0                 ZeroSet
    affine <= 0 (or >=)         NonPos, or a bound when the affine part is ±(a selection of one
                                variable); a constant side with ±inf entries (or a Parameter one)
                                is a Box with no bound at the infinite entries
    norm2(u) <= t               SOC over [t; u]; with axis=, one cone per block (SOCProduct)
    norm1(u) <= t               L1Cone over [t; u]
    norm_inf(u) <= t            LInfCone over [t; u]
    sum_squares(u) <= t         SOC over [t + 1; t - 1; 2u]   (||u||^2 <= t, exact);
      quad_over_lin(u, y) <= t  SOC over [t + y; t - y; 2u]; quad_form(x, P) <= t with u = R x
    abs / pos / maximum / max (u) <= t, t <= min / minimum (u)   the affine inequalities they mean
    c * atom + affine <= rhs    atom <= (rhs - affine) / c (c > 0 constant), one cone per row
                                when a scalar atom faces a vector side
    cp.SOC(t, X, axis)          SOC, or SOCProduct for a vector t
    nonneg / nonpos / bounds attributes   bounds (Parameters in ``bounds`` stay live)

Bounds on the same variable are merged into one ``Box`` term per variable (the
``BoundsPass``), which keeps the ``Composite`` form available to first-order backends.
Conflicting fixed bounds (lo > hi) are left as separate inequalities so a backend can
certify infeasibility instead of the compiler raising; bounds that follow Parameters
are one live Box, and an empty one is refused when it is read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InvalidDataError, NonConvexError, UnsupportedAtomError
from ..ir import functions as F
from ..ir import linop as L
from .affine import AffineCompiler, AffineMap, LazyText, _concat, _shape2, flat, index_array
from .atoms import _short

INF = float("inf")

SUPPORTED = ("affine (in)equalities, norm2 / norm1 / norm_inf(u) <= t, norm(X, 2, axis=...) <= t, "
             "sum_squares / quad_over_lin / quad_form(u) <= t, abs / pos / maximum / max(u) <= t, "
             "t <= minimum / min(u), cp.SOC")


@dataclass
class ConstraintPiece:
    """f(arg) as one constraint term; ``f_source`` / ``f_build`` rebuild f from Parameter
    data; ``direct`` says the term is the CVXPY constraint itself (not a lowering), so
    that constraint's multipliers are the term's dual."""
    f: F.Function
    arg: AffineMap
    label: str
    f_source: Callable[[], tuple] | None = None
    f_build: Callable[[tuple], F.Function] | None = None
    direct: bool = True


def compile_constraint(affine: AffineCompiler, c, label=None) -> list[ConstraintPiece]:
    from cvxpy.constraints import SOC, Equality, Inequality, NonNeg, NonPos, Zero

    label = label if label is not None else _short(c)
    if not c.is_dcp():
        raise NonConvexError(f"constraint '{label}' is not convex (DCP)")
    if isinstance(c, (Equality, Zero)):
        expr = c.expr
        if not expr.is_affine():
            raise NonConvexError(f"equality constraint '{label}' is not affine")
        return [ConstraintPiece(F.ZeroSet(), affine.compile(expr), label)]
    if isinstance(c, (Inequality, NonPos, NonNeg)):
        if isinstance(c, Inequality):
            lhs, rhs = c.args
        elif isinstance(c, NonPos):
            lhs, rhs = c.args[0], None
        else:  # NonNeg: expr >= 0
            lhs, rhs = None, c.args[0]
        if (lhs is None or lhs.is_affine()) and (rhs is None or rhs.is_affine()):
            return [_affine_inequality(affine, c, lhs, rhs, label)]
        if lhs is not None and rhs is not None:
            above = lambda a, m, tt, lb: _concave_above(a, tt, m, lb)  # noqa: E731 - t <= atom
            if not lhs.is_affine() and rhs.is_affine():
                atom, t, flip = _isolate(lhs, rhs, label)
                return _rowwise(affine, atom, t, label, above if flip else _convex_below)
            if lhs.is_affine() and not rhs.is_affine():
                atom, t, flip = _isolate(rhs, lhs, label)
                return _rowwise(affine, atom, t, label, _convex_below if flip else above)
        raise UnsupportedAtomError(f"constraint '{label}' is not in solvelab's table; supported: {SUPPORTED}")
    if isinstance(c, SOC):
        return [_soc_constraint(affine, c, label)]
    raise UnsupportedAtomError(f"constraint type '{type(c).__name__}' is not supported ('{label}'); "
                               f"supported: {SUPPORTED}")


# ---------------------------------------------------------------------------------------
# affine inequalities
# ---------------------------------------------------------------------------------------

def _affine_inequality(affine, c, lhs, rhs, label) -> ConstraintPiece:
    """lhs <= rhs. A side that is a constant with infinite entries, or a Parameter
    (which may take them later), gives a Box with no bound where it is infinite."""
    for const, other, upper in ((rhs, lhs, True), (lhs, rhs, False)):
        if const is not None and other is not None and const.is_constant() and not other.is_constant():
            if affine.is_parametric(const) or not np.all(np.isfinite(_value(affine, const))):
                return _bound_piece(affine, other, const, _shape2(c.expr.shape), upper, label)
    expr = c.expr if lhs is not None and rhs is not None else (lhs if lhs is not None else -rhs)
    return ConstraintPiece(F.NonPos(), affine.compile(expr), label)


def _value(affine, expr) -> np.ndarray:
    val = affine.constant_value(expr, check=False)
    return np.asarray(val.toarray() if hasattr(val, "toarray") else val, dtype=np.float64)


def bound_array(val, shape, upper: bool, label) -> np.ndarray:
    """A bound as a flat array broadcast to ``shape``: ±inf means no bound there; NaN, or
    the infinity no point can satisfy (x <= -inf, x >= +inf), is refused."""
    v = flat(np.broadcast_to(np.asarray(val, dtype=np.float64), _shape2(shape))).astype(np.float64)
    impossible = -INF if upper else INF
    if np.any(np.isnan(v)):
        raise InvalidDataError(f"the bound in '{label}' contains NaN")
    if np.any(v == impossible):
        raise InvalidDataError(f"'{label}' can never hold: a bound entry is {impossible}")
    return v


def _bound_piece(affine, other, const, shape, upper, label) -> ConstraintPiece:
    """other <= const (upper) or other >= const, as a Box on other - const_finite."""
    z = affine._broadcast(affine.compile(other), other.shape, shape)

    def read():
        v = bound_array(_value(affine, const), shape, upper, label)
        free = np.isinf(v)
        return np.where(free, 0.0, v), np.where(free, INF if upper else -INF, 0.0)

    def build(edge):
        return F.Box(-INF, edge) if upper else F.Box(edge, INF)
    finite, edge = read()
    if affine.is_parametric(const):
        arg = z.plus(AffineMap(z.shape, {}, lambda: -read()[0]))
        return ConstraintPiece(build(edge), arg, label, lambda: (read()[1],), lambda d: build(d[0]), direct=False)
    return ConstraintPiece(build(edge), z.plus(AffineMap(z.shape, {}, -finite)), label, direct=False)


# ---------------------------------------------------------------------------------------
# convex atom <= affine, affine <= concave atom
# ---------------------------------------------------------------------------------------

def _convex_below(affine, atom, t, label) -> list[ConstraintPiece]:
    from cvxpy.atoms.elementwise.abs import abs as cp_abs
    from cvxpy.atoms.elementwise.maximum import maximum
    from cvxpy.atoms.max import max as cp_max
    from cvxpy.atoms.norm1 import norm1
    from cvxpy.atoms.norm_inf import norm_inf
    from cvxpy.atoms.pnorm import Pnorm

    u = atom.args[0] if atom.args else None
    if isinstance(atom, (Pnorm, norm1, norm_inf)) and u.is_affine():
        p = 1.0 if isinstance(atom, norm1) else INF if isinstance(atom, norm_inf) else float(atom.original_p)
        axis = atom.axis if u.ndim > 1 else None
        if p == 2 and axis is not None:
            return [_soc_blocks(affine, t, u, axis, label)]
        if axis is not None:
            raise UnsupportedAtomError(f"'{label}': a norm with axis= in a constraint is supported for "
                                       f"norm2 only; write one constraint per column or row")
        cone = {1.0: F.L1Cone, 2.0: F.SOC, INF: F.LInfCone}.get(p)
        if cone is None:
            raise UnsupportedAtomError(f"'{label}': pnorm(u, {p:g}) <= t is not in the table; supported in "
                                       f"constraints: p = 1, 2, inf")
        return [ConstraintPiece(cone(), _stack(affine, [t, u]), label,
                                direct=(p == 2))]
    square = _squared_norm(affine, atom, label)
    if square is not None:
        (u_map, y), = [square]
        # ||u||^2 <= t y  <=>  ||(2u, t - y)||_2 <= t + y  (y > 0; y = 0 forces u = 0, t >= 0)
        tm = affine._broadcast(affine.compile(t), t.shape, ())
        ym = AffineMap((), {}, np.ones(1)) if y is None else affine.compile(y)
        parts = [tm.plus(ym), tm.plus(ym.scaled(-1.0)), u_map.scaled(2.0)]
        return [ConstraintPiece(F.SOC(), _concat([AffineMap((p.size,), p.blocks, p.offset) for p in parts]),
                                label, direct=False)]
    if isinstance(atom, cp_abs):       # |u| <= t  <=>  -t <= u <= t
        return _each(affine, [u <= t, -t <= u], label)
    if isinstance(atom, maximum):      # max(a, b, ...) <= t  <=>  a <= t, b <= t, ...
        return _each(affine, [a <= t for a in atom.args], label)
    if isinstance(atom, cp_max) and (atom.axis is None or t.size == 1):
        return _each(affine, [u <= t], label)
    raise UnsupportedAtomError(f"constraint '{label}': '{_atom_name(atom)}' <= t is not in solvelab's table; "
                               f"supported: {SUPPORTED}")


def _isolate(side, other, label):
    """(atom, t, flipped): ``side <= other`` (or ``>=``) is ``atom <= t`` (``>=``), the other
    way round when ``flipped``. The affine summands of ``side`` move to the other side and
    a constant scalar factor divides out (a negative one flips the inequality), so
    ``A x + rho * norm1(x) <= b`` is ``norm1(x) <= (b - A x) / rho``."""
    from cvxpy.atoms.affine import add_expr, binary_operators as bo, unary_operators
    from cvxpy.atoms.affine.promote import Promote

    summands = list(side.args) if isinstance(side, add_expr.AddExpression) else [side]
    rest = [a for a in summands if a.is_affine()]
    curved = [a for a in summands if not a.is_affine()]
    if len(curved) != 1:
        raise UnsupportedAtomError(f"constraint '{label}': {len(curved)} non-affine terms on one side; a "
                                   f"constraint takes one atom plus affine terms (give each atom its own "
                                   f"epigraph variable: s1 + s2 <= t, atom1 <= s1, atom2 <= s2)")
    atom, c = curved[0], 1.0
    while True:
        if isinstance(atom, Promote):
            atom = atom.args[0]
        elif isinstance(atom, unary_operators.NegExpression):
            c, atom = -c, atom.args[0]
        elif isinstance(atom, (bo.multiply, bo.MulExpression)) and any(
                a.is_constant() and a.size == 1 for a in atom.args):
            k, atom = (atom.args[0], atom.args[1]) if atom.args[0].is_constant() else (atom.args[1], atom.args[0])
            c *= _nonzero_scalar(k, label)
        elif isinstance(atom, bo.DivExpression) and atom.args[1].is_constant() and atom.args[1].size == 1:
            c /= _nonzero_scalar(atom.args[1], label)
            atom = atom.args[0]
        else:
            break
    t = other
    for a in rest:
        t = t - a
    return atom, (t / c if c != 1.0 else t), c < 0


def _nonzero_scalar(k, label) -> float:
    if k.parameters():
        raise UnsupportedAtomError(f"constraint '{label}': a Parameter factor on the atom; divide the "
                                   f"other side by it instead")
    v = float(np.asarray(k.value, dtype=np.float64))
    if not np.isfinite(v) or v == 0:
        raise InvalidDataError(f"constraint '{label}': the factor {v:g} on the atom must be nonzero and finite")
    return v


def _rowwise(affine, atom, t, label, lower) -> list[ConstraintPiece]:
    """``lower(affine, atom, t, label)``, once per entry of t when a scalar atom faces a
    vector side (one cone per row: a_i x + rho ||x||_1 <= b_i)."""
    if atom.size == 1 and t.size > 1:
        from cvxpy.atoms.affine.reshape import reshape
        tv = reshape(t, (t.size,), order="F")
        cone = _norm_cone_product(atom) if lower is _convex_below else None
        if cone is not None:   # one term, a cone per row: [t_1..t_k, u, ..., u]
            return [ConstraintPiece(cone(t.size), _stack(affine, [tv, atom.args[0]], repeat_last=t.size), label,
                                    direct=False)]
        out = []
        for i in range(t.size):
            for piece in lower(affine, atom, tv[i], label):
                piece.direct = False
                out.append(piece)
        return out
    return lower(affine, atom, t, label)


def _norm_cone_product(atom):
    """The cone-product class for norm1 / norm2 / norm_inf of an affine argument, else None."""
    from cvxpy.atoms.norm1 import norm1
    from cvxpy.atoms.norm_inf import norm_inf
    from cvxpy.atoms.pnorm import Pnorm
    if not atom.args or not atom.args[0].is_affine() or getattr(atom, "axis", None) is not None:
        return None
    if isinstance(atom, norm1):
        return F.L1ConeProduct
    if isinstance(atom, norm_inf):
        return F.LInfConeProduct
    if isinstance(atom, Pnorm) and float(atom.original_p) == 2:
        return F.SOCProduct
    return None


def _concave_above(affine, t, atom, label) -> list[ConstraintPiece]:
    from cvxpy.atoms.elementwise.minimum import minimum
    from cvxpy.atoms.min import min as cp_min
    if isinstance(atom, minimum):      # t <= min(a, b, ...)  <=>  t <= a, t <= b, ...
        return _each(affine, [t <= a for a in atom.args], label)
    if isinstance(atom, cp_min) and (atom.axis is None or t.size == 1):
        return _each(affine, [t <= atom.args[0]], label)
    raise UnsupportedAtomError(f"constraint '{label}': t <= '{_atom_name(atom)}' is not in solvelab's table; "
                               f"supported: {SUPPORTED}")


def _squared_norm(affine, atom, label):
    """(affine map u, denominator y or None) when atom is ||u||^2 / y: sum_squares,
    quad_over_lin with a constant y, quad_form(x, P) (u = R x), sum(square(u))."""
    from cvxpy.atoms.affine.sum import Sum
    from cvxpy.atoms.elementwise.power import Power
    from cvxpy.atoms.quad_form import QuadForm
    from cvxpy.atoms.quad_over_lin import quad_over_lin
    from .atoms import Coef, ObjectiveCompiler, _power_p

    if isinstance(atom, quad_over_lin):
        u, y = atom.args
        if not y.is_constant():
            raise UnsupportedAtomError(f"'{label}': quad_over_lin(u, y) <= t needs a constant y")
        if not u.is_affine():
            raise UnsupportedAtomError(f"'{label}': sum_squares of the non-affine '{_short(u)}' in a "
                                       f"constraint is not in the table")
        return affine.compile(u), y
    if isinstance(atom, QuadForm):
        return ObjectiveCompiler(affine)._quad_form(atom, Coef(1.0), label).arg, None
    inner = atom.args[0] if isinstance(atom, Sum) and atom.axis is None else atom if atom.size == 1 else None
    if isinstance(inner, Power) and inner.args[0].is_affine() and _power_p(inner, label) == 2:
        return affine.compile(inner.args[0]), None
    return None


def _each(affine, constraints, label) -> list[ConstraintPiece]:
    """The pieces of several constraints standing for one (none of them is it)."""
    out = []
    for c in constraints:
        for piece in compile_constraint(affine, c, label):
            piece.direct = False
            out.append(piece)
    return out


def _atom_name(expr) -> str:
    from .atoms import user_name
    return user_name(expr)


def _stack(affine, exprs, repeat_last: int = 1) -> AffineMap:
    """[e_1; e_2; ...] flattened, as one affine map; the last expression ``repeat_last``
    times (compiled once)."""
    maps = [affine.compile(e) for e in exprs]
    maps += [maps[-1]] * (repeat_last - 1)
    return _concat([AffineMap((m.size,), m.blocks, m.offset) for m in maps])


# ---------------------------------------------------------------------------------------
# second-order cones
# ---------------------------------------------------------------------------------------

def _soc_blocks(affine, t, X, axis, label) -> ConstraintPiece:
    """||X_j||_2 <= t_j for each block j along ``axis`` (axis 0: columns, 1: rows)."""
    shape = _shape2(X.shape)
    if len(shape) != 2:
        raise UnsupportedAtomError(f"'{label}': a second-order cone over a {len(shape)}-D argument")
    axis %= 2
    count = shape[1] if axis == 0 else shape[0]
    xm = affine.compile(X)
    if axis == 1:   # rows contiguous
        xm = xm.gather(flat(index_array(shape).T), (xm.size,))
    tm = affine._broadcast(affine.compile(t), t.shape, (count,)) if t.size == 1 else affine.compile(t)
    if tm.size != count:
        raise UnsupportedAtomError(f"'{label}': {count} cones but t has {tm.size} entries")
    stacked = _concat([AffineMap((count,), tm.blocks, tm.offset), AffineMap((xm.size,), xm.blocks, xm.offset)])
    return ConstraintPiece(F.SOCProduct(count), stacked, label, direct=False)


def _soc_constraint(affine, c, label) -> ConstraintPiece:
    t, X = c.args[0], c.args[1]
    if t.size == 1:
        return ConstraintPiece(F.SOC(), _stack(affine, [t, X]), label)
    if X.ndim == 1:
        raise UnsupportedAtomError(f"constraint '{label}': a vector t with a 1-D X")
    return _soc_blocks(affine, t, X, getattr(c, "axis", 0), label)


# ---------------------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------------------

def as_scaled_selection(op: L.LinearOperator):
    """(alpha, idx) if op == alpha * (selection of distinct entries), else None."""
    alpha = 1.0
    while isinstance(op, L.ScaledOperator):
        alpha *= op.alpha
        op = op.A
    if op.is_identity():
        return alpha, np.arange(op.shape[1])
    if isinstance(op, L.GatherOperator) and op.is_selection():
        return alpha, op.idx
    return None


def _interval(f):
    """(lo, hi) of the set of a NonPos or Box function."""
    if isinstance(f, F.NonPos):
        return -INF, 0.0
    return f.lo, f.hi


class BoundsPass:
    """Collects lo <= x[idx] <= hi facts per variable and emits one Box per variable.
    Fixed facts are merged now; facts that follow Parameters (``live``) are re-read, with
    the fixed ones, into one Box at every solve."""

    def __init__(self, var_sizes: dict):
        self.lo = {k: np.full(n, -INF) for k, n in var_sizes.items()}
        self.hi = {k: np.full(n, INF) for k, n in var_sizes.items()}
        self.labels: dict = {}
        self.live: dict = {}

    def try_absorb(self, piece: ConstraintPiece) -> bool:
        """Take ``piece`` if it is a bound on one variable; return True if taken."""
        if not isinstance(piece.f, (F.NonPos, F.Box)) or len(piece.arg.blocks) != 1:
            return False
        (key, op), = piece.arg.blocks.items()
        sel = as_scaled_selection(op)
        if sel is None or sel[0] == 0:
            return False
        alpha, idx = sel
        n = self.lo[key].size

        def read():   # lo_z <= alpha x[idx] + off <= hi_z
            f = piece.f if piece.f_source is None else piece.f_build(piece.f_source())
            lo_z, hi_z = _interval(f)
            off = piece.arg.offset_value()
            a, b = (np.broadcast_to(lo_z, off.shape) - off) / alpha, (np.broadcast_to(hi_z, off.shape) - off) / alpha
            lo, hi = np.full(n, -INF), np.full(n, INF)
            np.maximum.at(lo, idx, np.minimum(a, b))
            np.minimum.at(hi, idx, np.maximum(a, b))
            return lo, hi
        self.labels.setdefault(key, []).append(piece.label)
        if callable(piece.arg.offset) or piece.f_source is not None:
            self.live.setdefault(key, []).append(read)
            return True
        lo, hi = read()
        lo, hi = np.maximum(self.lo[key], lo), np.minimum(self.hi[key], hi)
        if np.any(lo > hi):
            self.labels[key].pop()
            return False  # conflicting: keep as a plain inequality, let the backend certify
        self.lo[key], self.hi[key] = lo, hi
        return True

    def add_attribute(self, key, lo=None, hi=None, label="", read=None):
        """Fixed attribute bounds ``lo`` / ``hi`` (arrays or None), and ``read()`` -> (lo, hi)
        for the ones that follow Parameters."""
        if lo is not None:
            self.lo[key] = np.maximum(self.lo[key], lo)
        if hi is not None:
            self.hi[key] = np.minimum(self.hi[key], hi)
        if read is not None:
            self.live.setdefault(key, []).append(read)
        self.labels.setdefault(key, []).append(label)

    def boxes(self):
        """Yield (key, f, label, source, build) for each variable with a bound; ``source``
        and ``build`` are None unless the bounds follow Parameters; f None marks fixed
        bounds that conflict."""
        for key in self.lo:
            lo, hi = self.lo[key], self.hi[key]
            label = LazyText.join("; ", self.labels.get(key, []))
            reads = self.live.get(key)
            if reads:
                yield (key, *self._live_box(lo, hi, reads, label))
                continue
            if np.all(np.isinf(lo)) and np.all(np.isinf(hi)):
                continue
            if np.any(lo > hi):
                yield key, None, label, None, None
                continue
            if np.all(np.isinf(hi)) and np.all(lo == 0):
                f = F.NonNeg()
            elif np.all(np.isinf(lo)) and np.all(hi == 0):
                f = F.NonPos()
            else:
                f = F.Box(_compact(lo), _compact(hi))
            yield key, f, label, None, None

    @staticmethod
    def _live_box(lo, hi, reads, label):
        def source():
            a, b = lo.copy(), hi.copy()
            for read in reads:
                rl, rh = read()
                a, b = np.maximum(a, rl), np.minimum(b, rh)
            return a, b

        def build(data):
            a, b = data
            if np.any(a > b):
                i = int(np.argmax(a > b))
                raise InvalidDataError(f"the bounds {label} are empty at entry {i} "
                                       f"(lower {a[i]:g} > upper {b[i]:g})")
            return F.Box(a, b)
        data = source()
        return build(data), label, source, build


def _compact(a: np.ndarray):
    return float(a[0]) if a.size and np.all(a == a[0]) else a
