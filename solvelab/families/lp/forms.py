"""The LP form: LinearProgram, a view of an LPProgram, or of an LP recognized in a
Program compiled from plain CVXPY (registered on import)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from .certificate import check_farkas, check_unbounded_ray
from .lowering import ray_to_multipliers
from .program import LPProgram
from .recognize import recognize


@register_form
@dataclass
class LinearProgram:
    """min c^T x + c0 s.t. rl <= A x <= ru, l <= x <= u (A CSR, AT its transpose as CSR)."""
    name = "LinearProgram"
    program: LPProgram

    @staticmethod
    def match(program):
        if isinstance(program, LPProgram):
            return LinearProgram(program)
        if isinstance(program, StructuredProgram):
            return NoMatch("LinearProgram", f"this is a program of the {program.family} family, not an LP")
        if not hasattr(program, "terms") or not hasattr(program, "variables"):
            return NoMatch("LinearProgram", "not a program")
        # one recognition per data state (the engine matches a program several times a solve)
        key = (program.data_version, program.constant, program.sign,
               tuple((np.asarray(t.b, dtype=np.float64).tobytes(), t.weight, id(t.f)) for t in program.terms))
        cached = getattr(program, "_lp_form", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        got = recognize(program)
        if not isinstance(got, NoMatch):
            c, A, rl, ru, l, u, const = got
            node = LPProgram(c, A, rl, ru, l, u, constant=const)   # over the program's flat x
            node.sign = program.sign
            got = LinearProgram(node)
        try:
            program._lp_form = (key, got)
        except AttributeError:
            pass
        return got

    def __getattr__(self, name):   # the data: c, A, AT, rl, ru, l, u, constant, norm_A, shape
        if name in ("c", "A", "AT", "rl", "ru", "l", "u", "constant", "norm_A", "shape"):
            return getattr(self.program, name)
        raise AttributeError(name)

    def certify(self, x, duals):
        return self.program.certify(x, duals)

    def check_infeasibility(self, ray) -> bool:
        """The engine's test of an 'infeasible' claim: ``ray`` is a Farkas direction of the
        row multipliers (a plain vector, or term duals in the lowering's layout)."""
        dy = ray_to_multipliers(self.program, ray)
        return dy is not None and check_farkas(self.program, dy)

    def check_unboundedness(self, ray) -> bool:
        """The test of an 'unbounded' claim's primal ray (a feasible point is checked apart)."""
        return isinstance(ray, np.ndarray) and check_unbounded_ray(self.program, ray)
