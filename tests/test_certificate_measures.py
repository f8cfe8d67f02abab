"""Certificates as sets of named measures (solvelab.result.Certificate / Measure)."""
import math
import pickle

import cvxpy as cp
import numpy as np
import pytest

import solvelab as sl
from solvelab.result import Certificate, Measure

NAN = float("nan")


def test_the_kkt_constructor_builds_the_kkt_measures():
    cert = Certificate(1e-10, 1.2e-8, 3e-9, 2e-9, -1.5, "kkt+gap")
    assert [m.name for m in cert.measures] == ["primal_residual", "dual_residual", "subgradient_residual", "gap"]
    assert all(m.compared and m.meaning for m in cert.measures)
    assert cert.as_dict() == {"primal_residual": 1e-10, "dual_residual": 1.2e-8, "subgradient_residual": 3e-9,
                              "gap": 2e-9}
    assert cert.kind == "kkt+gap" and cert.dual_objective == -1.5 and cert.primal_objective is None
    assert cert.primal_residual == 1e-10 and cert.dual_residual == 1.2e-8 and cert.gap == 2e-9
    assert cert.kkt == 1.2e-8 and cert.value == 1.2e-8
    assert cert.meets(1.2e-8) and not cert.meets(1e-8)
    assert str(cert) == "kkt=1.20e-08 (primal 1.0e-10, dual 1.2e-08, subgrad 3.0e-09), gap=2.00e-09"
    assert repr(cert).startswith("Certificate(kkt+gap: kkt=1.20e-08")


def test_keywords_and_the_primal_objective_are_kept():
    cert = Certificate(primal_residual=0.0, dual_residual=0.0, subgradient_residual=1e-9, gap=None,
                       dual_objective=None, kind="kkt", primal_objective=3.25)
    assert cert.primal_objective == 3.25 and cert.gap is None and "gap" not in cert.as_dict()
    assert str(cert) == "kkt=1.00e-09 (primal 0.0e+00, dual 0.0e+00, subgrad 1.0e-09)"
    assert cert.value == 1e-9


def test_nan_fields_are_no_measures():
    """An OT certificate built the old way shows only its real measures."""
    cert = Certificate(1e-9, NAN, NAN, 3e-10, 2.0, "ot_marginal+gap")
    assert list(cert.as_dict()) == ["primal_residual", "gap"]
    assert math.isnan(cert.dual_residual) and math.isnan(cert.subgradient_residual)
    assert cert.value == 1e-9 and cert.meets(1e-9)
    assert str(cert) == "primal_residual=1.00e-09, gap=3.00e-10"
    assert "nan" not in str(cert)


def test_failure_certificates_compare_as_inf():
    assert Certificate(math.inf, math.inf, math.inf, None, None, "kkt").value == math.inf
    ot = Certificate(math.inf, NAN, NAN, None, None, "ot")
    assert ot.value == math.inf and not ot.meets(1.0)
    assert Certificate().value == math.inf and not Certificate().meets(1.0)   # no measure: no evidence
    assert str(Certificate()) == "no measures"


def test_a_family_names_its_own_measures():
    cert = Certificate.from_measures("ot", [
        Measure("marginal_violation", 1e-9, "||P 1 - a||_1 + ||P^T 1 - b||_1 over sum(a)"),
        Measure("gap", 3e-10, "relative primal-dual gap"),
        Measure("hypergradient_norm", 0.5, "norm of the outer gradient", compared=False),
    ], dual_objective=4.0)
    assert cert.value == 1e-9 and cert.meets(1e-9)          # the uncompared measure is not compared
    assert cert.marginal_violation == 1e-9 and cert.hypergradient_norm == 0.5 and cert.gap == 3e-10
    assert cert.measure("marginal_violation").meaning.startswith("||P 1")
    assert cert.measure("absent") is None
    assert math.isnan(cert.primal_residual) and math.isnan(cert.dual_residual) and math.isnan(cert.kkt)
    assert cert.dual_objective == 4.0 and cert.kind == "ot"
    assert str(cert) == "marginal_violation=1.00e-09, gap=3.00e-10, hypergradient_norm=5.00e-01 (not compared)"
    with pytest.raises(AttributeError, match="has no measure 'saddle_gap'.*marginal_violation"):
        cert.saddle_gap


@pytest.mark.parametrize("bad", [NAN, math.inf])
def test_an_unmeasurable_compared_measure_makes_the_value_inf(bad):
    cert = Certificate.from_measures("metric", [Measure("max_triangle_violation", 1e-12, "worst triangle"),
                                                Measure("fixed_point_residual", bad, "|T x - x| / |x|")])
    assert cert.value == math.inf and not cert.meets(1e6)
    ignored = Certificate.from_measures("x", [Measure("a", 1e-9, ""), Measure("b", bad, "", compared=False)])
    assert ignored.value == 1e-9


def test_measures_are_validated():
    with pytest.raises(ValueError, match="repeated: gap"):
        Certificate.from_measures("k", [Measure("gap", 0.0, ""), Measure("gap", 1.0, "")])
    with pytest.raises(ValueError, match="identifier"):
        Measure("max triangle violation", 0.0, "")
    with pytest.raises(ValueError, match="value: the name of a certificate attribute"):
        Certificate.from_measures("k", [Measure("value", 0.0, "")])
    with pytest.raises(TypeError):
        Certificate.from_measures("k", [("gap", 0.0, "")])
    assert type(Measure("a", np.float32(0.5), "").value) is float


def test_certificates_pickle_and_compare():
    """Benchmark workers send results across processes."""
    cert = Certificate.from_measures("saddle", [Measure("saddle_gap", 1e-7, "sup_y L(x, y) - inf_x L(x, y)")],
                                     primal_objective=1.0)
    back = pickle.loads(pickle.dumps(cert))
    assert back == cert and back.saddle_gap == 1e-7 and back.primal_objective == 1.0
    assert Certificate(1e-3, 0.0, 0.0) != cert


def test_an_engine_result_prints_its_measures_by_name():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((30, 10)), rng.standard_normal(30)
    x = cp.Variable(10, name="x")
    res = sl.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - b) + 0.1 * cp.norm1(x))).solve(backend="fista",
                                                                                           tol=1e-8)
    cert = res.certificate
    assert res.status is sl.Status.OPTIMAL and cert.meets(1e-8)
    assert cert.value == max(v for v in cert.as_dict().values())
    assert str(cert).startswith("kkt=") and f"gap={cert.gap:.2e}" in str(cert)
    assert {m.name for m in cert.measures} >= {"primal_residual", "dual_residual", "subgradient_residual"}
