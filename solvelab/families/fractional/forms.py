"""The fractional form FractionalRatio: a FractionalProgram seen by its backends (registered on import)."""
from __future__ import annotations

from dataclasses import dataclass

from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from .program import FractionalProgram


@register_form
@dataclass
class FractionalRatio:
    """min (f + h)(x) / D(x): smooth quadratic f, separable l1 h (+ a norm term), D affine or a norm."""
    name = "FractionalRatio"
    program: FractionalProgram

    @staticmethod
    def match(program):
        if isinstance(program, FractionalProgram):
            return FractionalRatio(program)
        if isinstance(program, StructuredProgram):
            return NoMatch("FractionalRatio", f"this is a program of the {program.family} family, not a fractional one")
        return NoMatch("FractionalRatio", "only programs built by solvelab.Fractional / solvelab.problems.Fractional "
                                          "have this form")

    def certify(self, x, duals):
        return self.program.certify(x, duals)
