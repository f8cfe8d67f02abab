"""ADMM: agreement with Clarabel, both linear-system paths, rays, warm start, options."""
import numpy as np
import cvxpy as cp
import pytest
import scipy.sparse as sp

import solvelab as sl
from solvelab.kernels import factor

rng = np.random.default_rng(3)
A = rng.standard_normal((40, 15))
b = rng.standard_normal(40)


def _clarabel(obj, cons=()):
    return cp.Problem(obj, list(cons)).solve(solver="CLARABEL")


def _cases():
    x = cp.Variable(15)
    yield "lasso-box", cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 0.5 * cp.norm1(x)), [x >= -0.2, x <= 0.3]
    x = cp.Variable(15)
    yield "simplex-ls", cp.Minimize(cp.sum_squares(A @ x - b)), [cp.sum(x) == 1, x >= 0]
    x = cp.Variable(15)
    yield "lad", cp.Minimize(cp.norm1(A @ x - b)), [x <= 0.5, x >= -0.5]
    x = cp.Variable(15)
    t = cp.Variable()
    yield "soc", cp.Minimize(cp.sum(cp.huber(A @ x - b, 0.5)) + t), [cp.norm2(x) <= t]
    x = cp.Variable(15)
    # (a degenerate LP such as min sum(x) + ||A x - b||_inf needs ~1e5 iterations here, as
    # it does in OSQP: plain ADMM without acceleration is slow on LPs; see docs/backends.md)
    yield "minimax", cp.Minimize(0.1 * cp.sum_squares(x) + cp.sum(x) + cp.norm_inf(A @ x - b)), [x >= -1]


@pytest.mark.parametrize("name,obj,cons", list(_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_matches_clarabel_with_a_certificate(name, obj, cons):
    res = sl.Problem(obj, cons).solve(backend="admm", tol=1e-7)
    assert res.status is sl.Status.OPTIMAL, (name, res.message)
    assert res.certificate.value <= 1e-7
    assert res.objective == pytest.approx(_clarabel(obj, cons), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("system", ["reduced", "kkt"])
@pytest.mark.parametrize("no_cholmod", [False, True])
def test_linear_system_paths_agree(system, no_cholmod, monkeypatch):
    if no_cholmod:
        monkeypatch.setenv("SOLVELAB_NO_CHOLMOD", "1")
    elif factor.cholmod_module() is None:
        pytest.skip("scikit-sparse (CHOLMOD) is not installed")
    S = sp.random(300, 3000, density=0.01, random_state=1, format="csr")
    y = S @ np.where(rng.random(3000) < 0.01, 1.0, 0.0) + 0.01 * rng.standard_normal(300)
    x = cp.Variable(3000)
    obj = cp.Minimize(0.5 * cp.sum_squares(S @ x - y) + 0.01 * cp.norm1(x))
    res = sl.Problem(obj, [x >= -1]).solve(backend="admm", system=system, tol=1e-6)
    assert res.status is sl.Status.OPTIMAL, res.message
    assert res.info["system"] == system
    assert res.objective == pytest.approx(_clarabel(obj, [x >= -1]), rel=1e-5)


def test_auto_picks_kkt_for_a_wide_sparse_lasso():
    S = sp.random(500, 6000, density=0.02, random_state=2, format="csr")
    x = cp.Variable(6000)
    res = sl.Problem(cp.Minimize(cp.sum_squares(S @ x - 1.0) + cp.norm1(x))).solve(backend="admm", max_iter=20)
    assert res.info["system"] == "kkt"


def test_infeasible_problem_gets_a_checked_ray():
    x = cp.Variable(5)
    res = sl.Problem(cp.Minimize(cp.sum_squares(x)), [x >= 1, cp.sum(x) <= 2]).solve(backend="admm")
    assert res.status is sl.Status.INFEASIBLE
    assert res.x is None and "ray" in res.message


def test_unbounded_problem_gets_a_checked_ray():
    x = cp.Variable(4)
    res = sl.Problem(cp.Minimize(cp.sum(x) + cp.norm1(x[:2])), [x[2:] <= 3, x[:2] >= -1]).solve(backend="admm")
    assert res.status is sl.Status.UNBOUNDED


def test_warm_start_needs_fewer_iterations():
    x = cp.Variable(15)
    lam = cp.Parameter(nonneg=True, value=0.5)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + lam * cp.norm1(x)), [x >= -1])
    cold = prob.solve(backend="admm", warm_start=False)
    lam.value = 0.51
    warm = prob.solve(backend="admm")
    assert cold.status is warm.status is sl.Status.OPTIMAL
    assert warm.info["warm_start"] and warm.iterations < cold.iterations


def test_adaptive_rho_is_bounded_and_recovers_from_a_bad_rho():
    x = cp.Variable(15)
    obj = cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm1(x))
    res = sl.Problem(obj).solve(backend="admm", rho=1e4, max_rho_updates=3)
    assert res.status is sl.Status.OPTIMAL
    assert 1 <= res.info["rho_updates"] <= 3
    fixed = sl.Problem(obj).solve(backend="admm", adaptive_rho=False, max_iter=200)
    assert fixed.info["rho_updates"] == 0


def test_duals_returned_certify_on_their_own():
    x = cp.Variable(15)
    obj = cp.Minimize(cp.sum_squares(A @ x - b))
    prob = sl.Problem(obj, [A[:3] @ x == 0.1, x <= 0.2])
    res = prob.solve(backend="admm", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL
    from solvelab.ir.certificate import certify
    cert = certify(prob.compile(), res.x, res.duals)
    assert cert.value <= 1e-8 and cert.gap is not None and cert.gap <= 1e-8


@pytest.mark.parametrize("opts,match", [({"alpha": 2.5}, "alpha"), ({"rho": -1}, "rho"),
                                        ({"system": "qr"}, "system"), ({"bogus": 1}, "bogus")])
def test_bad_options_are_named(opts, match):
    x = cp.Variable(3)
    with pytest.raises(sl.InvalidDataError, match=match):
        sl.Problem(cp.Minimize(cp.sum_squares(x - 1))).solve(backend="admm", **opts)


def test_time_limit_and_max_iter_statuses():
    x = cp.Variable(15)
    prob = sl.Problem(cp.Minimize(cp.norm1(A @ x - b)))
    res = prob.solve(backend="admm", max_iter=3, check_every=1)
    assert res.status is sl.Status.MAX_ITER and res.iterations == 3
    assert np.isfinite(res.objective) and res.certificate is not None
