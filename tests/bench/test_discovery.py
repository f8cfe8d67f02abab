"""Bench suites and peers are discovered like backends (solvelab.discovery); a module that
fails to import is reported with its error, never dropped."""
import importlib
import pkgutil

import pytest

from solvelab import discovery
from solvelab.bench import peer as peer_mod
from solvelab.bench import suite as suite_mod
from solvelab.bench.cli import main as bench_main


def test_every_suite_and_peer_module_is_found():
    assert {"quick", "selftest", "libsvm", "ot", "cutest", "models"} <= set(suite_mod.suite_names())
    assert {"sklearn", "skglm", "cvxpy-clarabel", "scipy-lbfgsb"} <= set(peer_mod.all_peers())
    assert suite_mod.unavailable_suites() == [] and peer_mod.unavailable_peers() == []


def _broken(monkeypatch, kind, package, name, exc):
    """Make the scan of ``package`` see a module ``name`` whose import raises ``exc`` (in
    memory: no file is written; the discovery cache of ``kind`` is restored afterwards)."""
    real_iter, real_import = pkgutil.iter_modules, importlib.import_module
    scanned = list(real_import(package).__path__)

    def iter_modules(path=None, prefix=""):
        yield from real_iter(path, prefix)
        if path is not None and list(path) == scanned:
            yield pkgutil.ModuleInfo(None, name, False)

    def import_module(mod, pkg=None):
        if mod == f"{package}.{name}":
            raise exc
        return real_import(mod, pkg)

    monkeypatch.setattr(pkgutil, "iter_modules", iter_modules)
    monkeypatch.setattr(importlib, "import_module", import_module)
    monkeypatch.delitem(discovery._loaded, kind, raising=False)


def test_a_broken_suite_is_reported_and_the_others_still_load(monkeypatch, capsys):
    suite_mod.suite_names()
    _broken(monkeypatch, "suites", "solvelab.bench.suites", "gpu_suite",
            ModuleNotFoundError("No module named 'cupy'", name="cupy"))
    (failure,) = suite_mod.unavailable_suites()
    assert failure.module == "solvelab.bench.suites.gpu_suite" and "cupy" in failure.error
    assert "solvelab[gpu]" in failure.hint
    with pytest.raises(suite_mod.SuiteError, match="suite 'gpu_suite' cannot be loaded: .*No module named 'cupy'"):
        suite_mod.get_suite("gpu_suite")
    with pytest.raises(suite_mod.SuiteError, match="unknown suite 'nope'; available: .*quick"):
        suite_mod.get_suite("nope")
    assert suite_mod.get_suite("quick").name == "quick"
    assert bench_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "[cannot import] solvelab.bench.suites.gpu_suite: ModuleNotFoundError: No module named 'cupy'" in out


def test_a_broken_peer_is_reported(monkeypatch, capsys):
    peer_mod.all_peers()
    _broken(monkeypatch, "peers", "solvelab.bench.peers", "mylib", RuntimeError("mylib 0.1 is too old"))
    (failure,) = peer_mod.unavailable_peers()
    assert failure.module == "solvelab.bench.peers.mylib" and failure.error == "RuntimeError: mylib 0.1 is too old"
    with pytest.raises(suite_mod.SuiteError, match="unknown peer 'mylib'.*not importable: .*too old"):
        peer_mod.get_peer("mylib")
    assert "sklearn" in peer_mod.all_peers()
    assert bench_main(["list"]) == 0
    assert "[cannot import] solvelab.bench.peers.mylib: RuntimeError: mylib 0.1 is too old" in capsys.readouterr().out


def test_the_demo_suite_shows_every_family():
    """`make demo` runs `solvelab bench quick`: every problem family under solvelab/families
    has an instance there (a program that one of the family's forms takes), so the demo
    grows as the families land; plus the generic prox-affine models for admm / fista."""
    import importlib
    import pkgutil

    import solvelab.families as families_pkg
    from solvelab.bench.suite import get_suite
    from solvelab.ir import forms
    quick = get_suite("quick")
    shown = set()
    for inst in quick.instances():
        program = inst.make_problem(inst.data()).compile()
        for name in forms.matching_forms(program):
            module = type(forms.match(program, name)).__module__
            shown.add(module.split(".")[2] if module.startswith("solvelab.families.") else name)
    packages = {m.name for m in pkgutil.iter_modules(families_pkg.__path__) if m.ispkg}
    for pkg in packages:
        importlib.import_module(f"solvelab.families.{pkg}")
    assert packages <= shown, f"families without a demo instance in the quick suite: {packages - shown}"
    assert {"Composite", "ProxAffine"} <= shown
    ot = [i for i in quick.instances() if i.family == "entropic_ot"]
    assert set(ot[0].backends) <= set(quick.default_backends) and {"sinkhorn", "sinkhorn_newton"} <= set(ot[0].backends)
