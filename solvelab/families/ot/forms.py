"""The OT forms: EntropicOT (balanced; an OTProgram, or recognized in a compiled CVXPY
Program) and UnbalancedOT (OTProgram only). Importing this module registers them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import InvalidDataError
from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from ...result import Certificate
from .certificate import certify_plan
from .farkas import check_infeasibility
from .program import OTProgram
from .recognize import recognize
from .validate import check_cost


#: why the dense OT forms refuse the lazy point-cloud program
_LAZY_REFUSAL = ("this is the lazy point-cloud OT program {program!r}: it holds no cost matrix, "
                 "and its point is the potentials, not an n x m plan; backend 'sinkhorn' takes it (form "
                 "LazyEntropicOT), or build a dense one with point_cloud_ot(..., lazy=False)")


@dataclass
class _OTView:
    # the generic KKT certificate cannot judge an OT plan (its dual recovery cannot cancel
    # the marginal constraints), so the engine uses this form's certificate for any
    # backend that solved an OT program, the cvxpy reference included
    own_certificate = True
    program: object
    a: np.ndarray
    b: np.ndarray
    eps: float
    constant: float
    kind: str = "balanced"
    rho: float | None = None
    _C: np.ndarray | None = None
    _CT: np.ndarray | None = field(default=None, repr=False)

    @property
    def C(self) -> np.ndarray:
        if self._C is None:
            self._C = self.program.C
        return self._C

    @property
    def CT(self) -> np.ndarray:
        if self._CT is None:
            self._CT = self.program.CT if isinstance(self.program, OTProgram) else np.ascontiguousarray(self.C.T)
        return self._CT

    @property
    def shape(self) -> tuple:
        return (self.a.size, self.b.size)

    @property
    def max_cost(self) -> float:
        C = self.C
        hi, lo = float(C.max()), float(C.min())
        if np.isfinite(hi) and np.isfinite(lo):
            return max(abs(hi), abs(lo))
        fin = C[np.isfinite(C)]
        return float(np.max(np.abs(fin), initial=0.0))

    def plan(self, x) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(self.shape, order="F")

    def certify(self, x, duals) -> Certificate:
        return certify_plan(self, x, duals)

    def check_infeasibility(self, ray) -> bool:
        return check_infeasibility(self, ray)


@register_form
@dataclass
class EntropicOT(_OTView):
    """Balanced entropic OT: min <C,P> + eps sum P log P + const, P 1 = a, P^T 1 = b, P >= 0."""
    name = "EntropicOT"

    @staticmethod
    def match(program):
        if isinstance(program, OTProgram):
            if program.kind != "balanced":
                return NoMatch("EntropicOT", "this is unbalanced OT (KL-relaxed marginals); "
                                             "form UnbalancedOT takes it")
            return EntropicOT(program, program.a, program.b, program.eps, program.constant)
        if getattr(program, "lazy", False):
            return NoMatch("EntropicOT", _LAZY_REFUSAL.format(program=program))
        if isinstance(program, StructuredProgram):
            return NoMatch("EntropicOT", f"this is a program of the {program.family} family, not OT")
        if not hasattr(program, "terms") or not hasattr(program, "variables"):
            return NoMatch("EntropicOT", "not a program")
        got = recognize(program)
        if isinstance(got, NoMatch):
            return got
        a, b, C, eps, const = got
        if np.isposinf(C).any():
            try:
                check_cost(C, a, b)
            except InvalidDataError as exc:
                return NoMatch("EntropicOT", str(exc))
        return EntropicOT(program, a, b, eps, const, _C=C)


@register_form
@dataclass
class UnbalancedOT(_OTView):
    """Unbalanced entropic OT with KL-relaxed marginals (weight rho) and reference a b^T."""
    name = "UnbalancedOT"

    @staticmethod
    def match(program):
        if getattr(program, "lazy", False):
            return NoMatch("UnbalancedOT", "the lazy point-cloud program is balanced OT (form LazyEntropicOT)")
        if isinstance(program, OTProgram) and program.kind == "unbalanced":
            return UnbalancedOT(program, program.a, program.b, program.eps, program.constant,
                                "unbalanced", program.rho)
        return NoMatch("UnbalancedOT", "only OT programs built by solvelab.problems.unbalanced_ot "
                                       "have this form")
