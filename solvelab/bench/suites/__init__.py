"""Benchmark suites, one module per suite; ``solvelab.bench.suite.get_suite(name)`` imports
``solvelab.bench.suites.<name>``, which registers itself with ``register_suite``."""
