"""The ``fractional`` bench suite: its instances, their skips without data, the judging
functions against the family's node, and the two CVXPY peers on small instances."""
from __future__ import annotations

import pytest

import solvelab as sl
from solvelab.bench.peer import PeerSkip, get_peer
from solvelab.bench.suite import get_suite
from solvelab.bench.suites import fractional as suite_frac


def test_instances_and_skips_without_data(tmp_path, monkeypatch):
    import solvelab.bench.data as bench_data
    monkeypatch.setattr(bench_data, "search_dirs", lambda data_dir=None: [tmp_path])
    suite = get_suite("fractional")
    insts = {i.name: i for i in suite.instances()}
    assert {"l2-1024x1024", "topk-2048x2048", "affine-2048x1024", "madelon-l2", "mushrooms-topk"} <= set(insts)
    assert "not found" in insts["madelon-l2"].skip and insts["l2-2048x2048"].skip is None
    assert all(i.family == "fractional" for i in insts.values())


@pytest.mark.parametrize("kind", ["l2", "topk", "affine"])
def test_demo_instance_judges_like_the_certificate(kind):
    inst = suite_frac.demo_instance(kind)
    data = inst.data()
    prob = inst.make_problem(data)
    res = prob.solve(backend="fractional_cd", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL
    assert inst.eval_objective(data, res.x) == pytest.approx(res.objective, rel=1e-15)
    assert inst.eval_infeasibility(data, res.x) == 0.0
    assert inst.eval_infeasibility(data, res.x - 1.0) > 0 or kind != "affine"


def test_dinkelbach_clarabel_peer_agrees_on_the_quasiconvex_instance():
    inst = suite_frac.demo_instance("affine")
    data = inst.data()
    ours = inst.make_problem(data).solve(backend="dinkelbach", tol=1e-9)
    run = get_peer("dinkelbach-clarabel").solve(inst, data, tol=1e-9, time_limit=60, max_iter=50,
                                                record=lambda **kw: None)
    peer = inst.eval_objective(data, run.x)
    assert ours.status is sl.Status.OPTIMAL
    assert ours.objective <= peer * (1 + 1e-9)
    assert peer == pytest.approx(ours.objective, rel=1e-5)


def test_dqcp_peer_skips_a_norm_denominator_and_runs_an_affine_one():
    peer = get_peer("cvxpy-dqcp")
    inst = suite_frac.demo_instance("l2")
    with pytest.raises(PeerSkip, match="not DQCP"):
        peer.solve(inst, inst.data(), tol=1e-6, time_limit=60, max_iter=None, record=lambda **kw: None)
    inst = suite_frac.demo_instance("affine")
    data = inst.data()
    run = peer.solve(inst, data, tol=1e-6, time_limit=60, max_iter=None, record=lambda **kw: None)
    ours = inst.make_problem(data).solve(backend="fractional_cd", tol=1e-9)
    if run.x is not None:   # the bisection may fail outright: then it reports an error, tested below
        assert ours.objective <= inst.eval_objective(data, run.x) * (1 + 1e-9)
    else:
        assert run.status == "error"
