"""The operator/prox IR: linear operators, functions, programs, forms, certificates."""
from . import functions, linop
from .certificate import certify
from .forms import Composite, NoMatch, ProxAffine, match, matching_forms
from .program import Program, Term, VariableInfo

__all__ = ["functions", "linop", "certify", "Composite", "NoMatch", "ProxAffine", "match",
           "matching_forms", "Program", "Term", "VariableInfo"]
