"""Peers for the fractional suite, both on CVXPY + Clarabel:

    dinkelbach-clarabel   Dinkelbach's iteration t = N/D, x = argmin N - t D, each inner
                          problem a CVXPY model solved by Clarabel (for a norm D, linearized
                          at x_k: the convex generalized Dinkelbach step), stopped when t
                          decreases by less than tol relative
    cvxpy-dqcp            CVXPY's quasiconvex bisection, ``solve(qcp=True)`` on N / D: only
                          where CVXPY can model the ratio (D affine, positive); a norm D makes
                          it not DQCP and the peer skips with that reason
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from ..peer import Peer, PeerRun, PeerSkip, register_peer


@register_peer
class DinkelbachClarabel(Peer):
    name = "dinkelbach-clarabel"
    description = "Dinkelbach with CVXPY + Clarabel inner solves (linearized D for norms)"
    package = "cvxpy"
    families = ("fractional",)
    imports = ("cvxpy",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        import cvxpy as cp
        p = instance.make_problem(data).program
        x = p.start()
        t = p.ratio(x)
        t0 = time.perf_counter()
        z = cp.Variable(p.n)
        lin = cp.Parameter(p.n)
        prob = cp.Problem(cp.Minimize(p.numerator_expr(z) - lin @ z), p.domain_constraints(z))
        it = 0
        for it in range(1, (max_iter or 100) + 1):
            lin.value = t * p.den.subgradient(x)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prob.solve(solver="CLARABEL")
            if z.value is None:
                return PeerRun(x=x, status="error", iterations=it, message=f"Clarabel: {prob.status}")
            xn = np.clip(np.asarray(z.value, dtype=np.float64).reshape(-1), p.lo, p.hi)
            tn = p.ratio(xn)
            record(iteration=it, x=xn)
            if not tn < t:
                break
            done = t - tn <= tol * abs(t)
            x, t = xn, tn
            if done:
                break
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                return PeerRun(x=x, status="time_limit", iterations=it)
        return PeerRun(x=x, status="converged", iterations=it)


@register_peer
class CvxpyDQCP(Peer):
    name = "cvxpy-dqcp"
    description = "CVXPY's DQCP bisection (solve(qcp=True), Clarabel) where it models N / D"
    package = "cvxpy"
    families = ("fractional",)
    imports = ("cvxpy",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        prob = instance.make_problem(data)
        cpp, z = prob.to_cvxpy()
        if not cpp.is_dqcp():
            raise PeerSkip(f"cvxpy-dqcp: N / D with D = {prob.program.den.describe()} is not DQCP (the ratio is "
                           f"not quasiconvex for a convex D); CVXPY cannot model it")
        from cvxpy.error import SolverError
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cpp.solve(qcp=True, solver="CLARABEL", eps=tol)
        except SolverError as exc:
            return PeerRun(x=None, status="error", message=f"DQCP bisection failed: {exc}")
        x = None if z.value is None else np.asarray(z.value, dtype=np.float64).reshape(-1)
        return PeerRun(x=x, status="converged" if x is not None else "error", iterations=0, message=str(cpp.status))
