"""EntropicOT / UnbalancedOT forms: recognition from plain CVXPY, validation, certificates.

The certificate is rechecked here from first principles (marginal sums, the entropic
objective written out with NumPy, the dual function at the returned potentials), on
plans computed by POT.
"""
import cvxpy as cp
import numpy as np
import ot
import pytest
from scipy.special import xlogy

from solvelab.compile import compile_problem
from solvelab.errors import InvalidDataError, ShapeError
from solvelab.ir.forms import match
from solvelab.families.ot import (EntropicOT, OTProgram, UnbalancedOT, certify_plan, dual_value,
                                  primal_value)
from solvelab.problems import entropic_ot, grid_cost, point_cloud_cost, point_cloud_ot, unbalanced_ot


def _inst(seed=0, n=7, m=5):
    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.1
    a /= a.sum()
    b = rng.random(m) + 0.1
    b /= b.sum()
    C = ot.dist(rng.normal(size=(n, 2)), rng.normal(size=(m, 2)))
    return a, b, C


def _compiled(objective, constraints):
    return compile_problem(objective, constraints)


def _entropic_obj(P, C, eps):
    return float(np.sum(C * P) + eps * np.sum(xlogy(P, P)))


def _flat(P):
    return np.asarray(P, dtype=np.float64).ravel(order="F")


# --- recognition -------------------------------------------------------------------------

def test_recognized_from_plain_cvxpy_entr():
    a, b, C = _inst()
    eps = 0.3
    P = cp.Variable(C.shape, nonneg=True)
    prog = _compiled(cp.Minimize(cp.sum(cp.multiply(C, P)) - eps * cp.sum(cp.entr(P))),
                     [cp.sum(P, axis=1) == a, cp.sum(P, axis=0) == b])
    view = match(prog, "EntropicOT")
    assert isinstance(view, EntropicOT)
    np.testing.assert_allclose(view.a, a, rtol=0, atol=1e-15)
    np.testing.assert_allclose(view.b, b, rtol=0, atol=1e-15)
    np.testing.assert_allclose(view.C, C, rtol=1e-14, atol=1e-14)
    assert view.eps == pytest.approx(eps, rel=1e-15)
    assert "EntropicOT" in prog.forms()


def test_recognized_with_constraints_in_any_order_and_explicit_nonneg():
    a, b, C = _inst(1)
    P = cp.Variable(C.shape)
    prog = _compiled(cp.Minimize(cp.sum(cp.multiply(C, P)) - 0.2 * cp.sum(cp.entr(P))),
                     [cp.sum(P, axis=0) == b, P >= 0, cp.sum(P, axis=1) == a])
    view = match(prog, "EntropicOT")
    assert view, getattr(view, "reason", "")
    np.testing.assert_allclose(view.C, C, atol=1e-14)


def test_kl_form_folds_reference_into_the_cost():
    """eps * KL(P | Q) = eps * sum P log P + <-eps (log Q + 1), P> + eps sum Q: same minimizer."""
    a, b, C = _inst(2)
    eps = 0.25
    Q = np.outer(a, b)
    P = cp.Variable(C.shape, nonneg=True)
    prog = _compiled(cp.Minimize(cp.sum(cp.multiply(C, P)) + eps * cp.sum(cp.kl_div(P, Q))),
                     [cp.sum(P, axis=1) == a, cp.sum(P, axis=0) == b])
    view = match(prog, "EntropicOT")
    assert view, getattr(view, "reason", "")
    np.testing.assert_allclose(view.C, C - eps * (np.log(Q) + 1.0), atol=1e-12)
    # the view's objective equals the CVXPY objective at any feasible plan
    Pf = np.outer(a, b)
    P.value = Pf
    kl = float(np.sum(xlogy(Pf, Pf / Q) - Pf + Q))
    assert primal_value(view, _flat(Pf))[0] == pytest.approx(float(np.sum(C * Pf)) + eps * kl, rel=1e-12)


@pytest.mark.parametrize("case", ["missing_col", "extra_term", "mass", "no_entropy", "two_vars"])
def test_not_recognized_with_reason(case):
    a, b, C = _inst(3)
    P = cp.Variable(C.shape, nonneg=True)
    obj = cp.sum(cp.multiply(C, P)) - 0.1 * cp.sum(cp.entr(P))
    cons = [cp.sum(P, axis=1) == a, cp.sum(P, axis=0) == b]
    expect = {"missing_col": "marginal constraints", "extra_term": "not part of an entropic OT",
              "mass": "total masses differ", "no_entropy": "no entropy term",
              "two_vars": "exactly one matrix variable"}[case]
    if case == "missing_col":
        cons = cons[:1]
    elif case == "extra_term":
        obj = obj + cp.sum_squares(P)
    elif case == "mass":
        cons = [cp.sum(P, axis=1) == a, cp.sum(P, axis=0) == 2 * b]
    elif case == "no_entropy":
        obj = cp.sum(cp.multiply(C, P))
    elif case == "two_vars":
        z = cp.Variable(2)
        obj = obj + cp.sum_squares(z)
    got = match(_compiled(cp.Minimize(obj), cons), "EntropicOT")
    assert not got
    assert expect in got.reason


def test_structured_program_forms():
    a, b, C = _inst(4)
    bal = entropic_ot(a, b, C, 0.1).program
    unb = unbalanced_ot(a, 2 * b, C, 0.1, 1.0).program
    assert isinstance(match(bal, "EntropicOT"), EntropicOT)
    assert not match(bal, "UnbalancedOT")
    assert isinstance(match(unb, "UnbalancedOT"), UnbalancedOT)
    refused = match(unb, "EntropicOT")
    assert not refused and "unbalanced" in refused.reason


def test_generic_terms_of_structured_program_agree():
    """OTProgram's IR terms give the same objective as the structured evaluation."""
    a, b, C = _inst(5)
    prog = entropic_ot(a, b, C, 0.2).program
    Pf = np.outer(a, b)
    x = _flat(Pf)
    via_terms = sum(t.value(x) for t in prog.objective_terms())
    assert via_terms == pytest.approx(prog.objective(x), rel=1e-13)
    assert prog.objective(x) == pytest.approx(_entropic_obj(Pf, C, 0.2), rel=1e-13)
    for t in prog.constraint_terms():
        assert t.f.distance(t.residual(x)) <= 1e-15


# --- validation -----------------------------------------------------------------------

@pytest.mark.parametrize("eps", [0.0, -1.0, np.nan, np.inf, "x"])
def test_eps_must_be_positive(eps):
    a, b, C = _inst()
    with pytest.raises(InvalidDataError, match="eps"):
        entropic_ot(a, b, C, eps)


def test_mismatched_mass_is_a_clear_error_for_balanced_ot():
    a, b, C = _inst()
    with pytest.raises(InvalidDataError, match="equal total masses.*unbalanced_ot"):
        entropic_ot(a, 1.5 * b, C, 0.1)
    unbalanced_ot(a, 1.5 * b, C, 0.1, 1.0)  # fine when relaxed


@pytest.mark.parametrize("bad, msg", [(np.nan, "NaN"), (-np.inf, "-inf")])
def test_nonfinite_costs_rejected(bad, msg):
    a, b, C = _inst()
    C = C.copy()
    C[1, 2] = bad
    with pytest.raises(InvalidDataError, match=msg):
        entropic_ot(a, b, C, 0.1)


def test_plus_inf_cost_is_a_forbidden_pair_unless_a_whole_row_is_forbidden():
    a, b, C = _inst()
    C = C.copy()
    C[0, :2] = np.inf
    entropic_ot(a, b, C, 0.1)
    C[0, :] = np.inf
    with pytest.raises(InvalidDataError, match="no transport plan is feasible"):
        entropic_ot(a, b, C, 0.1)


def test_marginal_and_shape_validation():
    a, b, C = _inst()
    with pytest.raises(ShapeError, match="cost matrix has shape"):
        entropic_ot(a, b, C.T, 0.1)
    with pytest.raises(InvalidDataError, match="negative"):
        entropic_ot(-a, b, C, 0.1)
    with pytest.raises(InvalidDataError, match="zero total mass"):
        entropic_ot(0 * a, b, C, 0.1)
    with pytest.raises(ShapeError, match="1-D"):
        entropic_ot(a[:, None], b, C, 0.1)
    with pytest.raises(InvalidDataError, match="NaN or Inf"):
        entropic_ot(np.r_[a[:-1], np.nan], b, C, 0.1)


def test_point_cloud_cost_is_lazy_and_matches_pot():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    calls = []
    cost = point_cloud_cost(x, y)

    def counted():
        calls.append(1)
        return cost()
    prog = OTProgram(np.full(6, 1 / 6), np.full(4, 1 / 4), counted, 0.1)
    assert not calls
    np.testing.assert_allclose(prog.C, ot.dist(x, y), atol=1e-12)
    prog.C
    assert len(calls) == 1
    for metric in ("euclidean", "cityblock"):
        np.testing.assert_allclose(point_cloud_cost(x, y, metric)(), ot.dist(x, y, metric=metric), atol=1e-12)
    g = grid_cost(3)
    pts = np.array([[i, j] for i in range(3) for j in range(3)], dtype=float)
    np.testing.assert_allclose(g, ot.dist(pts, pts), atol=0)
    with pytest.raises(InvalidDataError, match="exactly one of eps"):
        point_cloud_ot(x, y)


# --- certificates ------------------------------------------------------------------------

def test_certificate_on_pot_plan_is_recomputed_from_the_plan():
    a, b, C = _inst(6, 9, 8)
    eps = 0.05
    P = ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", stopThr=1e-14, numItermax=100000)
    view = match(entropic_ot(a, b, C, eps).program, "EntropicOT")
    cert = certify_plan(view, _flat(P), None)
    viol = (np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()) / a.sum()
    assert cert.marginal_violation == pytest.approx(viol, rel=1e-6, abs=1e-15)
    assert cert.marginal_violation < 1e-12
    assert cert.gap is not None and cert.gap < 1e-10
    assert cert.dual_objective <= _entropic_obj(P, C, eps) + 1e-12
    # a perturbed plan: the violation is exactly the L1 error of its marginals
    Q = P.copy()
    Q[0, 0] += 1e-3
    cert2 = certify_plan(view, _flat(Q), None)
    assert cert2.marginal_violation == pytest.approx(2e-3, rel=1e-6)
    assert not cert2.meets(1e-4)


def test_negative_and_nonfinite_plans_fail_the_certificate():
    a, b, C = _inst(7)
    view = match(entropic_ot(a, b, C, 0.1).program, "EntropicOT")
    P = np.outer(a, b)
    P[0, 0] = -1e-3
    cert = certify_plan(view, _flat(P), None)
    assert cert.marginal_violation >= 1e-3 and not cert.meets(1e-6)
    P[0, 0] = np.nan
    assert not certify_plan(view, _flat(P), None).meets(1e-6)


def test_dual_value_is_a_lower_bound_for_any_potentials():
    a, b, C = _inst(8)
    eps = 0.1
    view = match(entropic_ot(a, b, C, eps).program, "EntropicOT")
    P = ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", stopThr=1e-15, numItermax=100000)
    opt = _entropic_obj(P, C, eps)
    rng = np.random.default_rng(0)
    for _ in range(5):
        f, g = rng.normal(size=a.size), rng.normal(size=b.size)
        assert dual_value(view, f, g) <= opt + 1e-12


def test_unbalanced_primal_value_matches_formula():
    a, b, C = _inst(9)
    b = 1.7 * b
    eps, rho = 0.1, 0.7
    view = match(unbalanced_ot(a, b, C, eps, rho).program, "UnbalancedOT")
    P = np.outer(a, b) * 0.8

    def kl(x, y):
        return float(np.sum(xlogy(x, x) - xlogy(x, y) - x + y))
    expected = (float(np.sum(C * P)) + eps * kl(P, np.outer(a, b)) + rho * kl(P.sum(1), a)
                + rho * kl(P.sum(0), b))
    assert primal_value(view, _flat(P))[0] == pytest.approx(expected, rel=1e-12)
