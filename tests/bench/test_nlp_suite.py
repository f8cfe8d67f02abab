"""The ``nlp`` bench suite: its instances, their skips without data, and the peers' view
of a model (the same callables the backends see)."""
from __future__ import annotations

import numpy as np

import solvelab as sl
from solvelab.bench.suite import get_suite
from solvelab.bench.suites import nlp as suite_nlp


def test_instances_and_skips_without_data(tmp_path, monkeypatch):
    import solvelab.bench.data as bench_data
    monkeypatch.setattr(bench_data, "search_dirs", lambda data_dir=None: [tmp_path])
    suite = get_suite("nlp")
    insts = {i.name: i for i in suite.instances()}
    assert {"logistic-a9a", "logistic-madelon", "poisson-128"} <= set(insts)
    assert "not found" in insts["logistic-a9a"].skip and insts["poisson-16"].skip is None


def test_demo_instance_judges_the_backends_point_like_the_certificate():
    inst = suite_nlp.demo_instance()
    data = inst.data()
    prob = inst.make_problem(data)
    res = prob.solve(backend="sketched_newton", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL
    assert inst.eval_objective(data, res.x) == np.float64(res.objective)
    assert inst.infeasibility(data, res.x) <= 1e-8
    f = data["nlp"]
    assert f.m_eq == 11 and np.allclose(f.jac_eq(res.x) @ np.ones(f.x0.size), prob.program.jacobian(res.x).sum(1))
    assert inst.infeasibility(data, f.x0) > 1e-3   # the start is infeasible
