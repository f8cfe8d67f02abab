"""Exceptions raised by solvelab. Each one names what was wrong and where."""


class SolvelabError(Exception):
    """Base class of every error solvelab raises on purpose."""


class InvalidDataError(SolvelabError, ValueError):
    """Problem data is unusable: NaN/Inf entries, empty arrays, wrong dtypes."""


class ShapeError(SolvelabError, ValueError):
    """Operands of an expression or a term have incompatible shapes."""


class UnsupportedAtomError(SolvelabError, NotImplementedError):
    """A CVXPY atom has no entry in solvelab's atom table."""


class NonConvexError(SolvelabError, ValueError):
    """The model is not convex (DCP) but was sent to a convex backend."""


class BackendRefusedError(SolvelabError, ValueError):
    """A backend cannot take the compiled program; the message names the ones that can."""


class MissingDependencyError(SolvelabError, ImportError):
    """An optional dependency is missing; the message says how to install it."""
