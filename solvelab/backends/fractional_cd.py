"""Fractional coordinate descent (Yuan, "Coordinate Descent Methods for Fractional
Minimization", 2023) on the FractionalRatio form.

Each pass visits the coordinates cyclically and replaces x_i by the global minimizer of
the 1-D ratio z -> N(x + (z - x_i) e_i) / D(x + (z - x_i) e_i) over [lo_i, hi_i]
(``kernels.fractional.best_coordinate``: a breakpoint search over the pieces of |z|,
the top-k threshold and the bounds, with the stationary points of each piece's ratio as
roots of a quadratic or a cubic). N's smooth part is quadratic, so its coordinate model
is exact (the paper's majorizer with L_i = |G_i|^2); ``theta`` > 0 adds the paper's
proximal term theta/2 (z - x_i)^2. F never increases. Every ``check_every`` passes the
family's stationarity measure is computed from x; it stops when that meets tol.

Takes box domains (free, x >= 0, bounds) with affine, l2 (of x or B x), l1 and top-k
denominators; refuses the simplex and a norm term in the numerator (they couple the
coordinates: use ``dinkelbach``). Options: ``theta`` (0), ``x0`` (a start). Statuses:
converged, max_iter, time_limit, stopped, numerical_error, no_minimizer (x runs off on a ray
of G's null space toward an infimum that is not attained; iterations are passes).
After each ``check_every`` passes that left x's sign pattern as it was, ``newton``
(default True) tries one Newton step on the support for Dinkelbach's linearized problem
(``dinkelbach_step``), kept when the ratio drops: it removes CD's slow tail on
correlated columns.
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import InvalidDataError
from ..families.fractional import stationarity
from ..kernels.fractional import DenKind, fcd_epochs
from . import registry
from .lasso_support import STEP, UNBOUNDED, SupportFactor, newton_on_support
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

TABLE = Table(("iteration", "epoch", "6d"), ("time", "time", "9.3f"), ("objective", "ratio", "14.7e"),
              ("residual", "stationarity", "12.2e"), ("changed", "moved", "6d"))


def den_tuple(p, x):
    """The kernel's denominator tuple (kind, s, d, a, B, colsqB, k, Bx) at x."""
    den = p.den
    n = p.n
    empty = np.zeros((0, n), order="F")
    if den.kind == "affine":
        return (int(DenKind.AFFINE), 1.0, float(den.d), den.a, empty, np.zeros(0), 1, np.zeros(0))
    if den.kind == "l2":
        if den.B is None:
            return (int(DenKind.L2), den.s, 0.0, np.zeros(n), empty, np.zeros(0), 1, np.zeros(0))
        B = np.asfortranarray(den.B)
        return (int(DenKind.L2), den.s, 0.0, np.zeros(n), B, np.einsum("ij,ij->j", B, B), 1, B @ x)
    if den.kind == "l1":
        return (int(DenKind.L1), den.s, 0.0, np.zeros(n), empty, np.zeros(0), 1, np.zeros(0))
    return (int(DenKind.TOPK), den.s, 0.0, np.zeros(n), empty, np.zeros(0), int(den.k), np.zeros(0))


def start_point(p, extra, warm, data_version, options) -> np.ndarray:
    x0 = extra.get("x0")
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
        if x0.shape != (p.n,) or not np.all(np.isfinite(x0)):
            raise InvalidDataError(f"x0 must be a finite vector of length {p.n}")
        return np.clip(x0, p.lo, p.hi)
    if options.warm_start and warm.get("x") is not None and warm.get("data_version") == data_version:
        return warm["x"].copy()
    return p.start()


def stop_no_minimizer(mon, limit: float, how: str) -> bool:
    """Stop with status 'no_minimizer' (reported inaccurate): ``how`` the ratio was seen to
    fall along a ray v of G's null space toward ``limit``, an infimum not attained at x."""
    return mon.stop("no_minimizer", f"no minimizer found: {how}, along a ray v of G's null space (G v = 0) on "
                                    f"which the ratio falls toward {limit:.9g}; the infimum is at most that, "
                                    f"approached as |x| -> infinity, and is not attained at x")


def runs_off(p, x, mon, where: str) -> float | None:
    """Stop (status 'no_minimizer', reported inaccurate) when x has run out on a ray of
    G's null space along which the ratio still falls (``FractionalProgram.ray_limit``);
    returns the ray's limit then, else None (and the monitor is left alone)."""
    limit = p.ray_limit(x)
    if limit is not None:
        stop_no_minimizer(mon, limit, f"after {where} x (|x| = {np.linalg.norm(x):.3g}, F(x) = "
                                      f"{p.ratio(x):.9g}) runs off")
    return limit


def dinkelbach_step(p, G, x, factor):
    """One Newton step on x's support for Dinkelbach's linearized problem at t = F(x),
    min N(z) - t s^T z (s in dD(x)); x is replaced (returns 1) only when the ratio drops.
    Any decrease of that convex problem's value from x gives F <= t (D(z) >= s^T z for
    the norms; equality for affine D), so the step keeps the descent; it removes the slow
    tail of CD on correlated columns once the support has settled. Returns (1 if x was
    replaced else 0, L): L is None, or the limit L < t of the ratio along a ray of G's
    null space on which that problem is unbounded below."""
    t = p.ratio(x)
    if not np.isfinite(t) or G.shape[0] == 0:
        return 0, None
    c = p.q - t * p.den.subgradient(x)
    z = x.copy()
    r = G @ z - p.y
    code = newton_on_support(G, r, z, c, p.lam, p.lo, p.hi, factor)
    if code == UNBOUNDED:
        limit = p.ray_limit(factor.ray)
        return 0, (limit if limit is not None and limit < t else None)
    if code != STEP:
        return 0, None
    # a decrease beyond rounding: steps at the rounding level would make the path (and the
    # pass count) depend on the data's scale
    if p.den.value(z) > 0 and p.ratio(z) < t - 16 * np.finfo(np.float64).eps * abs(t):
        x[:] = z
        return 1, None
    return 0, None


class FractionalCDBackend(Backend):
    name = "fractional_cd"
    description = ("fractional coordinate descent: each coordinate's 1-D ratio minimized globally by a "
                   "breakpoint search (Yuan 2023); box domains, affine / l2 / l1 / top-k denominators")
    forms = ("FractionalRatio",)
    default_max_iter = 20000
    priority = 20
    _EXTRA = ("theta", "x0", "newton")

    def accepts_extra(self):
        return self._EXTRA

    def cannot_take(self, view):
        p = view.program
        if p.simplex:
            return "the simplex couples the coordinates (coordinate descent needs a box domain); use dinkelbach"
        if p.rho:
            return "a norm term rho |L x|_2 in the numerator is not separable; use dinkelbach"
        return None

    def _theta(self, options) -> float:
        theta = self.checked_extra(options).get("theta", 0.0)
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not np.isfinite(theta) or theta < 0:
            raise InvalidDataError(f"backend 'fractional_cd': theta must be a number >= 0, got {theta!r}")
        return float(theta)

    def setup(self, view, options: SolveOptions) -> Workspace:
        self._theta(options)
        p = view.program
        return Workspace(G=np.asfortranarray(p.G), factor=SupportFactor())

    def _newton(self, options) -> bool:
        flag = self.checked_extra(options).get("newton", True)
        if not isinstance(flag, (bool, np.bool_)):
            raise InvalidDataError(f"backend 'fractional_cd': newton must be True or False, got {flag!r}")
        return bool(flag)

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        theta = self._theta(options)
        polish = self._newton(options)
        extra = self.checked_extra(options)
        p = view.program
        x = start_point(p, extra, ws.warm, p.data_version, options)
        G = ws["G"]
        mon = IterationMonitor(options, table=TABLE, unit="epochs")
        it, changed, steps = 0, -1, 0
        pattern = None   # the sign pattern at the last check
        ray_value = ray_limit = None
        setup_time = time.perf_counter() - t0
        while True:
            res = stationarity(p, x)
            F = p.ratio(x)
            rec = mon.record(it, res, objective=F, changed=max(changed, 0))
            if not np.isfinite(F) or not np.all(np.isfinite(x)):
                mon.stop("numerical_error", f"the ratio is {F} after {it} epochs")
                break
            if ray_value is not None:
                stop_no_minimizer(mon, ray_value, f"after {it} epochs Dinkelbach's step at F(x) = {F:.9g} is "
                                                  f"unbounded below")
                ray_limit = ray_value
                break
            if res <= options.tol:
                mon.stop("converged")
                break
            if changed == 0:
                mon.stop("converged", f"no coordinate moves after {it} epochs: a coordinate-wise minimum whose "
                                      f"stationarity measure is {res:.2e}")
                break
            if mon.check(rec, x, f"{mon.max_iter} epochs (stationarity {res:.2e})"):
                break
            if it:
                ray_limit = runs_off(p, x, mon, f"{it} epochs")
                if ray_limit is not None:
                    break
            chunk = max(1, min(mon.check_every, mon.max_iter - it))
            r = G @ x - p.y if G.shape[0] else np.zeros(0)
            f = 0.5 * float(r @ r) + float(p.q @ x) + p.c0
            num = (G, p.colsq, p.q, p.lam, p.lo, p.hi, f)
            _, changed = fcd_epochs(num, den_tuple(p, x), x, r, chunk, theta)
            it += chunk
            if polish and changed:
                # only once the sign pattern has settled: the steps then shorten CD's tail
                # without steering which critical point the cyclic passes pick
                now = np.sign(x)
                if pattern is not None and np.array_equal(now, pattern):
                    took, ray_value = dinkelbach_step(p, G, x, ws["factor"])
                    steps += took
                pattern = now
        mon.summary(self.name, f"{it} epochs", mon.elapsed())
        if np.all(np.isfinite(x)):
            ws.warm.update(x=x.copy(), data_version=p.data_version)
        return RawSolution(x=x, status=mon.status, iterations=it, history=mon.history, setup_time=setup_time,
                           info={"global": p.quasiconvex, "newton_steps": steps, "ray_limit": ray_limit},
                           message=mon.message)


registry.register(FractionalCDBackend())
