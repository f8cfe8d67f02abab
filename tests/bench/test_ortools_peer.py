"""The ortools-pdlp peer of the LP suite: the install hint without ortools, and with it the
same LP solution as HiGHS, judged by solvelab's own LP certificate."""
import importlib.util

import pytest

from solvelab.bench.peer import all_peers
from solvelab.bench.peers.ortools_pdlp import OrtoolsPDLP, run_ortools_pdlp
from solvelab.bench.suites.lp import PEERS, _program, generated_lp
from solvelab.families.lp import lp_certificate


def test_listed_for_the_lp_suite():
    assert "ortools-pdlp" in all_peers() and "ortools-pdlp" in PEERS


def test_without_ortools_the_reason_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ortools" else real(name, *a))
    why = OrtoolsPDLP().available()
    assert "pip install ortools" in why and "solvelab[lp-peers]" in why


def test_solves_the_generated_lp_as_highs_does():
    pytest.importorskip("ortools.pdlp.python.pdlp", reason="ortools is an extra (pip install ortools)")
    from solvelab.bench.peers.highs import run_highs
    p = _program(generated_lp())
    out = run_ortools_pdlp(p, 1e-8)
    ref = run_highs(p, "ipm", 1e-9)
    assert out["status"] == "TERMINATION_REASON_OPTIMAL"
    assert out["passes"] >= out["iterations"] > 0
    assert p.user_objective(out["x"]) == pytest.approx(p.user_objective(ref["x"]), rel=1e-6)
    # the same row-dual sign convention as HiGHS: its point passes our certificate near its tol
    assert lp_certificate(p, out["x"], out["y"]).value <= 1e-7
    assert not lp_certificate(p, out["x"], -out["y"]).meets(1e-3)
