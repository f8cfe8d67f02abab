"""OT at cost scales 1e-6 .. 1e6: the certificate is relative, so the same plan is
certified (or refused) whatever the cost unit.

Scaling C and eps together by s leaves the optimal plan unchanged and scales the
objective by s; each backend must return POT's plan at every s, and a wrong plan must
fail the certificate at every s (with a max(1, |objective|) floor it passed at s = 1e-6).
"""
import numpy as np
import pytest

import solvelab as sl
from solvelab.ir.forms import match
from solvelab.families.ot import certify_plan
from solvelab.problems import entropic_ot

from ot_oracle import entropic_objective, ot_instance, pot_plan, recheck_plan

SCALES = (1e-6, 1.0, 1e6)


@pytest.mark.parametrize("backend", ["sinkhorn", "sinkhorn_newton"])
@pytest.mark.parametrize("s", SCALES)
def test_same_plan_at_every_cost_scale(backend, s):
    a, b, C = ot_instance(3, 14, 11)
    eps = 0.05
    P_ref = pot_plan(a, b, C, eps)
    res = sl.solve(entropic_ot(a, b, s * C, s * eps), backend=backend, tol=1e-8)
    assert res.status == "optimal", res.message
    P = res.values["P"]
    np.testing.assert_allclose(P, P_ref, rtol=0, atol=1e-7 * P_ref.max())
    prim = recheck_plan(res, a, b, s * C, s * eps, 1e-8)
    assert prim == pytest.approx(s * entropic_objective(P_ref, C, eps), rel=1e-6)


@pytest.mark.parametrize("s", SCALES)
def test_independent_plan_fails_the_gap_at_every_scale(s):
    a, b, C = ot_instance(4, 10, 10)
    eps = 0.05
    view = match(entropic_ot(a, b, s * C, s * eps).program, "EntropicOT")
    cert = certify_plan(view, np.outer(a, b).ravel(order="F"), None)
    assert cert.marginal_violation < 1e-12  # feasible: the marginals are exact
    assert cert.gap > 1e-3 and not cert.meets(1e-6)
