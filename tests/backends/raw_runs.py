"""Run one backend directly on a CVXPY model and keep what it returned (the RawSolution)
next to the engine's verdict on it: for tests of a backend's own detection claims."""
import solvelab as sl
from solvelab.backends import registry
from solvelab.backends.base import SolveOptions
from solvelab.engine import finish


def run_raw(backend_name, prob, tol=1e-6, **extra):
    """(program, raw solution, Result) of ``backend_name`` on the cvxpy ``prob``."""
    program = sl.Problem(prob.objective, prob.constraints).compile()
    backend = registry.get(backend_name)
    view = registry.view_for(backend, program)
    raw = backend.run(view, SolveOptions(warm_start=False, extra=extra))
    return program, raw, finish(program, raw, backend_name, tol, view=view)
