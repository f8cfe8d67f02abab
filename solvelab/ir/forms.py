"""Forms: read-only typed views of a Program that backends ask for.

``match(program)`` returns the view, or a ``NoMatch`` whose ``reason`` says what is
missing. Forms never copy data; they hold the program's terms.

ProxAffine   sum_i w_i f_i(A_i x - b_i) where every f_i has a prox (smooth ones included).
Composite    smooth(x) + penalty(x): the smooth part is any sum of smooth terms; the
             penalty is a sum of prox-friendly terms each reading a distinct selection
             of x (identity, slice, index), so its prox splits by coordinates. A box,
             nonneg or nonpos constraint may share coordinates with one entrywise
             (separable) term: in 1-D, prox_{f + box} = clip(prox_f).

Structured forms (EntropicOT, SparseGLM, ...) live in their family packages
(``solvelab.families.*``) and register themselves; ``match`` imports the families on
first use and names any that failed to import.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..discovery import load as _load_plugins
from ..errors import BackendRefusedError, InvalidDataError
from .linop import BlockRowOperator


@dataclass
class NoMatch:
    form: str
    reason: str

    def __bool__(self) -> bool:
        return False


# ---------------------------------------------------------------------------------------

@dataclass
class ProxAffine:
    program: "Program"
    name = "ProxAffine"

    @staticmethod
    def match(program: "Program"):
        for i, t in enumerate(program.terms):
            if not t.f.has_prox:
                return NoMatch("ProxAffine", f"term [{i}] {t.f.name} has no prox")
        return ProxAffine(program)


_CLIPPABLE = ("box", "nonneg", "nonpos")


@dataclass
class PenaltyPiece:
    term: "Term"
    idx: np.ndarray  # coordinates of x the term reads (distinct)


@dataclass
class Composite:
    """Smooth datafit plus a penalty whose prox is computed piecewise."""
    program: "Program"
    smooth: list
    pieces: list  # list[PenaltyPiece]; the unconstrained rest of x has no penalty
    clips: list   # list[PenaltyPiece] of box-like indicators applied after the pieces
    name = "Composite"

    @staticmethod
    def match(program: "Program"):
        smooth, pieces, clips = [], [], []
        n = program.n
        owner = np.full(n, -1, dtype=np.int64)   # which piece owns a coordinate
        for i, t in enumerate(program.terms):
            if t.f.smooth and not t.f.is_indicator:
                if t.f.lipschitz is None:
                    return NoMatch("Composite", f"smooth term [{i}] {t.f.name} has no Lipschitz constant")
                smooth.append(t)
                continue
            if not t.f.has_prox:
                return NoMatch("Composite", f"term [{i}] {t.f.name} is neither smooth nor prox-friendly")
            idx = t.A.selection() if isinstance(t.A, BlockRowOperator) else None
            if idx is None:
                return NoMatch("Composite", f"nonsmooth term [{i}] {t.f.name} is applied to "
                                            f"{t.A.describe()}, not to a selection of the variables")
            piece = PenaltyPiece(t, idx)
            if t.f.name in _CLIPPABLE and t.f.separable:
                clips.append(piece)
                continue
            if np.any(owner[idx] >= 0):
                return NoMatch("Composite", f"nonsmooth terms [{owner[idx][owner[idx] >= 0][0]}] and "
                                            f"[{i}] overlap on the same coordinates")
            owner[idx] = i
            pieces.append(piece)
        # a clip may overlap only an entrywise-separable piece (1-D clip rule)
        clip_seen = np.zeros(n, dtype=bool)
        for c in clips:
            if np.any(clip_seen[c.idx]):
                return NoMatch("Composite", "two bound constraints overlap on the same coordinates")
            clip_seen[c.idx] = True
            owners = owner[c.idx]
            for j in np.unique(owners[owners >= 0]):
                if not program.terms[j].f.separable:
                    return NoMatch("Composite", f"a bound constraint overlaps the non-separable term "
                                                f"[{j}] {program.terms[j].f.name}")
        return Composite(program, smooth, pieces, clips)

    # -- what first-order backends need -----------------------------------------------
    def smooth_value(self, x):
        return float(sum(t.value(x) for t in self.smooth) + self.program.constant)

    def smooth_grad(self, x):
        g = np.zeros(self.program.n)
        for t in self.smooth:
            g += t.A.rmatvec(t.grad(t.residual(x)))
        return g

    def smooth_value_grad(self, x):
        val, g = self.program.constant, np.zeros(self.program.n)
        for t in self.smooth:
            z = t.residual(x)
            val += t.value(x) if t.weight else 0.0
            g += t.A.rmatvec(t.grad(z))
        return float(val), g

    def lipschitz(self) -> float:
        """An upper bound on the smooth part's gradient Lipschitz constant."""
        return float(sum(abs(t.weight) * t.f.lipschitz * t.A.norm_est() ** 2 for t in self.smooth))

    def penalty_value(self, x):
        return float(sum(p.term.value(x) for p in self.pieces if p.term.role == "objective"))

    def prox(self, v, t):
        """prox of t * penalty at v, coordinate group by coordinate group."""
        out = np.array(v, dtype=np.float64, copy=True)
        for p in self.pieces:
            # the piece is w f(x[idx] - b): its prox in x[idx] is b + prox_{t w f}(v - b)
            b = p.term.b
            out[p.idx] = b + p.term.prox(v[p.idx] - b, t)
        for c in self.clips:
            # the piece reads A x - b = x[idx] - b; project x[idx] - b then shift back
            out[c.idx] = c.term.f.project(out[c.idx] - c.term.b) + c.term.b
        return out

    def feasible(self, x, tol=0.0) -> bool:
        return all(c.term.f.distance(x[c.idx] - c.term.b) <= tol for c in self.clips)


FORMS = {"ProxAffine": ProxAffine, "Composite": Composite}


def register_form(cls):
    """Add a form class (with ``name`` and ``match(program)``); returns it (decorator).
    Each family package registers its forms when imported."""
    FORMS[cls.name] = cls
    return cls


def load_families() -> list:
    """Import every family once (``solvelab.families`` and the entry-point group of the same
    name), so that their forms are registered; returns the modules that failed, with why."""
    return _load_plugins("families", "solvelab.families", "solvelab.families")


def match(program: "Program", form: str):
    failed = load_families()
    if form not in FORMS:
        broken = "; ".join(str(f) for f in failed)
        return NoMatch(form, f"unknown form {form!r}; known: {', '.join(FORMS)}"
                             + (f"; families that failed to import: {broken}" if broken else ""))
    try:
        return FORMS[form].match(program)
    except (InvalidDataError, BackendRefusedError) as exc:
        # the program cannot be put in this form's terms (an OT problem with +inf costs, a
        # family without a lowering to generic terms): not this form, with the reason
        return NoMatch(form, str(exc))


def own_certificate(program: "Program"):
    """The certificate that judges ``program`` whatever backend solved it, or None: a
    structured program's own ``certify(x, duals)``, else that of a structured form that
    matches it and declares ``own_certificate = True`` (a CVXPY-declared OT problem)."""
    certify = getattr(program, "certify", None)
    if callable(certify):
        return certify
    load_families()
    for name, F in FORMS.items():
        if getattr(F, "own_certificate", False):
            view = match(program, name)
            if view and callable(getattr(view, "certify", None)):
                return view.certify
    return None


def matching_forms(program: "Program") -> list[str]:
    load_families()
    return [name for name in list(FORMS) if match(program, name)]
