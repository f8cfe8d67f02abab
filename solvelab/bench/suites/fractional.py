"""The ``fractional`` suite: the fractional-minimization paper's ratios (``solvelab bench fractional``).

Instances
  l2-<m>x<n>, topk-<m>x<n>   sparse recovery (1/2 |G x - y|^2 + lam |x|_1) / D(x) with D = |x|_2
                             or |x|_top(k = n / 64) on Gaussian G (columns of unit norm, seed
                             by size), y = G x0 + noise, x0 with n / 32 nonzeros, lam =
                             lam_ratio |G^T y|_inf; m, n in {1024, 2048}
  affine-<m>x<n>             the same numerator over x >= 0 divided by 1 + a^T x (a uniform in
                             [0, 1]): quasiconvex, where CVXPY's DQCP applies
  <data>-l2, <data>-topk     the same ratios on LIBSVM data (columns standardized, y the
                             labels): madelon (test), mushrooms, housing_scale, abalone_scale
                             (``--data-dir``, ``SOLVELAB_DATA``; skipped with the search path
                             when absent)

Backends: ``fractional_cd`` and ``dinkelbach``; peers: ``dinkelbach-clarabel`` (Dinkelbach,
CVXPY + Clarabel inner solves) and ``cvxpy-dqcp`` (``solve(qcp=True)``, affine D only).
The reference objective is the best certified one of the run. For the norm ratios
(nonconvex) different methods may stop at different critical points: the objective each
reaches is the comparison.
"""
from __future__ import annotations

import numpy as np

from ..suite import Instance, Suite, register_suite

SIZES = ((1024, 1024), (1024, 2048), (2048, 1024), (2048, 2048))
DATASETS = ("madelon.t", "mushrooms", "housing_scale", "abalone_scale")
BACKENDS = ("fractional_portfolio", "fractional_cd", "dinkelbach")
PEERS = ("dinkelbach-clarabel", "cvxpy-dqcp")
LAM_RATIO = 0.05


def random_data(m: int, n: int, kind: str, seed: int | None = None) -> dict:
    rng = np.random.default_rng(seed if seed is not None else 1000 * m + n)
    G = rng.standard_normal((m, n))
    G /= np.linalg.norm(G, axis=0)
    x0 = np.zeros(n)
    idx = rng.choice(n, max(1, n // 32), replace=False)
    x0[idx] = rng.standard_normal(idx.size)
    y = G @ x0 + 0.01 * rng.standard_normal(m)
    if kind == "affine":
        x0 = np.abs(x0)
        y = G @ x0 + 0.01 * rng.standard_normal(m)
    return {"kind": kind, "G": np.asfortranarray(G), "y": y, "lam": LAM_RATIO * float(np.max(np.abs(G.T @ y))),
            "k": max(1, n // 64), "a": rng.random(n)}


def libsvm_data(name: str, kind: str, data_dir=None) -> dict:
    from ..data import load_libsvm
    X, y = load_libsvm(name, data_dir)
    G = np.asarray(X.todense(), dtype=np.float64)
    G = G - G.mean(axis=0)
    nrm = np.linalg.norm(G, axis=0)
    G = G[:, nrm > 0] / nrm[nrm > 0]
    y = np.asarray(y, dtype=np.float64)
    y = y - y.mean()
    n = G.shape[1]
    return {"kind": kind, "G": np.asfortranarray(G), "y": y, "lam": LAM_RATIO * float(np.max(np.abs(G.T @ y))),
            "k": max(1, n // 16), "a": np.random.default_rng(0).random(n)}


def build(data):
    from ...problems.fractional import Fractional, sparse_recovery
    kind = data["kind"]
    if kind == "affine":
        from ...families.fractional import Denominator, FractionalProgram
        node = FractionalProgram(data["G"].shape[1], Denominator("affine", a=data["a"], d=1.0), G=data["G"],
                                 y=data["y"], lam=data["lam"], lo=0.0)
        return Fractional.from_program(node)
    return sparse_recovery(data["G"], data["y"], data["lam"], denominator=kind, k=data["k"] if kind == "topk" else None)


def _built(data):
    if "_problem" not in data:
        data["_problem"] = build(data)
    return data["_problem"]


def objective(data, x) -> float:
    return float(_built(data).program.ratio(np.asarray(x, dtype=np.float64).reshape(-1)))


def infeasibility(data, x) -> float:
    from ...families.fractional.certificate import domain_violation
    return domain_violation(_built(data).program, np.asarray(x, dtype=np.float64).reshape(-1))


def _instance(name, size, make, **kw):
    return Instance(name, "fractional", size, make, build=lambda d: _built(d), objective=objective,
                    infeasibility=infeasibility, **kw)


def demo_instance(kind: str = "l2") -> Instance:
    """A 200 x 100 sparse recovery ratio (no download): a fraction of a second."""
    return _instance(f"fractional-{kind}-200x100", "200x100", lambda: random_data(200, 100, kind, seed=3),
                     backends=BACKENDS, peers=PEERS)


@register_suite
class FractionalSuite(Suite):
    name = "fractional"
    description = ("fractional programs: l1/l2, l1/top-k sparse recovery and an affine-denominator ratio, "
                   "random 1024-2048 and LIBSVM; fractional_cd and dinkelbach against Dinkelbach with "
                   "Clarabel inner solves and CVXPY's DQCP")
    default_backends = BACKENDS
    default_peers = PEERS
    default_time_limit = 600.0
    default_tol = 1e-6

    def instances(self):
        from ..data import DataNotFoundError, find_libsvm
        out = []
        for m, n in SIZES:
            for kind in ("l2", "topk", "affine"):
                out.append(_instance(f"{kind}-{m}x{n}", f"{m}x{n}", lambda m=m, n=n, kind=kind: random_data(m, n, kind),
                                     meta={"m": m, "n": n, "lam_ratio": LAM_RATIO}))
        data_dir = self.options.get("data_dir")
        for name in DATASETS:
            try:
                path, skip = find_libsvm(name, data_dir), None
            except DataNotFoundError as exc:
                path, skip = None, str(exc)
            for kind in ("l2", "topk"):
                out.append(_instance(f"{name.split('.')[0]}-{kind}", "LIBSVM",
                                     lambda name=name, kind=kind: libsvm_data(name, kind, data_dir), skip=skip,
                                     meta={"file": str(path) if path else None, "lam_ratio": LAM_RATIO}))
        return out
