"""The smooth-NLP form SmoothNLP: an NLPProgram seen by its backends (registered on import)."""
from __future__ import annotations

from dataclasses import dataclass

from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from .program import NLPProgram


@register_form
@dataclass
class SmoothNLP:
    """min f(x) s.t. c(x) = 0 (l <= x <= u), with grad, jac and the Lagrangian's hess / hvp."""
    name = "SmoothNLP"
    program: NLPProgram

    @staticmethod
    def match(program):
        if isinstance(program, NLPProgram):
            return SmoothNLP(program)
        if isinstance(program, StructuredProgram):
            return NoMatch("SmoothNLP", f"this is a program of the {program.family} family, not a smooth NLP")
        return NoMatch("SmoothNLP", "only programs built by solvelab.NLP / solvelab.problems.NLP have this form")

    def __getattr__(self, name):   # the callables and data of the node
        if name in ("fun", "gradient", "cons", "jacobian", "hessian", "hvp", "x0", "m", "n", "lo", "hi",
                    "has_bounds", "has_hessian", "sparse", "g0_norm", "c0_norm", "counts", "data_version", "free"):
            return getattr(self.program, name)
        raise AttributeError(name)

    def check_local_infeasibility(self, x, tol):
        return self.program.check_local_infeasibility(x, tol)

    def certify(self, x, duals):
        return self.program.certify(x, duals)
