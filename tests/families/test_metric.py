"""The metric family and backend project_forget: certificate rechecked with NumPy over
every triangle (no kernel), agreement with CVXPY+Clarabel on explicit triangles, scale
invariance, the status contract, warm starts, bad input, and stationarity from the
returned triangles and multipliers."""
import itertools

import numpy as np
import pytest

from solvelab.errors import InvalidDataError, ShapeError
from solvelab.families.metric import MetricNearness, MetricProgram
from solvelab.ir.forms import match
from solvelab.problems import (correlation_clustering_lp, jaccard_correlation_instance, metric_nearness,
                               shortest_path_dissimilarities, triangle_matrix)

TOL = 1e-7


def _dissim(n, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.random((n, n))
    D = D + D.T
    np.fill_diagonal(D, 0.0)
    return D


def _weights(n, seed=1):
    rng = np.random.default_rng(seed)
    W = rng.random((n, n)) + 0.5
    return W + W.T


def _cc(n, seed=2):
    D = _dissim(n, seed) / 2
    return np.where(D > 0.5, D, 0.0), np.where(D <= 0.5, 1.0 - D, 0.0) * (1 - np.eye(n))


def _build(kind, n, s=1.0):
    if kind == "lp":
        Wp, Wm = _cc(n)
        return correlation_clustering_lp(s * Wp, s * Wm)
    return metric_nearness(s * _dissim(n), _weights(n), p=2 if kind == "l2" else 1)


def _brute_violation(X):
    n = X.shape[0]
    v = 0.0
    for i, j, k in itertools.permutations(range(n), 3):
        v = max(v, X[i, j] - X[i, k] - X[k, j])
    return v


def _explicit_dual(p, tri, z):
    """The dual value with A^T z built from the explicit triangle matrix (no kernel)."""
    n = p.n_points
    A, (iu, ju) = triangle_matrix(n)
    P = {(a, b): r for r, (a, b) in enumerate(zip(iu, ju))}
    # the row of A of triangle (i, j, k): same construction order as triangle_matrix
    G = np.zeros(iu.size)
    for (i, j, k), zt in zip(tri, z):
        G[P[(i, j)]] += zt
        G[P[(min(i, k), max(i, k))]] -= zt
        G[P[(min(k, j), max(k, j))]] -= zt
    if p.kind == "lp":
        return float(np.minimum(0, p.c[iu, ju] + G).sum()) + p.constant, G
    d, w2 = p.D[iu, ju], p.w2[iu, ju]
    if p.kind == "l2":
        return float(G @ d - (G ** 2 / (4 * w2)).sum()), G
    s = 1.0 / max(1.0, float(np.max(np.abs(G) / w2)))
    return s * float(G @ d), G


@pytest.fixture(scope="module")
def oracle():
    """CVXPY+Clarabel objective of each kind at scale 1, n = 10."""
    out = {}
    for kind in ("l2", "l1", "lp"):
        prob, X = _build(kind, 10).to_cvxpy()
        prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        out[kind] = (float(prob.value), np.array(X.value))
    return out


@pytest.mark.parametrize("kind", ["l2", "l1", "lp"])
@pytest.mark.parametrize("s", [1e-6, 1.0, 1e6])
def test_agrees_with_clarabel_at_every_scale(oracle, kind, s):
    res = _build(kind, 10, s).solve(backend="project_forget", tol=TOL, max_iter=20000)
    assert res.status == "optimal", res.message
    ref, Xref = oracle[kind]
    power = 2 if kind == "l2" else 1          # the objective is homogeneous in the data
    assert res.objective == pytest.approx(s ** power * ref, rel=1e-6)
    if kind == "l2":  # strictly convex: the point itself is unique
        np.testing.assert_allclose(res.values["X"], s * Xref, atol=1e-5 * s)


@pytest.mark.parametrize("kind", ["l2", "l1", "lp"])
def test_certificate_recomputed_without_the_kernels(kind):
    prob = _build(kind, 9)
    res = prob.solve(backend="project_forget", tol=1e-6, max_iter=20000)
    p = prob.program
    X = res.values["X"]
    scale = p.scale
    assert res.certificate.max_triangle_violation == pytest.approx(_brute_violation(X) / scale, abs=1e-15)
    dual, _ = _explicit_dual(p, res.info["triangles"], res.info["multipliers"])
    assert res.certificate.dual_objective == pytest.approx(dual, rel=1e-12, abs=1e-300)
    gap = abs(res.objective - dual) / max(abs(res.objective), abs(dual))
    assert res.certificate.relative_gap == pytest.approx(gap, rel=1e-6, abs=1e-14)
    # a certificate from another point: D itself (or the LP's 0) is judged from scratch
    other = p.certify(np.zeros(p.n), [res.info["triangles"], res.info["multipliers"]])
    assert other.max_triangle_violation == 0.0


def test_stationarity_and_complementarity_from_info():
    prob = metric_nearness(_dissim(12), _weights(12))
    res = prob.solve(backend="project_forget", tol=1e-8, max_iter=20000)
    p = prob.program
    tri, z = res.info["triangles"], res.info["multipliers"]
    assert tri.shape == (z.size, 3) and np.all(z > 0)
    X = res.values["X"]
    _, G = _explicit_dual(p, tri, z)
    iu = np.triu_indices(12, 1)
    grad = 2 * p.w2[iu] * (X[iu] - p.D[iu])          # d/dx of w2 (x - d)^2
    assert np.max(np.abs(grad + G)) <= 1e-6 * np.max(np.abs(grad))
    slack = X[tri[:, 0], tri[:, 1]] - X[tri[:, 0], tri[:, 2]] - X[tri[:, 2], tri[:, 1]]
    assert np.max(np.abs(z * slack)) <= 1e-8 * abs(res.objective)


def test_status_contract():
    prob = metric_nearness(_dissim(30), p=2)
    res = prob.solve(backend="project_forget", tol=1e-12, max_iter=1, warm_start=False)
    assert res.status == "max_iter" and res.iterations == 1
    res = prob.solve(backend="project_forget", tol=1e-12, time_limit=1e-9, warm_start=False)
    assert res.status == "time_limit"
    seen = []
    res = prob.solve(backend="project_forget", tol=1e-12, warm_start=False,
                     callback=lambda info: seen.append(info["violation"]) or len(seen) >= 2)
    assert res.status == "inaccurate" and "callback" in res.message and len(seen) == 2


def test_warm_start_resumes():
    prob = metric_nearness(_dissim(25))
    r1 = prob.solve(backend="project_forget", tol=1e-8)
    assert r1.status == "optimal" and not r1.info["warm_start"]
    r2 = prob.solve(backend="project_forget", tol=1e-8)
    assert r2.info["warm_start"] and r2.iterations == 0 and r2.status == "optimal"
    assert r2.objective == pytest.approx(r1.objective, rel=1e-12)


def test_form_and_values():
    prob = metric_nearness(_dissim(5))
    view = match(prob.program, "MetricNearness")
    assert isinstance(view, MetricNearness) and view.n == 5
    assert not match(prob.program, "EntropicOT")
    res = prob.solve(backend="project_forget")
    X = res.values["X"]
    assert X.shape == (5, 5) and np.allclose(X, X.T) and np.all(np.diag(X) == 0)


def test_already_metric_is_returned_as_is():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(8, 2))
    D = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    res = metric_nearness(D).solve(backend="project_forget")
    assert res.status == "optimal" and res.iterations == 0
    np.testing.assert_array_equal(res.values["X"], D)


def test_graph_helpers():
    import scipy.sparse as sp
    A = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float))
    D = shortest_path_dissimilarities(A)
    np.testing.assert_array_equal(D[0], [0, 1, 2, 3])
    Wp, Wm = jaccard_correlation_instance(A, delta=0.05)
    J01 = 2 / 3   # N[0] = {0, 1}, N[1] = {0, 1, 2}
    assert Wp[0, 1] == pytest.approx(np.log((1 + J01 - 0.05) / (1 - J01 + 0.05)))
    assert Wm[0, 3] == pytest.approx(-np.log(0.95 / 1.05)) and Wp[0, 3] == 0
    with pytest.raises(InvalidDataError, match="not connected"):
        shortest_path_dissimilarities(sp.csr_matrix((4, 4)))


# --- bad input: each one names the entry or the shape -----------------------------------

def test_non_square_D():
    with pytest.raises(ShapeError, match=r"\(3, 4\)"):
        metric_nearness(np.zeros((3, 4)))


def test_too_small_D():
    with pytest.raises(ShapeError, match="at least 3"):
        metric_nearness(np.zeros((2, 2)))


def test_asymmetric_D():
    D = _dissim(4)
    D[1, 2] += 0.1
    with pytest.raises(InvalidDataError, match=r"symmetric.*D\[(1, 2|2, 1)\]"):
        metric_nearness(D)


def test_nan_D():
    D = _dissim(4)
    D[0, 3] = D[3, 0] = np.nan
    with pytest.raises(InvalidDataError, match=r"D\[0, 3\]"):
        metric_nearness(D)


def test_negative_D():
    D = _dissim(4)
    D[1, 3] = D[3, 1] = -0.5
    with pytest.raises(InvalidDataError, match=r"D\[1, 3\].*nonnegative"):
        metric_nearness(D)


def test_nonzero_diagonal_D():
    D = _dissim(4)
    D[2, 2] = 1.0
    with pytest.raises(InvalidDataError, match=r"D\[2, 2\]"):
        metric_nearness(D)


def test_negative_weight():
    W = _weights(4)
    W[0, 1] = W[1, 0] = -1.0
    with pytest.raises(InvalidDataError, match=r"W\[0, 1\].*nonnegative"):
        metric_nearness(_dissim(4), W)


def test_zero_weight_in_nearness():
    W = _weights(4)
    W[0, 2] = W[2, 0] = 0.0
    with pytest.raises(InvalidDataError, match=r"W\[0, 2\] = 0"):
        metric_nearness(_dissim(4), W)


def test_weight_shape():
    with pytest.raises(ShapeError, match=r"\(4, 4\)"):
        metric_nearness(_dissim(4), np.ones((5, 5)))


def test_negative_cc_weight():
    Wp, Wm = _cc(5)
    Wm[1, 4] = Wm[4, 1] = -2.0
    with pytest.raises(InvalidDataError, match=r"W_minus\[1, 4\]"):
        correlation_clustering_lp(Wp, Wm)


def test_bad_p():
    with pytest.raises(InvalidDataError, match="p must be 1 or 2"):
        metric_nearness(_dissim(4), p=3)


def test_unknown_option():
    with pytest.raises(InvalidDataError, match="sweeps"):
        metric_nearness(_dissim(4)).solve(backend="project_forget", sweep=3)


def test_program_kind():
    with pytest.raises(InvalidDataError, match="kind"):
        MetricProgram("l3", D=_dissim(4))


# --- is_metric(X) in a CVXPY declaration ---------------------------------------------------

def _cvx_reference(objective_of, n, box=False):
    """CVXPY + Clarabel with every triangle explicit on a full (n, n) variable."""
    import cvxpy as cp
    Y = cp.Variable((n, n))
    A, (iu, ju) = triangle_matrix(n)
    cons = [Y == Y.T, cp.diag(Y) == 0, A @ cp.hstack([Y[i, j] for i, j in zip(iu, ju)]) <= 0, Y >= 0]
    if box:
        cons.append(Y <= 1)
    return cp.Problem(cp.Minimize(objective_of(Y)), cons).solve(solver="CLARABEL")


def test_is_metric_recognized_with_asymmetric_weights_and_a_constant():
    import cvxpy as cp
    from solvelab.problems import is_metric, metric_problem
    n = 8
    D = _dissim(n, 5)
    W = np.random.default_rng(6).random((n, n)) + 0.5      # not symmetric: (i, j), (j, i) merge

    def obj(Y):
        return cp.sum_squares(cp.multiply(np.sqrt(W), Y - D)) + 3.0
    X = cp.Variable((n, n), name="X")
    prob = metric_problem(cp.Minimize(obj(X)), [is_metric(X), X >= 0])
    assert prob.program.kind == "l2"
    res = prob.solve(backend="project_forget", tol=1e-8)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(_cvx_reference(obj, n), rel=1e-6)
    np.testing.assert_array_equal(X.value, res.values["X"])


def test_is_metric_recognized_l1_and_lp():
    import cvxpy as cp
    from solvelab.problems import is_metric, metric_problem
    n = 8
    D, W = _dissim(n), _weights(n)
    X = cp.Variable((n, n))
    r1 = metric_problem(cp.Minimize(cp.sum(cp.multiply(W, cp.abs(X - D)))), [is_metric(X)]).solve(
        backend="project_forget", tol=1e-8)
    r0 = metric_nearness(D, W, p=1).solve(backend="project_forget", tol=1e-8)
    assert r1.status == "optimal" and r1.objective == pytest.approx(r0.objective, rel=1e-7)
    Wp, Wm = _cc(n)
    C = np.triu(Wp - Wm, 1)
    lp = metric_problem(cp.Minimize(cp.sum(cp.multiply(C, X)) + np.triu(Wm, 1).sum()), [is_metric(X), X <= 1])
    r2 = lp.solve(backend="project_forget", tol=1e-8)
    r3 = correlation_clustering_lp(Wp, Wm).solve(backend="project_forget", tol=1e-8)
    assert lp.program.kind == "lp" and r2.objective == pytest.approx(r3.objective, rel=1e-7)


def test_is_metric_refusals():
    import cvxpy as cp
    from solvelab.problems import is_metric, metric_problem
    X = cp.Variable((5, 5))
    D = _dissim(5)
    with pytest.raises(InvalidDataError, match="X <= 1"):
        metric_problem(cp.Minimize(cp.sum(X)), [is_metric(X)])
    with pytest.raises(InvalidDataError, match="sum_squares"):
        metric_problem(cp.Minimize(cp.sum_squares(X - D) + cp.sum(cp.abs(X - D))), [is_metric(X)])
    with pytest.raises(InvalidDataError, match="exactly one is_metric"):
        metric_problem(cp.Minimize(cp.sum_squares(X - D)), [])
    with pytest.raises(ShapeError, match="square"):
        is_metric(cp.Variable((3, 4)))
    with pytest.raises(InvalidDataError, match="symmetric"):
        is_metric(cp.Variable((4, 4), symmetric=True))
    with pytest.raises(cp.error.DCPError, match="is_metric"):   # CVXPY never drops it silently
        cp.Problem(cp.Minimize(cp.sum_squares(X - D)), [is_metric(X)]).solve()


def test_oracle_kernels_agree_and_find_the_max_violation():
    from solvelab.kernels import metric as K
    X = np.ascontiguousarray(_dissim(23, 9))
    m = 23 * 22 // 2
    tri, vals = np.empty((m, 3), np.int64), np.empty(m)
    tri2, vals2, slot = np.empty((m, 3), np.int64), np.empty(m), np.empty(m, np.int64)
    c1, v1 = K.triangle_scan(X, 0.0, tri, vals, 1)
    c2, v2 = K.triangle_scan_parallel(X, 0.0, tri2, vals2, slot)
    assert c1 == c2 and v1 == v2 == pytest.approx(_brute_violation(X), abs=1e-15)
    np.testing.assert_array_equal(tri[:c1], tri2[:c2])
    i, j, k = tri[:c1].T
    np.testing.assert_allclose(vals[:c1], X[i, j] - X[i, k] - X[k, j], atol=1e-15)
    res = metric_nearness(X).solve(backend="project_forget", threads=2, tol=1e-8)
    assert res.status == "optimal"


def test_the_suites_demo_instance():
    from solvelab.bench.suites.metric import demo_instance
    inst = demo_instance()
    data = inst.data()
    res = inst.make_problem(data).solve(backend="project_forget")
    assert res.status == "optimal"
    assert inst.eval_objective(data, res.x) == pytest.approx(res.objective, rel=1e-12)
    assert inst.infeasibility(data, res.x) <= 1e-6
