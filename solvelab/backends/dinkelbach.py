"""Dinkelbach's parametric method on the FractionalRatio form.

    t_k = N(x_k) / D(x_k),    x_{k+1} = argmin_x N(x) - t_k D(x)

For an affine D (the quasiconvex case) the inner problem is convex and this is the exact
Dinkelbach iteration (superlinear; t_k decreases to the global minimum). For a norm D,
N - t D is a difference of convex functions; D is then replaced by its linearization
D(x_k) + s_k^T (x - x_k), s_k in dD(x_k) (the generalized Dinkelbach step): the inner
problem stays convex, N(x_{k+1}) - t_k D(x_{k+1}) <= 0 still gives F(x_{k+1}) <= t_k,
and a fixed point is a critical point (0 in dN - t dD).

Inner solvers (option ``inner``): 'newton' (the default on box domains without a numerator
norm term: the Lasso-with-box kernel ``kernels.fractional.lasso_box_cd`` on 1/2 |Gx - y|^2
+ (q - t s)^T x + lam |x|_1, warm-started from x_k, in bursts finished by Newton steps on
the support, ``lasso_support``: 34x fewer epochs on madelon), 'cd' (the CD kernel alone),
'clarabel' (CVXPY + Clarabel on the same convex inner problem; the only one for the
simplex or a norm term). The outer test
is the family's stationarity measure at x_k. Options: ``inner``, ``inner_tol`` (default
tol / 10, relative KKT of the inner problem), ``inner_max_epochs`` (100000), ``x0``.
Statuses: converged, max_iter, time_limit, stopped, numerical_error, no_minimizer (x runs off
on a ray of G's null space toward an infimum that is not attained).
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from ..errors import InvalidDataError, MissingDependencyError
from ..families.fractional import stationarity
from ..kernels.fractional import lasso_box_cd
from . import registry
from .lasso_support import SupportFactor, lasso_support_newton
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace
from .fractional_cd import runs_off, start_point, stop_no_minimizer

TABLE = Table(("iteration", "outer", "6d"), ("time", "time", "9.3f"), ("objective", "t = N/D", "14.7e"),
              ("residual", "stationarity", "12.2e"), ("inner", "inner", "7d"))
_ROUND = 8 * float(np.finfo(np.float64).eps)   # t may stall within rounding near the solution


def clarabel_inner(p, c, x_prev):
    """argmin N(x) + (c - q)^T x over the domain, by CVXPY + Clarabel (None on failure)."""
    try:
        import cvxpy as cp
    except ImportError as exc:   # pragma: no cover - cvxpy is a dependency
        raise MissingDependencyError("dinkelbach inner='clarabel' needs cvxpy and clarabel") from exc
    z = cp.Variable(p.n)
    # divided by N(x_k) > 0: the same minimizer, at the unit scale Clarabel's tolerances expect
    scale = 1.0 / max(abs(p.numerator(x_prev)), float(np.finfo(np.float64).tiny))
    prob = cp.Problem(cp.Minimize(scale * (p.numerator_expr(z) + (c - p.q) @ z)), p.domain_constraints(z))
    try:
        with warnings.catch_warnings():   # 'inaccurate' answers are judged by the certificate
            warnings.simplefilter("ignore")
            prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    except cp.error.SolverError:
        return None
    if z.value is None:
        return None
    x = np.asarray(z.value, dtype=np.float64).reshape(-1)
    return snap(p, x)


def snap(p, x):
    """An interior-point answer with its near-active bounds made exact (entries within
    1e-9 of the largest |x| of a bound are put on it; the simplex renormalized), when
    that does not raise the ratio: the certificate then sees the active set."""
    x = np.clip(x, p.lo, p.hi)
    if p.simplex:
        x = np.maximum(x, 0.0) / np.maximum(x, 0.0).sum()
    near = 1e-9 * float(np.max(np.abs(x), initial=0.0))
    y = np.where(np.abs(x - p.lo) <= near, p.lo, np.where(np.abs(x - p.hi) <= near, p.hi, x))
    if p.simplex:
        y = y / y.sum()
    return y if p.ratio(y) <= p.ratio(x) * (1 + 1e-12) else x


class DinkelbachBackend(Backend):
    name = "dinkelbach"
    description = ("Dinkelbach's parametric iteration t = N/D, x = argmin N - t D (exact for affine D; "
                   "linearized norm D otherwise); inner Lasso CD or CVXPY + Clarabel")
    forms = ("FractionalRatio",)
    default_max_iter = 500
    priority = 30
    _EXTRA = ("inner", "inner_tol", "inner_max_epochs", "x0")

    def accepts_extra(self):
        return self._EXTRA

    def _opts(self, p, options):
        extra = self.checked_extra(options)
        default = "clarabel" if (p.simplex or p.rho) else "newton"
        inner = extra.get("inner", default)
        if inner not in ("newton", "cd", "clarabel"):
            raise InvalidDataError(f"backend 'dinkelbach': inner must be 'newton', 'cd' or 'clarabel', got {inner!r}")
        if inner in ("newton", "cd") and (p.simplex or p.rho):
            raise InvalidDataError(f"backend 'dinkelbach': inner={inner!r} takes box domains without a numerator "
                                   f"norm term; use inner='clarabel' for the simplex or rho |L x|")
        itol = extra.get("inner_tol", 0.1 * options.tol)
        if isinstance(itol, bool) or not isinstance(itol, (int, float)) or not 0 < itol < 1:
            raise InvalidDataError(f"backend 'dinkelbach': inner_tol must be a number in (0, 1), got {itol!r}")
        ep = extra.get("inner_max_epochs", 100000)
        if isinstance(ep, bool) or not isinstance(ep, (int, np.integer)) or ep < 1:
            raise InvalidDataError(f"backend 'dinkelbach': inner_max_epochs must be a positive integer, got {ep!r}")
        return inner, float(itol), int(ep), extra

    def setup(self, view, options: SolveOptions) -> Workspace:
        p = view.program
        self._opts(p, options)
        return Workspace(G=np.asfortranarray(p.G), factor=SupportFactor())

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        p = view.program
        inner, itol, max_ep, extra = self._opts(p, options)
        x = start_point(p, extra, ws.warm, p.data_version, options)
        G = ws["G"]
        mon = IterationMonitor(options, table=TABLE)
        mon.check_every = 1   # an outer iteration is a full solve: check each one
        it, inner_total, newton_total = 0, 0, 0
        ray_limit = None
        setup_time = time.perf_counter() - t0
        t_prev = None
        while True:
            t = p.ratio(x)
            # the stationarity measure only once the ratio's decrease is at most tol relative:
            # near a critical point it falls like the measure (top-k: equal; l2: its square, on
            # the suite), so a step that still lowers t by more is far from one (housing l1/l2:
            # 28 of 64 measures skipped)
            far = t_prev is not None and np.isfinite(t) and t_prev - t > options.tol * abs(t)
            res = None if far else stationarity(p, x)
            t_prev = t
            rec = mon.record(it, res, objective=t, inner=inner_total)
            if not np.isfinite(t):
                mon.stop("numerical_error", f"the ratio is {t} at outer iteration {it}")
                break
            if res is not None and res <= options.tol:
                mon.stop("converged")
                break
            if mon.check(rec, x, f"{mon.max_iter} outer iterations"
                                 + ("" if res is None else f" (stationarity {res:.2e})")):
                break
            if it:
                ray_limit = runs_off(p, x, mon, f"{it} outer iterations")
                if ray_limit is not None:
                    break
            c = p.q - t * p.den.subgradient(x)
            if inner in ("newton", "cd"):
                xn = x.copy()
                r = G @ xn - p.y if G.shape[0] else np.zeros(0)
                if inner == "newton":
                    ep, steps = lasso_support_newton(G, p.colsq, r, xn, c, p.lam, p.lo, p.hi, itol, max_ep,
                                                     ws["factor"], runs_off=lambda z: p.ray_limit(z) is not None)
                    newton_total += steps
                else:
                    ep, _ = lasso_box_cd(G, p.colsq, r, xn, c, p.lam, p.lo, p.hi, itol, max_ep)
                if ep < 0:
                    ray = ws["factor"].ray if inner == "newton" else None
                    limit = p.ray_limit(ray) if ray is not None else None
                    if limit is not None:
                        stop_no_minimizer(mon, limit, f"the inner problem at t = {t:.9g} is unbounded below")
                        ray_limit = limit
                    else:
                        mon.stop("numerical_error", f"the inner problem at t = {t:.6g} is unbounded below (a "
                                                    f"coordinate without curvature runs to infinity)")
                    break
                inner_total += ep
            else:
                xn = clarabel_inner(p, c, x)
                inner_total += 1
                if xn is None:
                    mon.stop("numerical_error", f"Clarabel failed on the inner problem at t = {t:.6g}")
                    break
            it += 1
            tn = p.ratio(xn)
            if not tn <= t + _ROUND * abs(t) or np.array_equal(xn, x):
                # no decrease: the inner solve is at its accuracy floor (or x_k is already critical)
                if inner != "clarabel" and itol > 1e-15:
                    itol *= 1e-2
                    continue
                res = stationarity(p, x) if res is None else res
                mon.stop("converged", f"no decrease of t after {it} outer iterations (stationarity {res:.2e})")
                break
            x = xn
        mon.summary(self.name, f"{it} outer iterations", mon.elapsed())
        if np.all(np.isfinite(x)):
            ws.warm.update(x=x.copy(), data_version=p.data_version)
        return RawSolution(x=x, status=mon.status, iterations=it, history=mon.history, setup_time=setup_time,
                           info={"inner": inner, "inner_iterations": inner_total, "newton_steps": newton_total,
                                 "global": p.quasiconvex, "ray_limit": ray_limit},
                           message=mon.message)


registry.register(DinkelbachBackend())
