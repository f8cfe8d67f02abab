"""solvelab.bench: the benchmark harness behind ``solvelab bench``.

Plugin APIs (stable): ``solvelab.bench.suite`` (``Suite``, ``Instance``,
``register_suite``; one module per suite in ``solvelab/bench/suites/``) and
``solvelab.bench.peer`` (``Peer``, ``PeerRun``, ``PeerSkip``, ``register_peer``; modules in
``solvelab/bench/peers/``). Model families shared by suites and peers are in
``solvelab.bench.models``; LIBSVM data loading in ``solvelab.bench.data``; CUTEst
problems (sif2jax index, ``jax.export`` cache) in ``solvelab.bench.cutest``. The runner
(worker processes, hard time limits) is ``solvelab.bench.runner``, the report
(tables, convergence curves, performance profiles) ``solvelab.bench.report``, and the
command line ``solvelab.bench.cli.main``.
"""
from .peer import Peer, PeerRun, PeerSkip, register_peer
from .suite import Instance, Suite, SuiteError, get_suite, register_suite

__all__ = ["Suite", "Instance", "register_suite", "get_suite", "SuiteError",
           "Peer", "PeerRun", "PeerSkip", "register_peer"]
