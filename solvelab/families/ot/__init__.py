"""Entropic optimal transport: the program node, its recognizer, forms and certificate.

    validate      checks of marginals, costs and eps (shared with the constructors)
    program       OTProgram, the node ``solvelab.problems.entropic_ot`` & co. build
    lowering      its generic IR terms (for admm / cvxpy)
    recognize     balanced entropic OT found in a Program compiled from plain CVXPY
    certificate   primal / dual values, marginal violation and gap
    farkas        the infeasibility ray of forbidden (+inf-cost) pairs, and its check
    forms         EntropicOT, UnbalancedOT (registered on import)
    lazy          LazyOTProgram (point clouds, cost computed on the fly, O(n + m) memory),
                  its certificate and its form LazyEntropicOT
    rounding      Altschuler-Weed-Rigollet rounding of a plan onto the transport polytope
    exact         the exact (unregularized) plan from an entropic one: the transport LP on its
                  support, grown by pricing all pairs, certified from its duals
"""
from .exact import ExactPlan, exact_plan
from .certificate import certify_plan, dual_value, improve_potentials, primal_value
from .farkas import check_infeasibility, forbidden_pairs_ray
from .forms import EntropicOT, UnbalancedOT
from .lazy import LAZY_ABOVE, LazyEntropicOT, LazyOTProgram, certify_lazy
from .lowering import build_terms
from .program import OTProgram
from .recognize import recognize
from .rounding import RoundedPlan, round_lazy, round_plan
from .validate import MASS_RTOL, check_balanced, check_cost, check_eps, check_marginal

__all__ = ["OTProgram", "LazyOTProgram", "LazyEntropicOT", "LAZY_ABOVE", "certify_lazy", "round_plan",
           "round_lazy", "RoundedPlan", "exact_plan", "ExactPlan", "EntropicOT", "UnbalancedOT", "recognize", "build_terms", "certify_plan",
           "primal_value", "dual_value", "improve_potentials", "check_infeasibility", "forbidden_pairs_ray",
           "MASS_RTOL", "check_eps", "check_marginal", "check_balanced", "check_cost"]
