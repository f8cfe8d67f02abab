"""``alpd`` on the CoupledSaddle form: a nonlinear coupling Phi(x, y) given as callables.

    min_{x in X} max_{y in Y}  c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2 + Phi(x, y)

The monotone operator G(x, y) = (K y + grad_x Phi, -(K^T x + grad_y Phi)) has no known
Lipschitz constant, so the step is found by backtracking: Tseng's forward-backward-forward
splitting (2000) in the metric of the players' steps t_x = gamma / w, t_y = gamma w
(w: below, or ``primal_weight``), the linear and quadratic parts and the sets in the exact
prox (``kernels.saddle.prox_step``):

    z_bar = prox(z - t G(z))                               (x: P_X((x - t_x (g_x + c)) / (1 + t_x alpha)))
    accept gamma if  t_x |dG_x|^2 + t_y |dG_y|^2 <= delta^2 (|dx|^2 / t_x + |dy|^2 / t_y),
                     dG = G(z_bar) - G(z), d = z_bar - z  (else gamma /= 2, again)
    z+    = P_{X x Y}(z_bar - t (G(z_bar) - G(z)))

(delta = 0.9; after an accepted step gamma grows by 1.2, so it follows the local
Lipschitz constant). Unless given, w starts at |F_x| / |F_y| (F the whole forward
direction, linear and quadratic parts included), so the players move by the same
relative amount whatever their units (a point cloud scaled by 1e-6 or 1e6 takes the same
iterations), and then moves halfway (in log) to PDLP's |dy| / |dx| of the players'
movements at iterations 20, 40, 80, ... (``WEIGHT_FIRST``). The start's ratio can be far
off (the smallest enclosing ball of 1000 points in R^20: w 0.004 at the start, 0.14 after
four updates; 27280 steps with w fixed, 230 with the updates); updating at every check
instead broke the method's monotonicity (an 8 x 6 game written as a coupling stalled at
certificate 0.26 after 20000 steps), the geometric spacing leaves it 1940 steps. Each step costs two gradients of Phi and two passes over K (at
z_bar and z+), more when it backtracks; it converges for every monotone, locally
Lipschitz G (convex-concave Phi), linearly where a side is strongly convex. The point
returned and certified is z_bar, which lies in X x Y. Every ``check_every`` steps the
family's certificate (``coupled_measures``: Phi linearized at the point) is evaluated,
one or three more gradients.

What is not here: acceleration (anchoring, restarts) and inexact inner solves; a Phi
whose gradient is expensive pays two evaluations a step.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..errors import InvalidDataError
from ..families.saddle.coupled import coupled_measures
from ..kernels import saddle as KS
from .base import IterationMonitor, RawSolution, Table
from .pdhg import smoothed_weight
from .saddle_gap import start_point

DELTA = 0.9          # the FBF step test's constant (< 1)
GROW, SHRINK = 1.2, 0.5
MAX_BACKTRACKS = 60

TABLE = Table(("iteration", "iter", "8d"), ("time", "time", "9.3f"), ("residual", "cert", "10.2e"),
              ("gradients", "grads", "8d"), ("step", "gamma", "10.2e"))


class _Op:
    """G's two halves at a point: g_x = K y + grad_x Phi, g_y = K^T x + grad_y Phi (and
    the gradients of Phi alone, for the certificate)."""

    def __init__(self, prog):
        self.prog = prog
        self.grads = 0

    def __call__(self, x, y):
        p = self.prog
        px, py = p.coupling.grad(x, y)
        self.grads += 1
        return p.matvec(y) + px, p.rmatvec(x) + py, px, py


def check_scheme(o) -> None:
    if o["scheme"] not in ("auto", "plain"):
        raise InvalidDataError(f"backend 'alpd': on a saddle point with a coupling Phi(x, y) only scheme='auto' "
                               f"(forward-backward-forward with backtracking) runs, got {o['scheme']!r}")


def _prox(dom, u, g, lin, t, sign, reg, out):
    KS.prox_step(u, g, g, 0.0, lin, t, sign, reg, int(dom.kind), dom.lo, dom.hi, out)
    return out


def _project(dom, v):
    out = np.empty_like(v)
    KS.project(int(dom.kind), dom.lo, dom.hi, np.ascontiguousarray(v), out)
    return out


def _forward(view, x, y, gx, gy):
    """The whole forward direction at (x, y): what x descends along and y ascends."""
    fx = gx + view.c + float(view.x_reg) * x
    fy = gy - view.b - float(view.y_reg) * y
    return fx, fy


def initial_weight(view, x, y, gx, gy) -> float:
    """w = |F_x| / |F_y| at the start: then steps t_x = gamma / w, t_y = gamma w move both
    players by the same relative amount, whatever their units (x in U, y in V: w is V / U,
    PDLP's primal weight); 1 where either part is 0."""
    fx, fy = _forward(view, x, y, gx, gy)
    nx, ny = float(np.linalg.norm(fx)), float(np.linalg.norm(fy))
    return nx / ny if (nx > 0 and ny > 0 and math.isfinite(nx / ny)) else 1.0


WEIGHT_FIRST = 20     # the first weight update's iteration (then 40, 80, ...)


def _initial_gamma(op, view, x, y, gx, gy, w) -> float:
    """DELTA / (a secant estimate of G's Lipschitz constant in the steps' metric), from a
    move along the forward direction of a millionth of the point's size (or of the
    direction's, at a zero point): scale-free."""
    fx, fy = _forward(view, x, y, gx, gy)
    dx, dy = -fx / w, fy * w
    size = math.sqrt(w * float(x @ x) + float(y @ y) / w)
    dsize = math.sqrt(w * float(dx @ dx) + float(dy @ dy) / w)
    if not (dsize > 0 and math.isfinite(dsize)):
        return 1.0
    eps = 1e-6 * (size if size > 0 else dsize) / dsize
    dx, dy = eps * dx, eps * dy
    hx, hy, _, _ = op(x + dx, y + dy)
    ex, ey = hx - gx, hy - gy
    # |G(z') - G(z)| in the dual metric over |z' - z| in the primal one, at gamma = 1
    num = math.sqrt(float(ex @ ex) / w + w * float(ey @ ey))
    den = math.sqrt(w * float(dx @ dx) + float(dy @ dy) / w)
    L = num / den if den > 0 else 0.0
    if not (L > 0 and math.isfinite(L)):
        reg = max(float(view.x_reg) / w, float(view.y_reg) * w)
        L = reg if reg > 0 else 1.0
    return DELTA / L


def solve_coupled(backend, view, options, ws, o, measure=None) -> RawSolution:
    """The run on a CoupledSaddle view. ``measure(x, y, grad_x Phi, grad_y Phi, K y, K^T x)``
    -> the compared certificate value (default: ``coupled_measures``, the linearized gap);
    a family with its own certificate (DRO) passes that one."""
    t0 = time.perf_counter()
    if measure is None:
        check_scheme(o)
    prog = view.program
    X, Y = view.X, view.Y
    alpha, mu = float(view.x_reg), float(view.y_reg)
    c, mb = np.ascontiguousarray(view.c), np.ascontiguousarray(-view.b)
    op = _Op(prog)
    x, y, start = start_point(view, options, ws.warm)
    gx, gy, _, _ = op(x, y)
    given = bool(o.get("primal_weight_given"))
    w = float(o["primal_weight"]) if given else initial_weight(view, x, y, gx, gy)
    mon = IterationMonitor(options, table=TABLE)
    if not (np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))):
        mon.stop("numerical_error", f"the coupling {prog.coupling.name} has NaN or Inf gradients at the start point")
        return RawSolution(x=None, status="numerical_error", iterations=0, history=mon.history,
                           setup_time=time.perf_counter() - t0, info={"gradients": op.grads}, message=mon.message)
    gamma = ws.warm.get("gamma") if start and ws.warm.get("gamma") else _initial_gamma(op, view, x, y, gx, gy, w)
    setup_time = time.perf_counter() - t0
    xb, yb = np.empty_like(x), np.empty_like(y)
    it = backtracks = weight_updates = 0
    bar = None
    mark = (x.copy(), y.copy())
    next_update = WEIGHT_FIRST
    while True:
        count = min(int(options.check_every), mon.max_iter - it)
        if count <= 0:
            mon.stop("max_iter", f"{mon.max_iter} iterations")
            break
        failed = None
        for _ in range(count):
            for _try in range(MAX_BACKTRACKS):
                tx, ty = gamma / w, gamma * w
                _prox(X, x, gx, c, tx, -1.0, alpha, xb)
                _prox(Y, y, gy, mb, ty, 1.0, mu, yb)
                hx, hy, px, py = op(xb, yb)
                if not (np.all(np.isfinite(hx)) and np.all(np.isfinite(hy))):
                    gamma *= SHRINK          # a step into a region where Phi is not finite: shorter
                    backtracks += 1
                    continue
                ex, ey = hx - gx, hy - gy
                dx, dy = xb - x, yb - y
                lhs = tx * float(ex @ ex) + ty * float(ey @ ey)
                rhs = DELTA ** 2 * (float(dx @ dx) / tx + float(dy @ dy) / ty)
                if lhs <= rhs:
                    break
                gamma *= SHRINK
                backtracks += 1
            else:
                failed = f"no step found after {MAX_BACKTRACKS} halvings (gamma {gamma:.2e}) at iteration {it}"
                break
            bar = (xb.copy(), yb.copy(), px, py, hx - px, hy - py)   # z_bar, Phi's gradients, K y, K^T x there
            x = _project(X, xb - tx * (hx - gx))
            y = _project(Y, yb + ty * (hy - gy))
            gx, gy, _, _ = op(x, y)
            it += 1
            if not (np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))):
                failed = f"NaN or Inf gradients of the coupling {prog.coupling.name} at iteration {it}"
                break
            gamma *= GROW
            if not given and it >= next_update:
                # the weight moves halfway (in log) to |dy| / |dx| of the moves since the
                # last update, at geometrically spaced iterations (not at every check:
                # that broke the method's monotonicity)
                w_new = smoothed_weight(w, float(np.linalg.norm(x - mark[0])), float(np.linalg.norm(y - mark[1])),
                                        0.5, floor=0.0)
                if w_new != w:
                    w = w_new
                    weight_updates += 1
                mark = (x.copy(), y.copy())
                next_update *= 2
        if failed is not None:
            mon.stop("numerical_error", failed)
            break
        if measure is None:
            ms = coupled_measures(prog, bar[0], bar[1], bar[2], bar[3], bar[4], bar[5])
            val = max(ms["gap"], ms["stationarity"], ms["domain_violation"])
        else:
            val = float(measure(*bar))
        rec = mon.record(it, val, gradients=op.grads, step=gamma, exact=True)
        if val <= options.tol:
            mon.stop("converged")
            break
        if mon.check(rec, None, f"{mon.max_iter} iterations (certificate {val:.2e})"):
            break
    info = {"scheme": "fbf", "gradients": op.grads, "backtracks": backtracks, "gamma": gamma,
            "weight_updates": weight_updates,
            "primal_weight": w, "warm_start": start, "solve_time": mon.elapsed(), "compile_time": 0.0}
    mon.summary(backend.name, f"{it} iterations (forward-backward-forward), {op.grads} gradients of "
                              f"{prog.coupling.name}", mon.elapsed())
    if mon.status == "numerical_error" or bar is None:
        return RawSolution(x=None, status="numerical_error" if mon.status == "numerical_error" else mon.status,
                           iterations=it, history=mon.history, setup_time=setup_time, info=info, message=mon.message)
    zx, zy = bar[0], bar[1]
    ws.warm.update(x=zx.copy(), y=zy.copy(), gamma=gamma, data_version=prog.data_version)
    return RawSolution(x=np.concatenate([zx, zy]), status=mon.status, iterations=it, history=mon.history,
                       setup_time=setup_time, info=info, message=mon.message)
