"""Group penalties on the ``cd`` backend (block CD with working sets of groups, gap-safe
screening of groups, Anderson extrapolation; ``solvelab.backends.cd.blocks``).

Oracle: CVXPY + Clarabel. Objectives agree to 1e-6 (relative) and the zero groups are the
same; screening never removes a group that is nonzero in the reference solution; the
working-set strategies and the inner solvers (Gram block CD, proximal Newton, block CD on
the columns) agree with one another.

"Sparse group lasso" here is what the SparseGLM form accepts: group l2 penalties on some
coordinates and l1 (weighted, possibly with bounds or ridge) on the others. l1 and group
l2 on the *same* coordinates is refused by the form (overlapping nonsmooth terms).
"""
import warnings

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

import solvelab as sl
from solvelab.ir.forms import match
from solvelab.result import Status

TOL = 1e-6


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(a), abs(b))


def _clarabel(objective, constraints=()):
    prob = cp.Problem(objective, list(constraints))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # "Solution may be inaccurate"
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    # second-order cones at 1e-10 sometimes end 'optimal_inaccurate' (still ~1e-9 here)
    assert prob.status in ("optimal", "optimal_inaccurate"), prob.status
    return prob.value


def _instance(seed, datafit, storage, m=90, p=48, gsize=4, n_active=3):
    rng = np.random.default_rng(seed)
    if storage == "dense":
        A = rng.standard_normal((m, p))
    else:
        A = sp.random(m, p, density=0.3, random_state=seed, format="csc", data_rvs=rng.standard_normal)
    x0 = np.zeros(p)
    for g in rng.choice(p // gsize, n_active, replace=False):
        x0[g * gsize:(g + 1) * gsize] = rng.standard_normal(gsize) * 2
    z = A @ x0
    if datafit == "ls":
        b = z + 0.5 * rng.standard_normal(m)
    else:
        b = np.where(z + 0.5 * rng.standard_normal(m) > 0, 1.0, -1.0)
    return A, b


def _datafit(datafit, A, b, x):
    n = A.shape[0]
    if datafit == "ls":
        return cp.sum_squares(A @ x - b) / (2 * n)
    return cp.sum(cp.logistic(-cp.multiply(b, A @ x))) / n


def _lam_max(datafit, A, b, groups):
    n = A.shape[0]
    g = np.asarray(A.T @ (b if datafit == "ls" else b / 2)).ravel() / n
    return max(np.linalg.norm(g[G]) / np.sqrt(len(G)) for G in groups)


def _problem(datafit, A, b, groups, lam, l1_cols=None, lam1=0.0, bounds=None):
    """Group lasso (weights sqrt|G|); with ``l1_cols``, l1 on those (ungrouped) columns."""
    p = A.shape[1]
    x = cp.Variable(p)
    obj = _datafit(datafit, A, b, x) + sum(lam * np.sqrt(len(G)) * cp.norm2(x[G]) for G in groups)
    if l1_cols is not None and len(l1_cols):
        obj = obj + lam1 * cp.norm1(x[l1_cols])
    cons = []
    if bounds is not None:
        cons = [x[bounds] >= 0]
    return cp.Minimize(obj), cons


def _grouped(seed, datafit, storage, m, p, gsize, n_active, div):
    """An instance, its consecutive groups of ``gsize``, lam = lam_max / div and the plain
    group-lasso declaration: (groups, lam, objective, constraints)."""
    A, b = _instance(seed, datafit, storage, m=m, p=p, gsize=gsize, n_active=n_active)
    groups = [np.arange(i, i + gsize) for i in range(0, p, gsize)]
    lam = _lam_max(datafit, A, b, groups) / div
    return (groups, lam) + _problem(datafit, A, b, groups, lam)


def _zero_groups(x, groups, thr):
    return {k for k, G in enumerate(groups) if np.linalg.norm(x[G]) <= thr}


def _check_against_ref(res, ref_val, x_ref, groups, ref_thr=1e-5):
    assert res.status is Status.OPTIMAL, (res.status, res.certificate)
    assert _rel(res.objective, ref_val) <= TOL, (res.objective, ref_val)
    ours = _zero_groups(res.x, groups, 0.0)
    ref = _zero_groups(x_ref, groups, ref_thr)
    assert ours == ref, (sorted(ours ^ ref), [np.linalg.norm(x_ref[groups[k]]) for k in ours ^ ref])


CASES = [(df, st, kind) for df in ("ls", "logistic") for st in ("dense", "sparse") for kind in ("gl", "sgl")]


@pytest.mark.parametrize("datafit,storage,kind", CASES, ids=["-".join(c) for c in CASES])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_clarabel(datafit, storage, kind, seed):
    A, b = _instance(seed, datafit, storage)
    p = A.shape[1]
    if kind == "gl":
        groups = [np.arange(i, i + 4) for i in range(0, p, 4)]
        l1_cols = None
    else:
        # groups on the first 32 columns, l1 on the last 16
        groups = [np.arange(i, i + 4) for i in range(0, 32, 4)]
        l1_cols = np.arange(32, p)
    lam = _lam_max(datafit, A, b, groups) / 5
    objective, cons = _problem(datafit, A, b, groups, lam, l1_cols, lam1=lam)
    prob = sl.Problem(objective, cons)
    res = prob.solve(backend="cd", tol=1e-9)
    assert res.backend == "cd" and res.certificate.kind == "kkt+gap"
    ref_val = _clarabel(objective, cons)
    x_ref = objective.args[0].variables()[0].value.copy()
    _check_against_ref(res, ref_val, x_ref, groups)
    zero = _zero_groups(res.x, groups, 0.0)
    assert 0 < len(zero) < len(groups)        # an informative instance
    if l1_cols is not None:
        # the l1 columns: same support as the reference
        assert set(np.nonzero(res.x[l1_cols])[0]) == set(np.nonzero(np.abs(x_ref[l1_cols]) > 1e-5)[0])


@pytest.mark.parametrize("datafit", ["ls", "logistic"])
@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_screening_keeps_every_nonzero_group(datafit, storage):
    groups, _, objective, cons = _grouped(3, datafit, storage, m=150, p=400, gsize=5, n_active=4, div=3)
    ref_val = _clarabel(objective, cons)
    x_ref = objective.args[0].variables()[0].value.copy()
    nonzero_ref = set(range(len(groups))) - _zero_groups(x_ref, groups, 1e-6)
    prob = sl.Problem(objective, cons)
    n_screened = 0
    for wss in ("kkt", "full"):
        res = prob.solve(backend="cd", tol=1e-9, screening=True, ws_strategy=wss, warm_start=False)
        screened = set(res.info["screened_groups"].tolist())
        n_screened += len(screened)
        assert screened.isdisjoint(nonzero_ref)
        assert np.all(res.x[res.info["screened_features"]] == 0)
        _check_against_ref(res, ref_val, x_ref, groups)
    assert n_screened > 0                                  # screening did something here
    off = prob.solve(backend="cd", tol=1e-9, screening=False, warm_start=False)
    assert off.info["screened"] == 0 and off.status is Status.OPTIMAL
    assert _rel(off.objective, res.objective) <= TOL


@pytest.mark.parametrize("datafit", ["ls", "logistic"])
@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_strategies_and_inner_solvers_agree(datafit, storage):
    groups, _, objective, cons = _grouped(5, datafit, storage, m=100, p=120, gsize=4, n_active=4, div=8)
    prob = sl.Problem(objective, cons)
    variants = [dict(ws_strategy="kkt"), dict(ws_strategy="full"), dict(ws_strategy="kkt", anderson=0),
                dict(ws_strategy="kkt", gram=False), dict(ws_strategy="full", gram=False, anderson=0),
                dict(ws_strategy="kkt", gram_max=8, screening=False), dict(ws_start=1)]
    results = [prob.solve(backend="cd", tol=1e-9, warm_start=False, **v) for v in variants]
    inner = {r.info["inner"] for r in results}
    assert "columns" in inner and ("gram" if datafit == "ls" else "newton") in inner
    base = results[0]
    for v, r in zip(variants, results):
        assert r.status is Status.OPTIMAL, (v, r.status, r.certificate)
        assert _rel(r.objective, base.objective) <= TOL, (v, r.objective, base.objective)
        assert _zero_groups(r.x, groups, 0.0) == _zero_groups(base.x, groups, 0.0), v
    full = results[1]
    assert full.info["ws_size"] == len(groups) - full.info["screened"]
    assert results[0].info["ws_size"] < len(groups)        # the kkt working set is smaller


def test_group_lasso_constructor_gap_written_out():
    """sl.problems.group_lasso: the duality gap recomputed here from the returned x."""
    A, b = _instance(7, "ls", "sparse", m=150, p=300, gsize=6, n_active=5)
    n, p = A.shape
    groups = [np.arange(i, i + 6) for i in range(0, p, 6)]
    lam = _lam_max("ls", A, b, groups) / 20
    prob = sl.problems.group_lasso(A, b, groups, lam)
    res = prob.solve(backend="cd", tol=1e-8)
    assert res.status is Status.OPTIMAL and res.certificate.kind == "kkt+gap"
    x = res.x
    resid = b - A @ x
    P = resid @ resid / (2 * n) + lam * sum(np.sqrt(6) * np.linalg.norm(x[G]) for G in groups)
    theta = resid / n
    g = A.T @ theta
    theta *= min(1.0, min(lam * np.sqrt(6) / max(np.linalg.norm(g[G]), 1e-300) for G in groups))
    D = theta @ b - n / 2 * theta @ theta
    assert (P - D) / max(1.0, abs(P), abs(D)) <= 1e-8
    for key in ("screened", "ws_size", "outer_iterations", "epochs", "anderson_tried", "anderson_accepted"):
        assert key in res.info


def test_bounds_and_ridge_on_ungrouped_coordinates():
    """Groups + nonnegative l1 columns + l1/ridge columns: bounded singletons are never
    screened. (The bounded coordinates are a variable of their own: a bound on a slice of
    the grouped variable compiles to a box over the whole variable, which the form refuses.)"""
    A, b = _instance(11, "ls", "dense", m=80, p=40, gsize=4, n_active=3)
    groups = [np.arange(i, i + 4) for i in range(0, 24, 4)]
    xg, z, w = cp.Variable(24), cp.Variable(8), cp.Variable(8)
    lam = _lam_max("ls", A, b, groups) / 6
    obj = (cp.sum_squares(A[:, :24] @ xg + A[:, 24:32] @ z + A[:, 32:] @ w - b) / (2 * 80)
           + sum(lam * 2 * cp.norm2(xg[G]) for G in groups)
           + lam * cp.norm1(z) + lam * cp.norm1(w) + 0.1 * cp.sum_squares(w[4:]))
    cons = [z >= 0]
    objective = cp.Minimize(obj)
    prob = sl.Problem(objective, cons)
    res = prob.solve(backend="cd", tol=1e-9)
    ref = _clarabel(objective, cons)
    assert res.backend == "cd" and res.status is Status.OPTIMAL and _rel(res.objective, ref) <= TOL
    x = np.concatenate([res.value(v) if hasattr(res, "value") else v.value for v in (xg, z, w)]) \
        if res.x.size != 40 else res.x
    assert np.all(x[24:32] >= 0)
    scr = set(res.info["screened_features"].tolist())
    assert scr.isdisjoint(range(24, 32))
    assert _zero_groups(x, groups, 0.0) == _zero_groups(xg.value, groups, 1e-5)


def test_path_warm_starts_and_matches_cold_solves():
    A, b = _instance(2, "ls", "sparse", m=100, p=160, gsize=4, n_active=4)
    groups = [np.arange(i, i + 4) for i in range(0, 160, 4)]
    lmax = _lam_max("ls", A, b, groups)
    prob = sl.problems.group_lasso(A, b, groups, lmax)
    lams = lmax * np.geomspace(1, 1e-2, 8)
    path = sl.path(prob, prob.lam, lams, backend="cd", tol=1e-8)
    assert all(r.status is Status.OPTIMAL for r in path)
    for lam, r in zip(lams[[2, 7]], [path[2], path[7]]):
        prob.lam.value = lam
        cold = prob.solve(backend="cd", tol=1e-8, warm_start=False)
        assert _rel(cold.objective, r.objective) <= TOL


def test_status_is_honest_when_stopped_early():
    _, _, objective, cons = _grouped(4, "logistic", "sparse", m=200, p=400, gsize=4, n_active=6, div=50)
    prob = sl.Problem(objective, cons)
    res = prob.solve(backend="cd", tol=1e-10, max_iter=3)
    assert res.status is not Status.OPTIMAL
    assert res.certificate.value > 1e-10


def test_form_refuses_overlapping_l1_and_group():
    x = cp.Variable(8)
    A, b = np.ones((5, 8)), np.ones(5)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm1(x) + cp.norm2(x[:4])))
    assert not match(prob.compile(), "SparseGLM")


@pytest.mark.parametrize("datafit", ["ls", "logistic"])
def test_unpenalized_group_gets_the_kkt_certificate(datafit):
    """A group with weight 0 (free block): no gap, the KKT residual certifies; same
    optimum as Clarabel."""
    A, b = _instance(13, datafit, "sparse", m=120, p=40, gsize=4, n_active=3)
    groups = [np.arange(i, i + 4) for i in range(0, 40, 4)]
    lam = _lam_max(datafit, A, b, groups) / 4
    x = cp.Variable(40)
    obj = _datafit(datafit, A, b, x) + sum(lam * 2 * cp.norm2(x[G]) for G in groups[1:])
    objective = cp.Minimize(obj)
    prob = sl.Problem(objective)
    res = prob.solve(backend="cd", tol=1e-9)
    ref = _clarabel(objective)
    assert res.status is Status.OPTIMAL and res.certificate.kind == "kkt"
    assert _rel(res.objective, ref) <= TOL
    assert res.info["screened"] == 0


def test_callback_and_time_limit():
    A, b = _instance(6, "ls", "sparse", m=150, p=600, gsize=5, n_active=10)
    groups = [np.arange(i, i + 5) for i in range(0, 600, 5)]
    lam = _lam_max("ls", A, b, groups) / 100
    prob = sl.problems.group_lasso(A, b, groups, lam)
    seen = []
    res = prob.solve(backend="cd", tol=1e-12, callback=lambda rec: seen.append(rec["ws_size"]) or len(seen) >= 2)
    assert res.status is not Status.OPTIMAL and len(seen) == 2
    res = prob.solve(backend="cd", tol=1e-14, time_limit=1e-4, warm_start=False)
    assert res.status in (Status.TIME_LIMIT, Status.OPTIMAL)


@pytest.mark.parametrize("datafit", ["ls", "logistic"])
@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_vectorized_group_evaluation_matches_a_per_group_loop(datafit, storage):
    """SparseGLM.evaluate sums over groups with np.add.reduceat; written out here group by
    group: the penalty, the groups' KKT scores and the dual scaling agree."""
    A, b = _instance(21, datafit, storage, m=80, p=48)
    groups = [np.arange(i, i + 4) for i in range(0, 32, 4)]
    w = 0.05
    x = cp.Variable(48)
    obj = (_datafit(datafit, A, b, x) + sum(w * cp.norm2(x[G]) for G in groups) + 0.03 * cp.norm1(x[32:])
           + 0.02 * cp.sum_squares(x[40:]) + 1.5)
    view = match(sl.Problem(cp.Minimize(obj)).compile(), "SparseGLM")
    D = view.data()
    rng = np.random.default_rng(0)
    for _ in range(5):
        xx = np.where(rng.random(48) < 0.4, rng.standard_normal(48) * 0.3, 0.0)
        ev = view.evaluate(xx, D.matvec(xx), D)
        g = ev.grad
        pen = sum(w * np.linalg.norm(xx[G]) for G in groups)
        ungrouped = np.arange(32, 48)
        pen += 0.03 * np.abs(xx[ungrouped]).sum() + 0.02 * (xx[40:] ** 2).sum()
        assert view.penalty_value(xx) == pytest.approx(pen, rel=1e-13)
        scale = 1.0
        for G in groups:
            nx, ng = np.linalg.norm(xx[G]), np.linalg.norm(g[G])
            dist = np.linalg.norm(g[G] + w * xx[G] / nx) if nx > 0 else max(ng - w, 0.0)
            np.testing.assert_allclose(ev.kkt_scores[G], dist / 2.0, rtol=1e-12, atol=1e-15)
            if ng > w:
                scale = min(scale, w / ng)
        free = ungrouped[:8]                      # l1 only there (no ridge): they may bind too
        over = np.abs(g[free]) > 0.03
        if np.any(over):
            scale = min(scale, float(np.min(0.03 / np.abs(g[free][over]))))
        assert ev.scale == pytest.approx(scale, rel=1e-13)
