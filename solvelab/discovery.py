"""Plugin discovery: one mechanism for backends, forms, families, bench suites and peers.

A plugin kind is a package of solvelab (``solvelab.backends``, ``solvelab.families``,
...) plus an entry-point group for out-of-tree plugins (``solvelab.backends``, ...,
declared in a distribution's ``[project.entry-points."solvelab.backends"]``). Loading a
kind imports every module of its package (``pkgutil`` scan, so a new file is found
without editing a list) and every entry point of its group; each module registers what
it defines when imported. A module that fails to import is never dropped silently: its
error is kept as a ``PluginFailure`` (name, the error, an install hint for a missing
optional dependency) for ``solvelab backends`` and for the refusal messages.

Imports nothing from solvelab but the standard library, so every layer may use it.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from importlib import metadata

#: optional dependency -> how to install it (named in a failure's hint)
INSTALL_HINTS = {
    "cupy": "pip install 'solvelab[gpu]'",
    "numba_cuda": "pip install 'solvelab[gpu]'",
    "dask": "pip install 'solvelab[dask]'",
    "distributed": "pip install 'solvelab[dask]'",
    "jax": "pip install 'solvelab[jax]'",
    "sif2jax": "pip install 'solvelab[cutest]'",
    "cyipopt": "pip install 'solvelab[ipopt]'",
    "sksparse": "apt install libsuitesparse-dev && pip install 'solvelab[cholmod]'",
    "highspy": "pip install highspy",
    "ot": "pip install pot",
    "skglm": "pip install skglm",
    "sklearn": "pip install scikit-learn",
}


@dataclass(frozen=True)
class PluginFailure:
    """A plugin module that could not be imported, and why."""
    kind: str
    module: str
    error: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.module}: {self.error}" + (f" ({self.hint})" if self.hint else "")


_loaded: dict[str, list[PluginFailure]] = {}


def _hint(exc: BaseException) -> str:
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if not missing:
        return ""
    return INSTALL_HINTS.get(missing.split(".")[0], f"missing module {missing!r}")


def load(kind: str, package: str, group: str | None = None, skip: tuple = ()) -> list[PluginFailure]:
    """Import every module of ``package`` (not starting with '_', not in ``skip``) and every
    entry point of ``group`` once; returns the failures (cached: later calls are free)."""
    if kind in _loaded:
        return _loaded[kind]
    failures: list[PluginFailure] = []
    _loaded[kind] = failures   # set first: a plugin importing its own kind does not recurse
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in skip:
            continue
        name = f"{package}.{info.name}"
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import error is reported, not raised
            failures.append(PluginFailure(kind, name, f"{type(exc).__name__}: {exc}", _hint(exc)))
    if group:
        try:
            eps = metadata.entry_points(group=group)
        except Exception:  # noqa: BLE001 - a broken distribution's metadata
            eps = ()
        for ep in eps:
            try:
                ep.load()
            except Exception as exc:  # noqa: BLE001
                failures.append(PluginFailure(kind, f"{ep.name} ({ep.value})", f"{type(exc).__name__}: {exc}",
                                              _hint(exc)))
    return failures


def failures(kind: str | None = None) -> list[PluginFailure]:
    """The import failures recorded so far (of one kind, or all)."""
    if kind is not None:
        return list(_loaded.get(kind, ()))
    return [f for fs in _loaded.values() for f in fs]
