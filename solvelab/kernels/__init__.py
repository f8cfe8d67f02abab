"""Kernels: the hot loops and factorizations backends call (NumPy/SciPy/Numba on the CPU).

Modules have one job each: ``factor`` (cached sparse factorizations, CHOLMOD with a
SciPy fallback), ``cd`` (coordinate descent), ``ot`` (log-domain Sinkhorn). Kernels take
plain arrays and never import the model, compile or IR layers.
"""
