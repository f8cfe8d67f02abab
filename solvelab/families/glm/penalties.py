"""The nonconvex penalties MCP and SCAD as IR functions (prox-friendly, separable; CVXPY
cannot declare them), and the program of a CVXPY datafit plus one of them."""
from __future__ import annotations

import numpy as np

from ...errors import InvalidDataError
from ...ir import functions as F
from ...ir import losses
from ...ir.linop import BlockRowOperator, IdentityOperator
from ...ir.program import Program, Term


def _penalty_level(lam, who):
    """A penalty level: a number, an array, or a cvxpy Parameter (kept, read at each use,
    so that ``sl.path`` can move it)."""
    if hasattr(lam, "value") and hasattr(lam, "is_constant") and hasattr(lam, "name"):
        if lam.value is not None:
            _level_value(lam, who)
        return lam
    val = float(lam) if np.isscalar(lam) else np.asarray(lam, dtype=np.float64)
    if not np.all(np.isfinite(val)) or np.any(np.asarray(val) < 0):
        raise InvalidDataError(f"{who} needs a finite lam >= 0 (got lam={lam!r})")
    return val


def _level_value(lam, who):
    if not (hasattr(lam, "value") and hasattr(lam, "name")):
        return lam
    v = lam.value
    if v is None:
        raise InvalidDataError(f"{who}: the Parameter {lam.name()!r} has no value; set .value before solving")
    v = float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(np.asarray(v) < 0):
        raise InvalidDataError(f"{who} needs a finite lam >= 0 (Parameter {lam.name()!r} is {v!r})")
    return v


class MCP(F.Function):
    """Minimax concave penalty sum_i MCP(z_i; lam, gamma), gamma > 1 (not convex)."""
    name = "mcp"
    separable = True

    def __init__(self, lam, gamma=3.0, dim=None):
        super().__init__(dim)
        self.gamma = float(gamma)
        self._lam = _penalty_level(lam, "MCP")
        if not self.gamma > 1:
            raise InvalidDataError(f"MCP needs gamma > 1 (got gamma={gamma!r})")

    lam = property(lambda self: _level_value(self._lam, "MCP"),
                   doc="lam (read from its cvxpy Parameter, when it is one, at each use)")

    def value(self, z):
        return float(np.sum(losses.pen_value(losses.MCP, z, self.lam, 0.0, self.gamma)))

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        if t >= self.gamma:
            # the 1-D problem is then not strongly convex; hard threshold at the global minimum
            return np.where(np.abs(v) > np.sqrt(t * self.gamma) * self.lam, v, 0.0)
        return losses.pen_prox(losses.MCP, v, t, self.lam, gamma=self.gamma)

    def params(self):
        return {"lam": self.lam, "gamma": self.gamma}


class SCAD(F.Function):
    """Smoothly clipped absolute deviation sum_i SCAD(z_i; lam, a), a > 2 (not convex)."""
    name = "scad"
    separable = True

    def __init__(self, lam, gamma=3.7, dim=None):
        super().__init__(dim)
        self.gamma = float(gamma)
        self._lam = _penalty_level(lam, "SCAD")
        if not self.gamma > 2:
            raise InvalidDataError(f"SCAD needs a > 2 (got a={gamma!r})")

    lam = property(lambda self: _level_value(self._lam, "SCAD"),
                   doc="lam (read from its cvxpy Parameter, when it is one, at each use)")

    def value(self, z):
        return float(np.sum(losses.pen_value(losses.SCAD, z, self.lam, 0.0, self.gamma)))

    def prox(self, v, t):
        v = np.asarray(v, dtype=np.float64)
        if t >= self.gamma - 1:
            raise NotImplementedError("SCAD prox with a step >= a - 1 is not implemented")
        return losses.pen_prox(losses.SCAD, v, t, self.lam, gamma=self.gamma)

    def params(self):
        return {"lam": self.lam, "a": self.gamma}


def penalized_program(program: Program, key, penalty, parameters=()) -> Program:
    """A new Program: ``program``'s terms plus ``penalty`` on the variable whose key is
    ``key``. It has no CVXPY source (CVXPY cannot say the penalty, so the cvxpy backend
    refuses it); ``parameters`` are the Parameters the penalty reads (its level)."""
    info = next(v for v in program.variables if v.key == key)
    op = BlockRowOperator([(info.offset, IdentityOperator(info.size))], program.n)
    term = Term(penalty, op, np.zeros(info.size), weight=1.0, label=f"{penalty.name}({info.name})")
    known = {id(p) for p in program.parameters}
    params = list(program.parameters) + [p for p in parameters if id(p) not in known]
    return Program(list(program.variables), list(program.terms) + [term], constant=program.constant,
                   sign=program.sign, constant_source=program.constant_source, parameters=params, source=None)
