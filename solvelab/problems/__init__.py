"""Ready-made problem constructors: each validates its data, builds a CVXPY model or a
family's program node, and returns a ``solvelab.Problem`` ready for ``.solve(backend=...)``.

One module per family (``glm`` for the Lasso family, ``ot`` for optimal transport), found
by the package scan of ``solvelab.discovery`` on first use (so importing
``solvelab.problems`` stays cheap); their ``__all__`` names are re-exported here. A module
that fails to import is named in the error for a name it would have provided.
"""
from __future__ import annotations

import sys

from ..discovery import load


def _families():
    """(the constructor modules, the modules that failed to import)."""
    failed = load("problems", __name__)
    prefix = __name__ + "."
    mods = [m for name, m in sorted(sys.modules.items())
            if name.startswith(prefix) and name.count(".") == prefix.count(".") and m is not None]
    return mods, failed


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    mods, failed = _families()
    for module in mods:
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    broken = "; ".join(str(f) for f in failed)
    raise AttributeError(f"solvelab.problems has no constructor {name!r}; available: "
                         f"{', '.join(sorted(__dir__()))}" + (f"; failed to import: {broken}" if broken else ""))


def __dir__():
    names = []
    for module in _families()[0]:
        names.extend(getattr(module, "__all__", ()))
    return sorted(names)
