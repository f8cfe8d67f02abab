"""Recognizing balanced entropic OT in a Program compiled from plain CVXPY.

``cp.sum(cp.multiply(C, P)) - eps * cp.sum(cp.entr(P))`` (or ``+ eps * cp.sum(cp.kl_div(P, Q))``)
with ``cp.sum(P, axis=1) == a``, ``cp.sum(P, axis=0) == b`` and ``P >= 0``: every linear
objective term is folded into C, and the KL reference Q into ``C - eps (log Q + 1)``, so the
minimizer and the value are unchanged.
"""
from __future__ import annotations

import numpy as np

from ...ir import functions as F
from ...ir.forms import NoMatch
from ...ir.linop import BlockRowOperator, ReduceSumOperator
from .validate import MASS_RTOL


def _reduce_axis(A):
    """If A (a BlockRowOperator over one variable) is cp.sum(P, axis=k), return k."""
    if not isinstance(A, BlockRowOperator) or len(A.blocks) != 1:
        return None
    o, op = A.blocks[0]
    if o != 0 or not isinstance(op, ReduceSumOperator):
        return None
    return op.axis


def _is_whole(A, N) -> bool:
    if not isinstance(A, BlockRowOperator) or A.shape != (N, N):
        return False
    idx = A.selection()
    return idx is not None and np.array_equal(idx, np.arange(N))


def recognize(program):
    """(a, b, C, eps, const) of a compiled balanced entropic OT program, or a NoMatch."""
    name = "EntropicOT"
    if len(program.variables) != 1 or len(program.variables[0].shape) != 2:
        return NoMatch(name, "entropic OT needs exactly one matrix variable (the plan P)")
    n, m = program.variables[0].shape
    N = n * m
    cost = np.zeros(N)
    const = float(program.constant)
    eps = None
    a = b = None
    for i, t in enumerate(program.terms):
        f = t.f
        if t.role == "objective" and isinstance(f, F.Linear):
            c = np.broadcast_to(np.asarray(f.c, dtype=np.float64), (t.m,))
            cost += t.weight * t.A.rmatvec(np.ascontiguousarray(c))
            const -= t.weight * float(np.dot(c, t.b))
            continue
        if t.role == "objective" and isinstance(f, (F.NegEntropy, F.KLDiv)):
            if eps is not None:
                return NoMatch(name, f"term [{i}]: a second entropy term")
            if not _is_whole(t.A, N) or np.any(t.b):
                return NoMatch(name, f"term [{i}] {f.name} is not applied to the whole plan P")
            if not t.weight > 0:
                return NoMatch(name, f"term [{i}]: the entropy weight eps must be > 0, got {t.weight:g}")
            eps = float(t.weight)
            if isinstance(f, F.KLDiv):
                Q = np.broadcast_to(np.asarray(f.c, dtype=np.float64), (N,))
                if np.any(Q < 0) or not np.all(np.isfinite(Q)):
                    return NoMatch(name, f"term [{i}]: kl_div reference must be finite and >= 0")
                with np.errstate(divide="ignore"):
                    cost += -eps * (np.log(Q) + 1.0)
                const += eps * float(Q.sum())
            continue
        if t.role == "constraint" and isinstance(f, F.ZeroSet):
            ax = _reduce_axis(t.A)
            if ax == 1 and a is None:
                a = np.asarray(t.b, dtype=np.float64).copy()
                continue
            if ax == 0 and b is None:
                b = np.asarray(t.b, dtype=np.float64).copy()
                continue
            return NoMatch(name, f"equality constraint [{i}] is not a row or column sum of P "
                                 f"(or repeats one)")
        if t.role == "constraint" and isinstance(f, F.NonNeg) and _is_whole(t.A, N) and not np.any(t.b):
            continue
        return NoMatch(name, f"term [{i}] {f.name} ({t.role}) is not part of an entropic OT problem")
    if eps is None:
        return NoMatch(name, "no entropy term eps * sum(entr(P)) or eps * sum(kl_div(P, Q)) in the objective")
    if a is None or b is None:
        return NoMatch(name, "the marginal constraints cp.sum(P, axis=1) == a and cp.sum(P, axis=0) == b are "
                             "not both present")
    if np.any(a < 0) or np.any(b < 0) or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return NoMatch(name, "marginals a and b must be finite and >= 0")
    sa, sb = float(a.sum()), float(b.sum())
    if not (sa > 0 and abs(sa - sb) <= MASS_RTOL * max(sa, sb)):
        return NoMatch(name, f"the marginals' total masses differ (sum(a) = {sa:.12g}, sum(b) = {sb:.12g}): "
                             "balanced OT is infeasible")
    C = np.ascontiguousarray(cost.reshape((n, m), order="F"))
    if np.isnan(C).any() or np.isneginf(C).any():
        return NoMatch(name, "the cost has NaN or -inf entries")
    return a, b, C, eps, const
