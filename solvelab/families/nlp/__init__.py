"""Smooth NLPs: min f(x) s.t. c(x) = 0 (and bounds) with user or JAX derivatives.

    validate      checks of x0, bounds and what each callable returns
    program       NLPProgram, the node ``solvelab.problems.NLP`` builds
    certificate   relative stationarity and feasibility (no absolute floor)
    derivatives   check_derivatives: finite-difference checks of grad, jac, hvp
    forms         SmoothNLP (registered on import)
"""
from .certificate import least_squares_multipliers, measures, nlp_certificate
from .derivatives import check_derivatives
from .forms import SmoothNLP
from .program import NLPProgram

__all__ = ["NLPProgram", "SmoothNLP", "check_derivatives", "least_squares_multipliers", "measures",
           "nlp_certificate"]
