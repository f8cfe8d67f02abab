"""CUTEst problems from ``sif2jax`` (extra ``solvelab[cutest]``), without paying its import per run.

Importing sif2jax takes 25-70 s and about 800 MB (its package imports all of its problems
at once). The harness pays that once, not per run or per worker start:

1. **Index.** The list of problems (name, kind, classification, n, constraint sizes,
   expected objective) is written once per sif2jax version to ``index.json`` in the
   cache directory, by a child process (``python -m solvelab.bench.cutest index``), so
   listing or filtering instances never imports sif2jax in the harness process. The
   constraint sizes come from ``jax.eval_shape`` (tracing only); the whole index took
   about 80 s here (sif2jax 0.0.8: 842 problems, import included).
2. **Export cache.** For each selected problem, the objective, its gradient and the
   constraint functions and Jacobians are traced once with JAX in float64, serialized
   with ``jax.export`` and stored per problem with their metadata (x0, bounds, expected
   objective) (``python -m solvelab.bench.cutest export NAME ...``, one child process for
   all missing problems, run by the suite's ``prepare`` before any run; about 0.1 s per
   small problem after the import). Worker processes then load the exported functions
   with ``jax`` alone, jit them and call them once while loading the data, so neither
   the import nor the compilation is part of a run's time. Serializing needs the
   ``flatbuffers`` package (jax does not depend on it).
3. **Fallback.** A problem that cannot be exported (or every problem, without
   flatbuffers) is built from sif2jax inside the worker. Workers are persistent
   (``solvelab.bench.runner.LocalExecutor``), so that import happens once per worker and
   again only when a killed worker is replaced. A failed export is remembered
   (``NAME.export-failed`` in the cache) and not retried.

The one-time costs (index, export, worker start-up) are reported in report.md apart
from every run's solve time. Cache: ``$SOLVELAB_CACHE`` or ``$XDG_CACHE_HOME/solvelab``
(``~/.cache/solvelab``), subfolder ``cutest/<sif2jax version>-jax<jax version>/``.

Kinds (``--instances`` takes names; the suite option ``kinds`` takes kinds):
``unconstrained``, ``bound-constrained``, ``equality-constrained``,
``inequality-constrained`` (inequalities, maybe also equalities), ``nonlinear-equations``,
``quadratic`` (sif2jax's constrained quadratic programs).

sif2jax 0.0.8 quirks handled here: ``expected_objective_value`` is a property; a few
names are listed twice in ``sif2jax.problems`` (the first is kept, in the index and in
the exports alike); ``num_constraints`` counts only the constraint values finite at y0.
Not handled (reported): some problems (e.g. HS76) return pycutest's c(x) - rhs for
``<=`` rows instead of sif2jax's documented c(x) >= 0; the export flags those whose
``expected_result`` shows it (``warnings`` in the instance's meta and in the log).
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

INSTALL_HINT = ("install the CUTEst extra with pip install 'solvelab[cutest]' flatbuffers (sif2jax and jax; "
                "flatbuffers for jax.export's cache; sif2jax needs Python >= 3.10 and a JAX that runs on "
                "this machine). The first run indexes the problems once and exports each selected one once "
                "(importing sif2jax takes 25-70 s and about 800 MB)")

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


def export_unavailable() -> str | None:
    """Why ``jax.export`` cannot serialize here (None: it can). jax needs the separate
    ``flatbuffers`` package for that."""
    if importlib.util.find_spec("flatbuffers") is None:
        return ("jax.export needs the flatbuffers package to serialize (pip install flatbuffers, "
                "or pip install 'solvelab[cutest]' once the extra lists it)")
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


def _jax_or_none():
    if importlib.util.find_spec("jax") is None:
        return None
    import jax
    return jax


def _counts(problem, jax) -> tuple[int, int, int]:
    """(m_eq, m_ineq, n_bounds). With jax, the constraint counts are the sizes of the
    constraint vectors, from ``jax.eval_shape`` (tracing only: sif2jax's own
    ``num_constraints`` evaluates every constraint at y0 and counts the finite values,
    which takes 7 times longer over the whole collection) and the bounds are counted with
    numpy. Without jax (a stand-in package), ``num_constraints``."""
    if jax is None:
        return tuple(_as_int(v) for v in problem.num_constraints())
    n_bounds = 0
    bounds = getattr(problem, "bounds", None)
    if bounds is not None:
        n_bounds = int(sum(np.isfinite(np.asarray(leaf, dtype=np.float64)).sum()
                           for side in bounds if side is not None
                           for leaf in jax.tree_util.tree_leaves(side)))
    if not hasattr(problem, "constraint"):
        return 0, 0, n_bounds
    eq, ineq = jax.eval_shape(problem.constraint, problem.y0)
    size = lambda t: 0 if t is None else int(sum(np.prod(l.shape, dtype=int)  # noqa: E731
                                                  for l in jax.tree_util.tree_leaves(t)))
    return size(eq), size(ineq), n_bounds


def expected_objective(problem) -> float | None:
    """sif2jax's expected optimal objective (a property there; a method is accepted too),
    as a float, or None when the problem does not give a finite scalar one."""
    try:
        v = problem.expected_objective_value
        if callable(v):
            v = v()
        if v is None or np.size(v) != 1:
            return None
        v = float(np.asarray(v, dtype=np.float64).item())
        return v if np.isfinite(v) else None
    except Exception:  # noqa: BLE001 - not every problem knows its optimum
        return None


def describe(problem) -> dict:
    """One index entry: name, kind, classification, n, m_eq, m_ineq, n_bounds, expected f."""
    jax = _jax_or_none()
    if jax is not None:  # sizes of the leaves: no ravel (an XLA op per problem)
        n = int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(problem.y0)))
    else:
        n = int(problem.num_variables())
    try:
        n_eq, n_ineq, n_bounds = _counts(problem, jax)
    except Exception:  # noqa: BLE001 - a problem whose counts fail is still listed
        n_eq = n_ineq = n_bounds = None
    expected = expected_objective(problem)
    cls = parse_classification(type(problem).__doc__)
    if cls is None:  # sif2jax sometimes gives it in the module's docstring only
        cls = parse_classification(getattr(sys.modules.get(type(problem).__module__), "__doc__", None))
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
    out, seen = [], set()
    for e in entries:
        if e["name"] in seen:  # an index written before duplicates were dropped
            continue
        seen.add(e["name"])
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
    entries, seen = [], set()
    for p in problems:
        name = getattr(p, "name", type(p).__name__)
        if name in seen:  # sif2jax lists a few problems twice (BIGGSC4, HS76, LOOTSMA in 0.0.8)
            continue
        seen.add(name)
        try:
            entries.append(describe(p))
        except Exception as exc:  # noqa: BLE001 - one broken problem must not hide the others
            entries.append({"name": getattr(p, "name", type(p).__name__), "kind": "broken", "n": -1,
                            "error": f"{type(exc).__name__}: {exc}"})
    return sorted(entries, key=lambda e: e["name"])


def _run_child(args, log, what) -> float:
    """Run ``python -m solvelab.bench.cutest ARGS`` (it imports sif2jax once); seconds."""
    t = time.perf_counter()
    log(f"cutest: {what} (one-time: importing sif2jax takes 25-70 s)")
    env = dict(os.environ, JAX_ENABLE_X64="1")
    proc = subprocess.run([sys.executable, "-m", __name__, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise CutestUnavailable(f"cutest: {what} failed (exit {proc.returncode}): " + " / ".join(tail))
    for line in proc.stdout.strip().splitlines():
        log(f"cutest: {line.strip()}")
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
    meta["n"] = int(x0.size)
    meta["x0"] = np.asarray(x0).tolist()
    bounds = getattr(problem, "bounds", None)
    if bounds is not None:
        lo, hi = bounds

        def flat(b, fill):
            if b is None:
                return np.full(x0.shape, fill)
            v = np.asarray(ravel_pytree(jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), b))[0],
                           dtype=np.float64)
            return np.broadcast_to(v if v.size != 1 else v.reshape(()), x0.shape)
        meta["lo"], meta["hi"] = flat(lo, -np.inf).tolist(), flat(hi, np.inf).tolist()
    meta["m_eq"] = meta["m_ineq"] = 0
    if hasattr(problem, "constraint"):
        def part(i):
            def c(x):
                out = problem.constraint(unravel(x))[i]
                if out is None:
                    return jnp.zeros(0)
                leaves = [jnp.ravel(jnp.asarray(a, dtype=jnp.float64)) for a in jax.tree_util.tree_leaves(out)]
                return jnp.concatenate(leaves) if leaves else jnp.zeros(0)
            return c
        # the sizes of the constraint vectors (sif2jax's num_constraints counts only the
        # values finite at y0), from shapes alone
        for key, i in (("eq", 0), ("ineq", 1)):
            c = part(i)
            m = int(jax.eval_shape(c, x0).shape[0])
            meta[f"m_{key}"] = m
            if m:
                fns[f"c_{key}"] = c
                fns[f"jac_{key}"] = jax.jacrev(c) if m <= x0.size else jax.jacfwd(c)
    return fns, meta, x0


def export_problem(problem, directory: Path) -> Path:
    """Serialize one problem's functions with ``jax.export`` into ``directory/NAME/``."""
    import jax
    from jax import export

    t = time.perf_counter()
    fns, meta, x0 = _jax_functions(problem)
    out = Path(directory) / problem.name
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    import shutil
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        spec = jax.ShapeDtypeStruct(x0.shape, x0.dtype)
        for key, fn in fns.items():
            (tmp / f"{key}.jaxexport").write_bytes(bytes(export.export(jax.jit(fn))(spec).serialize()))
        meta["export_seconds"] = round(time.perf_counter() - t, 3)
        meta["warnings"] = check_expected_result(problem, fns)
        (tmp / "meta.json").write_text(json.dumps(meta))
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _failed_marker(problem.name, directory).unlink(missing_ok=True)
    return out


def check_expected_result(problem, fns) -> list[str]:
    """Sign check at sif2jax's ``expected_result``: where that point is credible (finite, of
    the right size, and its objective is the expected one: in sif2jax 0.0.8 it is often a
    placeholder such as x0 or zeros), its inequalities must be >= 0 (sif2jax's convention;
    some problems, e.g. HS76, return pycutest's c(x) - rhs for <= rows instead) and its
    equalities 0. Returns what looks wrong (empty: nothing, or nothing to check)."""
    if "c_ineq" not in fns and "c_eq" not in fns:
        return []
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
    want = expected_objective(problem)
    try:
        xs = problem.expected_result
        if xs is None or want is None:
            return []
        xs = np.asarray(ravel_pytree(xs)[0], dtype=np.float64)
        n = int(problem.num_variables())
        if xs.shape != (n,) or not np.all(np.isfinite(xs)):
            return []
        x = jnp.asarray(xs)
        if abs(float(fns["f"](x)) - want) > 1e-6 * max(1.0, abs(want)):
            return []  # not the solution: nothing to learn from it
        scale = max(1.0, float(np.max(np.abs(xs), initial=0.0)))
        out = []
        if "c_ineq" in fns:
            worst = float(np.min(np.asarray(fns["c_ineq"](x))))
            if worst < -1e-4 * scale:
                out.append(f"an inequality is {worst:.3g} < 0 at sif2jax's expected_result (where f is the "
                           f"expected objective): some rows probably follow pycutest's c(x) <= 0, not "
                           f"sif2jax's c(x) >= 0 (or that point is only partly given); results on this "
                           f"problem are suspect")
        if "c_eq" in fns:
            worst = float(np.max(np.abs(np.asarray(fns["c_eq"](x))), initial=0.0))
            if worst > 1e-4 * scale:
                out.append(f"|c_eq| = {worst:.3g} at sif2jax's expected_result (where f is the expected "
                           f"objective; maybe that point is only partly given)")
        return out
    except Exception as exc:  # noqa: BLE001 - a check, never a reason not to export
        return [f"check at expected_result failed: {type(exc).__name__}: {exc}"[:200]]


def _failed_marker(name: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"{name}.export-failed"


def is_exported(name: str, directory: Path | None = None) -> bool:
    return ((directory or cache_dir()) / name / "meta.json").is_file()


def export_warnings(name: str, directory: Path | None = None) -> list[str]:
    """The warnings written with the export of ``name`` (see ``check_expected_result``)."""
    try:
        return list(json.loads(((directory or cache_dir()) / name / "meta.json").read_text()).get("warnings") or ())
    except (OSError, ValueError):
        return []


def export_failed(name: str, directory: Path | None = None) -> str | None:
    """Why exporting ``name`` failed before (it is then not tried again), or None."""
    p = _failed_marker(name, directory)
    return p.read_text() if p.is_file() else None


def load_exported(name: str, directory: Path | None = None) -> NLPFunctions:
    """The NLP of ``name`` from the export cache: imports jax, never sif2jax. Each
    function is jitted and called once at x0 here, so that its compilation is part of
    loading the data, not of the first solve."""
    _enable_x64()
    import jax
    from jax import export

    d = (directory or cache_dir()) / name
    meta = json.loads((d / "meta.json").read_text())
    fns = {}
    for path in d.glob("*.jaxexport"):
        exp = export.deserialize(bytearray(path.read_bytes()))
        fns[path.name.split(".")[0]] = jax.jit(exp.call)
    return _warm(NLPFunctions(name, fns, meta, "export cache"))


def _warm(nlp: NLPFunctions) -> NLPFunctions:
    """Compile every function once (at x0) and check that they give what the metadata says."""
    x0 = nlp.x0
    f0 = nlp.f(x0)
    g0 = nlp.grad(x0)
    if g0.shape != x0.shape:
        raise ValueError(f"{nlp.name}: gradient of shape {g0.shape}, expected {x0.shape}")
    nlp.meta["f_x0"] = f0
    if nlp.m_eq:
        nlp.c_eq(x0), nlp.jac_eq(x0)
    if nlp.m_ineq:
        nlp.c_ineq(x0), nlp.jac_ineq(x0)
    return nlp


def _enable_x64() -> None:
    """Float64 JAX (sif2jax's problems and the exports are float64); no-op without jax."""
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    if importlib.util.find_spec("jax") is not None:
        import jax
        jax.config.update("jax_enable_x64", True)


_SIF2JAX_BY_NAME: dict = {}


def load_from_sif2jax(name: str) -> NLPFunctions:
    """The NLP of ``name`` built from sif2jax in this process (imports it once per process)."""
    why = unavailable()
    if why:
        raise CutestUnavailable(why)
    if not _SIF2JAX_BY_NAME:
        _enable_x64()
        import sif2jax
        for p in sif2jax.problems:  # the first of a duplicated name, as in the index
            _SIF2JAX_BY_NAME.setdefault(p.name, p)
    if name not in _SIF2JAX_BY_NAME:
        raise KeyError(f"sif2jax {_version('sif2jax')} has no problem {name!r}")
    problem = _SIF2JAX_BY_NAME[name]
    import jax
    fns, meta, _ = _jax_functions(problem)
    return _warm(NLPFunctions(name, {k: jax.jit(v) for k, v in fns.items()}, meta, "sif2jax"))


def load_nlp(name: str) -> NLPFunctions:
    """From the export cache when there, else from sif2jax (slow first import, once per
    worker process)."""
    if is_exported(name):
        try:
            return load_exported(name)
        except Exception:  # noqa: BLE001 - a stale or broken export: rebuild from the source
            pass
    return load_from_sif2jax(name)


def ensure_exported(names, log=lambda m: None) -> float:
    """Export the problems in ``names`` missing from the cache (one child process); seconds.
    Problems whose export failed before are not tried again (the workers build them from
    sif2jax); delete their ``NAME.export-failed`` file in the cache to retry."""
    missing = [n for n in names if not is_exported(n) and export_failed(n) is None]
    if not missing:
        return 0.0
    why = export_unavailable()
    if why:
        log(f"cutest: no export cache: {why}; each worker imports sif2jax instead (25-70 s, once per worker)")
        return 0.0
    seconds = _run_child(["export", "--dir", str(cache_dir()), *missing], log,
                         f"exporting {len(missing)} problem(s) with jax.export")
    for n in missing:
        why = export_failed(n)
        if why:
            log(f"cutest: {n} could not be exported ({why.strip()[:160]}); workers build it from sif2jax")
    return seconds


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
    _enable_x64()  # before sif2jax builds any array: its problems must be float64
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
    by_name = {}
    for p in sif2jax.problems:  # the first of a duplicated name, as in the index
        by_name.setdefault(p.name, p)
    why = export_unavailable()
    if why:  # not a problem's fault: write no failure markers
        print(f"cannot export: {why}", file=sys.stderr)
        return 2
    failed = []
    for name in args.names:
        t = time.perf_counter()
        try:
            d = export_problem(by_name[name], Path(args.dir))
            print(f"  exported {name} in {time.perf_counter() - t:.2f} s")
            for w in json.loads((d / "meta.json").read_text()).get("warnings") or ():
                print(f"  warning: {name}: {w}")
        except Exception as exc:  # noqa: BLE001 - the worker falls back on sif2jax for it
            why = f"{type(exc).__name__}: {exc}"[:400]
            failed.append(f"{name}: {why}"[:200])
            marker = _failed_marker(name, Path(args.dir))
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(why + "\n")
    print(f"exported {len(args.names) - len(failed)} of {len(args.names)} (sif2jax import {t_import:.1f} s)")
    for f in failed:
        print("  not exported (will be built from sif2jax in the worker): " + f)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
