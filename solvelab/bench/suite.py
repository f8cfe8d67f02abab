"""Suites and instances: what a benchmark runs (the plugin API for suites).

A suite is one module ``solvelab/bench/suites/<name>.py`` (or an entry point of the
``solvelab.bench.suites`` group) that defines a ``Suite`` subclass and registers it with
``register_suite``; the modules are discovered (``solvelab.discovery``: every module of
the package is imported once, and one that fails to import is reported with its error
by ``unavailable_suites()``), so adding a suite touches one new file. An instance is
cheap to list: its data and its model are built lazily, in the worker process that runs
it.

Writing a suite::

    from solvelab.bench.suite import Instance, Suite, register_suite

    def _data():                      # called in the worker, once per instance
        return {"A": A, "b": b, "lam": 0.1}

    @register_suite
    class MySuite(Suite):
        name = "mine"
        description = "one tiny Lasso"
        def instances(self):
            return [Instance("tiny-lasso", family="lasso", size="20x5", data=_data)]

``family`` names a model in ``solvelab.bench.models`` (lasso, logreg_l1, nnls, huber,
boxqp, eqls): it gives the default ``build`` (data -> ``solvelab.Problem``) and the
numpy ``objective`` / ``infeasibility`` that judge a peer's answer. A suite with its own
model passes ``build``, ``objective`` and ``infeasibility`` itself (all three take the
data dict first). Worker processes find a suite again by name and options, so nothing
unpicklable crosses a process boundary.

Judging: a backend run counts as solved only with status ``optimal`` (certificate
recomputed by the engine). A peer run is judged by its relative objective error
``(f(x) - ref) / max(|ref|, objective_scale) <= tol`` (no absolute floor; see
``solvelab.bench.report``) and infeasibility ``<= tol``, where ``ref`` is
``Instance.reference`` when given, otherwise the objective of the certified ``cvxpy``
backend run, otherwise that of the certified run with the smallest certificate.
"""
from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from ..discovery import PluginFailure, failures, load


class SuiteError(Exception):
    """A harness or configuration error (unknown suite, missing data ...): exit status 2."""


@dataclass
class Instance:
    """One benchmark problem.

    name          unique within the suite (used in file names: keep it [A-Za-z0-9._-])
    family        model family ("lasso", "logreg_l1", ...): peers choose on it
    size          short human text ("442x10")
    data          () -> dict of arrays (lazy; called in the worker, cached there)
    build         (data) -> solvelab.Problem (None: the family's builder)
    objective     (data, x) -> float for peers' answers (None: the family's)
    infeasibility (data, x) -> float, relative constraint violation (None: the family's)
    reference     known optimal objective (None: taken from certified runs)
    backends      backends that apply (None: the suite's defaults; a refusal is a skip)
    peers         peers that apply (None: the suite's defaults; a peer may still skip)
    skip          a reason to skip the whole instance (e.g. its data file is missing)
    meta          anything worth recording (source file, lambda ratio, nnz ...)
    """
    name: str
    family: str = ""
    size: str = ""
    data: Callable[[], dict] | None = None
    build: Callable[[dict], Any] | None = None
    objective: Callable[[dict, Any], float] | None = None
    infeasibility: Callable[[dict, Any], float] | None = None
    reference: float | None = None
    backends: tuple | None = None
    peers: tuple | None = None
    skip: str | None = None
    meta: dict = field(default_factory=dict)

    # the family's defaults, looked up lazily so that listing instances stays cheap
    def _family(self):
        from .models import get_family
        return get_family(self.family)

    def make_problem(self, data: dict):
        """The ``solvelab.Problem`` of this instance (a fresh one per call)."""
        return (self.build or self._family().build)(data)

    def eval_objective(self, data: dict, x) -> float:
        return float((self.objective or self._family().objective)(data, x))

    def eval_infeasibility(self, data: dict, x) -> float:
        fn = self.infeasibility or self._family().infeasibility
        return float(fn(data, x)) if fn is not None else 0.0


class Suite:
    """Base class of suites. ``options`` come from the command line (``data_dir`` ...).

    Class attributes a suite may set:
      default_backends  backends run when --backends is not given (None: all registered)
      default_peers     peers run when --peers is not given (None: all registered)
      default_time_limit, default_tol, default_repeat   the suite's defaults for
                        --time-limit / --tol / --repeat
      worker_preload    modules every worker imports once at start (e.g. ``sif2jax``),
                        so a slow import is paid once per worker, not per run
    ``unavailable()`` returns a reason (e.g. a missing optional extra) to skip the whole
    suite cleanly.
    """
    name: str = ""
    description: str = ""
    default_backends: tuple | None = None
    default_peers: tuple | None = None
    default_time_limit: float = 60.0
    default_tol: float = 1e-6
    default_repeat: int = 1
    worker_preload: tuple = ()

    def __init__(self, **options):
        self.options = options
        self._instances: list[Instance] | None = None

    def instances(self) -> list[Instance]:  # pragma: no cover - abstract
        raise NotImplementedError

    def unavailable(self) -> str | None:
        """A reason why this suite cannot run here at all (None: it can)."""
        return None

    def prepare(self, instances: list[Instance], log: Callable[[str], None]) -> dict:
        """One-time work in the harness process before any run (e.g. CUTEst's export
        cache); returns {what: seconds}, reported apart from the runs' times."""
        return {}

    def all_instances(self) -> list[Instance]:
        if self._instances is None:
            self._instances = list(self.instances())
            names = [i.name for i in self._instances]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise SuiteError(f"suite {self.name!r} has duplicate instance names: {dup}")
        return self._instances

    def instance(self, name: str) -> Instance:
        for inst in self.all_instances():
            if inst.name == name:
                return inst
        raise SuiteError(f"suite {self.name!r} has no instance {name!r}")

    def select(self, pattern: str | None) -> list[Instance]:
        """Instances matching any comma-separated glob in ``pattern`` (a plain word matches
        as a substring)."""
        insts = self.all_instances()
        if not pattern:
            return insts
        pats = [p.strip() for p in pattern.split(",") if p.strip()]

        def ok(name):
            return any(fnmatch.fnmatch(name, p) if any(c in p for c in "*?[") else p in name
                       for p in pats)
        return [i for i in insts if ok(i.name)]


_SUITES: dict[str, type] = {}


def register_suite(cls: type) -> type:
    """Class decorator: make a ``Suite`` subclass available under ``cls.name``."""
    if not getattr(cls, "name", ""):
        raise ValueError("a suite needs a name")
    _SUITES[cls.name] = cls
    return cls


_PACKAGE = f"{__package__}.suites"   # also the entry-point group of out-of-tree suites


def _load_builtin() -> None:
    load("suites", _PACKAGE, _PACKAGE)


def unavailable_suites() -> list[PluginFailure]:
    """The suite modules (and entry points) that failed to import, with their errors."""
    _load_builtin()
    return failures("suites")


def suite_names() -> list[str]:
    """Every registered suite (the modules of ``solvelab/bench/suites/`` and the entry
    points, imported once)."""
    _load_builtin()
    return sorted(_SUITES)


def get_suite(name: str, **options) -> Suite:
    """The suite called ``name`` (a fresh instance with ``options``)."""
    _load_builtin()
    if name not in _SUITES:
        broken = [f for f in failures("suites") if f.module.rsplit(".", 1)[-1] == name]
        if broken:
            raise SuiteError(f"suite {name!r} cannot be loaded: {broken[0]}")
        raise SuiteError(f"unknown suite {name!r}; available: {', '.join(suite_names())}")
    return _SUITES[name](**options)


def load_plugins(modules) -> None:
    """Import extra plugin modules (each registers its suites or peers on import)."""
    for mod in modules or ():
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise SuiteError(f"cannot import plugin module {mod!r}: {exc}") from exc
