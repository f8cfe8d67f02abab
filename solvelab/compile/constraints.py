"""CVXPY constraints and variable attributes -> indicator terms.

    affine == 0            ZeroSet
    affine <= 0 (or >=)    NonPos, or a bound when the affine part is ±(a selection of one variable)
    norm2(affine) <= t     SOC over [t; affine]
    cp.SOC(t, x)           SOC over [t; x]
    nonneg / nonpos / bounds attributes   bounds

Bounds on the same variable are merged into one ``Box`` term per variable (the
``BoundsPass``), which keeps the ``Composite`` form available to first-order backends.
Conflicting bounds (lo > hi) are left as separate inequalities so a backend can certify
infeasibility instead of the compiler raising.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NonConvexError, UnsupportedAtomError
from ..ir import functions as F
from ..ir import linop as L
from .affine import AffineCompiler, AffineMap, LazyText, _short, flat

INF = float("inf")


@dataclass
class ConstraintPiece:
    f: F.Function
    arg: AffineMap
    label: str


def compile_constraint(affine: AffineCompiler, c) -> list[ConstraintPiece]:
    from cvxpy.atoms.pnorm import Pnorm
    from cvxpy.constraints import NonNeg, NonPos, SOC, Equality, Inequality, Zero

    label = _short(c)
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
            expr = c.expr if isinstance(c, Inequality) else (lhs if lhs is not None else -rhs)
            return [ConstraintPiece(F.NonPos(), affine.compile(expr), label)]
        if isinstance(lhs, Pnorm) and float(lhs.p) == 2 and lhs.args[0].is_affine() and rhs.is_affine():
            return [_soc(affine, rhs, lhs.args[0], label)]
        raise UnsupportedAtomError(f"constraint '{label}': solvelab supports affine inequalities and "
                                   f"norm2(affine) <= affine; this one is neither")
    if isinstance(c, SOC):
        t, X = c.args[0], c.args[1]
        if t.size != 1:
            raise UnsupportedAtomError(f"constraint '{label}': only a single second-order cone per SOC "
                                       f"constraint is supported (t has size {t.size})")
        return [_soc(affine, t, X, label)]
    raise UnsupportedAtomError(f"constraint type '{type(c).__name__}' is not supported ('{label}')")


def _soc(affine: AffineCompiler, t, x, label) -> ConstraintPiece:
    from .affine import _concat
    tm = affine.compile(t)
    xm = affine.compile(x)
    stacked = _concat([AffineMap((1,), tm.blocks, tm.offset), AffineMap((xm.size,), xm.blocks, xm.offset)])
    return ConstraintPiece(F.SOC(), stacked, label)


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


class BoundsPass:
    """Collects lo <= x[idx] <= hi facts per variable and emits one Box per variable."""

    def __init__(self, var_sizes: dict):
        self.lo = {k: np.full(n, -INF) for k, n in var_sizes.items()}
        self.hi = {k: np.full(n, INF) for k, n in var_sizes.items()}
        self.labels: dict = {}

    def try_absorb(self, piece: ConstraintPiece) -> bool:
        """Take ``piece`` if it is a fixed bound on one variable; return True if taken."""
        if not isinstance(piece.f, F.NonPos) or len(piece.arg.blocks) != 1 or callable(piece.arg.offset):
            return False
        (key, op), = piece.arg.blocks.items()
        sel = as_scaled_selection(op)
        if sel is None or sel[0] == 0:
            return False
        alpha, idx = sel
        off = piece.arg.offset_value()
        bound = -off / alpha               # alpha x[idx] + off <= 0
        lo, hi = self.lo[key].copy(), self.hi[key].copy()
        if alpha > 0:
            np.minimum.at(hi, idx, bound)
        else:
            np.maximum.at(lo, idx, bound)
        if np.any(lo > hi):
            return False  # conflicting: keep as a plain inequality, let the backend certify
        self.lo[key], self.hi[key] = lo, hi
        self.labels.setdefault(key, []).append(piece.label)
        return True

    def add_attribute(self, key, lo=None, hi=None, label=""):
        if lo is not None:
            self.lo[key] = np.maximum(self.lo[key], lo)
        if hi is not None:
            self.hi[key] = np.minimum(self.hi[key], hi)
        self.labels.setdefault(key, []).append(label)

    def boxes(self):
        """Yield (key, Box, label) for each variable with a finite bound."""
        for key in self.lo:
            lo, hi = self.lo[key], self.hi[key]
            if np.all(np.isinf(lo)) and np.all(np.isinf(hi)):
                continue
            if np.any(lo > hi):
                yield key, None, LazyText.join("; ", self.labels.get(key, []))
                continue
            if np.all(np.isinf(hi)) and np.all(lo == 0):
                f = F.NonNeg()
            elif np.all(np.isinf(lo)) and np.all(hi == 0):
                f = F.NonPos()
            else:
                f = F.Box(_compact(lo), _compact(hi))
            yield key, f, LazyText.join("; ", self.labels.get(key, []))


def _compact(a: np.ndarray):
    return float(a[0]) if a.size and np.all(a == a[0]) else a
