"""Semismooth Newton on the primal of distributionally robust logistic regression (DROSaddle).

The max player's best response is a projection, p(x) = P_simplex(u + l(x) / mu), so the
saddle point's primal function

    P(x) = lam/2 |x|^2 + max_p [p^T l(x) - mu/2 |p - u|^2],    l_i(x) = log(1 + exp(-b_i a_i^T x))

is convex and C^1 (Danskin: grad P = lam x + (bA)^T (p(x) * l'), l' = l'(bA x)), with a
piecewise smooth gradient. Its generalized Hessian uses the projection's Jacobian on the
support S of p (I_S - 1_S 1_S^T / |S|, over mu):

    H = lam I + (bA)^T diag(p l'' + [i in S] l'^2 / mu) (bA) - q q^T / (mu |S|),
    q = (bA)^T (l' on S)

(positive definite: lam I plus PSD parts). Each step solves H d = -grad P (Cholesky, d x d)
and backtracks on P (Armijo, 1e-4; on the gradient's norm once the predicted decrease is
below P's rounding, 1e4 ulps); the point returned is (x, p(x)), which the engine
certifies (``DROLogisticProgram.certify``). A step costs the passes of one gradient plus the
d x d product (bA)^T D (bA); it pays for few features (LIBSVM's 22 ... 500): the features'
count is refused above ``max_features`` (3000) with the reason, where ``alpd`` (first
order, no d x d matrix) still runs.

Options: ``max_features`` (3000). Warm start: the last x of the same data version.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import BackendRefusedError, InvalidDataError
from ..families.saddle.dro import CERTIFY_PASSES, primal_parts
from . import registry
from .base import Backend, IterationMonitor, RawSolution, SolveOptions, Table, Workspace

_ARMIJO = 1e-4
#: a predicted decrease below this many ulps of P is not resolved by P's rounding
_RESOLVE = 1e4
_BACKTRACKS = 40

TABLE = Table(("iteration", "iter", "6d"), ("time", "time", "9.3f"), ("residual", "gap", "10.2e"),
              ("step", "step", "9.2e"), ("support", "|S|", "8d"))


def _parts(prog, x):
    """(P(x), grad P(x), p(x), l'(m), l''(m)) at x (``dro.primal_parts``)."""
    q = primal_parts(prog, x)
    r = q["slopes"]
    curv = -r * (1.0 + r)            # l'' = sigma(-m) sigma(m) = -l' (1 + l')
    return q["value"], q["grad"], q["weights"], r, curv


#: above this fraction of nonzeros a sparse bA is densified for the d x d products (BLAS wins)
_DENSE_ABOVE = 0.1


def gram_operand(prog):
    """bA as the Hessian's products want it: dense when it is stored sparse but dense enough."""
    BA = prog.BA
    if sp.issparse(BA) and BA.nnz > _DENSE_ABOVE * BA.shape[0] * BA.shape[1]:
        return BA.toarray()
    return BA


def hessian(prog, p, r, curv, BA=None) -> np.ndarray:
    """The generalized Hessian H of P at the point whose p(x), l', l'' are given (``BA``:
    ``gram_operand(prog)``, computed once per solve)."""
    S = p > 0
    w = p * curv + np.where(S, r * r, 0.0) / prog.mu
    BA = prog.BA if BA is None else BA
    if sp.issparse(BA):
        H = (BA.T @ BA.multiply(w[:, None]).tocsr()).toarray()
    else:
        H = BA.T @ (BA * w[:, None])
    q = prog.rmatvec(np.where(S, r, 0.0))
    H -= np.outer(q, q) / (prog.mu * max(int(S.sum()), 1))
    H[np.diag_indices_from(H)] += prog.lam
    return H


class DRONewtonBackend(Backend):
    name = "dro_newton"
    description = ("semismooth Newton on the smooth primal of distributionally robust logistic regression "
                   "(the inner max is a simplex projection): a few Cholesky steps, for up to a few thousand "
                   "features")
    forms = ("DROSaddle",)
    default_max_iter = 200
    priority = 20

    def accepts_extra(self):
        return ("max_features",)

    def _max_features(self, options) -> int:
        v = self.checked_extra(options).get("max_features", 3000)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidDataError(f"backend 'dro_newton': max_features must be a positive integer, got {v!r}")
        return int(v)

    def _check_size(self, view, options) -> None:
        d = view.program.shape[1]
        cap = self._max_features(options)
        if d > cap:
            raise BackendRefusedError(f"backend 'dro_newton': {d} features > max_features={cap} (each step forms "
                                      f"and factors a {d} x {d} matrix); backend 'alpd' runs without one")

    def setup(self, view, options: SolveOptions) -> Workspace:
        self._check_size(view, options)
        return Workspace()

    def solve(self, view, options: SolveOptions, ws: Workspace) -> RawSolution:
        self._check_size(view, options)      # the options may differ from those of the setup
        t0 = time.perf_counter()
        prog = view.program
        n, d = prog.shape
        warm = ws.warm
        start = bool(options.warm_start and warm.get("x") is not None
                     and warm.get("data_version") == prog.data_version and warm["x"].shape == (d,))
        x = warm["x"].copy() if start else np.zeros(d)
        mon = IterationMonitor(options, table=TABLE)
        setup_time = time.perf_counter() - t0
        value, grad, p, r, curv = _parts(prog, x)
        BA = gram_operand(prog)
        it, step, passes = 0, 0.0, 2
        while True:
            cert = prog.certify(np.concatenate([x, p])).value
            passes += CERTIFY_PASSES
            rec = mon.record(it, cert, step=step, support=int(np.sum(p > 0)), exact=True)
            if cert <= options.tol:
                mon.stop("converged")
                break
            if it >= mon.max_iter:
                mon.stop("max_iter", f"{mon.max_iter} Newton steps (gap {cert:.2e})")
                break
            if mon.check(rec, None, f"{mon.max_iter} Newton steps (gap {cert:.2e})"):
                break
            H = hessian(prog, p, r, curv, BA)
            passes += 2
            try:
                direction = -sla.cho_solve(sla.cho_factor(H, lower=True, check_finite=False), grad,
                                           check_finite=False)
            except (np.linalg.LinAlgError, sla.LinAlgError):
                direction = -grad / (prog.lam + float(np.abs(H).max()))
            slope = float(grad @ direction)
            if not slope < 0:
                direction, slope = -grad, -float(grad @ grad)
            step = 1.0
            # near the solution the decrease of P falls below its rounding (P ~ the mean loss,
            # the decrease ~ |grad|^2 / lam): there the gradient's norm must fall instead
            resolvable = -slope > _RESOLVE * np.finfo(np.float64).eps * max(abs(value), 1e-300)
            gnorm = float(np.linalg.norm(grad))
            for _ in range(_BACKTRACKS):
                trial = _parts(prog, x + step * direction)
                passes += 2
                if trial[0] <= value + _ARMIJO * step * slope if resolvable else \
                        float(np.linalg.norm(trial[1])) <= (1.0 - _ARMIJO * step) * gnorm:
                    break
                step *= 0.5
            else:
                mon.stop("numerical_error", f"the line search found no decrease at step {it} (gap {cert:.2e})")
                break
            x = x + step * direction
            value, grad, p, r, curv = trial
            it += 1
            if not np.all(np.isfinite(x)):
                mon.stop("numerical_error", f"NaN or Inf in x at step {it}")
                break
        info = {"matvecs": passes, "warm_start": start, "solve_time": mon.elapsed(), "compile_time": 0.0}
        mon.summary(self.name, f"{it} Newton steps, {passes} passes over A", mon.elapsed())
        if mon.status == "numerical_error":
            return RawSolution(x=None, status="numerical_error", iterations=it, history=mon.history,
                               setup_time=setup_time, info=info, message=mon.message)
        ws.warm.update(x=x.copy(), data_version=prog.data_version)
        return RawSolution(x=np.concatenate([x, p]), status=mon.status, iterations=it, history=mon.history,
                           setup_time=setup_time, info=info, message=mon.message)


registry.register(DRONewtonBackend())
