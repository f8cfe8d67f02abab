"""The bilevel form BilevelForm: a BilevelProgram seen by its backends (registered on import)."""
from __future__ import annotations

from dataclasses import dataclass

from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from .program import BilevelProgram


@register_form
@dataclass
class BilevelForm:
    """min_u f(u, w*(u)), w*(u) = argmin_w g(u, w): the levels' values and derivatives."""
    name = "Bilevel"
    program: BilevelProgram

    @staticmethod
    def match(program):
        if isinstance(program, BilevelProgram):
            return BilevelForm(program)
        if isinstance(program, StructuredProgram):
            return NoMatch("Bilevel", f"this is a program of the {program.family} family, not a bilevel one")
        return NoMatch("Bilevel", "only programs built by solvelab.problems.Bilevel (or its constructors) "
                                  "have this form")

    def __getattr__(self, name):   # the node's levels, derivatives and data
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.program, name)

    def certify(self, x, duals):
        return self.program.certify(x, duals)
