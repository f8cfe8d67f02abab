"""The operator/prox IR: linear operators, functions, programs, forms, certificates."""
from . import functions, linop
from .certificate import certify
from .forms import Composite, NoMatch, ProxAffine, match, matching_forms, register_form
from .program import Program, Term, VariableInfo
from .structured import NoLoweringError, StructuredProgram

__all__ = ["functions", "linop", "certify", "Composite", "NoMatch", "ProxAffine", "match",
           "matching_forms", "register_form", "Program", "Term", "VariableInfo", "StructuredProgram",
           "NoLoweringError"]
