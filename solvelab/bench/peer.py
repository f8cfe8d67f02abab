"""Peers: other people's solvers, wrapped for the harness (the plugin API for peers).

A peer is a ``Peer`` subclass in a module under ``solvelab/bench/peers/`` (or an entry
point of the ``solvelab.bench.peers`` group), registered with ``register_peer`` (one
module may register several, e.g. CVXPY with Clarabel, SCS and OSQP). Every module there
is imported to list the peers (``solvelab.discovery``; one that fails to import is
reported by ``unavailable_peers()``), so a peer module must import its heavy package
lazily, inside its methods.

Writing a peer::

    from solvelab.bench.peer import Peer, PeerRun, PeerSkip, register_peer

    @register_peer
    class MyPeer(Peer):
        name = "mylib"
        package = "mylib"                # distribution name: version and install hint
        families = ("lasso",)            # instance families it can take
        def solve(self, instance, data, *, tol, time_limit, max_iter, record):
            import mylib
            coef = mylib.lasso(data["A"], data["b"], data["lam"], tol=tol)
            record(iteration=1, x=coef)  # optional: one history point (timer paused)
            return PeerRun(x=coef, status="converged", iterations=1)

``record(iteration=k, x=x)`` (or ``objective=v``) adds a history point: the harness
timestamps it, evaluates the instance's objective at ``x`` with the clock paused, and
streams it to the parent so that a killed run keeps its curve. A peer that cannot take
an instance returns a reason from ``supports`` (cheap, no data) or raises
``PeerSkip(reason)`` from ``solve``; the reason appears in the report. A peer that
compiles code on first use (numba) sets ``warmup = True`` and implements ``warm_up``:
the harness runs it first and records its time as compile time, apart from solve time.

Peers are judged by the relative objective error of the point they return against the
suite's reference objective (see ``solvelab.bench.suite``), not by their own claims.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

from ..discovery import PluginFailure, failures, load


class PeerSkip(Exception):
    """Raised by a peer that cannot take an instance; the message is the reason."""


@dataclass
class PeerRun:
    """What a peer returns.

    x             the solution in the instance's variable layout (None when there is none)
    status        the peer's own verdict: converged | max_iter | time_limit | error
    iterations    the peer's iteration count (its own notion)
    history       extra history entries (dicts with at least 'iteration'); entries
                  recorded through ``record`` are added by the harness
    time_compile  seconds of the peer call spent compiling/canonicalizing (CVXPY)
    """
    x: Any
    status: str = "converged"
    iterations: int = 0
    history: list = field(default_factory=list)
    time_compile: float = 0.0
    info: dict = field(default_factory=dict)
    message: str = ""


class Peer:
    """Base class. Set ``name``, ``families`` (and ``package``); implement ``solve``."""
    name: str = ""
    description: str = ""
    package: str = ""            # import name checked by ``available`` (and its version)
    distribution: str = ""       # pip name when it differs from ``package``
    extra: str | None = "peers"  # the solvelab extra that installs ``package`` (install hint)
    families: tuple = ()
    imports: tuple = ()          # modules imported before the clock starts (import time is not solve time)
    warmup: bool = False
    hidden: bool = False          # test-only peers: not listed, not run by default
    reference_only: str = ""      # why the peer solves a different problem (then it is shown
    #                               per instance but kept out of solved counts, ratios and profiles)

    def available(self) -> str | None:
        """None when the peer can run here, else why not (with an install hint)."""
        if self.package and importlib.util.find_spec(self.package) is None:
            hint = f"pip install {self.distribution or self.package}"
            if self.extra:
                hint += f", or pip install 'solvelab[{self.extra}]'"
            return f"{self.package} is not installed ({hint})"
        return None

    def version(self) -> str:
        name = self.distribution or self.package
        if not name:
            return ""
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return ""

    def supports(self, instance) -> str | None:
        """None when this peer can take ``instance`` (decided without its data), else why not."""
        if self.families and instance.family not in self.families:
            return f"{self.name} has no model for family {instance.family!r} (takes {', '.join(self.families)})"
        return None

    def warm_up(self, instance, data: dict, tol: float) -> None:
        """Run once before the timed solve (JIT compilation); only if ``warmup`` is True."""

    def solve(self, instance, data: dict, *, tol: float, time_limit: float | None,
              max_iter: int | None, record: Callable[..., None]) -> PeerRun:  # pragma: no cover
        raise NotImplementedError


_PEERS: dict[str, Peer] = {}
_PACKAGE = f"{__package__}.peers"   # also the entry-point group of out-of-tree peers


def register_peer(cls: type) -> type:
    """Class decorator: register one instance of a ``Peer`` subclass under ``cls.name``."""
    if not getattr(cls, "name", ""):
        raise ValueError("a peer needs a name")
    _PEERS[cls.name] = cls()
    return cls


def _load_builtin() -> None:
    load("peers", _PACKAGE, _PACKAGE)


def unavailable_peers() -> list[PluginFailure]:
    """The peer modules (and entry points) that failed to import, with their errors."""
    _load_builtin()
    return failures("peers")


def all_peers(include_hidden: bool = False) -> dict[str, Peer]:
    _load_builtin()
    return {k: v for k, v in sorted(_PEERS.items()) if include_hidden or not v.hidden}


def get_peer(name: str) -> Peer:
    _load_builtin()
    try:
        return _PEERS[name]
    except KeyError:
        from .suite import SuiteError
        broken = "; ".join(str(f) for f in failures("peers"))
        raise SuiteError(f"unknown peer {name!r}; available: {', '.join(all_peers())}"
                         + (f"; not importable: {broken}" if broken else "")) from None
