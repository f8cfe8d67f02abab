"""OR-Tools PDLP (Applegate et al.'s own implementation) as an LP peer: ``ortools-pdlp``.

The instance's LP node goes to ``ortools.pdlp`` as a QuadraticProgram (row bounds, column
bounds, CSC matrix, objective offset); presolve is off (PDLP's default), one thread, and
``tol`` is its relative optimality tolerance with the absolute one 0 (so that it is scale-
free like ours). It reports its matrix passes itself (``cumulative_kkt_matrix_passes``,
one A and one A^T product per pass), unlike HiGHS's PDLP. ``run_ortools_pdlp`` is shared
with benchmarks/lp_vs_pdlp.py. An extra: ``pip install ortools`` (or 'solvelab[lp-peers]').
"""
from __future__ import annotations

import time

import numpy as np

from ..peer import Peer, PeerRun, register_peer


def run_ortools_pdlp(p, tol: float, time_limit=None, max_iter=None) -> dict:
    """Solve the LP node ``p`` (``solvelab.families.lp.LPProgram``) with OR-Tools PDLP: x,
    y (row duals), termination reason, iterations, matrix passes, seconds (run only)."""
    import scipy.sparse as sp
    from ortools.pdlp import solve_log_pb2, solvers_pb2
    from ortools.pdlp.python import pdlp
    qp = pdlp.QuadraticProgram()
    qp.objective_vector = np.asarray(p.c, dtype=np.float64)
    qp.objective_offset = float(p.constant)
    qp.constraint_lower_bounds, qp.constraint_upper_bounds = p.rl, p.ru
    qp.variable_lower_bounds, qp.variable_upper_bounds = p.l, p.u
    qp.constraint_matrix = sp.csc_matrix(p.A)
    params = solvers_pb2.PrimalDualHybridGradientParams()
    crit = params.termination_criteria.simple_optimality_criteria
    crit.eps_optimal_relative = float(tol)
    crit.eps_optimal_absolute = 0.0
    params.num_threads = 1
    if time_limit:
        params.termination_criteria.time_sec_limit = float(time_limit)
    if max_iter:
        params.termination_criteria.iteration_limit = int(max_iter)
    t0 = time.perf_counter()
    result = pdlp.primal_dual_hybrid_gradient(qp, params)
    secs = time.perf_counter() - t0
    log = result.solve_log
    x = np.asarray(result.primal_solution, dtype=np.float64)
    y = np.asarray(result.dual_solution, dtype=np.float64)
    return {"x": x if x.size else None, "y": y if y.size else None,
            "status": solve_log_pb2.TerminationReason.Name(log.termination_reason),
            "iterations": int(log.iteration_count),
            "passes": float(log.solution_stats.cumulative_kkt_matrix_passes), "seconds": secs}


@register_peer
class OrtoolsPDLP(Peer):
    name = "ortools-pdlp"
    description = "OR-Tools PDLP (the PDLP authors' C++ code), relative tolerance, 1 thread"
    package = "ortools"
    extra = "lp-peers"
    families = ("lp",)
    imports = ("ortools.pdlp.python.pdlp",)

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        out = run_ortools_pdlp(instance.make_problem(data).program, tol, time_limit, max_iter)
        st = out["status"]
        verdict = "converged" if st == "TERMINATION_REASON_OPTIMAL" else "time_limit" if "TIME" in st else \
            "max_iter" if "ITERATION" in st else "error"
        return PeerRun(x=out["x"], status=verdict, iterations=out["iterations"], message=f"OR-Tools PDLP {st}",
                       info={"solver_time": out["seconds"], "matvecs": out["passes"]})
