"""Every example in problems/ builds, solves to a certified optimum, and agrees with
CVXPY + Clarabel on the same objective and constraints."""
import importlib.util
import runpy
from pathlib import Path

import cvxpy as cp
import pytest

import solvelab as sl

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
FILES = sorted(p for p in PROBLEMS.glob("*.py") if not p.name.startswith("_"))
REL = 1e-5

# The reference backend's interior-point point is accurate (objective within 1e-9 of
# Clarabel's) but the duals recovered for it miss the dual residual at tol=1e-6, so the
# engine reports `inaccurate`. Strict: when that is fixed, these marks must go.
CVXPY_DUAL_RECOVERY = {
    "group_lasso": "cvxpy backend: recovered duals leave a dual residual of 1e-4 > tol (reported inaccurate)",
}


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"problems_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clarabel(prob) -> float:
    return cp.Problem(prob.objective, prob.constraints).solve(solver="CLARABEL")


def test_the_expected_examples_are_there():
    names = {p.stem for p in FILES}
    assert {"lasso", "nonneg_least_squares", "huber_regression", "logistic_l1", "group_lasso", "box_qp",
            "equality_ls", "soc_constrained", "parameter_path"} <= names


def test_readme_lists_every_example():
    readme = (PROBLEMS / "README.md").read_text()
    missing = [p.name for p in FILES if p.name not in readme]
    assert not missing, f"problems/README.md does not mention {missing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_is_optimal_on_auto_and_matches_clarabel(path):
    module = load(path)
    prob = module.build()
    assert isinstance(prob, sl.Problem)
    res = prob.solve(backend="auto", tol=1e-6)
    assert res.status is sl.Status.OPTIMAL, f"{path.name} on {res.backend}: {res.status} ({res.message})"
    assert res.certificate.value <= 1e-6
    # an example CVXPY cannot declare (a nonconvex NLP) names its own reference
    ref = module.reference() if hasattr(module, "reference") else clarabel(prob)
    # a zero optimum is judged against the example's own objective scale (no absolute floor)
    assert res.objective == pytest.approx(ref, rel=REL, abs=REL * getattr(module, "OBJECTIVE_SCALE", 0.0))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_is_optimal_on_the_reference_backend(path, request):
    if path.stem in CVXPY_DUAL_RECOVERY:
        request.applymarker(pytest.mark.xfail(reason=CVXPY_DUAL_RECOVERY[path.stem], strict=True))
    module = load(path)
    if hasattr(module, "reference"):
        pytest.skip(f"{path.name}: CVXPY cannot declare it (its reference is {module.reference.__doc__})")
    prob = module.build()
    res = prob.solve(backend="cvxpy", tol=1e-6)
    assert res.objective == pytest.approx(clarabel(prob), rel=REL)
    if path.stem == "ot_dotmark" and module.load_images()[2].startswith("synthetic"):
        # without ../shared/data the example uses two synthetic blobs; Clarabel's plan
        # there has the right objective (2e-7) but reports 'optimal_inaccurate', and the
        # potentials recovered from its tiny entries leave a gap of ~1e-2. Whatever
        # Clarabel does, the status must be honest about the certificate.
        assert (res.status is sl.Status.OPTIMAL) == res.certificate.meets(1e-6), res.message
        return
    assert res.status is sl.Status.OPTIMAL, f"{path.name} on cvxpy: {res.status} ({res.message})"


def test_composite_examples_run_on_fista_and_the_others_are_refused_with_reasons():
    for path in FILES:
        module = load(path)
        if hasattr(module, "reference"):
            continue          # not a CVXPY model (its own reference)
        prob = module.build()
        composite = "Composite" in prob.compile().forms()
        if composite:
            res = prob.solve(backend="fista", tol=1e-6)
            assert res.status is sl.Status.OPTIMAL, f"{path.name} on fista: {res.status}"
            assert res.objective == pytest.approx(clarabel(prob), rel=REL)
        else:
            with pytest.raises(sl.BackendRefusedError, match="Backends that accept it"):
                prob.solve(backend="fista")
    assert any("Composite" not in load(p).build().compile().forms() for p in FILES)


def test_parameter_path_compiles_once_and_tracks_clarabel():
    module = load(PROBLEMS / "parameter_path.py")
    prob = module.build()
    lam, = prob.parameters()
    reference = cp.Problem(prob.objective, prob.constraints)
    objectives = []
    for value, res in zip(module.LAMBDAS, module.sweep(prob, backend="fista")):
        lam.value = value
        assert res.status is sl.Status.OPTIMAL
        assert res.objective == pytest.approx(reference.solve(solver="CLARABEL"), rel=REL)
        objectives.append(res.objective)
    assert prob.compile_count == 1
    assert objectives == sorted(objectives, reverse=True)  # smaller lam, smaller optimum


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_script_runs(path, capsys):
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "optimal" in out
    assert "CVXPY" in out
