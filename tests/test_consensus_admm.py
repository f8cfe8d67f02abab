"""Consensus ADMM over row blocks (backend ``consensus_admm``, and ``admm`` with
``distributed=client``): the same solution as cd and CVXPY+Clarabel, the same arithmetic
in-process and on a Dask LocalCluster, and clear refusals."""
import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

import solvelab as sl
from solvelab.errors import BackendRefusedError, InvalidDataError
from solvelab.ir.certificate import certify as generic_certify


def _data(m=3000, n=30, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=0.3, random_state=seed, format="csr") * scale
    xt = rng.standard_normal(n) * (rng.random(n) < 0.4)
    return A, xt, rng


def _lasso(scale=1.0, bounds=False, ridge=0.0):
    A, xt, rng = _data(scale=scale)
    b = A @ xt + 0.1 * scale * rng.standard_normal(A.shape[0])
    lam = 0.1 * float(np.abs(A.T @ b).max())
    x = cp.Variable(A.shape[1])
    obj = cp.sum_squares(A @ x - b) + lam * cp.norm1(x) + ridge * lam * cp.sum_squares(x)
    cons = [x >= -0.5, x <= 0.5] if bounds else []
    return sl.Problem(cp.Minimize(obj), cons), cp.Problem(cp.Minimize(obj), cons)


def _logistic(scale=1.0):
    A, xt, rng = _data(scale=scale, seed=1)
    y = np.sign(A @ xt + 0.1 * scale * rng.standard_normal(A.shape[0]))
    lam = 0.02 * float(np.abs(A.T @ y).max())
    x = cp.Variable(A.shape[1])
    obj = cp.sum(cp.logistic(-cp.multiply(y, A @ x))) + lam * cp.norm1(x)
    return sl.Problem(cp.Minimize(obj)), cp.Problem(cp.Minimize(obj))


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))


@pytest.mark.parametrize("make", [_lasso, _logistic, lambda: _lasso(bounds=True, ridge=0.01)],
                         ids=["lasso", "logistic", "bounded-elastic-net"])
@pytest.mark.parametrize("blocks", [1, 3])
def test_matches_cd_and_clarabel(make, blocks):
    prob, ref = make()
    cd = prob.solve(backend="cd", tol=1e-12).x.copy()
    res = prob.solve(backend="consensus_admm", tol=1e-10, blocks=blocks, warm_start=False)
    assert res.status == sl.Status.OPTIMAL and res.certificate.value <= 1e-10
    assert generic_certify(prob.compile(), res.x, res.duals).value <= 1e-8   # rechecked independently
    assert _rel(res.x, cd) <= 1e-6
    ref.solve(solver="CLARABEL")
    assert res.objective == pytest.approx(ref.value, rel=1e-6)
    assert res.info["blocks"] == blocks and res.info["distributed"] is False


@pytest.mark.parametrize("scale", [1e-6, 1e6])
@pytest.mark.parametrize("make", [_lasso, _logistic], ids=["lasso", "logistic"])
def test_data_scales(make, scale):
    prob, _ = make(scale=scale)
    cd = prob.solve(backend="cd", tol=1e-12).x.copy()
    res = prob.solve(backend="consensus_admm", tol=1e-9, blocks=2, warm_start=False)
    assert res.status == sl.Status.OPTIMAL
    assert _rel(res.x, cd) <= 1e-5


def test_warm_start_and_admm_blocks_route_here():
    prob, _ = _lasso()
    cold = prob.solve(backend="consensus_admm", tol=1e-9, blocks=2, warm_start=False)
    warm = prob.solve(backend="consensus_admm", tol=1e-9, blocks=2)
    assert warm.status == sl.Status.OPTIMAL and warm.iterations < cold.iterations
    via = prob.solve(backend="admm", tol=1e-9, blocks=2, warm_start=False)
    assert via.status == sl.Status.OPTIMAL and via.info["blocks"] == 2
    assert _rel(via.x, cold.x) <= 1e-6
    plain = prob.solve(backend="admm", tol=1e-8)                 # the same program, plain ADMM again
    assert plain.status == sl.Status.OPTIMAL and "blocks" not in plain.info


def test_refusals_and_bad_options():
    prob, _ = _lasso()
    for bad in ({"blocks": 0}, {"blocks": 1.5}, {"rho": -1.0}, {"adaptive_rho": "yes"}, {"inner_max": 0},
                {"distributed": "tcp://localhost:8786"}):
        with pytest.raises(InvalidDataError, match="consensus_admm"):
            prob.solve(backend="consensus_admm", **bad)
    with pytest.raises(InvalidDataError, match="max_features"):
        prob.solve(backend="consensus_admm", max_features=10)
    with pytest.raises(InvalidDataError, match="does not take"):
        prob.solve(backend="admm", blocks=2, sigma=1e-3)
    x = cp.Variable(30)
    A, _, rng = _data()
    mcp = sl.problems.mcp_regression(A.toarray(), np.ones(A.shape[0]), 0.05)
    with pytest.raises(BackendRefusedError, match="MCP"):
        mcp.solve(backend="consensus_admm")
    lp = sl.Problem(cp.Minimize(cp.sum(x)), [x >= 0, cp.sum(x) == 1])
    with pytest.raises(BackendRefusedError, match="sparse GLM"):
        lp.solve(backend="admm", blocks=2)
    with pytest.raises(BackendRefusedError, match="consensus_admm"):
        lp.solve(backend="consensus_admm")
    assert prob.solve(backend="auto").backend != "consensus_admm"   # auto never picks it


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed (pip install 'solvelab[dask]')")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=50)
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


@pytest.mark.parametrize("make", [_lasso, _logistic], ids=["lasso", "logistic"])
def test_dask_is_the_same_arithmetic(client, make):
    prob, _ = make()
    local = prob.solve(backend="consensus_admm", tol=1e-9, blocks=3, warm_start=False)
    x_local = local.x.copy()
    dist = prob.solve(backend="consensus_admm", tol=1e-9, blocks=3, distributed=client, warm_start=False)
    assert dist.status == sl.Status.OPTIMAL and dist.info["distributed"] is True
    assert dist.iterations == local.iterations
    np.testing.assert_allclose(dist.x, x_local, rtol=1e-12, atol=0.0)
    via = prob.solve(backend="admm", tol=1e-9, distributed=client, warm_start=False)   # one block per worker
    assert via.status == sl.Status.OPTIMAL and via.info["blocks"] == 2
    assert _rel(via.x, x_local) <= 1e-6
