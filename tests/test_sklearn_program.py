"""The least-squares estimators' programs, built from (X, y) without CVXPY
(``solvelab.sklearn._program``), are the programs CVXPY's model compiles to: same forms,
same objective at any point, same certified solutions; ``backend='cvxpy'`` still gets
the CVXPY model."""
import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn")

import cvxpy as cp  # noqa: E402

import solvelab as sl  # noqa: E402
from solvelab.sklearn import ElasticNet, Lasso, MCPRegression  # noqa: E402
from solvelab.sklearn.linear import _affine, _squares  # noqa: E402


def _data(sparse, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.where(rng.random((60, 8)) < 0.6, rng.standard_normal((60, 8)), 0.0) * scale
    y = (X @ rng.standard_normal(8) + 0.1 * rng.standard_normal(60) * scale)
    return (sp.csc_matrix(X) if sparse else X), y


def _cvxpy_program(est, X, y, sw, l1, l2):
    """The program CVXPY's declaration of the same estimator compiles to."""
    w, b, r = _affine(X, y, est.fit_intercept, getattr(est, "positive", False))
    lam, lam2 = cp.Parameter(nonneg=True, value=l1), cp.Parameter(nonneg=True, value=l2)
    obj = _squares(r, sw, X.shape[0]) + lam * cp.norm1(w) + (lam2 / 2) * cp.sum_squares(w)
    return sl.Problem(cp.Minimize(obj)).compile()


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("positive", [False, True])
def test_direct_program_is_the_compiled_one(sparse, fit_intercept, weighted, positive):
    X, y = _data(sparse)
    sw = np.linspace(0.5, 1.5, X.shape[0]) if weighted else None
    est = ElasticNet(alpha=0.1, l1_ratio=0.7, fit_intercept=fit_intercept, positive=positive)
    prob, h = est._build(X, y, sw)
    est._set_level(h, X.shape[0], sw)
    direct = prob.compile()
    direct.refresh()
    ref = _cvxpy_program(est, X, y, sw, 0.07, 0.1 * 0.3)
    assert direct.forms() == ref.forms()
    assert direct.n == ref.n and [v.shape for v in direct.variables] == [v.shape for v in ref.variables]
    assert [(t.role, type(t.f).__name__) for t in direct.terms] == [(t.role, type(t.f).__name__) for t in ref.terms]
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal(direct.n)
        if positive:
            x[:X.shape[1]] = np.abs(x[:X.shape[1]])
        assert direct.objective(x) == pytest.approx(ref.objective(x), rel=1e-12)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("make", [lambda: Lasso(alpha=0.05, tol=1e-9),
                                  lambda: ElasticNet(alpha=0.05, l1_ratio=0.5, tol=1e-9)])
def test_direct_build_solves_as_the_cvxpy_model_does(scale, make):
    """X, y scaled by s and alpha by s^2 scale the objective by s^2 and leave coef_ as it
    is (the intercept scales by s): the direct program's fits at s = 1e-6 ... 1e6 equal
    the CVXPY model's at s = 1 (backend='cvxpy', which keeps the CVXPY model; Clarabel
    itself is not accurate at 1e-6)."""
    X, y = _data(True)
    ref = make().set_params(backend="cvxpy", tol=1e-8).fit(X, y)
    assert ref.status_ == "optimal" and ref.problem_.compile().source is not None
    ours = make().set_params(alpha=0.05 * scale * scale).fit(X * scale, y * scale)
    assert ours.status_ == "optimal" and ours.problem_.compile().source is None
    assert ours.result_.certificate.value <= 1e-9
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5, atol=1e-7 * np.abs(ref.coef_).max())
    assert ours.intercept_ / scale == pytest.approx(ref.intercept_, rel=1e-5, abs=1e-7)


def test_direct_build_does_not_copy_X_and_copies_y():
    X, y = _data(False)
    est = Lasso(alpha=0.1, fit_intercept=False)
    prob, h = est._build(X, y, None)
    term = prob.compile().terms[0]
    assert term.A.blocks[0][1].M is X
    y[0] += 1.0
    assert term.b[0] == pytest.approx(y[0] - 1.0)


def test_mcp_on_the_direct_datafit_is_certified():
    X, y = _data(True)
    est = MCPRegression(alpha=0.05, gamma=3.0, tol=1e-8).fit(X, y)
    assert est.status_ == "optimal"
    prob = est.problem_.compile()
    assert [type(t.f).__name__ for t in prob.terms] == ["SumSquares", "MCP"]


def test_unknown_penalty_is_refused():
    from solvelab.sklearn._program import least_squares_program
    X, y = _data(False)
    lam = cp.Parameter(nonneg=True, value=1.0)
    with pytest.raises(ValueError, match="unknown penalty 'l2'"):
        least_squares_program(X, y, None, False, False, [(lam, "l2")])


def test_a_cached_problem_does_not_see_the_callers_later_writes():
    """Small data (or warm_start) puts the Problem in the shared cache under a hash of X:
    it holds its own copy, so changing X in place afterwards cannot make a later fit on
    data equal to the original X solve the changed data (a silently wrong answer)."""
    from solvelab.sklearn import clear_cache
    from sklearn.linear_model import Lasso as SkLasso
    clear_cache()
    for sparse in (True, False):
        _check_private(sparse, SkLasso)
    clear_cache()


def _check_private(sparse, SkLasso):
    X, y = _data(sparse)
    if not sparse:
        X = np.asfortranarray(X)                     # the layout the GLM kernels read in place
    first = Lasso(alpha=0.05, fit_intercept=False, tol=1e-10).fit(X, y)   # (an intercept stacks a copy)
    original = X.copy()
    if sparse:
        X.data[:] *= 3.0                              # the caller reuses its buffer
    else:
        X[:, 0] *= 3.0
    again = Lasso(alpha=0.05, fit_intercept=False, tol=1e-10).fit(original, y)
    assert again.problem_ is first.problem_           # the cache hit on equal data ...
    np.testing.assert_allclose(again.coef_, first.coef_, rtol=1e-12, atol=1e-14)   # ... solves it
    sk = SkLasso(alpha=0.05, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(original, y)
    np.testing.assert_allclose(again.coef_, sk.coef_, rtol=1e-6, atol=1e-8)


def test_the_exact_cache_tells_data_with_one_signature_apart():
    """Two data sets with the same signature (shape, size, the sampled values) but other
    entries get two Problems: the cache compares the data itself, not a summary."""
    from solvelab.sklearn import clear_cache
    from solvelab.sklearn._base import _CACHE, signature
    clear_cache()
    X, y = _data(False)
    X2 = X.copy()
    X2[1, 2] += 0.5                          # not a sampled position of the signature
    assert signature(X, y, None) == signature(X2, y, None)
    a = Lasso(alpha=0.05, fit_intercept=False, tol=1e-10).fit(X, y)
    b = Lasso(alpha=0.05, fit_intercept=False, tol=1e-10).fit(X2, y)
    c = Lasso(alpha=0.05, fit_intercept=False, tol=1e-10).fit(X.copy(), y)
    assert a.problem_ is not b.problem_ and c.problem_ is a.problem_ and len(_CACHE) == 2
    assert not np.allclose(a.coef_, b.coef_)
    y2 = y.copy()
    y2[3] += 1.0
    d = Lasso(alpha=0.05, fit_intercept=False, tol=1e-10).fit(X, y2)
    assert d.problem_ is not a.problem_
    clear_cache()
