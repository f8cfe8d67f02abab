"""The families layout: each family stays below the model, and families are found by the
package scan, with a broken one reported instead of dropped."""
import ast
import importlib
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import solvelab.families
from solvelab import discovery
from solvelab.ir import forms

FAMILIES = Path(solvelab.families.__file__).resolve().parent
FORBIDDEN = ("solvelab.model", "solvelab.backends", "solvelab.problems", "solvelab.engine")


def _imports(path: Path):
    """Every module an import statement in ``path`` names (relative ones resolved)."""
    rel = path.relative_to(FAMILIES.parent.parent).with_suffix("")
    parts = list(rel.parts)
    pkg = parts if parts[-1] == "__init__" else parts[:-1]
    pkg = [p for p in pkg if p != "__init__"]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
            yield node.lineno, base
            for a in node.names:
                yield node.lineno, f"{base}.{a.name}"


def test_no_family_module_imports_model_backends_engine_or_problems():
    files = sorted(FAMILIES.rglob("*.py"))
    assert any(f.parent.name == "ot" for f in files) and any(f.parent.name == "glm" for f in files)
    bad = [f"{f.relative_to(FAMILIES)}:{line} imports {name}" for f in files for line, name in _imports(f)
           if any(name == m or name.startswith(m + ".") for m in FORBIDDEN)]
    assert not bad, bad


def test_the_families_register_their_forms():
    assert not forms.load_families(), forms.load_families()
    assert {"EntropicOT", "UnbalancedOT", "SparseGLM"} <= set(forms.FORMS)


def test_the_old_ir_paths_are_gone():
    # the OT and GLM code lives in solvelab.families only (one place to look)
    for old in ("solvelab.ir.ot_form", "solvelab.ir.glm_form"):
        with pytest.raises(ImportError):
            importlib.import_module(old)


@pytest.fixture
def extra_family_dir(monkeypatch):
    """A temporary directory on ``solvelab.families.__path__`` and a fresh discovery
    cache and form table; all three (and the temporary modules) are gone afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        monkeypatch.setattr(solvelab.families, "__path__", list(solvelab.families.__path__) + [tmp])
        monkeypatch.setattr(discovery, "_loaded", {})
        monkeypatch.setattr(forms, "FORMS", dict(forms.FORMS))
        before = set(sys.modules)
        try:
            yield Path(tmp)
        finally:
            for name in set(sys.modules) - before:
                if name.startswith("solvelab.families."):
                    del sys.modules[name]


def test_a_broken_family_module_is_reported_and_the_others_still_load(extra_family_dir):
    (extra_family_dir / "zz_broken.py").write_text("import cupy_not_installed_here\n")
    (extra_family_dir / "zz_good.py").write_text(textwrap.dedent('''
        from solvelab.ir.forms import NoMatch, register_form

        @register_form
        class Everything:
            name = "Everything"

            @staticmethod
            def match(program):
                return Everything()
    '''))
    failed = forms.load_families()
    assert [f.module for f in failed] == ["solvelab.families.zz_broken"]
    assert "ModuleNotFoundError" in failed[0].error and "cupy_not_installed_here" in failed[0].error
    assert discovery.failures("families") == failed
    # the good one was found by the scan and registered its form; the real families too
    from solvelab.families.ot import OTProgram
    node = OTProgram(np.full(2, 0.5), np.full(2, 0.5), np.ones((2, 2)), 0.1)
    assert forms.match(node, "Everything")
    assert forms.match(node, "EntropicOT")
    # a form that may have come from the broken module: the refusal says why it is missing
    missing = forms.match(node, "Nope")
    assert not missing and "zz_broken" in missing.reason and "cupy_not_installed_here" in missing.reason
