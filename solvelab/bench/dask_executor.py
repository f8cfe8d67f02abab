"""Run benchmark tasks on a Dask cluster, with the same hard time limits as on this machine.

``DaskExecutor`` is the ``Executor`` of ``solvelab bench SUITE --dask ADDRESS | local:N``.
Each task runs the same ``runner.execute`` function as a local worker does, inside a
Dask worker process, so a record from the cluster is the record a local run writes (the
same statuses, histories and timings). What differs is how the parent watches the run:

- Progress (the phase markers and the streamed history) travels over Dask's event
  topics (``Worker.log_event`` -> ``Client.subscribe_topic``), tagged with a token of
  the run, so a killed run keeps the curve it had drawn.
- The time limit is the parent's, as locally: ``time_limit + grace`` seconds after the
  timed part began (``prepare_limit`` before it), the future is cancelled and the worker
  that holds it is restarted by its nanny (the only way to stop Python code running in a
  worker thread). The record says ``time_limit`` with ``killed: true``.
- A worker that dies under a run gives ``crashed``; the future's exception gives ``error``.
  Neither is a finished run, so ``--resume`` runs them again (failures are never cached).

At most one task runs per worker thread. ``local:N`` starts a LocalCluster of N
single-threaded worker processes on loopback (their BLAS/OpenMP pools are one thread
each, Dask's nanny default, as the local executor does with several workers). A remote
cluster must see the suite's data at the same path (``--data-dir``) and have solvelab
installed.
"""
from __future__ import annotations

import collections
import importlib
import queue
import time
import uuid

from ..backends.dask_info import scheduler_info
from .runner import Executor, Task, base_record, drop_repeats, execute

TOPIC = "solvelab-bench"


class DaskUnavailable(RuntimeError):
    """dask.distributed is not installed, or the scheduler cannot be reached."""


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailable("--dask needs dask.distributed: pip install 'solvelab[dask]'") from exc
    return distributed


def parse_target(target: str):
    """``'local:N'`` -> ('local', N); anything else is a scheduler address."""
    target = str(target).strip()
    if target.startswith("local"):
        _, _, n = target.partition(":")
        try:
            workers = int(n) if n else 2
        except ValueError:
            raise ValueError(f"--dask local:N needs an integer N, got {target!r}") from None
        if workers < 1:
            raise ValueError(f"--dask local:N needs N >= 1, got {target!r}")
        return "local", workers
    if not target:
        raise ValueError("--dask needs a scheduler address (tcp://host:8786) or local:N")
    return "address", target


def check_target(target: str) -> None:
    """Raise (ValueError, DaskUnavailable) for a malformed target or a missing extra."""
    parse_target(target)
    _distributed()


def connect(target: str):
    """(client, cluster or None) for a ``--dask`` target."""
    distributed = _distributed()
    kind, value = parse_target(target)
    if kind == "local":
        import dask
        # a run that kills its worker is reported as crashed, not retried on the next one
        # (a remote scheduler keeps its own setting; retries then cost more time, not a wrong record)
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = distributed.LocalCluster(n_workers=value, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=50)
        return distributed.Client(cluster), cluster
    try:
        return distributed.Client(value, timeout=30), None
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {value}: {exc}") from exc


def _preload(modules) -> float:
    """Import the suite's preload modules on a worker; the seconds since its process
    started (unpickling this function has already imported solvelab, so timing the
    imports here would miss it)."""
    for mod in modules:
        importlib.import_module(mod)
    try:
        import psutil
        return max(0.0, time.time() - psutil.Process().create_time())
    except (ImportError, OSError):
        return 0.0


def run_on_worker(task: Task, token: str) -> dict:
    """The Dask task: ``execute`` with its messages sent as events on ``TOPIC``."""
    from distributed import get_worker
    worker = get_worker()
    address = worker.address

    def send(msg):
        worker.log_event(TOPIC, {"token": token, "worker": address, "msg": list(msg)})

    send(("phase", "prepare"))
    return execute(task, send)


class _Run:
    def __init__(self, task: Task, future, token: str, now: float):
        self.task, self.future, self.token = task, future, token
        self.t_start, self.t_solve = now, None
        self.deadline = None
        self.worker = None
        self.progress: list = []


class DaskExecutor(Executor):
    """Runs tasks on ``client``'s cluster (see the module docstring)."""

    def __init__(self, client, cluster=None, preload=(), grace: float | None = None,
                 prepare_limit: float = 600.0):
        self.client, self.cluster = client, cluster
        self.preload = tuple(dict.fromkeys(("solvelab", "solvelab.bench.runner") + tuple(preload)))
        self.grace = grace
        self.prepare_limit = prepare_limit
        self.events: "queue.Queue" = queue.Queue()
        self.startup_times: list[float] = []
        self._requeued: dict[str, int] = {}

    @classmethod
    def from_target(cls, target: str, **kw) -> "DaskExecutor":
        client, cluster = connect(target)
        return cls(client, cluster, **kw)

    def slots(self) -> int:
        """Worker threads in the cluster: how many runs go at once."""
        info = scheduler_info(self.client)
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def _grace(self, task: Task) -> float:
        return self.grace if self.grace is not None else 1.0 + 0.05 * float(task.time_limit)

    def _handler(self, event):
        _, payload = event
        self.events.put(payload)

    def run(self, tasks, on_event) -> None:
        distributed = _distributed()
        pending = collections.deque(tasks)
        if not pending:
            return
        for seconds in self.client.run(_preload, self.preload).values():
            self.startup_times.append(seconds)
            on_event("worker_ready", seconds=seconds)
        self.client.subscribe_topic(TOPIC, self._handler)
        running: dict[str, _Run] = {}
        try:
            capacity, t_slots = self.slots(), time.perf_counter()
            while pending or running:
                if time.perf_counter() - t_slots > 5.0:       # workers may join or leave
                    capacity, t_slots = self.slots(), time.perf_counter()
                now = time.perf_counter()
                while pending and len(running) < capacity:
                    task = pending.popleft()
                    token = uuid.uuid4().hex
                    fut = self.client.submit(run_on_worker, task, token, key=f"solvelab-bench-{token}",
                                             pure=False, retries=0)
                    running[token] = _Run(task, fut, token, now)
                self._drain(running)
                now = time.perf_counter()
                for token, r in list(running.items()):
                    if r.future.done():
                        self._drain(running)
                        rec = self._result(r)
                        del running[token]
                        if rec is None:        # lost with a dying worker before it began: run it again
                            pending.appendleft(r.task)
                            self._requeued[r.task.key] = self._requeued.get(r.task.key, 0) + 1
                            capacity, t_slots = self.slots(), time.perf_counter()
                            continue
                        if rec.get("status") == "crashed":
                            capacity, t_slots = self.slots(), time.perf_counter()
                        self._finish(r.task, rec, pending, on_event)
                    elif r.deadline is not None and now > r.deadline:
                        if r.t_solve is None:
                            msg = f"killed: loading/building/warm-up took over {self.prepare_limit:g} s"
                        else:
                            msg = (f"killed at the hard limit ({r.task.time_limit:g} s + "
                                   f"{self._grace(r.task):.1f} s grace)")
                        rec = self._kill(r, running, msg)
                        del running[token]
                        capacity, t_slots = self.slots(), time.perf_counter()
                        self._finish(r.task, rec, pending, on_event)
                on_event("tick", running=[(r.task, now - (r.t_solve or r.t_start)) for r in running.values()])
                if running:   # wake when a run finishes, or to check the deadlines
                    try:
                        distributed.wait([r.future for r in running.values()], timeout=0.1,
                                         return_when="FIRST_COMPLETED")
                    except distributed.TimeoutError:
                        pass
        finally:
            try:
                self.client.unsubscribe_topic(TOPIC)
            except Exception:  # the client may already be closing
                pass

    def _drain(self, running: dict):
        while True:
            try:
                payload = self.events.get_nowait()
            except queue.Empty:
                return
            r = running.get(payload.get("token"))
            if r is None:
                continue
            msg = list(payload.get("msg") or ())  # msgpack gives tuples
            now = time.perf_counter()
            r.worker = payload.get("worker") or r.worker
            if msg[:2] == ["phase", "prepare"]:
                r.deadline = now + self.prepare_limit
            elif msg[:2] == ["phase", "solve"]:
                r.t_solve = now
                r.deadline = now + float(r.task.time_limit) + self._grace(r.task)
            elif msg and msg[0] == "progress":
                r.progress.extend(msg[1])

    def _failure(self, r: _Run, status: str, message: str, killed: bool) -> dict:
        rec = base_record(r.task)
        now = time.perf_counter()
        rec.update(status=status, message=message, killed=killed, history=list(r.progress),
                   time=None if r.t_solve is None else now - r.t_solve, wall=now - r.t_start)
        if r.worker:
            rec["dask_worker"] = r.worker
        return rec

    def _result(self, r: _Run) -> dict | None:
        distributed = _distributed()
        try:
            rec = r.future.result()
        except distributed.client.FutureCancelledError:
            return self._failure(r, "crashed", "the Dask task was cancelled", False)
        except Exception as exc:
            name = type(exc).__name__
            if name == "KilledWorker" and r.worker is None and self._requeued.get(r.task.key, 0) < 3:
                return None            # it never started: another worker's death took it along
            if name == "KilledWorker" or "worker" in name.lower():
                return self._failure(r, "crashed", f"the Dask worker died while running it ({name}: {exc})", False)
            return self._failure(r, "error", f"{name}: {exc}", False)
        if r.worker:
            rec["dask_worker"] = r.worker
        return rec

    def _kill(self, r: _Run, running: dict, message: str) -> dict:
        """Cancel the run and restart its worker (Python code in a thread cannot be stopped)."""
        rec = self._failure(r, "time_limit", message, True)
        r.future.cancel()
        if r.worker:
            try:
                self.client.restart_workers([r.worker], timeout=120, raise_for_error=False)
            except Exception:  # the nanny may already be restarting it
                pass
        return rec

    def _finish(self, task: Task, rec: dict, pending, on_event):
        on_event("done", task=task, record=rec)
        for t, rr in drop_repeats(pending, task, rec):
            on_event("done", task=t, record=rr)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
