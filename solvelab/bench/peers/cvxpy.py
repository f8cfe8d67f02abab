"""CVXPY with Clarabel, SCS and OSQP as peers (``cvxpy-clarabel``, ``cvxpy-scs``, ``cvxpy-osqp``).

The instance's own CVXPY model (``Instance.make_problem``) is handed to CVXPY as a user
would, with the solver's tolerances set from ``tol`` (Clarabel: tol_gap_abs/rel and
tol_feas; SCS and OSQP: eps_abs/eps_rel) and its time limit. CVXPY's canonicalization
time is reported as compile time. The point is judged by its objective like any peer's:
CVXPY's ``optimal`` is recorded in the message, not believed (SCS and OSQP report
``optimal`` far from it at their default tolerances).
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from ..peer import Peer, PeerRun, PeerSkip, register_peer

_QP_FAMILIES = ("lasso", "nnls", "huber", "boxqp", "eqls")


class _CvxpyPeer(Peer):
    package = "cvxpy"
    imports = ("cvxpy",)
    solver = ""
    needs = ""            # python module of the solver

    def available(self):
        why = super().available()
        if why:
            return why
        import importlib.util
        if self.needs and importlib.util.find_spec(self.needs) is None:
            return f"{self.solver} is not installed (pip install {self.needs})"
        return None

    def supports(self, instance):
        cap = instance.meta.get("cvxpy_max")  # a suite may keep big instances from CVXPY
        if cap is not None and instance.meta.get("nnz", 0) > cap:
            return f"too large for CVXPY here (nnz {instance.meta['nnz']} > {cap}; canonicalization is the bottleneck)"
        return None

    def settings(self, tol, time_limit, max_iter):
        return {}

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        import cvxpy as cp
        prob = instance.make_problem(data)
        cvx = cp.Problem(prob.objective, prob.constraints)
        if len(cvx.variables()) != 1:
            raise PeerSkip("the CVXPY peer wraps single-variable models only")
        var = cvx.variables()[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cvx.solve(solver=self.solver, **self.settings(tol, time_limit, max_iter))
        except cp.error.SolverError as exc:
            msg = str(exc).splitlines()[0][:200]
            if "not" in msg.lower() and ("support" in msg.lower() or "handle" in msg.lower()):
                raise PeerSkip(f"CVXPY/{self.solver} cannot take this model: {msg}") from None
            return PeerRun(x=None, status="error", message=f"CVXPY/{self.solver}: {msg}")
        except cp.error.DCPError as exc:
            raise PeerSkip(f"CVXPY: {exc}") from None
        stats = cvx.solver_stats
        status = cvx.status
        verdict = {"optimal": "converged", "optimal_inaccurate": "converged", "user_limit": "time_limit"}.get(status, "error")
        if status == "user_limit" and (time_limit is None):
            verdict = "max_iter"
        x = None if var.value is None else np.asarray(var.value, dtype=float).ravel(order="F")
        return PeerRun(x=x, status=verdict, iterations=int(getattr(stats, "num_iters", 0) or 0),
                       time_compile=float(getattr(cvx, "compilation_time", 0.0) or 0.0),
                       message=f"CVXPY status {status}",
                       info={"solver_time": getattr(stats, "solve_time", None)})


@register_peer
class ClarabelPeer(_CvxpyPeer):
    name = "cvxpy-clarabel"
    description = "CVXPY + Clarabel (interior point)"
    solver = "CLARABEL"
    needs = "clarabel"

    def settings(self, tol, time_limit, max_iter):
        s = {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol}
        if time_limit:
            s["time_limit"] = float(time_limit)
        return s


@register_peer
class ScsPeer(_CvxpyPeer):
    name = "cvxpy-scs"
    description = "CVXPY + SCS (ADMM on the homogeneous embedding)"
    solver = "SCS"
    needs = "scs"

    def settings(self, tol, time_limit, max_iter):
        s = {"eps_abs": tol, "eps_rel": tol}
        if time_limit:
            s["time_limit_secs"] = float(time_limit)
        if max_iter:
            s["max_iters"] = int(max_iter)
        return s


@register_peer
class OsqpPeer(_CvxpyPeer):
    name = "cvxpy-osqp"
    description = "CVXPY + OSQP (ADMM for QPs)"
    solver = "OSQP"
    needs = "osqp"
    families = _QP_FAMILIES

    def supports(self, instance):
        if instance.family not in _QP_FAMILIES:
            return f"OSQP takes quadratic programs; family {instance.family!r} is not one"
        return super().supports(instance)

    def settings(self, tol, time_limit, max_iter):
        s = {"eps_abs": tol, "eps_rel": tol}
        if time_limit:
            s["time_limit"] = float(time_limit)
        if max_iter:
            s["max_iter"] = int(max_iter)
        return s
