"""CVXPY peers for the metric suite: Clarabel and SCS on every triangle written out
(``MetricProblem.to_cvxpy``). They stop scaling near n = 100-150 (O(n^3) rows), so
instances with more than ``MAX_N`` points are skipped with that reason."""
from __future__ import annotations

import numpy as np

from ..peer import Peer, PeerRun, PeerSkip, register_peer

MAX_N = 120
FAMILIES = ("metric_nearness", "correlation_clustering_lp")


class _CvxpyMetric(Peer):
    package = "cvxpy"
    families = FAMILIES
    imports = ("cvxpy",)
    solver = ""

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        import time

        prob = instance.make_problem(data)
        n = prob.program.n_points
        if n > MAX_N:
            raise PeerSkip(f"{self.name}: n = {n} > {MAX_N}: {3 * n * (n - 1) * (n - 2) // 6} explicit "
                           "triangle rows are beyond an interior-point / ADMM solve here")
        t0 = time.perf_counter()
        cp_prob, X = prob.to_cvxpy()
        kw = {"eps": tol} if self.solver == "SCS" else {}
        cp_prob.solve(solver=self.solver, **kw)
        ok = cp_prob.status in ("optimal", "optimal_inaccurate")
        x = np.asarray(X.value, dtype=np.float64).ravel() if ok and X.value is not None else None
        return PeerRun(x=x, status="converged" if cp_prob.status == "optimal" else "error",
                       iterations=int(cp_prob.solver_stats.num_iters or 0), message=str(cp_prob.status),
                       info={"wall": time.perf_counter() - t0})


@register_peer
class ClarabelMetric(_CvxpyMetric):
    name = "cvxpy-clarabel-metric"
    description = "CVXPY + Clarabel on the explicit triangle constraints"
    solver = "CLARABEL"


@register_peer
class ScsMetric(_CvxpyMetric):
    name = "cvxpy-scs-metric"
    description = "CVXPY + SCS on the explicit triangle constraints"
    solver = "SCS"
