"""Ready-made problem constructors: each returns a ``solvelab.Problem`` (or a structured
program) declared with CVXPY, ready for ``.solve(backend=...)``.

Families live in their own modules (``glm`` for the Lasso family, ``ot`` for optimal
transport); their public names are re-exported here lazily so that importing
``solvelab.problems`` stays cheap.
"""
from __future__ import annotations

import importlib

_FAMILY_MODULES = ("glm", "ot")


def _families():
    for mod in _FAMILY_MODULES:
        try:
            yield importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{mod}":
                raise


def __getattr__(name):
    for module in _families():
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise AttributeError(f"solvelab.problems has no constructor {name!r}; available: "
                         f"{', '.join(sorted(__dir__()))}")


def __dir__():
    names = []
    for module in _families():
        names.extend(getattr(module, "__all__", ()))
    return sorted(names)
