"""solvelab.sklearn: equal to scikit-learn / skglm / CVXPY+Clarabel on the same data,
warm starts without recompiling, GridSearchCV, check_estimator, bad inputs."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

sklearn = pytest.importorskip("sklearn")
from sklearn import linear_model as lm  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import solvelab.sklearn as ss  # noqa: E402
from solvelab.errors import MissingDependencyError  # noqa: E402

TIGHT = 1e-12


@pytest.fixture(scope="module")
def reg():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 25))
    y = X[:, :4] @ [1.0, -2.0, 3.0, 0.5] + 0.5 * rng.standard_normal(120) + 5.0
    return X, y, rng.uniform(0.2, 3.0, 120)


def _close(a, b, rtol=1e-6):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.abs(a - b).max() <= rtol * max(1.0, np.abs(b).max()), np.abs(a - b).max()


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_lasso_enet_equal_sklearn(reg, fit_intercept, weighted, sparse):
    X, y, sw = reg
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.8, X, 0.0)) if sparse else X
    kw = {"sample_weight": sw} if weighted else {}
    for ours, theirs in [(ss.Lasso(alpha=0.05), lm.Lasso(alpha=0.05)),
                         (ss.ElasticNet(alpha=0.1, l1_ratio=0.3), lm.ElasticNet(alpha=0.1, l1_ratio=0.3))]:
        ours.set_params(tol=TIGHT, fit_intercept=fit_intercept).fit(Xs, y, **kw)
        theirs.set_params(tol=TIGHT, max_iter=100_000, fit_intercept=fit_intercept).fit(Xs, y, **kw)
        assert ours.status_ == "optimal" and ours.result_.optimal
        _close(ours.coef_, theirs.coef_)
        _close(ours.intercept_, theirs.intercept_)
        _close(ours.predict(Xs), theirs.predict(Xs))
        assert ours.score(Xs, y) == pytest.approx(theirs.score(Xs, y), rel=1e-8)


def test_positive_lasso(reg):
    X, y, _ = reg
    a = ss.Lasso(alpha=0.05, positive=True, tol=TIGHT).fit(X, y)
    b = lm.Lasso(alpha=0.05, positive=True, tol=TIGHT, max_iter=100_000).fit(X, y)
    assert np.all(a.coef_ >= 0)
    _close(a.coef_, b.coef_)


def _cvx_logreg(X, y01, C, l1_ratio=1.0, sw=None):
    cp = pytest.importorskip("cvxpy")
    ys = 2.0 * y01 - 1.0
    w, c = cp.Variable(X.shape[1]), cp.Variable()
    loss = cp.logistic(-cp.multiply(ys, X @ w + c))
    loss = cp.sum(loss) if sw is None else cp.sum(cp.multiply(sw, loss))
    obj = C * loss + l1_ratio * cp.norm1(w) + (1 - l1_ratio) / 2 * cp.sum_squares(w)
    cp.Problem(cp.Minimize(obj)).solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    return w.value, c.value


@pytest.mark.parametrize("penalty,l1_ratio", [("l1", None), ("elasticnet", 0.4)])
def test_logreg_equal_clarabel(reg, penalty, l1_ratio):
    X, y, sw = reg
    y01 = (y > np.median(y)).astype(int)
    est = ss.LogisticRegression(penalty=penalty, C=0.1, l1_ratio=l1_ratio, tol=TIGHT).fit(X, y01)
    w, c = _cvx_logreg(X, y01, 0.1, 1.0 if l1_ratio is None else l1_ratio)
    assert est.status_ == "optimal"
    _close(est.coef_.ravel(), w, 1e-6)
    _close(est.intercept_, c, 1e-6)
    assert est.coef_.shape == (1, X.shape[1]) and list(est.classes_) == [0, 1]
    # sample weights: the weighted datafit goes to fista (see the module doc)
    est.set_params(tol=1e-10).fit(X, y01, sample_weight=sw)
    w, c = _cvx_logreg(X, y01, 0.1, 1.0 if l1_ratio is None else l1_ratio, sw)
    assert est.result_.backend == "fista" and est.status_ == "optimal"
    _close(est.coef_.ravel(), w, 1e-5)


def test_logreg_equal_liblinear_l1_no_intercept(reg):
    X, y, _ = reg
    y01 = (y > np.median(y)).astype(int)
    a = ss.LogisticRegression(C=0.05, fit_intercept=False, tol=TIGHT).fit(X, y01)
    b = lm.LogisticRegression(l1_ratio=1.0, solver="liblinear", C=0.05, fit_intercept=False,
                              tol=1e-10, max_iter=100_000).fit(X, y01)
    _close(a.coef_, b.coef_, 1e-5)
    assert (a.predict(X) == b.predict(X)).all()


def test_logreg_multiclass_ovr(reg):
    X, y, _ = reg
    y3 = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    est = ss.LogisticRegression(C=1.0, tol=1e-8).fit(X, y3)
    assert est.coef_.shape == (3, X.shape[1]) and len(est.results_) == 3
    w, c = _cvx_logreg(X, (y3 == 2).astype(float), 1.0)
    _close(est.coef_[2], w, 1e-5)
    np.testing.assert_allclose(est.predict_proba(X).sum(axis=1), 1.0)
    assert est.score(X, y3) > 0.7


def test_huber_loss_matches_sklearn_at_its_scale(reg):
    X, y, _ = reg
    y = y.copy()
    y[:10] += 30.0
    h = lm.HuberRegressor(epsilon=1.35, alpha=1e-3, tol=1e-12, max_iter=10_000).fit(X, y)
    a = ss.HuberLossRegressor(epsilon=1.35 * h.scale_, alpha=1e-3 * h.scale_, tol=TIGHT).fit(X, y)
    assert a.status_ == "optimal"
    _close(a.coef_, h.coef_, 1e-4)   # sklearn's lbfgs stops near 1e-6 here
    _close(a.intercept_, h.intercept_, 1e-4)


def test_mcp_and_group_equal_skglm(reg):
    skglm = pytest.importorskip("skglm")
    X, y, _ = reg
    a = ss.MCPRegression(alpha=0.1, gamma=3.0, tol=1e-10).fit(X, y)
    b = skglm.MCPRegression(alpha=0.1, gamma=3.0, tol=1e-12).fit(X, y)
    _close(a.coef_, b.coef_)
    _close(a.intercept_, b.intercept_)
    a = ss.GroupLasso(groups=5, alpha=0.2, tol=TIGHT).fit(X, y)
    b = skglm.GroupLasso(groups=5, alpha=0.2, tol=1e-12, fit_intercept=True).fit(X, y)
    _close(a.coef_, b.coef_)
    _close(a.intercept_, b.intercept_)


def test_warm_start_reuses_problem(reg):
    X, y, _ = reg
    est = ss.Lasso(warm_start=True, tol=1e-10)
    est.fit(X, y)
    prob = est.problem_
    for alpha in (0.5, 0.1, 0.05, 0.01):
        est.set_params(alpha=alpha).fit(X, y)
        assert est.problem_ is prob and est.status_ == "optimal"
        _close(est.coef_, lm.Lasso(alpha=alpha, tol=TIGHT, max_iter=100_000).fit(X, y).coef_, 1e-5)
    assert prob.compile_count == 1
    # without warm_start every fit starts from zero (on data this small the compiled model
    # is shared: test_cold_fits_on_small_data_share_the_model_not_the_solution)
    cold = ss.Lasso(alpha=0.1)
    cold.fit(X, y)
    again = cold.fit(X, y).result_
    assert again.info["warm_start"] is False and est.result_.info["warm_start"] is True


@pytest.mark.parametrize("make", [lambda a: ss.ElasticNet(alpha=a, l1_ratio=0.5),
                                  lambda a: ss.MCPRegression(alpha=a),
                                  lambda a: ss.GroupLasso(groups=5, alpha=a),
                                  lambda a: ss.LogisticRegression(C=1 / a)])
def test_warm_start_every_estimator(reg, make):
    X, y, _ = reg
    yy = (y > np.median(y)).astype(int) if "Logistic" in repr(make(1.0)) else y
    est = make(1.0).set_params(warm_start=True, tol=1e-9)
    key = "C" if "C" in est.get_params() else "alpha"
    for a in (1.0, 0.3, 0.1):
        est.set_params(**{key: 1 / a if key == "C" else a}).fit(X, yy)
        assert est.status_ == "optimal"
        fresh = make(a).set_params(tol=1e-9).fit(X, yy)
        _close(est.coef_, fresh.coef_, 1e-5)
    assert est.problem_.compile_count == 1


def test_huber_regressor_is_exported():
    from solvelab.sklearn.huber import HuberRegressor
    assert ss.HuberRegressor is HuberRegressor     # its checks: tests/test_sklearn_huber.py


def test_lasso_path_equals_sklearn(reg):
    X, y, _ = reg
    alphas = np.geomspace(1.0, 1e-3, 12)
    a_ours, c_ours = ss.lasso_path(X, y, alphas=alphas, tol=TIGHT)
    a_sk, c_sk, _ = lm.lasso_path(X, y, alphas=alphas, tol=TIGHT, max_iter=100_000)
    np.testing.assert_allclose(a_ours, a_sk)
    _close(c_ours, c_sk, 1e-6)
    a_auto, c_auto = ss.enet_path(X, y, l1_ratio=0.5, n_alphas=5)
    assert c_auto.shape == (X.shape[1], 5) and np.all(np.diff(a_auto) < 0)


def test_gridsearch_over_alpha_warm_cache(reg):
    X, y, _ = reg
    ss.clear_cache()
    grid = {"alpha": list(np.geomspace(1.0, 1e-3, 6))}
    gs = GridSearchCV(ss.Lasso(warm_start=True, tol=1e-8), grid, cv=3).fit(X, y)
    ref = GridSearchCV(lm.Lasso(tol=1e-10, max_iter=100_000), grid, cv=3).fit(X, y)
    assert gs.best_params_ == ref.best_params_
    _close(gs.best_estimator_.coef_, ref.best_estimator_.coef_, 1e-5)
    # the clones share one Problem per training fold (3 folds and the refit on all the
    # data: 4 Problems for 19 fits), each built once and re-solved per alpha
    from solvelab.sklearn._base import _CACHE
    problems = [p for (name, *_), (p, _, _) in _CACHE.items() if name == "Lasso"]
    assert len(problems) == 4 and all(p.compile_count == 1 for p in problems)
    ss.clear_cache()
    assert not _CACHE


def test_cold_fits_on_small_data_share_the_model_not_the_solution(reg, monkeypatch):
    """Small data: cold fits reuse one compiled Problem (no rebuild) and give exactly what
    a freshly built one gives, whatever was fitted before; changed data is a new model."""
    from solvelab.sklearn import _base
    X, y, sw = reg
    ss.clear_cache()
    alphas = [0.3, 0.01, 0.1, 0.001]
    shared = [ss.Lasso(alpha=a, tol=1e-10).fit(X, y) for a in alphas]
    assert len({id(e.problem_) for e in shared}) == 1 and shared[0].problem_.compile_count == 1
    hub = [ss.HuberRegressor(alpha=a, tol=1e-9).fit(X, y) for a in (1e-3, 1.0, 1e-3)]
    monkeypatch.setattr(_base, "SMALL_DATA_VALUES", -1)       # every fit builds its own model
    fresh = [ss.Lasso(alpha=a, tol=1e-10).fit(X, y) for a in alphas]
    assert len({id(e.problem_) for e in fresh}) == len(alphas)
    for a, b in zip(shared, fresh):
        np.testing.assert_array_equal(a.coef_, b.coef_)
        assert a.intercept_ == b.intercept_ and a.n_iter_ == b.n_iter_
    hub_fresh = ss.HuberRegressor(alpha=1e-3, tol=1e-9).fit(X, y)
    for h in (hub[0], hub[2]):     # the same cold fit before and after another alpha
        np.testing.assert_array_equal(h.coef_, hub_fresh.coef_)
    monkeypatch.undo()
    X2 = X.copy()
    X2[0, 0] += 1.0                # other data: another fingerprint, another model
    ours = ss.Lasso(alpha=0.01, tol=1e-10).fit(X2, y)
    assert id(ours.problem_) != id(shared[0].problem_)
    _close(ours.coef_, lm.Lasso(alpha=0.01, tol=1e-12, max_iter=100_000).fit(X2, y).coef_)
    ss.clear_cache()


def test_cold_fits_on_large_data_do_not_hash(reg, monkeypatch):
    """Above SMALL_DATA_VALUES a cold fit builds its own model (hashing would cost more)."""
    from solvelab.sklearn import _base
    X, y, _ = reg
    monkeypatch.setattr(_base, "SMALL_DATA_VALUES", X.size - 1)
    calls = []
    monkeypatch.setattr(_base, "fingerprint", lambda *a: calls.append(1) or "k")
    a, b = ss.Lasso(alpha=0.1).fit(X, y), ss.Lasso(alpha=0.1).fit(X, y)
    assert not calls and a.problem_ is not b.problem_


def test_not_optimal_warns_and_keeps_status(reg):
    X, y, _ = reg
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        est = ss.Lasso(alpha=1e-4, max_iter=1, tol=1e-14).fit(X, y)
    assert est.status_ == "max_iter" and not est.result_.optimal


def test_pickle_roundtrip(reg):
    X, y, _ = reg
    est = ss.Lasso(alpha=0.1).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert back.status_ == est.status_ and back.result_.certificate == est.result_.certificate


@pytest.mark.parametrize("make,msg", [
    (lambda: ss.Lasso(alpha=-1.0), "alpha must be"),
    (lambda: ss.ElasticNet(l1_ratio=1.5), "l1_ratio must be"),
    (lambda: ss.LogisticRegression(penalty="l2"), "penalty must be"),
    (lambda: ss.LogisticRegression(penalty="elasticnet"), "needs l1_ratio"),
    (lambda: ss.LogisticRegression(C=0.0), "C must be > 0"),
    (lambda: ss.MCPRegression(gamma=0.5), "gamma must be > 1"),
    (lambda: ss.Lasso(max_iter=0), "max_iter"),
])
def test_bad_parameters(reg, make, msg):
    X, y, _ = reg
    yy = (y > 5).astype(int) if "Logistic" in repr(make()) else y
    with pytest.raises(ValueError, match=msg):
        make().fit(X, yy)


def test_bad_data(reg):
    X, y, _ = reg
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ss.Lasso().fit(Xn, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ss.Lasso().fit(X, y[:-1])
    with pytest.raises(ValueError, match="features"):
        ss.Lasso().fit(X, y).predict(X[:, :-1])
    with pytest.raises(ValueError, match="sample_weight"):
        ss.Lasso().fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="overlap"):
        ss.GroupLasso(groups=[[0, 1], [1, 2]]).fit(X, y)


def test_missing_sklearn_is_reported_on_use(monkeypatch):
    import solvelab.sklearn as mod
    monkeypatch.setattr(mod, "_MISSING", ImportError("No module named 'sklearn'"))
    with pytest.raises(MissingDependencyError, match="pip install scikit-learn"):
        mod.Lasso  # noqa: B018
    with pytest.raises(AttributeError):
        mod.NotAnEstimator  # noqa: B018


#: checks that fail, with the reason (as skglm lists its own)
_EXPECTED = {
    "HuberLossRegressor": {
        "check_sample_weight_equivalence_on_dense_data":
            "15 samples x 30 features with alpha=1e-4: both fits end at max_iter (with a "
            "ConvergenceWarning); cd reaches only a KKT residual of ~3e-1 in 1000 sweeps there",
        "check_sample_weight_equivalence_on_sparse_data": "same as on dense data",
    },
    "HuberRegressor": {
        "check_sample_weight_equivalence_on_dense_data":
            "15 samples x 30 features: the data can be interpolated, so the infimum over the scale lies at "
            "sigma -> 0 and both fits walk down to the bound sigma_min (sigma halving each alternation); "
            "the weighted and the repeated fits stop at different points of that walk",
        "check_sample_weight_equivalence_on_sparse_data": "same as on dense data",
    },
}


def _expected(est):
    return _EXPECTED.get(type(est).__name__, {})


# LogisticRegression / Huber at tight tol: the weighted fits (fista) must match the
# repeated-sample fits (cd) to sklearn's rtol 1e-7 in check_sample_weight_equivalence
@parametrize_with_checks([ss.Lasso(), ss.ElasticNet(), ss.LogisticRegression(tol=1e-10), ss.MCPRegression(),
                          ss.GroupLasso(), ss.HuberLossRegressor(tol=1e-10), ss.HuberRegressor(tol=1e-8)],
                         expected_failed_checks=_expected)
def test_check_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
