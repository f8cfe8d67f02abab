"""Bilinear saddle points: min_{x in X} max_{y in Y} c^T x + x^T K y - b^T y, optionally
with quadratic regularizers alpha/2 |x|^2 - mu/2 |y|^2.

    validate      domain specs ('simplex', ('box', lo, hi), 'free'), matrix and vector checks
    wellposed     with an unbounded side: does a saddle point exist (two feasibility LPs)
    program       SaddleProgram, the node ``solvelab.problems.matrix_game`` / ``bilinear_saddle`` build
    certificate   relative duality gap, stationarity on unbounded sides, domain violation
    dro           DROLogisticProgram: distributionally robust logistic regression, its certificate
    forms         BilinearSaddle, RegularizedSaddle, DROSaddle (registered on import)
    recognize     c^T x + x^T K y - b^T y and the players' sets read off CVXPY objects (SaddlePoint)
"""
from .certificate import measures, saddle_certificate
from .dro import DROLogisticProgram
from .forms import BilinearSaddle, DROSaddle, RegularizedSaddle
from .program import SaddleProgram
from .validate import Domain, DomainSpec, check_domain, check_matrix, check_vector

__all__ = ["SaddleProgram", "DROLogisticProgram", "BilinearSaddle", "RegularizedSaddle", "DROSaddle", "saddle_certificate", "measures", "Domain", "DomainSpec", "check_domain",
           "check_matrix", "check_vector"]
