"""Infeasible and unbounded variants of the fixtures: never optimal on any claimant, and
named (with a ray the engine rechecked) by the backends that claim detection."""
from __future__ import annotations

import pytest

import solvelab as sl
from solvelab.backends import registry
from kit import FIXTURES


def _cases():
    out = []
    for fx in FIXTURES:
        for kind in ("infeasible", "unbounded"):
            make = getattr(fx, kind)
            if make is None:
                continue
            for name in registry.capable(sl.compile(make())):
                out.append(pytest.param(fx, kind, name, id=f"{fx.name}-{kind}-{name}"))
    return out


@pytest.mark.parametrize("fx,kind,backend", _cases())
def test_never_optimal_and_detected_where_claimed(fx, kind, backend):
    problem = getattr(fx, kind)()
    res = problem.solve(backend=backend, tol=fx.tol, max_iter=20000, time_limit=20.0)
    assert res.status is not sl.Status.OPTIMAL, res.message
    if backend in fx.detects:
        want = sl.Status.INFEASIBLE if kind == "infeasible" else sl.Status.UNBOUNDED
        assert res.status is want, (res.status, res.message)


def test_some_fixture_has_each_variant():
    assert any(fx.infeasible for fx in FIXTURES) and any(fx.unbounded for fx in FIXTURES)
