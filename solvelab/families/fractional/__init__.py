"""Fractional programs: min N(x) / D(x), N = smooth convex quadratic + l1 (+ a norm), D affine or a norm.

    validate      checks of arrays, bounds and the affine denominator's minimum on the domain
    denominator   Denominator: affine, l2, l1, top-k (value, subgradient)
    program       FractionalProgram, the node ``solvelab.problems.Fractional`` builds
    recognize     from_cvxpy: the node from CVXPY numerator / denominator expressions
    certificate   the paper's stationarity (relative) and the parametric gap
    forms         FractionalRatio (registered on import)
"""
from .certificate import fractional_certificate, stationarity
from .denominator import Denominator
from .forms import FractionalRatio
from .program import FractionalProgram
from .recognize import from_cvxpy

__all__ = ["Denominator", "FractionalProgram", "FractionalRatio", "fractional_certificate", "from_cvxpy",
           "stationarity"]
