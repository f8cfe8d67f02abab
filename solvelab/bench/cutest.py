"""CUTEst problems from ``sif2jax`` (extra ``solvelab[cutest]``), without paying its import per run.

Importing sif2jax takes about 70 s and 780 MB (its package imports all of its problems
at once). The harness pays that once, not per run or per worker start:

1. **Index.** The list of problems (name, kind, classification, n, constraint counts,
   expected objective) is written once per sif2jax version to ``index.json`` in the
   cache directory, by a child process (``python -m solvelab.bench.cutest index``), so
   listing or filtering instances never imports sif2jax in the harness process.
2. **Export cache.** For each selected problem, the objective, its gradient and the
   constraint functions and Jacobians are traced once with JAX in float64, serialized
   with ``jax.export`` and stored per problem with their metadata (x0, bounds, expected
   objective) (``python -m solvelab.bench.cutest export NAME ...``, one child process for
   all missing problems, run by the suite's ``prepare`` before any run). Worker
   processes then load the exported functions with ``jax`` alone.
3. **Fallback.** A problem that cannot be exported is built from sif2jax inside the
   worker. Workers are persistent (``solvelab.bench.runner.LocalExecutor``), so that
   import happens once per worker and again only when a killed worker is replaced.

The one-time costs (index, export, worker start-up) are reported in report.md apart
from every run's solve time. Cache: ``$SOLVELAB_CACHE`` or ``$XDG_CACHE_HOME/solvelab``
(``~/.cache/solvelab``), subfolder ``cutest/<sif2jax version>-jax<jax version>/``.

Kinds (``--instances`` takes names; the suite option ``classes`` takes kinds):
``unconstrained``, ``bound-constrained``, ``equality-constrained``,
``inequality-constrained`` (inequalities, maybe also equalities), ``nonlinear-equations``,
``quadratic`` (sif2jax's constrained quadratic programs).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

INSTALL_HINT = ("install the CUTEst extra with pip install 'solvelab[cutest]' (sif2jax and jax; "
                "sif2jax needs Python >= 3.10 and a JAX that runs on this machine). The first run "
                "indexes and exports the problems once (importing sif2jax takes about 70 s and 780 MB)")

KINDS = ("unconstrained", "bound-constrained", "equality-constrained", "inequality-constrained",
         "nonlinear-equations", "quadratic")

_BASES = {  # sif2jax base class name -> kind (constrained ones are refined by their counts)
    "AbstractUnconstrainedMinimisation": "unconstrained",
    "AbstractBoundedMinimisation": "bound-constrained",
    "AbstractConstrainedMinimisation": "constrained",
    "AbstractConstrainedQuadraticProblem": "quadratic",
    "AbstractNonlinearEquations": "nonlinear-equations",
}

_CLASSIFICATION = re.compile(r"classification[:\s]+([NCLQSO][UXBNLQO][RI][0-9]-[A-Z]{2}-(?:V|\d+)-(?:V|\d+))",
                             re.IGNORECASE)


class CutestUnavailable(RuntimeError):
    """sif2jax or jax is missing (the message says how to install them)."""


# ----------------------------------------------------------------------------------------
# availability, versions, cache
# ----------------------------------------------------------------------------------------

def unavailable() -> str | None:
    """Why the CUTEst suite cannot run here (None: it can). Does not import sif2jax."""
    missing = [m for m in ("sif2jax", "jax") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed; {INSTALL_HINT}"
    return None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_root() -> Path:
    base = os.environ.get("SOLVELAB_CACHE")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "solvelab"


def cache_dir() -> Path:
    """Per (sif2jax, jax) version: exports from another version are never loaded."""
    return cache_root() / "cutest" / f"{_version('sif2jax')}-jax{_version('jax')}"


# ----------------------------------------------------------------------------------------
# classification and kinds (no JAX needed)
# ----------------------------------------------------------------------------------------

def parse_classification(text: str | None) -> dict | None:
    """The CUTEst classification string in a docstring, decoded, e.g. 'SBR2-AN-4-0' ->
    {'code': ..., 'objective': 'sum of squares', 'constraints': 'bounds', 'smooth': True,
    'n': 4, 'm': 0} (n, m None when variable, 'V')."""
    if not text:
        return None
    m = _CLASSIFICATION.search(text)
    if not m:
        return None
    code = m.group(1).upper()
    obj = {"N": "none", "C": "constant", "L": "linear", "Q": "quadratic", "S": "sum of squares",
           "O": "other"}[code[0]]
    con = {"U": "unconstrained", "X": "fixed variables", "B": "bounds", "N": "network", "L": "linear",
           "Q": "quadratic", "O": "general"}[code[1]]
    _, _, n, mm = code.split("-")
    return {"code": code, "objective": obj, "constraints": con, "smooth": code[2] == "R",
            "n": None if n == "V" else int(n), "m": None if mm == "V" else int(mm)}


def problem_kind(problem, n_eq: int | None = None, n_ineq: int | None = None) -> str:
    """The kind of a sif2jax problem, from its base class (and constraint counts)."""
    kind = "other"
    for cls in type(problem).__mro__:
        if cls.__name__ in _BASES:
            kind = _BASES[cls.__name__]
            break
    if kind == "constrained":
        kind = "inequality-constrained" if (n_ineq or 0) > 0 else "equality-constrained"
    return kind


def _as_int(v) -> int:
    return int(np.asarray(v).item()) if v is not None else 0


def describe(problem) -> dict:
    """One index entry: name, kind, classification, n, m_eq, m_ineq, n_bounds, expected f."""
    n = int(problem.num_variables())
    try:
        n_eq, n_ineq, n_bounds = (_as_int(v) for v in problem.num_constraints())
    except Exception:  # noqa: BLE001 - a problem whose counts fail is still listed
        n_eq = n_ineq = n_bounds = None
    expected = None
    try:
        v = problem.expected_objective_value()
        if v is not None and np.size(v) == 1:
            expected = float(np.asarray(v).item())
            if not np.isfinite(expected):
                expected = None
    except Exception:  # noqa: BLE001 - not every problem knows its optimum
        expected = None
    cls = parse_classification(type(problem).__doc__)
    return {"name": problem.name, "kind": problem_kind(problem, n_eq, n_ineq), "n": n, "m_eq": n_eq,
            "m_ineq": n_ineq, "n_bounds": n_bounds, "expected_objective": expected,
            "classification": cls["code"] if cls else None}


def select(entries, kinds=None, min_n=None, max_n=None, names=None) -> list[dict]:
    """Index entries filtered by kind (a KINDS subset), size and name (exact, any case)."""
    kinds = set(kinds) if kinds else None
    if kinds:
        bad = kinds - set(KINDS)
        if bad:
            raise ValueError(f"unknown CUTEst kind(s) {sorted(bad)}; known: {', '.join(KINDS)}")
    wanted = {n.upper() for n in names} if names else None
    out = []
    for e in entries:
        if kinds and e["kind"] not in kinds:
            continue
        if min_n is not None and e["n"] < min_n:
            continue
        if max_n is not None and e["n"] > max_n:
            continue
        if wanted is not None and e["name"].upper() not in wanted:
            continue
        out.append(e)
    return out


# ----------------------------------------------------------------------------------------
# index: built once per sif2jax version, in a child process
# ----------------------------------------------------------------------------------------

def build_index(problems) -> list[dict]:
    """Describe every problem (sif2jax problem objects); failures are listed with a reason."""
    entries = []
    for p in problems:
        try:
            entries.append(describe(p))
        except Exception as exc:  # noqa: BLE001 - one broken problem must not hide the others
            entries.append({"name": getattr(p, "name", type(p).__name__), "kind": "broken", "n": -1,
                            "error": f"{type(exc).__name__}: {exc}"})
    return sorted(entries, key=lambda e: e["name"])


def _run_child(args, log, what) -> float:
    """Run ``python -m solvelab.bench.cutest ARGS`` (it imports sif2jax once); seconds."""
    t = time.perf_counter()
    log(f"cutest: {what} (one-time: importing sif2jax takes about 70 s)")
    env = dict(os.environ, JAX_ENABLE_X64="1")
    proc = subprocess.run([sys.executable, "-m", __name__, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise CutestUnavailable(f"cutest: {what} failed (exit {proc.returncode}): " + " / ".join(tail))
    return time.perf_counter() - t


def load_index(log=lambda m: None, build: bool = True) -> tuple[list[dict], float]:
    """(index entries, seconds spent building it now: 0 when it was cached)."""
    path = cache_dir() / "index.json"
    spent = 0.0
    if not path.is_file():
        why = unavailable()
        if why:
            raise CutestUnavailable(why)
        if not build:
            return [], 0.0
        spent = _run_child(["index", "--out", str(path)], log, "indexing the sif2jax problems")
    return json.loads(path.read_text())["problems"], spent


# ----------------------------------------------------------------------------------------
# numpy-facing NLP functions (float64), from sif2jax or from the export cache
# ----------------------------------------------------------------------------------------

class NLPFunctions:
    """An NLP as plain numpy callables on a flat float64 vector x:

    ``f(x)``, ``grad(x)``, ``c_eq(x)`` / ``jac_eq(x)`` (equalities c(x) = 0),
    ``c_ineq(x)`` / ``jac_ineq(x)`` (inequalities c(x) >= 0, sif2jax's convention),
    ``lo``, ``hi`` (bounds, +-inf where absent), ``x0``, ``expected_objective`` and
    ``source`` ('export cache' or 'sif2jax').
    """

    def __init__(self, name, fns: dict, meta: dict, source: str):
        self.name, self._fns, self.meta, self.source = name, fns, meta, source
        self.x0 = np.asarray(meta["x0"], dtype=np.float64)
        n = self.x0.size
        self.lo = np.asarray(meta.get("lo") if meta.get("lo") is not None else np.full(n, -np.inf), float)
        self.hi = np.asarray(meta.get("hi") if meta.get("hi") is not None else np.full(n, np.inf), float)
        self.m_eq, self.m_ineq = int(meta.get("m_eq") or 0), int(meta.get("m_ineq") or 0)
        self.expected_objective = meta.get("expected_objective")

    def _call(self, key, x):
        return np.asarray(self._fns[key](np.asarray(x, dtype=np.float64)), dtype=np.float64)

    def f(self, x) -> float:
        return float(self._call("f", x))

    def grad(self, x):
        return self._call("grad", x).ravel()

    def c_eq(self, x):
        return self._call("c_eq", x).ravel() if self.m_eq else np.zeros(0)

    def jac_eq(self, x):
        return self._call("jac_eq", x).reshape(self.m_eq, -1) if self.m_eq else np.zeros((0, self.x0.size))

    def c_ineq(self, x):
        return self._call("c_ineq", x).ravel() if self.m_ineq else np.zeros(0)

    def jac_ineq(self, x):
        return self._call("jac_ineq", x).reshape(self.m_ineq, -1) if self.m_ineq else np.zeros((0, self.x0.size))

    def infeasibility(self, x) -> float:
        """max(|c_eq|, max(-c_ineq, 0), bound violation), relative to max(1, |x|_inf)."""
        x = np.asarray(x, dtype=np.float64)
        v = [np.max(np.maximum(self.lo - x, 0.0) + np.maximum(x - self.hi, 0.0), initial=0.0)]
        if self.m_eq:
            v.append(np.max(np.abs(self.c_eq(x)), initial=0.0))
        if self.m_ineq:
            v.append(np.max(np.maximum(-self.c_ineq(x), 0.0), initial=0.0))
        return float(max(v)) / max(1.0, float(np.max(np.abs(x), initial=0.0)))


def _jax_functions(problem):
    """JAX callables on a flat vector, and the metadata, for one sif2jax problem."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    y0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float64), problem.y0)
    x0, unravel = ravel_pytree(y0)
    args = problem.args

    def f(x):
        return jnp.asarray(problem.objective(unravel(x), args), dtype=jnp.float64).sum()

    fns = {"f": f, "grad": jax.grad(f)}
    meta = describe(problem)
    meta["x0"] = np.asarray(x0).tolist()
    bounds = getattr(problem, "bounds", None)
    if bounds is not None:
        lo, hi = bounds
        meta["lo"] = np.broadcast_to(np.asarray(ravel_pytree(lo)[0], float), x0.shape).tolist()
        meta["hi"] = np.broadcast_to(np.asarray(ravel_pytree(hi)[0], float), x0.shape).tolist()
    if hasattr(problem, "constraint"):
        def part(i):
            def c(x):
                out = problem.constraint(unravel(x))[i]
                return ravel_pytree(out)[0] if out is not None else jnp.zeros(0)
            return c
        eq, ineq = part(0), part(1)
        if meta.get("m_eq"):
            fns["c_eq"], fns["jac_eq"] = eq, jax.jacrev(eq)
        if meta.get("m_ineq"):
            fns["c_ineq"], fns["jac_ineq"] = ineq, jax.jacrev(ineq)
    return fns, meta, x0


def export_problem(problem, directory: Path) -> Path:
    """Serialize one problem's functions with ``jax.export`` into ``directory/NAME/``."""
    import jax
    from jax import export

    fns, meta, x0 = _jax_functions(problem)
    out = Path(directory) / problem.name
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    spec = jax.ShapeDtypeStruct(x0.shape, x0.dtype)
    for key, fn in fns.items():
        (tmp / f"{key}.jaxexport").write_bytes(bytes(export.export(jax.jit(fn))(spec).serialize()))
    (tmp / "meta.json").write_text(json.dumps(meta))
    if out.exists():
        import shutil
        shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def is_exported(name: str, directory: Path | None = None) -> bool:
    return ((directory or cache_dir()) / name / "meta.json").is_file()


def load_exported(name: str, directory: Path | None = None) -> NLPFunctions:
    """The NLP of ``name`` from the export cache: imports jax, never sif2jax."""
    import jax
    jax.config.update("jax_enable_x64", True)
    from jax import export

    d = (directory or cache_dir()) / name
    meta = json.loads((d / "meta.json").read_text())
    fns = {}
    for path in d.glob("*.jaxexport"):
        exp = export.deserialize(bytearray(path.read_bytes()))
        fns[path.name.split(".")[0]] = exp.call
    return NLPFunctions(name, fns, meta, "export cache")


_SIF2JAX_BY_NAME: dict = {}


def load_from_sif2jax(name: str) -> NLPFunctions:
    """The NLP of ``name`` built from sif2jax in this process (imports it once per process)."""
    if not _SIF2JAX_BY_NAME:
        import sif2jax
        _SIF2JAX_BY_NAME.update({p.name: p for p in sif2jax.problems})
    problem = _SIF2JAX_BY_NAME[name]
    import jax
    fns, meta, _ = _jax_functions(problem)
    return NLPFunctions(name, {k: jax.jit(v) for k, v in fns.items()}, meta, "sif2jax")


def load_nlp(name: str) -> NLPFunctions:
    """From the export cache when there, else from sif2jax (slow first import)."""
    if is_exported(name):
        try:
            return load_exported(name)
        except Exception:  # noqa: BLE001 - a stale or broken export: rebuild from the source
            pass
    return load_from_sif2jax(name)


def ensure_exported(names, log=lambda m: None) -> float:
    """Export the problems in ``names`` missing from the cache (one child process); seconds."""
    missing = [n for n in names if not is_exported(n)]
    if not missing:
        return 0.0
    return _run_child(["export", "--dir", str(cache_dir()), *missing], log,
                      f"exporting {len(missing)} problem(s) with jax.export")


def _main(argv=None) -> int:
    """``python -m solvelab.bench.cutest index --out FILE`` | ``export --dir DIR NAME...``."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m solvelab.bench.cutest")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("index")
    a.add_argument("--out", required=True)
    b = sub.add_parser("export")
    b.add_argument("--dir", required=True)
    b.add_argument("names", nargs="+")
    args = p.parse_args(argv)
    t = time.perf_counter()
    import sif2jax
    t_import = time.perf_counter() - t
    if args.cmd == "index":
        entries = build_index(sif2jax.problems)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"sif2jax": _version("sif2jax"), "jax": _version("jax"),
                                   "import_seconds": t_import, "problems": entries}))
        os.replace(tmp, out)
        print(f"indexed {len(entries)} problems (sif2jax import {t_import:.1f} s)")
        return 0
    by_name = {p.name: p for p in sif2jax.problems}
    failed = []
    for name in args.names:
        try:
            export_problem(by_name[name], Path(args.dir))
        except Exception as exc:  # noqa: BLE001 - the worker falls back on sif2jax for it
            failed.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
    print(f"exported {len(args.names) - len(failed)} of {len(args.names)} (sif2jax import {t_import:.1f} s)")
    for f in failed:
        print("  not exported (will be built from sif2jax in the worker): " + f)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
