"""The saddle form BilinearSaddle: a SaddleProgram seen by its backends (registered on import)."""
from __future__ import annotations

from dataclasses import dataclass

from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from .program import SaddleProgram


@register_form
@dataclass
class BilinearSaddle:
    """min_{x in X} max_{y in Y} c^T x + x^T K y - b^T y, X and Y simplices or boxes."""
    name = "BilinearSaddle"
    program: SaddleProgram

    @staticmethod
    def match(program):
        if isinstance(program, SaddleProgram):
            return BilinearSaddle(program)
        if isinstance(program, StructuredProgram):
            return NoMatch("BilinearSaddle", f"this is a program of the {program.family} family, not a saddle point")
        return NoMatch("BilinearSaddle", "only programs built by solvelab.problems.matrix_game or bilinear_saddle "
                                         "have this form")

    def __getattr__(self, name):   # the node's data: K, KT, c, b, X, Y, shape, K_max, matvec ...
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.program, name)

    def certify(self, x, duals):
        return self.program.certify(x, duals)
