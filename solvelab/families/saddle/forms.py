"""The saddle forms, a SaddleProgram seen by its backends (registered on import):

    BilinearSaddle     no regularizer: c^T x + x^T K y - b^T y (backend halpern)
    RegularizedSaddle  alpha/2 |x|^2 or mu/2 |y|^2 with a positive weight: strongly convex
                       in x or strongly concave in y (backend alpd)
    DROSaddle          distributionally robust logistic regression: a coupling sum_i p_i l_i(x)
                       nonlinear in x (backend alpd)
    CoupledSaddle      a smooth convex-concave coupling Phi(x, y) given as callables (or JAX),
                       besides the bilinear and quadratic parts (backend alpd)
"""
from __future__ import annotations

from dataclasses import dataclass

from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from .coupled import CoupledSaddleProgram
from .dro import DROLogisticProgram
from .program import SaddleProgram


def _not_saddle(name: str, program):
    if isinstance(program, StructuredProgram):
        return NoMatch(name, f"this is a program of the {program.family} family, not a saddle point")
    return NoMatch(name, "only programs built by solvelab.problems.matrix_game, bilinear_saddle or "
                         "SaddlePoint have this form")


class _SaddleView:
    program: SaddleProgram

    def __getattr__(self, name):   # the node's data: K, KT, c, b, X, Y, shape, K_max, matvec ...
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.program, name)

    def certify(self, x, duals):
        return self.program.certify(x, duals)


@register_form
@dataclass
class BilinearSaddle(_SaddleView):
    """min_{x in X} max_{y in Y} c^T x + x^T K y - b^T y, X and Y simplices or boxes."""
    name = "BilinearSaddle"
    program: SaddleProgram

    @staticmethod
    def match(program):
        if isinstance(program, DROLogisticProgram):
            return NoMatch("BilinearSaddle", "the coupling sum_i p_i l_i(x) is not bilinear; backend 'alpd' "
                                             "solves it")
        if isinstance(program, CoupledSaddleProgram):
            return NoMatch("BilinearSaddle", f"the coupling {program.coupling.name}(x, y) is not bilinear; backend "
                                             f"'alpd' solves it")
        if isinstance(program, SaddleProgram):
            if program.regularized:
                return NoMatch("BilinearSaddle", f"the saddle point has a quadratic regularizer (x_reg="
                                                 f"{program.x_reg:g}, y_reg={program.y_reg:g}): the "
                                                 f"RegularizedSaddle form (backends 'alpd', 'halpern')")
            return BilinearSaddle(program)
        return _not_saddle("BilinearSaddle", program)


@register_form
@dataclass
class RegularizedSaddle(_SaddleView):
    """min_{x in X} max_{y in Y} c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2 with
    alpha > 0 or mu > 0."""
    name = "RegularizedSaddle"
    program: SaddleProgram

    @staticmethod
    def match(program):
        if isinstance(program, DROLogisticProgram):
            return NoMatch("RegularizedSaddle", "the coupling is not bilinear (a distributionally robust program: "
                                                "the DROSaddle form)")
        if isinstance(program, CoupledSaddleProgram):
            return NoMatch("RegularizedSaddle", f"the coupling {program.coupling.name}(x, y) is not bilinear (the "
                                                f"CoupledSaddle form)")
        if isinstance(program, SaddleProgram):
            if not program.regularized:
                return NoMatch("RegularizedSaddle", "the saddle point has no strongly convex side (x_reg = y_reg = "
                                                    "0): backend 'halpern' solves bilinear saddle points")
            return RegularizedSaddle(program)
        return _not_saddle("RegularizedSaddle", program)


@register_form
@dataclass
class DROSaddle(_SaddleView):
    """min_x max_{p in simplex} sum_i p_i l_i(x) - rho n/2 |p - u|^2 + lam/2 |x|^2 (``dro``)."""
    name = "DROSaddle"
    program: DROLogisticProgram

    @staticmethod
    def match(program):
        if isinstance(program, DROLogisticProgram):
            return DROSaddle(program)
        if isinstance(program, CoupledSaddleProgram):
            return NoMatch("DROSaddle", "a saddle point with a coupling given as callables (the CoupledSaddle form)")
        if isinstance(program, SaddleProgram):
            return NoMatch("DROSaddle", "a bilinear saddle point, not a distributionally robust program")
        if isinstance(program, StructuredProgram):
            return NoMatch("DROSaddle", f"this is a program of the {program.family} family, not a saddle point")
        return NoMatch("DROSaddle", "only programs built by solvelab.problems.dro_logistic have this form")


@register_form
@dataclass
class CoupledSaddle(_SaddleView):
    """min_{x in X} max_{y in Y} c^T x + alpha/2 |x|^2 + x^T K y - b^T y - mu/2 |y|^2 + Phi(x, y),
    Phi smooth and convex-concave, given as callables (``coupled``)."""
    name = "CoupledSaddle"
    program: CoupledSaddleProgram

    @staticmethod
    def match(program):
        if isinstance(program, CoupledSaddleProgram):
            return CoupledSaddle(program)
        if isinstance(program, (SaddleProgram, DROLogisticProgram)):
            return NoMatch("CoupledSaddle", "no coupling callables: the bilinear / DRO saddle forms take it")
        if isinstance(program, StructuredProgram):
            return NoMatch("CoupledSaddle", f"this is a program of the {program.family} family, not a saddle point")
        return NoMatch("CoupledSaddle", "only programs built by solvelab.problems.coupled_saddle or "
                                        "SaddlePoint(..., coupling=...) have this form")
