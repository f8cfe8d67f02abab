"""The ``bilevel`` bench suite: instances and skips without data, the value-function
objective peers are judged by, the peers themselves, and the 'lowest' reference rule."""
from __future__ import annotations

import numpy as np
import pytest

from solvelab.bench.peer import get_peer
from solvelab.bench.report import references
from solvelab.bench.suite import get_suite
from solvelab.bench.suites import bilevel as suite_bilevel


def test_instances_and_skips_without_data(tmp_path, monkeypatch):
    import solvelab.bench.data as bench_data
    monkeypatch.setattr(bench_data, "search_dirs", lambda data_dir=None: [tmp_path])
    insts = {i.name: i for i in get_suite("bilevel").instances()}
    assert {"ijcnn1-feature", "ijcnn1-single", "a9a-single", "a9a-cleaning", "mushrooms-cleaning"} == set(insts)
    assert all("not found" in i.skip for i in insts.values())
    assert all(i.meta["reference"] == "lowest" for i in insts.values())


def test_the_objective_is_the_value_function_of_the_returned_weights():
    inst = suite_bilevel.demo_instance()
    data = inst.data()
    prob = inst.make_problem(data)
    res = prob.solve(backend="hypergradient", tol=1e-7)
    assert res.status == "optimal", res.message
    assert inst.eval_objective(data, res.x) == pytest.approx(res.objective, rel=1e-14)
    x = res.x.copy()
    x[prob.program.q:] = 0.0               # a wrong lower point does not change F(u)
    assert inst.eval_objective(data, x) == pytest.approx(res.objective, rel=1e-14)
    assert inst.infeasibility(data, res.x) == 0.0
    x[0] = prob.program.u_hi[0] + 1.0
    assert inst.infeasibility(data, x) > 0.0


def _record(peer, inst, data):
    out = peer.solve(inst, data, tol=1e-6, time_limit=60.0, max_iter=100, record=lambda **kw: None)
    return out, inst.eval_objective(data, out.x)


def test_the_peers_return_points_no_better_than_the_certified_optimum():
    rng = np.random.default_rng(0)
    X, Xv = rng.standard_normal((300, 4)), rng.standard_normal((300, 4))
    w = np.array([1.0, -1.0, 0.5, 0.0])
    flip = lambda z: np.where(rng.random(z.size) < 0.2, -z, z)  # noqa: E731
    data = {"X": X, "y": flip(np.sign(X @ w)), "X_val": Xv, "y_val": flip(np.sign(Xv @ w)), "weights": "single"}
    inst = suite_bilevel._instance("t", "300x4", lambda: data)
    res = inst.make_problem(data).solve(backend="hypergradient", tol=1e-9)
    assert res.status == "optimal", res.message
    for name in ("grid-search", "random-search"):
        out, F = _record(get_peer(name), inst, data)
        assert out.status == "converged"
        assert F >= res.objective * (1 - 1e-12)        # a search cannot beat the certified stationary point here
        assert F <= res.objective * 1.05                # but lands near it (the value function is smooth in u)


def test_the_reference_of_a_nonconvex_instance_is_the_lowest_objective():
    meta = {"reference": "lowest"}
    recs = [{"instance": "i", "kind": "backend", "solver": "a", "status": "optimal", "objective": 2.0,
             "certificate": 1e-9, "meta": meta},
            {"instance": "i", "kind": "backend", "solver": "b", "status": "optimal", "objective": 1.5,
             "certificate": 1e-7, "meta": meta},
            {"instance": "i", "kind": "peer", "solver": "c", "status": "converged", "objective": 1.4,
             "infeasibility": 0.0, "meta": meta},
            {"instance": "i", "kind": "peer", "solver": "d", "status": "converged", "objective": 1.0,
             "infeasibility": 0.1, "meta": meta}]
    ref, why = references(recs)["i"]
    assert ref == 1.4 and "lowest" in why and "(c)" in why
    for r in recs:
        r["meta"] = {}
    assert references(recs)["i"][0] == 2.0                 # the usual rule: the most accurate certified run
