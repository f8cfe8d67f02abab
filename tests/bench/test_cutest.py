"""CUTEst plumbing that can be checked without sif2jax: the suite's skip message, the
classification parser, the index built in a child process from a stand-in sif2jax
package, kind/size filters, and the scipy NLP peer on numpy callables. The jax.export
round trip (and the export child process, the cache reused without importing sif2jax, the
scipy NLP peer on exported functions) runs only where jax is installed."""
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
    """Stand-in for sif2jax (same class names, methods and properties), numpy only; the
    objectives also trace with JAX. Each import is logged to $FAKE_SIF2JAX_IMPORTS."""
    import os
    import numpy as np

    if os.environ.get("FAKE_SIF2JAX_IMPORTS"):
        with open(os.environ["FAKE_SIF2JAX_IMPORTS"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")

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
        @property
        def expected_objective_value(self):     # a property in sif2jax
            return np.array(0.0)

    class BIGQUAD(AbstractUnconstrainedMinimisation):
        """classification QUR2-AN-V-0"""
        y0 = np.ones(5000)
        args = None
        def objective(self, y, args):
            return float(y @ y)
        @property
        def expected_objective_value(self):
            return None

    class HS1(AbstractBoundedMinimisation):
        """Hock-Schittkowski 1. classification SBR2-AN-2-0"""
        y0 = np.array([-2.0, 1.0])
        args = None
        bounds = (np.array([-np.inf, -1.5]), np.array([np.inf, np.inf]))
        def objective(self, y, args):
            return 100 * (y[1] - y[0] ** 2) ** 2 + (1 - y[0]) ** 2
        @property
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
            return 10 * (y[1:2] - y[0:1] ** 2), None
        @property
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
    # one --suite-option for both, as the CLI's help writes it
    suite = get_suite("cutest", kinds="unconstrained,bound-constrained,max_n=100")
    assert sorted(i.name for i in suite.all_instances()) == ["HS1", "ROSENBR"]


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


def _needs_export():
    pytest.importorskip("jax")
    if cutest.export_unavailable():
        pytest.skip(cutest.export_unavailable())


def test_export_round_trip_with_jax(tmp_path):
    """Pytree start points, bounds with a missing side, equality and inequality
    constraints as pytrees: what jax.export writes is what load_exported gives back."""
    _needs_export()
    import jax.numpy as jnp

    class Quad:
        """classification QUR2-AN-2-0"""
        name = "QUAD"
        y0 = jnp.array([1.0, 2.0])
        args = None

        def objective(self, y, args):
            return jnp.sum((y - 3.0) ** 2)

        def num_variables(self):
            return 2

        def num_constraints(self):
            return 0, 0, 0

        @property
        def expected_objective_value(self):
            return jnp.array(0.0)

    class Con:
        """min (a - 1)^2 + (b0 - 2)^2 + (b1 - 2)^2, a + b0 + b1 = 3, a - b1 >= -1, a >= 0.
        classification QLR2-AN-3-2"""
        name = "CON"
        y0 = (jnp.array(0.5), jnp.array([0.0, 0.0]))
        args = None
        bounds = ((jnp.array(0.0), jnp.array([-jnp.inf, -jnp.inf])), None)

        def objective(self, y, args):
            a, b = y
            return (a - 1.0) ** 2 + jnp.sum((b - 2.0) ** 2)

        def constraint(self, y):
            a, b = y
            return {"sum": a + b[0] + b[1] - 3.0}, (a - b[1] + 1.0, self.sign * (a + 5.0))

        def num_variables(self):
            return 3

        def num_constraints(self):
            return 1, 1, 1

        @property
        def expected_objective_value(self):
            return jnp.array(4.0 / 3.0)

        @property
        def expected_result(self):
            return (jnp.array(1.0 / 3.0), jnp.array([4.0 / 3.0, 4.0 / 3.0]))

    class Flipped(Con):
        """An inequality with pycutest's sign (<= 0), as some sif2jax 0.0.8 problems have."""
        name = "FLIPPED"
        sign = -1.0

    Con.sign = 1.0

    cutest.export_problem(Quad(), tmp_path / "exp")
    nlp = cutest.load_exported("QUAD", tmp_path / "exp")
    assert nlp.source == "export cache" and nlp.f([1.0, 2.0]) == pytest.approx(5.0)
    assert np.allclose(nlp.grad([1.0, 2.0]), [-4.0, -2.0])
    assert nlp.expected_objective == 0.0 and nlp.m_eq == nlp.m_ineq == 0
    assert np.all(np.isinf(nlp.lo)) and np.all(np.isinf(nlp.hi))

    cutest.export_problem(Con(), tmp_path / "exp")
    nlp = cutest.load_exported("CON", tmp_path / "exp")
    assert (nlp.m_eq, nlp.m_ineq) == (1, 2) and nlp.meta["warnings"] == []
    assert np.allclose(nlp.x0, [0.5, 0.0, 0.0]) and nlp.x0.dtype == np.float64
    assert np.allclose(nlp.lo, [0.0, -np.inf, -np.inf]) and np.all(np.isinf(nlp.hi))
    x = np.array([1.0, 0.5, 0.25])
    assert nlp.f(x) == pytest.approx(0.0 + 1.5 ** 2 + 1.75 ** 2)
    assert np.allclose(nlp.c_eq(x), [-1.25]) and np.allclose(nlp.jac_eq(x), [[1.0, 1.0, 1.0]])
    assert np.allclose(nlp.c_ineq(x), [1.75, 6.0])
    assert np.allclose(nlp.jac_ineq(x), [[1.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    assert nlp.expected_objective == pytest.approx(4.0 / 3.0)
    cutest.export_problem(Flipped(), tmp_path / "exp")
    warnings = cutest.load_exported("FLIPPED", tmp_path / "exp").meta["warnings"]
    assert len(warnings) == 1 and "c(x) <= 0" in warnings[0]

    from solvelab.bench.peer import get_peer
    from solvelab.bench.suite import Instance
    run = get_peer("scipy-nlp").solve(Instance("CON", "nlp", "n=3"), {"nlp": nlp}, tol=1e-8, time_limit=30,
                                      max_iter=None, record=lambda **kw: None)
    # optimum: (1, 2, 2) projected on the plane, (1/3, 4/3, 4/3): a - b1 = -1 holds, a >= 0
    assert run.message.startswith("SLSQP") and nlp.infeasibility(run.x) < 1e-8
    assert nlp.f(run.x) == pytest.approx(4.0 / 3.0, rel=1e-6)


def _imports(path):
    return len(path.read_text().split()) if path.exists() else 0


def test_index_export_cache_and_harness_import_sif2jax_once_each(fake_sif2jax, tmp_path, monkeypatch, capsys):
    """The index and the exports come from one child process each; the harness, its
    workers and a second run import no sif2jax; one-time costs are in config.json."""
    _needs_export()
    log = tmp_path / "imports.log"
    monkeypatch.setenv("FAKE_SIF2JAX_IMPORTS", str(log))
    monkeypatch.setenv("PYTHONPATH", str(fake_sif2jax) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setattr(cutest, "unavailable", lambda: None)   # the fake is on the children's path only

    entries, spent = cutest.load_index()
    assert spent > 0 and _imports(log) == 1 and "ROSENBR" in {e["name"] for e in entries}
    assert cutest.load_index() == (entries, 0.0) and _imports(log) == 1

    assert cutest.ensure_exported(["ROSENBR", "HS1", "HS6", "BIGQUAD"]) > 0 and _imports(log) == 2
    assert all(cutest.is_exported(n) for n in ("ROSENBR", "HS1", "HS6"))
    assert "BIGQUAD" in "".join(p.name for p in cutest.cache_dir().iterdir())   # float(tracer) fails
    assert not cutest.is_exported("BIGQUAD") and cutest.export_failed("BIGQUAD")
    assert cutest.ensure_exported(["ROSENBR", "HS1", "HS6", "BIGQUAD"]) == 0.0 and _imports(log) == 2

    nlp = cutest.load_nlp("HS1")
    assert nlp.source == "export cache" and nlp.expected_objective == 0.0
    assert np.allclose(nlp.lo, [-np.inf, -1.5]) and nlp.x0.tolist() == [-2.0, 1.0]
    assert "sif2jax" not in sys.modules and _imports(log) == 2

    # the whole harness, twice, with a worker process; neither run imports sif2jax
    out = tmp_path / "run1"
    args = ["cutest", "--instances", "ROSENBR,[H]S1,[H]S6", "--backends", "none", "--peers", "scipy-nlp",
            "--time-limit", "60", "--no-progress", "--suite-option", "max_n=10"]
    assert main(args + ["--out", str(out)]) == 0
    assert _imports(log) == 2
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    by = {r["instance"]: r for r in recs}
    assert sorted(by) == ["HS1", "HS6", "ROSENBR"]
    for r in recs:
        assert r["status"] == "converged", r
        assert r["objective"] == pytest.approx(0.0, abs=1e-6) and r["infeasibility"] < 1e-6
    config = json.loads((out / "config.json").read_text())
    assert config["one_time"] == {}          # index and exports were cached already
    assert "HS6" in (out / "report.md").read_text()

    cutest.cache_dir().joinpath("HS6").rename(cutest.cache_dir() / "HS6.old")   # a new problem to export
    assert main(args + ["--out", str(tmp_path / "run2")]) == 0
    assert _imports(log) == 3                 # the export child only
    config = json.loads((tmp_path / "run2" / "config.json").read_text())
    assert list(config["one_time"]) == ["jax.export of new problems (sif2jax import)"]
