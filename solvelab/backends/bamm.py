"""Single-loop bilevel averaged method of multipliers (sl-BAMM, Liu, Liu, Yao, Zeng and
Zhang, ICML 2023) on the Bilevel form.

One iteration updates the lower point w, the multiplier z and the upper point u once each:

    w <- w - H^-1 (d_w g(u, w) + mu_k d_w f(u, w))       the averaged lower step
    z <- H^-1 d_w f(u, w)                                  the multiplier (the adjoint)
    u <- P_box[u - a_k (d_u f(u, w) - (d2_wu g)^T z)]      the upper step

with H = d2_ww g at (u, w). The averaging weight mu_k = mu0 0.8^k fades the upper
objective out of the lower step (geometrically, not as the paper's mu0 / (k + 1): with
the slower schedule the lower point stays mu_k H^-1 d_w f away from w*(u), and the
certificate's lower stationarity could not reach 1e-6 in thousands of iterations) (sl-BAMM's aggregation, which is what lets the method do
without lower strong convexity; here H is also regularized by the level's own ridge).
The lower step is a Newton step rather than the paper's gradient step (the family's
levels are smooth with few lower variables, and one Cholesky factor serves both the
step and the multiplier, which the paper solves by a gradient step on the same
quadratic; the multiplier uses H from the step's start, so each iteration forms and
factors one Hessian). The upper steps are quasi-Newton ones (L-BFGS two-loop on the last
10 (s, y) pairs of u and of the multiplier-estimated hypergradient d, which the paper's
plain gradient step leaves out), safeguarded by a nonmonotone test over the last 10
iterations (f above all of them and the upper measure above twice their least cuts the
steps 4x and drops the pairs; f alone would not do, as it rises while mu_k fades). No inner loop runs to convergence: each iteration costs one Hessian
and its factor. The run stops when the upper measure |P d|_1 / ref meets tol at a lower
point whose own relative stationarity is below tol / 100; the engine then re-solves the
lower level and recomputes the whole certificate. Options (``options.extra``): ``mu0``
(averaging weight, 0.5), ``step0`` (the first upper step; None: 1 / |d|_inf).
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from ..errors import InvalidDataError
from ..families.bilevel import HessianSolver
from ..families.bilevel.certificate import rel
from . import registry
from .base import IterationMonitor, RawSolution, SolveOptions, Table, Workspace
from .hypergradient import BilevelBackend

_FADE = 0.8
_MEMORY = 10


def _two_loop(g, pairs):
    """H g for the L-BFGS inverse-Hessian estimate from the (s, y) pairs (Nocedal's two
    loops, initial scaling s^T y / y^T y of the newest pair)."""
    if not pairs:
        return g
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        a = float(s @ q) / float(s @ y)
        alphas.append(a)
        q -= a * y
    s, y = pairs[-1]
    r = q * (float(s @ y) / float(y @ y))
    for (s, y), a in zip(pairs, reversed(alphas)):
        b = float(y @ r) / float(s @ y)
        r += (a - b) * s
    return r

TABLE = Table(("iteration", "iter", "7d"), ("time", "time", "9.3f"), ("objective", "f(u, w)", "14.7e"),
              ("residual", "upper", "9.2e"), ("lower", "lower", "9.2e"), ("step", "step", "9.2e"))


def _positive(value, name, default):
    v = default if value is None else value
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v) or v < 0:
        raise InvalidDataError(f"backend 'bamm': {name} must be a nonnegative number, got {value!r}")
    return float(v)


class BAMMBackend(BilevelBackend):
    name = "bamm"
    description = ("single-loop bilevel averaged method of multipliers (sl-BAMM): one averaged Newton step on "
                   "the lower level, one multiplier solve and one quasi-Newton upper step per iteration")
    default_max_iter = 5000
    priority = 50
    _EXTRA = ("mu0", "step0")

    def accepts_extra(self):
        return self._EXTRA

    def _opts(self, options):
        extra = self.checked_extra(options)
        mu0 = extra.get("mu0")
        mu0 = None if mu0 is None else _positive(mu0, "mu0", None)
        step0 = extra.get("step0")
        if step0 is not None:
            step0 = _positive(step0, "step0", None)
            if step0 == 0:
                raise InvalidDataError("backend 'bamm': step0 must be positive")
        return mu0, step0

    def _solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        t0 = time.perf_counter()
        p = view.program
        mu0, step = self._opts(options)
        if mu0 is None:
            mu0 = 0.0 if getattr(p, "strongly_convex", False) else 0.5
        u, w = self.start(p, options, ws)
        if w is None:
            w = p.w_start(u)
        mon = IterationMonitor(options, table=TABLE)
        setup_time = time.perf_counter() - t0
        recent = deque(maxlen=10)
        pairs = deque(maxlen=_MEMORY)
        u_prev = d_prev = None
        cut = 1.0
        it = 0
        try:
            while True:
                mu = mu0 * _FADE ** it
                hs = HessianSolver(p, u, w)
                gl, _ = p.lower_grad(u, w)
                fw = p.upper_grad_w(u, w)
                w = w - hs.solve(gl + mu * fw)
                fw = p.upper_grad_w(u, w)
                z = hs.solve(fw)           # the same factor: H at the step's start
                d = p.upper_grad_u(u, w) - p.cross(u, w, z)
                f = p.upper_value(u, w)
                if not np.isfinite(f) or not np.all(np.isfinite(d)) or not np.all(np.isfinite(w)):
                    raise FloatingPointError("the iterates are not finite")
                stat = rel(float(np.abs(p.projected(u, d)).sum()), p.reference(u, f))
                low = p.lower_stationarity(u, w)
                rec = mon.record(it, stat, objective=f + p.constant, lower=low, step=cut)
                if stat <= options.tol and low <= 1e-2 * options.tol:
                    mon.stop("converged")
                    break
                if mon.check(rec, np.concatenate([u, w]), f"{mon.max_iter} iterations (upper measure {stat:.2e})"):
                    break
                if u_prev is not None:
                    sk, yk = u - u_prev, d - d_prev
                    if float(sk @ yk) > 1e-12 * float(np.linalg.norm(sk) * np.linalg.norm(yk)):
                        pairs.append((sk, yk))
                    else:
                        pairs.clear()           # curvature lost (the lower point lagged): restart
                if recent and f > max(r[0] for r in recent) and stat > 2.0 * min(r[1] for r in recent):
                    cut *= 0.25      # nonmonotone safeguard: the last steps went too far
                    pairs.clear()
                else:
                    cut = min(1.0, 2.0 * cut)
                recent.append((f, stat))
                dp = p.projected(u, d)
                direction = _two_loop(dp, pairs)
                if not pairs:
                    step0 = step if step is not None else 1.0 / max(float(np.max(np.abs(dp), initial=0.0)),
                                                                    np.finfo(float).tiny)
                    direction = step0 * dp
                u_prev, d_prev = u, d
                u = np.clip(u - cut * direction, p.u_lo, p.u_hi)
                it += 1
        except (FloatingPointError, np.linalg.LinAlgError, InvalidDataError) as exc:
            return RawSolution(x=None, status="numerical_error", iterations=it, history=mon.history,
                               setup_time=setup_time, message=f"bamm: {exc}")
        mon.summary(self.name, f"{it} iterations", mon.elapsed())
        self.keep(p, ws, u, w)
        return RawSolution(x=np.concatenate([u, w]), status=mon.status, iterations=it, history=mon.history,
                           setup_time=setup_time, message=mon.message, info={"mu_final": mu0 * _FADE ** it})


registry.register(BAMMBackend())
