"""Infeasible balanced OT: a Farkas ray from forbidden (+inf-cost) pairs, and its check."""
from __future__ import annotations

import numpy as np


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
