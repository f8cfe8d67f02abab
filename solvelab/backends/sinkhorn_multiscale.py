"""The sinkhorn backend's multiscale path: truncated-support log-domain Sinkhorn with
epsilon scaling on a hierarchy of grid clusterings (``MultiscaleOTProgram``).

Levels: level 0 is the clouds; level l + 1 clusters level l into the non-empty cells of a
grid with about a quarter of the points (masses summed, mass-weighted centroids), down to
<= ``coarse_points`` (1500) points. Epsilon runs from max C / 4 down by ``scaling_factor``
(0.25); a stage runs on the coarsest level whose cell diagonals h satisfy h^2 <= eps (the
clustering then moves costs by about the temperature), the final stage on level 0. Moving
to a finer level copies each cluster's potentials to its points (f_child = f_parent).

A stage builds the truncated support {f_i + g_j - C_ij >= -eps T} from its start potentials
(``families.ot.multiscale.Support``, T from ``trunc_tol``) and runs Sinkhorn on it (fused
CSR log-sum-exp passes, the cost recomputed from the coordinates); a support with an empty
row or column is rebuilt with T doubled. The potentials' updates are overrelaxed,
f <- (1 - w) f + w f_sinkhorn (``overrelaxation`` w, 1.9; Thibault et al., Lehmann et al.:
near 2 at small eps): plain Sinkhorn's rate 1 - O(eps) makes the last stage thousands of
steps, which the relaxation cuts about 15x (benchmarks/BENCHMARKS.md). The steps are plain
again once the marginal error is within 10x of the stage's target (so the returned g
matches the columns exactly) or when it rises 10x above its best (a divergence guard). The final stage rebuilds the support at its
potentials and iterates again until the rebuilt support is where it converged (at most
``support_rounds``, 4), so the engine's certificate (``certify_sparse``: the support at the
returned potentials plus the bound on the mass outside it) is computed on the plan the
iteration converged on. No stage holds a dense n x m array.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..kernels import ot_sparse as KS
from .base import RawSolution
from .ot_relax import next_omega, overrelaxation

_TINY = float(np.finfo(np.float64).tiny)


def grid_cluster(X: np.ndarray, w: np.ndarray, k: int):
    """(centroids, masses, parent, cell diagonal) of the non-empty cells of a grid of about
    k cells over X's bounding box (mass-weighted centroids)."""
    n, d = X.shape
    side = max(1, int(round(k ** (1.0 / d))))
    lo, hi = X.min(axis=0), X.max(axis=0)
    wid = np.where(hi > lo, (hi - lo) / side, 1.0)
    idx = np.minimum(((X - lo) / wid).astype(np.int64), side - 1)
    key = np.zeros(n, dtype=np.int64)
    for t in range(d):
        key = key * side + idx[:, t]
    uniq, parent = np.unique(key, return_inverse=True)
    mass = np.bincount(parent, weights=w, minlength=uniq.size)
    cen = np.stack([np.bincount(parent, weights=w * X[:, t], minlength=uniq.size) for t in range(d)], axis=1)
    cen /= mass[:, None]
    diag = float(np.sqrt(np.sum(np.where(hi > lo, (hi - lo) / side, 0.0) ** 2)))
    return cen, mass, parent, diag


def build_levels(X, a, Y, b, coarse_points: int):
    """[(X, a, Y, b, parent_x, parent_y, h2)] from fine (level 0) to coarse; parents map a
    level's points to the next coarser level's; h2: the squared cell diagonal (0 at level 0)."""
    levels = [[X, a, Y, b, None, None, 0.0]]
    while max(X.shape[0], Y.shape[0]) > coarse_points:
        kx, ky = max(1, X.shape[0] // 4), max(1, Y.shape[0] // 4)
        Xc, ac, px, hx = grid_cluster(X, a, kx)
        Yc, bc, py, hy = grid_cluster(Y, b, ky)
        if Xc.shape[0] >= X.shape[0] and Yc.shape[0] >= Y.shape[0]:
            break
        levels[-1][4], levels[-1][5] = px, py
        levels.append([Xc, ac, Yc, bc, None, None, max(hx, hy) ** 2])
        X, a, Y, b = Xc, ac, Yc, bc
    return levels


class SparseSinkhorn:
    """Log-domain Sinkhorn at one eps on a truncated support (the clouds transposed)."""

    def __init__(self, XT, YT, a, b, F, G, eps, sup, omega=1.0):
        self.XT, self.YT, self.a, self.b = XT, YT, a, b
        self.la, self.lb = np.log(a), np.log(b)
        self.F, self.G = np.ascontiguousarray(F, dtype=np.float64), np.ascontiguousarray(G, dtype=np.float64)
        self.eps = float(eps)
        self.sup = sup
        self.mass = float(a.sum())
        self.err = float("inf")
        self.r = None
        self.L = np.empty(a.size)
        self.Lc = np.empty(b.size)
        self.omega = float(omega)
        self.last_plain = True

    def step(self) -> bool:
        inv = 1.0 / self.eps
        s = self.sup
        KS.lse_sparse(self.XT, self.YT, s.indptr, s.indices, self.G, inv, self.L)
        with np.errstate(over="ignore", invalid="ignore"):
            self.r = np.exp(self.F * inv + self.L)
        self.err = float(np.abs(self.r - self.a).sum()) / self.mass
        w = self.omega
        self.F = self.eps * (self.la - self.L) if w == 1.0 else (1.0 - w) * self.F + w * self.eps * (self.la - self.L)
        KS.lse_sparse(self.YT, self.XT, s.tptr, s.tind, self.F, inv, self.Lc)
        self.G = self.eps * (self.lb - self.Lc) if w == 1.0 else (1.0 - w) * self.G + w * self.eps * (self.lb - self.Lc)
        self.last_plain = w == 1.0
        return bool(np.all(np.isfinite(self.F)) and np.all(np.isfinite(self.G)))

    def gap_estimate(self) -> float:
        prim = float(self.F @ self.r + self.G @ self.b)
        return abs(float(self.F @ (self.r - self.a))) / max(abs(prim), _TINY)


def _support(Support, Cells, XT, YT, F, G, eps, T, cells):
    """The support at (F, G), T doubled until no row or column is empty."""
    for _ in range(6):
        sup = Support(XT, YT, F, G, eps, T, cells)
        if sup.empty_rows == 0 and sup.empty_cols == 0:
            return sup
        T *= 2.0
    return sup


def solve_multiscale(view, options, extra, mon, compile_time: float, t_setup: float) -> RawSolution:
    """Run the multiscale truncated Sinkhorn on ``view.program`` (a MultiscaleOTProgram)."""
    from ..errors import InvalidDataError
    from ..families.ot.multiscale import Cells, Support, truncation
    p = view.program
    def real(v):
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) \
            and math.isfinite(v)

    def count(key, default):
        v = extra.get(key, default)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidDataError(f"sinkhorn: {key} must be a positive integer, got {v!r}")
        return int(v)
    factor = extra.get("scaling_factor", 0.25)
    if not (real(factor) and 0.0 < factor < 1.0):
        raise InvalidDataError(f"sinkhorn: scaling_factor must be in (0, 1), got {factor!r}")
    factor = float(factor)
    stage_tol = extra.get("stage_tol", 1e-3)
    if not (real(stage_tol) and 0.0 < stage_tol < 1.0):
        raise InvalidDataError(f"sinkhorn: stage_tol must be a number in (0, 1), got {stage_tol!r}")
    stage_tol = float(stage_tol)
    rounds = count("support_rounds", 4)
    omega = overrelaxation(extra, "sinkhorn")
    coarse = count("coarse_points", 1500)
    tol = float(options.tol)
    X, Y = p.XT.T.copy(), p.YT.T.copy()
    levels = build_levels(X, p.a_s, Y, p.b_s, coarse)
    cells = [Cells(np.ascontiguousarray(lv[2].T)) for lv in levels]
    eps = p.eps
    cmax = p.max_cost_support
    sched = []
    e = cmax / 4.0
    while e > eps:
        sched.append(e)
        e *= factor
    sched.append(eps)
    setup_time = time.perf_counter() - t_setup
    mass = float(p.a_s.sum())
    stages = []
    it = 0
    F = G = None
    cur = None
    status, message = "converged", ""
    for si, e in enumerate(sched):
        last = si == len(sched) - 1
        lev = 0 if last else max([l for l, lv in enumerate(levels) if lv[6] <= e] or [0])
        Xl, al, Yl, bl = levels[lev][:4]
        XT, YT = np.ascontiguousarray(Xl.T), np.ascontiguousarray(Yl.T)
        if F is None:
            F, G = np.zeros(al.size), np.zeros(bl.size)
        while cur is not None and cur > lev:     # prolong: f_child = f_parent
            F = F[levels[cur - 1][4]]
            G = G[levels[cur - 1][5]]
            cur -= 1
        cur = lev
        T = truncation(al.size, bl.size, mass, p.trunc_tol)
        t0 = time.perf_counter()
        target = tol if last else max(stage_tol, tol)
        nnz_list = []
        for rnd in range(rounds if last else 1):
            sup = _support(Support, Cells, XT, YT, F, G, e, T, cells[lev])
            nnz_list.append(sup.nnz)
            st = SparseSinkhorn(XT, YT, al, bl, F, G, e, sup)
            conv = False
            it0 = it
            best = math.inf
            while it < mon.max_iter:
                ok = st.step()
                it += 1
                best = min(best, st.err)
                st.omega = next_omega(st.omega, omega, st.err, best, target, it - it0 == 1)
                if not ok:
                    return RawSolution(x=None, status="numerical_error", iterations=it, history=mon.history,
                                       setup_time=setup_time, info={"stages": stages},
                                       message=f"non-finite potentials at iteration {it} (eps={e:g})")
                conv = st.err <= target and st.last_plain and (not last or st.gap_estimate() <= 0.5 * tol)
                if conv or mon.due(it):
                    rec = mon.record(it, st.err, row={"absorb": rnd}, eps=e, marginal_violation=st.err)
                    if mon.stopped(rec):
                        break
                if conv or mon.out_of_time():
                    break
            F, G = st.F, st.G
            if not conv:
                status = mon.status if mon.status not in (None, "converged") else "max_iter"
                message = mon.message or f"{it} iterations (eps={e:g}, marginal violation {st.err:.2e})"
                break
            if it - it0 <= 1:        # converged on the support rebuilt at its own potentials
                break
        stages.append({"eps": e, "level": lev, "points": (al.size, bl.size), "nnz": nnz_list,
                       "T": T, "time": time.perf_counter() - t0, "iterations_total": it})
        if status != "converged":
            break
    info = {"compile_time": compile_time, "jit_time": compile_time, "stages": stages,
            "levels": [(lv[0].shape[0], lv[2].shape[0], lv[6]) for lv in levels],
            "support_nnz": stages[-1]["nnz"][-1] if stages else 0, "solve_time": mon.elapsed(), "eps": eps}
    if F is None or cur != 0 or not (np.all(np.isfinite(F)) and np.all(np.isfinite(G))):
        return RawSolution(x=None, status="numerical_error" if status == "converged" else status, iterations=it,
                           history=mon.history, setup_time=setup_time, info=info,
                           message=message or "non-finite potentials")
    from ..families.ot.multiscale import sparse_stats
    fin = p.support(F, G)
    fs = sparse_stats(p.XT, p.YT, fin, F, G, eps)
    info.update(transport_cost=fs["transport_cost"], entropic_cost=fs["transport_cost"] + eps * fs["plogp"],
                plan_mass=fs["mass"], support_nnz=fin.nnz, dropped_mass_bound=fin.dropped_bound(),
                method="multiscale: asked for by point_cloud_ot(method='multiscale')")
    return RawSolution(x=p.point(F, G), status=status, iterations=it, duals=p.duals(F, G), history=mon.history,
                       setup_time=setup_time, info=info, message=message)
