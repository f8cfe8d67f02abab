"""Optimal transport constructors: entropic OT (balanced and unbalanced), point clouds.

Each validates its data, builds the OT family's node (``solvelab.families.ot.OTProgram``:
no CVXPY tree, so a 4096 x 4096 plan costs one cost matrix, not a 16M-entry expression)
and returns it as an ``OTProblem`` (``Problem.from_program``), solved through the engine
like any model, so the certificate is recomputed from the returned plan::

    prob = sl.problems.entropic_ot(a, b, C, eps=1e-2 * C.max())
    res = prob.solve(backend="sinkhorn_newton", tol=1e-9)
    P = res.values["P"]; res.info["transport_cost"]

``prob.to_cvxpy()`` gives the same problem as a plain CVXPY declaration (small sizes).

Large point clouds (``point_cloud_ot`` above n * m = 2.5e7, or ``lazy=True``) get the lazy
program (``solvelab.families.ot.LazyOTProgram``): O(n + m) memory, the cost computed on the
fly, and the potentials [f; g] as its point (``res.values['f']``, ``res.values['g']``); the
plan comes in pieces from the ``LazyOTProblem``'s methods::

    prob = sl.problems.point_cloud_ot(x, y, rel_eps=1e-2)      # n = m = 20000: lazy
    res = prob.solve(backend="sinkhorn", tol=1e-6)
    res.info["lazy"], res.info["transport_cost"]
    P_rows = prob.plan_block(res, 0, 100); P_sp, dropped = prob.plan_sparse(res, 1e-10)
    R = prob.round(res)                                           # exactly feasible (AWR)
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError, ShapeError
from ..families.ot import LAZY_ABOVE, LazyOTProgram, OTProgram, check_marginal, round_lazy
from ..model.problem import Problem

__all__ = ["entropic_ot", "unbalanced_ot", "point_cloud_ot", "point_cloud_cost", "grid_cost", "OTProblem",
           "LazyOTProblem", "LAZY_ABOVE"]


class OTProblem(Problem):
    """An entropic OT problem with the plan variable ``P`` (shape (n, m)); built by
    ``OTProblem.from_program(OTProgram(...))``."""

    @property
    def program(self) -> OTProgram:
        return self.compile()

    def to_cvxpy(self):
        """(cvxpy.Problem, P) declaring the same problem in plain CVXPY (for small sizes)."""
        import cvxpy as cp
        p = self.program
        n, m = p.shape
        C = p.C
        if not np.all(np.isfinite(C)):
            raise InvalidDataError("+inf costs cannot be written in CVXPY")
        P = cp.Variable((n, m), nonneg=True, name="P")
        if p.kind == "balanced":
            obj = cp.sum(cp.multiply(C, P)) - p.eps * cp.sum(cp.entr(P)) + p.constant
            cons = [cp.sum(P, axis=1) == p.a, cp.sum(P, axis=0) == p.b]
        else:
            Q = np.outer(p.a, p.b)
            obj = (cp.sum(cp.multiply(C, P)) + p.eps * cp.sum(cp.kl_div(P, Q))
                   + p.rho * cp.sum(cp.kl_div(cp.sum(P, axis=1), p.a))
                   + p.rho * cp.sum(cp.kl_div(cp.sum(P, axis=0), p.b)) + p.constant)
            cons = []
        return cp.Problem(cp.Minimize(obj), cons), P

    def __repr__(self) -> str:
        return f"solvelab.problems.OTProblem({self.program!r})"


class LazyOTProblem(Problem):
    """Entropic OT between point clouds on the lazy program (no n x m array anywhere);
    the solution's point is the potentials, the plan is read through these methods."""

    @property
    def program(self) -> LazyOTProgram:
        return self.compile()

    def _x(self, res):
        x = getattr(res, "x", res)
        if x is None:
            raise InvalidDataError(f"this result has no point (status {getattr(res, 'status', None)}): no plan to read")
        return x

    def plan_block(self, res, i0: int = 0, i1: int | None = None) -> np.ndarray:
        """Rows i0:i1 of the plan at the result (or flat point) ``res``, dense."""
        return self.program.plan_block(self._x(res), i0, i1)

    def plan_sparse(self, res, threshold: float = 1e-10, max_nnz: int = 2 ** 27):
        """(CSR plan of the entries >= threshold * a_i, exact mass left out)."""
        return self.program.plan_sparse(self._x(res), threshold, max_nnz)

    def transport_cost(self, res) -> float:
        return self.program.transport_cost(self._x(res))

    def round(self, res):
        """The AWR rounding of the plan onto U(a, b): a ``RoundedPlan`` (O(n + m))."""
        return round_lazy(self.program, self._x(res))

    def to_cvxpy(self):
        raise InvalidDataError("the lazy point-cloud OT problem has no CVXPY declaration (it would hold the "
                               "n x m plan); build it with point_cloud_ot(..., lazy=False) at small sizes")

    def __repr__(self) -> str:
        return f"solvelab.problems.LazyOTProblem({self.program!r})"


def entropic_ot(a, b, C, eps) -> OTProblem:
    """min <C, P> + eps sum P log P  s.t.  P 1 = a, P^T 1 = b, P >= 0.

    ``a``, ``b``: nonnegative masses with equal totals (zeros allowed: those rows and
    columns of the plan are exactly zero). ``C``: (n, m) costs, or a callable returning
    them (evaluated on first use); +inf marks a forbidden pair; NaN and -inf are errors.
    ``eps`` > 0. Same minimizer as POT's ``ot.sinkhorn(a, b, C, eps)`` (POT's objective
    differs by the constant eps * sum(a)).
    """
    return OTProblem.from_program(OTProgram(a, b, C, eps, kind="balanced"))


def unbalanced_ot(a, b, C, eps, rho) -> OTProblem:
    """min <C, P> + eps KL(P | a b^T) + rho KL(P 1 | a) + rho KL(P^T 1 | b), P >= 0.

    POT's ``ot.unbalanced.sinkhorn_unbalanced(a, b, C, eps, rho)`` (reg_type='kl').
    Total masses may differ. Solved by backend 'sinkhorn'.
    """
    return OTProblem.from_program(OTProgram(a, b, C, eps, kind="unbalanced", rho=rho))


def point_cloud_cost(x, y, metric: str = "sqeuclidean", p: float = 2.0):
    """A callable building the (n, m) cost between point clouds x (n, d) and y (m, d)
    on first call: 'sqeuclidean', 'euclidean', 'cityblock' or 'minkowski' (power p)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ShapeError(f"point clouds must be (n, d) and (m, d) arrays, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidDataError("point clouds have NaN or Inf coordinates")
    if metric not in ("sqeuclidean", "euclidean", "cityblock", "minkowski"):
        raise InvalidDataError(f"unknown metric {metric!r}; use sqeuclidean, euclidean, cityblock or minkowski")

    def build():
        if metric in ("sqeuclidean", "euclidean"):
            C = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
            np.maximum(C, 0.0, out=C)
            return np.sqrt(C, out=C) if metric == "euclidean" else C
        from scipy.spatial.distance import cdist
        return cdist(x, y, metric="cityblock") if metric == "cityblock" else cdist(x, y, "minkowski", p=p)
    build.shape = (x.shape[0], y.shape[0])
    return build


#: at or below this eps / max C (with the lazy program chosen automatically, d <= 3) the
#: multiscale program is taken: 6000 points at 1e-4 max C took 17.8 s there against the
#: lazy passes' 25.4 s, at 1e-3 27.8 s against 15.1 s (benchmarks/BENCHMARKS.md)
MULTISCALE_REL_EPS = 1e-4


def point_cloud_ot(x, y, eps=None, a=None, b=None, metric: str = "sqeuclidean", rel_eps: float | None = None,
                   rho: float | None = None, lazy: bool | None = None, method: str | None = None):
    """Entropic OT between point clouds (uniform weights unless a, b are given). Give
    ``eps`` (absolute) or ``rel_eps`` (times max C); ``rho`` makes it unbalanced.

    ``lazy``: None (default) builds the lazy program (``LazyOTProblem``: O(n + m) memory,
    the squared Euclidean cost computed on the fly, the potentials as the point) when
    n * m > ``LAZY_ABOVE`` (2.5e7) and it applies (balanced, 'sqeuclidean'), else the dense
    one (``OTProblem``: the cost matrix built on first use, the plan as the point); True or
    False forces either (lazy=True refuses unbalanced OT and other metrics, naming them).
    The reason for the choice is in the program's repr and ``res.info['lazy']``.
    ``method='multiscale'``: the lazy problem on ``MultiscaleOTProgram`` (truncated-support
    Sinkhorn on grid clusterings, its certificate bounding the truncated mass; for large
    clouds at small eps). The automatic choice takes it too when the lazy program is chosen
    automatically, the clouds are in at most 3-D and eps <= ``MULTISCALE_REL_EPS`` (1e-4)
    max C, and says so in the reason.
    """
    if method not in (None, "multiscale"):
        raise InvalidDataError(f"method must be None or 'multiscale', got {method!r}")
    if method == "multiscale":
        if rho is not None:
            raise InvalidDataError("method='multiscale' is balanced only; unbalanced OT (rho) needs lazy=False")
        from ..families.ot.multiscale import MultiscaleOTProgram
        return LazyOTProblem.from_program(MultiscaleOTProgram(x, y, a, b, eps=eps, rel_eps=rel_eps, metric=metric,
                                                              reason="asked for (method='multiscale')"))
    if lazy not in (None, True, False):
        raise InvalidDataError(f"lazy must be None (automatic), True or False, got {lazy!r}")
    if (eps is None) == (rel_eps is None):
        raise InvalidDataError("give exactly one of eps (absolute) and rel_eps (times max C)")
    nx_, ny_ = np.shape(x)[:1], np.shape(y)[:1]
    size = float(nx_[0] if nx_ else 0) * float(ny_[0] if ny_ else 0)
    auto = lazy is None
    if lazy is None:
        lazy = size > LAZY_ABOVE and rho is None and metric == "sqeuclidean"
        reason = f"n*m = {size:.3g} > {LAZY_ABOVE:.3g} (point_cloud_ot's automatic threshold)"
    else:
        reason = "asked for (lazy=True)"
    if lazy:
        if rho is not None:
            raise InvalidDataError("the lazy point-cloud program is balanced only; unbalanced OT (rho) needs "
                                   "point_cloud_ot(..., lazy=False)")
        prog = LazyOTProgram(x, y, a, b, eps=eps, rel_eps=rel_eps, metric=metric, reason=reason)
        if auto and prog.dim <= 3 and prog.max_cost > 0 and prog.eps <= MULTISCALE_REL_EPS * prog.max_cost:
            from ..families.ot.multiscale import MultiscaleOTProgram
            why = (f"{reason}, and eps = {prog.eps / prog.max_cost:.2g} max C <= {MULTISCALE_REL_EPS:g} max C in "
                   f"{prog.dim}-D: the multiscale truncated-support program (method='multiscale'; lazy=True "
                   f"keeps the full lazy passes)")
            prog = MultiscaleOTProgram(x, y, a, b, eps=prog.eps, metric=metric, reason=why)
        return LazyOTProblem.from_program(prog)
    cost = point_cloud_cost(x, y, metric)
    n, m = cost.shape
    a = np.full(n, 1.0 / n) if a is None else check_marginal(a, "a")
    b = np.full(m, 1.0 / m) if b is None else check_marginal(b, "b")
    if rel_eps is not None:
        C = cost()
        eps = float(rel_eps) * float(C.max())
        cost = C
    kind = "balanced" if rho is None else "unbalanced"
    return OTProblem.from_program(OTProgram(a, b, cost, eps, kind=kind, rho=rho))


def grid_cost(R: int, S: int | None = None) -> np.ndarray:
    """Squared Euclidean distance between the pixels of an R x S grid (row-major), as for
    DOTmark images flattened with ``img.ravel()``."""
    S = R if S is None else S
    ii, jj = np.meshgrid(np.arange(R), np.arange(S), indexing="ij")
    g = np.stack([ii.ravel(), jj.ravel()], axis=1).astype(np.float64)
    return point_cloud_cost(g, g)()
