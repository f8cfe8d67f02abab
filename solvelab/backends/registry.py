"""Name -> backend. Dispatch reads each backend's declared forms; nothing is guessed."""
from __future__ import annotations

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
        raise BackendRefusedError(
            f"unknown backend {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def all_backends() -> dict[str, Backend]:
    _load_builtin()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].priority, kv[0])))


def view_for(backend: Backend, program):
    """The first form of ``backend`` that the program matches, or raise with reasons."""
    reasons = []
    for form in backend.forms:
        view = _forms.match(program, form)
        if view:
            return view
        reasons.append(f"{form}: {view.reason}")
    compiled_to = ", ".join(_forms.matching_forms(program)) or "no known form"
    capable = [b.name for b in all_backends().values()
               if b is not backend and any(_forms.match(program, f) for f in b.forms)]
    raise BackendRefusedError(
        f"backend {backend.name!r} accepts {' or '.join(backend.forms)}; this program is "
        f"{compiled_to} ({'; '.join(reasons)}). Backends that accept it: "
        f"{', '.join(capable) if capable else 'none'}")


def capable(program) -> list[str]:
    return [b.name for b in all_backends().values() if any(_forms.match(program, f) for f in b.forms)]


_loaded = False


def _load_builtin():
    """Import the built-in backend modules once (each registers itself)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    for mod in ("fista", "admm", "cd", "sinkhorn", "sinkhorn_newton", "cvxpy_backend"):
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as exc:  # a backend still missing must not break the rest
            if exc.name != f"{__package__}.{mod}":
                raise
