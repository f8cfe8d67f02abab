"""The ``saddle`` bench suite: its instances and known values, the objective and the
gap-based infeasibility peers are judged by, and the two LP peers (with the Clarabel
size limit); its DRO logistic instances and their two peers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from solvelab.bench.peer import PeerSkip, get_peer
from solvelab.bench.suite import get_suite
from solvelab.bench.suites import saddle as suite_saddle


def _highs_value(A):
    m, n = A.shape
    res = linprog(np.r_[np.zeros(m), 1.0], A_ub=np.c_[A.T, -np.ones(n)], b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(m), 0.0][None, :], b_eq=[1.0], bounds=[(0, None)] * m + [(None, None)],
                  method="highs")
    return float(res.fun)


def test_the_instances_and_their_known_values():
    insts = {i.name: i for i in get_suite("saddle").instances() if i.family == "matrix_game"}
    assert {"gaussian-100", "gaussian-5000", "uniform-5000", "rps-4999", "diagonal-5000"} <= set(insts)
    assert all(i.size == f"{n}x{n}" for i in insts.values() for n in [int(i.name.split("-")[1])])
    for name in ("rps-101", "diagonal-100"):
        inst = insts[name]
        A = inst.data()["A"]
        A = A.toarray() if hasattr(A, "toarray") else A
        assert inst.reference == pytest.approx(_highs_value(A), abs=1e-9 * np.abs(A).max())
    d = insts["rps-101"].data()                       # value 0 at the strategies 1 / d1, 1 / d2
    assert np.abs(d["A"].T @ d["x_star"]).max() <= 1e-14 and np.abs(d["A"] @ d["y_star"]).max() <= 1e-14
    assert np.abs(d["x_star"] - 1 / 101).max() > 1e-3        # not the uniform start


def test_the_objective_and_infeasibility_of_the_returned_point():
    inst = suite_saddle.demo_instance()
    data = inst.data()
    res = inst.make_problem(data).solve(backend="halpern", tol=1e-7)
    assert res.status == "optimal", res.message
    assert inst.eval_objective(data, res.x) == pytest.approx(res.objective, rel=1e-12)
    assert inst.eval_infeasibility(data, res.x) <= 1e-7
    z = res.x.copy()
    z[200:] = 1.0 / 200                                # the right x with a uniform y: no equilibrium
    assert inst.eval_infeasibility(data, z) > 1e-3


@pytest.mark.parametrize("peer", ["highs-game-lp", "clarabel-game-lp"])
def test_the_peers_find_the_certified_equilibrium(peer):
    inst = suite_saddle._instance("t", 60, suite_saddle.uniform(60, seed=4))
    data = inst.data()
    res = inst.make_problem(data).solve(backend="halpern", tol=1e-8)
    assert res.status == "optimal"
    out = get_peer(peer).solve(inst, data, tol=1e-8, time_limit=60.0, max_iter=None, record=lambda **kw: None)
    assert out.status == "converged", out.message
    assert inst.eval_objective(data, out.x) == pytest.approx(res.objective, rel=1e-6)
    assert inst.eval_infeasibility(data, out.x) <= 1e-5


def test_clarabel_skips_large_games_with_the_reason():
    inst = suite_saddle._instance("big", 1001, suite_saddle.gaussian(1001))
    with pytest.raises(PeerSkip, match="payoff entries"):
        get_peer("clarabel-game-lp").solve(inst, inst.data(), tol=1e-6, time_limit=1.0, max_iter=None,
                                           record=lambda **kw: None)


def test_every_instance_records_its_objective_scale():
    insts = get_suite("saddle").instances() + [suite_saddle.demo_instance()]
    for inst in (i for i in insts if i.family == "matrix_game"):
        scale = inst.meta["objective_scale"]
        assert scale > 0
    A = get_suite("saddle").instance("gaussian-100").data()["A"]
    assert np.abs(A).mean() == pytest.approx(get_suite("saddle").instance("gaussian-100").meta["objective_scale"],
                                             rel=0.05)


def test_the_dro_instances_are_listed_and_skip_without_their_data(monkeypatch):
    from solvelab.bench.data import DataNotFoundError
    names = {i.name for i in get_suite("saddle").instances() if i.family == "dro_logistic"}
    assert names == {"dro-mushrooms", "dro-a9a", "dro-ijcnn1"}

    def missing(name, data_dir=None):
        raise DataNotFoundError(f"LIBSVM file {name!r} not found")
    monkeypatch.setattr(suite_saddle, "find_libsvm", missing)
    for inst in (i for i in get_suite("saddle").instances() if i.family == "dro_logistic"):
        assert inst.backends == ("dro_newton", "alpd") and inst.skip        # the reason names the file
        assert inst.name.split("-")[1] in inst.skip


@pytest.mark.parametrize("peer", ["clarabel-dro", "lbfgsb-dro"])
def test_the_dro_peers_reach_the_certified_solution(peer):
    from solvelab.bench.suite import Instance
    rng = np.random.default_rng(0)
    A = rng.standard_normal((80, 5))
    labels = np.where(A @ rng.standard_normal(5) + 0.5 * rng.standard_normal(80) > 0, 1.0, -1.0)
    inst = Instance("t", "dro_logistic", "80x5", lambda: {"A": A, "labels": labels, "lam": 0.05, "rho": 0.2},
                    build=suite_saddle.build_dro, objective=suite_saddle.dro_objective,
                    infeasibility=suite_saddle.dro_infeasibility)
    data = inst.data()
    res = inst.make_problem(data).solve(backend="dro_newton", tol=1e-9)
    assert res.status == "optimal"
    assert inst.eval_objective(data, res.x) == pytest.approx(res.objective, rel=1e-12)
    assert inst.eval_infeasibility(data, res.x) <= 1e-9
    out = get_peer(peer).solve(inst, data, tol=1e-7, time_limit=60.0, max_iter=None, record=lambda **kw: None)
    assert out.status == "converged", out.message
    assert inst.eval_objective(data, out.x) == pytest.approx(res.objective, rel=1e-6)
    z = res.x.copy()
    z[:5] = 0.0                                          # x = 0 with the solved p: no solution
    assert inst.eval_infeasibility(data, z) > 1e-3


def test_the_ball_instances_alpd_and_their_clarabel_peer():
    """The coupled-saddle instances: alpd certifies, its objective (r^2 / 2) and the
    infeasibility (the family's certificate) are read off z, and Clarabel's epigraph point
    with its multipliers as y reaches the same radius and certificate."""
    from solvelab.bench.suite import Instance
    names = {i.name for i in get_suite("saddle").instances() if i.family == "coupled_saddle"}
    assert names == {"ball-1000x3", "ball-1000x20", "ball-5000x20"}
    inst = Instance("t", "coupled_saddle", "60 x 3", suite_saddle.ball_data(60, 3), build=suite_saddle.build_ball,
                    objective=suite_saddle.ball_objective, infeasibility=suite_saddle.ball_infeasibility)
    data = inst.data()
    res = inst.make_problem(data).solve(backend="alpd", tol=1e-8)
    assert res.status == "optimal"
    assert inst.eval_objective(data, res.x) == pytest.approx(res.objective, rel=1e-7)
    assert inst.eval_infeasibility(data, res.x) <= 1e-8
    out = get_peer("clarabel-ball").solve(inst, data, tol=1e-8, time_limit=60.0, max_iter=None,
                                          record=lambda **kw: None)
    assert out.status == "converged", out.message
    assert inst.eval_objective(data, out.x) == pytest.approx(res.objective, rel=1e-6)
    assert inst.eval_infeasibility(data, out.x) <= 1e-4
    z = res.x.copy()
    z[:3] += 0.1                                        # a center off by 0.1: not certified
    assert inst.eval_infeasibility(data, z) > 1e-3
