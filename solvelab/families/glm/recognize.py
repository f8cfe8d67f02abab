"""Recognizing the SparseGLM structure in a Program: one GLM datafit of A x (a Poisson
datafit is its exp term plus linear terms reading the same matrix), per-coordinate
penalties and bounds, and disjoint group l2 penalties."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...ir.forms import Composite, NoMatch
from ...ir.linop import BlockRowOperator
from ...ir import losses
from .data import _extract
from .scalars import DATAFIT_KIND


def _composite_with_exp(program):
    """Composite.match, with objective ``exp`` terms set aside and added back as smooth
    terms (coordinate descent handles them by proximal Newton with a line search)."""
    comp = Composite.match(program)
    if comp:
        return comp
    exp_terms = [t for t in program.terms if t.f.name == "exp" and t.role == "objective"]
    if not exp_terms:
        return comp
    import copy
    rest = copy.copy(program)
    rest.terms = [t for t in program.terms if not any(t is e for e in exp_terms)]
    sub = Composite.match(rest)
    if not sub:
        return sub
    return Composite(program, sub.smooth + exp_terms, sub.pieces, sub.clips)


def _single_block(op, n):
    if isinstance(op, BlockRowOperator):
        if len(op.blocks) != 1 or op.blocks[0][0] != 0 or op.blocks[0][1].shape[1] != n:
            return None
        op = op.blocks[0][1]
    return _extract(op)


def _same_matrix(M1, M2) -> bool:
    if M1 is M2:
        return True
    if M1.shape != M2.shape or sp.issparse(M1) != sp.issparse(M2):
        return False
    if sp.issparse(M1):
        return (M1 != M2).nnz == 0
    return bool(np.array_equal(np.asarray(M1), np.asarray(M2)))


def _poisson_linear(datafit, linear, n):
    """(lin, lin_const): the linear terms  sum_t w_t c_t^T (A_t x - b_t)  written as
    lin^T u + lin_const with u = M x, M the exp term's matrix; or a reason (str)."""
    got = _single_block(datafit.A, n)
    if got is None:
        return "a Poisson datafit over several variables (or a slice of one) is not supported by cd"
    M, _ = got
    m = M.shape[0]
    lin, const = np.zeros(m), 0.0
    for t in linear:
        g = _single_block(t.A, n)
        if g is None or not _same_matrix(g[0], M):
            return (f"the linear term {t.label or t.f!r} does not read the same A x as the exp term: a "
                    f"Poisson datafit is sum(exp(A @ x) - multiply(y, A @ x)) with one matrix A")
        Mt, st = g
        cvec = np.broadcast_to(np.asarray(t.f.c, dtype=np.float64), (Mt.shape[0],))
        st = np.ones(Mt.shape[0]) if st is None else np.asarray(st, dtype=np.float64)
        lin += t.weight * cvec * st
        const -= t.weight * float(np.sum(cvec * np.asarray(t.b, dtype=np.float64)))
    if not np.all(np.isfinite(lin)):
        return "the linear part of the Poisson datafit has NaN or Inf entries"
    return lin, const


def recognize(program):
    """The SparseGLM fields (after ``program``) of a Composite program, or a NoMatch."""
    comp = _composite_with_exp(program)
    if not comp:
        return NoMatch("SparseGLM", comp.reason)
    n = program.n
    w1, r = np.zeros(n), np.zeros(n)
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    datafit, dkind, dpar, c = None, 0, 0.0, 0.0
    linear = []
    for t in comp.smooth:
        name = t.f.name
        idx = t.A.selection() if isinstance(t.A, BlockRowOperator) else None
        if name == "zero" or t.weight == 0.0:
            continue
        if name == "linear":
            linear.append(t)
            continue
        if name == "sum_squares" and idx is not None and not np.any(t.b) and t.role == "objective":
            r[idx] += t.weight          # ridge: w ||x_idx||^2
            continue
        if name not in DATAFIT_KIND:
            return NoMatch("SparseGLM", f"smooth term {t.f!r} is not a GLM datafit "
                                        f"(least squares, logistic, huber, squared hinge, poisson)")
        if datafit is not None:
            return NoMatch("SparseGLM", "more than one datafit term (one GLM loss of A x is supported)")
        datafit, dkind, c = t, DATAFIT_KIND[name], float(t.weight)
        dpar = float(getattr(t.f, "M", 0.0))
    lin, lin_const = None, 0.0
    if linear:
        if dkind != losses.EXP or datafit is None:
            return NoMatch("SparseGLM", "a linear objective term is supported only as the linear part "
                                        "of a Poisson datafit (sum(exp(A @ x) - multiply(y, A @ x)))")
        got = _poisson_linear(datafit, linear, n)
        if isinstance(got, str):
            return NoMatch("SparseGLM", got)
        lin, lin_const = got
    pkind, gamma = losses.CONVEX, 0.0
    groups = []
    for pc in comp.pieces:
        t, idx = pc.term, pc.idx
        name = t.f.name
        if np.any(t.b):
            return NoMatch("SparseGLM", f"penalty {t.f!r} is applied to a shifted variable")
        if name == "l1":
            w1[idx] += t.weight * np.broadcast_to(np.asarray(t.f.w, dtype=np.float64), idx.shape)
        elif name in ("mcp", "scad"):
            k = losses.PENALTY[name]
            if pkind not in (losses.CONVEX, k) or (pkind == k and gamma != t.f.gamma):
                return NoMatch("SparseGLM", "different nonconvex penalties on different coordinates")
            pkind, gamma = k, float(t.f.gamma)
            w1[idx] += t.weight * np.broadcast_to(np.asarray(t.f.lam, dtype=np.float64), idx.shape)
        elif name == "l2":
            groups.append((np.asarray(idx, dtype=np.int64), float(t.weight)))
        else:
            return NoMatch("SparseGLM", f"penalty {t.f!r} is not l1, weighted l1, group l2, MCP or SCAD")
    if pkind:
        penalized = np.zeros(n, dtype=bool)
        for pc in comp.pieces:
            if pc.term.f.name in ("mcp", "scad"):
                penalized[pc.idx] = True
        if np.any(w1[~penalized] > 0) or np.any(r > 0):
            return NoMatch("SparseGLM", "a nonconvex penalty mixed with l1 or ridge terms")
    for cl in comp.clips:
        t, idx = cl.term, cl.idx
        shift = np.asarray(t.b, dtype=np.float64)
        if t.f.name == "nonneg":
            lo[idx] = np.maximum(lo[idx], shift)
        elif t.f.name == "nonpos":
            hi[idx] = np.minimum(hi[idx], shift)
        else:
            lo[idx] = np.maximum(lo[idx], np.asarray(t.f.lo) + shift)
            hi[idx] = np.minimum(hi[idx], np.asarray(t.f.hi) + shift)
    if groups:
        ing = np.zeros(n, dtype=bool)
        for idx, _ in groups:
            ing[idx] = True
        if np.any(w1[ing] != 0) or np.any(r[ing] != 0) or np.any(np.isfinite(lo[ing])) \
                or np.any(np.isfinite(hi[ing])):
            return NoMatch("SparseGLM", "a group l2 penalty shares coordinates with another penalty or bound")
    if np.any(lo > hi):
        return NoMatch("SparseGLM", "the bounds on the variables are empty (lo > hi)")
    if dkind == losses.EXP and groups:
        return NoMatch("SparseGLM", "a Poisson (exp) datafit with group penalties: block CD needs a "
                                    "global Lipschitz constant, which exp has not")
    return (datafit, dkind, dpar, c, pkind, gamma, w1, r, lo, hi, groups, comp, lin, lin_const)
