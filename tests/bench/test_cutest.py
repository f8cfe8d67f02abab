"""CUTEst plumbing that can be checked without sif2jax: the suite's skip message, the
classification parser, the index built in a child process from a stand-in sif2jax
package, kind/size filters, and the scipy NLP peer on numpy callables. The jax.export
round trip runs only where jax is installed."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from solvelab.bench import cutest
from solvelab.bench.cli import main
from solvelab.bench.suite import get_suite

FAKE_SIF2JAX = textwrap.dedent('''
    """Stand-in for sif2jax (same class names and methods), numpy only."""
    import numpy as np

    class AbstractProblem:
        @property
        def name(self):
            return type(self).__name__
        def num_variables(self):
            return int(np.size(self.y0))

    class AbstractUnconstrainedMinimisation(AbstractProblem):
        def num_constraints(self):
            return 0, 0, 0

    class AbstractBoundedMinimisation(AbstractProblem):
        def num_constraints(self):
            return 0, 0, int(np.isfinite(np.concatenate(self.bounds)).sum())

    class AbstractConstrainedMinimisation(AbstractProblem):
        def num_constraints(self):
            eq, ineq = self.constraint(self.y0)
            return (0 if eq is None else np.size(eq)), (0 if ineq is None else np.size(ineq)), 0

    class ROSENBR(AbstractUnconstrainedMinimisation):
        """Rosenbrock. classification SUR2-AN-2-0"""
        y0 = np.array([-1.2, 1.0])
        args = None
        def objective(self, y, args):
            return 100 * (y[1] - y[0] ** 2) ** 2 + (1 - y[0]) ** 2
        def expected_objective_value(self):
            return np.array(0.0)

    class BIGQUAD(AbstractUnconstrainedMinimisation):
        """classification QUR2-AN-V-0"""
        y0 = np.ones(5000)
        args = None
        def objective(self, y, args):
            return float(y @ y)
        def expected_objective_value(self):
            return None

    class HS1(AbstractBoundedMinimisation):
        """Hock-Schittkowski 1. classification SBR2-AN-2-0"""
        y0 = np.array([-2.0, 1.0])
        args = None
        bounds = (np.array([-np.inf, -1.5]), np.array([np.inf, np.inf]))
        def objective(self, y, args):
            return 100 * (y[1] - y[0] ** 2) ** 2 + (1 - y[0]) ** 2
        def expected_objective_value(self):
            return 0.0

    class HS6(AbstractConstrainedMinimisation):
        """classification QQR2-AN-2-1"""
        y0 = np.array([-1.2, 1.0])
        args = None
        bounds = None
        def objective(self, y, args):
            return (1 - y[0]) ** 2
        def constraint(self, y):
            return np.array([10 * (y[1] - y[0] ** 2)]), None
        def expected_objective_value(self):
            return 0.0

    class BROKEN(AbstractUnconstrainedMinimisation):
        """classification OUR2-AN-V-0"""
        @property
        def y0(self):
            raise RuntimeError("no start point")

    problems = (ROSENBR(), BIGQUAD(), HS1(), HS6(), BROKEN())
''')


@pytest.fixture()
def fake_sif2jax(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "sif2jax"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_SIF2JAX)
    monkeypatch.setenv("SOLVELAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "site"


def test_suite_skips_with_install_hint_when_sif2jax_is_missing(tmp_path, capsys):
    if cutest.unavailable() is None:
        pytest.skip("sif2jax and jax are installed here")
    assert "solvelab[cutest]" in get_suite("cutest").unavailable()
    assert main(["cutest", "--out", str(tmp_path / "c"), "--no-progress"]) == 0   # a skip, not an error
    err = capsys.readouterr().err
    assert "suite 'cutest' skipped" in err and "pip install 'solvelab[cutest]'" in err
    assert not (tmp_path / "c").exists()


def test_classification_parser():
    c = cutest.parse_classification("Source: Hock and Schittkowski.\n\n    classification SBR2-AN-4-0\n")
    assert c == {"code": "SBR2-AN-4-0", "objective": "sum of squares", "constraints": "bounds",
                 "smooth": True, "n": 4, "m": 0}
    c = cutest.parse_classification("Classification: QLR2-AN-V-V")
    assert c["constraints"] == "linear" and c["n"] is None and c["m"] is None
    assert cutest.parse_classification("no code here") is None


def test_index_is_built_in_a_child_process_and_filters(fake_sif2jax, tmp_path):
    out = tmp_path / "index.json"
    env = dict(os.environ, PYTHONPATH=str(fake_sif2jax) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "solvelab.bench.cutest", "index", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "sif2jax" not in sys.modules            # the harness process never imported it
    index = json.loads(out.read_text())
    by = {e["name"]: e for e in index["problems"]}
    assert by["BROKEN"]["kind"] == "broken" and "no start point" in by["BROKEN"]["error"]
    assert by["ROSENBR"] == {"name": "ROSENBR", "kind": "unconstrained", "n": 2, "m_eq": 0, "m_ineq": 0,
                             "n_bounds": 0, "expected_objective": 0.0, "classification": "SUR2-AN-2-0"}
    assert by["HS1"]["kind"] == "bound-constrained" and by["HS1"]["n_bounds"] == 1
    assert by["HS6"]["kind"] == "equality-constrained" and by["HS6"]["m_eq"] == 1
    assert by["BIGQUAD"]["expected_objective"] is None and by["BIGQUAD"]["n"] == 5000
    entries = index["problems"]
    assert [e["name"] for e in cutest.select(entries, kinds=["unconstrained"])] == ["BIGQUAD", "ROSENBR"]
    assert [e["name"] for e in cutest.select(entries, kinds=["unconstrained"], max_n=100)] == ["ROSENBR"]
    assert [e["name"] for e in cutest.select(entries, names=["hs6"])] == ["HS6"]
    with pytest.raises(ValueError, match="unknown CUTEst kind"):
        cutest.select(entries, kinds=["convex"])

    # the suite lists its instances from the cached index (no sif2jax, no jax needed)
    cached = cutest.cache_dir() / "index.json"
    cached.parent.mkdir(parents=True)
    cached.write_text(out.read_text())
    suite = get_suite("cutest", kinds="unconstrained,bound-constrained", max_n="100")
    insts = {i.name: i for i in suite.all_instances()}
    assert sorted(insts) == ["HS1", "ROSENBR"]
    assert insts["ROSENBR"].family == "nlp" and insts["ROSENBR"].reference == 0.0
    assert insts["HS1"].meta["classification"] == "SBR2-AN-2-0"


class _NumpyNLP(cutest.NLPFunctions):
    """HS71-like: min x0 x3 (x0 + x1 + x2) + x2, x0 x1 x2 x3 >= 25, sum x^2 = 40, 1 <= x <= 5."""

    def __init__(self):
        fns = {
            "f": lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2],
            "grad": lambda x: np.array([x[3] * (2 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1,
                                        x[0] * (x[0] + x[1] + x[2])]),
            "c_eq": lambda x: np.array([x @ x - 40.0]),
            "jac_eq": lambda x: 2 * x[None, :],
            "c_ineq": lambda x: np.array([np.prod(x) - 25.0]),
            "jac_ineq": lambda x: np.array([[np.prod(x) / v for v in x]]),
        }
        meta = {"x0": [1.0, 5.0, 5.0, 1.0], "lo": [1.0] * 4, "hi": [5.0] * 4, "m_eq": 1, "m_ineq": 1,
                "expected_objective": 17.0140173}
        super().__init__("HS71", fns, meta, "test")


def test_nlp_functions_and_scipy_peer():
    from solvelab.bench.peer import get_peer
    from solvelab.bench.suite import Instance
    nlp = _NumpyNLP()
    assert nlp.infeasibility(nlp.x0) == pytest.approx(12.0 / 5.0)   # |1 + 25 + 25 + 1 - 40| / max|x|
    assert nlp.infeasibility([0.0, 5, 5, 1]) == pytest.approx(25.0 / 5.0)  # bound 1, eq 11, ineq 25
    inst = Instance("HS71", "nlp", "n=4")
    points = []
    run = get_peer("scipy-nlp").solve(inst, {"nlp": nlp}, tol=1e-8, time_limit=30, max_iter=None,
                                      record=lambda **kw: points.append(kw))
    assert run.message.startswith("SLSQP")
    assert nlp.f(run.x) == pytest.approx(17.0140173, rel=1e-6) and nlp.infeasibility(run.x) < 1e-7
    assert len(points) == run.iterations >= 3


def test_export_round_trip_with_jax(fake_sif2jax, tmp_path, monkeypatch):
    pytest.importorskip("jax")
    monkeypatch.syspath_prepend(str(fake_sif2jax))
    import jax.numpy as jnp

    class Quad:
        name = "QUAD"
        y0 = jnp.array([1.0, 2.0])
        args = None
        bounds = None
        __doc__ = "classification QUR2-AN-2-0"

        def objective(self, y, args):
            return jnp.sum((y - 3.0) ** 2)

        def num_variables(self):
            return 2

        def num_constraints(self):
            return 0, 0, 0

        def expected_objective_value(self):
            return 0.0

    cutest.export_problem(Quad(), tmp_path / "exp")
    nlp = cutest.load_exported("QUAD", tmp_path / "exp")
    assert nlp.source == "export cache" and nlp.f([1.0, 2.0]) == pytest.approx(5.0)
    assert np.allclose(nlp.grad([1.0, 2.0]), [-4.0, -2.0])
