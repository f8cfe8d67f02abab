"""Metric-constrained constructors: metric nearness (L2, L1), metric learning from
similar / dissimilar pairs and the correlation clustering LP, plus graph helpers that
build their data.

Each validates its data, builds the metric family's node
(``solvelab.families.metric.MetricProgram``: the O(n^3) triangle constraints are held
implicitly) and returns a ``MetricProblem``, solved by backend ``project_forget``::

    prob = sl.problems.metric_nearness(D)            # min ||X - D||_F^2, X a metric
    res = prob.solve(backend="project_forget", tol=1e-6)
    X = res.values["X"]; res.info["triangles"], res.info["multipliers"]

``prob.to_cvxpy()`` writes the same problem with every triangle explicit (small n only).
From a CVXPY declaration: ``metric_problem(cp.Minimize(cp.sum_squares(cp.multiply(S, X - D))),
[is_metric(X)])`` recognizes weighted L2 / L1 nearness and the LP (with ``X <= 1``).
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError, ShapeError
from ..families.metric import (IsMetric, MetricProgram, build_node, check_square, check_weights,
                               is_metric_constraint)
from ..model.problem import Problem

__all__ = ["metric_nearness", "metric_learning", "correlation_clustering_lp", "shortest_path_dissimilarities",
           "jaccard_correlation_instance", "MetricProblem", "triangle_matrix", "is_metric", "metric_problem"]


def triangle_matrix(n: int):
    """(A, pairs): A (sparse, n (n-1) (n-2) / 2 rows) with A x <= 0 the triangle
    inequalities x_ij <= x_ik + x_kj over the pair vector x (pairs i < j in
    ``np.triu_indices`` order). For small n: this is the O(n^3) object we never build."""
    import scipy.sparse as sp
    iu, ju = np.triu_indices(n, 1)
    P = np.full((n, n), -1, dtype=np.int64)
    P[iu, ju] = np.arange(iu.size)
    P[ju, iu] = P[iu, ju]
    I, J, Kk = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    mask = (I < J) & (Kk != I) & (Kk != J)
    I, J, Kk = I[mask], J[mask], Kk[mask]
    rows = np.arange(I.size)
    r = np.concatenate([rows, rows, rows])
    c = np.concatenate([P[I, J], P[I, Kk], P[Kk, J]])
    v = np.concatenate([np.ones(I.size), -np.ones(I.size), -np.ones(I.size)])
    A = sp.csr_matrix((v, (r, c)), shape=(I.size, iu.size))
    return A, (iu, ju)


class MetricProblem(Problem):
    """A metric-constrained problem with the variable ``X`` (n, n); built by
    ``MetricProblem.from_program(MetricProgram(...))``."""

    @property
    def program(self) -> MetricProgram:
        return self.compile()

    def to_cvxpy(self):
        """(cvxpy.Problem, X): the same problem over the pair vector with every triangle
        explicit; X is an (n, n) CVXPY expression (``X.value`` after solving)."""
        import cvxpy as cp
        import scipy.sparse as sp
        p = self.program
        n = p.n_points
        A, (iu, ju) = triangle_matrix(n)
        m = iu.size
        x = cp.Variable(m, name="x")
        E = sp.csr_matrix((np.ones(2 * m), (np.concatenate([iu * n + ju, ju * n + iu]),
                                            np.concatenate([np.arange(m), np.arange(m)]))), shape=(n * n, m))
        X = cp.reshape(E @ x, (n, n), order="C")
        cons = [A @ x <= 0, x >= 0]
        if p.bounds is not None:
            bi, bj, lo, hi = p.bounds
            pos = np.full((n, n), -1, dtype=np.int64)
            pos[iu, ju] = np.arange(m)
            idx = pos[bi, bj]
            up, dn = np.isfinite(hi), np.isfinite(lo)
            if up.any():
                cons.append(x[idx[up]] <= hi[up])
            if dn.any():
                cons.append(x[idx[dn]] >= lo[dn])
        if p.kind == "lp":
            obj = p.c[iu, ju] @ x + p.constant
            cons.append(x <= 1)
        else:
            d, w2 = p.D[iu, ju], p.w2[iu, ju]
            if p.kind == "l2":
                obj = cp.sum_squares(cp.multiply(np.sqrt(w2), x - d)) + p.constant
            else:
                obj = w2 @ cp.abs(x - d) + p.constant
        return cp.Problem(cp.Minimize(obj), cons), X

    def __repr__(self) -> str:
        return f"solvelab.problems.MetricProblem({self.program!r})"


def metric_nearness(D, W=None, p: int = 2) -> MetricProblem:
    """min sum_{i != j} W_ij |X_ij - D_ij|^p  over metrics X (zero diagonal, X >= 0, every
    X_ij <= X_ik + X_kj), p = 2 or 1.

    ``D``: symmetric, nonnegative (n, n), zero diagonal, n >= 3. ``W``: symmetric positive
    weights (default all ones; the diagonal is not read). Errors name the entry or shape.
    """
    if p not in (1, 2) or isinstance(p, bool):
        raise InvalidDataError(f"p must be 1 or 2, got {p!r}")
    return MetricProblem.from_program(MetricProgram("l2" if p == 2 else "l1", D=D, W=W))


def metric_learning(D, similar=(), dissimilar=(), upper=None, lower=None, W=None) -> MetricProblem:
    """Metric learning from pairwise constraints (the Project-and-Forget paper's third
    application, in the setting of Davis et al.'s ITML): the metric X nearest to D,

        min sum_{i != j} W_ij (X_ij - D_ij)^2   X a metric,
            X_ij <= upper for (i, j) in ``similar``,  X_ij >= lower for (i, j) in ``dissimilar``

    ``D``: a dissimilarity matrix, or an (n, d) array of points (Euclidean distances,
    taken when the array is not square). ``similar`` / ``dissimilar``: (k, 2) index
    pairs. Defaults as ITML's: ``upper`` the 5th and ``lower`` the 95th percentile of
    the off-diagonal entries of D. A pair in both lists, bounds that no metric meets on a
    pair (lower > upper), or indices out of range are errors; constraints that
    contradict only through the triangles (i~j, j~k similar, i, k dissimilar with lower
    > 2 upper) leave the problem infeasible, which ends at max_iter, never optimal.
    Returns a ``MetricProblem`` (backend ``project_forget``; ``to_cvxpy()`` for small n).
    """
    A = np.asarray(D, dtype=np.float64) if not isinstance(D, (list, tuple)) else np.array(D, dtype=np.float64)
    if A.ndim == 2 and A.shape[0] != A.shape[1]:
        if not np.all(np.isfinite(A)):
            raise InvalidDataError("the points have NaN or Inf coordinates")
        sq = (A * A).sum(1)
        A = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * A @ A.T, 0.0))
        np.fill_diagonal(A, 0.0)
        A = 0.5 * (A + A.T)
    D = check_square(A, "D")
    n = D.shape[0]
    off = D[~np.eye(n, dtype=bool)]
    upper = float(np.percentile(off, 5)) if upper is None else upper
    lower = float(np.percentile(off, 95)) if lower is None else lower
    for name, v in (("upper", upper), ("lower", lower)):
        if not (np.isscalar(v) and np.isfinite(v) and v >= 0):
            raise InvalidDataError(f"{name} must be a finite nonnegative number, got {v!r}")

    def pairs(P, what):
        P = np.asarray(P)
        if P.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        if P.ndim != 2 or P.shape[1] != 2:
            raise ShapeError(f"{what} must be a (k, 2) array of index pairs, got shape {P.shape}")
        return P
    S, Dp = pairs(similar, "similar"), pairs(dissimilar, "dissimilar")
    if S.shape[0] and Dp.shape[0]:
        both = {tuple(sorted(map(int, p))) for p in S} & {tuple(sorted(map(int, p))) for p in Dp}
        if both:
            raise InvalidDataError(f"pair {sorted(both)[0]} is both similar and dissimilar")
    P = np.vstack([S, Dp]).astype(np.int64) if (S.size or Dp.size) else np.zeros((0, 2), dtype=np.int64)
    lo = np.concatenate([np.full(S.shape[0], -np.inf), np.full(Dp.shape[0], float(lower))])
    hi = np.concatenate([np.full(S.shape[0], float(upper)), np.full(Dp.shape[0], np.inf)])
    return MetricProblem.from_program(MetricProgram("l2", D=D, W=W, bounds=(P, lo, hi)))


def correlation_clustering_lp(W_plus, W_minus) -> MetricProblem:
    """The LP relaxation of weighted correlation clustering:

        min sum_{i<j} W+_ij X_ij + W-_ij (1 - X_ij)   X a metric, 0 <= X <= 1

    (X_ij = 0: i and j together). ``W_plus``, ``W_minus``: symmetric nonnegative (n, n)
    (upper triangle read). The node's cost is c = W+ - W-, its constant sum_{i<j} W-_ij.
    """
    Wp = check_square(W_plus, "W_plus")
    n = Wp.shape[0]
    Wp = check_weights(Wp, n, "W_plus", positive=False)
    Wm = check_weights(W_minus, n, "W_minus", positive=False)
    c = Wp - Wm
    np.fill_diagonal(c, 0.0)
    const = float(np.triu(Wm, 1).sum())
    return MetricProblem.from_program(MetricProgram("lp", c=c, constant=const))


def _adjacency(adjacency):
    import scipy.sparse as sp
    A = sp.csr_matrix(adjacency, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ShapeError(f"the adjacency must be a square (n, n) matrix, got shape {A.shape}")
    if A.nnz and not np.all(np.isfinite(A.data)):
        raise InvalidDataError("the adjacency has NaN or Inf entries")
    if A.nnz and A.data.min() < 0:
        raise InvalidDataError("the adjacency has negative edge weights")
    return A


def shortest_path_dissimilarities(adjacency, weighted: bool = False) -> np.ndarray:
    """All-pairs shortest-path lengths of an undirected graph (scipy.sparse.csgraph;
    hop counts unless ``weighted``) as a dense (n, n) D. The graph must be connected."""
    from scipy.sparse.csgraph import shortest_path
    A = _adjacency(adjacency)
    A = A.maximum(A.T)
    D = shortest_path(A, directed=False, unweighted=not weighted)
    if not np.all(np.isfinite(D)):
        raise InvalidDataError("the graph is not connected: some shortest paths are infinite "
                               "(take its largest connected component)")
    return np.ascontiguousarray(D)


def jaccard_correlation_instance(adjacency, delta: float = 0.05):
    """(W_plus, W_minus) of the Jaccard-weighted correlation clustering instance of a graph
    (Wang et al. 2013, as used by Veldt et al. for DykstraCC). Exactly:

        N[i]  = closed neighbourhood of i (i and its neighbours, edge weights ignored)
        J_ij  = |N[i] & N[j]| / |N[i] | N[j]|
        s_ij  = log((1 + J_ij - delta) / (1 - J_ij + delta))
        W+_ij = max(s_ij, 0),  W-_ij = max(-s_ij, 0)      (i != j; zero diagonal)

    so a pair with J_ij > delta attracts, one with J_ij < delta repels.
    """
    import scipy.sparse as sp
    if not 0.0 < float(delta) < 1.0:
        raise InvalidDataError(f"delta must be in (0, 1), got {delta!r}")
    A = _adjacency(adjacency)
    B = ((A + A.T) > 0).astype(np.float64) + sp.identity(A.shape[0], format="csr")
    B = (B > 0).astype(np.float64)
    inter = np.asarray((B @ B.T).todense())
    deg = np.asarray(B.sum(axis=1)).ravel()
    union = deg[:, None] + deg[None, :] - inter
    J = inter / union
    s = np.log((1.0 + J - delta) / (1.0 - J + delta))
    np.fill_diagonal(s, 0.0)
    return np.maximum(s, 0.0), np.maximum(-s, 0.0)


def is_metric(X):
    """The constraint "X is a semimetric" on a square cvxpy Variable X (symmetric, zero
    diagonal, X >= 0, every X_ij <= X_ik + X_kj), held implicitly; use it in
    ``metric_problem``. CVXPY alone cannot solve a problem holding it (it raises)."""
    return IsMetric(X)


def metric_problem(objective, constraints) -> MetricProblem:
    """A MetricProblem from a CVXPY objective and constraints holding one ``is_metric(X)``:
    weighted ``sum_squares(multiply(S, X - D))`` (l2), weighted ``sum(multiply(W, abs(X - D)))``
    (l1), or a linear objective with ``X <= 1`` (the LP); see
    ``solvelab.families.metric.recognize``. X.value is written after each solve."""
    from ..compile import compile_problem
    constraints = list(constraints or [])
    metric = [c for c in constraints if is_metric_constraint(c)]
    if len(metric) != 1:
        raise InvalidDataError(f"metric_problem needs exactly one is_metric(X) constraint, got {len(metric)}")
    X = metric[0].args[0]
    rest = [c for c in constraints if not is_metric_constraint(c)]
    prog = compile_problem(objective, rest)
    if [v.key for v in prog.variables] != [X.id]:
        raise InvalidDataError(f"the objective and constraints must involve only {X.name()}, the is_metric "
                               f"variable; found {', '.join(v.name for v in prog.variables)}")
    node = build_node(prog, X)
    if prog.sign < 0:
        raise InvalidDataError("metric_problem minimizes; write cvxpy.Minimize(...)")
    return MetricProblem.from_program(node, variables=[X])
