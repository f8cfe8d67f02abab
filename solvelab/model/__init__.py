"""Problem classes: they hold CVXPY expressions (or a constructor's program node), validate
input, coerce a plain cvxpy.Problem and write results back."""
from .problem import Problem, as_problem

__all__ = ["Problem", "as_problem"]
