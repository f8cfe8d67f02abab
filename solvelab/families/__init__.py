"""Structured problem families, one package each: its program node, recognizers, forms
and certificate (``ot``: entropic optimal transport; ``glm``: sparse generalized linear
models).

A family imports only ``solvelab.ir``, ``solvelab.kernels``, ``solvelab.errors``,
``solvelab.result`` and compile helpers, never the model, problems, engine or backends.
Importing a family registers its forms (``solvelab.ir.forms.register_form``); the form
matcher imports every family on first use through ``solvelab.discovery`` (package scan
plus the ``solvelab.families`` entry-point group), so a new family is one new package.
"""
