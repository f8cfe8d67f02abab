"""scikit-learn-style Lasso: ``solvelab.sklearn.Lasso`` as a drop-in for
``sklearn.linear_model.Lasso``, checked against it, plus a warm-started GridSearchCV.

The estimator builds one solvelab Problem (kept as ``est.problem_``, the regularization a
live CVXPY Parameter) and solves it on ``cd``; ``est.result_`` holds the certified Result.
By default that Problem is built from (X, y) directly, without a CVXPY model (CVXPY's copy
of X and its compile were most of a cold fit); ``Lasso(backend="cvxpy")`` declares the same
objective in CVXPY, which is what ``build`` returns so that CVXPY + Clarabel can check it.
Run ``python problems/sklearn_lasso.py`` to compare with scikit-learn and CVXPY + Clarabel.
"""
import numpy as np


def data(seed=0, n=200, p=50):
    """Linear data with a 5-sparse ground truth, noise and an offset of 3."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[rng.choice(p, 5, replace=False)] = 3 * rng.standard_normal(5)
    return X, X @ w + 3.0 + 0.5 * rng.standard_normal(n)


def build(seed=0, alpha=0.1):
    """The fitted Lasso's objective (least squares / (2 n) + alpha ||w||_1, unpenalized
    intercept) as the CVXPY model ``Lasso(backend="cvxpy")`` declares."""
    from solvelab.sklearn import Lasso
    X, y = data(seed)
    return Lasso(alpha=alpha, backend="cvxpy").fit(X, y).problem_


if __name__ == "__main__":
    from sklearn import linear_model as lm
    from sklearn.model_selection import GridSearchCV

    from solvelab.sklearn import Lasso
    X, y = data()
    ours = Lasso(alpha=0.1, tol=1e-10).fit(X, y)
    ref = lm.Lasso(alpha=0.1, tol=1e-10, max_iter=100_000).fit(X, y)
    import cvxpy as cp
    prob = build(alpha=0.1)                  # the same objective, declared in CVXPY
    clarabel = cp.Problem(prob.objective, prob.constraints).solve(solver="CLARABEL")
    print(f"status {ours.status_}, certificate {ours.result_.certificate}")
    print(f"objective {ours.result_.objective:.10g}, CVXPY + Clarabel {clarabel:.10g}")
    print(f"max |coef - sklearn's| = {np.abs(ours.coef_ - ref.coef_).max():.2e}, "
          f"intercept {ours.intercept_:.6f} vs {ref.intercept_:.6f}")
    grid = GridSearchCV(Lasso(warm_start=True), {"alpha": list(np.geomspace(1, 1e-3, 20))}, cv=5).fit(X, y)
    print(f"GridSearchCV: best alpha {grid.best_params_['alpha']:.4g}, "
          f"R^2 {grid.best_estimator_.score(X, y):.4f}, "
          f"compiled {grid.best_estimator_.problem_.compile_count}x for its fold")
