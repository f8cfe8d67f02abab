"""Run benchmark tasks in worker processes with hard time limits, and record the results.

One *task* is (suite, instance, backend-or-peer, repeat, tol, time limit). Tasks run in
persistent worker processes (``LocalExecutor``): a worker imports solvelab and the
suite's ``worker_preload`` modules once, then takes tasks one by one, so a slow import
(sif2jax) is paid once per worker. The parent enforces the time limit: a worker still
solving ``time_limit + grace`` seconds after the timed part began is killed, the run is
recorded as ``time_limit`` with ``killed: true`` and the worker is replaced. A worker
that dies (segfault, os._exit) gives ``crashed``; an exception gives ``error``. Killed,
crashed and errored runs are written to results.jsonl for the report but never count as
finished: ``--resume`` runs them again.

The convergence history comes from the run itself: backends through the ``callback``
(streamed to the parent every ~0.25 s, so a killed run keeps its curve; the backend's
own ``Result.history`` replaces it when the run finishes), peers through ``record``.
Model compilation and JIT warm-up are timed apart from the solve: a backend object with
``warmup = True`` gets a 2-iteration solve first (timed as JIT); a backend that compiles
inside its solve reports the seconds in ``Result.info['jit_time']`` (counted in its setup
time), which the harness moves to the JIT column.

The executor is an interface (``Executor.run(tasks, on_event)``): a Dask executor that
submits the same ``execute`` function to a scheduler address can be added beside
``LocalExecutor`` without touching the rest.
"""
from __future__ import annotations

import collections
import importlib
import json
import math
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import platform
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field

#: statuses that mean the harness could not finish the run (never cached)
FAILED = ("error", "crashed")
_SCALARS = (int, float, str, bool, type(None))


@dataclass
class Task:
    """One run. ``kind`` is 'backend' (a solvelab backend) or 'peer'."""
    suite: str
    instance: str
    kind: str
    solver: str
    repeat: int = 0
    tol: float = 1e-6
    time_limit: float = 60.0
    max_iter: int | None = None
    suite_options: dict = field(default_factory=dict)
    plugins: tuple = ()

    @property
    def key(self) -> str:
        return run_key(self.instance, self.kind, self.solver, self.repeat, self.tol, self.time_limit)


def run_key(instance, kind, solver, repeat, tol, time_limit) -> str:
    return f"{instance}|{kind}:{solver}|r{int(repeat)}|tol={float(tol):g}|tl={float(time_limit):g}"


def record_key(rec: dict) -> str:
    return run_key(rec["instance"], rec["kind"], rec["solver"], rec.get("repeat", 0),
                   rec["tol"], rec["time_limit"])


def is_finished(rec: dict) -> bool:
    """A record that ``--resume`` may keep: not failed, not killed."""
    return rec.get("status") not in FAILED and not rec.get("killed", False)


def base_record(task: Task) -> dict:
    return {"suite": task.suite, "instance": task.instance, "kind": task.kind, "solver": task.solver,
            "repeat": task.repeat, "tol": task.tol, "time_limit": task.time_limit,
            "status": None, "objective": None, "certificate": None, "infeasibility": None,
            "iterations": None, "time": None, "time_compile": 0.0, "time_jit": 0.0,
            "time_setup": None, "time_solve": None, "time_certify": None, "time_data": None, "wall": None,
            "killed": False, "message": "", "history": [], "timestamp": time.time()}


# ----------------------------------------------------------------------------------------
# In the worker
# ----------------------------------------------------------------------------------------

class _Stream:
    """Buffers history entries; a daemon thread sends them to the parent every ``every``
    seconds, so a run that is killed later keeps the curve it had drawn."""

    def __init__(self, send, every: float = 0.25):
        self.send, self.every, self.buf = send, every, []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = None
        if send is not None:
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()

    def _loop(self):
        while not self.stop.wait(self.every):
            self.flush()

    def add(self, entry: dict):
        with self.lock:
            self.buf.append(entry)

    def flush(self):
        with self.lock:
            buf, self.buf = self.buf, []
        if buf and self.send is not None:
            self.send(("progress", buf))

    def close(self):
        """Stop sending (the finished run's record carries the whole history)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=1.0)
        with self.lock:
            self.buf = []


def _clean(entry: dict) -> dict:
    """Keep the JSON-able scalars of a history entry (drop iterates and arrays)."""
    out = {}
    for k, v in entry.items():
        if isinstance(v, _SCALARS):
            out[k] = v
        elif hasattr(v, "item") and getattr(v, "size", 2) == 1:
            out[k] = v.item()
    return out


def _finite(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else (None if math.isnan(v) else v)


_SUITES: dict = {}
_DATA: "collections.OrderedDict" = collections.OrderedDict()
_LAST_DATA_SECONDS = [0.0]  # seconds the last _suite_and_data spent building data (0: reused)


def _suite_and_data(task: Task):
    from .suite import get_suite, load_plugins
    load_plugins(task.plugins)
    skey = (task.suite, json.dumps(task.suite_options, sort_keys=True, default=str))
    suite = _SUITES.get(skey)
    if suite is None:
        suite = _SUITES[skey] = get_suite(task.suite, **task.suite_options)
    inst = suite.instance(task.instance)
    dkey = skey + (task.instance,)
    _LAST_DATA_SECONDS[0] = 0.0
    if dkey in _DATA:
        _DATA.move_to_end(dkey)
        return suite, inst, _DATA[dkey]
    t = time.perf_counter()
    data = inst.data() if inst.data is not None else {}
    _LAST_DATA_SECONDS[0] = time.perf_counter() - t
    _DATA[dkey] = data
    while len(_DATA) > 2:  # keep the current instance (its solvers run back to back)
        _DATA.popitem(last=False)
    return suite, inst, data


def execute(task: Task, send=None) -> dict:
    """Run one task in this process and return its record (never raises)."""
    rec = base_record(task)
    t_wall = time.perf_counter()
    try:
        suite, inst, data = _suite_and_data(task)
        rec.update(family=inst.family, size=inst.size, time_data=_LAST_DATA_SECONDS[0])
        if task.kind == "backend":
            _run_backend(task, inst, data, rec, send)
        elif task.kind == "peer":
            _run_peer(task, inst, data, rec, send)
        else:
            raise ValueError(f"unknown task kind {task.kind!r}")
    except Exception as exc:  # the harness reports it; the suite goes on
        rec["status"] = "error"
        rec["message"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc(limit=8)
    rec["wall"] = time.perf_counter() - t_wall
    return rec


def _run_backend(task, inst, data, rec, send):
    from ..backends import registry
    from ..errors import BackendRefusedError
    impl = registry.get(task.solver)
    rec["version"] = _version("solvelab")
    if getattr(impl, "warmup", False):  # a backend that JIT-compiles declares it
        t = time.perf_counter()
        try:
            inst.make_problem(data).solve(backend=task.solver, tol=task.tol, max_iter=2)
        except BackendRefusedError as exc:
            rec.update(status="skipped", message=str(exc))
            return
        rec["time_jit"] = time.perf_counter() - t
    try:
        prob = inst.make_problem(data)
    except BackendRefusedError as exc:  # e.g. no solvelab model for this kind of instance yet
        rec.update(status="skipped", message=str(exc))
        return
    stream = _Stream(send)
    from ..engine import normalize_history

    def callback(info):
        stream.add(normalize_history([_clean(info)])[0])  # same 'residual' as Result.history
        return False

    if send is not None:
        send(("phase", "solve"))
    try:
        res = prob.solve(backend=task.solver, tol=task.tol, time_limit=task.time_limit,
                         max_iter=task.max_iter, callback=callback)
    except BackendRefusedError as exc:
        rec.update(status="skipped", message=str(exc))
        return
    finally:
        stream.close()
    tm = res.timings
    rec.update(status=res.status.value, objective=_finite(res.objective),
               certificate=None if res.certificate is None else _finite(res.certificate.value),
               iterations=int(res.iterations), message=res.message or "",
               time_compile=tm.get("compile", 0.0), time_setup=tm.get("setup"), time_solve=tm.get("solve"),
               time_certify=tm.get("certify"), time=tm.get("setup", 0.0) + tm.get("solve", 0.0),
               history=[_clean(h) for h in res.history])
    jit = _finite((res.info or {}).get("jit_time"))
    if jit:  # compiled inside solve (counted in its setup time): report it as JIT, apart
        rec["time_jit"] = float(rec.get("time_jit") or 0.0) + jit
        rec["time"] = max(0.0, rec["time"] - jit)
        if rec.get("time_setup") is not None:
            rec["time_setup"] = max(0.0, rec["time_setup"] - jit)
    if res.x is not None and inst.family:
        try:
            rec["infeasibility"] = _finite(inst.eval_infeasibility(data, res.x))
        except Exception:  # an instance without a numpy model: the certificate covers it
            pass


class _Recorder:
    """The ``record`` callable handed to peers: timestamps, evaluates, streams."""

    def __init__(self, inst, data, stream):
        self.inst, self.data, self.stream = inst, data, stream
        self.entries: list[dict] = []
        self.paused = 0.0
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 - self.paused

    def __call__(self, iteration=None, x=None, objective=None, **extra):
        t = self.elapsed()
        p0 = time.perf_counter()
        entry = {"iteration": iteration if iteration is not None else len(self.entries), "time": t}
        if objective is None and x is not None:
            objective = self.inst.eval_objective(self.data, x)
            entry["infeasibility"] = self.inst.eval_infeasibility(self.data, x)
        entry["objective"] = _finite(objective)
        entry.update(_clean(extra))
        self.entries.append(entry)
        self.stream.add(dict(entry))
        self.paused += time.perf_counter() - p0


def _run_peer(task, inst, data, rec, send):
    from .peer import PeerSkip, get_peer
    peer = get_peer(task.solver)
    rec["version"] = peer.version()
    if peer.reference_only:
        rec["reference_only"] = peer.reference_only
    reason = peer.available() or peer.supports(inst)
    if reason:
        rec.update(status="skipped", message=reason)
        return
    try:
        for mod in peer.imports:
            importlib.import_module(mod)
        if peer.warmup:
            t = time.perf_counter()
            peer.warm_up(inst, data, task.tol)
            rec["time_jit"] = time.perf_counter() - t
        if send is not None:
            send(("phase", "solve"))
        rec_ = _Recorder(inst, data, _Stream(send))
        try:
            run = peer.solve(inst, data, tol=task.tol, time_limit=task.time_limit, max_iter=task.max_iter,
                             record=rec_)
            wall = rec_.elapsed()
        finally:
            rec_.stream.close()
    except PeerSkip as exc:
        rec.update(status="skipped", message=str(exc))
        return
    hist = [_clean(h) for h in rec_.entries] + [_clean(h) for h in run.history]
    rec.update(status=run.status, iterations=int(run.iterations or 0), message=run.message or "",
               time_compile=float(run.time_compile or 0.0), time=wall - float(run.time_compile or 0.0),
               time_solve=wall - float(run.time_compile or 0.0))
    if run.info:
        rec["info"] = _clean(run.info)
    if run.x is not None:
        import numpy as np
        x = np.asarray(run.x, dtype=np.float64).ravel()
        rec["objective"] = _finite(inst.eval_objective(data, x))
        rec["infeasibility"] = _finite(inst.eval_infeasibility(data, x))
        if not hist or hist[-1].get("objective") != rec["objective"]:
            hist.append({"iteration": rec["iterations"], "time": rec["time"], "objective": rec["objective"],
                         "infeasibility": rec["infeasibility"], "final": True})
    hist.sort(key=lambda h: (h.get("time") is None, h.get("time") or 0.0))
    rec["history"] = hist


def _version(dist: str) -> str:
    import importlib.metadata as md
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return ""


def _worker_main(conn, preload, t_spawn):
    """Worker loop: import ``preload`` once, then run tasks until told to stop.
    ``t_spawn`` (the parent's wall clock at start) lets the start-up cost be reported."""
    for mod in preload:
        importlib.import_module(mod)
    lock = threading.Lock()

    def send(msg):  # the history streamer sends from its own thread
        with lock:
            conn.send(msg)

    send(("ready", time.time() - t_spawn))
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        send(("phase", "prepare"))
        rec = execute(task, send)
        send(("done", rec))


# ----------------------------------------------------------------------------------------
# In the parent
# ----------------------------------------------------------------------------------------

def series(task: Task) -> tuple:
    """The repeats of one (instance, solver, tol, time limit) share a series."""
    return (task.instance, task.kind, task.solver, float(task.tol), float(task.time_limit))


def drop_repeats(pending, task: Task, rec: dict) -> list:
    """After a run that reached the time limit, the queued repeats of its series would
    only reach it again: remove them from ``pending`` (a deque) and return a 'skipped'
    record for each (they count as unsolved, like the run itself)."""
    if rec.get("status") != "time_limit":
        return []
    key = series(task)
    dropped = [t for t in pending if series(t) == key and t.repeat > task.repeat]
    if not dropped:
        return []
    keep = [t for t in pending if not (series(t) == key and t.repeat > task.repeat)]
    pending.clear()
    pending.extend(keep)
    out = []
    for t in dropped:
        r = base_record(t)
        r.update(status="skipped", message=f"not repeated: repeat {task.repeat} reached the time limit "
                                           f"of {float(task.time_limit):g} s")
        out.append((t, r))
    return out


class Executor:
    """Runs tasks and reports events through ``on_event(kind, **payload)``.

    Events: ``done`` (task, record) once per task; ``tick`` (running: list of (task,
    seconds)) while waiting; ``worker_ready`` (seconds of its one-time imports).
    Repeats queued after a run that reached the time limit are not run: each gets a
    'skipped' record (``drop_repeats``).
    """

    def run(self, tasks, on_event) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class _Slot:
    def __init__(self):
        self.proc = self.conn = None
        self.task = None
        self.deadline = None
        self.t_start = None
        self.t_solve = None
        self.progress: list = []
        self.ready = False


class LocalExecutor(Executor):
    """``workers`` persistent worker processes on this machine (spawned, not forked).

    ``grace``: seconds beyond the time limit before a kill (the backends' own soft
    limit normally stops them first); ``prepare_limit``: seconds allowed for loading
    data, building the model and warm-up before the timed part begins.
    """

    def __init__(self, workers: int = 1, preload=(), grace: float | None = None,
                 prepare_limit: float = 600.0, startup_limit: float = 900.0):
        self.workers = max(1, int(workers))
        self.preload = tuple(dict.fromkeys(("solvelab", "solvelab.bench.runner") + tuple(preload)))
        self.grace = grace
        self.prepare_limit = prepare_limit
        self.startup_limit = startup_limit
        self.ctx = mp.get_context("spawn")
        self.slots = [_Slot() for _ in range(self.workers)]
        self.startup_times: list[float] = []
        self._pending = collections.deque()

    # -- worker lifetime --
    def _start(self, slot: _Slot):
        parent, child = self.ctx.Pipe(duplex=True)
        threads = str(max(1, (os.cpu_count() or 1) // self.workers))
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        if self.workers > 1:  # share the cores instead of oversubscribing them
            for k in saved:
                os.environ[k] = threads
        try:
            slot.proc = self.ctx.Process(target=_worker_main, args=(child, self.preload, time.time()), daemon=True)
            slot.proc.start()
        finally:
            for k, v in saved.items():
                if self.workers > 1:
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        child.close()
        slot.conn, slot.ready = parent, False
        slot.t_boot = time.perf_counter()

    def _kill(self, slot: _Slot):
        if slot.proc is not None:
            if slot.proc.is_alive():
                slot.proc.kill()
            slot.proc.join(timeout=10)
        if slot.conn is not None:
            slot.conn.close()
        slot.proc = slot.conn = None

    def close(self):
        for slot in self.slots:
            if slot.proc is not None and slot.proc.is_alive() and slot.task is None:
                try:
                    slot.conn.send(None)
                    slot.proc.join(timeout=5)
                except (OSError, BrokenPipeError):
                    pass
            self._kill(slot)

    # -- the loop --
    def _grace(self, task: Task) -> float:
        return self.grace if self.grace is not None else 1.0 + 0.05 * float(task.time_limit)

    def _finish(self, slot: _Slot, rec: dict, on_event):
        task = slot.task
        slot.task, slot.deadline, slot.t_solve, slot.progress = None, None, None, []
        on_event("done", task=task, record=rec)
        for t, r in drop_repeats(self._pending, task, rec):
            on_event("done", task=t, record=r)

    def _fail(self, slot: _Slot, status: str, message: str, killed: bool, on_event):
        task = slot.task
        rec = base_record(task)
        now = time.perf_counter()
        elapsed = now - slot.t_solve if slot.t_solve is not None else None
        rec.update(status=status, message=message, killed=killed, history=list(slot.progress),
                   time=elapsed, wall=now - slot.t_start)
        if slot.proc is not None and slot.proc.exitcode is not None:
            rec["exitcode"] = slot.proc.exitcode
        self._kill(slot)
        self._finish(slot, rec, on_event)

    def run(self, tasks, on_event) -> None:
        pending = self._pending = collections.deque(tasks)
        try:
            while pending or any(s.task is not None for s in self.slots):
                now = time.perf_counter()
                for slot in self.slots:
                    if slot.task is None and pending:
                        if slot.proc is None or not slot.proc.is_alive():
                            self._kill(slot)
                            self._start(slot)
                        slot.task = pending.popleft()
                        slot.t_start, slot.t_solve, slot.progress = now, None, []
                        slot.deadline = None  # set when the worker takes it
                        slot.conn.send(slot.task)
                busy = [s for s in self.slots if s.task is not None]
                waitables = [s.conn for s in busy] + [s.proc.sentinel for s in busy]
                mpc.wait(waitables, timeout=0.2)
                now = time.perf_counter()
                for slot in busy:
                    self._drain(slot, on_event)
                    if slot.task is None:
                        continue
                    task = slot.task
                    if not slot.proc.is_alive():
                        self._drain(slot, on_event)
                        if slot.task is not None:
                            self._fail(slot, "crashed", f"the worker process died (exit code "
                                       f"{slot.proc.exitcode}) while running it", False, on_event)
                        continue
                    if not slot.ready and now - slot.t_boot > self.startup_limit:
                        self._fail(slot, "error", f"worker start-up (imports) took over {self.startup_limit:g} s",
                                   True, on_event)
                    elif slot.deadline is not None and now > slot.deadline:
                        if slot.t_solve is None:
                            self._fail(slot, "time_limit", f"killed: loading/building/warm-up took over "
                                       f"{self.prepare_limit:g} s", True, on_event)
                        else:
                            self._fail(slot, "time_limit", f"killed at the hard limit ({task.time_limit:g} s "
                                       f"+ {self._grace(task):.1f} s grace)", True, on_event)
                running = [(s.task, now - (s.t_solve or s.t_start)) for s in self.slots if s.task is not None]
                on_event("tick", running=running)
        finally:
            self.close()

    def _drain(self, slot: _Slot, on_event):
        while slot.task is not None and slot.conn is not None:
            try:
                if not slot.conn.poll():
                    return
                msg = slot.conn.recv()
            except (EOFError, OSError):
                return
            kind = msg[0]
            now = time.perf_counter()
            if kind == "ready":
                slot.ready = True
                self.startup_times.append(msg[1])
                on_event("worker_ready", seconds=msg[1])
            elif kind == "phase" and msg[1] == "prepare":
                slot.deadline = now + self.prepare_limit
            elif kind == "phase" and msg[1] == "solve":
                slot.t_solve = now
                slot.deadline = now + float(slot.task.time_limit) + self._grace(slot.task)
            elif kind == "progress":
                slot.progress.extend(msg[1])
            elif kind == "done":
                self._finish(slot, msg[1], on_event)


class InlineExecutor(Executor):
    """Runs tasks in this process, one after another, with no time limit enforcement.
    For debugging (``--workers 0``): tracebacks and pdb work as usual."""

    def run(self, tasks, on_event) -> None:
        pending = collections.deque(tasks)
        while pending:
            task = pending.popleft()
            rec = execute(task, None)
            on_event("done", task=task, record=rec)
            for t, r in drop_repeats(pending, task, rec):
                on_event("done", task=t, record=r)


def machine_info() -> dict:
    info = {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or "", "cpus": os.cpu_count(),
            "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        info["memory_gb"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def versions() -> dict:
    return {d: _version(d) for d in ("solvelab", "numpy", "scipy", "cvxpy", "clarabel", "scikit-learn",
                                     "skglm", "celer", "POT", "numba")}


def task_as_dict(task: Task) -> dict:
    return asdict(task)
