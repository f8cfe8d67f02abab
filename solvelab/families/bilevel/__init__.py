"""Bilevel programs: min_u f(u, w*(u)) where w*(u) = argmin_w g(u, w).

    validate      checks of data, labels, options and of a CVXPY declaration
    program       BilevelProgram: the node's contract, Newton on the lower level, the
                  hypergradient by implicit differentiation
    glm           GLMBilevel: weights of a ridge / l2-logistic lower level on a validation set
    declared      CVXPYBilevel: levels declared with CVXPY expressions
    certificate   upper stationarity, lower stationarity, lower value gap (relative)
    forms         Bilevel (registered on import)
"""
from .certificate import bilevel_certificate
from .declared import CVXPYBilevel
from .forms import BilevelForm
from .glm import GLMBilevel
from .program import BilevelProgram, HessianSolver

__all__ = ["BilevelForm", "BilevelProgram", "CVXPYBilevel", "GLMBilevel", "HessianSolver", "bilevel_certificate"]
