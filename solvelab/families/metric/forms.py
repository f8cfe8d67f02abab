"""The metric form MetricNearness: a MetricProgram (l2, l1 or the LP) seen by its
backends. Importing this module registers it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir.forms import NoMatch, register_form
from ...ir.structured import StructuredProgram
from ...result import Certificate
from .certificate import certify_metric
from .program import MetricProgram


@register_form
@dataclass
class MetricNearness:
    """X symmetric, zero diagonal, every triangle X_ij <= X_ik + X_kj; objective ``kind``
    'l2' / 'l1' (sum_{i != j} W_ij |X_ij - D_ij|^p) or 'lp' (sum_{i<j} c_ij X_ij, 0 <= X <= 1)."""
    name = "MetricNearness"
    own_certificate = True
    program: MetricProgram

    @staticmethod
    def match(program):
        if isinstance(program, MetricProgram):
            return MetricNearness(program)
        if isinstance(program, StructuredProgram):
            return NoMatch("MetricNearness", f"this is a program of the {program.family} family, not metric")
        return NoMatch("MetricNearness", "only programs built by solvelab.problems.metric_nearness or "
                                         "correlation_clustering_lp have this form")

    # the data the backend and the certificate read
    @property
    def kind(self) -> str:
        return self.program.kind

    @property
    def n(self) -> int:
        return self.program.n_points

    @property
    def D(self) -> np.ndarray:
        return self.program.D

    @property
    def W(self) -> np.ndarray:
        return self.program.W

    @property
    def w2(self) -> np.ndarray:
        return self.program.w2

    @property
    def c(self):
        return self.program.c

    @property
    def constant(self) -> float:
        return self.program.constant

    @property
    def scale(self) -> float:
        return self.program.scale

    @property
    def bounds(self):
        """(bi, bj, lo, hi) of the bounded pairs, or None."""
        return self.program.bounds

    @property
    def uniform(self) -> bool:
        return self.program.uniform

    @property
    def data_version(self) -> int:
        return self.program.data_version

    def certify(self, x, duals) -> Certificate:
        return certify_metric(self, x, duals)
