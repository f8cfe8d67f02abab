"""CVXPY expression trees -> the operator/prox IR (one linear-time walk)."""
from .compiler import compile_problem

__all__ = ["compile_problem"]
