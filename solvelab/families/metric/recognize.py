"""``is_metric(X)`` and recognizing a metric program in a CVXPY declaration.

``IsMetric(X)`` is a CVXPY constraint object saying "X is a semimetric": symmetric, zero
diagonal, nonnegative, every X_ij <= X_ik + X_kj. It is never expanded: CVXPY itself
cannot solve a problem holding it (it reports itself non-DCP, so CVXPY raises instead of
silently dropping it); ``recognize`` finds the objective's structure instead.

Recognized (X an (n, n) Variable, every term diagonal in X, i.e. entrywise):

    sum_k a_k sum_squares(S_k * X - B_k)    ->  l2 nearness (terms merge, constant kept)
    a sum(w * abs(S * X - B)) (norm1 too)    ->  l1 nearness
    sum(C * X) (+ constant), with X <= 1     ->  the metric LP (0 <= X <= 1)

Since X is symmetric, the entries (i, j) and (j, i) merge into one pair: weights add,
centers average with those weights; diagonal terms become constants (X_ii = 0). Other
constraints may only be X >= 0 (implied) or X <= 1 (the LP's box).
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError, ShapeError
from ...ir import functions as F
from ...ir.forms import NoMatch

NAME = "MetricNearness"


def _constraint_base():
    from cvxpy.constraints.constraint import Constraint
    return Constraint


class _IsMetricMixin:
    """The methods of IsMetric (a cvxpy Constraint subclass built on first use)."""

    def __init__(self, X, constr_id=None):
        import cvxpy as cp
        if not isinstance(X, cp.Variable) or X.ndim != 2 or X.shape[0] != X.shape[1]:
            shape = getattr(X, "shape", None)
            raise ShapeError(f"is_metric takes a square (n, n) cvxpy Variable, got {type(X).__name__} "
                             f"of shape {shape}")
        if X.shape[0] < 3:
            raise ShapeError(f"is_metric needs n >= 3 points (a triangle), got shape {X.shape}")
        if X.attributes.get("symmetric") or X.attributes.get("PSD"):
            raise InvalidDataError(f"declare {X.name()} = cvxpy.Variable({X.shape}) without symmetric= / PSD=: "
                                   f"is_metric({X.name()}) already makes it symmetric with a zero diagonal")
        _constraint_base().__init__(self, [X], constr_id)

    @property
    def shape(self):
        return ()

    def name(self) -> str:
        return f"is_metric({self.args[0].name()})"

    def __str__(self) -> str:
        return self.name()

    # False, so that CVXPY's own solve refuses the problem (its DCP error names this
    # constraint) instead of dropping a constraint it has no canonicalization for
    def is_dcp(self, dpp: bool = False) -> bool:
        return False

    def is_dgp(self, dpp: bool = False) -> bool:
        return False

    def is_dqcp(self) -> bool:
        return False

    @property
    def residual(self):
        """Max triangle violation of X.value (None without a value), absolute."""
        from ...kernels import metric as K
        v = self.args[0].value
        if v is None:
            return None
        X = np.asarray(v, dtype=np.float64)
        S = np.ascontiguousarray(0.5 * (X + X.T))
        np.fill_diagonal(S, 0.0)
        return float(max(K.max_violation(S), np.abs(X - X.T).max(), np.abs(np.diag(X)).max(),
                         float(np.max(-X, initial=0.0))))

    def get_data(self):
        return [self.id]


_CLASS = []


def IsMetric(X, constr_id=None):
    """The constraint ``X is a semimetric`` (see the module docstring)."""
    if not _CLASS:
        _CLASS.append(type("IsMetric", (_IsMetricMixin, _constraint_base()), {}))
    return _CLASS[0](X, constr_id)


def is_metric_constraint(c) -> bool:
    return bool(_CLASS) and isinstance(c, _CLASS[0])


def _diagonal(A, N: int):
    """s with A x = s * x for every x (A an (N, N) operator), or None."""
    if A.shape != (N, N):
        return None
    s = np.asarray(A.matvec(np.ones(N)), dtype=np.float64)
    rng = np.random.default_rng(0)
    r = rng.standard_normal(N)
    Ar = np.asarray(A.matvec(r), dtype=np.float64)
    if not np.allclose(Ar, s * r, rtol=1e-12, atol=1e-12 * (np.abs(s).max() * np.abs(r).max() + 1e-300)):
        return None
    return s


def recognize(program):
    """(kind, D, W, c, constant) of a compiled program over one (n, n) variable with the
    structure above (the is_metric constraint itself removed), or a NoMatch."""
    if len(program.variables) != 1 or len(program.variables[0].shape) != 2:
        return NoMatch(NAME, "a metric program has exactly one (n, n) matrix variable")
    n, m = program.variables[0].shape
    if n != m:
        return NoMatch(NAME, f"the metric variable must be square, got {(n, m)}")
    N = n * n
    const = float(program.constant)
    Wq = np.zeros(N)       # sum a s^2 over squares terms
    Wd = np.zeros(N)       # sum a s^2 d
    c = np.zeros(N)
    l1 = None
    upper = False
    for i, t in enumerate(program.terms):
        f = t.f
        s = _diagonal(t.A, N)
        if t.role == "constraint":
            if isinstance(f, (F.NonNeg,)) and s is not None and np.all(s > 0) and not np.any(t.b > 0):
                continue
            if isinstance(f, F.Box) and s is not None and np.all(s == 1) and not np.any(t.b):
                lo = np.broadcast_to(np.asarray(f.lo, dtype=np.float64), (N,))
                hi = np.broadcast_to(np.asarray(f.hi, dtype=np.float64), (N,))
                if np.all(lo <= 0) and (np.all(np.isposinf(hi)) or np.all(hi == 1)):
                    upper = upper or bool(np.all(hi == 1))
                    continue
            return NoMatch(NAME, f"constraint term [{i}] ({t.label}) is not X >= 0 or X <= 1")
        if isinstance(f, F.Linear):
            cv = np.broadcast_to(np.asarray(f.c, dtype=np.float64), (t.m,))
            c += t.weight * np.asarray(t.A.rmatvec(np.ascontiguousarray(cv)))
            const -= t.weight * float(np.dot(cv, t.b))
            continue
        if s is None:
            return NoMatch(NAME, f"objective term [{i}] ({t.label}) is not entrywise in X")
        b = np.asarray(t.b, dtype=np.float64)
        if isinstance(f, F.SumSquares):
            nz = s != 0
            d = np.where(nz, b / np.where(nz, s, 1.0), 0.0)
            Wq += t.weight * s * s
            Wd += t.weight * s * s * d
            const += t.weight * float(np.sum(np.where(nz, 0.0, b * b)))
            continue
        if isinstance(f, F.L1Norm) and l1 is None:
            w = np.broadcast_to(np.asarray(f.w, dtype=np.float64), (N,)) * t.weight * np.abs(s)
            nz = s != 0
            l1 = (w, np.where(nz, b / np.where(nz, s, 1.0), 0.0))
            const += t.weight * float(np.sum(np.where(nz, 0.0, np.abs(b) * np.broadcast_to(f.w, (N,)))))
            continue
        return NoMatch(NAME, f"objective term [{i}] ({t.label}): {f.name} is not sum_squares, an l1 norm "
                             f"or linear")
    kinds = [k for k, on in (("l2", Wq.any()), ("l1", l1 is not None), ("lp", c.any())) if on]
    if len(kinds) != 1:
        return NoMatch(NAME, f"the objective must be one of weighted sum_squares, weighted l1 or linear in "
                             f"X, found {' + '.join(kinds) or 'none'}")
    kind = kinds[0]
    F_ = lambda v: v.reshape(n, n, order="F")  # noqa: E731  (x is F-ordered)
    off = ~np.eye(n, dtype=bool)
    if kind == "lp":
        if not upper:
            return NoMatch(NAME, "a linear objective over metrics needs the box X <= 1 (else it is unbounded)")
        C = F_(c)
        Cs = C + C.T
        np.fill_diagonal(Cs, 0.0)
        return "lp", None, None, Cs, const
    if upper:
        return NoMatch(NAME, "X <= 1 with a nearness objective is not supported (only the LP has a box)")
    if kind == "l2":
        W, WD = F_(Wq), F_(Wd)
        Wp = W + W.T
        if np.any(Wp[off] <= 0):
            i, j = np.argwhere((Wp <= 0) & off)[0]
            return NoMatch(NAME, f"entry ({i}, {j}) of X has no weight in the objective")
        Dp = (WD + WD.T) / np.where(off, Wp, 1.0)
        # sum over both entries: W_ij (x - D_ij)^2 + W_ji (x - D_ji)^2 = Wp (x - Dp)^2 + rest
        rest = F_(Wd * np.where(Wq > 0, Wd / np.where(Wq > 0, Wq, 1.0), 0.0))
        const += float(np.sum(rest[off])) - 0.5 * float(np.sum((Wp * Dp * Dp)[off]))   # pairs: half
        const += float(np.sum(np.diag(rest)))
        np.fill_diagonal(Dp, 0.0)
        return "l2", Dp, np.where(off, Wp / 2.0, 1.0), None, const
    w, d = l1
    W, Dm = F_(w), F_(d)
    if not np.allclose(Dm[off], Dm.T[off], rtol=1e-12, atol=0) or not np.allclose(W, W.T, rtol=1e-12, atol=0):
        return NoMatch(NAME, "an l1 objective must be symmetric in X (weights and centers of (i, j) and (j, i) "
                             "equal)")
    const += float(np.sum(np.diag(W) * np.abs(np.diag(Dm))))
    Dm = Dm.copy()
    np.fill_diagonal(Dm, 0.0)
    return "l1", Dm, np.where(off, W, 1.0), None, const


def build_node(program, variable):
    """The MetricProgram of a recognized program (raises InvalidDataError with the reason)."""
    from .program import MetricProgram
    got = recognize(program)
    if isinstance(got, NoMatch):
        raise InvalidDataError(f"not a metric program: {got.reason}")
    kind, D, W, C, const = got
    return MetricProgram(kind, D=D, W=W, c=C, constant=const, name=variable.name(), key=variable.id)
