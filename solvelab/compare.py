"""Side-by-side check of one problem on several backends against CVXPY + Clarabel: what
the runnable examples in problems/ print when run as scripts."""
from __future__ import annotations


def reference_objective(problem) -> float:
    """The objective CVXPY + Clarabel finds for the same objective and constraints."""
    import cvxpy as cp
    return float(cp.Problem(problem.objective, problem.constraints).solve(solver="CLARABEL"))


def relative_difference(value: float, reference: float) -> float:
    """|value - reference| / |reference| (inf when the reference is 0 and they differ)."""
    if value == reference:
        return 0.0
    return abs(value - reference) / abs(reference) if reference != 0 else float("inf")


def compare_backends(problem, backends, tol: float = 1e-6, out=print) -> list:
    """Solve ``problem`` on each backend at ``tol``; print each Result next to Clarabel's
    objective and return the results."""
    ref = reference_objective(problem)
    out(f"CVXPY+Clarabel objective {ref:.10g}")
    results = []
    for backend in backends:
        res = problem.solve(backend=backend, tol=tol)
        out(f"  {backend:6s} {res!r}  rel.diff {relative_difference(res.objective, ref):.1e}")
        results.append(res)
    return results
