"""Each fixture's bad inputs are refused with a solvelab error naming the problem."""
from __future__ import annotations

import pytest

from solvelab.errors import SolvelabError
from kit import FIXTURES

CASES = [pytest.param(fx, label, thunk, id=f"{fx.name}-{label}") for fx in FIXTURES for label, thunk in fx.bad_inputs]


@pytest.mark.parametrize("fx,label,thunk", CASES)
def test_refused_with_a_clear_error(fx, label, thunk):
    with pytest.raises(SolvelabError) as info:
        thunk()
    assert label in str(info.value)
