"""LazyOTProgram: balanced entropic OT between point clouds, with O(n + m) memory.

    min <C, P> + eps sum P log P   s.t.  P 1 = a, P^T 1 = b, P >= 0,   C_ij = |x_i - y_j|^2

The n x m cost, kernel and plan are never stored: every pass recomputes C_ij from the
clouds x (n, d) and y (m, d) in cache-sized blocks (``solvelab.kernels.ot_lazy``).

The point. Where the dense ``OTProgram``'s point is the n*m plan, this program's point
x (the engine's flat vector, ``res.x``) is the pair of potentials ``[f; g]`` (n + m
numbers, variables 'f' and 'g' in ``res.values``), and the plan is the Gibbs plan they
define::

    P_ij = exp((f_i + g_j - C_ij) / eps)   on the support of a and b (zero elsewhere)

(entries of f, g at zero-mass points are 0 in x and unused; ``res.duals`` holds the same
potentials with -inf there, the dense path's convention). Every optimal entropic plan has
this form, so nothing is lost. The certificate (``certify_lazy``) is computed from x
alone, on the original problem, without forming P: one fused pass gives the plan's row and
column sums, <C, P> and sum P log P (marginal violation and primal value); two log-sum-exp
passes give the improved potentials and the dual value (the same measures as the dense
``certify_plan``). The plan itself is available in pieces:

    program.plan_block(x, i0, i1)        rows i0:i1 of P, dense (rows x m)
    program.plan_sparse(x, threshold)    CSR of the entries P_ij >= threshold * a_i, with the
                                         exact mass it leaves out (<= threshold * m * sum(a))
    program.stats(x)                     marginals, <C, P>, sum P log P, mass
    solvelab.families.ot.rounding.round_lazy(program, x)   an exactly feasible plan (AWR)
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError, ShapeError
from ...ir.forms import NoMatch, register_form
from ...ir.program import VariableInfo
from ...ir.structured import StructuredProgram
from ...result import Certificate
from .certificate import _ot_certificate
from .validate import check_balanced, check_eps, check_marginal

_TINY = float(np.finfo(np.float64).tiny)

#: ``point_cloud_ot`` builds the lazy program when n * m exceeds this (a dense float64
#: cost matrix of 2.5e7 entries is 200 MB, and the dense solvers hold two or three of them)
LAZY_ABOVE = 2.5e7
#: the metrics the lazy kernels compute
LAZY_METRICS = ("sqeuclidean",)


def check_cloud(z, name: str) -> np.ndarray:
    """A point cloud as a finite float64 (n, d) array (1-D: n points on a line)."""
    arr = np.asarray(z)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
                                   or arr.dtype == bool):
        raise InvalidDataError(f"point cloud {name} must be a real numeric array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ShapeError(f"point cloud {name} must be an (n, d) array, got shape {np.shape(z)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"point cloud {name} is empty (shape {arr.shape}); OT needs at least one point "
                         f"of dimension >= 1")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise InvalidDataError(f"point cloud {name} has NaN or Inf coordinates ({bad} of {arr.shape[0]} points)")
    return arr


def _extreme_points(P: np.ndarray) -> np.ndarray:
    """Indices of points of P whose convex hull is P's (all of them when qhull cannot help):
    a convex function such as |x - y|^2 takes its maximum over a cloud at one of them."""
    n, d = P.shape
    if d == 1:
        return np.unique([int(np.argmin(P[:, 0])), int(np.argmax(P[:, 0]))])
    if d > 3 or n <= d + 1:
        return np.arange(n)
    from scipy.spatial import ConvexHull, QhullError
    try:
        return np.asarray(ConvexHull(P).vertices)
    except (QhullError, ValueError):   # flat (degenerate) clouds
        return np.arange(n)


def max_sq_distance(x: np.ndarray, y: np.ndarray) -> float:
    """max_ij |x_i - y_j|^2, exactly: over the hull vertices of each cloud (d <= 3), else
    by one lazy pass (O(n m) time, O(n) memory)."""
    from ...kernels import ot_lazy as KL
    xs = x[_extreme_points(x)]
    ys = y[_extreme_points(y)]
    out = np.empty(xs.shape[0])
    KL.max_cost(np.ascontiguousarray(xs.T), np.ascontiguousarray(ys.T), out)
    return float(out.max())


class LazyOTProgram(StructuredProgram):
    """The lazy point-cloud OT node (balanced, squared Euclidean cost).

    ``x`` (n, d), ``y`` (m, d): the clouds; ``a``, ``b``: masses (uniform when None; zeros
    allowed); exactly one of ``eps`` (absolute) and ``rel_eps`` (times max C, computed
    exactly from the clouds' hull vertices); ``reason``: why this program was chosen (shown
    in the repr and in ``res.info['lazy']``).
    """

    family = "ot"
    backends = ("sinkhorn",)
    kind = "balanced"
    rho = None
    lazy = True

    def __init__(self, x, y, a=None, b=None, eps=None, rel_eps=None, metric: str = "sqeuclidean",
                 reason: str = "asked for (lazy=True)", constant: float = 0.0):
        if metric not in LAZY_METRICS:
            raise InvalidDataError(f"the lazy point-cloud OT program computes metric 'sqeuclidean' only, got "
                                   f"{metric!r}; use point_cloud_ot(..., lazy=False) for {metric!r} (it holds "
                                   f"the n x m cost matrix)")
        x = check_cloud(x, "x")
        y = check_cloud(y, "y")
        if x.shape[1] != y.shape[1]:
            raise ShapeError(f"point clouds x and y must have the same dimension, got x {x.shape} (d = "
                             f"{x.shape[1]}) and y {y.shape} (d = {y.shape[1]})")
        n, m = x.shape[0], y.shape[0]
        a = np.full(n, 1.0 / n) if a is None else check_marginal(a, "a")
        b = np.full(m, 1.0 / m) if b is None else check_marginal(b, "b")
        if a.size != n or b.size != m:
            raise ShapeError(f"masses must have one entry per point: a has {a.size} for {n} points of x, "
                             f"b has {b.size} for {m} points of y")
        check_balanced(a, b)
        if (eps is None) == (rel_eps is None):
            raise InvalidDataError("give exactly one of eps (absolute) and rel_eps (times max C)")
        super().__init__([VariableInfo(name="f", shape=(n,), offset=0, size=n, key=None),
                          VariableInfo(name="g", shape=(m,), offset=n, size=m, key=None)], constant=constant)
        self.x, self.y, self.a, self.b = x, y, a, b
        self.metric = metric
        self.reason = reason
        self.ri = np.nonzero(a > 0)[0]
        self.ci = np.nonzero(b > 0)[0]
        self.XT = np.ascontiguousarray(x[self.ri].T)
        self.YT = np.ascontiguousarray(y[self.ci].T)
        self.a_s = a[self.ri]
        self.b_s = b[self.ci]
        self._cmax = None
        self._cmax_support = None
        if rel_eps is not None:
            r = check_eps(rel_eps)
            cm = self.max_cost
            if not cm > 0:
                raise InvalidDataError("rel_eps needs a positive max C, but every point of x coincides with every "
                                       "point of y; give eps (absolute)")
            eps = r * cm
        self.eps = check_eps(eps)

    # -- data ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return (self.a.size, self.b.size)

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    @property
    def max_cost(self) -> float:
        """max_ij C_ij over all points (exact)."""
        if self._cmax is None:
            self._cmax = max_sq_distance(self.x, self.y)
        return self._cmax

    @property
    def max_cost_support(self) -> float:
        """max C_ij over the points of positive mass (the scale of epsilon scaling)."""
        if self._cmax_support is None:
            full = self.ri.size == self.a.size and self.ci.size == self.b.size
            self._cmax_support = self.max_cost if full else max_sq_distance(self.XT.T, self.YT.T)
        return self._cmax_support

    # -- the point: potentials ---------------------------------------------------------
    def potentials(self, x):
        """(f, g) on the support of a and b, from the flat point x = [f; g]."""
        x = np.asarray(x, dtype=np.float64)
        n = self.a.size
        return np.ascontiguousarray(x[:n][self.ri]), np.ascontiguousarray(x[n:][self.ci])

    def point(self, f_s, g_s) -> np.ndarray:
        """The flat point [f; g] from support potentials (0 at zero-mass points)."""
        n, m = self.shape
        x = np.zeros(n + m)
        x[self.ri] = f_s
        x[n + self.ci] = g_s
        return x

    def duals(self, f_s, g_s) -> list:
        """[f, g] full-size, -inf at zero-mass points (the dense path's convention)."""
        f = np.full(self.a.size, -np.inf)
        g = np.full(self.b.size, -np.inf)
        f[self.ri], g[self.ci] = f_s, g_s
        return [f, g]

    # -- passes over the implicit plan ---------------------------------------------------
    def stats_support(self, f_s, g_s, eps=None) -> dict:
        """One pass over P = exp((f + g - C) / eps) on the support: its row and column sums,
        <C, P>, sum P log P, mass and the count of +inf entries."""
        from ...kernels import ot_lazy as KL
        eps = self.eps if eps is None else eps
        n_s, m_s = self.ri.size, self.ci.size
        k = KL.n_chunks(n_s)
        rows = np.empty(n_s)
        cols = np.zeros((k, m_s))
        parts = np.zeros((k, 4))
        KL.plan_stats(self.XT, self.YT, np.ascontiguousarray(f_s, dtype=np.float64),
                      np.ascontiguousarray(g_s, dtype=np.float64), 1.0 / eps, rows, cols, parts)
        tot = parts.sum(axis=0)
        return {"rows": rows, "cols": cols.sum(axis=0), "transport_cost": float(tot[0]),
                "plogp": float(tot[1]), "mass": float(tot[2]), "bad": float(tot[3])}

    def stats(self, x) -> dict:
        """``stats_support`` at the flat point x, marginals scattered to full size."""
        st = self.stats_support(*self.potentials(x))
        r = np.zeros(self.a.size)
        c = np.zeros(self.b.size)
        r[self.ri], c[self.ci] = st["rows"], st["cols"]
        st["rows"], st["cols"] = r, c
        return st

    def transport_cost(self, x) -> float:
        """<C, P> of the plan at x."""
        return self.stats_support(*self.potentials(x))["transport_cost"]

    def c_transform_rows(self, g_s, eps=None) -> np.ndarray:
        """L_i = log sum_j exp((g_j - C_ij) / eps) on the support (the exact f-update is
        f = eps (log a - L))."""
        from ...kernels import ot_lazy as KL
        eps = self.eps if eps is None else eps
        out = np.empty(self.ri.size)
        KL.lse(self.XT, self.YT, np.ascontiguousarray(g_s, dtype=np.float64), 1.0 / eps,
               np.full(self.ri.size, np.nan), out)
        return out

    def c_transform_cols(self, f_s, eps=None) -> np.ndarray:
        """L_j = log sum_i exp((f_i - C_ij) / eps) on the support."""
        from ...kernels import ot_lazy as KL
        eps = self.eps if eps is None else eps
        out = np.empty(self.ci.size)
        KL.lse(self.YT, self.XT, np.ascontiguousarray(f_s, dtype=np.float64), 1.0 / eps,
               np.full(self.ci.size, np.nan), out)
        return out

    def plan_block(self, x, i0: int = 0, i1: int | None = None) -> np.ndarray:
        """Rows i0:i1 of the plan, dense ((i1 - i0) x m; zero rows and columns off the support)."""
        from ...kernels import ot_lazy as KL
        n, m = self.shape
        i1 = n if i1 is None else int(i1)
        i0 = int(i0)
        if not 0 <= i0 <= i1 <= n:
            raise InvalidDataError(f"plan_block rows {i0}:{i1} are outside 0:{n}")
        if (i1 - i0) * m > 2 ** 27:
            raise InvalidDataError(f"plan_block {i0}:{i1} would hold {(i1 - i0) * m:.3g} entries (> 2^27 = 1 GiB); "
                                   f"ask for fewer rows at a time, or plan_sparse")
        f, g = np.asarray(x, dtype=np.float64)[:n], np.asarray(x, dtype=np.float64)[n:]
        out = np.zeros((i1 - i0, m))
        rows = self.ri[(self.ri >= i0) & (self.ri < i1)]
        if rows.size and self.ci.size:
            blk = np.empty((rows.size, self.ci.size))
            XT = np.ascontiguousarray(self.x[rows].T)
            KL.plan_block(XT, self.YT, np.ascontiguousarray(f[rows]), np.ascontiguousarray(g[self.ci]),
                          1.0 / self.eps, 0, blk)
            out[np.ix_(rows - i0, self.ci)] = blk
        return out

    def plan_sparse(self, x, threshold: float = 1e-10, max_nnz: int = 2 ** 27):
        """(P_sparse, dropped): the CSR (n x m) of the plan's entries P_ij >= threshold * a_i
        and the exact mass left out (the plan's total mass minus the kept mass; at most
        threshold * m * sum(a)). ``max_nnz`` guards memory (raise threshold if hit)."""
        import scipy.sparse as sp

        from ...kernels import ot_lazy as KL
        t = float(threshold)
        if not (np.isfinite(t) and 0 < t < 1):
            raise InvalidDataError(f"plan_sparse threshold must be in (0, 1) (relative to each row's mass a_i), "
                                   f"got {threshold!r}")
        f_s, g_s = self.potentials(x)
        inv = 1.0 / self.eps
        log_thr = np.log(self.a_s) + np.log(t)
        counts = np.zeros(self.ri.size, dtype=np.int64)
        KL.count_above(self.XT, self.YT, f_s, g_s, inv, log_thr, counts)
        nnz = int(counts.sum())
        if nnz > max_nnz:
            raise InvalidDataError(f"the sparse plan at threshold {t:g} would keep {nnz:,} entries (> max_nnz = "
                                   f"{max_nnz:,}); raise the threshold or max_nnz")
        indptr = np.zeros(self.ri.size + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.empty(nnz, dtype=np.int64)
        data = np.empty(nnz)
        KL.fill_above(self.XT, self.YT, f_s, g_s, inv, log_thr, indptr, indices, data)
        Ps = sp.csr_matrix((data, indices, indptr), shape=(self.ri.size, self.ci.size))
        mass = self.stats_support(f_s, g_s)["mass"]
        dropped = max(0.0, mass - float(data.sum()))
        n, m = self.shape
        full = sp.csr_matrix((n, m))
        if nnz:
            coo = Ps.tocoo()
            full = sp.csr_matrix((coo.data, (self.ri[coo.row], self.ci[coo.col])), shape=(n, m))
        return full, dropped

    # -- the StructuredProgram contract ------------------------------------------------
    def objective(self, x) -> float:
        """<C, P> + eps sum P log P (+ const) of the Gibbs plan at x (+inf if it overflows)."""
        st = self.stats_support(*self.potentials(x))
        if st["bad"] > 0:
            return float("inf")
        return st["transport_cost"] + self.eps * st["plogp"] + self.constant

    def certify(self, x, duals=None) -> Certificate:
        return certify_lazy(self, x, duals)

    def __repr__(self) -> str:
        n, m = self.shape
        return (f"LazyOTProgram(balanced, point clouds {n} x {m} in {self.dim}-D, {self.metric}, eps={self.eps:g}; "
                f"lazy: {self.reason})")


def improve_lazy(p: LazyOTProgram, f_s, g_s):
    """One exact g-update then f-update (they only raise the dual): (f', g', L) with L the
    row log-sum-exps of the f-update (so the plan at (f', g') has row sums exp(f'/eps + L))."""
    eps = p.eps
    g2 = eps * (np.log(p.b_s) - p.c_transform_cols(f_s))
    L = p.c_transform_rows(g2)
    f2 = eps * (np.log(p.a_s) - L)
    return f2, g2, L


def certify_lazy(view, x, duals=None) -> Certificate:
    """The OT certificate of the Gibbs plan at the potentials x = [f; g], without forming it.

    marginal_violation  (||P1 - a||_1 + ||P^T 1 - b||_1) / sum(a), from one fused pass
    gap                 |primal(P) - dual(f', g')| / max(|primal|, |dual|), (f', g') the
                        potentials after one exact g- then f-update (as ``certify_plan``)
    ``duals`` are not read: the point x is the potentials.
    """
    p = view.program if not isinstance(view, LazyOTProgram) else view
    n, m = p.shape
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (n + m,) or not np.all(np.isfinite(x)):
        return _ot_certificate(p, float("inf"), float("inf"))
    f_s, g_s = p.potentials(x)
    st = p.stats_support(f_s, g_s)
    if st["bad"] > 0:
        return _ot_certificate(p, float("inf"), float("inf"))
    scale = float(p.a.sum())
    viol = (float(np.abs(st["rows"] - p.a_s).sum()) + float(np.abs(st["cols"] - p.b_s).sum())) / scale
    prim = st["transport_cost"] + p.eps * st["plogp"] + p.constant
    f2, g2, L = improve_lazy(p, f_s, g_s)
    S = float(np.sum(np.exp(f2 / p.eps + L)))
    dual = float(p.a_s @ f2 + p.b_s @ g2) + p.eps * scale - p.eps * S + p.constant
    gap = float("inf")
    if np.isfinite(prim) and np.isfinite(dual):
        gap = abs(prim - dual) / max(abs(prim), abs(dual), _TINY)
    return _ot_certificate(p, viol, gap, dual, primal=prim)


@register_form
class LazyEntropicOT:
    """Balanced entropic OT between point clouds, squared Euclidean cost computed on the
    fly (a ``LazyOTProgram``); the point is the potentials [f; g]."""
    name = "LazyEntropicOT"
    own_certificate = True
    lazy = True
    kind = "balanced"
    rho = None

    def __init__(self, program: LazyOTProgram):
        self.program = program
        self.a, self.b, self.eps, self.constant = program.a, program.b, program.eps, program.constant

    @property
    def shape(self) -> tuple:
        return self.program.shape

    @property
    def max_cost(self) -> float:
        return self.program.max_cost

    def certify(self, x, duals) -> Certificate:
        return self.program.certify(x, duals)

    @staticmethod
    def match(program):
        if isinstance(program, LazyOTProgram):
            return LazyEntropicOT(program)
        return NoMatch("LazyEntropicOT", "only the lazy point-cloud OT program (solvelab.problems.point_cloud_ot "
                                         "with lazy=True, or above its size threshold) has this form")
