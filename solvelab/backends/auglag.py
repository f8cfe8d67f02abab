"""Bound-constrained augmented Lagrangian (the LANCELOT / ALGENCAN scheme) on the
SmoothNLP form: the NLP backend that takes bounds l <= x <= u.

    outer   L_rho(x; lam) = f(x) + lam^T c(x) + rho/2 |c(x)|^2 minimized over the box,
            then lam <- lam + rho c(x); rho grows 10x when |c| fell by less than 4x
    inner   projected Newton (Bertsekas 1982): at x the binding set B holds the bound
            variables whose gradient pushes outward; on the free set F the Newton step
            (H_F + delta I) d_F = -g_F with H = Hessian of the Lagrangian at lam + rho c
            plus rho J^T J (delta grows until Cholesky succeeds), d_B = -g_B; then a
            projected Armijo search along P[x + alpha d] (Bertsekas' sufficient decrease)

Iterates lie in the box exactly (the projection), so at a bound the certificate sees an
active bound, not a point near it. Stops when the family's certificate (stationarity
less what the bounds allow, feasibility, both relative) meets tol with the multipliers
lam (or the least-squares ones). Options (``options.extra``): ``rho0`` (None: |H| / |J|^2
at x0, or 1), ``inner_max_iter`` (200). Statuses: converged, max_iter, time_limit,
stopped, numerical_error.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidDataError
from ..families.nlp import least_squares_multipliers, measures
from . import registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

TABLE = Table(("iteration", "outer", "6d"), ("time", "time", "9.3f"), ("objective", "objective", "13.5e"),
              ("stationarity", "stat", "9.2e"), ("feasibility", "feas", "9.2e"), ("rho", "rho", "8.1e"),
              ("inner", "inner", "6d"))
_ARMIJO = 1e-4


def _dense(M) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M, dtype=np.float64)


class _AL:
    """L_rho and its derivatives at fixed (lam, rho), with the counts the inner loop needs."""

    def __init__(self, p, lam, rho):
        self.p, self.lam, self.rho = p, lam, rho

    def value(self, x) -> float:
        c = self.p.cons(x, "x")
        return self.p.fun(x, "x") + float(self.lam @ c) + 0.5 * self.rho * float(c @ c)

    def grad(self, x):
        c, J = self.p.cons(x, "x"), self.p.jacobian(x, "x")
        g = self.p.gradient(x, "x")
        if c.size:
            g = g + np.asarray(J.T @ (self.lam + self.rho * c)).ravel()
        return g

    def hess(self, x) -> np.ndarray:
        c, J = self.p.cons(x, "x"), self.p.jacobian(x, "x")
        H = _dense(self.p.hessian(x, self.lam + self.rho * c if c.size else np.zeros(0), "x"))
        if c.size:
            Jd = _dense(J)
            H = H + self.rho * (Jd.T @ Jd)
        return H


def projected_newton(al, x, lo, hi, tol_pg: float, max_iter: int) -> tuple:
    """min L over lo <= x <= hi from x (in the box); (x, iterations, |projected gradient|)."""
    it, pg = 0, np.inf
    for it in range(1, max_iter + 1):
        g = al.grad(x)
        pg = float(np.max(np.abs(x - np.clip(x - g, lo, hi)), initial=0.0))
        if pg <= tol_pg:
            return x, it - 1, pg
        eps_b = min(pg, 1e-8 * (1.0 + float(np.max(np.abs(x), initial=0.0))))   # the binding margin (a step rule)
        bind = ((x <= lo + eps_b) & (g > 0)) | ((x >= hi - eps_b) & (g < 0))
        free = ~bind
        d = -g.copy()
        if free.any():
            H = al.hess(x)[np.ix_(free, free)]
            scale = float(np.max(np.abs(np.diag(H)), initial=0.0)) or 1.0
            delta = 0.0
            for _ in range(40):
                try:
                    Lc = np.linalg.cholesky(H + delta * np.eye(H.shape[0]))
                    break
                except np.linalg.LinAlgError:
                    delta = max(10.0 * delta, 1e-10 * scale)
            else:
                raise np.linalg.LinAlgError("no positive definite regularization of the Hessian")
            d[free] = -np.linalg.solve(Lc.T, np.linalg.solve(Lc, g[free]))
        f0 = al.value(x)
        alpha = 1.0
        for _ in range(60):
            xt = np.clip(x + alpha * d, lo, hi)
            # Bertsekas: decrease >= sigma (alpha sum_F -g d + sum_B g (x - x(alpha)))
            want = _ARMIJO * (alpha * float(-(g[free] @ d[free])) + float(g[bind] @ (x[bind] - xt[bind])))
            try:
                ft = al.value(xt)
            except InvalidDataError:
                ft = np.inf
            if ft <= f0 - want:
                break
            alpha *= 0.5
        else:
            return x, it, pg   # no decrease: the outer loop decides (its certificate is the judge)
        x = xt
    return x, it, pg


class AugLagBackend(Backend):
    name = "auglag"
    description = ("bound-constrained augmented Lagrangian: projected Newton inner solves over the box, "
                   "multiplier and penalty updates (NLPs with bounds)")
    forms = ("SmoothNLP",)
    default_max_iter = 100
    priority = 40
    _EXTRA = ("rho0", "inner_max_iter")

    def accepts_extra(self):
        return self._EXTRA

    def setup(self, view, options: SolveOptions) -> Workspace:
        self._opts(options)
        return Workspace(n=view.n, m=view.m)

    def _opts(self, options):
        extra = self.checked_extra(options)
        rho0, inner = extra.get("rho0"), extra.get("inner_max_iter", 200)
        if rho0 is not None and not (isinstance(rho0, (int, float)) and not isinstance(rho0, bool)
                                     and np.isfinite(rho0) and rho0 > 0):
            raise InvalidDataError(f"backend 'auglag': rho0 must be a positive number, got {rho0!r}")
        if isinstance(inner, bool) or not isinstance(inner, (int, np.integer)) or inner < 1:
            raise InvalidDataError(f"backend 'auglag': inner_max_iter must be a positive integer, got {inner!r}")
        return rho0, int(inner)

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        rho0, inner_max = self._opts(options)
        p = view.program
        lo, hi = p.lo, p.hi
        x = np.clip(p.x0, lo, hi)
        lam = np.zeros(p.m)
        warm = ws.warm
        if options.warm_start and warm.get("x") is not None and warm.get("data_version") == p.data_version:
            x, lam = warm["x"].copy(), warm["lam"].copy()
        mon = IterationMonitor(options, table=TABLE)
        bl = (lo, hi) if p.has_bounds else (None, None)
        setup_time = time.perf_counter() - t0
        try:
            c = p.cons(x, "x")
            if rho0 is None:
                H0 = _dense(p.hessian(x, lam, "x"))
                J0 = _dense(p.jacobian(x, "x"))
                hn, jn = float(np.abs(H0).sum(1).max(initial=0.0)), float(np.abs(J0).sum(1).max(initial=0.0))
                rho0 = hn / jn ** 2 if hn > 0 and jn > 0 else 1.0
            rho, it, inner_total, c_prev = float(rho0), 0, 0, float(np.max(np.abs(c), initial=0.0))
            tol = options.tol
            while True:
                g, c, J = p.gradient(x, "x"), p.cons(x, "x"), p.jacobian(x, "x")
                stat, feas = measures(g, c, J, lam, x, p.g0_norm, p.c0_norm, *bl)
                if max(stat, feas) > tol and feas <= tol and c.size:
                    ls = least_squares_multipliers(g, J, p.free(x))   # a better estimate when the AL's lags
                    s2, f2 = measures(g, c, J, ls, x, p.g0_norm, p.c0_norm, *bl)
                    if max(s2, f2) < max(stat, feas):
                        stat, feas = s2, f2
                kkt = max(stat, feas)
                rec = mon.record(it, kkt, objective=p.fun(x, "x") + p.constant, stationarity=stat,
                                 feasibility=feas, rho=rho, inner=inner_total)
                if kkt <= tol:
                    mon.stop("converged")
                    break
                if mon.check(rec, x, f"{mon.max_iter} outer iterations (certificate {kkt:.2e})"):
                    break
                it += 1
                al = _AL(p, lam, rho)
                g_al = al.grad(x)
                tol_pg = 0.1 * tol * max(float(np.max(np.abs(g), initial=0.0)), p.g0_norm,
                                         float(np.max(np.abs(g_al), initial=0.0)) * 1e-3)
                x, k, _ = projected_newton(al, x, lo, hi, tol_pg, inner_max)
                inner_total += k
                c = p.cons(x, "x")
                cn = float(np.max(np.abs(c), initial=0.0))
                if c.size:
                    lam = lam + rho * c
                    if cn > 0.25 * c_prev:
                        rho *= 10.0
                c_prev = cn
        except (InvalidDataError, FloatingPointError, np.linalg.LinAlgError) as exc:
            return RawSolution(x=None, status="numerical_error", iterations=it if 'it' in dir() else 0,
                               history=mon.history, setup_time=setup_time, message=f"auglag: {exc}")
        mon.summary(self.name, f"{it} outer iterations", mon.elapsed())
        if np.all(np.isfinite(x)):
            warm.update(x=x.copy(), lam=lam.copy(), data_version=p.data_version)
        return RawSolution(x=x, status=mon.status, iterations=it, duals=lam if lam.size else None,
                           history=mon.history, setup_time=setup_time,
                           info={"rho": rho, "inner_iterations": inner_total, "evaluations": dict(p.counts)},
                           message=mon.message)


registry.register(AugLagBackend())
