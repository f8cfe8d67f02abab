"""The conformance kit: families register fixtures, the kit runs every backend that claims
a fixture's program on it.

A fixture is one small problem of a family, built at a data scale (``build(scale)``
returns a ``Case``: the solvelab problem and what the family's oracle -- CVXPY+Clarabel,
POT, scikit-learn -- says its optimal objective is). Optionally it also builds an
infeasible or unbounded variant and lists bad inputs that must be refused. Fixtures live
in ``tests/conformance/fixtures/<family>.py``, one module per family, each with a module
level ``FIXTURES`` list; the kit imports every module there, so a new family (or a new
form of an old one) gets the whole kit by adding one file. A new backend gets it by
claiming forms: the backends run on a fixture are those the registry finds capable of
its program (every backend that accepts one of the program's forms).

What the kit checks (test_*.py beside this file): the certificate recomputed from the
returned point independently of the backend and of the engine's verdict, agreement with
the oracle at data scales 1e-6, 1 and 1e6, the status contract (max_iter, time_limit,
callback stop, warm start), infeasible / unbounded variants never called optimal (and
detected by the backends that claim detection), and the bad inputs' errors.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import solvelab as sl
from solvelab.backends import registry
from solvelab.ir.certificate import certify
from solvelab.ir.structured import StructuredProgram

SCALES = (1e-6, 1.0, 1e6)


@dataclass
class Case:
    """One instance: the problem, the oracle's optimal objective (in the problem's own
    objective, constants included) and the relative agreement asked of it."""
    problem: object
    objective: float
    rtol: float = 1e-5


@dataclass
class Fixture:
    """A family's conformance fixture.

    name          unique id (used in test ids)
    family        the family it stands for (its package under solvelab/families, or
                  'composite' / 'prox_affine' for the generic CVXPY forms)
    build         build(scale) -> Case, the data scaled by ``scale``
    tol           the certificate target the solves use
    max_iter      a budget large enough for every claimant at tol
    infeasible    build() -> problem with no feasible point (None: the family cannot be)
    unbounded     build() -> problem unbounded below (None: the family cannot be)
    detects       the backends that must name the infeasible / unbounded status (the
                  others must only not call it optimal)
    bad_inputs    (label, thunk) pairs: the thunk must raise a solvelab error whose
                  message contains ``label``
    gaps          backend -> reason: a known gap on this fixture, run as xfail(strict)
    """
    name: str
    family: str
    build: Callable[[float], Case]
    tol: float = 1e-6
    max_iter: int = 200000
    infeasible: Callable[[], object] | None = None
    unbounded: Callable[[], object] | None = None
    detects: tuple = ()
    bad_inputs: tuple = ()
    gaps: dict = field(default_factory=dict)

    def claimants(self) -> list[str]:
        """Every registered backend that accepts this fixture's program."""
        return registry.capable(sl.compile(self.build(1.0).problem))


def _load() -> list[Fixture]:
    out = []
    for path in sorted((Path(__file__).parent / "fixtures").glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"conformance_fixtures_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out.extend(module.FIXTURES)
    names = [f.name for f in out]
    assert len(names) == len(set(names)), f"duplicate fixture names: {names}"
    return out


FIXTURES = _load()


def pairs(with_scales: bool = False):
    """(fixture, backend[, scale]) for every backend claiming every fixture: pytest params."""
    import pytest
    out = []
    for fx in FIXTURES:
        for name in fx.claimants():
            marks = [pytest.mark.xfail(reason=fx.gaps[name], strict=True)] if name in fx.gaps else []
            for scale in (SCALES if with_scales else (None,)):
                args = (fx, name, scale) if with_scales else (fx, name)
                sid = f"{fx.name}-{name}" + (f"-{scale:g}" if with_scales else "")
                out.append(pytest.param(*args, id=sid, marks=marks))
    return out


def recheck(problem, res) -> float:
    """The certificate of the returned point, computed here, not by the engine: the
    family's own certificate for a family node, the generic KKT + gap one otherwise."""
    program = sl.compile(problem)
    if isinstance(program, StructuredProgram):
        return float(program.certify(np.asarray(res.x), res.duals).value)
    return float(certify(program, np.asarray(res.x), res.duals).value)


def relative_error(value: float, ref: float, scale: float) -> float:
    """|value - ref| relative to |ref| (or, when the optimum is 0, to the data scale)."""
    den = abs(ref) if ref != 0 else scale
    return abs(value - ref) / den
