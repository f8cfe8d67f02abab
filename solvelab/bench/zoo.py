"""The model zoo: 31 ordinary CVXPY models, written the way practitioners write them.

Each model is a function ``name(rng, scale_obj=1.0, scale_con=1.0) -> (cvxpy.Problem,
meta)`` with fixed sizes (n between 20 and 200). The data is drawn from ``rng`` so
that every model is convex (DCP), feasible and bounded by construction (a feasible
point and, for LPs, a dual-feasible cost are built first). ``scale_obj`` multiplies
the objective and ``scale_con`` both sides of every constraint, so the optimal point
does not move and the optimal value is ``scale_obj`` times that at unit scale: the
same model at 1e-6 and 1e6 is a test of scale invariance. At unit scale the model is
exactly the practitioner's code (no ``1.0 *`` factors).

``meta`` says what the model is::

    family       what a practitioner would call it ("portfolio", "regression", "lp", ...)
    atoms        the CVXPY atoms the user wrote (as CVXPY names them: "quad_form", "norm1" ...)
    cone         the cone class CVXPY+Clarabel solves it in ("QP", "LP", "SOCP", "EXP", "POW")
    qp           True when OSQP can take it (an LP or a QP after CVXPY's canonicalization)
    constrained  whether scale_con has anything to scale
    size         short text ("n=40")
    description  the model's docstring

``ZOO`` maps each name to its function, in a fixed order; ``build(name, seed)`` draws
one instance with ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

ZOO: dict[str, Callable] = {}


def _model(family: str, atoms: tuple, cone: str, *, size: str, qp: bool = False, constrained: bool = True):
    """Register a zoo model (the function returns its ``cvxpy.Problem``); ``model.meta``
    holds the static description, so listing the zoo builds nothing."""
    def deco(fn):
        info = {"name": fn.__name__, "family": family, "atoms": tuple(atoms), "cone": cone, "qp": qp,
                "constrained": constrained, "size": size, "description": (fn.__doc__ or "").strip()}

        def model(rng, scale_obj=1.0, scale_con=1.0):
            return fn(rng, float(scale_obj), float(scale_con)), dict(info)
        model.__name__ = model.__qualname__ = fn.__name__
        model.__doc__ = fn.__doc__
        model.meta = info
        ZOO[fn.__name__] = model
        return model
    return deco


def build(name: str, seed: int = 0, scale_obj: float = 1.0, scale_con: float = 1.0):
    """(problem, meta) of zoo model ``name`` drawn with ``default_rng(seed)``."""
    try:
        fn = ZOO[name]
    except KeyError:
        raise KeyError(f"no zoo model {name!r}; models: {', '.join(ZOO)}") from None
    return fn(np.random.default_rng(seed), scale_obj, scale_con)


# --- constraint and objective helpers: plain CVXPY at unit scale --------------------------

def _obj(expr, s):
    return expr if s == 1.0 else s * expr


def _le(lhs, rhs, s):
    return lhs <= rhs if s == 1.0 else s * lhs <= s * rhs


def _ge(lhs, rhs, s):
    return lhs >= rhs if s == 1.0 else s * lhs >= s * rhs


def _eq(lhs, rhs, s):
    return lhs == rhs if s == 1.0 else s * lhs == s * rhs


def _covariance(rng, n, k, var):
    """A factor-model covariance with entries of size ``var`` (daily returns: ~1e-4)."""
    B = rng.standard_normal((n, k))
    f = var * np.linspace(1.0, 0.2, k)
    idio = var * rng.uniform(0.5, 2.0, n)
    S = (B * f) @ B.T + np.diag(idio)
    return 0.5 * (S + S.T)


# --- portfolio ------------------------------------------------------------------------------

@_model("portfolio", ("quad_form", "sum"), "QP", qp=True, size="n=40")
def minvar_daily(rng, so, sc):
    """Long-only minimum variance, daily-return covariance (entries ~1e-4)."""
    import cvxpy as cp
    n = 40
    Sigma = _covariance(rng, n, 5, 1e-4)
    w = cp.Variable(n, name="w")
    prob = cp.Problem(cp.Minimize(_obj(cp.quad_form(w, Sigma), so)),
                      [_eq(cp.sum(w), 1, sc), _ge(w, 0, sc)])
    return prob


@_model("portfolio", ("quad_form", "sum"), "QP", qp=True, size="n=40")
def minvar_percent(rng, so, sc):
    """The same minimum-variance model with returns in percent (covariance in %^2, ~1)."""
    import cvxpy as cp
    n = 40
    Sigma = 1e4 * _covariance(rng, n, 5, 1e-4)
    w = cp.Variable(n, name="w")
    prob = cp.Problem(cp.Minimize(_obj(cp.quad_form(w, Sigma), so)),
                      [_eq(cp.sum(w), 1, sc), _ge(w, 0, sc)])
    return prob


@_model("portfolio", ("quad_form", "norm1", "sum"), "QP", qp=True, size="n=50")
def mean_variance_leverage(rng, so, sc):
    """Markowitz: maximize mu'w - gamma w'Sigma w, fully invested, leverage norm1(w) <= 1.5."""
    import cvxpy as cp
    n = 50
    mu = rng.normal(0.08, 0.05, n)
    Sigma = _covariance(rng, n, 4, 0.04)
    w = cp.Variable(n, name="w")
    gamma, L = 2.0, 1.5
    ret = mu @ w
    risk = cp.quad_form(w, Sigma)
    prob = cp.Problem(cp.Maximize(_obj(ret - gamma * risk, so)),
                      [_eq(cp.sum(w), 1, sc), _le(cp.norm1(w), L, sc)])
    return prob


@_model("portfolio", ("quad_form",), "QP", qp=True, size="n=40")
def max_sharpe(rng, so, sc):
    """Maximum Sharpe ratio as a QP: min y'Sigma y s.t. (mu - rf)'y = 1, y >= 0 (w = y / sum y)."""
    import cvxpy as cp
    n = 40
    mu = rng.normal(0.08, 0.05, n)
    rf = 0.02
    mu[0] = max(mu[0], 0.1)   # at least one asset beats the risk-free rate: feasible
    Sigma = _covariance(rng, n, 4, 0.04)
    y = cp.Variable(n, name="y")
    prob = cp.Problem(cp.Minimize(_obj(cp.quad_form(y, Sigma), so)),
                      [_eq((mu - rf) @ y, 1, sc), _ge(y, 0, sc)])
    return prob


@_model("portfolio", ("sum_largest", "sum"), "LP", qp=True, size="200 scenarios, n=20")
def cvar_sum_largest(rng, so, sc):
    """Conditional value at risk over scenarios: the mean of the k largest losses."""
    import cvxpy as cp
    T, n, k = 200, 20, 10
    R = rng.normal(0.001, 0.02, (T, n)) + 0.01 * rng.standard_normal((T, 1))
    mu = R.mean(axis=0)
    rmin = float(np.median(mu))   # the best asset alone attains it: feasible
    w = cp.Variable(n, name="w")
    loss = -R @ w
    prob = cp.Problem(cp.Minimize(_obj(cp.sum_largest(loss, k) / k, so)),
                      [_eq(cp.sum(w), 1, sc), _ge(w, 0, sc), _ge(mu @ w, rmin, sc)])
    return prob


# --- classification ------------------------------------------------------------------------

def _two_classes(rng, m, d, sep=1.0):
    y = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    X = rng.standard_normal((m, d)) + sep * y[:, None] * rng.standard_normal(d) / np.sqrt(d)
    return X, y


@_model("classification", ("pos", "multiply", "sum_squares"), "QP", qp=True, constrained=False,
        size="200x20")
def svm_hinge(rng, so, sc):
    """Soft-margin SVM with a bias: hinge loss via pos, ridge on the weights."""
    import cvxpy as cp
    m, d = 200, 20
    X, y = _two_classes(rng, m, d)
    w, b = cp.Variable(d, name="w"), cp.Variable(name="b")
    loss = cp.sum(cp.pos(1 - cp.multiply(y, X @ w + b)))
    prob = cp.Problem(cp.Minimize(_obj(loss / m + 0.05 * cp.sum_squares(w), so)))
    return prob


@_model("classification", ("sum_squares", "pos", "multiply"), "QP", qp=True, constrained=False,
        size="200x20")
def svm_squared_hinge(rng, so, sc):
    """L2-SVM: squared hinge loss, ridge on the weights."""
    import cvxpy as cp
    m, d = 200, 20
    X, y = _two_classes(rng, m, d)
    w, b = cp.Variable(d, name="w"), cp.Variable(name="b")
    loss = cp.sum_squares(cp.pos(1 - cp.multiply(y, X @ w + b)))
    prob = cp.Problem(cp.Minimize(_obj(loss / m + 0.05 * cp.sum_squares(w), so)))
    return prob


@_model("classification", ("logistic", "multiply", "norm"), "EXP", constrained=False, size="200x30")
def logistic_l1(rng, so, sc):
    """Sparse logistic regression as in CVXPY's example: maximize the log-likelihood minus lambda ||beta||_1."""
    import cvxpy as cp
    m, d = 200, 30
    X = rng.standard_normal((m, d))
    beta_true = np.where(rng.random(d) < 0.3, rng.standard_normal(d), 0.0)
    Y = (rng.random(m) < 1 / (1 + np.exp(-(X @ beta_true)))).astype(float)
    beta = cp.Variable(d, name="beta")
    log_likelihood = cp.sum(cp.multiply(Y, X @ beta) - cp.logistic(X @ beta))
    lambd = 0.02
    prob = cp.Problem(cp.Maximize(_obj(log_likelihood / m - lambd * cp.norm(beta, 1), so)))
    return prob


@_model("classification", ("log_sum_exp", "multiply", "sum_squares"), "EXP", constrained=False,
        size="150x10, K=4")
def multinomial_logistic(rng, so, sc):
    """Softmax regression with K = 4 classes and a ridge penalty (W is d x K)."""
    import cvxpy as cp
    m, d, K = 150, 10, 4
    X = rng.standard_normal((m, d))
    W_true = rng.standard_normal((d, K))
    labels = np.argmax(X @ W_true + rng.gumbel(size=(m, K)), axis=1)
    Y = np.eye(K)[labels]
    W = cp.Variable((d, K), name="W")
    logits = X @ W
    nll = cp.sum(cp.log_sum_exp(logits, axis=1)) - cp.sum(cp.multiply(Y, logits))
    prob = cp.Problem(cp.Minimize(_obj(nll / m + 0.01 * cp.sum_squares(W), so)))
    return prob


# --- regression -------------------------------------------------------------------------------

def _regression(rng, m, d, noise=0.5):
    X = rng.standard_normal((m, d))
    beta = rng.standard_normal(d)
    return X, X @ beta + noise * rng.standard_normal(m), beta


@_model("regression", ("maximum", "multiply", "sum"), "LP", qp=True, constrained=False, size="150x10")
def quantile_regression(rng, so, sc):
    """Quantile regression (tau = 0.3) with the pinball loss written with maximum."""
    import cvxpy as cp
    m, d = 150, 10
    X, y, _ = _regression(rng, m, d)
    tau = 0.3
    beta = cp.Variable(d, name="beta")
    r = y - X @ beta
    prob = cp.Problem(cp.Minimize(_obj(cp.sum(cp.maximum(tau * r, (tau - 1) * r)), so)))
    return prob


@_model("regression", ("norm1",), "LP", qp=True, constrained=False, size="150x20")
def lad_regression(rng, so, sc):
    """Least absolute deviations: norm1(X beta - y), with heavy-tailed noise."""
    import cvxpy as cp
    m, d = 150, 20
    X = rng.standard_normal((m, d))
    y = X @ rng.standard_normal(d) + rng.standard_t(2, m)
    beta = cp.Variable(d, name="beta")
    prob = cp.Problem(cp.Minimize(_obj(cp.norm1(X @ beta - y), so)))
    return prob


@_model("regression", ("huber", "sum"), "QP", qp=True, constrained=False, size="200x20")
def huber_regression(rng, so, sc):
    """Huber regression (M = 1) with 10% gross outliers."""
    import cvxpy as cp
    m, d = 200, 20
    X, y, _ = _regression(rng, m, d, 0.2)
    out = rng.choice(m, m // 10, replace=False)
    y[out] += 10 * rng.standard_normal(out.size)
    beta = cp.Variable(d, name="beta")
    prob = cp.Problem(cp.Minimize(_obj(cp.sum(cp.huber(X @ beta - y, 1.0)), so)))
    return prob


@_model("regression", ("sum_squares", "norm1"), "QP", qp=True, constrained=False, size="100x200")
def lasso(rng, so, sc):
    """Lasso, wide: 0.5 ||A x - b||^2 + lambda ||x||_1 with lambda = lambda_max / 10."""
    import cvxpy as cp
    m, n = 100, 200
    A = rng.standard_normal((m, n))
    x0 = np.where(rng.random(n) < 0.05, 3 * rng.standard_normal(n), 0.0)
    b = A @ x0 + 0.5 * rng.standard_normal(m)
    lam = 0.1 * float(np.max(np.abs(A.T @ b)))
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(0.5 * cp.sum_squares(A @ x - b) + lam * cp.norm1(x), so)))
    return prob


@_model("regression", ("sum_squares", "norm1"), "QP", qp=True, constrained=False, size="120x60")
def elastic_net(rng, so, sc):
    """Elastic net in scikit-learn's scaling: ||A x - b||^2 / (2m) + a r ||x||_1 + a (1 - r) / 2 ||x||^2."""
    import cvxpy as cp
    m, n = 120, 60
    A, b, _ = _regression(rng, m, n)
    alpha, l1_ratio = 0.1, 0.5
    x = cp.Variable(n, name="x")
    obj = (cp.sum_squares(A @ x - b) / (2 * m) + alpha * l1_ratio * cp.norm1(x)
           + alpha * (1 - l1_ratio) / 2 * cp.sum_squares(x))
    prob = cp.Problem(cp.Minimize(_obj(obj, so)))
    return prob


@_model("regression", ("sum_squares",), "QP", qp=True, size="80x40")
def nnls(rng, so, sc):
    """Nonnegative least squares, x >= 0 written as a constraint."""
    import cvxpy as cp
    m, n = 80, 40
    A = rng.standard_normal((m, n))
    b = A @ np.maximum(rng.standard_normal(n), 0) + 0.3 * rng.standard_normal(m)
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(cp.sum_squares(A @ x - b), so)), [_ge(x, 0, sc)])
    return prob


@_model("regression", ("pnorm", "power"), "SOCP", constrained=False, size="100x50")
def ridge(rng, so, sc):
    """Ridge regression as in CVXPY's tutorial: pnorm(X beta - y, 2)**2 + lambda pnorm(beta, 2)**2."""
    import cvxpy as cp
    m, n = 100, 50
    X, y, _ = _regression(rng, m, n)
    beta = cp.Variable(n, name="beta")
    lambd = 1.0
    obj = cp.pnorm(X @ beta - y, p=2) ** 2 + lambd * cp.pnorm(beta, p=2) ** 2
    prob = cp.Problem(cp.Minimize(_obj(obj, so)))
    return prob


@_model("regression", ("exp", "multiply", "sum"), "EXP", constrained=False, size="200x10")
def poisson_regression(rng, so, sc):
    """Poisson regression (log link): mean of exp(X b) - y * X b over the samples."""
    import cvxpy as cp
    m, d = 200, 10
    X = 0.3 * rng.standard_normal((m, d))
    b_true = rng.standard_normal(d)
    y = rng.poisson(np.exp(X @ b_true)).astype(float)
    y[:d] = np.maximum(y[:d], 1.0)   # rows with counts span R^d: bounded below
    b = cp.Variable(d, name="b")
    eta = X @ b
    prob = cp.Problem(cp.Minimize(_obj(cp.sum(cp.exp(eta) - cp.multiply(y, eta)) / m, so)))
    return prob


@_model("regression", ("sum_squares",), "QP", qp=True, size="60x30, 5 eq")
def eq_constrained_ls(rng, so, sc):
    """Least squares with 5 linear equality constraints."""
    import cvxpy as cp
    m, n, p = 60, 30, 5
    A, b, _ = _regression(rng, m, n)
    C = rng.standard_normal((p, n))
    d = C @ rng.standard_normal(n)
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(cp.sum_squares(A @ x - b), so)), [_eq(C @ x, d, sc)])
    return prob


@_model("regression", ("sum_squares", "quad_form"), "SOCP", size="80x20")
def quad_form_constrained_ls(rng, so, sc):
    """Least squares in an ellipsoid: quad_form(beta, S) <= r, with the constraint active."""
    import cvxpy as cp
    m, n = 80, 20
    X, y, _ = _regression(rng, m, n)
    M = rng.standard_normal((n, n))
    S = M @ M.T / n + 0.1 * np.eye(n)
    beta_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    r = 0.25 * float(beta_ls @ S @ beta_ls)
    beta = cp.Variable(n, name="beta")
    prob = cp.Problem(cp.Minimize(_obj(cp.sum_squares(X @ beta - y), so)),
                      [_le(cp.quad_form(beta, S), r, sc)])
    return prob


@_model("regression", ("sum_squares", "norm", "sum"), "SOCP", constrained=False, size="80x30, K=4")
def group_lasso_rows(rng, so, sc):
    """Multi-task group lasso: rows of W (p x K) selected together, sum(norm(W, 2, axis=1))."""
    import cvxpy as cp
    m, p, K = 80, 30, 4
    X = rng.standard_normal((m, p))
    W_true = np.where(rng.random((p, 1)) < 0.2, rng.standard_normal((p, K)), 0.0)
    Y = X @ W_true + 0.3 * rng.standard_normal((m, K))
    lam = 0.2 * float(np.max(np.linalg.norm(X.T @ Y, axis=1)))
    W = cp.Variable((p, K), name="W")
    obj = 0.5 * cp.sum_squares(X @ W - Y) + lam * cp.sum(cp.norm(W, 2, axis=1))
    prob = cp.Problem(cp.Minimize(_obj(obj, so)))
    return prob


# --- signal processing ----------------------------------------------------------------------

@_model("signal", ("sum_squares", "norm1", "diff"), "QP", qp=True, constrained=False, size="n=200")
def tv_denoise_1d(rng, so, sc):
    """1-D total-variation denoising of a piecewise-constant signal: norm1(diff(x))."""
    import cvxpy as cp
    n = 200
    steps = np.repeat(rng.standard_normal(8), n // 8)
    y = steps + 0.3 * rng.standard_normal(n)
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(0.5 * cp.sum_squares(x - y) + 1.0 * cp.norm1(cp.diff(x)), so)))
    return prob


# --- linear and conic programs ----------------------------------------------------------------

@_model("lp", (), "LP", qp=True, size="30x60")
def lp_standard_form(rng, so, sc):
    """min c'x s.t. A x = b, x >= 0 (a feasible x0 and a dual-feasible c by construction)."""
    import cvxpy as cp
    m, n = 30, 60
    A = rng.standard_normal((m, n))
    x0 = np.where(rng.random(n) < 0.5, rng.uniform(0.5, 2.0, n), 0.0)
    b = A @ x0
    c = A.T @ rng.standard_normal(m) + rng.uniform(0.1, 1.0, n)   # c - A'y > 0: bounded
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(c @ x, so)), [_eq(A @ x, b, sc), _ge(x, 0, sc)])
    return prob


@_model("lp", (), "LP", qp=True, size="80x30")
def lp_inequality_form(rng, so, sc):
    """min c'x s.t. A x <= b (c = -A'lam with lam >= 0: bounded; b = A x0 + slack: feasible)."""
    import cvxpy as cp
    m, n = 80, 30
    A = rng.standard_normal((m, n))
    b = A @ rng.standard_normal(n) + rng.uniform(0.1, 1.0, m)
    lam = np.where(rng.random(m) < 0.5, rng.uniform(0.5, 1.5, m), 0.0)
    c = -A.T @ lam
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(c @ x, so)), [_le(A @ x, b, sc)])
    return prob


@_model("qp", ("quad_form",), "QP", qp=True, size="n=50")
def box_qp(rng, so, sc):
    """Box-constrained QP: 0.5 x'Px + q'x on [-1, 1]^n."""
    import cvxpy as cp
    n = 50
    M = rng.standard_normal((n, n))
    P = M.T @ M / n + 0.01 * np.eye(n)
    q = 2 * rng.standard_normal(n)
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(0.5 * cp.quad_form(x, P) + q @ x, so)),
                      [_ge(x, -1, sc), _le(x, 1, sc)])
    return prob


@_model("socp", ("norm2",), "SOCP", size="60x20")
def socp_norm_epigraph(rng, so, sc):
    """min f'x + t s.t. norm2(A x - b) <= t (f = A'u with ||u|| < 1: bounded)."""
    import cvxpy as cp
    m, n = 60, 20
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    u = rng.standard_normal(m)
    f = A.T @ (0.5 * u / np.linalg.norm(u))
    x, t = cp.Variable(n, name="x"), cp.Variable(name="t")
    prob = cp.Problem(cp.Minimize(_obj(f @ x + t, so)), [_le(cp.norm2(A @ x - b), t, sc)])
    return prob


@_model("lp", ("norm",), "LP", qp=True, size="n=10, 50 faces")
def chebyshev_center(rng, so, sc):
    """Chebyshev center of a polytope, one constraint per face as in CVXPY's example."""
    import cvxpy as cp
    n, m = 10, 30
    A = np.vstack([rng.standard_normal((m, n)), np.eye(n), -np.eye(n)])  # the box rows keep it bounded
    b = A @ rng.standard_normal(n) + rng.uniform(0.5, 2.0, A.shape[0])
    x_c, r = cp.Variable(n, name="x_c"), cp.Variable(name="r")
    cons = [_le(A[i] @ x_c + r * cp.norm(A[i], 2), b[i], sc) for i in range(A.shape[0])]
    prob = cp.Problem(cp.Maximize(_obj(r, so)), cons)
    return prob


@_model("lp", ("norm1", "norm_inf"), "LP", qp=True, size="40x30")
def robust_lp(rng, so, sc):
    """Robust LP, box uncertainty in each row (the dual norm1 appears) and a norm_inf trust region."""
    import cvxpy as cp
    m, n = 40, 30
    A = rng.standard_normal((m, n))
    b = rng.uniform(1.0, 2.0, m)      # x = 0 is feasible
    c = rng.standard_normal(n)
    rho = 0.1
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(c @ x, so)),
                      [_le(A @ x + rho * cp.norm1(x), b, sc), _le(cp.norm_inf(x), 10, sc)])
    return prob


# --- entropy, geometric and utility models ------------------------------------------------------

@_model("entropy", ("entr", "sum"), "EXP", size="n=50, 5 moments")
def max_entropy(rng, so, sc):
    """Maximum-entropy distribution with 5 moment constraints."""
    import cvxpy as cp
    n, p = 50, 5
    x0 = rng.dirichlet(np.ones(n))
    A = rng.standard_normal((p, n))
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Maximize(_obj(cp.sum(cp.entr(x)), so)),
                      [_eq(A @ x, A @ x0, sc), _eq(cp.sum(x), 1, sc)])
    return prob


@_model("entropy", ("kl_div", "sum"), "EXP", size="n=50")
def kl_projection_simplex(rng, so, sc):
    """KL projection of a distribution q onto the capped simplex {sum x = 1, x <= 2/n}."""
    import cvxpy as cp
    n = 50
    q = rng.dirichlet(0.5 * np.ones(n))
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Minimize(_obj(cp.sum(cp.kl_div(x, q)), so)),
                      [_eq(cp.sum(x), 1, sc), _le(x, 2.0 / n, sc)])
    return prob


@_model("geometric", ("geo_mean",), "POW", size="n=20, 10 rows")
def geo_mean_max(rng, so, sc):
    """Maximize the geometric mean of x in a polytope with nonnegative rows (a Nash bargaining point)."""
    import cvxpy as cp
    n, m = 20, 10
    A = rng.uniform(0.1, 1.0, (m, n))
    b = rng.uniform(1.0, 2.0, m)
    x = cp.Variable(n, name="x")
    prob = cp.Problem(cp.Maximize(_obj(cp.geo_mean(x), so)), [_le(A @ x, b, sc)])
    return prob


@_model("utility", ("log", "sqrt", "inv_pos"), "POW", size="n=30")
def utility_max(rng, so, sc):
    """Resource allocation: maximize a'log(x) + b'sqrt(x) - c'inv_pos(x) within a budget."""
    import cvxpy as cp
    n = 30
    a, bw, cw = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n), rng.uniform(0.01, 0.1, n)
    price = rng.uniform(0.5, 2.0, n)
    budget = float(price.sum())
    x = cp.Variable(n, name="x")
    util = a @ cp.log(x) + bw @ cp.sqrt(x) - cw @ cp.inv_pos(x)
    prob = cp.Problem(cp.Maximize(_obj(util, so)), [_le(price @ x, budget, sc)])
    return prob


def names() -> list[str]:
    """Zoo model names, in the fixed order."""
    return list(ZOO)


# --- judging a point on the user's model (scale-free) -------------------------------------------
#
# One flat layout for a point of any model: the problem's variables in CVXPY's order, each
# flattened in F order (the layout of solvelab's Program and Result.x).

def get_point(problem) -> np.ndarray | None:
    """The variables' current values as one flat vector (None if one has no value)."""
    parts = []
    for v in problem.variables():
        if v.value is None:
            return None
        parts.append(np.asarray(v.value, dtype=float).ravel(order="F"))
    return np.concatenate(parts) if parts else np.zeros(0)


def set_point(problem, x) -> None:
    """Write a flat vector ``x`` (see ``get_point``) into the problem's variables."""
    x = np.asarray(x, dtype=float).ravel()
    need = sum(v.size for v in problem.variables())
    if x.size != need:
        raise ValueError(f"a point of this model has {need} entries, got {x.size}")
    k = 0
    for v in problem.variables():
        val = x[k:k + v.size]
        v.value = val.reshape(v.shape, order="F") if v.shape else float(val[0])
        k += v.size


def _affine_size(expr) -> np.ndarray:
    """Elementwise sum_j |a_ij x_j| + |c_i| of an affine ``expr`` at the current values."""
    val = np.asarray(expr.value, dtype=float).ravel(order="F")
    if expr.is_constant():
        return np.abs(val)
    size = np.zeros(val.size)
    lin = np.zeros(val.size)
    for var, G in expr.grad.items():          # G: (var.size, expr.size)
        G = G.toarray() if hasattr(G, "toarray") else np.asarray(G, dtype=float)
        G = G.reshape(var.size, -1)
        xv = np.asarray(var.value, dtype=float).ravel(order="F")
        size += np.abs(G).T @ np.abs(xv)
        lin += G.T @ xv
    return size + np.abs(val - lin)


def _size(expr) -> float:
    """The size of ``expr``'s parts at the current point (max-norm): for an affine
    expression the largest sum_j |a_ij x_j| + |c_i|, otherwise its largest |value|."""
    if expr.size == 0:
        return 0.0
    if expr.is_affine():
        return float(np.max(_affine_size(expr), initial=0.0))
    return float(np.max(np.abs(np.asarray(expr.value, dtype=float)), initial=0.0))


def objective_scale(problem) -> float:
    """A scale-free size of the objective at the current point: the sum of the sizes of
    its additive terms (an affine term counts sum_j |c_j x_j| + |c_0|). It is at least
    |f(x)| and scales with the objective, so ``|f - f*| / max(|f*|, objective_scale)``
    is a relative error that a cancellation (f* = 0) cannot blow up."""
    from cvxpy.atoms.affine import add_expr, binary_operators as bo, unary_operators

    def sizes(e) -> float:
        if isinstance(e, add_expr.AddExpression):
            return sum(sizes(a) for a in e.args)
        if isinstance(e, unary_operators.NegExpression):
            return sizes(e.args[0])
        if isinstance(e, (bo.multiply, bo.MulExpression)) and e.size == 1:
            a, b = e.args
            for c, other in ((a, b), (b, a)):
                if c.is_constant() and c.size == 1 and not other.is_constant():
                    return abs(float(np.asarray(c.value))) * sizes(other)
        if isinstance(e, bo.DivExpression) and e.args[1].is_constant() and e.args[1].size == 1:
            return sizes(e.args[0]) / abs(float(np.asarray(e.args[1].value)))
        if e.is_affine():
            return float(np.sum(_affine_size(e)))
        v = e.value
        return float(abs(np.asarray(v, dtype=float)).sum()) if v is not None else float("nan")

    return sizes(problem.objective.args[0])


def infeasibility(problem) -> float:
    """The largest relative constraint violation at the current point: for each constraint,
    its largest violation divided by the size of its sides (``_size``: scale-free, so a
    constraint multiplied by 1e6 gives the same number). inf if a variable has no value."""
    if get_point(problem) is None:
        return float("inf")
    worst = 0.0
    for c in problem.constraints:
        viol = np.asarray(c.violation(), dtype=float)
        v = float(np.max(viol, initial=0.0)) if viol.size else 0.0
        if not np.isfinite(v):
            return float("inf")
        if v == 0.0:
            continue
        scale = max(_size(a) for a in c.args)
        worst = max(worst, v / scale if scale > 0 else float("inf"))
    return worst


def relative_error(f, f_star, scale) -> float:
    """|f - f*| / max(|f*|, scale) (``scale``: ``objective_scale`` at the reference point)."""
    if f is None or not np.isfinite(f):
        return float("inf")
    den = max(abs(f_star), scale)
    return abs(f - f_star) / den if den > 0 else (0.0 if f == f_star else float("inf"))
