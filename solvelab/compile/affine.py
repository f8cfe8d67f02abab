"""Affine CVXPY sub-trees -> matrix-free linear maps plus an offset, in one walk.

An ``AffineMap`` of an expression with m entries (F-order flattened) is
``sum_v  op_v x_v + offset``, one ``LinearOperator`` per variable it touches.

Every pure rearrangement (indexing of any kind, transpose, reshape, stacking, diag,
upper_tri, broadcasting) becomes a gather found by running the atom's own CVXPY
``numeric`` on arrays of entry numbers, so the compiler never re-implements CVXPY's
indexing rules (its normalized slice keys, for one, do not mean what they mean in NumPy).
The other linear atoms have one operator each: sums, cumsum, trace, kron, convolve, and
``@`` / ``multiply`` by constants. ``_TABLE`` lists them; any other atom is refused with
its CVXPY name.

Constants that depend on Parameters stay live: offsets become callables and matrices
become ``MatrixOperator(source=...)`` (or another operator with a ``source``), so a new
Parameter value needs no recompile. The walk is memoized on node identity, so shared
sub-trees cost once: linear time.
"""
from __future__ import annotations

import functools
import importlib
import re
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


def _follows_parameters(op, _seen=None) -> bool:
    """Whether a linear operator (or one inside it) re-reads a Parameter on refresh."""
    seen = _seen if _seen is not None else set()
    if id(op) in seen:
        return False
    seen.add(id(op))
    if getattr(op, "_source", None) is not None:
        return True
    for v in vars(op).values() if hasattr(op, "__dict__") else ():
        items = v if isinstance(v, (list, tuple)) else (v,)
        for item in items:
            item = item[1] if isinstance(item, tuple) and len(item) == 2 else item
            if isinstance(item, L.LinearOperator) and _follows_parameters(item, seen):
                return True
    return False


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
        if self.offset is not None and not callable(self.offset) and _follows_parameters(op):
            fixed = self.offset  # a fixed offset through a Parameter operator changes with it
            off = lambda: op.matvec(fixed)  # noqa: E731
        else:
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
        """Output entry i is entry idx[i] of this map (0 where idx[i] == -1)."""
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if np.array_equal(idx, np.arange(self.size)):
            return AffineMap(_shape2(shape), self.blocks, self.offset)
        return self.left(L.gather(idx, self.size), shape)


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
        handler = _handler(type(expr))
        if handler is None:
            raise UnsupportedAtomError(_refusal(expr))
        return getattr(self, handler)(expr, shape)

    # -- atoms: one method each, named in _TABLE -------------------------------------------
    def _add(self, expr, shape) -> AffineMap:
        """a + b + ...: each term broadcast to the sum's shape, as NumPy does."""
        out = None
        for a in expr.args:
            m = self._broadcast(self.compile(a), a.shape, shape)
            out = m if out is None else out.plus(m)
        return out

    def _neg(self, expr, shape) -> AffineMap:
        """-a."""
        return self.compile(expr.args[0]).scaled(-1.0)

    def _divide(self, expr, shape) -> AffineMap:
        """a / c, c constant: a diagonal scaling by 1 / c."""
        num, den = expr.args
        if not den.is_constant():
            raise UnsupportedAtomError(f"division by a non-constant in '{_short(expr)}'")
        inner = self._broadcast(self.compile(num), num.shape, shape)
        return self._elementwise(inner, den, shape, invert=True)

    def _select(self, expr, shape) -> AffineMap:
        """Pure rearrangements (indexing, transpose, reshape, stacking, diag, upper_tri,
        broadcasting, wraps): CVXPY's own ``numeric`` applied to 1-based entry numbers of
        the arguments tells which argument entry each output entry is (0: a structural
        zero), so CVXPY's indexing rules are never re-implemented here."""
        args = expr.args
        starts = np.cumsum([0] + [_size(_shape2(a.shape)) for a in args])
        numbered = [index_array(_shape2(a.shape)).astype(np.float64) + 1 + s for a, s in zip(args, starts)]
        picked = np.asarray(expr.numeric(numbered), dtype=np.float64)
        _check_same_layout(picked.shape, shape, expr)
        idx = flat(picked)
        if not np.array_equal(idx, np.rint(idx)) or idx.min(initial=0) < 0 or idx.max(initial=0) > starts[-1]:
            raise UnsupportedAtomError(f"internal: '{_user_name(expr)}' is not a pure rearrangement "
                                       f"(in '{_short(expr)}')")
        parts = [self.compile(a) for a in args]
        source = parts[0] if len(parts) == 1 else _concat(parts)
        return source.gather(idx.astype(np.int64) - 1, shape)

    def _sum(self, expr, shape) -> AffineMap:
        """cp.sum over everything, an axis or a tuple of axes (keepdims only shapes it)."""
        a = expr.args[0]
        ashape = _shape2(a.shape)
        axes = None if expr.axis is None or not ashape else _axes(expr.axis, len(ashape))
        return self._sum_axes(self.compile(a), ashape, axes, shape)

    def _sum_axes(self, inner: AffineMap, ashape: tuple, axes, shape) -> AffineMap:
        """Sum of an F-ordered array over ``axes`` (None: all): a ``ReduceSumOperator``,
        after a transposing gather when the summed axes are neither leading nor trailing."""
        nd = len(ashape)
        if axes is None or len(axes) == nd:
            return inner.left(L.ReduceSumOperator(inner.size, 1, None), shape)
        if not axes:
            return AffineMap(shape, inner.blocks, inner.offset)
        keep = tuple(i for i in range(nd) if i not in axes)
        if axes != tuple(range(len(axes))) and axes != tuple(range(nd - len(axes), nd)):
            perm = axes + keep
            inner = inner.gather(flat(np.transpose(index_array(ashape), perm)), tuple(ashape[i] for i in perm))
            ashape, axes = tuple(ashape[i] for i in perm), tuple(range(len(axes)))
        summed = _size(tuple(ashape[i] for i in axes))
        if axes[0] == 0:
            return inner.left(L.ReduceSumOperator(summed, inner.size // summed, 0), shape)
        return inner.left(L.ReduceSumOperator(inner.size // summed, summed, 1), shape)

    def _cumsum(self, expr, shape) -> AffineMap:
        """cp.cumsum: axis=None flattens in C order first, as numpy.cumsum does."""
        a = expr.args[0]
        ashape = _shape2(a.shape)
        inner = self.compile(a)
        if not ashape:
            return AffineMap(shape, inner.blocks, inner.offset)
        if expr.axis is None:
            inner = inner.gather(np.ravel(index_array(ashape), order="C"), (inner.size,))
            ashape, axis = (inner.size,), 0
        else:
            axis = _axes(expr.axis, len(ashape))[0]
        return inner.left(L.CumsumOperator(ashape, axis), shape)

    def _trace(self, expr, shape) -> AffineMap:
        """cp.trace (batched over leading axes): gather the diagonals, sum the last axis."""
        a = expr.args[0]
        ashape = _shape2(a.shape)
        diag = np.diagonal(index_array(ashape), axis1=-2, axis2=-1)
        inner = self.compile(a).gather(flat(diag), diag.shape)
        return self._sum_axes(inner, diag.shape, (diag.ndim - 1,), shape)

    def _kron(self, expr, shape) -> AffineMap:
        """cp.kron with one constant side: a ``KronOperator`` (no Kronecker matrix formed)."""
        a, b = expr.args
        const_first = a.is_constant()
        const, var = (a, b) if const_first else (b, a)
        if var.ndim != 2 or const.ndim != 2:
            raise UnsupportedAtomError(f"cp.kron needs two 2-D arguments (in '{_short(expr)}'); "
                                       f"reshape a vector to a column or a row first")
        op = L.KronOperator(self._matrix_operator(const), _shape2(var.shape), const_first)
        return self.compile(var).left(op, shape)

    def _convolve(self, expr, shape) -> AffineMap:
        """cp.convolve / cp.conv (constant kernel first, as CVXPY requires)."""
        c, x = expr.args
        kernel = self._matrix_operator(c, transform=lambda M: _dense_flat(M).reshape(1, -1))
        return self.compile(x).left(L.ConvolveOperator(kernel, x.size), shape)

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
        if not self.is_parametric(const) and not np.any(_dense_flat(self.constant_value(const))):
            # 0 * f(x): CVXPY calls it affine whatever f is (e.g. 0 * sum_squares(x)); it is 0
            return AffineMap(shape, {}, np.zeros(_size(shape)))
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
        """``@`` with one constant side (dense, sparse or Parameter); a scalar side is a
        product, an N-D side a batched matmul."""
        a, b = expr.args
        if a.ndim == 0 or b.ndim == 0:
            return self._multiply(expr, shape)
        if a.is_constant() == b.is_constant():
            raise UnsupportedAtomError(f"'{_short(expr)}' multiplies two non-constant expressions")
        if max(a.ndim, b.ndim) > 2:
            return self._batched_matmul(expr, shape)
        if a.is_constant():
            inner = self.compile(b)
            bs = _shape2(b.shape)
            op = self._matrix_operator(a)          # (m x n) or a 1-D row
            if len(bs) <= 1:
                return inner.left(op, shape)
            return inner.left(L.MatMulOperator(op, "left", bs[1]), shape)
        inner = self.compile(a)
        as_ = _shape2(a.shape)
        if len(as_) <= 1:   # x (n,) @ C (n,k) = C^T x
            op = self._matrix_operator(b, transform=lambda M: M.T if M.ndim == 2 and M.shape[0] == as_[0] else M)
            return inner.left(op, shape)
        # X (m x n) @ C: a 1-D C is a column (n x 1)
        col = len(_shape2(b.shape)) == 1
        op = self._matrix_operator(b, transform=(lambda M: M.reshape(-1, 1)) if col else None)
        return inner.left(L.MatMulOperator(op, "right", as_[0]), shape)

    def _batched_matmul(self, expr, shape) -> AffineMap:
        """N-D ``@``: CVXPY has already broadcast both sides to one batch shape."""
        a, b = expr.args
        const, var, side = (a, b, "left") if a.is_constant() else (b, a, "right")
        if const.ndim < 2 or var.ndim < 2:
            raise UnsupportedAtomError(f"'@' of a 1-D and an N-D expression (in '{_short(expr)}'); "
                                       f"reshape the vector to a row or a column first")

        def values():
            c = self.constant_value(const)
            return c.toarray() if sp.issparse(c) else c

        if self.is_parametric(const):
            op = L.BatchMatMulOperator(side=side, var_shape=_shape2(var.shape), source=values)
            self.refreshable.append(op)
        else:
            op = L.BatchMatMulOperator(values(), side, _shape2(var.shape))
        return self.compile(var).left(op, shape)


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


# ---------------------------------------------------------------------------------------
# The atom table
# ---------------------------------------------------------------------------------------

#: (module under cvxpy.atoms.affine, class, AffineCompiler method). A class missing from
#: the installed CVXPY is skipped; subclasses find their parent's entry (``_handler``).
_TABLE = (
    ("add_expr", "AddExpression", "_add"),
    ("unary_operators", "NegExpression", "_neg"),
    ("binary_operators", "multiply", "_multiply"),
    ("binary_operators", "DivExpression", "_divide"),
    ("binary_operators", "MulExpression", "_matmul"),
    ("sum", "Sum", "_sum"),
    ("cumsum", "cumsum", "_cumsum"),
    ("trace", "Trace", "_trace"),
    ("kron", "kron", "_kron"),
    ("conv", "conv", "_convolve"),
    ("conv", "convolve", "_convolve"),
    # pure rearrangements: CVXPY's numeric on entry numbers says where each entry goes
    ("index", "index", "_select"),
    ("index", "special_index", "_select"),
    ("transpose", "transpose", "_select"),
    ("reshape", "reshape", "_select"),
    ("broadcast_to", "broadcast_to", "_select"),
    ("promote", "Promote", "_select"),
    ("hstack", "Hstack", "_select"),
    ("vstack", "Vstack", "_select"),
    ("concatenate", "Concatenate", "_select"),
    ("diag", "diag_vec", "_select"),
    ("diag", "diag_mat", "_select"),
    ("upper_tri", "upper_tri", "_select"),
    ("wraps", "Wrap", "_select"),          # psd_wrap, symmetric_wrap, ...: the identity
    ("conj", "conj", "_select"),           # real expressions only reach here (see
    ("real", "real", "_select"),           # constant_value and the variable checks):
    ("imag", "imag", "_select"),           # conj/real are the identity, imag is zero
)

#: what a user wrote, for CVXPY classes whose name is not the function's
_USER_NAMES = {
    "AddExpression": "+", "NegExpression": "unary -", "multiply": "cp.multiply (or * by a constant)",
    "DivExpression": "/", "MulExpression": "@", "Sum": "cp.sum", "Trace": "cp.trace",
    "index": "indexing x[...]", "special_index": "indexing x[...] by an array or mask",
    "transpose": "cp.transpose (or .T, cp.permute_dims, cp.swapaxes, cp.moveaxis)",
    "reshape": "cp.reshape (or cp.vec, cp.squeeze)", "Promote": "broadcasting a scalar",
    "Hstack": "cp.hstack", "Vstack": "cp.vstack", "Concatenate": "cp.concatenate (or cp.stack)",
    "diag_vec": "cp.diag of a vector", "diag_mat": "cp.diag of a matrix",
}


@functools.lru_cache(maxsize=None)
def _handler_table() -> dict:
    """CVXPY class -> method name, built on first use (cvxpy is imported lazily)."""
    table = {}
    for module, cls, method in _TABLE:
        try:
            mod = importlib.import_module(f"cvxpy.atoms.affine.{module}")
        except ModuleNotFoundError:
            continue  # an older CVXPY without this atom: nothing can reach it
        if hasattr(mod, cls):
            table[getattr(mod, cls)] = method
    return table


def _handler(cls) -> str | None:
    """The method compiling atoms of ``cls`` (or of its nearest listed parent)."""
    table = _handler_table()
    return next((table[k] for k in cls.__mro__ if k in table), None)


def _user_name(expr) -> str:
    name = type(expr).__name__
    return _USER_NAMES.get(name, f"cp.{name}")


def _refusal(expr) -> str:
    return (f"'{_user_name(expr)}' (in '{_short(expr)}') is an affine CVXPY atom that solvelab does not "
            f"compile; write it with the atoms it compiles exactly: indexing, reshape/vec, transpose, "
            f"hstack/vstack/concatenate/bmat, sum, cumsum, diff, diag, trace, upper_tri, multiply, "
            f"@ / kron / convolve with a constant; or solve the cvxpy.Problem with CVXPY itself")


def _axes(axis, ndim: int) -> tuple:
    """CVXPY's axis argument (an int or a tuple, possibly negative) as sorted axes."""
    axis = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(sorted({int(a) % ndim for a in axis}))


def _check_same_layout(got: tuple, want: tuple, expr) -> None:
    """Shapes that differ only by unit axes flatten (F order) identically."""
    if [d for d in got if d != 1] != [d for d in want if d != 1]:
        raise ShapeError(f"internal: '{_user_name(expr)}' gave shape {got}, CVXPY says {want} "
                         f"(in '{_short(expr)}')")


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


_INTERNAL = ((re.compile(r"\bPnormApprox\("), "pnorm("), (re.compile(r"\bGeoMeanApprox\("), "geo_mean("),
             (re.compile(r"\bPowerApprox\("), "power("), (re.compile(r"\bSum\("), "sum("),
             (re.compile(r", None, False\)"), ")"))


def _one_line(expr, limit: int) -> str:
    """The expression on one line as the user would write it (CVXPY prints some atoms by
    their class: PnormApprox(x, 3), Sum(x, None, False)), cut to ``limit`` characters."""
    s = " ".join(str(expr).split())
    for pattern, repl in _INTERNAL:
        s = pattern.sub(repl, s)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _short(expr, limit: int = 80) -> LazyText:
    """The expression as the user wrote it, on one line, made when shown."""
    return LazyText(lambda: _one_line(expr, limit))
