"""The one result type every backend returns, and its status vocabulary."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Status(str, enum.Enum):
    """What a solve ended with. Only ``OPTIMAL`` claims a verified solution.

    optimal          the certificate recomputed from the returned point meets ``tol``
    inaccurate       the backend stopped on its own test, but the recomputed certificate
                     misses ``tol`` (by at most a factor of 1e3)
    max_iter         the iteration budget ran out first
    time_limit       the wall-clock budget ran out first
    infeasible       a certificate of primal infeasibility was found
    unbounded        a certificate of unboundedness (dual infeasibility) was found
    numerical_error  NaN/Inf appeared, or progress stalled for numerical reasons
    """

    OPTIMAL = "optimal"
    INACCURATE = "inaccurate"
    MAX_ITER = "max_iter"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NUMERICAL_ERROR = "numerical_error"

    def __str__(self) -> str:  # prints as plain text in tables
        return self.value


@dataclass
class Certificate:
    """Optimality measures recomputed from the returned point on the original problem.

    All entries are relative (scaled by the size of the data they compare); ``None``
    means the measure does not apply (e.g. a gap when a conjugate is unknown).
    """

    primal_residual: float = float("nan")
    dual_residual: float = float("nan")
    subgradient_residual: float = float("nan")
    gap: float | None = None
    dual_objective: float | None = None
    kind: str = "kkt"
    #: the (minimized) IR objective at x, constant included, when the certificate computed
    #: it anyway (saves the engine a second pass over the data); None otherwise
    primal_objective: float | None = None

    @property
    def kkt(self) -> float:
        """The largest of the KKT residuals (primal, dual, subgradient)."""
        vals = [self.primal_residual, self.dual_residual, self.subgradient_residual]
        vals = [v for v in vals if v is not None and not np.isnan(v)]
        return max(vals) if vals else float("nan")

    @property
    def value(self) -> float:
        """One number to compare with ``tol``: the KKT residual, or the gap if larger."""
        worst = self.kkt
        if self.gap is not None and not np.isnan(self.gap):
            worst = max(worst, self.gap) if not np.isnan(worst) else self.gap
        return worst

    def meets(self, tol: float) -> bool:
        return bool(np.isfinite(self.value) and self.value <= tol)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "primal_residual": self.primal_residual,
            "dual_residual": self.dual_residual,
            "subgradient_residual": self.subgradient_residual,
            "gap": self.gap,
        }

    def __str__(self) -> str:
        gap = "n/a" if self.gap is None else f"{self.gap:.2e}"
        return (f"kkt={self.kkt:.2e} (primal {self.primal_residual:.1e}, dual "
                f"{self.dual_residual:.1e}, subgrad {self.subgradient_residual:.1e}), gap={gap}")


class Values(dict):
    """Solution values by variable name; also indexable by the CVXPY variable itself.

    Two variables that share a name are stored under ``name#id``; asking for the bare
    name then raises a KeyError that says so (index by the variable instead).
    """

    @classmethod
    def of(cls, program, x) -> "Values":
        out = cls(program.split(x))
        out._by_id = {v.key: v.name for v in program.variables}
        return out

    def __getitem__(self, key):
        by_id = getattr(self, "_by_id", {})
        if not isinstance(key, str) and getattr(key, "id", None) in by_id:
            key = by_id[key.id]
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            clash = [k for k in self if isinstance(key, str) and k.startswith(key + "#")]
            if clash:
                raise KeyError(f"{len(clash)} variables are named {key!r} ({', '.join(clash)}); index "
                               f"res.values by the variable itself (res.values[x]) or read x.value") from None
            raise KeyError(f"no variable {key!r} in this result; it has {', '.join(self) or 'none'}") from None


@dataclass
class Result:
    """Outcome of ``solve``: the point, its status and the evidence for that status.

    ``x`` is the flat solution vector over the program's variables; ``values`` maps each
    user variable (by name) to its value in the user's shape. ``duals`` holds one dual
    vector per program term (computed on first access where the backend deferred them). ``history`` is a list of dicts (iteration, time, objective,
    residuals) recorded every ``check_every`` iterations. ``timings`` separates compile,
    setup (factorizations, JIT) and solve seconds.
    """

    x: np.ndarray | None
    status: Status
    objective: float
    certificate: Certificate | None
    iterations: int
    history: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    values: dict[str, np.ndarray] = field(default_factory=Values)
    duals: list[np.ndarray] | None = None
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def optimal(self) -> bool:
        return self.status is Status.OPTIMAL

    def __repr__(self) -> str:
        cert = "none" if self.certificate is None else f"{self.certificate.value:.2e}"
        return (f"Result(backend={self.backend!r}, status={self.status.value}, "
                f"objective={self.objective:.10g}, certificate={cert}, "
                f"iterations={self.iterations}, time={self.timings.get('total', float('nan')):.3g}s)")


def _get_duals(self):
    d = self.__dict__.get("_duals")
    if callable(d):
        d = d()
        self.__dict__["_duals"] = d
    return d


def _set_duals(self, value):
    self.__dict__["_duals"] = value


# a property set after the dataclass is built: __init__ keeps its ``duals=`` keyword
Result.duals = property(_get_duals, _set_duals, doc="one dual vector per program term (computed on first access when deferred)")
