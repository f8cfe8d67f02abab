"""Accelerated primal-dual (Chambolle-Pock's accelerated schemes) for regularized saddle points.

On the RegularizedSaddle form

    min_{x in X} max_{y in Y}  c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2

with alpha > 0 (strongly convex in x) or mu > 0 (strongly concave in y), each step is two
prox steps, each the projection of a scaled point (``kernels.saddle.prox_step``):

    other side  v+ = prox(v + step_v * (its product at the extrapolated strong point))
    strong side u+ = prox(u + step_u * (its product at v+)),   u_bar = u+ + theta (u+ - u)

(x's move is -tau (c + K y), y's is +sigma (K^T x - b)). Schemes (``scheme``):

    'accelerated'  Chambolle & Pock (2011) Algorithm 2 on the strongly convex side, modulus
                   gamma: theta = 1 / sqrt(1 + 2 gamma t_u), t_u <- theta t_u, t_v <- t_v /
                   theta (so t_u t_v |K|^2 stays 0.99): |u - u*|^2 and the gap O(1 / k^2)
                   in the worst case, where plain PDHG has O(1 / k)
    'restarted'    Algorithm 2 with its steps reset (t_u, t_v back to the start, theta = 1)
                   when the gap estimate at a check has fallen to 0.2 of its value at the
                   last reset, or to 0.8 and then risen, or after 36 % of all steps
                   (pdhg's ``restart_due``): restarting turns O(1 / k^2) into a linear rate
                   on sharp problems
    'linear'       Algorithm 3 when both sides are strongly convex (alpha, mu > 0): constant
                   steps t_x = m / (2 alpha), t_y = m / (2 mu), theta = 1 / (1 + m), m = 2
                   sqrt(alpha mu) / |K|: linear convergence at rate about 1 / (1 + m)
    'plain'        Algorithm 1 (theta = 1, constant steps t_x = t_y = 0.99 / |K| for w = 1)
    'auto'         'plain'. Measured (benchmarks/saddle_alpd.py, BENCHMARKS.md): on random
                   and ill-conditioned regularized games the constant steps reach 1e-8 in
                   fewer iterations than every accelerated schedule, whose strong-side step
                   shrinks like 1 / k and slows the fast local (linear) phase these
                   polyhedral problems have; restarting recovers most of it. The others
                   keep their worst-case guarantees.

|K| is the norm on the iterates' differences (``halpern.norm_estimate``: Lanczos on K
with each simplex side's constant direction removed). Initial steps t_x = 0.99 / (w |K|),
t_y = 0.99 w / |K| (w = ``primal_weight``, 1.0). Each step costs two passes over K
(K y+ and K^T x+; the extrapolated products are the same combination of known ones).
Every ``check_every`` steps the family's certificate is evaluated at the last (x, y)
(``saddle_gap.GapCheck``: exact summand sizes only when a cheap screen meets tol).

On the DROSaddle form (distributionally robust logistic regression: a coupling
sum_i p_i l_i(x), nonlinear in x) 'auto' runs the coupled steps below on the program seen
as a coupling, stopped by the DRO certificate; 'plain' linearizes the step on x, a
gradient step on the coupling with constant steps (APD; ``alpd_dro``). On the CoupledSaddle form (a convex-concave Phi(x, y) given as
callables or a JAX function) the steps are Tseng's forward-backward-forward with
backtracking (``alpd_coupled``): no Lipschitz constant is needed. What is not here:
ALPD's accelerated schedule with a nonlinear coupling, and its inexact inner loops.

Options (``options.extra``): ``scheme`` ('auto'), ``primal_weight`` (1.0). Warm start: the
last (x, y) of the same data version (the steps start afresh).
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..errors import InvalidDataError
from ..kernels import saddle as KS
from ..kernels.threads import threads
from . import alpd_coupled, alpd_dro, registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace
from .halpern import _Operator, _warm_csr, norm_workspace
from .pdhg import restart_due
from .saddle_gap import GapCheck, start_point

_EXTRA = ("scheme", "primal_weight")
_SCHEMES = ("auto", "plain", "accelerated", "restarted", "linear")
_STEP = 0.99

TABLE = Table(("iteration", "iter", "8d"), ("time", "time", "9.3f"), ("residual", "gap", "10.2e"),
              ("matvecs", "passes", "9d"), ("tau", "tau", "10.2e"), ("sigma", "sigma", "10.2e"))


def _options(extra) -> dict:
    o = {"scheme": "auto", "primal_weight": 1.0}
    o.update(extra)
    o["primal_weight_given"] = "primal_weight" in extra
    if o["scheme"] not in _SCHEMES:
        raise InvalidDataError(f"backend 'alpd': scheme must be one of {', '.join(map(repr, _SCHEMES))}, got "
                               f"{o['scheme']!r}")
    w = o["primal_weight"]
    if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(w) and w > 0):
        raise InvalidDataError(f"backend 'alpd': primal_weight must be a finite number > 0, got {w!r}")
    o["primal_weight"] = float(w)
    return o


def choose_scheme(scheme: str, alpha: float, mu: float) -> tuple:
    """(scheme, strong side 'x' | 'y' | None) that runs: 'linear' needs both moduli."""
    if scheme == "linear" and not (alpha > 0 and mu > 0):
        raise InvalidDataError(f"backend 'alpd': scheme='linear' needs both sides strongly convex (x_reg = {alpha:g}, "
                               f"y_reg = {mu:g}); use scheme='accelerated' or 'restarted'")
    if scheme == "auto":
        scheme = "plain"
    strong = ("x" if alpha >= mu else "y") if scheme in ("accelerated", "restarted") else None
    return scheme, strong


class ALPDBackend(Backend):
    name = "alpd"
    description = ("accelerated primal-dual (Chambolle-Pock Algorithms 2 and 3) for saddle points with a "
                   "quadratic regularizer: O(1/k^2) with one strongly convex side, linear with both; APD on "
                   "DRO logistic regression; forward-backward-forward with backtracking on a coupling Phi(x, y)")
    forms = ("RegularizedSaddle", "DROSaddle", "CoupledSaddle")
    default_max_iter = 100000
    warmup = True
    priority = 30

    def accepts_extra(self):
        return _EXTRA

    def setup(self, view, options: SolveOptions) -> Workspace:
        o = _options(self.checked_extra(options))
        if view.name == "DROSaddle":
            alpd_dro.check_scheme(o)
            return Workspace()
        if view.name == "CoupledSaddle":
            alpd_coupled.check_scheme(o)
            return Workspace()
        return norm_workspace(view)

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        if view.name == "DROSaddle":
            o = _options(self.checked_extra(options))
            alpd_dro.check_scheme(o)
            if o["scheme"] == "plain":
                return alpd_dro.solve_dro(self, view, options, ws, o)
            with threads(blas=1):
                return alpd_dro.solve_dro_fbf(self, view, options, ws, o)
        if view.name == "CoupledSaddle":
            with threads(blas=1):
                return alpd_coupled.solve_coupled(self, view, options, ws, _options(self.checked_extra(options)))
        with threads(blas=1):     # memory-bound products: spin-waiting BLAS threads cost more than they give
            return self._solve(view, options, ws)

    def _solve(self, view, options, ws) -> RawSolution:
        t0 = time.perf_counter()
        o = _options(self.checked_extra(options))
        compile_time = KS.warm_up() + (0.0 if view.dense else _warm_csr())
        norm_passes = ws["norm_passes"] if ws.pop("fresh", False) else 0
        x, y, start = start_point(view, options, ws.warm)
        run = _Run(view, o, options.tol, ws["norm"], x, y)
        mon = IterationMonitor(options, table=TABLE)
        setup_time = time.perf_counter() - t0
        it = 0
        val, exact = run.check.evaluate(0, run.x, run.y, run.Ky, run.KTx) if start else (math.inf, False)
        if exact and val <= options.tol:
            mon.record(0, val, matvecs=run.op.passes + norm_passes, tau=run.tau, sigma=run.sigma, exact=True)
            mon.stop("converged")
        else:
            while True:
                count = min(int(options.check_every), mon.max_iter - it)
                if count <= 0:
                    mon.stop("max_iter", f"{mon.max_iter} iterations")
                    break
                it = run.steps(count, it)
                if not (np.all(np.isfinite(run.x)) and np.all(np.isfinite(run.y))):
                    mon.stop("numerical_error", f"NaN or Inf in the iterates at iteration {it}")
                    break
                val, exact = run.check.evaluate(it, run.x, run.y, run.Ky, run.KTx)
                rec = mon.record(it, val, matvecs=run.op.passes + norm_passes, tau=run.tau, sigma=run.sigma,
                                 exact=exact)
                if exact and val <= options.tol:
                    mon.stop("converged")
                    break
                run.maybe_restart(val, it)
                if mon.check(rec, None, f"{mon.max_iter} iterations (gap {val:.2e})"):
                    break
        total = run.op.passes + norm_passes
        info = {"matvecs": total, "matvecs_norm": norm_passes, "matvecs_checks": run.check.passes,
                "matvecs_steps": run.op.passes - run.check.passes, "scheme": run.scheme, "strong_side": run.strong,
                "norm": run.norm, "tau": run.tau, "sigma": run.sigma, "restarts": run.restarts, "compile_time": compile_time,
                "jit_time": compile_time, "warm_start": start, "solve_time": mon.elapsed()}
        mon.summary(self.name, f"{it} iterations ({run.scheme}), {total} passes over K", mon.elapsed())
        if mon.status == "numerical_error":
            return RawSolution(x=None, status="numerical_error", iterations=it, history=mon.history,
                               setup_time=setup_time, info=info, message=mon.message)
        ws.warm.update(x=run.x.copy(), y=run.y.copy(), data_version=view.program.data_version)
        return RawSolution(x=np.concatenate([run.x, run.y]), status=mon.status, iterations=it, history=mon.history,
                           setup_time=setup_time, info=info, message=mon.message)


class _Run:
    """One run's iterates (x, y) with K y, K^T x and their previous values (for the
    extrapolation), the steps tau (x) and sigma (y) and the scheme's theta."""

    def __init__(self, view, o, tol, norm, x, y):
        self.view = view
        self.alpha, self.mu = float(view.x_reg), float(view.y_reg)
        self.norm = norm
        self.scheme, self.strong = choose_scheme(o["scheme"], self.alpha, self.mu)
        self.op = _Operator(view)
        m, n = view.shape
        w = o["primal_weight"]
        if self.scheme == "linear" and norm > 0:
            mm = 2.0 * math.sqrt(self.alpha * self.mu) / norm
            self.tau, self.sigma = _STEP * mm / (2.0 * self.alpha), _STEP * mm / (2.0 * self.mu)
            self.theta = 1.0 / (1.0 + mm)
        else:
            eta = _STEP / norm if norm > 0 else 1.0 / max(self.alpha, self.mu)
            self.tau, self.sigma = eta / w, eta * w
            self.theta = 1.0
        self.steps0 = (self.tau, self.sigma, self.theta)
        self.restarts, self.since, self.r0, self.prev = 0, 0, math.inf, math.inf
        self.x, self.y = x, y
        self.Ky, self.KTx = np.empty(m), np.empty(n)
        self.op.K(y, self.Ky)
        self.op.KT(x, self.KTx)
        self.Ky_prev, self.KTx_prev = self.Ky.copy(), self.KTx.copy()
        self.xn, self.yn = np.empty(m), np.empty(n)
        self.mc, self.mb = np.ascontiguousarray(view.c), np.ascontiguousarray(-view.b)
        self.check = GapCheck(view, tol, self.op)

    def _x_step(self, theta):
        X = self.view.X
        KS.prox_step(self.x, self.Ky, self.Ky_prev, theta, self.mc, self.tau, -1.0, self.alpha, int(X.kind), X.lo,
                     X.hi, self.xn)
        self.x, self.xn = self.xn, self.x
        self.KTx_prev[:] = self.KTx
        self.op.KT(self.x, self.KTx)

    def _y_step(self, theta):
        Y = self.view.Y
        KS.prox_step(self.y, self.KTx, self.KTx_prev, theta, self.mb, self.sigma, 1.0, self.mu, int(Y.kind), Y.lo,
                     Y.hi, self.yn)
        self.y, self.yn = self.yn, self.y
        self.Ky_prev[:] = self.Ky
        self.op.K(self.y, self.Ky)

    def steps(self, count: int, it: int) -> int:
        """``count`` steps; returns the iteration count. The side updated second is the one
        extrapolated (the strong side of Algorithm 2; x in the others)."""
        y_first = self.strong != "y"
        for _ in range(count):
            th = self.theta
            if y_first:             # y+ at x_bar (theta of the last step), then x+
                self._y_step(th)
                self._x_step(0.0)
            else:
                self._x_step(th)
                self._y_step(0.0)
            if self.strong is not None:
                if self.strong == "x":
                    th = 1.0 / math.sqrt(1.0 + 2.0 * self.alpha * self.tau)
                    self.tau, self.sigma = self.tau * th, self.sigma / th
                else:
                    th = 1.0 / math.sqrt(1.0 + 2.0 * self.mu * self.sigma)
                    self.sigma, self.tau = self.sigma * th, self.tau / th
                self.theta = th
            it += 1
            self.since += 1
        return it

    def maybe_restart(self, val: float, it: int) -> None:
        """'restarted': reset the steps when the gap estimate ``val`` has decayed enough
        since the last reset (``restart_due``)."""
        if self.scheme != "restarted" or not math.isfinite(val):
            return
        if self.r0 == math.inf:
            self.r0 = val
        if restart_due(val, self.r0, self.prev, self.since, it):
            self.tau, self.sigma, self.theta = self.steps0
            self.KTx_prev[:] = self.KTx      # no extrapolation across a reset
            self.Ky_prev[:] = self.Ky
            self.restarts += 1
            self.since, self.r0, self.prev = 0, val, math.inf
        else:
            self.prev = val


registry.register(ALPDBackend())
