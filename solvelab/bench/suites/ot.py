"""The ``ot`` suite: entropic optimal transport (``solvelab bench ot``).

Instances
  dotmark-<Class>-<R>-eps<k>   DOTmark images data<R>_1001 -> data<R>_1002 of one class
                               (10 classes, R = 32 and 64, i.e. n = 1024 and 4096 pixels),
                               squared grid distance between pixels, masses normalized to 1
  cloud-<n>-eps<k>             Gaussian mixtures in the plane (n = 1000, 3000, 5000 points,
                               3 vs 4 components, fixed seeds), uniform masses, squared
                               Euclidean cost
each at eps = k x max(C) for k in {1e-1, 1e-2, 1e-3}.

DOTmark files are looked for as ``dotmark/Data/<Class>/data<R>_<id>.csv[.xz]`` under
``--data-dir``, ``SOLVELAB_DATA`` and ``../shared/data`` (see ``solvelab.bench.data``);
when they are absent those instances are skipped with the search path in the reason.

The problem is ``min <C, P> + eps sum P log P  s.t.  P 1 = a, P^T 1 = b`` (solvelab's
``entropic_ot``). Runs are judged by the entropic objective of the returned plan and by
its L1 marginal violation relative to sum(a), both at the suite's default ``tol`` of 1e-9
(the marginal target of issue 5). Backends: ``sinkhorn``, ``sinkhorn_newton``; peers:
POT's ``sinkhorn`` / ``sinkhorn_log`` / ``sinkhorn_stabilized`` and ``emd`` (exact cost,
for comparison; see ``solvelab.bench.peers.pot``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import xlogy

from ..data import search_dirs
from ..suite import Instance, Suite, register_suite

CLASSES = ("CauchyDensity", "ClassicImages", "GRFmoderate", "GRFsmooth", "LogGRF", "LogitGRF",
           "Shapes", "WhiteNoise")
RESOLUTIONS = (32, 64)
PAIR = (1001, 1002)
CLOUD_SIZES = (1000, 3000, 5000)
REL_EPS = (1e-1, 1e-2, 1e-3)
BACKENDS = ("sinkhorn", "sinkhorn_newton")
PEERS = ("pot-sinkhorn", "pot-sinkhorn-log", "pot-sinkhorn-stabilized", "pot-emd")


def find_dotmark(cls: str, R: int, idx: int, data_dir=None):
    """(path, None) of a DOTmark image file, or (None, reason) saying where it looked."""
    looked = []
    for base in search_dirs(data_dir):
        for sub in ("dotmark/Data", "DOTmark/Data", "dotmark", "Data"):
            for suf in (".csv.xz", ".csv", ".csv.bz2"):
                p = Path(base) / sub / cls / f"data{R}_{idx}{suf}"
                if p.is_file():
                    return p, None
        looked.append(str(base))
    return None, (f"DOTmark image {cls}/data{R}_{idx}.csv[.xz] not found under dotmark/Data in "
                  f"{', '.join(looked)} (pass --data-dir DIR or set SOLVELAB_DATA=DIR; the data come "
                  "from the DOTmark benchmark, see ../shared/data/MANIFEST.md)")


def load_image(path) -> np.ndarray:
    """A DOTmark CSV (plain, .xz or .bz2) as a float64 R x R array."""
    return np.loadtxt(path, delimiter=",", dtype=np.float64)


def grid_sq_cost(R: int) -> np.ndarray:
    """Squared Euclidean distance between the pixels of an R x R grid (row-major)."""
    from ...problems.ot import grid_cost
    return grid_cost(R)


def gaussian_mixtures(n: int, seed: int):
    """Two point clouds of n points in the plane: mixtures of 3 and 4 Gaussians."""
    rng = np.random.default_rng(seed)

    def mixture(k, shift):
        centers = rng.normal(scale=3.0, size=(k, 2)) + shift
        scales = rng.uniform(0.3, 1.0, size=k)
        lab = rng.integers(0, k, size=n)
        return centers[lab] + rng.normal(size=(n, 2)) * scales[lab, None]
    return mixture(3, 0.0), mixture(4, 1.0)


def _dotmark_data(cls, R, rel, data_dir):
    def data():
        pa, err = find_dotmark(cls, R, PAIR[0], data_dir)
        pb, err2 = find_dotmark(cls, R, PAIR[1], data_dir)
        if pa is None or pb is None:
            raise FileNotFoundError(err or err2)
        a = load_image(pa).ravel()
        b = load_image(pb).ravel()
        C = grid_sq_cost(R)
        return {"a": a / a.sum(), "b": b / b.sum(), "C": C, "eps": rel * float(C.max())}
    return data


def cloud_data(n, rel, seed):
    """Gaussian-mixture point clouds of n points each, uniform masses, eps = rel max(C)."""
    def data():
        from ...problems.ot import point_cloud_cost
        x, y = gaussian_mixtures(n, seed)
        C = point_cloud_cost(x, y)()
        return {"a": np.full(n, 1.0 / n), "b": np.full(n, 1.0 / n), "C": C, "eps": rel * float(C.max())}
    return data


def build(data):
    from ...problems.ot import entropic_ot
    return entropic_ot(data["a"], data["b"], data["C"], data["eps"])


def _plan(data, x) -> np.ndarray:
    n, m = data["C"].shape
    return np.asarray(x, dtype=np.float64).reshape((n, m), order="F")


def objective(data, x) -> float:
    """<C, P> + eps sum P log P at the flat (F-ordered) plan x; +inf with negative entries."""
    P = _plan(data, x)
    if np.any(P < 0) or not np.all(np.isfinite(P)):
        return float("inf")
    C = data["C"]
    pos = P > 0
    return float(np.sum(C[pos] * P[pos]) + data["eps"] * np.sum(xlogy(P, P)))


def infeasibility(data, x) -> float:
    """(||P 1 - a||_1 + ||P^T 1 - b||_1 + negative mass) / sum(a)."""
    P = _plan(data, x)
    a, b = data["a"], data["b"]
    neg = float(-P[P < 0].sum())
    return float((np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum() + neg) / a.sum())


def _eps_tag(rel: float) -> str:
    return f"eps{rel:.0e}".replace("e-0", "e-")


@register_suite
class OTSuite(Suite):
    name = "ot"
    description = ("entropic OT: DOTmark 32x32 / 64x64 pairs and Gaussian-mixture point clouds "
                   "(n = 1000, 3000, 5000) at eps = 1e-1, 1e-2, 1e-3 x max(C); POT peers")
    default_backends = BACKENDS
    default_peers = PEERS
    default_time_limit = 60.0
    default_tol = 1e-9

    def instances(self):
        data_dir = self.options.get("data_dir")
        out = []
        for R in RESOLUTIONS:
            for cls in CLASSES:
                pa, err = find_dotmark(cls, R, PAIR[0], data_dir)
                pb, err2 = find_dotmark(cls, R, PAIR[1], data_dir)
                skip = err or err2
                for rel in REL_EPS:
                    out.append(Instance(
                        f"dotmark-{cls}-{R}-{_eps_tag(rel)}", "entropic_ot", f"{R * R}x{R * R}",
                        _dotmark_data(cls, R, rel, data_dir), build=build, objective=objective,
                        infeasibility=infeasibility, skip=skip,
                        meta={"files": [str(pa) if pa else None, str(pb) if pb else None],
                              "cost": "squared grid distance", "eps": f"{rel:g} x max(C)"}))
        for i, n in enumerate(CLOUD_SIZES):
            for rel in REL_EPS:
                out.append(Instance(
                    f"cloud-{n}-{_eps_tag(rel)}", "entropic_ot", f"{n}x{n}", cloud_data(n, rel, 100 + i),
                    build=build, objective=objective, infeasibility=infeasibility,
                    meta={"clouds": "Gaussian mixtures (3 vs 4 components) in 2-D", "seed": 100 + i,
                          "cost": "squared Euclidean", "eps": f"{rel:g} x max(C)"}))
        return out
