"""Problem classes: they hold CVXPY expressions and validate input."""
from .problem import Problem

__all__ = ["Problem"]
