"""Bilinear saddle points: min_{x in X} max_{y in Y} c^T x + x^T K y - b^T y, optionally
with quadratic regularizers alpha/2 |x|^2 - mu/2 |y|^2.

    validate      domain specs ('simplex', ('box', lo, hi), 'free'), matrix and vector checks
    wellposed     with an unbounded side: does a saddle point exist (two feasibility LPs)
    program       SaddleProgram, the node ``solvelab.problems.matrix_game`` / ``bilinear_saddle`` build
    certificate   relative duality gap, stationarity on unbounded sides, domain violation
    dro           DROLogisticProgram: distributionally robust logistic regression, its certificate
    coupling      Coupling: a smooth Phi(x, y) from callables or JAX, with construction-time checks
    coupled       CoupledSaddleProgram (a coupling besides the bilinear part) and its linearized certificate
    forms         BilinearSaddle, RegularizedSaddle, DROSaddle, CoupledSaddle (registered on import)
    recognize     c^T x + x^T K y - b^T y and the players' sets read off CVXPY objects (SaddlePoint)
"""
from .certificate import measures, saddle_certificate
from .coupled import CoupledSaddleProgram
from .coupling import Coupling
from .dro import DROLogisticProgram
from .forms import BilinearSaddle, CoupledSaddle, DROSaddle, RegularizedSaddle
from .program import SaddleProgram
from .validate import Domain, DomainSpec, check_domain, check_matrix, check_vector

__all__ = ["SaddleProgram", "DROLogisticProgram", "CoupledSaddleProgram", "Coupling", "BilinearSaddle",
           "RegularizedSaddle", "DROSaddle", "CoupledSaddle", "saddle_certificate", "measures", "Domain", "DomainSpec",
           "check_domain", "check_matrix", "check_vector"]
