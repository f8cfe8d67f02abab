"""Name -> backend. Dispatch reads each backend's declared forms; nothing is guessed.

Backends are discovered, not listed: every module or package of ``solvelab.backends``
(but ``base`` and this one) and every entry point of the ``solvelab.backends`` group is
imported once (``solvelab.discovery``) and registers its backend with ``register``. A
module that fails to import is kept with its error for ``unavailable()`` (and
``solvelab backends``); the other backends work.
"""
from __future__ import annotations

from ..discovery import PluginFailure, failures, load
from ..errors import BackendRefusedError
from ..ir import forms as _forms
from .base import Backend

_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    if not backend.name:
        raise ValueError("a backend needs a name")
    _REGISTRY[backend.name] = backend
    return backend


def get(name: str) -> Backend:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        broken = "; ".join(str(f) for f in unavailable())
        raise BackendRefusedError(
            f"unknown backend {name!r}; available: {', '.join(sorted(_REGISTRY))}"
            + (f"; not importable: {broken}" if broken else "")) from None


def all_backends() -> dict[str, Backend]:
    _load_builtin()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].priority, kv[0])))


def view_for(backend: Backend, program):
    """The first form of ``backend`` that the program matches, or raise with reasons."""
    reasons = []
    for form in backend.forms:
        view = _forms.match(program, form)
        if view:
            why = backend.cannot_take(view)
            if why is None:
                return view
            reasons.append(f"{form}: {why}")
            continue
        reasons.append(f"{form}: {view.reason}")
    compiled_to = ", ".join(_forms.matching_forms(program)) or "no known form"
    capable = [b.name for b in all_backends().values() if b is not backend and takes(b, program)]
    raise BackendRefusedError(
        f"backend {backend.name!r} accepts {' or '.join(backend.forms)}; this program is "
        f"{compiled_to} ({'; '.join(reasons)}). Backends that accept it: "
        f"{', '.join(capable) if capable else 'none'}")


def takes(backend: Backend, program) -> bool:
    """Whether ``backend`` accepts one of the program's forms and can solve it there."""
    for form in backend.forms:
        view = _forms.match(program, form)
        if view and backend.cannot_take(view) is None:
            return True
    return False


def capable(program) -> list[str]:
    return [b.name for b in all_backends().values() if takes(b, program)]


def unavailable() -> list[PluginFailure]:
    """The backend modules (and entry points) that failed to import, with their errors."""
    _load_builtin()
    return failures("backends")


def _load_builtin() -> None:
    """Import every backend module once (each registers itself); failures are recorded."""
    load("backends", __package__, "solvelab.backends", skip=("base", "registry"))
