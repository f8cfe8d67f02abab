"""The StructuredProgram contract: what every family node provides, and the clear refusal
of a family without a lowering to generic terms."""
import numpy as np
import pytest

import solvelab as sl
from solvelab.families.ot import OTProgram
from solvelab.ir import NoLoweringError, StructuredProgram, VariableInfo
from solvelab.ir.forms import match, matching_forms, own_certificate
from solvelab.result import Certificate


class Toy(StructuredProgram):
    """min ||x - c||^2 held whole, with no lowering (as a family with no generic terms)."""
    family = "toy"
    backends = ("toy_solver",)

    def __init__(self, c):
        self.c = np.asarray(c, dtype=np.float64)
        self.changes = []
        super().__init__([VariableInfo("x", self.c.shape, 0, self.c.size)])

    def objective(self, x):
        return float(np.sum((x - self.c.ravel(order="F")) ** 2))

    def certify(self, x, duals=None):
        r = float(np.linalg.norm(x - self.c.ravel(order="F")))
        return Certificate(r, 0.0, 0.0, None, None, "toy")

    def reread(self):
        return bool(self.changes and self.changes.pop())


class LoweredToy(Toy):
    family = "lowered_toy"

    def lower(self):
        from solvelab.ir import functions as F
        from solvelab.ir.linop import BlockRowOperator, IdentityOperator
        from solvelab.ir.program import Term
        n = self.c.size
        return [Term(F.SumSquares(), BlockRowOperator([(0, IdentityOperator(n))], n), self.c.copy())]


def test_a_family_without_lowering_says_so_naming_the_family_and_its_backends():
    node = Toy([1.0, 2.0])
    assert not node.has_lowering
    with pytest.raises(NoLoweringError, match=r"toy family.*no lowering.*admm, cvxpy.*toy_solver"):
        node.terms
    refused = match(node, "ProxAffine")
    assert not refused and "toy family" in refused.reason and "toy_solver" in refused.reason
    assert matching_forms(node) == []
    with pytest.raises(sl.BackendRefusedError, match="toy family"):
        sl.Problem.from_program(node).solve(backend="admm")


def test_a_family_with_a_lowering_reaches_the_generic_backends_and_keeps_its_certificate():
    node = LoweredToy([1.0, -2.0, 0.5])
    assert node.has_lowering and "ProxAffine" in node.forms()
    assert own_certificate(node) == node.certify   # the family's certificate judges
    res = sl.Problem.from_program(node).solve(backend="admm", tol=1e-8)
    assert res.status is sl.Status.OPTIMAL and res.certificate.kind == "toy"
    np.testing.assert_allclose(res.x, node.c, atol=1e-7)
    np.testing.assert_allclose(res.values["x"], node.c, atol=1e-7)


def test_parameters_are_per_instance():
    assert "parameters" not in vars(StructuredProgram) and "parameters" not in vars(OTProgram)
    a, b = np.full(3, 1 / 3), np.full(2, 0.5)
    p1, p2 = OTProgram(a, b, np.ones((3, 2)), 0.1), OTProgram(a, b, np.ones((3, 2)), 0.1)
    p1.parameters.append("lam")
    assert p2.parameters == [] and Toy([0.0]).parameters == []


def test_refresh_bumps_the_version_and_drops_the_lowering_only_on_change():
    node = LoweredToy([1.0])
    first = node.terms
    assert node.refresh() is False and node.data_version == 0 and node.terms is first
    node.changes.append(True)
    assert node.refresh() is True and node.data_version == 1
    assert node.terms is not first


def test_the_common_interface():
    node = Toy(np.arange(6.0).reshape(2, 3))
    assert node.n == 6 and node.sign == 1.0 and node.source is None and node.constant_source is None
    x = np.arange(6.0)
    assert node.split(x)["x"].shape == (2, 3)
    np.testing.assert_array_equal(node.split(x)["x"], x.reshape((2, 3), order="F"))
    assert node.user_objective(x) == node.objective(x)
