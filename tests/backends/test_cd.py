"""Coordinate-descent backend ``cd`` on the SparseGLM form.

Oracles: scikit-learn (Lasso, ElasticNet, LogisticRegression liblinear l1, PoissonRegressor), skglm (MCP,
SCAD), CVXPY + Clarabel. Objectives agree to 1e-6 (relative), supports agree, and every
certificate is rechecked here from the returned point with formulas written out anew.
"""
import warnings

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

import solvelab as sl
from solvelab.engine import choose_backend
from solvelab.errors import BackendRefusedError, InvalidDataError, NonConvexError
from solvelab.ir.certificate import certify as generic_certify
from solvelab.ir.forms import match
from solvelab.result import Status

TOL = 1e-6


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(a), abs(b))


def _support(x, thr=1e-6):
    return set(np.nonzero(np.abs(x) > thr)[0])


def _data(seed=0, m=80, p=120, density=None, noise=0.5):
    rng = np.random.default_rng(seed)
    if density is None:
        A = rng.standard_normal((m, p))
    else:
        A = sp.random(m, p, density=density, random_state=seed, format="csc",
                      data_rvs=rng.standard_normal)
    x0 = np.where(rng.random(p) < 0.1, rng.standard_normal(p) * 2, 0.0)
    b = A @ x0 + noise * rng.standard_normal(m)
    return A, b, rng


def _clarabel(objective, constraints=()):
    prob = cp.Problem(objective, list(constraints))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status == "optimal", prob.status
    return prob.value


def _lasso_gap(A, b, lam, x):
    """Duality gap of ||Ax-b||^2/(2n) + lam||x||_1 at the rescaled residual (written anew)."""
    n = A.shape[0]
    res = b - A @ x
    P = res @ res / (2 * n) + lam * np.abs(x).sum()
    theta = res / n
    theta *= min(1.0, lam / max(np.max(np.abs(A.T @ theta)), 1e-300))
    D = theta @ b - n / 2 * theta @ theta
    return (P - D) / max(1.0, abs(P), abs(D))


# --------------------------------------------------------------------------------------
# Lasso, elastic net, logistic: scikit-learn and CVXPY
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("storage", ["dense", "csc", "csr"])
@pytest.mark.parametrize("frac", [0.5, 0.1, 0.01])
def test_lasso_matches_sklearn_and_clarabel(storage, frac):
    from sklearn.linear_model import Lasso
    A, b, _ = _data(1, density=None if storage == "dense" else 0.2)
    if storage == "csr":
        A = A.tocsr()
    n, p = A.shape
    lam = frac * np.max(np.abs(A.T @ b)) / n
    x = cp.Variable(p)
    obj = cp.Minimize(cp.sum_squares(A @ x - b) / (2 * n) + lam * cp.norm1(x))
    prob = sl.Problem(obj)
    assert choose_backend(prob.compile()) == "cd"
    res = prob.solve(tol=TOL)
    assert res.backend == "cd" and res.status is Status.OPTIMAL
    assert res.certificate.kind == "kkt+gap" and res.certificate.gap <= TOL
    assert _lasso_gap(A, b, lam, res.x) <= 1.01 * TOL
    # the engine's generic KKT + gap certificate agrees, with the duals the backend returns
    assert generic_certify(prob.compile(), res.x, res.duals).value <= TOL
    ref = Lasso(alpha=lam, fit_intercept=False, tol=1e-12, max_iter=100000).fit(A, b)
    f_sk = prob.compile().objective(ref.coef_)
    assert _rel(res.objective, f_sk) <= TOL
    assert _rel(res.objective, _clarabel(obj)) <= TOL
    assert _support(res.x) == _support(ref.coef_)


def test_elastic_net_matches_sklearn():
    from sklearn.linear_model import ElasticNet
    A, b, _ = _data(2, density=0.3)
    n, p = A.shape
    lam, ratio = 0.05 * np.max(np.abs(A.T @ b)) / n, 0.7
    prob = sl.problems.elastic_net(A, b, lam, l1_ratio=ratio)
    res = prob.solve(backend="cd", tol=1e-8)
    assert res.status is Status.OPTIMAL and res.certificate.gap <= 1e-8
    ref = ElasticNet(alpha=lam, l1_ratio=ratio, fit_intercept=False, tol=1e-14, max_iter=100000).fit(A, b)
    f_sk = prob.compile().objective(ref.coef_)
    assert _rel(res.objective, f_sk) <= TOL
    assert res.objective <= f_sk + 1e-8 * max(1.0, abs(f_sk))   # within the certified gap
    assert _support(res.x) == _support(ref.coef_)


@pytest.mark.parametrize("storage", ["dense", "csc"])
def test_l1_logistic_matches_liblinear_and_clarabel(storage):
    from sklearn.linear_model import LogisticRegression
    A, b, _ = _data(3, m=150, p=60, density=None if storage == "dense" else 0.3)
    y = np.where(b > 0, 1.0, -1.0)
    n, p = A.shape
    lam = 0.05 * np.max(np.abs(A.T @ y)) / (2 * n)
    x = cp.Variable(p)
    obj = cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / n + lam * cp.norm1(x))
    prob = sl.Problem(obj)
    res = prob.solve(tol=TOL)
    assert res.backend == "cd" and res.status is Status.OPTIMAL and res.certificate.kind == "kkt+gap"
    f_cl = _clarabel(obj)
    assert _rel(res.objective, f_cl) <= TOL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegression(penalty="l1", C=1.0 / (lam * n), solver="liblinear", fit_intercept=False,
                                 tol=1e-10, max_iter=100000).fit(A, y)
    f_ll = prob.compile().objective(ref.coef_.ravel())
    assert res.objective <= f_ll + TOL * max(1.0, abs(f_ll))          # certified: never worse
    assert _rel(res.objective, f_ll) <= 1e-5                          # liblinear's own accuracy
    # the support of the certified solution: clear nonzeros agree with liblinear's
    assert _support(res.x, 1e-4) <= _support(ref.coef_.ravel(), 1e-8)


def _one_hot(seed=0, m=1500, features=22, levels=3):
    """Categorical data, one-hot coded (like mushrooms): every row has `features` ones, and
    most rows repeat once restricted to a few columns."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, levels, (m, features))
    cols = (codes + levels * np.arange(features)).ravel()
    A = sp.csc_matrix((np.ones(m * features), (np.repeat(np.arange(m), features), cols)),
                      shape=(m, features * levels))
    w = rng.standard_normal(features * levels)
    y = np.where(A @ w + 0.5 * rng.standard_normal(m) > 0, 1.0, -1.0)
    return A, y


@pytest.mark.parametrize("frac", [0.1, 0.01])
def test_logistic_newton_on_distinct_rows_matches_clarabel(frac, monkeypatch):
    """Proximal Newton builds its Hessian (and A_ws^T d, A_ws delta) from one row per group
    of identical working-set rows on one-hot data: the certified solution matches Clarabel
    and the solve without the grouping."""
    from solvelab.backends.cd import common, coordinate as cdmod
    A, y = _one_hot()
    n, p = A.shape
    view = match(sl.problems.sparse_logreg(A, y, 0.1).compile(), "SparseGLM")
    assert cdmod.dedup_applies(view.data())
    from solvelab.backends.base import SolveOptions
    names = cdmod.kernels_needed(view, view.data(), cdmod.CDBackend()._options(SolveOptions()))
    assert {"rows_of_cols", "gram_rows"} <= set(names) and "gram_csc" not in names   # (lazily, if ever)
    grouped = []
    orig = common._Data.duplicate_rows

    def spy(self, ws, scratch):
        out = orig(self, ws, scratch)
        grouped.append(None if out is None else (ws.size, out[2]))
        return out
    monkeypatch.setattr(common._Data, "duplicate_rows", spy)
    lam = frac * np.max(np.abs(A.T @ y)) / (2 * n)
    x = cp.Variable(p)
    obj = cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / n + lam * cp.norm1(x))
    res = sl.Problem(obj).solve(backend="cd", tol=TOL)
    assert res.status is Status.OPTIMAL and res.certificate.kind == "kkt+gap"
    assert any(g is not None and g[1] < n / 2 for g in grouped), grouped   # the grouping was used
    assert _rel(res.objective, _clarabel(obj)) <= TOL
    monkeypatch.setattr(cdmod, "dedup_applies", lambda D: False)
    plain = sl.Problem(obj).solve(backend="cd", tol=TOL)
    assert plain.status is Status.OPTIMAL
    assert _rel(res.objective, plain.objective) <= TOL


def test_nonnegative_least_squares_takes_face_newton_steps(monkeypatch):
    """Box-constrained least squares without l1 on correlated columns (the quick suite's
    NNLS): Newton steps on the face of the support make CD converge in far fewer sweeps,
    to scipy.optimize.nnls's solution."""
    from scipy.optimize import nnls
    from solvelab.backends.cd import coordinate as cdmod
    rng = np.random.default_rng(4)
    m, n = 300, 150
    A = np.abs(rng.standard_normal((m, n))) + 0.1 * rng.standard_normal((m, n))
    b = A @ np.maximum(rng.standard_normal(n), 0.0) + 0.3 * rng.standard_normal(m)
    x = cp.Variable(n)
    prob = sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b)), [x >= 0])
    res = prob.solve(backend="cd", tol=TOL, warm_start=False)
    assert res.status is Status.OPTIMAL
    ref, _ = nnls(A, b, maxiter=50 * n)
    f_ref = 0.5 * float(np.sum((A @ ref - b) ** 2))
    assert _rel(res.objective, f_ref) <= TOL
    assert np.all(res.x >= 0)
    monkeypatch.setattr(cdmod, "_face_newton", lambda *a: False)
    plain = sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b)), [x >= 0]).solve(backend="cd", tol=TOL)
    assert plain.status is Status.OPTIMAL and _rel(plain.objective, f_ref) <= TOL
    assert res.iterations < plain.iterations / 2, (res.iterations, plain.iterations)


def test_logistic_certificate_rechecked_by_hand():
    A, b, _ = _data(4, m=100, p=40)
    y = np.sign(b)
    n = A.shape[0]
    lam = 0.02
    prob = sl.problems.sparse_logreg(A, y, lam)
    res = prob.solve(backend="cd", tol=1e-8)
    x = res.x
    z = -y * (A @ x)
    P = np.logaddexp(0, z).sum() / n + lam * np.abs(x).sum()
    sig = 1 / (1 + np.exp(-z))                  # d/dz log(1+e^z)
    g = A.T @ (-y * sig) / n
    scale = min(1.0, lam / np.max(np.abs(g)))
    t = scale * sig
    D = -np.sum(t * np.log(t) + (1 - t) * np.log(1 - t)) / n
    rel = (P - D) / max(abs(P), abs(D))          # relative, no floor (P ~ 0.3 here)
    assert 0 <= rel <= 1e-8
    assert res.certificate.gap == pytest.approx(rel, rel=1e-6)


def test_selection_rules_and_options_agree():
    A, b, _ = _data(5, m=60, p=200, density=0.2)
    n = A.shape[0]
    lam = 0.05 * np.max(np.abs(A.T @ b)) / n
    prob = sl.problems.lasso(A, b, lam)
    ref = prob.solve(backend="cd", tol=1e-9, warm_start=False)
    variants = [dict(selection="random", seed=3), dict(selection="greedy"), dict(ws_strategy="full"),
                dict(screening=False), dict(anderson=0), dict(gram=False), dict(gram=False, selection="greedy"),
                dict(gram=False, selection="random")]
    for opts in variants:
        res = prob.solve(backend="cd", tol=1e-9, warm_start=False, **opts)
        assert res.status is Status.OPTIMAL, opts
        assert _rel(res.objective, ref.objective) <= 1e-8, opts
        assert _support(res.x) == _support(ref.x), opts
    y = np.sign(b)
    lr = sl.problems.sparse_logreg(A, y, 0.02)
    base = lr.solve(backend="cd", tol=1e-9, warm_start=False)
    for opts in [dict(selection="greedy"), dict(selection="random"), dict(gram=False), dict(gram=False, anderson=0)]:
        res = lr.solve(backend="cd", tol=1e-9, warm_start=False, **opts)
        assert res.status is Status.OPTIMAL and _rel(res.objective, base.objective) <= 1e-8, opts


def test_screening_never_removes_a_feature_of_the_solution():
    A, b, _ = _data(6, m=100, p=300, density=0.1)
    n, p = A.shape
    for frac in (0.3, 0.05):
        lam = frac * np.max(np.abs(A.T @ b)) / n
        x = cp.Variable(p)
        obj = cp.Minimize(cp.sum_squares(A @ x - b) / (2 * n) + lam * cp.norm1(x))
        cp.Problem(obj).solve(solver=cp.CLARABEL)
        res = sl.Problem(obj).solve(backend="cd", tol=1e-8)
        screened = res.info["screened_features"]
        assert res.info["screened"] > 0
        assert not (_support(x.value, 1e-5) & set(screened.tolist()))
        assert np.all(res.x[screened] == 0)


def test_bounds_ridge_weights_match_clarabel():
    A, b, rng = _data(7, m=70, p=50, density=0.4)
    n, p = A.shape
    x = cp.Variable(p)
    w = rng.random(p)
    w[:3] = 0.0   # unpenalized coordinates: KKT certificate or bounded
    cases = [
        (cp.sum_squares(A @ x - b) / (2 * n) + 0.05 * cp.norm1(x), [x >= 0]),
        (cp.sum_squares(A @ x - b) / (2 * n) + 0.05 * cp.norm1(x), [x >= -0.2, x <= 0.3]),
        (cp.sum_squares(A @ x - b) / (2 * n) + 0.02 * (w @ cp.abs(x)) + 0.1 * cp.sum_squares(x), []),
        (cp.sum_squares(A @ x - b) / (2 * n) + 0.02 * (w @ cp.abs(x)), []),
        (cp.sum(cp.huber(A @ x - b, 0.5)) / n + 0.05 * cp.norm1(x), []),
    ]
    for obj, cons in cases:
        prob = sl.Problem(cp.Minimize(obj), cons)
        res = prob.solve(backend="cd", tol=1e-8)
        assert res.status is Status.OPTIMAL, (obj, res)
        ref = _clarabel(cp.Minimize(obj), cons)
        assert _rel(res.objective, ref) <= TOL, obj
        assert res.certificate.primal_residual == 0.0
        assert generic_certify(prob.compile(), res.x, res.duals).value <= 1e-6


def test_unpenalized_intercept_variable():
    A, b, _ = _data(14, m=60, p=20)
    n = A.shape[0]
    y = np.where(b > 0, 1.0, -1.0)
    x, b0 = cp.Variable(20), cp.Variable()
    for obj in (cp.sum_squares(A @ x + b0 - b - 3) / (2 * n) + 0.05 * cp.norm1(x),
                cp.sum(cp.logistic(-cp.multiply(y, A @ x + b0))) / n + 0.02 * cp.norm1(x)):
        prob = sl.Problem(cp.Minimize(obj))
        res = prob.solve(tol=1e-8)
        assert res.backend == "cd" and res.status is Status.OPTIMAL and res.certificate.kind == "kkt"
        assert _rel(res.objective, _clarabel(cp.Minimize(obj))) <= TOL
        assert generic_certify(prob.compile(), res.x, res.duals).value <= 1e-6


def test_group_lasso_matches_clarabel():
    A, b, _ = _data(8, m=80, p=30)
    n = A.shape[0]
    groups = np.arange(30) // 5
    prob = sl.problems.group_lasso(A, b, groups, 0.1)
    res = prob.solve(tol=1e-8)
    assert res.backend == "cd" and res.status is Status.OPTIMAL and res.certificate.kind == "kkt+gap"
    x = cp.Variable(30)
    obj = cp.sum_squares(A @ x - b) / (2 * n) + 0.1 * sum(np.sqrt(5) * cp.norm2(x[groups == g]) for g in range(6))
    assert _rel(res.objective, _clarabel(cp.Minimize(obj))) <= TOL
    zero_groups = [g for g in range(6) if np.linalg.norm(res.x[groups == g]) == 0]
    assert 0 < len(zero_groups) < 6


def _normalized(seed):
    A, b, _ = _data(seed, m=100, p=40)
    A = A / np.linalg.norm(A, axis=0) * np.sqrt(A.shape[0])
    return A, b


def test_mcp_matches_skglm():
    from skglm import MCPRegression
    A, b = _normalized(9)
    lam = 0.1
    prob = sl.problems.mcp_regression(A, b, lam, gamma=3.0)
    res = prob.solve(backend="cd", tol=1e-9)
    assert res.status is Status.OPTIMAL and res.certificate.kind == "kkt"
    ref = MCPRegression(alpha=lam, gamma=3.0, fit_intercept=False, tol=1e-12, max_iter=1000,
                        max_epochs=100000).fit(A, b)
    assert _rel(res.objective, prob.compile().objective(ref.coef_)) <= TOL
    assert _support(res.x) == _support(ref.coef_)
    with pytest.raises(BackendRefusedError):
        prob.solve(backend="cvxpy")    # CVXPY cannot say MCP: the model has no CVXPY source


def test_scad_matches_skglm():
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Quadratic
    from skglm.penalties import SCAD
    from skglm.solvers import AndersonCD
    A, b = _normalized(10)
    lam = 0.1
    res = sl.problems.scad(A, b, lam, a=3.7).solve(backend="cd", tol=1e-9)
    assert res.status is Status.OPTIMAL
    est = GeneralizedLinearEstimator(Quadratic(), SCAD(lam, 3.7),
                                     AndersonCD(tol=1e-12, max_iter=1000, fit_intercept=False)).fit(A, b)
    prob = sl.problems.scad(A, b, lam, a=3.7)
    assert _rel(res.objective, prob.compile().objective(est.coef_)) <= TOL
    assert _support(res.x) == _support(est.coef_)


# --------------------------------------------------------------------------------------
# dispatch, options, statuses
# --------------------------------------------------------------------------------------

def test_dispatch_and_refusals():
    A, b, _ = _data(11, m=30, p=10)
    for ctor in (sl.problems.sqrt_lasso, sl.problems.lad_lasso):
        prob = ctor(A, b, 0.1)
        assert choose_backend(prob.compile()) != "cd"
        with pytest.raises(BackendRefusedError, match="SparseGLM"):
            prob.solve(backend="cd")
    x = cp.Variable(10)
    prob = sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) + cp.norm_inf(x)))
    assert not match(prob.compile(), "SparseGLM")


def test_options_statuses_callback_verbose(capsys):
    A, b, _ = _data(12, m=100, p=300, density=0.1)
    n = A.shape[0]
    prob = sl.problems.lasso(A, b, 0.001 * np.max(np.abs(A.T @ b)) / n)
    res = prob.solve(backend="cd", max_iter=2, warm_start=False)
    assert res.status is Status.MAX_ITER and res.certificate.value > TOL
    seen = []
    res = prob.solve(backend="cd", warm_start=False, callback=lambda info: seen.append(info["certificate"]) or len(seen) >= 2)
    assert len(seen) == 2 and res.status is not Status.OPTIMAL
    res = prob.solve(backend="cd", verbose=True, warm_start=False)
    out = capsys.readouterr().out
    assert "cd:" in out and "gap" in out and res.status is Status.OPTIMAL
    assert res.info["jit_time"] >= 0 and res.timings["setup"] >= 0
    warm = prob.solve(backend="cd")
    assert warm.info["warm_start"] and warm.iterations <= res.iterations
    big = sl.problems.lasso(np.random.default_rng(0).standard_normal((400, 3000)), np.ones(400), 1e-5)
    res = big.solve(backend="cd", tol=1e-14, time_limit=0.05, warm_start=False)
    assert res.status is Status.TIME_LIMIT and res.timings["solve"] < 2.0
    with pytest.raises(InvalidDataError, match="selection"):
        prob.solve(backend="cd", selection="bogus")
    with pytest.raises(InvalidDataError, match="does not know"):
        prob.solve(backend="cd", nonsense=1)


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------

def test_bad_input_is_named_or_solved_right():
    A, b, _ = _data(13, m=40, p=20)
    n, p = A.shape
    x = cp.Variable(p)
    with pytest.raises(NonConvexError):
        sl.Problem(cp.Minimize(cp.sum_squares(A @ x - b) - 0.1 * cp.norm1(x))).solve(backend="cd")
    with pytest.raises(InvalidDataError, match="lam"):
        sl.problems.lasso(A, b, -1.0)
    bad = A.copy()
    bad[3, 4] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        sl.problems.lasso(bad, b, 0.1)
    with pytest.raises((InvalidDataError, ValueError), match="NaN|nan"):
        sl.Problem(cp.Minimize(cp.sum_squares(bad @ x - b) + cp.norm1(x))).solve(backend="cd")
    with pytest.raises(InvalidDataError, match="-1 or \\+1"):
        sl.problems.sparse_logreg(A, np.where(b > 0, 1.0, 0.0), 0.1)
    # a logistic declared in CVXPY with labels 2/-3 is still a convex model: solved right
    y = np.where(b > 0, 2.0, -3.0)
    obj = cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / n + 0.05 * cp.norm1(x))
    res = sl.Problem(obj).solve(backend="cd", tol=1e-8)
    assert res.status is Status.OPTIMAL and _rel(res.objective, _clarabel(obj)) <= TOL
    # empty columns: their coefficients are 0 and the rest is the Lasso of the other columns
    Ae = A.copy()
    Ae[:, [2, 7]] = 0.0
    res = sl.problems.lasso(sp.csc_matrix(Ae), b, 0.05).solve(backend="cd")
    assert res.status is Status.OPTIMAL and res.x[2] == 0 and res.x[7] == 0
    # all-zero data: x = 0 is optimal, certified
    res = sl.problems.lasso(np.zeros((10, 5)), np.ones(10), 0.1).solve(backend="cd")
    assert res.status is Status.OPTIMAL and np.all(res.x == 0) and res.certificate.gap <= TOL
    # lam = 0 with an unpenalized free variable: still solved (KKT certificate)
    res = sl.problems.lasso(A, b, 0.0).solve(backend="cd", tol=1e-8)
    ls = np.linalg.lstsq(A, b, rcond=None)[0]
    assert res.status is Status.OPTIMAL and np.allclose(res.x, ls, atol=1e-5)


# --------------------------------------------------------------------------------------
# real data (LIBSVM)
# --------------------------------------------------------------------------------------

def _libsvm(name):
    from solvelab.bench.data import DataNotFoundError, load_libsvm
    try:
        return load_libsvm(name)
    except DataNotFoundError as exc:
        pytest.skip(f"LIBSVM data {name!r} not available (set SOLVELAB_DATA or provide ../shared/data): {exc}")


def test_housing_lasso_matches_sklearn_and_clarabel():
    from sklearn.linear_model import Lasso
    X, y = _libsvm("housing_scale")
    X = X.tocsc()
    n, p = X.shape
    lam = np.max(np.abs(X.T @ y)) / n / 100
    x = cp.Variable(p)
    obj = cp.Minimize(cp.sum_squares(X @ x - y) / (2 * n) + lam * cp.norm1(x))
    res = sl.Problem(obj).solve(backend="cd", tol=1e-9)
    assert res.status is Status.OPTIMAL
    ref = Lasso(alpha=lam, fit_intercept=False, tol=1e-14, max_iter=1000000).fit(X, y)
    assert _rel(res.objective, _clarabel(obj)) <= TOL
    assert _support(res.x) == _support(ref.coef_)


def test_a9a_lasso_and_logreg():
    from sklearn.linear_model import Lasso
    X, y = _libsvm("a9a")
    X = X.tocsc()
    n, p = X.shape
    lam = np.max(np.abs(X.T @ y)) / n / 20
    prob = sl.problems.lasso(X, y, lam)
    res = prob.solve(tol=TOL)
    assert res.backend == "cd" and res.status is Status.OPTIMAL
    assert _lasso_gap(X, y, lam, res.x) <= 1.01 * TOL
    ref = Lasso(alpha=lam, fit_intercept=False, tol=1e-10, max_iter=100000).fit(X, y)
    assert _rel(res.objective, prob.compile().objective(ref.coef_)) <= TOL
    lr = sl.problems.sparse_logreg(X, y, np.max(np.abs(X.T @ y)) / (2 * n) / 20)
    res = lr.solve(tol=TOL)
    assert res.backend == "cd" and res.status is Status.OPTIMAL and res.certificate.gap <= TOL


@pytest.mark.parametrize("kind", ["one-hot logistic", "csc logistic", "csc lasso"])
def test_a_solve_compiles_nothing_beyond_its_precompiled_kernels(kind):
    """kernels_needed + the tiny calls compile exactly the signatures a solve uses: a
    mismatch (e.g. int64 vs SciPy's int32 index arrays) would compile again inside the
    first solve, outside the reported JIT time (seen: gram_rows, 0.17 s)."""
    import numba
    from solvelab.backends.cd import coordinate as cdmod
    from solvelab.backends.base import SolveOptions
    from solvelab.kernels import cd as K
    if kind == "one-hot logistic":
        A, y = _one_hot(1)
        prob = sl.problems.sparse_logreg(A, y, 0.01 * np.max(np.abs(A.T @ y)) / (2 * A.shape[0]))
    else:
        A, b, _ = _data(2, m=200, p=60, density=0.2)
        prob = (sl.problems.sparse_logreg(A, np.sign(b), 0.002) if kind == "csc logistic"
                else sl.problems.lasso(A, b, 0.01))
    view = match(prob.compile(), "SparseGLM")
    cdmod.compile_kernels(cdmod.kernels_needed(view, view.data(), cdmod.CDBackend()._options(SolveOptions())))

    def signatures():
        return {n: len(f.signatures) for n, f in vars(K).items() if isinstance(f, numba.core.registry.CPUDispatcher)}
    before = signatures()
    res = prob.solve(backend="cd", tol=TOL)
    assert res.status is Status.OPTIMAL
    grown = {n: (before[n], c) for n, c in signatures().items() if c != before[n]}
    lazy = {"gram_csc"} if kind == "one-hot logistic" else set()   # the grouping's fallback, by design
    assert set(grown) <= lazy, grown


def test_numpy_logistic_pass_equals_the_kernel():
    """The blocked NumPy logistic pass (value, derivative, curvature at u + t du) equals the
    compiled datafit_all, across blocks, at huge |z| (no overflow) and with offsets."""
    from solvelab.backends.cd import common as cdmod
    from solvelab.kernels import cd as K
    rng = np.random.default_rng(5)
    m = 2 * cdmod.LOGISTIC_BLOCK + 17
    u, du = 4 * rng.standard_normal(m), rng.standard_normal(m)
    u[:5] = [800.0, -800.0, 0.0, 40.0, -40.0]
    s = np.where(rng.random(m) < 0.5, -1.0, 2.0)
    for b in (np.zeros(m), 0.3 * rng.standard_normal(m)):
        for t in (0.0, 0.25, 1.0):
            d1, h1, d2, h2 = (np.empty(m) for _ in range(4))
            v1 = K.datafit_all(u, du, t, s, b, 1.0 / m, 1, 0.0, d1, h1)
            v2 = cdmod._logistic_all(u, du, t, s, b, 1.0 / m, d2, h2)
            assert np.isfinite(v2) and v2 == pytest.approx(v1, rel=1e-13)
            np.testing.assert_allclose(d2, d1, rtol=1e-13, atol=0)
            np.testing.assert_allclose(h2, h1, rtol=1e-12, atol=1e-300)


def test_only_the_kernels_a_problem_needs_are_compiled():
    """Lazy compilation: a CSC Lasso with few columns needs neither the dense kernels, nor
    the column sweeps, nor the logistic / block ones; logistic adds the Newton kernels."""
    from solvelab.backends.cd import common, coordinate as cdmod
    A, b, _ = _data(1, m=50, p=30, density=0.3)
    from solvelab.backends.base import SolveOptions
    opt = cdmod.CDBackend()._options(SolveOptions())
    view = match(sl.problems.lasso(A, b, 0.1).compile(), "SparseGLM")
    names = cdmod.kernels_needed(view, view.data(), opt)
    assert set(names) == {"col_sqnorms_csc", "grad_cols_csc", "add_cols_csc", "cd_gram_solve", "glm_eval", "gram_csc"}
    lview = match(sl.problems.sparse_logreg(A, np.sign(b), 0.01).compile(), "SparseGLM")
    lnames = cdmod.kernels_needed(lview, lview.data(), opt)
    assert {"gram_csc", "cd_gram_solve", "glm_eval"} <= set(lnames)
    assert "datafit_all" not in lnames           # the logistic pass is NumPy (_logistic_all)
    assert not any("dense" in k or "bcd" in k or k == "cd_epochs_csc" for k in lnames)
    x = cp.Variable(30)
    hprob = sl.Problem(cp.Minimize(cp.sum(cp.huber(A @ x - b, 1.0)) / 50 + 0.1 * cp.norm1(x)))
    hview = match(hprob.compile(), "SparseGLM")
    assert "datafit_all" in cdmod.kernels_needed(hview, hview.data(), opt)
    big = dict(opt, gram_max=10)
    assert "cd_epochs_csc" in cdmod.kernels_needed(view, view.data(), big)
    assert common.compile_kernels(names) >= 0.0 and set(names) <= common._COMPILED


# --------------------------------------------------------------------------------------
# squared hinge and Poisson, declared in plain CVXPY
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("storage", ["dense", "csc"])
@pytest.mark.parametrize("spelling", ["sum_squares", "square"])
def test_squared_hinge_matches_clarabel_and_admm(storage, spelling):
    A, b, _ = _data(21, m=120, p=40, density=None if storage == "dense" else 0.3)
    y = np.where(b > 0, 1.0, -1.0)
    n, p = A.shape
    x = cp.Variable(p)
    margin = cp.pos(1 - cp.multiply(y, A @ x))
    loss = cp.sum_squares(margin) if spelling == "sum_squares" else cp.sum(cp.square(margin))
    obj = cp.Minimize(loss / n + 0.02 * cp.norm1(x))
    prob = sl.Problem(obj)
    view = match(prob.compile(), "SparseGLM")
    assert view and view.datafit_name == "squared hinge"
    assert choose_backend(prob.compile()) == "cd"
    res = prob.solve(backend="cd", tol=1e-8)
    assert res.status is Status.OPTIMAL and res.certificate.kind == "kkt+gap" and res.certificate.gap <= 1e-8
    f_cl = _clarabel(obj)
    assert _rel(res.objective, f_cl) <= TOL
    # the gap rechecked by hand: nu = scale * phi'(z), phi*(v) = v^2/4 on v >= 0
    xs = res.x
    z = 1 - y * (A @ xs)
    P = np.sum(np.maximum(z, 0) ** 2) / n + 0.02 * np.abs(xs).sum()
    v = 2 * np.maximum(z, 0)                          # phi'(z)
    g = A.T @ (-y * v) / n
    scale = min(1.0, 0.02 / np.max(np.abs(g)))
    t = scale * v
    D = np.sum(t) / n - np.sum(t * t / 4) / n          # -sum h*(nu) with h(u) = phi(1 - y u)/n
    assert (P - D) / max(1, abs(P), abs(D)) <= 1e-8
    ra = prob.solve(backend="admm", tol=1e-8)
    assert _rel(ra.objective, f_cl) <= TOL


def _poisson_data(seed, m=150, p=30, density=None, scale=0.3):
    rng = np.random.default_rng(seed)
    if density is None:
        A = scale * rng.standard_normal((m, p))
    else:
        A = sp.random(m, p, density=density, random_state=seed, format="csc", data_rvs=rng.standard_normal) * scale
        A = A.tocsc()
    x0 = np.where(rng.random(p) < 0.3, rng.standard_normal(p), 0.0)
    y = rng.poisson(np.exp(A @ x0)).astype(float)
    return A, y


@pytest.mark.parametrize("storage", ["dense", "csc"])
@pytest.mark.parametrize("frac", [0.3, 0.03])
def test_poisson_matches_clarabel_and_admm(storage, frac):
    A, y = _poisson_data(22, density=None if storage == "dense" else 0.3)
    n, p = A.shape
    lam = frac * np.max(np.abs(A.T @ (1 - y))) / n               # lam_max = ||A^T (e^0 - y)||_inf / n
    x = cp.Variable(p)
    obj = cp.Minimize(cp.sum(cp.exp(A @ x) - cp.multiply(y, A @ x)) / n + lam * cp.norm1(x))
    prob = sl.Problem(obj)
    prog = prob.compile()
    view = match(prog, "SparseGLM")
    assert view and view.datafit_name == "poisson"
    assert abs(view.lambda_max() - 1 / frac) <= 1e-9 / frac       # a multiple of the l1 weights
    assert choose_backend(prog) == "cd"
    res = prob.solve(backend="cd", tol=1e-8)
    assert res.status is Status.OPTIMAL and res.certificate.kind == "kkt+gap" and res.certificate.gap <= 1e-8
    f_cl = _clarabel(obj)
    assert _rel(res.objective, f_cl) <= TOL
    assert res.objective <= f_cl + 1e-8 * max(1.0, abs(f_cl))
    # generic recheck from the returned duals, and the gap written out anew:
    # h_i(u) = (e^u - y u)/n, h_i*(v) = (w log w - w)/n with w = n v + y >= 0
    gen = generic_certify(prog, res.x, res.duals)
    assert gen.subgradient_residual <= 1e-6 and gen.dual_residual <= 1e-6
    xs = res.x
    u = A @ xs
    P = np.sum(np.exp(u) - y * u) / n + lam * np.abs(xs).sum()
    d = (np.exp(u) - y) / n
    scale = min(1.0, lam / np.max(np.abs(A.T @ d)))
    w = n * scale * d + y
    assert np.all(w >= 0)
    D = -np.sum(w * np.log(np.where(w > 0, w, 1.0)) - w) / n
    assert (P - D) / max(1, abs(P), abs(D)) <= 1e-8
    ra = prob.solve(backend="admm", tol=1e-8)
    assert _rel(ra.objective, f_cl) <= TOL
    # the constructor says the same problem
    pc = sl.problems.poisson_regression(A, y, lam)
    rc = pc.solve(tol=1e-8)
    assert rc.backend == "cd" and _rel(rc.objective, f_cl) <= TOL


@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_poisson_matches_sklearn_poisson_regressor(l2):
    from sklearn.linear_model import PoissonRegressor
    A, y = _poisson_data(23, m=300, p=12)
    prob = sl.problems.poisson_regression(A, y, 0.0, l2=l2)
    res = prob.solve(backend="cd", tol=1e-10)
    assert res.status is Status.OPTIMAL
    # no l1 weight on free coordinates: a KKT certificate without l2, the gap with it
    assert res.certificate.kind == ("kkt+gap" if l2 > 0 else "kkt")
    ref = PoissonRegressor(alpha=l2, fit_intercept=False, tol=1e-12, max_iter=10000).fit(A, y)
    f_sk = prob.compile().objective(ref.coef_)
    assert _rel(res.objective, f_sk) <= 1e-9
    assert np.allclose(res.x, ref.coef_, atol=1e-5)


def test_poisson_bad_input_and_refusals():
    A, y = _poisson_data(24, m=60, p=8)
    with pytest.raises(InvalidDataError, match="counts y must be >= 0"):
        sl.problems.poisson_regression(A, y - 2.0, 0.1)
    with pytest.raises(InvalidDataError, match="lam"):
        sl.problems.poisson_regression(A, y, -1.0)
    with pytest.raises(InvalidDataError, match="l2"):
        sl.problems.poisson_regression(A, y, 0.1, l2=-1.0)
    n, p = A.shape
    x = cp.Variable(p)
    # fista needs a global Lipschitz constant, which exp has not: refused with the reason
    prob = sl.problems.poisson_regression(A, y, 0.01)
    with pytest.raises(BackendRefusedError, match="Lipschitz"):
        prob.solve(backend="fista")
    # a linear term on another matrix is not the Poisson datafit: cd refuses, admm solves
    B = A[::-1].copy()
    obj = cp.Minimize(cp.sum(cp.exp(A @ x) - cp.multiply(y, B @ x)) / n + 0.05 * cp.norm1(x))
    other = sl.Problem(obj)
    refusal = match(other.compile(), "SparseGLM")
    assert not refusal and "same A x" in refusal.reason
    res = other.solve(tol=1e-7)
    assert res.backend != "cd" and _rel(res.objective, _clarabel(obj)) <= 1e-5
    # group penalties with exp: no block Lipschitz constant
    grp = sl.Problem(cp.Minimize(cp.sum(cp.exp(A @ x) - cp.multiply(y, A @ x)) / n + cp.norm2(x[:3])
                                 + cp.norm2(x[3:])))
    refusal = match(grp.compile(), "SparseGLM")
    assert not refusal and "Poisson" in refusal.reason
    # kernels: proximal Newton only, never the fixed-step column sweeps
    from solvelab.backends.cd import coordinate as cdmod
    from solvelab.backends.base import SolveOptions
    opt = cdmod.CDBackend()._options(SolveOptions())
    view = match(prob.compile(), "SparseGLM")
    names = cdmod.kernels_needed(view, view.data(), dict(opt, gram=False))
    assert "datafit_all" in names and not any(k.startswith("cd_epochs") for k in names)
    # with gram=False and a tiny gram_max the solve still runs proximal Newton, certified
    res = prob.solve(backend="cd", tol=1e-8, gram=False, gram_max=2)
    assert res.status is Status.OPTIMAL


def test_poisson_kernel_scalars_and_path():
    """dkind 4 (exp): derivative by central differences, Fenchel-Young equality; a warm
    started path over lam is certified at every value and its l1 norm grows."""
    from solvelab.kernels import cd as K
    for z in (-2.3, -0.5, 0.1, 0.69, 1.8):
        h = 1e-6
        fd = (K.phi_value(4, z + h, 0.0) - K.phi_value(4, z - h, 0.0)) / (2 * h)
        d = K.phi_deriv(4, z, 0.0)
        assert abs(fd - d) < 1e-5 * max(1.0, d)
        assert abs(K.phi_value(4, z, 0.0) + K.phi_conj(4, d, 0.0) - z * d) < 1e-8
    assert K.phi_conj(4, -0.1, 0.0) == np.inf and K.phi_value(4, 800.0, 0.0) == np.inf
    A, y = _poisson_data(25, m=120, p=20, density=0.4)
    prob = sl.problems.poisson_regression(A, y, 1.0)
    lmax = match(prob.compile(), "SparseGLM").lambda_max()      # multiple of the current lam = 1
    path = sl.path(prob, prob.lam, lmax * np.geomspace(1, 1e-2, 8), backend="cd", tol=1e-8)
    assert all(r.status is Status.OPTIMAL for r in path)
    norms = [np.abs(r.x).sum() for r in path]
    assert norms[0] <= 1e-12 and all(b >= a - 1e-9 for a, b in zip(norms, norms[1:]))


def _fused_cases():
    A, b, rng = _data(7, m=60, p=25)
    As = sp.csc_matrix(np.where(np.abs(A) > 0.8, A, 0.0))
    y = np.sign(b)
    x = cp.Variable(25)
    cases = {
        "lasso dense": sl.problems.lasso(A, b, 0.05),
        "lasso csc": sl.problems.lasso(As, b, 0.05),
        "enet": sl.problems.elastic_net(A, b, 0.05, l1_ratio=0.5),
        "logreg csc": sl.problems.sparse_logreg(As, y, 0.01),
        "mcp": sl.problems.mcp_regression(A, b, 0.05),
        "huber+nonneg": sl.Problem(cp.Minimize(cp.sum(cp.huber(A @ x - b, 1.0)) / 60 + 0.1 * cp.norm1(x)),
                                   [x >= 0]),
        "sq hinge+box": sl.Problem(cp.Minimize(cp.sum_squares(cp.pos(1 - cp.multiply(y, A @ x))) / 60
                                               + 0.1 * cp.norm1(x)), [x <= 0.3]),
    }
    return cases, rng


@pytest.mark.parametrize("name", ["lasso dense", "lasso csc", "enet", "logreg csc", "mcp", "huber+nonneg",
                                  "sq hinge+box"])
def test_compiled_outer_check_equals_the_numpy_evaluation(name):
    """The backend's one-pass compiled evaluation (objective, gradient, KKT scores, gap at
    the rescaled dual point) gives what SparseGLM.evaluate (the engine's certificate) gives."""
    from solvelab.backends.cd import common as cdmod
    cases, rng = _fused_cases()
    view = match(cases[name].compile(), "SparseGLM")
    assert view, view.reason
    D = view.data()
    KD = cdmod._Data(D)
    KD.prepare(view)
    cdmod.compile_kernels(["glm_eval"])
    for trial in range(3):
        xx = np.where(rng.random(view.n) < 0.4, 0.3 * rng.standard_normal(view.n), 0.0)
        xx = np.clip(xx, view.lo, view.hi)
        u = D.matvec(xx)
        ref = view.evaluate(xx, u, D)
        got = KD.evaluate(view, xx, u)
        assert KD.fused
        assert got.primal == pytest.approx(ref.primal, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(got.grad, ref.grad, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.kkt_scores, ref.kkt_scores, rtol=1e-12, atol=1e-14)
        assert got.kkt == pytest.approx(ref.kkt, rel=1e-12, abs=1e-15)
        assert (got.rel_gap is None) == (ref.rel_gap is None)
        if ref.rel_gap is not None:
            assert got.dual == pytest.approx(ref.dual, rel=1e-10, abs=1e-13)
            assert got.rel_gap == pytest.approx(ref.rel_gap, rel=1e-8, abs=1e-13)
            assert got.scale == pytest.approx(ref.scale, rel=1e-12)


@pytest.mark.parametrize("name", ["lasso dense", "lasso csc", "enet", "logreg csc", "mcp", "huber+nonneg",
                                  "sq hinge+box", "group", "maximize"])
def test_certificate_objective_equals_the_program_objective(name):
    """The SparseGLM certificate hands the engine the objective it computed from x (so the
    engine need not pass over the data again): it must be the program's own objective."""
    cases, rng = _fused_cases()
    A, b, _ = _data(7, m=60, p=25)
    x = cp.Variable(25)
    cases["group"] = sl.problems.group_lasso(A, b, [list(range(i, i + 5)) for i in range(0, 25, 5)], 0.05)
    cases["maximize"] = sl.Problem(cp.Maximize(-cp.sum_squares(A @ x - b) / 120 - 0.05 * cp.norm1(x) + 3.0))
    prob = cases[name]
    program = prob.compile()
    view = match(program, "SparseGLM")
    assert view, view.reason
    for trial in range(3):
        xx = np.clip(np.where(rng.random(view.n) < 0.4, 0.3 * rng.standard_normal(view.n), 0.0), view.lo, view.hi)
        cert = view.certify(xx)
        assert program.sign * cert.primal_objective == pytest.approx(program.user_objective(xx), rel=1e-12,
                                                                     abs=1e-13)
    res = prob.solve(backend="cd", tol=TOL)
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(program.user_objective(res.x), rel=1e-12, abs=1e-13)


def test_duals_are_computed_on_first_access_and_match_the_form():
    A, b, _ = _data(8, m=40, p=30)
    prob = sl.problems.lasso(A, b, 0.05)
    res = prob.solve(backend="cd", tol=TOL)
    assert res.status is Status.OPTIMAL
    view = match(prob.compile(), "SparseGLM")
    expected = view.duals(res.x)
    got = res.duals
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    assert res.duals is got                     # computed once


def test_huber_newton_does_not_stall_on_the_flat_side_of_the_kink():
    """Huber has zero curvature outside its quadratic zone; without a curvature floor the
    proximal-Newton model ran off along flat columns and the line search accepted steps
    of 1e-8 (838 sweeps, or 3831 without Anderson, on this instance instead of ~200)."""
    from solvelab.bench.suite import get_suite
    inst = {i.name: i for i in get_suite("quick").instances()}["huber-1000x200"]
    data = inst.data()
    for anderson in (5, 0):
        res = inst.make_problem(data).solve(backend="cd", tol=1e-6, anderson=anderson)
        assert res.status is Status.OPTIMAL
        assert res.iterations < 500, res.iterations


def test_small_gram_max_does_not_stall_a_logistic_solve():
    """With the support as large as gram_max, the working set used to be the support alone
    (no violated coordinate could enter): 'max_iter, stalled'. Now it grows past the cap."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((100, 40))
    y = np.sign(A @ np.where(rng.random(40) < 0.3, 1.0, 0) + 0.3 * rng.standard_normal(100))
    x = cp.Variable(40)
    prob = sl.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / 100 + 0.01 * cp.norm1(x)))
    ref = prob.solve(backend="cd", tol=1e-8, warm_start=False)
    res = prob.solve(backend="cd", gram_max=4, tol=1e-8, warm_start=False)
    assert ref.status is Status.OPTIMAL and res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(ref.objective, rel=1e-7)


def test_dense_solves_run_with_one_blas_thread():
    """cd limits BLAS to one thread on dense data (small Gram / Hessian products, which
    multi-threaded OpenBLAS turned into waits on a busy machine) and restores it after."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        pytest.skip("no BLAS library visible to threadpoolctl")
    A, b, _ = _data(9, m=60, p=30)
    y = np.sign(b)
    seen = []

    def cb(info):
        seen.append(max(i["num_threads"] for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"))
        return False

    res = sl.problems.sparse_logreg(A, y, 0.01).solve(backend="cd", callback=cb)
    assert res.status is Status.OPTIMAL and seen and set(seen) == {1}
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    assert after == [i["num_threads"] for i in blas]


def test_densified_gram_equals_the_sparse_kernel():
    """_Data._gram_densified (one dense copy, one BLAS product) gives gram_csc's matrix for
    all columns or a subset in any order, with and without weights."""
    import scipy.sparse as sp
    from solvelab.backends.cd.common import _Data
    from solvelab.families.glm.data import GLMData
    from solvelab.kernels import cd as K
    rng = np.random.default_rng(5)
    m, p = 301, 7
    A = np.where(rng.random((m, p)) < 0.7, rng.standard_normal((m, p)), 0.0)
    A[:, 3] = 0.0
    S = sp.csc_matrix(A)
    S.sort_indices()
    b = rng.standard_normal(m)
    KD = _Data(GLMData(None, S, np.ones(m), b, m, p))
    w2 = rng.uniform(0.0, 2.0, m)
    for cols in (np.arange(p, dtype=np.int64), np.array([5, 3, 0], dtype=np.int64)):
        for weights in (np.ones(m), w2):
            ref = K.gram_csc(S.data, S.indices, S.indptr, cols, weights, m)
            np.testing.assert_allclose(KD._gram_densified(cols, weights), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(KD._gram_densified(cols, np.ones(m)), A[:, cols].T @ A[:, cols],
                                   rtol=1e-12, atol=1e-12)


def test_cold_gram_solve_keeps_the_certificate_of_a_fresh_view():
    """A cold cd solve on dense-enough CSC data (the Gram matrix densified, the origin's
    scale noted at the first check) reports the certificate that a
    view built afresh recomputes from the returned point."""
    import scipy.sparse as sp
    import solvelab as sl
    from solvelab.backends import registry
    rng = np.random.default_rng(6)
    m, p = 4000, 12
    A = sp.csc_matrix(np.where(rng.random((m, p)) < 0.6, rng.standard_normal((m, p)), 0.0))
    y = A @ rng.standard_normal(p) + 0.1 * rng.standard_normal(m)
    for scale in (1e-6, 1.0, 1e6):
        prob = sl.problems.lasso(A * scale, y * scale, 0.01 * scale * scale)
        res = prob.solve(backend="cd", tol=1e-8)
        assert res.status == "optimal"
        fresh = sl.problems.lasso(A * scale, y * scale, 0.01 * scale * scale).compile()
        cert = registry.view_for(registry.get("cd"), fresh).certify(res.x)
        assert cert.value <= 1e-8
        assert cert.value == pytest.approx(res.certificate.value, rel=1e-6, abs=1e-14)
