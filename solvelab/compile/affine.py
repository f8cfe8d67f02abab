"""Affine CVXPY sub-trees -> matrix-free linear maps plus an offset, in one walk.

An ``AffineMap`` of an expression with m entries (F-order flattened) is
``sum_v  op_v x_v + offset``, one ``LinearOperator`` per variable it touches. Every
rearranging atom (index, transpose, reshape, hstack/vstack, promote, broadcast) becomes
a ``GatherOperator`` computed by applying the same NumPy operation to an array of entry
indices, so the compiler never re-implements CVXPY's indexing rules.

Constants that depend on Parameters stay live: offsets become callables and matrices
become ``MatrixOperator(source=...)``, so a new Parameter value needs no recompile.
The walk is memoized on node identity, so shared sub-trees cost once: linear time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError, ShapeError, UnsupportedAtomError
from ..ir import linop as L

Offset = object  # None (zero), ndarray (fixed) or a callable returning an ndarray


def _shape2(shape: tuple) -> tuple:
    return tuple(shape) if len(shape) else ()


def _size(shape) -> int:
    return int(np.prod(shape)) if len(shape) else 1


def eval_offset(off, m: int) -> np.ndarray:
    if off is None:
        return np.zeros(m)
    if callable(off):
        return np.asarray(off(), dtype=np.float64).ravel()
    return off


def _add_offsets(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if callable(a) or callable(b):
        return lambda: _call(a) + _call(b)
    return a + b


def _call(o):
    return o() if callable(o) else o


def _map_offset(o, fn: Callable[[np.ndarray], np.ndarray]):
    if o is None:
        return None
    if callable(o):
        return lambda: fn(o())
    return fn(o)


@dataclass
class AffineMap:
    shape: tuple
    blocks: dict = field(default_factory=dict)   # var id -> LinearOperator (m x var.size)
    offset: Offset = None

    @property
    def size(self) -> int:
        return _size(self.shape)

    def is_constant(self) -> bool:
        return not self.blocks

    def offset_value(self) -> np.ndarray:
        return eval_offset(self.offset, self.size)

    # -- algebra ---------------------------------------------------------------------
    def left(self, op: L.LinearOperator, shape: tuple) -> "AffineMap":
        """op applied to this map's output."""
        blocks = {k: L.compose(op, v) for k, v in self.blocks.items()}
        off = _map_offset(self.offset, op.matvec)
        return AffineMap(_shape2(shape), blocks, off)

    def plus(self, other: "AffineMap") -> "AffineMap":
        if other.size != self.size:
            raise ShapeError(f"cannot add affine expressions of shapes {self.shape} and {other.shape}")
        blocks = dict(self.blocks)
        for k, v in other.blocks.items():
            blocks[k] = L.add(blocks[k], v) if k in blocks else v
        return AffineMap(self.shape, blocks, _add_offsets(self.offset, other.offset))

    def scaled(self, alpha: float) -> "AffineMap":
        return AffineMap(self.shape, {k: L.scale(v, alpha) for k, v in self.blocks.items()},
                         _map_offset(self.offset, lambda o: alpha * o))

    def gather(self, idx: np.ndarray, shape: tuple) -> "AffineMap":
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if np.array_equal(idx, np.arange(self.size)):
            return AffineMap(_shape2(shape), self.blocks, self.offset)
        return self.left(L.GatherOperator(idx, self.size), shape)


def index_array(shape: tuple) -> np.ndarray:
    """Entry numbers of an array of this shape in F order (what CVXPY flattens to)."""
    return np.arange(_size(shape)).reshape(shape, order="F") if len(shape) else np.arange(1).reshape(())


def flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).ravel(order="F")


class AffineCompiler:
    """Walks affine CVXPY expressions. ``var_info`` maps variable id -> size."""

    def __init__(self, var_sizes: dict, refreshable: list):
        self.var_sizes = var_sizes
        self.refreshable = refreshable  # operators following Parameters
        self._memo: dict = {}

    # -- constants ---------------------------------------------------------------------
    def constant_value(self, expr, check=True):
        """The numeric value of a constant sub-tree (dense ndarray or sparse matrix)."""
        val = expr.value
        if val is None:
            names = ", ".join(p.name() for p in expr.parameters()) or str(expr)
            raise InvalidDataError(f"the Parameter(s) {names} in '{_short(expr)}' have no value; "
                                   f"set .value before solving")
        if 0 in np.shape(val):
            raise InvalidDataError(f"the constant in '{_short(expr)}' is empty (shape {np.shape(val)})")
        if sp.issparse(val):
            if check and val.nnz and not np.all(np.isfinite(val.data)):
                raise InvalidDataError(f"the constant in '{_short(expr)}' contains NaN or Inf")
            return val
        arr = np.asarray(val)
        if arr.dtype.kind not in "biuf":
            raise InvalidDataError(f"the constant in '{_short(expr)}' has dtype {arr.dtype}; "
                                   f"solvelab needs real numbers")
        arr = arr.astype(np.float64, copy=False)
        if check and not np.all(np.isfinite(arr)):
            raise InvalidDataError(f"the constant in '{_short(expr)}' contains NaN or Inf")
        return arr

    def constant_source(self, expr):
        """A callable re-reading a parametric constant (checked each time)."""
        return lambda: self.constant_value(expr)

    def is_parametric(self, expr) -> bool:
        return bool(expr.parameters())

    # -- the walk ----------------------------------------------------------------------------
    def compile(self, expr) -> AffineMap:
        key = id(expr)
        hit = self._memo.get(key)
        if hit is not None and hit[0] is expr:
            return hit[1]
        out = self._compile(expr)
        if out.size != _size(expr.shape):
            raise ShapeError(f"internal: compiled size {out.size} != {expr.shape} for '{_short(expr)}'")
        self._memo[key] = (expr, out)
        return out

    def _compile(self, expr) -> AffineMap:
        import cvxpy as cp
        from cvxpy.atoms.affine import (add_expr, binary_operators as bo, hstack, index,
                                        promote, reshape, sum as cpsum, transpose, unary_operators,
                                        vstack)
        from cvxpy.expressions.variable import Variable

        shape = _shape2(expr.shape)
        if _size(shape) == 0:
            raise InvalidDataError(f"'{_short(expr)}' is empty (shape {expr.shape})")
        if isinstance(expr, Variable):
            n = self.var_sizes[expr.id]
            return AffineMap(shape, {expr.id: L.IdentityOperator(n)}, None)
        if expr.is_constant():
            if self.is_parametric(expr):
                src = self.constant_source(expr)
                src()  # fail now, with a clear message, if a value is missing or bad
                return AffineMap(shape, {}, lambda: _dense_flat(src()))
            return AffineMap(shape, {}, _dense_flat(self.constant_value(expr)))
        if not expr.is_affine():
            raise UnsupportedAtomError(f"'{_short(expr)}' is not affine, but appears where "
                                       f"solvelab needs an affine argument")
        args = expr.args
        if isinstance(expr, add_expr.AddExpression):
            out = None
            for a in args:
                m = self._broadcast(self.compile(a), a.shape, shape)
                out = m if out is None else out.plus(m)
            return out
        if isinstance(expr, unary_operators.NegExpression):
            return self.compile(args[0]).scaled(-1.0)
        if isinstance(expr, bo.multiply):
            return self._multiply(expr, shape)
        if isinstance(expr, bo.DivExpression):
            num, den = args
            if not den.is_constant():
                raise UnsupportedAtomError(f"division by a non-constant in '{_short(expr)}'")
            inner = self._broadcast(self.compile(num), num.shape, shape)
            return self._elementwise(inner, den, shape, invert=True)
        if isinstance(expr, bo.MulExpression):
            return self._matmul(expr, shape)
        if isinstance(expr, promote.Promote):
            inner = self.compile(args[0])
            return inner.gather(np.zeros(_size(shape), dtype=np.int64), shape)
        if isinstance(expr, cpsum.Sum):
            return self._sum(expr, shape)
        if isinstance(expr, (index.index, index.special_index)):
            a = args[0]
            sel = index_array(_shape2(a.shape))[expr.key]
            return self.compile(a).gather(flat(sel), shape)
        if isinstance(expr, transpose.transpose):
            a = args[0]
            axes = getattr(expr, "axes", None)
            sel = np.transpose(index_array(_shape2(a.shape)), axes)
            return self.compile(a).gather(flat(sel), shape)
        if isinstance(expr, reshape.reshape):
            a = args[0]
            order = getattr(expr, "order", "F")
            sel = np.reshape(index_array(_shape2(a.shape)), shape, order=order)
            return self.compile(a).gather(flat(sel), shape)
        if isinstance(expr, (hstack.Hstack, vstack.Vstack)):
            return self._stack(expr, shape, np.hstack if isinstance(expr, hstack.Hstack) else np.vstack)
        if isinstance(expr, cp.atoms.affine.concatenate.Concatenate) if hasattr(cp.atoms.affine, "concatenate") else False:
            return self._stack(expr, shape, lambda arrs: np.concatenate(arrs, axis=expr.axis))
        raise UnsupportedAtomError(f"affine atom '{type(expr).__name__}' is not in solvelab's table "
                                   f"(in '{_short(expr)}')")

    # -- pieces ------------------------------------------------------------------------------
    def _broadcast(self, m: AffineMap, from_shape, to_shape) -> AffineMap:
        from_shape, to_shape = _shape2(from_shape), _shape2(to_shape)
        if from_shape == to_shape:
            return m
        sel = np.broadcast_to(index_array(from_shape), to_shape)
        return m.gather(flat(sel), to_shape)

    def _elementwise(self, inner: AffineMap, const_expr, shape, invert=False) -> AffineMap:
        """inner * c (or inner / c) with the constant broadcast to ``shape``."""
        size = _size(shape)

        def values():
            c = self.constant_value(const_expr)
            c = c.toarray() if sp.issparse(c) else c
            c = np.broadcast_to(c, shape) if len(shape) else np.asarray(c).reshape(())
            c = flat(c).astype(np.float64)
            if invert:
                if np.any(c == 0):
                    raise InvalidDataError(f"division by zero in '{_short(const_expr)}'")
                c = 1.0 / c
            return c

        d = values()
        if self.is_parametric(const_expr):
            op = L.DiagonalOperator(source=values)
            self.refreshable.append(op)
            return inner.left(op, shape)
        if size and np.all(d == d[0]):
            return inner.scaled(float(d[0]))
        return inner.left(L.DiagonalOperator(d), shape)

    def _multiply(self, expr, shape) -> AffineMap:
        a, b = expr.args
        if a.is_constant() and not b.is_constant():
            const, var = a, b
        elif b.is_constant() and not a.is_constant():
            const, var = b, a
        else:
            raise UnsupportedAtomError(f"'{_short(expr)}' multiplies two non-constant expressions")
        inner = self._broadcast(self.compile(var), var.shape, shape)
        return self._elementwise(inner, const, shape)

    def _matrix_operator(self, const_expr, transform=None) -> L.MatrixOperator:
        def get():
            M = self.constant_value(const_expr)
            if transform is not None:
                return transform(M)
            if not sp.issparse(M):
                M = np.atleast_2d(M) if M.ndim < 2 else M
            return M
        if self.is_parametric(const_expr):
            op = L.MatrixOperator(source=get)
            self.refreshable.append(op)
            return op
        return L.MatrixOperator(get())

    def _matmul(self, expr, shape) -> AffineMap:
        a, b = expr.args
        if a.is_constant() and not b.is_constant():
            inner = self.compile(b)
            bs = _shape2(b.shape)
            if len(bs) <= 1:
                op = self._matrix_operator(a)          # (m x n) or a 1-D row
                return inner.left(op, shape)
            op = self._matrix_operator(a)
            return inner.left(L.MatMulOperator(op, "left", bs[1]), shape)
        if b.is_constant() and not a.is_constant():
            inner = self.compile(a)
            as_ = _shape2(a.shape)
            if len(as_) <= 1:   # x (n,) @ C (n,k) = C^T x
                op = self._matrix_operator(b, transform=lambda M: M.T if M.ndim == 2 and M.shape[0] == as_[0] else M)
                return inner.left(op, shape)
            # X (m x n) @ C: a 1-D C is a column (n x 1)
            col = len(_shape2(b.shape)) == 1
            op = self._matrix_operator(b, transform=(lambda M: M.reshape(-1, 1)) if col else None)
            return inner.left(L.MatMulOperator(op, "right", as_[0]), shape)
        raise UnsupportedAtomError(f"'{_short(expr)}' multiplies two non-constant expressions")

    def _sum(self, expr, shape) -> AffineMap:
        a = expr.args[0]
        ashape = _shape2(a.shape)
        inner = self.compile(a)
        axis = expr.axis
        if axis is None or len(ashape) <= 1:
            return inner.left(L.ReduceSumOperator(inner.size, 1, None), shape)
        if len(ashape) != 2:
            raise UnsupportedAtomError(f"sum over an axis of a {len(ashape)}-D expression ('{_short(expr)}')")
        axis = axis % 2
        return inner.left(L.ReduceSumOperator(ashape[0], ashape[1], axis), shape)

    def _stack(self, expr, shape, combine) -> AffineMap:
        parts = [self.compile(a) for a in expr.args]
        offsets = np.cumsum([0] + [p.size for p in parts])
        idx_arrays = [index_array(_shape2(a.shape)) + o for a, o in zip(expr.args, offsets[:-1])]
        sel = combine(idx_arrays)
        stacked = _concat(parts)
        return stacked.gather(flat(sel), shape)


def _concat(parts: list[AffineMap]) -> AffineMap:
    """Concatenate the outputs of several affine maps."""
    total = sum(p.size for p in parts)
    keys = []
    for p in parts:
        for k in p.blocks:
            if k not in keys:
                keys.append(k)
    blocks = {}
    for k in keys:
        ops = []
        n = next(p.blocks[k].shape[1] for p in parts if k in p.blocks)
        for p in parts:
            ops.append(p.blocks.get(k, L.ZeroOperator((p.size, n))))
        blocks[k] = L.VStackOperator(ops)
    if any(callable(p.offset) for p in parts):
        offs = [p.offset for p in parts]
        sizes = [p.size for p in parts]
        offset = lambda: np.concatenate([eval_offset(o, s) for o, s in zip(offs, sizes)])  # noqa: E731
    elif all(p.offset is None for p in parts):
        offset = None
    else:
        offset = np.concatenate([eval_offset(p.offset, p.size) for p in parts])
    return AffineMap((total,), blocks, offset)


def _dense_flat(val) -> np.ndarray:
    if sp.issparse(val):
        val = val.toarray()
    return flat(np.asarray(val, dtype=np.float64))


class LazyText:
    """Text made when first shown (labels of compiled terms): printing a CVXPY expression
    prints its constant matrices, which costs more than compiling a small model, and most
    labels are never shown. Formats, compares and joins (``LazyText.join``) like a str."""
    __slots__ = ("_make", "_text", "_nonempty")

    def __init__(self, make, nonempty: bool = True):
        self._make, self._text, self._nonempty = make, None, nonempty

    @staticmethod
    def join(sep: str, parts) -> "LazyText":
        parts = list(parts)
        return LazyText(lambda: sep.join(str(p) for p in parts), nonempty=bool(parts))

    def __str__(self) -> str:
        if self._text is None:
            self._text, self._make = str(self._make()), None
        return self._text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return repr(str(self))

    def __bool__(self) -> bool:
        return self._nonempty  # without making the text

    def __len__(self) -> int:
        return len(str(self))

    def __eq__(self, other) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)


def _one_line(expr, limit: int) -> str:
    s = " ".join(str(expr).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _short(expr, limit: int = 80) -> LazyText:
    """The expression as text on one line, cut to ``limit`` characters, made when shown."""
    return LazyText(lambda: _one_line(expr, limit))
