"""solvelab: declare with CVXPY, solve on structured backends, get a certified result.

>>> import cvxpy as cp, solvelab as sl
>>> x = cp.Variable(3)
>>> res = sl.Problem(cp.Minimize(cp.sum_squares(x - 1) + cp.norm1(x))).solve(backend="auto")
"""
# the model first: it imports the package solvelab.compile, which the function
# sl.compile, imported after it, must shadow
from .model import Problem  # noqa: I001
from .engine import backends, compile, solve
from .errors import (BackendRefusedError, InvalidDataError, MissingDependencyError, NonConvexError,
                     ShapeError, SolvelabError, UnsupportedAtomError)
from .result import Certificate, Result, Status
from . import cvxpy_method as _cvxpy_method

__version__ = "0.1.0"

_cvxpy_method.register()   # cvxpy.Problem.solve(method="solvelab", ...)


def __getattr__(name):
    """Lazy parts: ``sl.problems`` (constructors), ``sl.path`` (regularization paths), and the
    front ends in other libraries' words: ``sl.ot`` (POT's calls), ``sl.sklearn`` (estimators)."""
    if name in ("problems", "ot", "sklearn"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name == "diff":     # sl.diff.vjp(problem, result, dx), sl.diff.value_gradients(problem, result)
        from .model import diff
        return diff
    if name == "NLP":      # sl.NLP(objective, x0, eq=..., grad=..., jac=..., hess=... / hvp=...)
        from .problems.nlp import NLP
        return NLP
    if name == "Bilevel":   # sl.Bilevel(upper, lower, upper_vars, lower_vars): hyperparameter programs
        from .problems.bilevel import Bilevel
        return Bilevel
    if name == "Fractional":   # sl.Fractional(numerator, denominator, constraints=None): ratio programs
        from .problems.fractional import Fractional
        return Fractional
    if name == "SaddlePoint":   # sl.SaddlePoint(objective, minimize=x, maximize=y, constraints): bilinear saddles
        from .problems.saddle import SaddlePoint
        return SaddlePoint
    if name == "Coupling":   # sl.Coupling(value, grad_x, grad_y) / .from_jax(fn): a saddle point's Phi(x, y)
        from .families.saddle.coupling import Coupling
        return Coupling
    if name == "is_metric":   # sl.is_metric(X): X is a metric (implicit triangle inequalities)
        from .problems.metric import is_metric
        return is_metric
    if name == "path":
        from .paths import path  # module named paths: a submodule 'path' would shadow the function
        return path
    raise AttributeError(f"module 'solvelab' has no attribute {name!r}")

__all__ = ["Problem", "solve", "compile", "backends", "Result", "Status", "Certificate",
           "SolvelabError", "InvalidDataError", "ShapeError", "UnsupportedAtomError", "NonConvexError",
           "BackendRefusedError", "MissingDependencyError", "NLP", "Bilevel", "Fractional", "SaddlePoint", "Coupling", "is_metric",
           "__version__"]
