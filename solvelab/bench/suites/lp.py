"""The ``lp`` suite: the Netlib and test LPs of ../shared/data/lp (``solvelab bench lp``).

Every ``lp/<name>.mps.xz`` of the data directory (``--data-dir``, ``SOLVELAB_DATA`` or
../shared/data, see ``solvelab.bench.data``), read with ``read_mps`` (integer columns
relaxed: the MANIFEST's reference values are the LP relaxations), with HiGHS 1.16's
status and objective from the MANIFEST as the reference. Instances whose file is absent
are skipped with the search path in the reason; infeasible and unbounded ones carry
their expected status in ``meta['expected']``. Backends: ``pdhg`` and ``admm``; peers:
HiGHS simplex, IPM and PDLP (``solvelab.bench.peers.highs``) and OR-Tools PDLP where ortools
is installed (``peers.ortools_pdlp``; skipped with the install hint otherwise). (The CVXPY peers wrap
``Problem.objective`` / ``constraints``, which an LP node built from arrays has not.)

``demo_instance()`` is a generated LP (no download, well under a second) for the quick
suite.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import search_dirs
from ..suite import Instance, Suite, register_suite

#: (name, rows, cols, HiGHS status, objective) from ../shared/data/MANIFEST.md
MANIFEST = (
    ("25fv47", 821, 1571, "Optimal", 5501.845888), ("adlittle", 56, 97, "Optimal", 225494.9632),
    ("afiro", 27, 32, "Optimal", -464.7531429), ("bgetam", 400, 688, "Infeasible", None),
    ("blending", 2, 2, "Optimal", -3200.0), ("e226", 223, 282, "Optimal", -11.63892907),
    ("etamacro", 400, 688, "Optimal", -755.7152333), ("forest6", 66, 95, "Infeasible", None),
    ("galenet", 8, 8, "Infeasible", None), ("gas11", 459, 862, "Unbounded", None),
    ("gesa2", 1392, 1224, "Optimal", 25476489.68), ("israel", 174, 142, "Optimal", -896644.8219),
    ("klein1", 54, 54, "Infeasible", None), ("p01", 30, 210, "Optimal", 263.0),
    ("qap04", 104, 88, "Optimal", 32.0), ("refinery", 323, 464, "Infeasible", None),
    ("scrs8", 490, 1169, "Optimal", 904.2969538), ("sctest", 10, 6, "Optimal", 5.75),
    ("shell", 536, 1775, "Optimal", 1208825346.0), ("sp150x300d", 450, 600, "Optimal", 4.89111184),
    ("standata", 359, 1075, "Optimal", 1257.6995), ("standgub", 361, 1184, "Optimal", 1257.6995),
    ("standmps", 467, 1075, "Optimal", 1406.0175), ("woodinfe", 35, 89, "Infeasible", None),
)
BACKENDS = ("pdhg", "admm")
PEERS = ("highs-simplex", "highs-ipm", "highs-pdlp", "ortools-pdlp")


def find_lp(name: str, data_dir=None):
    """(path, None) of ``lp/<name>.mps[.xz|.gz]``, or (None, reason) naming where it looked."""
    looked = []
    for base in search_dirs(data_dir):
        for suf in (".mps.xz", ".mps", ".mps.gz"):
            p = Path(base) / "lp" / f"{name}{suf}"
            if p.is_file():
                return p, None
        looked.append(str(base))
    return None, (f"LP {name}.mps.xz not found under lp/ in {', '.join(looked)} (pass --data-dir DIR or "
                  "set SOLVELAB_DATA=DIR; see ../shared/data/MANIFEST.md)")


def _file_data(path):
    def data():
        return {"path": str(path)}
    return data


def build(data):
    if "path" in data:
        from ...problems.lp import read_mps
        return read_mps(data["path"], relax_integrality=True)
    from ...problems.lp import linear_program
    return linear_program(data["c"], data["A"], data["rl"], data["ru"], data["l"], data["u"])


def _program(data):
    if "_program" not in data:
        data["_program"] = build(data).program
    return data["_program"]


def objective(data, x) -> float:
    p = _program(data)
    return float(p.user_objective(np.asarray(x, dtype=np.float64)))


def infeasibility(data, x) -> float:
    """The LP certificate's relative primal residual at x."""
    from ...families.lp import measures
    p = _program(data)
    x = np.asarray(x, dtype=np.float64)
    return measures(p, x, p.A @ x, np.zeros(p.shape[0]), np.zeros(p.shape[1]))[0]


def generated_lp(m: int = 200, n: int = 300, seed: int = 0) -> dict:
    """A feasible, bounded sparse LP with equality, one- and two-sided rows and free,
    nonnegative and boxed columns (x0 primal and y0 dual feasible by construction)."""
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=0.05, random_state=rng, data_rvs=rng.standard_normal, format="csr")
    A = (A + sp.csr_matrix((np.ones(m), (np.arange(m), rng.integers(0, n, m))), shape=(m, n))).tocsr()
    x0 = rng.uniform(0.5, 2.0, n)
    ax = A @ x0
    kind = rng.integers(0, 4, m)
    slack = rng.uniform(0, 1, m)
    rl = np.where(kind != 2, ax - np.where(kind == 0, 0.0, slack), -np.inf)
    ru = np.where((kind == 0) | (kind >= 2), ax + np.where(kind == 0, 0.0, slack), np.inf)
    y0 = rng.standard_normal(m)
    y0 = np.where(kind == 1, np.abs(y0), np.where(kind == 2, -np.abs(y0), y0))
    ck = rng.integers(0, 3, n)
    l = np.where(ck == 1, -np.inf, 0.0)
    u = np.where(ck == 2, 3.0, np.inf)
    r0 = np.where(ck == 0, np.abs(rng.standard_normal(n)), np.where(ck == 2, rng.standard_normal(n), 0.0))
    return {"c": A.T @ y0 + r0, "A": A, "rl": rl, "ru": ru, "l": l, "u": u}


def demo_instance() -> Instance:
    """The generated 200 x 300 LP (for the quick suite: no download, < 1 s)."""
    return Instance("lp-generated-200x300", family="lp", size="200x300", data=generated_lp, build=build,
                    objective=objective, infeasibility=infeasibility, backends=BACKENDS,
                    peers=("highs-simplex", "highs-pdlp"), meta={"generator": "generated_lp(200, 300, 0)"})


@register_suite
class LPSuite(Suite):
    name = "lp"
    description = "Netlib and test LPs from ../shared/data/lp (MPS), HiGHS reference values; HiGHS peers"
    default_backends = BACKENDS
    default_peers = PEERS
    default_time_limit = 60.0
    default_tol = 1e-6

    def instances(self):
        data_dir = self.options.get("data_dir")
        out = []
        for name, m, n, status, obj in MANIFEST:
            path, why = find_lp(name, data_dir)
            out.append(Instance(name, family="lp", size=f"{m}x{n}", data=_file_data(path), build=build,
                                objective=objective, infeasibility=infeasibility,
                                reference=obj if status == "Optimal" else None, skip=why,
                                meta={"file": str(path) if path else None, "expected": status.lower()}))
        out.append(demo_instance())
        return out
