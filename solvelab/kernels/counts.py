"""How much compiled code the loaded kernels hold, so tests can check that a solve
compiled nothing new (a new value of a Parameter must never cost a compilation)."""
from __future__ import annotations

import sys


def compiled_specializations() -> int:
    """The number of compiled specializations held by the Numba kernels of the loaded
    ``solvelab.kernels`` modules (compiled in this process or loaded from Numba's disk
    cache). Two readings around a solve that are equal mean it compiled nothing."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:        # pragma: no cover - Numba is a dependency
        return 0
    total = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "solvelab.kernels" or name.startswith("solvelab.kernels.")):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher):
                total += len(obj.overloads)
    return total
