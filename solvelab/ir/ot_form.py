"""Entropic optimal transport: the structured program and its forms.

Canonical problem (one plan variable ``P`` of shape (n, m), flattened F-order in x)::

    balanced     min <C, P> + eps * sum P log P + const   s.t.  P 1 = a, P^T 1 = b, P >= 0
    unbalanced   min <C, P> + eps KL(P | a b^T) + rho KL(P 1 | a) + rho KL(P^T 1 | b)

(KL(x | y) = sum x log(x / y) - x + y, POT's ``sinkhorn_unbalanced`` with reg_type='kl'.)

``EntropicOT.match`` recognizes the balanced problem in a Program compiled from plain
CVXPY (``cp.sum(cp.multiply(C, P)) - eps * cp.sum(cp.entr(P))`` or
``+ eps * cp.sum(cp.kl_div(P, Q))``, with ``cp.sum(P, axis=1) == a``,
``cp.sum(P, axis=0) == b``, ``P >= 0``), folding every linear objective term into C and
the KL reference Q into ``C - eps (log Q + 1)`` so the minimizer and value are unchanged.
``OTProgram`` is the same problem held whole (no CVXPY tree; a cost callable is only
evaluated when first needed), which is what the constructors of
``solvelab.problems.ot`` build. Its IR ``terms`` exist too, built only when asked for,
so a generic backend sees exactly the problem a CVXPY declaration would give.

Backends receive potentials in the convention ``P_ij = exp((f_i + g_j - C_ij) / eps)``
(balanced) or ``P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)`` (unbalanced); the
certificate below recomputes everything else from the returned plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidDataError, ShapeError
from ..result import Certificate
from .forms import NoMatch, register_form
from .program import VariableInfo

#: relative tolerance on sum(a) == sum(b) for balanced transport
MASS_RTOL = 1e-9


# ---------------------------------------------------------------------------------------
# Validation shared by the constructors and the CVXPY recognizer
# ---------------------------------------------------------------------------------------

def check_eps(eps) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise InvalidDataError(f"eps must be a positive number, got {eps!r}") from None
    if not (np.isfinite(e) and e > 0):
        raise InvalidDataError(f"eps must be a positive finite number (the entropic regularization), got {eps!r}")
    return e


def check_marginal(v, name: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array of masses, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidDataError(f"{name} has NaN or Inf entries")
    if np.any(v < 0):
        raise InvalidDataError(f"{name} has negative entries (min {v.min():g}); masses must be >= 0")
    if not v.sum() > 0:
        raise InvalidDataError(f"{name} has zero total mass")
    return v


def check_balanced(a: np.ndarray, b: np.ndarray) -> None:
    sa, sb = float(a.sum()), float(b.sum())
    if abs(sa - sb) > MASS_RTOL * max(sa, sb):
        raise InvalidDataError(
            f"balanced OT needs equal total masses, got sum(a) = {sa:.12g} and sum(b) = {sb:.12g} "
            f"(relative difference {abs(sa - sb) / max(sa, sb):.2e}); normalize them or use unbalanced_ot")


def check_cost(C: np.ndarray, a: np.ndarray, b: np.ndarray, balanced: bool = True) -> np.ndarray:
    """C as a C-ordered float64 (n, m) array; +inf marks a forbidden pair, NaN and -inf are errors."""
    C = np.ascontiguousarray(C, dtype=np.float64)
    if C.shape != (a.size, b.size):
        raise ShapeError(f"cost matrix has shape {C.shape}, expected (len(a), len(b)) = ({a.size}, {b.size})")
    if np.isnan(C).any():
        raise InvalidDataError("cost matrix has NaN entries")
    if np.isneginf(C).any():
        raise InvalidDataError("cost matrix has -inf entries (the transport cost would be unbounded below)")
    if np.isposinf(C).any():
        ok = np.isfinite(C[np.ix_(a > 0, b > 0)])
        if balanced and (not ok.any(axis=1).all() or not ok.any(axis=0).all()):
            raise InvalidDataError("cost matrix is +inf on a whole row or column of positive mass: "
                                   "no transport plan is feasible (+inf marks forbidden pairs)")
    return C


# ---------------------------------------------------------------------------------------
# The structured program
# ---------------------------------------------------------------------------------------

class OTProgram:
    """An entropic OT problem held whole; quacks like ``solvelab.ir.Program``.

    ``cost`` is an (n, m) array or a callable returning one (evaluated once, on first
    use). ``kind`` is 'balanced' or 'unbalanced' (then ``rho`` > 0 is the marginal
    relaxation weight).
    """

    sign = 1.0
    constant_source = None
    parameters: list = []
    source = None

    def __init__(self, a, b, cost, eps, kind: str = "balanced", rho: float | None = None,
                 constant: float = 0.0, name: str = "P"):
        if kind not in ("balanced", "unbalanced"):
            raise InvalidDataError(f"kind must be 'balanced' or 'unbalanced', got {kind!r}")
        self.a = check_marginal(a, "a")
        self.b = check_marginal(b, "b")
        self.eps = check_eps(eps)
        self.kind = kind
        if kind == "balanced":
            check_balanced(self.a, self.b)
            self.rho = None
        else:
            try:
                r = float(rho)
            except (TypeError, ValueError):
                r = float("nan")
            if not (np.isfinite(r) and r > 0):
                raise InvalidDataError(f"unbalanced OT needs a positive finite marginal weight rho, got {rho!r}")
            self.rho = r
        self.constant = float(constant)
        n, m = self.a.size, self.b.size
        self.variables = [VariableInfo(name=name, shape=(n, m), offset=0, size=n * m, key=None)]
        self._cost = cost
        self._C = None
        self._CT = None
        self._terms = None
        self._data_version = 0
        if not callable(cost):
            self._C = check_cost(cost, self.a, self.b, balanced=kind == "balanced")

    # -- data ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return (self.a.size, self.b.size)

    @property
    def C(self) -> np.ndarray:
        if self._C is None:
            self._C = check_cost(self._cost(), self.a, self.b, balanced=self.kind == "balanced")
        return self._C

    @property
    def CT(self) -> np.ndarray:
        """C^T, C-ordered (the column passes stream its rows); computed once."""
        if self._CT is None:
            self._CT = np.ascontiguousarray(self.C.T)
        return self._CT

    # -- the Program interface ---------------------------------------------------------
    @property
    def n(self) -> int:
        return self.a.size * self.b.size

    @property
    def data_version(self) -> int:
        return self._data_version

    def refresh(self) -> bool:
        return False

    def plan(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(self.shape, order="F")

    def objective(self, x) -> float:
        """The minimized objective at the flat plan x (+inf outside the domain)."""
        return float(primal_value(self, x)[0])

    def user_objective(self, x) -> float:
        return self.objective(x)

    def split(self, x) -> dict:
        return {self.variables[0].name: self.plan(x)}

    @property
    def terms(self) -> list:
        """The generic IR terms of this problem (built on first access; N-sized data)."""
        if self._terms is None:
            self._terms = _build_terms(self)
        return self._terms

    def objective_terms(self):
        return [t for t in self.terms if t.role == "objective"]

    def constraint_terms(self):
        return [t for t in self.terms if t.role == "constraint"]

    def forms(self) -> list[str]:
        from .forms import matching_forms
        return matching_forms(self)

    def __repr__(self) -> str:
        n, m = self.shape
        extra = "" if self.kind == "balanced" else f", rho={self.rho:g}"
        return f"OTProgram({self.kind}, {n}x{m}, eps={self.eps:g}{extra})"


def _build_terms(p: OTProgram) -> list:
    from . import functions as F
    from .linop import BlockRowOperator, IdentityOperator, ReduceSumOperator
    from .program import Term
    n, m = p.shape
    N = n * m
    ident = BlockRowOperator([(0, IdentityOperator(N))], N)
    C = p.C.ravel(order="F")
    if not np.all(np.isfinite(C)):
        raise InvalidDataError("this OT problem has +inf costs (forbidden pairs), which the generic IR "
                               "cannot express; use backend='sinkhorn' or 'sinkhorn_newton'")
    terms = [Term(F.Linear(C), ident, np.zeros(N), 1.0, "<C, P>", "objective")]
    rows = BlockRowOperator([(0, ReduceSumOperator(n, m, 1))], N)
    cols = BlockRowOperator([(0, ReduceSumOperator(n, m, 0))], N)
    if p.kind == "balanced":
        terms.append(Term(F.NegEntropy(), ident, np.zeros(N), p.eps, "sum P log P", "objective"))
        terms.append(Term(F.ZeroSet(), rows, p.a.copy(), 1.0, "P 1 == a", "constraint"))
        terms.append(Term(F.ZeroSet(), cols, p.b.copy(), 1.0, "P^T 1 == b", "constraint"))
    else:
        ref = np.outer(p.a, p.b).ravel(order="F")
        terms.append(Term(F.KLDiv(ref), ident, np.zeros(N), p.eps, "KL(P | a b^T)", "objective"))
        terms.append(Term(F.KLDiv(p.a), rows, np.zeros(n), p.rho, "KL(P 1 | a)", "objective"))
        terms.append(Term(F.KLDiv(p.b), cols, np.zeros(m), p.rho, "KL(P^T 1 | b)", "objective"))
    terms.append(Term(F.NonNeg(), ident, np.zeros(N), 1.0, "P >= 0", "constraint"))
    return terms


# ---------------------------------------------------------------------------------------
# Recognizing the balanced problem in a compiled Program
# ---------------------------------------------------------------------------------------

def _reduce_axis(A):
    """If A (a BlockRowOperator over one variable) is cp.sum(P, axis=k), return k."""
    from .linop import BlockRowOperator, ReduceSumOperator
    if not isinstance(A, BlockRowOperator) or len(A.blocks) != 1:
        return None
    o, op = A.blocks[0]
    if o != 0 or not isinstance(op, ReduceSumOperator):
        return None
    return op.axis


def _is_whole(A, N) -> bool:
    from .linop import BlockRowOperator
    if not isinstance(A, BlockRowOperator) or A.shape != (N, N):
        return False
    idx = A.selection()
    return idx is not None and np.array_equal(idx, np.arange(N))


def recognize(program):
    """(a, b, C, eps, const) of a compiled balanced entropic OT program, or a NoMatch."""
    from . import functions as F
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


# ---------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------

def _parts(CT, PT):
    from ..kernels import ot as K
    parts = np.zeros((K.n_chunks(CT.shape[0]), 5))
    K.plan_objective_parts(CT, PT, parts)
    return parts.sum(axis=0)


def _xlogy_sum(x, y) -> float:
    from scipy import special
    return float(np.sum(special.xlogy(x, x) - special.xlogy(x, y) - x + y))


_TINY = float(np.finfo(np.float64).tiny)


def primal_value(view, x):
    """(objective, row sums, column sums, negative mass, bad) of the flat plan x."""
    n, m = view.a.size, view.b.size
    PT = np.asarray(x, dtype=np.float64).reshape(m, n)
    cp_, ent, mass, neg, bad = _parts(view.CT, PT)
    r = PT.sum(axis=0)
    c = PT.sum(axis=1)
    if bad > 0 or neg > 0:
        return float("inf"), r, c, neg, bad
    eps = view.eps
    if view.kind == "balanced":
        val = cp_ + eps * ent + view.constant
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.any((r > 0) & (view.a == 0)) or np.any((c > 0) & (view.b == 0)):
                return float("inf"), r, c, neg, bad
            la = np.where(view.a > 0, np.log(np.where(view.a > 0, view.a, 1.0)), 0.0)
            lb = np.where(view.b > 0, np.log(np.where(view.b > 0, view.b, 1.0)), 0.0)
        kl_plan = ent - float(r @ la) - float(c @ lb) - mass + float(view.a.sum() * view.b.sum())
        val = (cp_ + eps * kl_plan + view.rho * (_xlogy_sum(r, view.a) + _xlogy_sum(c, view.b))
               + view.constant)
    return float(val), r, c, neg, bad


def improve_potentials(view, f, g, rounds: int = 1):
    """Exact block-coordinate updates (g, then f) of the dual: they only raise it."""
    from ..kernels import ot as K
    eps = view.eps
    inv = 1.0 / eps
    f = np.array(f, dtype=np.float64)
    g = np.array(g, dtype=np.float64)
    out_m, out_n = np.empty(g.size), np.empty(f.size)
    with np.errstate(divide="ignore"):
        la, lb = np.log(view.a), np.log(view.b)
    for _ in range(rounds):
        if view.kind == "balanced":
            K.lse_rows_shift(view.CT, f, inv, out_m)
            g = eps * (lb - out_m)
            K.lse_rows_shift(view.C, g, inv, out_n)
            f = eps * (la - out_n)
        else:
            k = view.rho / (view.rho + eps)
            K.lse_rows_shift(view.CT, f + eps * la, inv, out_m)
            g = -k * eps * out_m
            K.lse_rows_shift(view.C, g + eps * lb, inv, out_n)
            f = -k * eps * out_n
    return f, g


def dual_value(view, f, g) -> float:
    """The dual objective at potentials (f, g) in the backends' convention (a lower bound)."""
    from ..kernels import ot as K
    eps = view.eps
    a, b = view.a, view.b
    out = np.empty(a.size)
    if view.kind == "balanced":
        K.lse_rows(view.C, f, g, 1.0 / eps, out)
        S = float(np.sum(np.exp(out)))
        lin = float(np.dot(a[a > 0], f[a > 0]) + np.dot(b[b > 0], g[b > 0]))
        return lin + eps * float(a.sum()) - eps * S + view.constant
    with np.errstate(divide="ignore"):
        la, lb = np.log(a), np.log(b)
    K.lse_rows(view.C, f + eps * la, g + eps * lb, 1.0 / eps, out)
    S = float(np.sum(np.exp(out)))
    rho = view.rho
    with np.errstate(over="ignore"):
        ta = rho * float(np.dot(a[a > 0], 1.0 - np.exp(-f[a > 0] / rho)))
        tb = rho * float(np.dot(b[b > 0], 1.0 - np.exp(-g[b > 0] / rho)))
    return ta + tb - eps * (S - float(a.sum() * b.sum())) + view.constant


def _potentials_from_plan(view, x):
    """A starting f when a backend returned no duals: the row-wise log-plan average."""
    n, m = view.shape
    P = view.plan(x)
    import warnings
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-zero rows: "mean of empty slice"
        L = np.where(P > 0, view.eps * np.log(np.where(P > 0, P, 1.0)) + view.C, np.nan)
        f = np.nanmean(L, axis=1)
    f = np.where(np.isfinite(f), f, 0.0)
    return f, np.zeros(m)


def forbidden_pairs_ray(view):
    """A Farkas ray (f, g) proving that no plan avoids the +inf-cost pairs, or None.

    Balanced OT with forbidden pairs is feasible iff every set S of rows can send its
    mass a(S) to the columns N(S) it may reach: a(S) <= b(N(S)) (Gale/Hall). A maximum
    flow on the bipartite graph of allowed pairs (masses rounded to integers, in favour
    of feasibility) finds a violated S when one exists; the ray f = 1 on S, g = -1 on
    N(S) has f_i + g_j <= 0 on every allowed pair and <f, a> + <g, b> = a(S) - b(N(S)) > 0,
    which no plan can meet (``check_infeasibility`` rechecks it in floating point).
    """
    if view.kind != "balanced":
        return None
    C = view.C
    allowed = np.isfinite(C)
    if allowed.all():
        return None
    import scipy.sparse as sp
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow
    a, b = view.a, view.b
    n, m = allowed.shape
    total = float(a.sum())
    K = float(2 ** 28)
    cap_a = np.floor(a / total * K).astype(np.int64)          # rounded down: sources send less
    cap_b = np.ceil(b / total * K).astype(np.int64)           # sinks take more
    rows, cols = np.nonzero(allowed)
    src, snk = n + m, n + m + 1
    u = np.concatenate([np.full(n, src), rows, n + np.arange(m)])
    v = np.concatenate([np.arange(n), n + cols, np.full(m, snk)])
    c = np.concatenate([cap_a, np.full(rows.size, int(K)), cap_b]).astype(np.int32)
    G = sp.csr_matrix((c, (u, v)), shape=(n + m + 2, n + m + 2))
    flow = maximum_flow(G, src, snk)
    if flow.flow_value >= int(cap_a.sum()):
        return None
    residual = (G - flow.flow).tocsr()
    residual.data = np.where(residual.data > 0, 1, 0)
    residual.eliminate_zeros()
    reach = breadth_first_order(residual, src, directed=True, return_predecessors=False)
    inS = np.zeros(n + m + 2, dtype=bool)
    inS[reach] = True
    S = inS[:n]
    reached = allowed[S].any(axis=0)
    f = np.where(S, 1.0, 0.0)
    g = np.where(reached, -1.0, 0.0)
    ray = [f, g]
    return ray if check_infeasibility(view, ray) else None


def check_infeasibility(view, ray, tol: float = 1e-9) -> bool:
    """True if ``ray = [f, g]`` proves no balanced plan exists: f_i + g_j <= 0 on every
    allowed (finite-cost) pair and <f, a> + <g, b> > 0, relative to |f| a + |g| b."""
    if view.kind != "balanced" or not isinstance(ray, (list, tuple)) or len(ray) != 2:
        return False
    f, g = (np.asarray(r, dtype=np.float64).ravel() for r in ray)
    if f.shape != view.a.shape or g.shape != view.b.shape or not (np.all(np.isfinite(f)) and np.all(np.isfinite(g))):
        return False
    allowed = np.isfinite(view.C)
    if np.any((f[:, None] + g[None, :] > 0) & allowed):
        return False
    value = float(f @ view.a + g @ view.b)
    return value > tol * float(np.abs(f) @ view.a + np.abs(g) @ view.b)


def certify_plan(view, x, duals) -> Certificate:
    """Marginal violation (balanced) and primal–dual gap of the entropic problem at x.

    primal_residual  (||P1 - a||_1 + ||P^T 1 - b||_1 + negative mass) / sum(a)   (balanced)
                     negative mass / sum(a)                                       (unbalanced)
    gap              |primal(P) - dual(f, g)| / max(|primal|, |dual|) (PDLP's relative gap,
                     no absolute floor, so costs in any unit are judged alike), where (f, g) are
                     the returned potentials after one exact dual block update each (which
                     can only raise the dual, so the gap stays an upper bound on suboptimality
                     of a feasible P).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (view.a.size * view.b.size,) or not np.all(np.isfinite(x)):
        return Certificate(float("inf"), float("nan"), float("nan"), None, None, "ot")
    prim, r, c, neg, bad = primal_value(view, x)
    scale = float(view.a.sum())
    if bad > 0:
        return Certificate(float("inf"), float("nan"), float("nan"), None, None, "ot")
    if view.kind == "balanced":
        viol = (float(np.abs(r - view.a).sum()) + float(np.abs(c - view.b).sum()) + neg) / scale
    else:
        viol = neg / scale
    if neg > 0:
        return Certificate(viol, float("nan"), float("nan"), None, None, "ot")
    f = g = None
    if duals is not None and len(duals) == 2:
        f0, g0 = (np.asarray(d, dtype=np.float64).ravel() for d in duals)
        if f0.shape == view.a.shape and g0.shape == view.b.shape:
            f, g = f0, g0
    if f is None:
        f, g = _potentials_from_plan(view, x)
    f = np.where(np.isnan(f), -np.inf, f)
    f, g = improve_potentials(view, f, g)
    dual = dual_value(view, f, g)
    gap = None
    if np.isfinite(prim) and np.isfinite(dual):
        gap = abs(prim - dual) / max(abs(prim), abs(dual), _TINY)
    return Certificate(primal_residual=viol, dual_residual=float("nan"), subgradient_residual=float("nan"),
                       gap=gap, dual_objective=dual, kind="ot_marginal+gap")


# ---------------------------------------------------------------------------------------
# The forms
# ---------------------------------------------------------------------------------------

@dataclass
class _OTView:
    # the generic KKT certificate cannot judge an OT plan (its dual recovery cannot cancel
    # the marginal constraints), so the engine uses this form's certificate for any
    # backend that solved an OT program, the cvxpy reference included
    own_certificate = True
    program: object
    a: np.ndarray
    b: np.ndarray
    eps: float
    constant: float
    kind: str = "balanced"
    rho: float | None = None
    _C: np.ndarray | None = None
    _CT: np.ndarray | None = field(default=None, repr=False)

    @property
    def C(self) -> np.ndarray:
        if self._C is None:
            self._C = self.program.C
        return self._C

    @property
    def CT(self) -> np.ndarray:
        if self._CT is None:
            self._CT = self.program.CT if isinstance(self.program, OTProgram) else np.ascontiguousarray(self.C.T)
        return self._CT

    @property
    def shape(self) -> tuple:
        return (self.a.size, self.b.size)

    @property
    def max_cost(self) -> float:
        C = self.C
        hi, lo = float(C.max()), float(C.min())
        if np.isfinite(hi) and np.isfinite(lo):
            return max(abs(hi), abs(lo))
        fin = C[np.isfinite(C)]
        return float(np.max(np.abs(fin), initial=0.0))

    def plan(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(self.shape, order="F")

    def certify(self, x, duals) -> Certificate:
        return certify_plan(self, x, duals)

    def check_infeasibility(self, ray) -> bool:
        return check_infeasibility(self, ray)


@register_form
@dataclass
class EntropicOT(_OTView):
    """Balanced entropic OT: min <C,P> + eps sum P log P + const, P 1 = a, P^T 1 = b, P >= 0."""
    name = "EntropicOT"

    @staticmethod
    def match(program):
        if isinstance(program, OTProgram):
            if program.kind != "balanced":
                return NoMatch("EntropicOT", "this is unbalanced OT (KL-relaxed marginals); "
                                             "form UnbalancedOT takes it")
            return EntropicOT(program, program.a, program.b, program.eps, program.constant)
        if not hasattr(program, "terms") or not hasattr(program, "variables"):
            return NoMatch("EntropicOT", "not a program")
        got = recognize(program)
        if isinstance(got, NoMatch):
            return got
        a, b, C, eps, const = got
        if np.isposinf(C).any():
            try:
                check_cost(C, a, b)
            except InvalidDataError as exc:
                return NoMatch("EntropicOT", str(exc))
        return EntropicOT(program, a, b, eps, const, _C=C)


@register_form
@dataclass
class UnbalancedOT(_OTView):
    """Unbalanced entropic OT with KL-relaxed marginals (weight rho) and reference a b^T."""
    name = "UnbalancedOT"

    @staticmethod
    def match(program):
        if isinstance(program, OTProgram) and program.kind == "unbalanced":
            return UnbalancedOT(program, program.a, program.b, program.eps, program.constant,
                                "unbalanced", program.rho)
        return NoMatch("UnbalancedOT", "only OT programs built by solvelab.problems.unbalanced_ot "
                                       "have this form")
