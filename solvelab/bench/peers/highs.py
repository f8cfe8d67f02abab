"""HiGHS (highspy) as LP peers: ``highs-simplex``, ``highs-ipm`` and ``highs-pdlp``.

The instance's LP node (``instance.make_problem(data).program``) is passed to HiGHS, presolve off (every peer solves the same problem), one thread, with
``tol`` as the optimality / feasibility tolerances (``pdlp_optimality_tolerance`` for
PDLP). Iterations are HiGHS's own count (``simplex_iteration_count``,
``ipm_iteration_count``, ``pdlp_iteration_count``); the point is judged by the harness.
``run_highs`` is shared with benchmarks/lp_vs_pdlp.py.
"""
from __future__ import annotations

import time

import numpy as np

from ..peer import Peer, PeerRun, register_peer


def _model(h, p):
    import highspy
    lp = highspy.HighsLp()
    m, n = p.shape
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = p.c
    lp.col_lower_, lp.col_upper_ = p.l, p.u
    lp.row_lower_, lp.row_upper_ = p.rl, p.ru
    lp.offset_ = p.constant
    A = p.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    h.passModel(lp)
    return p


def run_highs(p, solver: str, tol: float, time_limit=None, max_iter=None) -> dict:
    """Solve the LP node ``p`` (``solvelab.families.lp.LPProgram``) with HiGHS's ``solver``
    ('simplex', 'ipm', 'pdlp'): x, y (row duals, PDLP sign convention), status text,
    iterations, seconds (run only)."""
    import highspy
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    _model(h, p)
    h.setOptionValue("solver", solver)
    h.setOptionValue("presolve", "off")
    # one thread; HiGHS fixes its thread pool at the first run of a process, so a run after
    # others with another count would refuse to start: reset the pool first
    highspy.Highs.resetGlobalScheduler(True)
    h.setOptionValue("threads", 1)
    if solver == "pdlp":
        h.setOptionValue("pdlp_optimality_tolerance", float(tol))
        if max_iter:
            h.setOptionValue("pdlp_iteration_limit", int(max_iter))
    else:
        h.setOptionValue("primal_feasibility_tolerance", float(max(tol, 1e-10)))
        h.setOptionValue("dual_feasibility_tolerance", float(max(tol, 1e-10)))
    if time_limit:
        h.setOptionValue("time_limit", float(time_limit))
    t0 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t0
    info = h.getInfo()
    sol = h.getSolution()
    its = {"pdlp": info.pdlp_iteration_count, "ipm": info.ipm_iteration_count,
           "simplex": info.simplex_iteration_count}[solver]
    x = np.asarray(sol.col_value, dtype=np.float64) if sol.value_valid else None
    y = np.asarray(sol.row_dual, dtype=np.float64) if sol.dual_valid else None
    return {"x": x, "y": y, "status": h.modelStatusToString(h.getModelStatus()), "iterations": int(its),
            "seconds": secs}


class _HighsPeer(Peer):
    package = "highspy"
    families = ("lp",)
    imports = ("highspy",)
    solver = ""

    def solve(self, instance, data, *, tol, time_limit, max_iter, record):
        out = run_highs(instance.make_problem(data).program, self.solver, tol, time_limit, max_iter)
        st = out["status"]
        verdict = "converged" if st == "Optimal" else "time_limit" if "Time" in st else \
            "max_iter" if "Iteration" in st else "error"
        return PeerRun(x=out["x"], status=verdict, iterations=out["iterations"], message=f"HiGHS status {st}",
                       info={"solver_time": out["seconds"]})


@register_peer
class HighsSimplex(_HighsPeer):
    name = "highs-simplex"
    description = "HiGHS dual simplex (highspy), presolve off, 1 thread"
    solver = "simplex"


@register_peer
class HighsIPM(_HighsPeer):
    name = "highs-ipm"
    description = "HiGHS interior point (highspy), presolve off, 1 thread"
    solver = "ipm"


@register_peer
class HighsPDLP(_HighsPeer):
    name = "highs-pdlp"
    description = "HiGHS PDLP (cuPDLP-C on the CPU, highspy), presolve off, 1 thread"
    solver = "pdlp"
