"""Algorithm backends. Each module registers one backend; see ``registry``."""
from .base import Backend, RawSolution, SolveOptions
from .registry import all_backends, get, register

__all__ = ["Backend", "RawSolution", "SolveOptions", "all_backends", "get", "register"]
