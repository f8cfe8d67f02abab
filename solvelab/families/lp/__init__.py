"""Linear programs: the program node, its form, certificate and rays.

    validate      checks of costs, matrix and bounds (shared with the constructors)
    program       LPProgram, the node ``solvelab.problems.linear_program`` / ``read_mps`` build
    lowering      its generic IR terms (for admm / cvxpy) and the map of their duals
    recognize     an LP found in a Program compiled from plain CVXPY
    certificate   PDLP's relative KKT measures, the Farkas and unboundedness ray checks
    rays          the descent-ray LP (finds a ray the iterate differences only hint at)
    forms         LinearProgram (registered on import)
"""
from .certificate import (check_farkas, check_unbounded_ray, dual_value, lp_certificate, measures,
                          project_multipliers, project_reduced)
from .forms import LinearProgram
from .lowering import build_terms, duals_to_multipliers, multipliers_to_duals, ray_to_multipliers
from .program import LPProgram
from .rays import descent_ray_program
from .recognize import recognize
from .validate import check_bounds, check_cost, check_matrix

__all__ = ["LPProgram", "LinearProgram", "build_terms", "lp_certificate", "measures", "check_farkas",
           "check_unbounded_ray", "dual_value", "project_multipliers", "project_reduced",
           "duals_to_multipliers", "multipliers_to_duals", "ray_to_multipliers", "check_cost",
           "check_matrix", "check_bounds", "recognize", "descent_ray_program"]
