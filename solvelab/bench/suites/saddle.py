"""The ``saddle`` suite: matrix games min_{x in simplex} max_{y in simplex} x^T A y
(``solvelab bench saddle``); no download, every instance generated with a fixed seed.

Instances (n x n)
  gaussian-N    A_ij ~ N(0, 1), N = 100, 500, 1000, 2000, 5000 (value near 0, about half
                of each side in the support)
  uniform-N     A_ij ~ U[0, 1], N = 100, 1000, 5000 (value near 1/2)
  rps-N         rock-paper-scissors generalized: A = D1 C D2 with C the skew-symmetric
                circulant C_ij = r_{(j - i) mod N}, r_{N-k} = -r_k, r_k ~ U[0.5, 1.5] for
                k <= (N-1)/2, and positive diagonals D1, D2 ~ U[0.5, 2] (so the uniform
                start is not the answer): value 0, x* ~ 1 / d1, y* ~ 1 / d2; N = 101,
                1001, 4999
  diagonal-N    A = diag(a), a_i ~ U[1, 10], stored sparse: value 1 / sum(1 / a_i), both
                strategies proportional to 1 / a; N = 100, 1000, 5000

The objective of a returned z = [x; y] is L(x, y) = x^T A y for backends and peers alike;
its "infeasibility" is the worse of the strategies' simplex violation and the game's
relative duality gap (the family's certificate), so a peer is judged on both strategies,
not on the value alone. Where the value is known (rps, diagonal) it is the reference.
Backend ``halpern`` (its ``scheme='pdhg'`` is measured in benchmarks/saddle_bench.py:
the suite runs one option set per backend); peers ``highs-game-lp`` (scipy's linprog,
HiGHS) and ``clarabel-game-lp`` (CVXPY + Clarabel) on the LP formulation min v s.t.
A^T x <= v 1, x in the simplex, the column strategy read from its multipliers.
Each instance records the expected mean |A_ij| as its ``objective_scale`` (a peer's
objective error is relative to max(|ref|, it), since values can be 0).
``demo_instance()`` is saddle-gaussian-200, a 200 x 200 Gaussian game (for the quick suite).

Distributionally robust logistic regression (family ``dro_logistic``, LIBSVM data from
../shared/data/libsvm; skipped with the reason when a file is missing)
  dro-NAME      ``dro_logistic(A, labels, lam=1e-3, rho=0.1)`` on mushrooms, a9a, ijcnn1;
                backends dro_newton and alpd; peers ``clarabel-dro`` (CVXPY + Clarabel on
                ``to_cvxpy()``) and ``lbfgsb-dro`` (scipy's L-BFGS-B on the smooth primal
                P(x)). The objective of z = [x; p] is P(x); its "infeasibility" is the worst
                of the family's measures (gap bound, stationarity, simplex violation).

A nonlinear coupling (family ``coupled_saddle``, generated, no download)
  ball-NxD      the smallest enclosing ball of N anisotropic Gaussian points in R^D as
                min_x max_{y in simplex} sum_i y_i |x - p_i|^2 / 2 (the coupling as NumPy
                callables, ``sl.Coupling``), N x D = 1000 x 3, 1000 x 20, 5000 x 20; backend
                alpd; peer ``clarabel-ball`` (CVXPY + Clarabel on the epigraph form min t
                s.t. |x - p_i|^2 / 2 <= t, y from the cones' multipliers). The objective of
                z = [x; y] is max_i |x - p_i|^2 / 2 (r^2 / 2 at x); its "infeasibility" the
                family's certificate (the linearized gap and x's stationarity).
"""
from __future__ import annotations

import numpy as np

from ..data import DataNotFoundError, binary_labels, find_libsvm, load_libsvm
from ..suite import Instance, Suite, register_suite

BACKENDS = ("halpern",)
PEERS = ("highs-game-lp", "clarabel-game-lp")
DRO_BACKENDS = ("dro_newton", "alpd")
DRO_PEERS = ("clarabel-dro", "lbfgsb-dro")


def build(data):
    from ...problems.saddle import matrix_game
    return matrix_game(data["A"])


def _program(data):
    if "_program" not in data:
        data["_program"] = build(data).program
    return data["_program"]


def _split(data, z):
    p = _program(data)
    return p, *p.split_xy(np.asarray(z, dtype=np.float64))


def objective(data, z) -> float:
    """L(x, y) = x^T A y at z = [x; y]."""
    p, x, y = _split(data, z)
    return p.value(x, y)


def infeasibility(data, z) -> float:
    """max(simplex violation, relative duality gap) of z = [x; y] (the family's certificate)."""
    p, x, y = _split(data, z)
    cert = p.certify(np.r_[x, y])
    return float(max(cert.gap, cert.domain_violation))


def gaussian(n, seed=0):
    def data():
        return {"A": np.random.default_rng(seed).standard_normal((n, n))}
    return data


def uniform(n, seed=1):
    def data():
        return {"A": np.random.default_rng(seed).random((n, n))}
    return data


def rps(n, seed=2):
    def data():
        rng = np.random.default_rng(seed)
        half = (n - 1) // 2
        r = np.zeros(n)
        r[1:half + 1] = rng.uniform(0.5, 1.5, half)
        r[n - half:] = -r[1:half + 1][::-1]
        idx = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n
        d1, d2 = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)
        return {"A": d1[:, None] * r[idx] * d2[None, :], "x_star": (1 / d1) / np.sum(1 / d1),
                "y_star": (1 / d2) / np.sum(1 / d2)}
    return data


def diagonal(n, seed=3):
    def data():
        import scipy.sparse as sp
        a = np.random.default_rng(seed).uniform(1.0, 10.0, n)
        return {"A": sp.diags(a).tocsr()}
    return data


def diagonal_value(n, seed=3) -> float:
    a = np.random.default_rng(seed).uniform(1.0, 10.0, n)
    return float(1.0 / np.sum(1.0 / a))


#: the expected mean |A_ij| of each generator: the size of the payoffs at the uniform start,
#: recorded as the instances' ``objective_scale`` (peers' objective errors are relative to
#: max(|ref|, it): the value of a game can be 0, as rps's is, or far below its payoffs)
def mean_abs_payoff(kind: str, n: int) -> float:
    return {"gaussian": float(np.sqrt(2.0 / np.pi)), "uniform": 0.5, "rps": 1.25 * 1.25 * (n - 1) / n,
            "diagonal": 5.5 / n}[kind]


#: LIBSVM file -> n_features passed to the reader (None: as the file says)
BALL_BACKENDS = ("alpd",)
BALL_PEERS = ("clarabel-ball",)
BALL_SIZES = ((1000, 3), (1000, 20), (5000, 20))

DRO_DATASETS = {"mushrooms": None, "a9a": 123, "ijcnn1.tr_val": None}
DRO_LAM, DRO_RHO = 1e-3, 0.1


def dro_data(name, data_dir):
    def data():
        A, y = load_libsvm(name, data_dir=data_dir, n_features=DRO_DATASETS[name])
        return {"A": A.tocsr(), "labels": binary_labels(y), "lam": DRO_LAM, "rho": DRO_RHO}
    return data


def build_dro(data):
    from ...problems.saddle import dro_logistic
    return dro_logistic(data["A"], data["labels"], data["lam"], data["rho"])


def _dro_program(data):
    if "_program" not in data:
        data["_program"] = build_dro(data).program
    return data["_program"]


def dro_objective(data, z) -> float:
    """P(x), the robust loss, at z = [x; p]."""
    from ...families.saddle.dro import primal_value
    prog = _dro_program(data)
    return primal_value(prog, prog.split_xp(z)[0])


def dro_infeasibility(data, z) -> float:
    """The worst of the family's measures at z = [x; p]."""
    return float(_dro_program(data).certify(np.asarray(z, dtype=np.float64)).value)


def ball_data(n: int, d: int, seed: int = 0):
    def data():
        rng = np.random.default_rng(seed)
        return {"P": rng.standard_normal((n, d)) * np.geomspace(3.0, 0.3, d) + 1.0}
    return data


def ball_coupling(P):
    from ...families.saddle.coupling import Coupling
    return Coupling(lambda x, y: 0.5 * float(y @ np.sum((x - P) ** 2, axis=1)),
                    lambda x, y: y.sum() * x - y @ P, lambda x, y: 0.5 * np.sum((x - P) ** 2, axis=1),
                    name="half_squared_distance")


def build_ball(data):
    from ...problems.saddle import coupled_saddle
    n, d = data["P"].shape
    return coupled_saddle(ball_coupling(data["P"]), d, n, x_domain="free", y_domain="simplex")


def _ball_program(data):
    if "_program" not in data:
        data["_program"] = build_ball(data).program
    return data["_program"]


def ball_objective(data, z) -> float:
    """max_i |x - p_i|^2 / 2 at z = [x; y]: the max player's best value at x."""
    d = data["P"].shape[1]
    x = np.asarray(z, dtype=np.float64)[:d]
    return 0.5 * float(np.max(np.sum((x - data["P"]) ** 2, axis=1)))


def ball_infeasibility(data, z) -> float:
    return float(_ball_program(data).certify(np.asarray(z, dtype=np.float64)).value)


def _instance(name, n, make, reference=None, **kw):
    kind = name.split("-")[0]
    meta = dict(kw.pop("meta", {}))
    kw.setdefault("backends", BACKENDS)
    kw.setdefault("peers", PEERS)
    if kind in ("gaussian", "uniform", "rps", "diagonal"):
        meta.setdefault("objective_scale", mean_abs_payoff(kind, n))
    return Instance(name, "matrix_game", f"{n}x{n}", make, build=build, objective=objective,
                    infeasibility=infeasibility, reference=reference, meta=meta, **kw)


def demo_instance() -> Instance:
    """A 200 x 200 Gaussian matrix game (no download, well under a second)."""
    return _instance("saddle-gaussian-200", 200, gaussian(200), backends=BACKENDS, peers=("highs-game-lp",),
                     meta={"entries": "N(0, 1)", "objective_scale": mean_abs_payoff("gaussian", 200)})


@register_suite
class SaddleSuite(Suite):
    name = "saddle"
    description = ("matrix games: Gaussian and uniform payoffs, skew-symmetric circulants (value 0) and diagonal "
                   "games (known value), 100 to 5000 per side; halpern against HiGHS and Clarabel on the LP; "
                   "DRO logistic regression on LIBSVM data (dro_newton, alpd against Clarabel and L-BFGS-B); "
                   "smallest enclosing balls as a coupled saddle point (alpd against Clarabel's SOCP)")
    default_backends = BACKENDS + DRO_BACKENDS
    default_peers = PEERS + DRO_PEERS + BALL_PEERS
    default_time_limit = 120.0
    default_tol = 1e-6

    def instances(self):
        out = [_instance(f"gaussian-{n}", n, gaussian(n), meta={"entries": "N(0, 1)"}) for n in (100, 500, 1000,
                                                                                               2000, 5000)]
        out += [_instance(f"uniform-{n}", n, uniform(n), meta={"entries": "U[0, 1]"}) for n in (100, 1000, 5000)]
        out += [_instance(f"rps-{n}", n, rps(n), reference=0.0,
                          meta={"entries": "D1 C D2, C a skew-symmetric circulant"}) for n in (101, 1001, 4999)]
        out += [_instance(f"diagonal-{n}", n, diagonal(n), reference=diagonal_value(n),
                          meta={"entries": "diag(U[1, 10]), sparse"}) for n in (100, 1000, 5000)]
        out += [Instance(f"ball-{n}x{d}", "coupled_saddle", f"{n} points in R^{d}", ball_data(n, d),
                         build=build_ball, objective=ball_objective, infeasibility=ball_infeasibility,
                         backends=BALL_BACKENDS, peers=BALL_PEERS, meta={"points": n, "dimension": d})
                for n, d in BALL_SIZES]
        data_dir = self.options.get("data_dir")
        for name in DRO_DATASETS:
            try:
                path, missing = find_libsvm(name, data_dir), None
            except DataNotFoundError as exc:
                path, missing = None, str(exc)
            out.append(Instance(f"dro-{name.split('.')[0]}", "dro_logistic", name, dro_data(name, data_dir),
                                build=build_dro, objective=dro_objective, infeasibility=dro_infeasibility,
                                backends=DRO_BACKENDS, peers=DRO_PEERS, skip=missing,
                                meta={"file": str(path) if path else name, "lam": DRO_LAM, "rho": DRO_RHO}))
        return out
