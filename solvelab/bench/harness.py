"""Plan and run one suite: tasks, resume, executor, progress bar, results files.

``run_suite`` is what ``solvelab bench SUITE`` calls. It writes, in ``out``:
``config.json`` (the options, machine and versions), ``results.jsonl`` (one line per
run, appended as runs finish, so an interrupted suite can ``resume``), then
``results.csv``, ``report.md`` and ``plots/`` through ``solvelab.bench.report``.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .peer import all_peers, get_peer
from .runner import (FAILED, InlineExecutor, LocalExecutor, Task, base_record, is_finished, machine_info,
                     record_key, versions)
from .suite import SuiteError, get_suite


def _registered_backends() -> list[str]:
    from ..backends import registry
    return list(registry.all_backends())


def resolve_backends(suite, requested: str | None) -> tuple[list[str], dict[str, str]]:
    """(backends to run, {backend: reason} for those that are skipped on every instance).

    A backend the suite names by default (or that the user asks for and the suite names)
    but that is not registered in this installation -- for instance one still being
    written -- is a skip with a reason, not an error; any other unknown name is a
    harness error (a typo).
    """
    have = _registered_backends()
    suite_names_ = tuple(suite.default_backends or ())
    if requested is not None:
        names = [b.strip() for b in requested.split(",") if b.strip()]
        if names == ["none"]:
            return [], {}
        unknown = [b for b in names if b not in have and b not in suite_names_]
        if unknown:
            raise SuiteError(f"unknown backend(s) {', '.join(unknown)}; registered: {', '.join(have)}")
    elif suite.default_backends is None:
        names = have
    else:
        names = list(suite.default_backends)
    missing = {b: (f"backend {b!r} is not registered in this installation (registered: "
                   f"{', '.join(have)})") for b in names if b not in have}
    return [b for b in names if b in have], missing


def resolve_peers(suite, requested: str | None) -> list[str]:
    peers = all_peers(include_hidden=True)
    if requested is not None:
        names = [p.strip() for p in requested.split(",") if p.strip()]
        if names in (["none"], []):
            return []
        for p in names:
            get_peer(p)  # raises with the list of peers
        return names
    if suite.default_peers is None:
        return [n for n, p in peers.items() if not p.hidden]
    return [p for p in suite.default_peers if p in peers]


def plan(suite, instances, backends, peers, *, tol, time_limit, repeat, max_iter=None,
         suite_options=None, plugins=(), missing_backends=None) -> tuple[list[Task], list[dict]]:
    """Tasks to run and records decided without running (skips), in instance order.

    Skips decided here (each with its reason in the record's message): the instance's
    own ``skip`` (missing data ...), a backend not registered here (``missing_backends``),
    a backend the instance excludes (``Instance.backends``), a peer that is not installed
    or has no model for the instance's family. A backend that refuses the compiled
    program is found out in the worker and skipped there.
    """
    tasks, pre = [], []
    missing_backends = dict(missing_backends or {})
    order = list(backends) + [b for b in missing_backends if b not in backends]
    for inst in instances:
        solvers = [("backend", b) for b in order] + [("peer", p) for p in peers]
        for kind, name in solvers:
            for r in range(repeat):
                t = Task(suite=suite.name, instance=inst.name, kind=kind, solver=name, repeat=r, tol=tol,
                         time_limit=time_limit, max_iter=max_iter, suite_options=dict(suite_options or {}),
                         plugins=tuple(plugins))
                reason = inst.skip
                if reason is None and kind == "backend":
                    reason = missing_backends.get(name)
                    if reason is None and inst.backends is not None and name not in inst.backends:
                        reason = inst.meta.get("backends_note") or (
                            f"not run on this instance (the suite runs only {', '.join(inst.backends)} here)")
                if reason is None and kind == "peer":
                    peer = get_peer(name)
                    reason = peer.available() or peer.supports(inst)
                    if reason is None and inst.peers is not None and name not in inst.peers:
                        reason = f"not run on this instance (the suite runs only {', '.join(inst.peers)} here)"
                if reason is not None:
                    if r > 0:  # one skip record per (instance, solver) is enough
                        continue
                    rec = base_record(t)
                    rec.update(status="skipped", message=reason)
                    pre.append(rec)
                else:
                    tasks.append(t)
    return tasks, pre


def default_out(suite_name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("bench-results") / f"{suite_name}-{stamp}"


def latest_out(suite_name: str) -> Path | None:
    base = Path("bench-results")
    found = sorted(base.glob(f"{suite_name}-*")) if base.is_dir() else []
    found = [p for p in found if (p / "results.jsonl").is_file()]
    return found[-1] if found else None


def run_suite(suite_name: str, *, backends=None, peers=None, instances=None, time_limit=None, tol=None,
              repeat=None, data_dir=None, out=None, workers=1, resume=False, max_iter=None, plugins=(),
              progress=True, command="", grace=None, report=True, log=None, suite_options=None,
              dask=None) -> Path:
    """Run a suite and write its results and report; returns the output directory.

    ``dask``: a scheduler address or 'local:N' runs the tasks on a Dask cluster
    (``dask_executor.DaskExecutor``) instead of local worker processes.

    Raises ``SuiteError`` for harness errors (unknown names, nothing to run ...). A
    suite that cannot run here (a missing optional extra) is reported and skipped:
    the returned path is None then.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    from .suite import load_plugins
    load_plugins(plugins)
    if data_dir and not Path(data_dir).expanduser().is_dir():
        raise SuiteError(f"--data-dir {data_dir}: no such directory")
    options = dict(suite_options or {})
    if data_dir:
        options["data_dir"] = str(data_dir)
    suite = get_suite(suite_name, **options)
    suite.log = log
    why = suite.unavailable()
    if why:
        log(f"suite {suite_name!r} skipped: {why}")
        return None
    tol = float(tol if tol is not None else suite.default_tol)
    time_limit = float(time_limit if time_limit is not None else suite.default_time_limit)
    if not tol > 0 or not time_limit > 0:
        raise SuiteError("--tol and --time-limit must be positive")
    repeat = int(repeat if repeat is not None else suite.default_repeat)
    if dask:  # a bad target or a missing extra fails before anything is written
        from .dask_executor import DaskUnavailable, check_target
        try:
            check_target(dask)
        except (DaskUnavailable, ValueError) as exc:
            raise SuiteError(str(exc)) from exc
    if repeat < 1:
        raise SuiteError("--repeat must be at least 1")
    insts = suite.select(instances)
    if not insts:
        raise SuiteError(f"no instance of suite {suite_name!r} matches {instances!r}; instances: "
                         f"{', '.join(i.name for i in suite.all_instances()[:30])}")
    bnames, bmissing = resolve_backends(suite, backends)
    pnames = resolve_peers(suite, peers)
    if not bnames and not pnames and not bmissing:
        raise SuiteError("no backend and no peer to run")

    if out is None:
        out = (latest_out(suite_name) if resume else None) or default_out(suite_name)
    out = Path(out)
    if resume and not (out / "results.jsonl").is_file():
        log(f"--resume: no results.jsonl in {out}; starting afresh")
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"

    tasks, pre = plan(suite, insts, bnames, pnames, tol=tol, time_limit=time_limit, repeat=int(repeat),
                      max_iter=max_iter, suite_options=options, plugins=plugins,
                      missing_backends=bmissing)
    kept = []
    if resume and results.is_file():
        from .report import load_records
        kept = [r for r in load_records(results) if is_finished(r)]
        done = {record_key(r) for r in kept}
        before = len(tasks)
        tasks = [t for t in tasks if t.key not in done]
        pre = [r for r in pre if record_key(r) not in done]
        log(f"--resume: {before - len(tasks)} finished run(s) kept, {len(tasks)} to run")
    elif results.is_file():
        raise SuiteError(f"{results} exists: pass --resume to continue it, or another --out")
    by_name = {i.name: i for i in insts}
    meta = {"machine": machine_info(), "versions": versions()}

    def stamp(rec):
        inst = by_name.get(rec["instance"])
        if inst is not None:
            rec.setdefault("family", inst.family)
            rec.setdefault("size", inst.size)
            rec["reference_given"] = inst.reference
            if inst.meta:
                rec["meta"] = inst.meta
        rec.update(meta)
        return rec

    config = {"suite": suite_name, "command": command, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "tol": tol, "time_limit": time_limit, "repeat": int(repeat), "workers": int(workers), "dask": dask,
              "backends": bnames, "backends_missing": bmissing, "peers": pnames, "instances": [i.name for i in insts],
              "data_dir": str(data_dir) if data_dir else None, "suite_options": options, **meta,
              "preload": ["solvelab"] + list(suite.worker_preload), "worker_startup": []}
    with open(results, "w") as fh:  # finished runs kept; failed ones dropped (they re-run)
        for r in kept:
            fh.write(json.dumps(r) + "\n")
        for r in pre:
            fh.write(json.dumps(stamp(r)) + "\n")

    bar = None
    if progress and tasks:
        try:
            from tqdm import tqdm
            bar = tqdm(total=len(tasks), unit="run", dynamic_ncols=True, desc=suite_name, file=sys.stderr)
        except ImportError:
            bar = None
    state = {"last": 0.0, "failed": 0}

    def on_event(kind, **kw):
        if kind == "done":
            rec = stamp(kw["record"])
            with open(results, "a") as fh:
                fh.write(json.dumps(rec, default=str) + "\n")
            if rec.get("status") in FAILED:
                state["failed"] += 1
            if bar is not None:
                bar.update(1)
            elif progress:
                log(f"  {rec['instance']} / {rec['solver']}: {rec.get('status')}")
        elif kind == "worker_ready":
            config["worker_startup"].append(round(kw["seconds"], 3))
        elif kind == "tick" and bar is not None:
            now = time.monotonic()
            if now - state["last"] > 0.5 and kw["running"]:
                state["last"] = now
                bar.set_postfix_str(", ".join(f"{t.instance}/{t.solver} {s:.1f}s" for t, s in kw["running"]),
                                    refresh=True)

    if tasks:
        t_prep = time.perf_counter()
        one_time = suite.prepare([by_name[n] for n in dict.fromkeys(task.instance for task in tasks)], log) or {}
        config["one_time"] = {k: round(float(v), 3) for k, v in one_time.items()}
        config["prepare_seconds"] = round(time.perf_counter() - t_prep, 3)
    (out / "config.json").write_text(json.dumps(config, indent=1))
    if dask:
        from .dask_executor import DaskExecutor, DaskUnavailable
        try:
            executor = DaskExecutor.from_target(dask, preload=suite.worker_preload, grace=grace)
        except (DaskUnavailable, ValueError) as exc:
            raise SuiteError(str(exc)) from exc
        log(f"running on Dask ({dask}): {executor.slots()} worker thread(s)")
    elif int(workers) <= 0:
        executor = InlineExecutor()
    else:
        executor = LocalExecutor(workers=int(workers), preload=suite.worker_preload, grace=grace)
    try:
        executor.run(tasks, on_event)
    finally:
        executor.close()
        if bar is not None:
            bar.close()
        config["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        (out / "config.json").write_text(json.dumps(config, indent=1))
    if report:
        from .report import write_report
        write_report(out)
    return out
