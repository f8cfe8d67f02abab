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
    locally_infeasible  (smooth NLPs) the returned point violates the constraints and is a
                     stationary point of ||c(x)||^2, rechecked from the point: a local
                     verdict only (another start may find a feasible point), never a
                     global certificate of infeasibility
    numerical_error  NaN/Inf appeared, or progress stalled for numerical reasons
    """

    OPTIMAL = "optimal"
    INACCURATE = "inaccurate"
    MAX_ITER = "max_iter"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    LOCALLY_INFEASIBLE = "locally_infeasible"
    NUMERICAL_ERROR = "numerical_error"

    def __str__(self) -> str:  # prints as plain text in tables
        return self.value


@dataclass(frozen=True)
class Measure:
    """One named optimality measure of a certificate.

    name      a Python identifier (``primal_residual``, ``marginal_violation`` ...); also
              readable as ``cert.<name>``
    value     the measure at the returned point (relative, scale-invariant)
    meaning   one line saying what it measures
    compared  whether it is compared with ``tol`` (False: reported only, e.g. a
              diagnostic that has no target)
    """

    name: str
    value: float
    meaning: str = ""
    compared: bool = True

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ValueError(f"a measure needs an identifier for a name, got {self.name!r}")
        object.__setattr__(self, "value", float(self.value))

    def __str__(self) -> str:
        return f"{self.name}={self.value:.2e}" + ("" if self.compared else " (not compared)")


#: the measures the KKT constructor builds, with their short labels in ``kkt=... (...)``
_KKT = {
    "primal_residual": ("primal", "primal infeasibility: constraint violation of A_i x - b_i, relative to the data"),
    "dual_residual": ("dual", "stationarity: |sum_i A_i^T y_i| relative to its summands"),
    "subgradient_residual": ("subgrad", "distance of each dual y_i to the subdifferential of its term, relative"),
}
_GAP = "relative duality gap |P - D| / max(|P|, |D|)"


def _worst(values) -> float:
    """The largest value; inf when any is NaN or inf (an unmeasurable measure certifies nothing)."""
    values = list(values)
    if not values:
        return float("nan")
    if not all(np.isfinite(v) for v in values):
        return float("inf")
    return max(values)


class Certificate:
    """Optimality measures recomputed from the returned point on the original problem.

    A certificate is a set of named ``Measure`` s (``measures``, in order), each relative
    to the size of the data it compares. ``value`` is the largest compared measure (inf
    when one is NaN or inf, or when there is none) and ``meets(tol)`` is ``value <= tol``.

    ``Certificate(primal_residual, dual_residual, subgradient_residual, gap,
    dual_objective, kind)`` builds the KKT measures (a NaN residual or a None gap is no
    measure); ``Certificate.from_measures(kind, measures)`` takes a family's own (marginal
    violation, triangle violation, fixed-point residual ...). Every measure reads as an
    attribute (``cert.gap``, ``cert.marginal_violation``); ``primal_residual``,
    ``dual_residual``, ``subgradient_residual`` read NaN and ``gap`` None when the
    certificate has no such measure.
    """

    def __init__(self, primal_residual: float = float("nan"), dual_residual: float = float("nan"),
                 subgradient_residual: float = float("nan"), gap: float | None = None,
                 dual_objective: float | None = None, kind: str = "kkt",
                 primal_objective: float | None = None):
        measures = [Measure(name, v, meaning) for (name, (_, meaning)), v in
                    zip(_KKT.items(), (primal_residual, dual_residual, subgradient_residual))
                    if v is not None and not np.isnan(v)]
        if gap is not None and not np.isnan(gap):
            measures.append(Measure("gap", gap, _GAP))
        self._set(kind, measures, dual_objective, primal_objective)

    @classmethod
    def from_measures(cls, kind: str, measures, dual_objective: float | None = None,
                      primal_objective: float | None = None) -> "Certificate":
        """A certificate made of a family's own measures (kept as given, NaN included)."""
        cert = cls.__new__(cls)
        cert._set(kind, list(measures), dual_objective, primal_objective)
        return cert

    def _set(self, kind, measures, dual_objective, primal_objective):
        if not all(isinstance(m, Measure) for m in measures):
            raise TypeError("a certificate's measures are Measure(name, value, meaning, compared)")
        names = [m.name for m in measures]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"a certificate has one measure per name; repeated: {', '.join(dup)}")
        taken = sorted(set(names) & _RESERVED)
        if taken:
            raise ValueError(f"{', '.join(taken)}: the name of a certificate attribute, not usable for a measure")
        self.kind = kind
        self.measures: tuple[Measure, ...] = tuple(measures)
        #: the dual objective the gap compares with, when the certificate has one
        self.dual_objective = dual_objective
        #: the (minimized) IR objective at x, constant included, when the certificate computed
        #: it anyway (saves the engine a second pass over the data); None otherwise
        self.primal_objective = primal_objective

    # -- reading measures -------------------------------------------------------------

    def measure(self, name: str) -> Measure | None:
        """The measure called ``name``, or None."""
        for m in self.__dict__.get("measures", ()):
            if m.name == name:
                return m
        return None

    def __getattr__(self, name: str):  # only for names that are no attribute: a measure's
        if not name.startswith("_"):
            m = self.measure(name)
            if m is not None:
                return m.value
        raise AttributeError(f"certificate {self.__dict__.get('kind', '')!r} has no measure {name!r} "
                             f"(it has {', '.join(self.as_dict()) or 'none'})")

    def _or_nan(self, name: str) -> float:
        m = self.measure(name)
        return float("nan") if m is None else m.value

    primal_residual = property(lambda self: self._or_nan("primal_residual"),
                               doc="relative constraint violation (NaN when not a measure)")
    dual_residual = property(lambda self: self._or_nan("dual_residual"),
                             doc="relative stationarity residual (NaN when not a measure)")
    subgradient_residual = property(lambda self: self._or_nan("subgradient_residual"),
                                    doc="relative subgradient residual (NaN when not a measure)")

    @property
    def gap(self) -> float | None:
        """The relative duality gap, or None when the certificate has none."""
        m = self.measure("gap")
        return None if m is None else m.value

    @property
    def kkt(self) -> float:
        """The largest of the KKT residuals (primal, dual, subgradient); NaN when none."""
        return _worst(m.value for m in self.measures if m.name in _KKT and m.compared)

    @property
    def value(self) -> float:
        """One number to compare with ``tol``: the largest compared measure (inf when one
        is NaN or inf, or when there is none)."""
        worst = _worst(m.value for m in self.measures if m.compared)
        return float("inf") if np.isnan(worst) else worst

    def meets(self, tol: float) -> bool:
        return bool(np.isfinite(self.value) and self.value <= tol)

    def as_dict(self) -> dict[str, float]:
        """{measure name: value}, in order."""
        return {m.name: m.value for m in self.__dict__.get("measures", ())}

    # -- printing ---------------------------------------------------------------------

    def __str__(self) -> str:
        kkt = [m for m in self.measures if m.name in _KKT]
        if len(kkt) < 2:   # a lone residual (OT's marginals) prints by its name
            kkt = []
        parts = []
        if kkt:
            inner = ", ".join(f"{_KKT[m.name][0]} {m.value:.1e}" + ("" if m.compared else " not compared")
                              for m in kkt)
            parts.append(f"kkt={self.kkt:.2e} ({inner})")
        parts += [str(m) for m in self.measures if m not in kkt]
        return ", ".join(parts) or "no measures"

    def __repr__(self) -> str:
        return f"Certificate({self.kind}: {self})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Certificate):
            return NotImplemented
        return (self.kind, self.measures, self.dual_objective, self.primal_objective) == \
               (other.kind, other.measures, other.dual_objective, other.primal_objective)

    __hash__ = None


#: names a measure cannot take: they would be hidden behind the certificate's own attributes
_RESERVED = ({"kind", "measures", "dual_objective", "primal_objective"}
             | {n for n in dir(Certificate) if not n.startswith("_")}) - set(_KKT) - {"gap"}


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

    def vjp(self, dx) -> dict:
        """{Parameter: dL/dParameter} for a function L of this solution with dL/dx = dx
        ({variable: array} or the flat vector), by implicit differentiation through the
        family's optimality conditions (``solvelab.model.diff``). Set by the model layer on
        results of ``Problem.solve``."""
        fn = self.__dict__.get("_differentiate")
        if fn is None:
            raise NotImplementedError("vjp: this result did not come from Problem.solve (nothing to differentiate)")
        return fn(dx)

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
