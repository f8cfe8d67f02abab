"""Metric-constrained programs: X a (semi)metric on n points, held implicitly.

    validate      checks of D, weights, costs (shared with the constructors)
    program       MetricProgram, the node ``solvelab.problems.metric_nearness`` & co. build
    certificate   triangle violation over all triangles, duality gap from the multipliers
    forms         MetricNearness (registered on import)
    recognize     IsMetric (the is_metric(X) constraint) and the CVXPY objectives it pairs with
"""
from .certificate import adjoint, certify_metric, dual_value, primal_value, violations
from .forms import MetricNearness
from .program import KINDS, MetricProgram
from .recognize import IsMetric, build_node, is_metric_constraint, recognize
from .validate import check_dissimilarity, check_square, check_symmetric, check_weights

__all__ = ["MetricProgram", "MetricNearness", "KINDS", "certify_metric", "dual_value", "primal_value",
           "violations", "adjoint", "check_dissimilarity", "check_weights", "check_square",
           "check_symmetric", "IsMetric", "is_metric_constraint", "recognize", "build_node"]
