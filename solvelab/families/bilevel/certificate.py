"""The bilevel certificate, recomputed from the returned point (u, w) alone.

For  min_u F(u) = f(u, w*(u)),  w*(u) = argmin_w g(u, w):

    upper_stationarity   |grad F(u)|_1 / ref(u): the hypergradient by implicit
                         differentiation, grad F = d_u f - (d2_wu g)^T H^-1 d_w f at
                         w*(u) re-solved here by Newton's method from w (to 1e-13 relative
                         stationarity), H = d2_ww g. ref: |F(u)| where u are
                         log-weights or logits (the GLM programs: a unit change of u_j is
                         a relative change of the weight, so |grad F|_1 / |F| is the
                         relative change of F it causes, invariant to scaling X or y);
                         |grad F(u0)|_1 for a CVXPY declaration (its value at the start)
    lower_stationarity   |d_w g(u, w)|_inf / max(|d_w of its summands|_inf) at the
                         returned w: the lower level's own relative KKT residual (the
                         summands of the GLM fit X^T d / n are measured by |X|^T |d| / n,
                         or by |G w| and |X^T y| / n with the Gram, and the ridge by |lam w|)
    lower_value_gap      |g(u, w) - g(u, w*(u))| / |g(u, w*(u))|

0 / 0 reads 0; there is no absolute floor (a tiny-norm guard against dividing by 0).
The objective reported is the value function F(u) = f(u, w*(u)).
"""
from __future__ import annotations

import numpy as np

from ...result import Certificate, Measure

_TINY = float(np.finfo(np.float64).tiny)


def rel(num: float, den: float) -> float:
    return 0.0 if num == 0.0 else float(num) / max(float(den), _TINY)


def bilevel_certificate(upper_stat: float, lower_stat: float, gap: float, objective: float | None) -> Certificate:
    ms = [Measure("upper_stationarity", upper_stat,
                  "|hypergradient|_1 by implicit differentiation at w*(u), relative to the reference size"),
          Measure("lower_stationarity", lower_stat, "|grad_w g(u, w)|_inf relative to its summands at the returned w"),
          Measure("lower_value_gap", gap, "|g(u, w) - g(u, w*(u))| relative to |g(u, w*(u))|")]
    return Certificate.from_measures("bilevel", ms, primal_objective=objective)


def unmeasurable() -> Certificate:
    inf = float("inf")
    return bilevel_certificate(inf, inf, inf, None)
