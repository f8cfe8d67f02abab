"""compile(objective, constraints) -> Program: one walk, no CVXPY canonicalization.

The flat variable vector stacks the problem's variables in CVXPY's order, each
flattened in F order. Every term is ``weight * f(A x - b)`` with ``A`` a
``BlockRowOperator`` over the variables it reads, so no matrix is ever stuffed.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError, NonConvexError, ShapeError, UnsupportedAtomError
from ..ir import functions as F
from ..ir import linop as L
from ..ir.program import Program, Term, VariableInfo
from .affine import AffineCompiler, AffineMap, _short, eval_offset
from .atoms import Coef, ObjectiveCompiler, Piece, check_sign
from .constraints import BoundsPass, bound_array, compile_constraint

INF = float("inf")


def compile_problem(objective, constraints=(), source=None) -> Program:
    """Compile a CVXPY objective and constraint list into an IR ``Program``."""
    import cvxpy as cp

    if not isinstance(objective, (cp.Minimize, cp.Maximize)):
        raise TypeError(f"objective must be cvxpy.Minimize or cvxpy.Maximize, got {type(objective).__name__}")
    constraints = list(constraints or [])
    for c in constraints:
        if not isinstance(c, cp.constraints.constraint.Constraint):
            raise TypeError(f"constraints must be CVXPY constraints; got {type(c).__name__} ({c!r:.60}). "
                            f"A Python bool here usually means a comparison of two constants.")
    sense_max = isinstance(objective, cp.Maximize)
    expr = objective.args[0]
    if expr.size != 1:
        raise ShapeError(f"the objective must be scalar; '{_short(expr)}' has shape {expr.shape}")
    if not objective.is_dcp():
        what = "concave" if sense_max else "convex"
        raise NonConvexError(f"the objective '{_short(expr)}' is not {what} (it fails CVXPY's DCP rules); "
                             f"convex backends cannot take it")
    if source is None:
        source = cp.Problem(objective, constraints)
    variables = source.variables()
    infos, sizes, n = [], {}, 0
    names = [v.name() for v in variables]
    for v in variables:
        _check_variable(v)
        name = v.name() if names.count(v.name()) == 1 else f"{v.name()}#{v.id}"
        infos.append(VariableInfo(name, tuple(v.shape), n, v.size, v.id))
        sizes[v.id] = v.size
        n += v.size
    if n == 0:
        raise InvalidDataError("the problem has no variables")
    offsets = {info.key: info.offset for info in infos}

    refreshable: list = []
    affine = AffineCompiler(sizes, refreshable)
    terms: list[Term] = []
    constant = [0.0]
    const_sources = []

    # objective -------------------------------------------------------------------------
    sign = -1.0 if sense_max else 1.0
    pieces = ObjectiveCompiler(affine).decompose(expr, Coef(sign))
    for p in pieces:
        if p.f is None:
            _add_constant(p, constant, const_sources)
            continue
        terms.append(_term(p.f, p.arg, offsets, n, p.coef, p.label, "objective", piece=p))
    # constraints -------------------------------------------------------------------------
    bounds = BoundsPass(sizes)
    for v in variables:
        lo, hi, read = _attribute_bounds(v, affine)
        if lo is not None or hi is not None or read is not None:
            bounds.add_attribute(v.id, lo, hi, label=f"attribute of {v.name()}", read=read)
    for c in constraints:
        pieces = compile_constraint(affine, c)
        for cp_piece in pieces:
            if bounds.try_absorb(cp_piece):
                continue
            terms.append(_term(cp_piece.f, cp_piece.arg, offsets, n, Coef(1.0), cp_piece.label, "constraint",
                               piece=cp_piece))
            if len(pieces) == 1 and cp_piece.direct:
                terms[-1].origin = c
    info_by_key = {i.key: i for i in infos}
    for key, f, label, f_source, f_build in bounds.boxes():
        info = info_by_key[key]
        A = L.BlockRowOperator([(info.offset, L.IdentityOperator(info.size))], n)
        if f is None:  # conflicting fixed bounds: two separate sets
            terms.append(Term(F.Box(bounds.lo[key], INF), A, np.zeros(info.size), 1.0, label, "constraint"))
            terms.append(Term(F.Box(-INF, bounds.hi[key]), A, np.zeros(info.size), 1.0, label, "constraint"))
        else:
            terms.append(Term(f, A, np.zeros(info.size), 1.0, f"bounds on {info.name}: {label}", "constraint",
                              f_source=f_source, f_build=f_build,
                              _f_data=None if f_source is None else tuple(f_source())))

    # every parametric operator is refreshed once, through the first term
    if refreshable and terms:
        terms[0].operators_to_refresh = list(refreshable)
    program = Program(infos, terms, constant=constant[0], sign=sign,
                      constant_source=(lambda: sum(s() for s in const_sources)) if const_sources else None,
                      parameters=list(source.parameters()), source=source)
    if program.constant_source is not None:
        program.constant = program.constant_source()
    return program


def _term(f, arg: AffineMap, offsets, n, coef: Coef, label, role, ops=(), piece=None) -> Term:
    """The IR term of one objective ``Piece`` or ``ConstraintPiece``: offsets, weights and
    function data that follow Parameters keep their sources (``Term.refresh``)."""
    blocks = [(offsets[k], op) for k, op in arg.blocks.items()]
    A = L.BlockRowOperator(blocks, n, arg.size)
    if callable(arg.offset):
        off = arg.offset
        b_source = lambda: -eval_offset(off, arg.size)  # noqa: E731
        b = b_source()
    else:
        b_source = None
        b = -arg.offset_value()
    weight_source = None
    if coef.source is not None:
        if isinstance(piece, Piece):
            def weight_source(coef=coef, piece=piece):
                check_sign(piece)
                return coef.current()
        else:
            weight_source = coef.current
    weight = coef.current()  # concave atoms were negated by the atom table already
    f_source = getattr(piece, "f_source", None)
    f_build = getattr(piece, "f_build", None)
    return Term(f, A, b, weight, label, role, b_source, weight_source, list(ops), f_source=f_source,
                f_build=f_build, _f_data=None if f_source is None else tuple(f_source()))


def _add_constant(p: Piece, constant: list, const_sources: list) -> None:
    arg = p.arg
    if callable(arg.offset) or p.coef.source is not None:
        const_sources.append(lambda: p.coef.current() * float(np.sum(eval_offset(arg.offset, arg.size))))
    else:
        constant[0] += p.coef.value * float(np.sum(arg.offset_value()))


def _check_variable(v) -> None:
    attrs = v.attributes
    for bad in ("boolean", "integer"):
        if attrs.get(bad):
            raise UnsupportedAtomError(f"variable {v.name()} is {bad}: solvelab's backends are continuous; "
                                       f"use backend='cvxpy' with a mixed-integer solver instead")
    for bad in ("PSD", "NSD", "hermitian", "complex", "imag", "symmetric", "diag", "sparsity"):
        if attrs.get(bad):
            raise UnsupportedAtomError(f"variable {v.name()} has the attribute '{bad}', which solvelab "
                                       f"does not support yet")
    if v.size == 0:
        raise InvalidDataError(f"variable {v.name()} has shape {v.shape}: it is empty")


def _attribute_bounds(v, affine):
    """(lo, hi, read) from the nonneg / nonpos / bounds attributes: fixed flat arrays (None:
    no bound) and, when a bound holds Parameters, ``read()`` -> their current (lo, hi).
    Infinite entries mean no bound there."""
    attrs = v.attributes
    lo = hi = None
    if attrs.get("nonneg") or attrs.get("pos"):
        lo = np.zeros(v.size)
    if attrs.get("nonpos") or attrs.get("neg"):
        hi = np.zeros(v.size)
    label = f"bounds attribute of {v.name()}"
    live = []
    for upper, side in enumerate(attrs.get("bounds") or (None, None)):
        if side is None:
            continue
        if getattr(side, "parameters", None) and side.parameters():
            live.append((bool(upper), side))
            continue
        arr = bound_array(getattr(side, "value", side), v.shape, bool(upper), label)
        if upper:
            hi = arr if hi is None else np.minimum(hi, arr)
        else:
            lo = arr if lo is None else np.maximum(lo, arr)
    if not live:
        return lo, hi, None

    def read():
        out = [np.full(v.size, -INF), np.full(v.size, INF)]
        for upper, side in live:
            val = affine.constant_value(side, check=False)
            out[upper] = bound_array(val.toarray() if hasattr(val, "toarray") else val, v.shape, upper, label)
        return tuple(out)
    read()  # a missing or bad value fails now, with its message
    return lo, hi, read
