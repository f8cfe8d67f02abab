"""Overrelaxed Sinkhorn updates, shared by the lazy and the multiscale point-cloud solvers.

    f <- (1 - w) f + w f_sinkhorn,   g likewise,   w = ``overrelaxation`` in (0, 2)

(Thibault et al.; Lehmann et al.: w near 2 at small eps, where plain Sinkhorn's rate is
1 - O(eps)). The steps are plain again once the marginal error is within ``PLAIN_BELOW``
times the stage's target (so the returned g matches the columns exactly) and for the rest
of a stage whose error rises ``DIVERGED`` times above its best (a divergence guard).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidDataError

#: the default w (1 is plain Sinkhorn)
OMEGA = 1.9
#: the lazy solver relaxes only the stages at eps <= this times max C: above it plain
#: Sinkhorn is already fast and w = 1.9 overshoots (3000 points: eps = 1e-2 max C took 70
#: plain steps and 127 relaxed; 1e-3 took 420 plain and 186 relaxed)
RELAX_BELOW = 2e-3
#: below this multiple of a stage's target the steps are plain again
PLAIN_BELOW = 10.0
#: an error this many times the stage's best: plain steps for the rest of the stage
DIVERGED = 10.0


def overrelaxation(extra: dict, label: str) -> float:
    """The ``overrelaxation`` option, checked: a number in (0, 2)."""
    w = extra.get("overrelaxation", OMEGA)
    if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(w) and 0.0 < w < 2.0):
        raise InvalidDataError(f"{label}: overrelaxation must be a number in (0, 2) (1: plain Sinkhorn), got {w!r}")
    return float(w)


def next_omega(omega: float, relax: float, err: float, best: float, target: float, first: bool) -> float:
    """The w of the next step: ``relax`` from a stage's first step while the error is far
    from the target; 1 near the target or after a divergence."""
    if omega != 1.0 and (err <= PLAIN_BELOW * target or err > DIVERGED * best):
        return 1.0
    if first and err > PLAIN_BELOW * target:
        return relax
    return omega
