"""The ``metric`` suite: metric nearness and correlation clustering LPs (``solvelab bench metric``).

Instances
  nearness-<type>-<n>       L2 metric nearness of random dissimilarities (seeded), the two
                            synthetic types of the Project-and-Forget paper: 'uniform'
                            (D_ij ~ U(0, 1)) and 'perturbed' (Euclidean distances of points in
                            the unit square, each entry multiplied by a U(0.5, 1.5) factor with
                            probability 0.3); n = 50, 100, 200, 500, 1000, 2000
  graph-<name>              L2 nearness of the hop-count shortest-path D of a real graph
                            (largest connected component) with 30% of the pairs multiplied
                            by U(0.5, 1.5) (seed 0)
  cc-<name>                 the Jaccard-weighted correlation clustering LP of a real graph
                            (``jaccard_correlation_instance``; largest connected component)

Graphs are SuiteSparse ``.mat`` files looked for as ``graphs/<name>.mat`` under
``--data-dir``, ``SOLVELAB_DATA`` and ``../shared/data`` (``solvelab.bench.data``); when
absent those instances are skipped with the search path in the reason. Peers: CVXPY with
Clarabel / SCS on the explicit triangles (``solvelab.bench.peers.metric_peers``; n <= 120).
``demo_instance()`` is a seconds-long instance with no download (for the quick suite).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import search_dirs
from ..suite import Instance, Suite, register_suite

SIZES = (50, 100, 200, 500, 1000, 2000)
NEARNESS_GRAPHS = ("USAir97", "Harvard500", "SmallW", "jazz", "celegansneural", "netscience")
CC_GRAPHS = ("jazz", "netscience", "celegansneural")
BACKENDS = ("project_forget",)
PEERS = ("cvxpy-clarabel-metric", "cvxpy-scs-metric")


def random_dissimilarity(n: int, kind: str, seed: int) -> np.ndarray:
    """A symmetric nonnegative (n, n) D with zero diagonal ('uniform' or 'perturbed')."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        D = rng.random((n, n))
    else:
        pts = rng.random((n, 2))
        D = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
        D = D * np.where(rng.random((n, n)) < 0.3, rng.uniform(0.5, 1.5, (n, n)), 1.0)
    D = np.triu(D, 1)
    return np.ascontiguousarray(D + D.T)


def find_graph(name: str, data_dir=None):
    """(path, None) of graphs/<name>.mat, or (None, reason) saying where it looked."""
    looked = []
    for base in search_dirs(data_dir):
        p = Path(base) / "graphs" / f"{name}.mat"
        if p.is_file():
            return p, None
        looked.append(str(base))
    return None, (f"graph graphs/{name}.mat not found in {', '.join(looked)} (pass --data-dir DIR or set "
                  "SOLVELAB_DATA=DIR; see ../shared/data/MANIFEST.md)")


def load_graph(path):
    """The symmetric 0/1 adjacency (CSR, no self loops) of the largest connected component."""
    import scipy.io
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    A = sp.csr_matrix(scipy.io.loadmat(str(path))["Problem"]["A"][0, 0])
    A = ((A + A.T) != 0).astype(np.float64).tolil()
    A.setdiag(0)
    A = A.tocsr()
    A.eliminate_zeros()
    _, lab = connected_components(A, directed=False)
    idx = np.nonzero(lab == np.argmax(np.bincount(lab)))[0]
    return A[idx][:, idx]


def perturb(D: np.ndarray, frac: float = 0.3, seed: int = 0) -> np.ndarray:
    """D with a fraction of its pairs multiplied by U(0.5, 1.5) (symmetric)."""
    rng = np.random.default_rng(seed)
    n = D.shape[0]
    F = np.where(rng.random((n, n)) < frac, rng.uniform(0.5, 1.5, (n, n)), 1.0)
    F = np.triu(F, 1)
    return np.ascontiguousarray(D * (F + F.T + np.eye(n)))


def build(data):
    from ...problems.metric import correlation_clustering_lp, metric_nearness
    if data["kind"] == "lp":
        return correlation_clustering_lp(data["W_plus"], data["W_minus"])
    return metric_nearness(data["D"], p=2 if data["kind"] == "l2" else 1)


def _program(data):
    prog = data.get("_program")
    if prog is None:
        prog = data["_program"] = build(data).program
    return prog


def objective(data, x) -> float:
    """The objective at the flat X (n * n entries)."""
    return _program(data).objective(np.asarray(x, dtype=np.float64).ravel())


def infeasibility(data, x) -> float:
    """max(triangle violation, structure violation) / scale, over all triangles."""
    cert = _program(data).certify(np.asarray(x, dtype=np.float64).ravel(), None)
    return max(cert.max_triangle_violation, cert.structure_violation)


def nearness_data(n, kind, seed):
    return lambda: {"kind": "l2", "D": random_dissimilarity(n, kind, seed)}


def graph_nearness_data(path):
    def data():
        from ...problems.metric import shortest_path_dissimilarities
        return {"kind": "l2", "D": perturb(shortest_path_dissimilarities(load_graph(path)))}
    return data


def graph_cc_data(path):
    def data():
        from ...problems.metric import jaccard_correlation_instance
        Wp, Wm = jaccard_correlation_instance(load_graph(path))
        return {"kind": "lp", "W_plus": Wp, "W_minus": Wm}
    return data


def demo_instance() -> Instance:
    """L2 nearness of a 60-point 'perturbed' D: about a second, no download."""
    return Instance("metric-nearness-demo-60", "metric_nearness", "60x60", nearness_data(60, "perturbed", 7),
                    build=build, objective=objective, infeasibility=infeasibility,
                    backends=BACKENDS, peers=("cvxpy-clarabel-metric",),
                    meta={"D": "perturbed Euclidean, seed 7"})


@register_suite
class MetricSuite(Suite):
    name = "metric"
    description = ("metric nearness (random n = 50..2000, perturbed shortest paths of real graphs) and "
                   "Jaccard correlation clustering LPs; CVXPY peers on explicit triangles (small n)")
    default_backends = BACKENDS
    default_peers = PEERS
    default_time_limit = 600.0
    default_tol = 1e-6

    def instances(self):
        data_dir = self.options.get("data_dir")
        out = []
        for kind in ("uniform", "perturbed"):
            for i, n in enumerate(SIZES):
                out.append(Instance(f"nearness-{kind}-{n}", "metric_nearness", f"{n}x{n}",
                                    nearness_data(n, kind, 10 + i), build=build, objective=objective,
                                    infeasibility=infeasibility, meta={"D": kind, "seed": 10 + i}))
        for g in NEARNESS_GRAPHS:
            path, err = find_graph(g, data_dir)
            out.append(Instance(f"graph-{g}", "metric_nearness", "LCC", graph_nearness_data(path), build=build,
                                objective=objective, infeasibility=infeasibility, skip=err,
                                meta={"file": str(path) if path else None, "perturbed": "30% x U(0.5, 1.5)"}))
        for g in CC_GRAPHS:
            path, err = find_graph(g, data_dir)
            out.append(Instance(f"cc-{g}", "correlation_clustering_lp", "LCC", graph_cc_data(path), build=build,
                                objective=objective, infeasibility=infeasibility, skip=err,
                                meta={"file": str(path) if path else None, "weights": "Jaccard, delta 0.05"}))
        return out
