"""Sinkhorn–Newton–Sparse backend: oracle tests against POT and CVXPY+Clarabel,
certificates rechecked from the returned plan, both linear solvers (PCG, sparse
Cholesky with and without CHOLMOD), the dense-Hessian path, eps edge cases, zeros,
forbidden pairs, refusals and statuses.
"""
import warnings

import cvxpy as cp
import numpy as np
import ot
import pytest

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError
from solvelab.kernels import factor
from solvelab.problems import entropic_ot, unbalanced_ot
from solvelab.result import Status

from ot_oracle import entropic_objective, grid_instance, ot_instance, pot_plan, recheck_plan

BACKEND = "sinkhorn_newton"


def _inst(seed=0, n=15, m=11, zeros=False):
    return ot_instance(seed, n, m, zero_rows=(0, 3) if zeros else (), zero_cols=(5,) if zeros else ())


def _pot_plan(a, b, C, eps):
    return pot_plan(a, b, C, eps, max_iter=500000)


_obj = entropic_objective


def _recheck(res, a, b, C, eps, tol, P=None):
    prim = recheck_plan(res, a, b, C, eps, tol, P)


@pytest.mark.parametrize("rel_eps", [0.5, 0.05, 0.005])
def test_matches_pot_plan_and_cost(rel_eps):
    a, b, C = _inst(1)
    eps = rel_eps * C.max()
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11, switch_iters=0)  # always Newton
    assert res.status is Status.OPTIMAL, res.message
    Pp = _pot_plan(a, b, C, eps)
    np.testing.assert_allclose(res.values["P"], Pp, rtol=0, atol=1e-8)
    assert res.info["transport_cost"] == pytest.approx(float(np.sum(C * Pp)), rel=1e-8, abs=1e-8)
    assert res.info["entropic_cost"] == pytest.approx(_obj(Pp, C, eps), rel=1e-8, abs=1e-8)
    assert res.info["newton_iterations"] >= 1
    _recheck(res, a, b, C, eps, 1e-11)


def test_against_cvxpy_clarabel_from_plain_declaration():
    a, b, C = _inst(2, 4, 5)
    eps = 0.4
    P = cp.Variable(C.shape, nonneg=True)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(C, P)) - eps * cp.sum(cp.entr(P))),
                      [cp.sum(P, axis=1) == a, cp.sum(P, axis=0) == b])
    with warnings.catch_warnings():  # tightened, Clarabel may say 'optimal_inaccurate'; we compare
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12,
                   tol_ktratio=1e-10, max_iter=500)
    P_ref, v_ref = P.value.copy(), prob.value
    res = sl.solve(prob, backend=BACKEND, tol=1e-11)
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(v_ref, rel=1e-9)
    np.testing.assert_allclose(P.value, P_ref, atol=1e-8)
    _recheck(res, a, b, C, eps, 1e-11, P.value)


def test_far_fewer_iterations_than_sinkhorn_at_small_eps():
    """Super-linear Newton stage: >= 10x fewer iterations to 1e-9 at eps = 1e-3 max C."""
    a, b, C = grid_instance(3, 16, floor=0.1)
    eps = 1e-3 * C.max()
    rs = entropic_ot(a, b, C, eps).solve(backend="sinkhorn", tol=1e-9)
    rn = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-9)
    assert rs.status is Status.OPTIMAL and rn.status is Status.OPTIMAL
    assert rn.iterations * 10 <= rs.iterations, (rn.iterations, rs.iterations)
    assert "fallback" not in rn.info
    assert max(rn.info["hessian_nnz"]) < 0.25 * C.size  # the Hessian really was sparse
    np.testing.assert_allclose(rn.values["P"], rs.values["P"], atol=1e-8)
    _recheck(rn, a, b, C, eps, 1e-9)


def test_cholesky_and_cg_agree():
    a, b, C = _inst(4, 30, 25)
    eps = 0.01 * C.max()
    r_cg = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11, switch_iters=0)
    r_ch = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11, linear_solver="cholesky", switch_iters=0)
    assert r_ch.info["newton_iterations"] >= 1
    assert r_cg.status is Status.OPTIMAL and r_ch.status is Status.OPTIMAL
    np.testing.assert_allclose(r_ch.values["P"], r_cg.values["P"], atol=1e-9)


@pytest.mark.parametrize("no_cholmod", ["0", "1"])
def test_sparse_cholesky_with_and_without_cholmod(monkeypatch, no_cholmod):
    """m > 2500 columns makes the Schur complement go through the sparse factorization:
    CHOLMOD when scikit-sparse is there, SciPy's SuperLU with SOLVELAB_NO_CHOLMOD=1."""
    monkeypatch.setenv("SOLVELAB_NO_CHOLMOD", no_cholmod)
    monkeypatch.setattr(factor, "_notice_given", True)  # the one-line notice is tested elsewhere
    rng = np.random.default_rng(5)
    n, m = 40, 2600
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    a = np.full(n, 1 / n)
    b = np.full(m, 1 / m)
    C = ot.dist(x, y)
    eps = 1e-3 * C.max()
    factor.reset_stats()
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-10, linear_solver="cholesky")
    assert res.status is Status.OPTIMAL, res.message
    assert max(res.info["hessian_nnz"]) < 0.25 * C.size  # sparse, so the Cholesky path ran
    assert factor.stats.numeric >= res.info["newton_iterations"] >= 1
    _recheck(res, a, b, C, eps, 1e-10)


def test_dense_hessian_path_at_large_eps():
    a, b, C = _inst(6)
    eps = 2.0 * C.max()
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-12, warmup_tol=0.5, switch_iters=0)
    assert res.status is Status.OPTIMAL
    assert res.info["newton_iterations"] >= 1
    assert all(nnz == C.size for nnz in res.info["hessian_nnz"])
    np.testing.assert_allclose(res.values["P"], _pot_plan(a, b, C, eps), atol=1e-9)


@pytest.mark.parametrize("rel_eps", [1e-4, 1e-6])
def test_tiny_eps_no_nan(rel_eps):
    a, b, C = _inst(7, 20, 16)
    eps = rel_eps * C.max()
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-9)
    assert res.status is Status.OPTIMAL, res.message
    assert np.all(np.isfinite(res.x))
    _recheck(res, a, b, C, eps, 1e-9)
    assert res.info["transport_cost"] == pytest.approx(ot.emd2(a, b, C), rel=1e-3)


def test_zeros_in_marginals_and_forbidden_pairs():
    a, b, C = _inst(8, zeros=True)
    C = C.copy()
    C[1, :3] = np.inf
    eps = 0.02 * np.max(C[np.isfinite(C)])
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11)
    assert res.status is Status.OPTIMAL
    P = res.values["P"]
    assert np.all(P[a == 0] == 0) and np.all(P[:, b == 0] == 0) and np.all(P[1, :3] == 0)
    Cb = np.where(np.isfinite(C), C, 1e6)
    np.testing.assert_allclose(P, _pot_plan(a, b, Cb, eps), atol=1e-8)


def test_refuses_unbalanced_with_reason():
    a, b, C = _inst(9)
    with pytest.raises(BackendRefusedError, match="accepts EntropicOT.*unbalanced.*sinkhorn"):
        unbalanced_ot(a, 2 * b, C, 0.1, 1.0).solve(backend=BACKEND)


def test_option_validation():
    a, b, C = _inst(10)
    prob = entropic_ot(a, b, C, 0.1)
    with pytest.raises(InvalidDataError, match="sparsity"):
        prob.solve(backend=BACKEND, sparsity=2.0)
    with pytest.raises(InvalidDataError, match="linear_solver"):
        prob.solve(backend=BACKEND, linear_solver="lu")
    with pytest.raises(InvalidDataError, match="switch_iters"):
        prob.solve(backend=BACKEND, switch_iters=-1)
    with pytest.raises(InvalidDataError, match="levenberg"):
        prob.solve(backend=BACKEND, levenberg=-1.0)
    with pytest.raises(InvalidDataError, match="does not know option"):
        prob.solve(backend=BACKEND, bogus=True)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_topk_validation(bad):
    a, b, C = _inst(10)
    with pytest.raises(InvalidDataError, match="topk"):
        entropic_ot(a, b, C, 0.1).solve(backend=BACKEND, topk=bad)


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_warmup_scaling_validation(bad):
    a, b, C = _inst(10)
    with pytest.raises(InvalidDataError, match="warmup_scaling"):
        entropic_ot(a, b, C, 0.1).solve(backend=BACKEND, warmup_scaling=bad)


@pytest.mark.parametrize("rel_eps", [0.05, 0.005])
def test_topk_sparsified_hessian_matches_pot(rel_eps):
    """Top-k per row: the Hessian keeps at most ~k entries per row, the plan is still POT's."""
    a, b, C = _inst(14, 40, 30)
    eps = rel_eps * C.max()
    k = 4
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11, topk=k, switch_iters=0)
    assert res.status is Status.OPTIMAL, res.message
    assert res.info["newton_iterations"] >= 1 and res.info["newton_path"] == "sparse"
    assert max(res.info["hessian_nnz"]) <= k * C.shape[0] + 5  # ties may add a few
    np.testing.assert_allclose(res.values["P"], _pot_plan(a, b, C, eps), rtol=0, atol=1e-8)
    _recheck(res, a, b, C, eps, 1e-11)


def test_topk_at_least_row_length_is_the_threshold_rule():
    a, b, C = _inst(15, 20, 12)
    eps = 0.01 * C.max()
    r1 = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11, topk=50, switch_iters=0)
    assert r1.status is Status.OPTIMAL
    np.testing.assert_allclose(r1.values["P"], _pot_plan(a, b, C, eps), rtol=0, atol=1e-8)


def test_kernel_newton_path_on_a_wide_plan():
    """eps = 1e-2 max C on a grid: the plan is dense, so Newton runs on the semi-dual with
    BLAS mat-vecs on one kernel; few iterations, POT's plan, exact costs from the kernel."""
    a, b, C = grid_instance(16, 12)
    eps = 1e-2 * C.max()
    rn = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-10, switch_iters=0)
    rs = entropic_ot(a, b, C, eps).solve(backend="sinkhorn", tol=1e-10)
    assert rn.status is Status.OPTIMAL, rn.message
    assert rn.info["newton_path"] == "kernel"
    assert rn.info["newton_iterations"] >= 1
    assert rn.iterations * 10 <= rs.iterations, (rn.iterations, rs.iterations)
    Pp = _pot_plan(a, b, C, eps)
    np.testing.assert_allclose(rn.values["P"], Pp, rtol=0, atol=1e-9)
    assert rn.info["transport_cost"] == pytest.approx(float(np.sum(C * Pp)), rel=1e-9)
    assert rn.info["entropic_cost"] == pytest.approx(_obj(Pp, C, eps), rel=1e-9, abs=1e-12)
    _recheck(rn, a, b, C, eps, 1e-10)


def test_kernel_newton_with_zeros_and_forbidden_pairs():
    a, b, C = _inst(17, 25, 20, zeros=True)
    C = C.copy()
    C[2, :4] = np.inf
    eps = 0.01 * np.max(C[np.isfinite(C)])
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11, switch_iters=0)
    assert res.status is Status.OPTIMAL, res.message
    P = res.values["P"]
    assert np.all(P[a == 0] == 0) and np.all(P[:, b == 0] == 0) and np.all(P[2, :4] == 0)
    Cb = np.where(np.isfinite(C), C, 1e6)
    np.testing.assert_allclose(P, _pot_plan(a, b, Cb, eps), atol=1e-8)


def test_fast_kernels_agree_with_reference_kernels():
    from solvelab.kernels import ot as K
    rng = np.random.default_rng(18)
    n, m = 70, 130
    C = rng.random((n, m)) * 50.0
    C[3, 5] = np.inf
    C[7, :] += 2000.0  # a row far away: entries flushed to exact zeros
    f, g = rng.normal(size=n), rng.normal(size=m)
    inv = 1.0 / 0.7
    ref = np.empty((n, m))
    K.gibbs(C, f, g, inv, ref)
    out = np.empty((n, m))
    K.gibbs_fast(C, f, g, inv, out)
    np.testing.assert_allclose(out, ref, rtol=1e-15, atol=0)
    assert np.array_equal(out == 0, ref == 0)
    fmin = np.empty(n)
    K.gibbs_fast(C, fmin, g, inv, out, rowmin=True)
    assert np.allclose(out.max(axis=1), 1.0)
    np.testing.assert_allclose(fmin, np.min(np.where(np.isfinite(C), C - g, np.inf), axis=1))
    # the final plan, fused: from C, and from a kernel with scalings
    PT = np.empty((m, n))
    K.gibbs_transposed(np.ascontiguousarray(C.T), f, g, inv, PT)
    parts_ref = np.zeros((2, 5))
    K.plan_objective_parts(np.ascontiguousarray(C.T), PT, parts_ref)
    PT2 = np.empty((m, n))
    parts = np.zeros((K.n_tiles(m), 3))
    K.plan_transposed_stats(C, f, g, inv, PT2, parts)
    np.testing.assert_allclose(PT2, PT, rtol=1e-15, atol=0)
    np.testing.assert_allclose(parts.sum(0), parts_ref.sum(0)[:3], rtol=1e-12)
    f0, g0 = f - 0.3, g + 0.1
    Kmat = np.empty((n, m))
    K.gibbs(C, f0, g0, inv, Kmat)
    u, v = np.exp((f - f0) * inv), np.exp((g - g0) * inv)
    PT3 = np.empty((m, n))
    parts3 = np.zeros((K.n_tiles(m), 3))
    K.plan_from_kernel_transposed(Kmat, C, f, g, u, v, inv, PT3, parts3)
    np.testing.assert_allclose(PT3, PT, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(parts3.sum(0), parts_ref.sum(0)[:3], rtol=1e-12)


def test_max_iter_is_not_optimal():
    a, b, C = _inst(11)
    res = entropic_ot(a, b, C, 1e-3 * C.max()).solve(backend=BACKEND, tol=1e-12, max_iter=3)
    assert res.status is Status.MAX_ITER and res.iterations == 3
    assert not res.certificate.meets(1e-12)


def test_history_records_both_stages():
    a, b, C = _inst(12)
    res = entropic_ot(a, b, C, 0.01 * C.max()).solve(backend=BACKEND, tol=1e-10, check_every=1, switch_iters=0)
    stages = [h.get("stage") for h in res.history]
    assert "newton" in stages and "sinkhorn" in stages
    its = [h["iteration"] for h in res.history]
    assert its == sorted(its)
    assert res.iterations == res.info["sinkhorn_iterations"] + res.info["newton_iterations"]


def test_large_eps_switches_to_sinkhorn_when_newton_is_not_worth_it():
    """At large eps Sinkhorn converges in a few iterations: the rate probe keeps it."""
    a, b, C = _inst(13, 40, 30)
    eps = 0.5 * C.max()
    res = entropic_ot(a, b, C, eps).solve(backend=BACKEND, tol=1e-11)
    assert res.status is Status.OPTIMAL
    assert res.info.get("switched_to_sinkhorn") and res.info["newton_iterations"] == 0
    assert res.info["predicted_sinkhorn_iterations"] <= 25
    assert res.iterations == res.info["sinkhorn_iterations"]
    np.testing.assert_allclose(res.values["P"], _pot_plan(a, b, C, eps), atol=1e-8)
    small = entropic_ot(a, b, C, 1e-3 * C.max()).solve(backend=BACKEND, tol=1e-10)
    assert not small.info.get("switched_to_sinkhorn") and small.info["newton_iterations"] >= 1
