"""The implicit-hypergradient baseline on the Bilevel form: L-BFGS-B on the value function.

    F(u) = f(u, w*(u)),   grad F(u) = d_u f - (d2_wu g)^T H^-1 d_w f   (H = d2_ww g at w*(u))

Each evaluation re-solves the lower level by Newton's method warm-started from the last
w*(u) (one exact step when the level is quadratic), then takes one more solve with H
(Cholesky, or CG on Hessian products for large p) for the implicit term. scipy's
L-BFGS-B takes the steps, within the box on u when there is one. The run stops when the
family's own upper measure, |projected grad F|_1 relative to the program's reference,
meets tol: the same number the certificate recomputes. This is the strong baseline where
the lower level is smooth and strongly convex (ridge, l2-logistic). Options
(``options.extra``): ``memory`` (L-BFGS pairs, 20). Statuses: converged, max_iter,
time_limit, stopped, stalled (the line search found no decrease), numerical_error.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

from ..errors import BackendRefusedError, InvalidDataError
from ..families.bilevel.certificate import rel
from ..kernels.threads import threads
from . import registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

TABLE = Table(("iteration", "iter", "6d"), ("time", "time", "9.3f"), ("objective", "F(u)", "14.7e"),
              ("residual", "upper", "9.2e"), ("evaluations", "evals", "6d"))


class _Stop(Exception):
    pass


def refuse_constrained(program, name: str) -> None:
    """The bilevel backends take unconstrained lower levels only (say so, naming the way out)."""
    if getattr(program, "constrained", False):
        raise BackendRefusedError(f"backend {name!r}: the lower level (or the upper one) has constraints; the "
                                  f"bilevel backends take unconstrained smooth levels only (a proximal Lagrangian "
                                  f"value-function method for constrained lower levels is not built yet). Write "
                                  f"the constraint as a smooth penalty, or solve the levels with backend='cvxpy' "
                                  f"over a grid of upper values")


class ValueFunction:
    """F and grad F with the lower solution carried from one evaluation to the next."""

    def __init__(self, program, w0=None):
        self.p, self.w = program, w0
        self.last = None       # (u, F, grad)
        self.evaluations = 0
        self.lower_iterations = 0

    def __call__(self, u):
        u = np.asarray(u, dtype=np.float64)
        w, _, k = self.p.lower_solve(u, self.w)
        self.lower_iterations += k
        F, grad, _ = self.p.implicit_gradient(u, w)
        if not np.isfinite(F) or not np.all(np.isfinite(grad)):
            raise FloatingPointError("the value function or its hypergradient is not finite")
        self.w = w
        self.evaluations += 1
        self.last = (u.copy(), float(F), grad.copy())
        return F, grad

    def measure(self, u, grad, F) -> float:
        return rel(float(np.abs(self.p.projected(u, grad)).sum()), self.p.reference(u, F))


class BilevelBackend(Backend):
    """What the Bilevel-form backends share: the refusal of constrained levels, options
    checked at setup (``_opts``), one BLAS thread around the solve (``_solve``), and the
    warm start (u, w) of the same data version."""
    forms = ("Bilevel",)

    def _opts(self, options):
        raise NotImplementedError

    def setup(self, view, options: SolveOptions) -> Workspace:
        refuse_constrained(view.program, self.name)
        self._opts(options)
        return Workspace(n=view.n)

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        refuse_constrained(view.program, self.name)
        with threads(blas=1):     # small products: spin-waiting BLAS threads cost 10-100x on a busy box
            return self._solve(view, options, ws)

    @staticmethod
    def start(p, options, ws):
        """(u, w or None): the last solution of the same data, else (u0, None)."""
        warm = ws.warm
        if options.warm_start and warm.get("u") is not None and warm.get("data_version") == p.data_version:
            return warm["u"].copy(), warm["w"].copy()
        return p.u0.copy(), None

    @staticmethod
    def keep(p, ws, u, w):
        ws.warm.update(u=u.copy(), w=w.copy(), data_version=p.data_version)


class HypergradientBackend(BilevelBackend):
    name = "hypergradient"
    description = ("implicit differentiation through the lower level's optimality conditions (Newton / CG "
                   "lower solves) with L-BFGS-B on the upper level (bilevel programs)")
    default_max_iter = 500
    priority = 40
    _EXTRA = ("memory",)

    def accepts_extra(self):
        return self._EXTRA

    def _opts(self, options) -> int:
        m = self.checked_extra(options).get("memory", 20)
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise InvalidDataError(f"backend 'hypergradient': memory must be a positive integer, got {m!r}")
        return int(m)

    def _solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        p = view.program
        memory = self._opts(options)
        u, w0 = self.start(p, options, ws)
        vf = ValueFunction(p, w0)
        mon = IterationMonitor(options, table=TABLE)
        it = [0]
        best = {}

        def check(uk, F, grad):
            stat = vf.measure(uk, grad, F)
            rec = mon.record(it[0], stat, objective=F + p.constant, evaluations=vf.evaluations)
            best.update(u=uk.copy(), w=vf.w.copy())
            if stat <= options.tol:
                mon.stop("converged")
                raise _Stop
            if mon.check(rec, np.concatenate([uk, vf.w]),
                         f"{mon.max_iter} L-BFGS-B iterations (upper measure {stat:.2e})"):
                raise _Stop

        def callback(intermediate_result):
            it[0] += 1
            uk = np.asarray(intermediate_result.x, dtype=np.float64)
            lu, F, grad = vf.last
            if not np.array_equal(lu, uk):      # the accepted point is not the last one evaluated
                F, grad = vf(uk)
            check(uk, F, grad)

        bounds = list(zip(p.u_lo, p.u_hi)) if p.has_bounds else None
        setup_time = time.perf_counter() - t0
        try:
            F, grad = vf(u)
            check(u, F, grad)
            res = minimize(vf, u, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
                           options={"maxiter": mon.max_iter + 1, "maxfun": 20 * (mon.max_iter + 1), "maxcor": memory,
                                    "ftol": 0.0, "gtol": 0.0})
            if not best or not np.array_equal(best["u"], res.x):
                F, grad = vf(res.x)
                check(np.asarray(res.x, dtype=np.float64), F, grad)
            mon.stop("stalled", f"L-BFGS-B stopped ({res.message}) before the upper measure met tol")
        except _Stop:
            pass
        except (FloatingPointError, np.linalg.LinAlgError, InvalidDataError) as exc:
            return RawSolution(x=None, status="numerical_error", iterations=it[0], history=mon.history,
                               setup_time=setup_time, message=f"hypergradient: {exc}")
        mon.summary(self.name, f"{it[0]} iterations", mon.elapsed())
        u, w = best["u"], best["w"]
        self.keep(p, ws, u, w)
        return RawSolution(x=np.concatenate([u, w]), status=mon.status, iterations=it[0], history=mon.history,
                           setup_time=setup_time, message=mon.message,
                           info={"evaluations": vf.evaluations, "lower_iterations": vf.lower_iterations})


registry.register(HypergradientBackend())
