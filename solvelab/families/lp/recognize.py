"""Recognizing an LP in a Program compiled from plain CVXPY.

Linear objective terms fold into c (and the constant); every constraint must be an
affine equality, inequality or box (ZeroSet, NonNeg, NonPos, Box indicators).
Constraints on a selection of the variables become column bounds, the others rows.
The node covers the program's whole flat x, so a solution maps back unchanged.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...ir.forms import NoMatch
from ...ir.linop import BlockRowOperator

_LINEAR_SETS = ("zero", "nonneg", "nonpos", "box")


def _interval(f, b):
    """(lo, hi) of A x for the constraint f(A x - b) (an indicator of a linear set)."""
    m = b.size
    if f.name == "zero":
        return b.copy(), b.copy()
    if f.name == "nonneg":
        return b.copy(), np.full(m, np.inf)
    if f.name == "nonpos":
        return np.full(m, -np.inf), b.copy()
    return np.broadcast_to(f.lo, (m,)) + b, np.broadcast_to(f.hi, (m,)) + b


def recognize(program):
    """(c, A, rl, ru, l, u, constant) of a compiled LP, or a NoMatch saying why not."""
    name = "LinearProgram"
    n = program.n
    c = np.zeros(n)
    const = float(program.constant)
    l, u = np.full(n, -np.inf), np.full(n, np.inf)
    rows, lows, highs = [], [], []
    for i, t in enumerate(program.terms):
        f = t.f
        if t.role == "objective" and not f.is_indicator:
            if t.weight == 0.0:
                continue
            if f.name != "linear":
                return NoMatch(name, f"objective term [{i}] {f.name} is not linear")
            cv = np.ascontiguousarray(np.broadcast_to(np.asarray(f.c, dtype=np.float64), (t.m,)))
            c += t.weight * t.A.rmatvec(cv)
            const -= t.weight * float(cv @ t.b)
            continue
        if not f.is_indicator or f.name not in _LINEAR_SETS:
            return NoMatch(name, f"constraint [{i}] {f.name} is not an affine equality, inequality or box")
        lo, hi = _interval(f, np.asarray(t.b, dtype=np.float64))
        idx = t.A.selection() if isinstance(t.A, BlockRowOperator) else None
        if idx is not None:
            np.maximum.at(l, idx, lo)
            np.minimum.at(u, idx, hi)
            continue
        try:
            rows.append(sp.csr_matrix(t.A.to_sparse()))
        except (NotImplementedError, AttributeError):
            return NoMatch(name, f"constraint [{i}]: its operator {t.A.describe()} has no sparse matrix")
        lows.append(lo)
        highs.append(hi)
    if np.any(l > u):
        return NoMatch(name, "the variables' bounds contradict each other (lower > upper)")
    A = sp.vstack(rows).tocsr() if rows else None
    rl = np.concatenate(lows) if rows else None
    ru = np.concatenate(highs) if rows else None
    return c, A, rl, ru, l, u, const
