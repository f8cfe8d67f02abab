"""Peers (other solvers) wrapped for the harness, one module per package; every module
here is imported to list them, so each imports its package lazily (see
``solvelab.bench.peer``)."""
