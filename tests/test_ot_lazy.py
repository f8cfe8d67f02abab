"""The lazy point-cloud OT program (families.ot.lazy), its kernels (kernels.ot_lazy) and the
sinkhorn backend's lazy path: agreement with the dense path and with POT on the same
instances, the certificate rechecked from a dense plan built here, bad input, scales."""
import numpy as np
import ot
import pytest
from scipy.special import logsumexp, xlogy

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError, ShapeError
from solvelab.families.ot import LazyOTProgram, certify_lazy, certify_plan
from solvelab.ir.forms import match
from solvelab.kernels import ot_lazy as KL
from solvelab.problems import LazyOTProblem, OTProblem, point_cloud_ot

TOL = 1e-9


def _clouds(n=300, m=250, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 0.8 + 0.5


def _dense_cost(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def _recheck(prob, res, C, a, b):
    """The certificate of the lazy result, recomputed from a dense plan built here."""
    P = prob.plan_block(res)
    eps = prob.program.eps
    viol = (np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()) / a.sum()
    prim = float((C * P).sum() + eps * xlogy(P, P).sum())
    return P, viol, prim


# --- agreement with the dense path and POT ------------------------------------------------

@pytest.mark.parametrize("rel_eps", [0.1, 1e-2])
def test_lazy_matches_dense_path_and_pot(rel_eps):
    x, y = _clouds()
    a = np.full(300, 1 / 300)
    b = np.full(250, 1 / 250)
    C = _dense_cost(x, y)
    lazy = point_cloud_ot(x, y, rel_eps=rel_eps, lazy=True)
    dense = point_cloud_ot(x, y, rel_eps=rel_eps, lazy=False)
    assert isinstance(lazy, LazyOTProblem) and isinstance(dense, OTProblem)
    eps = lazy.program.eps
    assert eps == pytest.approx(rel_eps * C.max(), rel=1e-14)      # exact max C from the hulls
    rl = lazy.solve(backend="sinkhorn", tol=TOL)
    rd = dense.solve(backend="sinkhorn", tol=TOL)
    assert rl.status is sl.Status.OPTIMAL and rd.status is sl.Status.OPTIMAL, (rl.message, rl.certificate)
    assert set(rl.values) == {"f", "g"} and rl.x.shape == (550,)
    # potentials agree up to the constant shift (f + k, g - k)
    fl, gl = rl.duals
    fd, gd = rd.duals
    k = np.mean(fd - fl)
    assert np.max(np.abs(fd - fl - k)) <= 1e-7 * eps and np.max(np.abs(gd - gl + k)) <= 1e-7 * eps
    # the plans, objective and transport cost agree
    P, viol, prim = _recheck(lazy, rl, C, a, b)
    assert np.abs(P - rd.values["P"]).sum() <= 1e-8
    assert rl.objective == pytest.approx(prim, rel=1e-12)
    assert rl.objective == pytest.approx(rd.objective, rel=1e-9)
    assert rl.info["transport_cost"] == pytest.approx(float((C * P).sum()), rel=1e-12)
    # POT: dense log-domain Sinkhorn and its lazy empirical_sinkhorn, same eps
    Pp = ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", stopThr=1e-13, numItermax=100000)
    assert np.abs(P - Pp).sum() <= 1e-7
    fu, gv = ot.bregman.empirical_sinkhorn(x, y, eps, isLazy=True, stopThr=1e-13, numIterMax=100000,
                                           batchSize=64)
    fp, gp = eps * np.asarray(fu), eps * np.asarray(gv)   # POT's log-scalings times reg
    k = np.mean(fp - fl)
    assert np.max(np.abs(fp - fl - k)) <= 1e-6 * eps and np.max(np.abs(gp - gl + k)) <= 1e-6 * eps


def test_certificate_is_recomputed_from_the_point():
    x, y = _clouds(200, 150, seed=1)
    a = np.full(200, 1 / 200)
    b = np.full(150, 1 / 150)
    C = _dense_cost(x, y)
    prob = point_cloud_ot(x, y, rel_eps=0.05, lazy=True)
    res = prob.solve(backend="sinkhorn", tol=TOL)
    P, viol, prim = _recheck(prob, res, C, a, b)
    cert = res.certificate
    assert cert.marginal_violation == pytest.approx(viol, rel=1e-6, abs=1e-15) and viol <= TOL
    # the dense certificate of the same plan (same measures, independent code)
    dense = sl.problems.entropic_ot(a, b, C, prob.program.eps)
    cd = certify_plan(match(dense.program, "EntropicOT"), P.ravel(order="F"), res.duals)
    assert cert.gap == pytest.approx(cd.gap, rel=1e-3, abs=1e-13) and cert.gap <= TOL
    assert cert.dual_objective == pytest.approx(cd.dual_objective, rel=1e-11)
    # a perturbed point: the violation is the plan's, recomputed, and fails the tolerance
    xp = res.x.copy()
    xp[3] += 0.01 * prob.program.eps
    c2 = certify_lazy(prob.program, xp)
    P2 = prob.plan_block(xp)
    v2 = (np.abs(P2.sum(1) - a).sum() + np.abs(P2.sum(0) - b).sum()) / a.sum()
    assert c2.marginal_violation == pytest.approx(v2, rel=1e-9) and not c2.meets(1e-6)
    # non-finite or wrongly sized points certify nothing
    bad = res.x.copy()
    bad[0] = np.nan
    assert not certify_lazy(prob.program, bad).meets(0.5)
    assert not certify_lazy(prob.program, res.x[:-1]).meets(0.5)
    big = res.x.copy()
    big[0] = 1e6 * prob.program.eps        # overflowing plan entries
    assert not certify_lazy(prob.program, big).meets(0.5)


@pytest.mark.parametrize("d", [1, 3, 5])
def test_dimensions_match_dense(d):
    x, y = _clouds(120, 90, d=d, seed=d)
    rl = point_cloud_ot(x, y, rel_eps=0.05, lazy=True).solve(backend="sinkhorn", tol=TOL)
    rd = point_cloud_ot(x, y, rel_eps=0.05, lazy=False).solve(backend="sinkhorn", tol=TOL)
    assert rl.status is sl.Status.OPTIMAL
    assert rl.objective == pytest.approx(rd.objective, rel=1e-9)


def test_zero_masses_and_weights():
    x, y = _clouds(60, 50, seed=3)
    rng = np.random.default_rng(3)
    a = rng.random(60)
    b = rng.random(50)
    a[[0, 7]] = 0.0
    b[4] = 0.0
    a, b = a / a.sum(), b / b.sum()
    lazy = point_cloud_ot(x, y, a=a, b=b, rel_eps=0.05, lazy=True)
    dense = point_cloud_ot(x, y, a=a, b=b, rel_eps=0.05, lazy=False)
    rl = lazy.solve(backend="sinkhorn", tol=TOL)
    rd = dense.solve(backend="sinkhorn", tol=TOL)
    assert rl.status is sl.Status.OPTIMAL and np.all(np.isfinite(rl.x))
    f, g = rl.duals
    assert np.isneginf(f[[0, 7]]).all() and np.isneginf(g[4])
    P = lazy.plan_block(rl)
    assert np.all(P[[0, 7]] == 0) and np.all(P[:, 4] == 0)
    assert np.abs(P - rd.values["P"]).sum() <= 1e-8
    assert rl.objective == pytest.approx(rd.objective, rel=1e-9)


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_scale_invariance(scale):
    """Coordinates times s (costs times s^2) with a relative eps: the same iterations,
    verdict and measures; potentials and objective scale by s^2."""
    x, y = _clouds(150, 120, seed=4)
    ref = point_cloud_ot(x, y, rel_eps=0.02, lazy=True).solve(backend="sinkhorn", tol=1e-8)
    res = point_cloud_ot(scale * x, scale * y, rel_eps=0.02, lazy=True).solve(backend="sinkhorn", tol=1e-8)
    assert res.status is ref.status is sl.Status.OPTIMAL
    assert res.iterations == ref.iterations
    assert res.certificate.marginal_violation == pytest.approx(ref.certificate.marginal_violation, rel=1e-3)
    assert res.objective == pytest.approx(scale ** 2 * ref.objective, rel=1e-9)
    np.testing.assert_allclose(res.x, scale ** 2 * ref.x, rtol=1e-8, atol=1e-10 * scale ** 2 * np.abs(ref.x).max())


# --- choosing the program --------------------------------------------------------------

def test_automatic_threshold_and_forcing(monkeypatch):
    x, y = _clouds(40, 30)
    assert isinstance(point_cloud_ot(x, y, rel_eps=0.1), OTProblem)        # small: dense
    monkeypatch.setattr(sl.problems.ot, "LAZY_ABOVE", 1000.0)
    prob = point_cloud_ot(x, y, rel_eps=0.1)
    assert isinstance(prob, LazyOTProblem)
    assert "n*m = 1.2e+03 > 1e+03" in repr(prob.program)
    res = prob.solve(backend="sinkhorn", tol=1e-8)
    assert "n*m = 1.2e+03" in res.info["lazy"]
    assert isinstance(point_cloud_ot(x, y, rel_eps=0.1, lazy=False), OTProblem)
    # above the threshold, what the lazy program cannot do stays dense
    assert isinstance(point_cloud_ot(x, y, rel_eps=0.1, metric="euclidean"), OTProblem)
    assert isinstance(point_cloud_ot(x, y, rel_eps=0.1, rho=1.0), OTProblem)
    assert "asked for" in repr(point_cloud_ot(x, y, rel_eps=0.1, lazy=True).program)


def test_warm_start_options_and_statuses():
    x, y = _clouds(100, 80, seed=5)
    prob = point_cloud_ot(x, y, rel_eps=0.02, lazy=True)
    r1 = prob.solve(backend="sinkhorn", tol=1e-8)
    r2 = prob.solve(backend="sinkhorn", tol=1e-8)
    assert r2.info["warm_start"] and r2.iterations < r1.iterations and r2.status is sl.Status.OPTIMAL
    r3 = prob.solve(backend="sinkhorn", tol=1e-12, max_iter=3, warm_start=False)
    assert r3.status is sl.Status.MAX_ITER and not r3.certificate.meets(1e-12)
    r4 = prob.solve(backend="sinkhorn", tol=1e-8, sparse_plan=True, sparse_threshold=1e-6, warm_start=False)
    Ps, dropped = r4.info["plan_sparse"], r4.info["plan_sparse_dropped"]
    P = prob.plan_block(r4)
    assert dropped == pytest.approx(P.sum() - Ps.sum(), abs=1e-13) and dropped <= 1e-6 * 80
    np.testing.assert_allclose(Ps.toarray(), np.where(P >= 1e-6 / 100, P, 0.0), atol=1e-15)   # >= 1e-6 a_i
    assert prob.transport_cost(r4) == pytest.approx(r4.info["transport_cost"], rel=1e-12)
    with pytest.raises(InvalidDataError, match="max_nnz"):
        prob.plan_sparse(r4, 1e-6, max_nnz=10)


# --- bad input --------------------------------------------------------------------------

def test_bad_input_is_named():
    x, y = _clouds(20, 15)
    xn = x.copy()
    xn[3, 1] = np.nan
    with pytest.raises(InvalidDataError, match="point cloud x has NaN or Inf"):
        point_cloud_ot(xn, y, rel_eps=0.1, lazy=True)
    with pytest.raises(ShapeError, match="same dimension"):
        point_cloud_ot(x, np.ones((15, 3)), rel_eps=0.1, lazy=True)
    with pytest.raises(InvalidDataError, match="real numeric array, got dtype <U1"):
        point_cloud_ot(np.array([["a", "b"]]), y, rel_eps=0.1, lazy=True)
    with pytest.raises(InvalidDataError, match="real numeric array, got dtype complex128"):
        point_cloud_ot(x + 1j, y, rel_eps=0.1, lazy=True)
    with pytest.raises(ShapeError, match="point cloud y is empty"):
        point_cloud_ot(x, np.zeros((0, 2)), rel_eps=0.1, lazy=True)
    with pytest.raises(ShapeError, match=r"\(n, d\) array"):
        point_cloud_ot(x, np.zeros((2, 2, 2)), rel_eps=0.1, lazy=True)
    with pytest.raises(ShapeError, match="b has 3 for 15 points"):
        point_cloud_ot(x, y, b=np.ones(3) / 3, rel_eps=0.1, lazy=True)
    with pytest.raises(InvalidDataError, match="exactly one of eps"):
        point_cloud_ot(x, y, lazy=True)
    with pytest.raises(InvalidDataError, match="exactly one of eps"):
        point_cloud_ot(x, y, eps=1.0, rel_eps=0.1, lazy=True)
    with pytest.raises(InvalidDataError, match="eps must be a positive finite"):
        point_cloud_ot(x, y, eps=-1.0, lazy=True)
    with pytest.raises(InvalidDataError, match="lazy must be None"):
        point_cloud_ot(x, y, eps=1.0, lazy="yes")
    with pytest.raises(InvalidDataError, match="metric 'sqeuclidean' only"):
        point_cloud_ot(x, y, eps=1.0, lazy=True, metric="euclidean")
    with pytest.raises(InvalidDataError, match="balanced only"):
        point_cloud_ot(x, y, eps=1.0, lazy=True, rho=1.0)
    with pytest.raises(InvalidDataError, match="max C"):
        point_cloud_ot(np.zeros((3, 2)), np.zeros((2, 2)), rel_eps=0.1, lazy=True)
    with pytest.raises(InvalidDataError, match="equal total masses"):
        LazyOTProgram(x, y, a=np.ones(20), eps=1.0)
    prob = point_cloud_ot(x, y, rel_eps=0.1, lazy=True)
    with pytest.raises(InvalidDataError, match=r"does not know option\(s\) \[.bogus.\]"):
        prob.solve(backend="sinkhorn", bogus=1)
    with pytest.raises(BackendRefusedError, match="backend 'sinkhorn' takes it"):
        prob.solve(backend="sinkhorn_newton")
    for other in ("admm", "cvxpy"):
        with pytest.raises(BackendRefusedError, match="sinkhorn"):
            prob.solve(backend=other)
    with pytest.raises(InvalidDataError, match="no CVXPY declaration"):
        prob.to_cvxpy()
    res = prob.solve(backend="sinkhorn", tol=1e-8)
    with pytest.raises(InvalidDataError, match="threshold must be in"):
        prob.plan_sparse(res, 0.0)
    with pytest.raises(InvalidDataError, match="outside"):
        prob.plan_block(res, 5, 100)


# --- kernels ----------------------------------------------------------------------------

def test_kernels_against_numpy():
    rng = np.random.default_rng(7)
    for d in (1, 2, 3, 4):
        XT, YT = rng.random((d, 70)), rng.random((d, 5000))        # several column blocks
        w = rng.random(5000) * 0.01
        C = ((XT[:, :, None] - YT[:, None, :]) ** 2).sum(0)
        eps = 0.003
        ref = logsumexp((w - C) / eps, axis=1)
        out = np.empty(70)
        assert KL.lse(XT, YT, w, 1 / eps, np.full(70, np.nan), out) == 70      # all exact
        np.testing.assert_allclose(out, ref, rtol=1e-13)
        assert KL.lse(XT, YT, w, 1 / eps, ref + 3.0, out) == 0                  # one pass
        np.testing.assert_allclose(out, ref, rtol=1e-13)
        assert KL.lse(XT, YT, w, 1 / eps, ref + 900.0, out) == 70               # pivot too loose: redone
        np.testing.assert_allclose(out, ref, rtol=1e-13)
        mc = np.empty(70)
        KL.max_cost(XT, YT, mc)
        assert mc.max() == pytest.approx(C.max(), rel=1e-15)     # FMA: within an ulp
    # the vectorizable exp against NumPy's
    from numba import njit

    @njit
    def ev(v):
        o = np.empty_like(v)
        for i in range(v.size):
            o[i] = KL._exp(v[i])
        return o
    v = np.linspace(-707.9, 708.9, 200001)
    np.testing.assert_allclose(ev(v), np.exp(v), rtol=5e-16)
    e = ev(np.array([-709.0, -1e300, 710.0, np.inf, -np.inf, np.nan]))
    assert e[0] == 0 and e[1] == 0 and e[2] == np.inf and e[3] == np.inf and e[4] == 0 and np.isnan(e[5])


def test_exact_max_cost_from_hulls():
    from solvelab.families.ot.lazy import max_sq_distance
    rng = np.random.default_rng(8)
    for d in (1, 2, 3, 4):
        x, y = rng.normal(size=(400, d)), rng.normal(size=(300, d)) * 2
        assert max_sq_distance(x, y) == pytest.approx(_dense_cost(x, y).max(), rel=1e-15)
    line = np.c_[np.arange(10.0), np.zeros(10)]          # degenerate (flat) hull: all points
    assert max_sq_distance(line, line) == 81.0


def test_overrelaxation_cuts_the_steps_at_small_eps_to_the_same_certified_plan():
    """The lazy solver relaxes its updates (w = 1.9) on the stages at eps <= 2e-3 max C;
    overrelaxation=1.0 is plain Sinkhorn."""
    x, y = _clouds()
    prob = point_cloud_ot(x, y, rel_eps=1e-3, lazy=True)
    plain = prob.solve(backend="sinkhorn", tol=1e-7, overrelaxation=1.0, warm_start=False)
    fast = prob.solve(backend="sinkhorn", tol=1e-7, warm_start=False)
    assert plain.status is sl.Status.OPTIMAL and fast.status is sl.Status.OPTIMAL
    assert fast.iterations < plain.iterations
    assert fast.info["transport_cost"] == pytest.approx(plain.info["transport_cost"], rel=1e-6)
    with pytest.raises(sl.InvalidDataError, match="overrelaxation must be a number in"):
        prob.solve(backend="sinkhorn", overrelaxation=0.0)
