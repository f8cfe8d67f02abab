"""How the harness judges a peer's point does not depend on the data's units: the model
families' infeasibility measures and the relative objective error have no absolute floor
(a violation of 10 % of the point's size is 10 % at scale 1e-6 too, not 1e-7)."""
import numpy as np
import pytest

from solvelab.bench.models import get_family
from solvelab.bench.report import judge, rel_error

rng = np.random.default_rng(4)
C = rng.standard_normal((3, 6))
x_eq = rng.standard_normal(6)


def _cases():
    x = np.array([1.0, -0.1, 0.5])                                  # 10 % below the bound x >= 0
    yield "nnls", {}, x
    yield "boxqp", {"lo": np.zeros(3), "hi": np.ones(3)}, np.array([1.1, 0.5, 0.2])
    d = C @ x_eq
    yield "eqls", {"C": C, "d": d}, x_eq + 0.1 * np.abs(x_eq).max() * np.eye(6)[0]


@pytest.mark.parametrize("name,data,x", list(_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_infeasibility_is_the_same_at_every_scale(name, data, x):
    f = get_family(name).infeasibility
    base = f(data, x)
    assert base > 1e-3
    for s in (1e-6, 1e6):
        scaled = {k: (v * s if k in ("lo", "hi", "d") else v) for k, v in data.items()}
        assert f(scaled, s * x) == pytest.approx(base, rel=1e-9), (name, s)


def test_a_feasible_point_and_the_zero_point_measure_zero():
    assert get_family("nnls").infeasibility({}, np.zeros(4)) == 0.0
    assert get_family("boxqp").infeasibility({"lo": np.zeros(2), "hi": np.ones(2)}, np.array([0.0, 1.0])) == 0.0
    assert get_family("eqls").infeasibility({"C": C, "d": C @ x_eq}, x_eq) <= 1e-15


def test_relative_objective_error_has_no_floor():
    assert rel_error(1.1e-6, 1e-6) == pytest.approx(0.1)
    assert rel_error(1.1e6, 1e6) == pytest.approx(0.1)


def test_time_to_tol_reads_a_peer_history_with_the_objective_scale():
    # optimum 0: the error is relative to the instance's objective scale, in the history too
    rec = {"instance": "i", "kind": "peer", "solver": "p", "tol": 1e-6, "time_limit": 60.0, "status": "converged", "objective": 1e-9,
           "infeasibility": 0.0, "time": 5.0, "objective_scale": 1.0, "reference": 0.0,
           "history": [{"time": 1.0, "objective": 1e-3}, {"time": 2.0, "objective": 1e-9}]}
    ref = {"instance": "i", "kind": "backend", "solver": "cvxpy", "tol": 1e-6, "time_limit": 60.0, "status": "optimal", "objective": 0.0,
           "time": 1.0, "certificate": 1e-9}
    out = {r["solver"]: r for r in judge([ref, rec])}
    assert out["p"]["solved"] and out["p"]["time_to_tol"] == 2.0
