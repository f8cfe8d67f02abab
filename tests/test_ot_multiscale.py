"""The multiscale truncated-support OT path (families.ot.multiscale, kernels.ot_sparse,
backends.sinkhorn_multiscale): agreement with the lazy path, the certificate rechecked by
the full-pass certify_lazy, bad input, scale invariance."""
import numpy as np
import pytest

from solvelab.errors import InvalidDataError
from solvelab.families.ot import certify_lazy
from solvelab.problems import point_cloud_ot


def _clouds(n=400, m=350, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) * 0.8 + 0.5


def _centered(f):
    return f - f.mean()


def test_multiscale_matches_lazy_and_recheck():
    x, y = _clouds()
    pm = point_cloud_ot(x, y, rel_eps=1e-3, method="multiscale")
    rm = pm.solve(backend="sinkhorn", tol=1e-6)
    pl = point_cloud_ot(x, y, rel_eps=1e-3, lazy=True)
    rl = pl.solve(backend="sinkhorn", tol=1e-9)
    assert rm.status == "optimal"
    n = x.shape[0]
    fm, fl = rm.x[:n], rl.x[:n]
    assert np.abs(_centered(fm) - _centered(fl)).max() <= 1e-5 * np.abs(fl).max()
    assert abs(rm.info["transport_cost"] - rl.info["transport_cost"]) <= 1e-6 * rl.info["transport_cost"]
    full = certify_lazy(pm.program, rm.x)
    assert full.marginal_violation <= rm.certificate.marginal_violation * (1 + 1e-6) + 1e-15
    assert full.marginal_violation <= 1e-6 and full.gap <= 1e-6
    assert rm.certificate.truncated_mass <= 1e-9


def test_truncation_bound_is_counted():
    x, y = _clouds(200, 150, 1)
    pm = point_cloud_ot(x, y, rel_eps=1e-2, method="multiscale")
    rm = pm.solve(backend="sinkhorn", tol=1e-6)
    p = pm.program
    p.trunc_tol = 1e-3            # a coarse truncation: its bound must enter the violation
    cert = p.certify(rm.x)
    assert cert.marginal_violation >= 2 * cert.truncated_mass
    assert not cert.marginal_violation <= 1e-6 or cert.truncated_mass < 5e-7


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1e3, 1e6])
def test_scale_invariance(scale):
    x, y = _clouds(300, 300, 2)
    r1 = point_cloud_ot(x, y, rel_eps=1e-2, method="multiscale").solve(backend="sinkhorn", tol=1e-6)
    r2 = point_cloud_ot(x * scale, y * scale, rel_eps=1e-2, method="multiscale").solve(backend="sinkhorn", tol=1e-6)
    assert r1.status == r2.status == "optimal"
    assert abs(r2.info["transport_cost"] / scale ** 2 - r1.info["transport_cost"]) <= 1e-6 * r1.info["transport_cost"]


def test_bad_input():
    x, y = _clouds(10, 10)
    with pytest.raises(InvalidDataError, match="method"):
        point_cloud_ot(x, y, rel_eps=1e-2, method="fast")
    with pytest.raises(InvalidDataError, match="balanced"):
        point_cloud_ot(x, y, rel_eps=1e-2, method="multiscale", rho=1.0)
    with pytest.raises(InvalidDataError, match="NaN"):
        point_cloud_ot(np.full((3, 2), np.nan), y, rel_eps=1e-2, method="multiscale")


@pytest.mark.parametrize("opts, match", [
    (dict(scaling_factor=1.5), "scaling_factor must be in"),
    (dict(stage_tol=0.0), "stage_tol must be a number in"),
    (dict(support_rounds=0), "support_rounds must be a positive integer"),
    (dict(coarse_points="many"), "coarse_points must be a positive integer"),
    (dict(overrelaxation=2.0), "overrelaxation must be a number in \\(0, 2\\)"),
])
def test_bad_options_are_refused_with_their_name(opts, match):
    x, y = _clouds(30, 30)
    with pytest.raises(InvalidDataError, match=match):
        point_cloud_ot(x, y, rel_eps=1e-2, method="multiscale").solve(backend="sinkhorn", **opts)


def test_overrelaxation_reaches_the_same_certified_plan_in_fewer_steps():
    x, y = _clouds(300, 280, 3)
    plain = point_cloud_ot(x, y, rel_eps=1e-3, method="multiscale").solve(backend="sinkhorn", tol=1e-7,
                                                                            overrelaxation=1.0)
    prob = point_cloud_ot(x, y, rel_eps=1e-3, method="multiscale")
    fast = prob.solve(backend="sinkhorn", tol=1e-7)
    assert plain.status == fast.status == "optimal"
    assert fast.iterations < plain.iterations
    assert abs(fast.info["transport_cost"] - plain.info["transport_cost"]) <= 1e-6 * plain.info["transport_cost"]
    full = certify_lazy(prob.program, fast.x)         # every pair, no truncation
    assert full.marginal_violation <= 1e-7 and full.gap <= 1e-7


def test_the_automatic_choice_takes_multiscale_at_small_eps_and_says_so():
    from solvelab.families.ot.multiscale import MultiscaleOTProgram
    from solvelab.problems.ot import MULTISCALE_REL_EPS
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(5001, 2)), rng.normal(size=(5001, 2))      # n m > LAZY_ABOVE
    small = point_cloud_ot(x, y, rel_eps=MULTISCALE_REL_EPS / 10).program
    assert isinstance(small, MultiscaleOTProgram) and "multiscale" in small.reason
    large = point_cloud_ot(x, y, rel_eps=MULTISCALE_REL_EPS * 10).program
    assert not isinstance(large, MultiscaleOTProgram)
    forced = point_cloud_ot(x, y, rel_eps=MULTISCALE_REL_EPS / 10, lazy=True).program
    assert not isinstance(forced, MultiscaleOTProgram)
    x5, y5 = rng.normal(size=(5001, 5)), rng.normal(size=(5001, 5))    # above 3-D: no grid hierarchy
    assert not isinstance(point_cloud_ot(x5, y5, eps=1e-3).program, MultiscaleOTProgram)
    absolute = point_cloud_ot(x, y, eps=small.eps).program              # the same eps given absolutely
    assert isinstance(absolute, MultiscaleOTProgram) and absolute.eps == small.eps


def test_a_support_too_large_falls_back_to_the_lazy_passes(monkeypatch):
    from solvelab.families.ot import multiscale as MS
    x, y = _clouds(200, 180, 4)
    prob = point_cloud_ot(x, y, rel_eps=1e-2, method="multiscale")
    monkeypatch.setattr(MS, "MAX_NNZ", 100)
    res = prob.solve(backend="sinkhorn", tol=1e-7)
    assert res.status == "optimal"
    assert "full lazy passes" in res.info["method"]
    full = certify_lazy(prob.program, res.x)
    assert res.certificate.value == pytest.approx(full.value, rel=1e-12)


def test_round_and_sparse_plan_work_on_the_multiscale_program():
    x, y = _clouds(120, 100, 6)
    prob = point_cloud_ot(x, y, rel_eps=1e-3, method="multiscale")
    res = prob.solve(backend="sinkhorn", tol=1e-7, round=True, sparse_plan=True)
    assert res.status == "optimal"
    R = res.info["plan_rounded"]
    assert res.info["rounded_violation"] <= 1e-12
    assert R.transport_cost() == pytest.approx(res.info["rounded_cost"])
    P = res.info["plan_sparse"]
    assert P.shape == (120, 100) and abs(P.sum() - 1.0) <= 1e-6
