"""Bilinear saddle points and matrix games (the saddle family).

    min_{x in X} max_{y in Y}  c^T x + x_reg/2 |x|^2 + x^T K y - b^T y - y_reg/2 |y|^2

``matrix_game(A)`` is min_{x in simplex} max_{y in simplex} x^T A y (the row player x
pays x^T A y; its value is the value of the game); ``bilinear_saddle(K, c, b,
x_domain, y_domain)`` takes each player's set as 'simplex', ('box', lo, hi) (infinite
bounds allowed) or 'free'; ``SaddlePoint(objective, minimize=x, maximize=y,
constraints)`` reads the same from CVXPY expressions (``x @ K @ y`` builds, though it
is not DCP). With an unbounded side the constructor checks that a saddle
point exists and refuses the data otherwise. Solved by ``halpern`` (reflected restarted
Halpern PDHG) without regularizers, by ``alpd`` (accelerated primal-dual) with
``x_reg > 0`` or ``y_reg > 0``; the engine certifies the relative duality gap of the
returned (x, y)::

    from solvelab.problems.saddle import matrix_game   # (sl.problems.matrix_game: problems/lp.py's LP form)
    prob = matrix_game(A)
    res = prob.solve(backend="halpern", tol=1e-6)
    x, y = res.values["x"], res.values["y"]; res.objective   # the value of the game

``prob.to_cvxpy()`` gives the LP formulation min_x max_y L(x, y) = min_x phi(x) (for a
game: min v s.t. A^T x <= v 1, x in the simplex; a QP with the regularizers) for an
oracle on small sizes.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidDataError
from ..families.saddle import Coupling, CoupledSaddleProgram, Domain, DROLogisticProgram, SaddleProgram
from ..families.saddle.recognize import domain_of, objective_data, player_variable
from ..model.problem import Problem

__all__ = ["matrix_game", "bilinear_saddle", "coupled_saddle", "SaddlePoint", "SaddleProblem", "Coupling",
           "dro_logistic", "DROProblem"]


class SaddleProblem(Problem):
    """A saddle-point problem; ``values`` hold 'x' and 'y'."""

    @property
    def program(self) -> SaddleProgram:
        return self.compile()

    def strategies(self, result):
        """(x, y, value) of a result: both players' points and L(x, y)."""
        x, y = self.program.split_xy(result.x)
        return x.copy(), y.copy(), float(result.objective)

    def to_cvxpy(self):
        """(cvxpy.Problem, x): min_x phi(x), phi(x) = c^T x + x_reg/2 |x|^2 + max_{y in Y}
        (K^T x - b)^T y - y_reg/2 |y|^2 as an LP (a QP with the regularizers; the inner max
        replaced by its dual); its value is the game's, x is the min player's point."""
        import cvxpy as cp
        p = self.program
        if isinstance(p, CoupledSaddleProgram):
            raise InvalidDataError(f"to_cvxpy: the coupling {p.coupling.name}(x, y) is given as callables, which "
                                   f"CVXPY cannot take; compare with another solvelab backend or a closed form")
        m, n = p.shape
        K = p.K if p.dense else p.K.tocsc()
        x = cp.Variable(m, name="x")
        cons = _set_constraints(x, p.X)
        g = K.T @ x - p.b
        own = p.c @ x + (0.5 * p.x_reg * cp.sum_squares(x) if p.x_reg > 0 else 0)
        if p.y_reg > 0:
            return cp.Problem(cp.Minimize(own + _regularized_max(g, p.Y, n, p.y_reg)), cons), x
        if p.Y.kind == Domain.SIMPLEX:
            v = cp.Variable(name="v")
            cons.append(g <= v)
            return cp.Problem(cp.Minimize(own + v), cons), x
        lo, hi = p.Y.lo, p.Y.hi
        t = cp.Variable(n, name="t")
        fl, fu = np.isfinite(lo), np.isfinite(hi)
        for mask, bound in ((fl, lo), (fu, hi)):
            idx = np.flatnonzero(mask)
            if idx.size:
                cons.append(t[idx] >= cp.multiply(bound[idx], g[idx]))
        for mask, rel in ((fl & ~fu, "le"), (~fl & fu, "ge"), (~fl & ~fu, "eq")):
            idx = np.flatnonzero(mask)
            if idx.size:
                cons.append(g[idx] <= 0 if rel == "le" else (g[idx] >= 0 if rel == "ge" else g[idx] == 0))
                if rel == "eq":
                    cons.append(t[idx] >= 0)
        return cp.Problem(cp.Minimize(own + cp.sum(t)), cons), x

    def y_from_cvxpy(self, cp_problem) -> np.ndarray:
        """The max player's point from a solved ``to_cvxpy()`` problem: with y_reg > 0 its
        best response P_Y((K^T x - b) / y_reg) to the solved x; else, for a simplex Y, the
        multipliers of the rows K^T x - b <= v 1 (the last constraint)."""
        from ..errors import InvalidDataError
        p = self.program
        if p.y_reg > 0:
            from ..families.saddle.certificate import best_response
            xs = [v for v in cp_problem.variables() if v.name() == "x"]
            if not xs or xs[0].value is None:
                raise InvalidDataError("the CVXPY problem has no value of x (solve it first)")
            return best_response(p.Y, p.rmatvec(np.asarray(xs[0].value, dtype=np.float64)) - p.b, None, True,
                                 p.y_reg)
        if p.Y.kind != Domain.SIMPLEX:
            raise InvalidDataError("y_from_cvxpy reads y off the LP of a simplex Y only")
        dual = cp_problem.constraints[-1].dual_value
        if dual is None:
            raise InvalidDataError("the CVXPY problem has no dual values (solve it first)")
        return np.asarray(dual, dtype=np.float64).ravel()

    def __repr__(self) -> str:
        return f"solvelab.problems.SaddleProblem({self.program!r})"


def _regularized_max(g, dom, n, mu):
    """max_{y in dom} g^T y - mu/2 |y|^2 as the value of its (minimized) Lagrange dual:
    simplex: min_{t, s >= 0} t + |g - t 1 + s|^2 / (2 mu); box [lo, hi]: min_{s, r >= 0}
    hi^T s - lo^T r + |g - s + r|^2 / (2 mu) (no multiplier on an infinite bound)."""
    import cvxpy as cp
    if dom.kind == Domain.SIMPLEX:
        t, s = cp.Variable(name="t"), cp.Variable(n, name="s", nonneg=True)
        return t + cp.sum_squares(g - t + s) / (2 * mu)
    inner, extra = g, 0
    fl, fu = np.flatnonzero(np.isfinite(dom.lo)), np.flatnonzero(np.isfinite(dom.hi))
    if fu.size:
        s = cp.Variable(fu.size, name="s", nonneg=True)
        inner = inner - _scatter(s, fu, n)
        extra = extra + dom.hi[fu] @ s
    if fl.size:
        r = cp.Variable(fl.size, name="r", nonneg=True)
        inner = inner + _scatter(r, fl, n)
        extra = extra - dom.lo[fl] @ r
    return extra + cp.sum_squares(inner) / (2 * mu)


def _scatter(v, idx, n):
    import scipy.sparse as sp
    return sp.csc_matrix((np.ones(idx.size), (idx, np.arange(idx.size))), shape=(n, idx.size)) @ v


def _set_constraints(x, dom) -> list:
    import cvxpy as cp
    if dom.kind == Domain.SIMPLEX:
        return [x >= 0, cp.sum(x) == 1]
    out = []
    fl, fu = np.flatnonzero(np.isfinite(dom.lo)), np.flatnonzero(np.isfinite(dom.hi))
    if fl.size:
        out.append(x[fl] >= dom.lo[fl])
    if fu.size:
        out.append(x[fu] <= dom.hi[fu])
    return out


def matrix_game(A, x_reg: float = 0.0, y_reg: float = 0.0) -> SaddleProblem:
    """The zero-sum game min_{x in simplex} max_{y in simplex} x^T A y, A (m, n) dense or
    SciPy sparse (x: the row player's mixed strategy, y: the column player's); with
    ``x_reg`` / ``y_reg`` > 0 the quadratically regularized game x^T A y + x_reg/2 |x|^2
    - y_reg/2 |y|^2 (a unique, smoothed equilibrium; backends ``alpd`` and ``halpern``)."""
    return SaddleProblem.from_program(SaddleProgram(A, kind="matrix_game", x_reg=x_reg, y_reg=y_reg))


def bilinear_saddle(K, c=None, b=None, x_domain="simplex", y_domain="simplex", x_reg: float = 0.0,
                    y_reg: float = 0.0) -> SaddleProblem:
    """min_{x in X} max_{y in Y} c^T x + x_reg/2 |x|^2 + x^T K y - b^T y - y_reg/2 |y|^2
    (module docstring); c, b default 0, the regularizers 0. NaN / Inf data, shapes that
    do not match K, an empty K, unknown domain specs and negative regularizers are errors
    naming the culprit; an unbounded side without a saddle point is refused."""
    return SaddleProblem.from_program(SaddleProgram(K, c, b, x_domain, y_domain, x_reg=x_reg, y_reg=y_reg))


def coupled_saddle(coupling, m: int, n: int, K=None, c=None, b=None, x_domain="simplex", y_domain="simplex",
                   x_reg: float = 0.0, y_reg: float = 0.0, check: bool = True) -> SaddleProblem:
    """min_{x in X} max_{y in Y} c^T x + x_reg/2 |x|^2 + x^T K y - b^T y - y_reg/2 |y|^2 + Phi(x, y)
    with ``coupling`` = Phi, a ``Coupling`` (``Coupling(value, grad_x, grad_y)`` or
    ``Coupling.from_jax(fn)``) convex in x and concave in y; x has m coordinates, y n; K
    (m x n) optional. ``check``: test the gradients against finite differences and the
    monotonicity a convex-concave Phi has at a few points of the sets (``coupling``).
    Backend ``alpd`` (forward-backward-forward with backtracking); the certificate bounds
    the duality gap through Phi's linearization at the returned point (``coupled``)::

        phi = sl.Coupling(lambda x, y: y @ f(x), grad_x=..., grad_y=lambda x, y: f(x))
        prob = coupled_saddle(phi, m, n, x_domain="free", y_domain="simplex")
        res = prob.solve(backend="alpd", tol=1e-6)
    """
    return SaddleProblem.from_program(CoupledSaddleProgram(coupling, m, n, K, c, b, x_domain, y_domain, x_reg=x_reg,
                                                           y_reg=y_reg, check=check))


def SaddlePoint(objective, minimize, maximize, constraints=(), coupling=None) -> SaddleProblem:
    """min over ``minimize`` (one 1-D cvxpy Variable x) of max over ``maximize`` (y) of
    ``objective`` = c^T x + x^T K y - b^T y (+ constant), a CVXPY expression such as
    ``c @ x + x @ K @ y - b @ y``, plus ``a * cp.sum_squares(x)`` and ``- a * cp.sum_squares(y)``
    (a >= 0: the regularizers, solved by ``alpd``); ``constraints``: x >= lo, x <= hi, sum(x) == 1 with
    x >= 0 (the simplex), and the same for y (``families.saddle.recognize``).
    ``coupling``: a ``Coupling`` Phi(x, y) added to the objective (convex in x, concave in
    y; callables or a JAX function: CVXPY cannot say it); ``objective`` may then be 0. The
    solution is written back to x.value and y.value::

        x, y = cp.Variable(m), cp.Variable(n)
        prob = sl.SaddlePoint(x @ A @ y, minimize=x, maximize=y,
                              constraints=[x >= 0, cp.sum(x) == 1, y >= 0, cp.sum(y) == 1])
        prob.solve(backend="halpern")
    """
    x, y = player_variable(minimize, "minimize"), player_variable(maximize, "maximize")
    if x.id == y.id:
        raise InvalidDataError("minimize and maximize name the same variable")
    if coupling is not None and not isinstance(coupling, Coupling):
        raise InvalidDataError(f"SaddlePoint: coupling must be a solvelab Coupling (sl.Coupling(value, grad_x, grad_y) "
                               f"or sl.Coupling.from_jax(fn)), got {type(coupling).__name__}")
    if coupling is not None and _is_zero(objective):
        K, c, b, const, x_reg, y_reg = None, None, None, 0.0, 0.0, 0.0
    else:
        K, c, b, const, x_reg, y_reg = objective_data(objective, x, y)
    X, Y = domain_of(x, constraints), domain_of(y, constraints)
    names, keys = (x.name(), y.name()), (x.id, y.id)
    if coupling is not None:
        node = CoupledSaddleProgram(coupling, x.size, y.size, K, c, b, X, Y, names=names, constant=const, keys=keys,
                                    x_reg=x_reg, y_reg=y_reg)
    else:
        node = SaddleProgram(K, c, b, X, Y, names=names, constant=const, keys=keys, x_reg=x_reg, y_reg=y_reg)
    return SaddleProblem.from_program(node, variables=[x, y])


def _is_zero(objective) -> bool:
    if objective is None:
        return True
    if isinstance(objective, (int, float, np.integer, np.floating)):
        if objective != 0:
            raise InvalidDataError(f"SaddlePoint: a constant objective {objective!r} with a coupling: add it to Phi or "
                                   f"pass 0")
        return True
    return False


class DROProblem(Problem):
    """Distributionally robust logistic regression (``dro_logistic``); ``values`` hold the
    weights 'x' and the worst-case reweighting 'p' of the samples."""

    @property
    def program(self) -> DROLogisticProgram:
        return self.compile()

    def to_cvxpy(self):
        """(cvxpy.Problem, x): min_x lam/2 |x|^2 + max_{p in simplex} p^T l(x) - mu/2 |p - u|^2
        as a DCP problem for an oracle: the inner max replaced by its Lagrange dual
        min_{t, s >= 0} t + u^T g + |g|^2 / (2 mu), g = v - t 1 + s, with v >= l(x) (the
        inner max is nondecreasing in the losses, so the epigraph variable v is exact)."""
        import cvxpy as cp
        p = self.program
        n, d = p.shape
        x = cp.Variable(d, name="x")
        v, t, s = cp.Variable(n, name="v"), cp.Variable(name="t"), cp.Variable(n, name="s", nonneg=True)
        g = v - t + s
        obj = 0.5 * p.lam * cp.sum_squares(x) + t + p.u @ g + cp.sum_squares(g) / (2 * p.mu)
        return cp.Problem(cp.Minimize(obj), [v >= cp.logistic(-(p.BA @ x))]), x

    def __repr__(self) -> str:
        return f"solvelab.problems.DROProblem({self.program!r})"


def dro_logistic(A, labels, lam: float, rho: float) -> DROProblem:
    """Distributionally robust logistic regression with a chi-square penalty:

        min_x max_{p in simplex} sum_i p_i log(1 + exp(-b_i a_i^T x)) - rho/2 n |p - 1/n|^2 + lam/2 |x|^2

    A (n samples x d features, dense or SciPy sparse), labels b_i = +-1, lam > 0, rho > 0
    (n |p - 1/n|^2 is the chi-square divergence of p from the uniform weights: a large rho
    is ridge logistic regression, a small one weights the hardest samples). Backend
    ``alpd``; the certificate is an upper bound of the relative duality gap
    (``families.saddle.dro``)."""
    return DROProblem.from_program(DROLogisticProgram(A, labels, lam, rho))
