"""Harness tests on the ``selftest`` suite: hard time limits, crashes, resume, reports."""
import json
import time

import pytest

from solvelab.bench.cli import main
from solvelab.bench.harness import run_suite
from solvelab.bench.report import judge, load_records


def _run(out, peers, backends="", instances="tiny-lasso-2", resume=False, time_limit=5.0, report=False, log=None,
         repeat=None, workers=1):
    return run_suite("selftest", backends=backends, peers=peers, instances=instances, time_limit=time_limit,
                     out=out, resume=resume, progress=False, report=report, log=log or (lambda m: None),
                     repeat=repeat, workers=workers)


def _by_solver(out):
    return {r["solver"]: r for r in load_records(out)}


def test_time_limit_kills_a_sleeping_solver(tmp_path):
    t0 = time.perf_counter()
    _run(tmp_path / "r", "_sleep", time_limit=1.0)
    elapsed = time.perf_counter() - t0
    rec = _by_solver(tmp_path / "r")["_sleep"]
    assert rec["status"] == "time_limit" and rec["killed"] is True
    assert 1.0 <= rec["time"] < 4.0           # killed at 1 s + grace, not after the hour it asked for
    assert elapsed < 30
    assert [h["objective"] for h in rec["history"]] == [1.0, 0.5, 1 / 3]   # streamed before the kill


def test_crash_and_exception_are_reported_and_not_cached(tmp_path):
    out = tmp_path / "r"
    _run(out, "_crash,_raise,_exact")
    recs = _by_solver(out)
    assert recs["_crash"]["status"] == "crashed" and "exit code 11" in recs["_crash"]["message"]
    assert recs["_raise"]["status"] == "error" and "boom" in recs["_raise"]["message"]
    assert recs["_exact"]["status"] == "converged"
    msgs = []
    _run(out, "_crash,_raise,_exact", resume=True, log=msgs.append)
    assert any("1 finished run(s) kept, 2 to run" in m for m in msgs), msgs
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["solver"] for r in lines) == ["_crash", "_exact", "_raise"]  # failed lines replaced


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    _run(out, "_exact", backends="fista", instances="tiny-lasso-2,missing", report=True)
    return out


def test_resume_skips_finished_runs(finished):
    before = (finished / "results.jsonl").read_text()
    msgs = []
    _run(finished, "_exact", backends="fista", instances="tiny-lasso-2,missing", resume=True, log=msgs.append)
    assert any("0 to run" in m for m in msgs), msgs
    after = [json.loads(x) for x in (finished / "results.jsonl").read_text().splitlines()]
    assert [r["timestamp"] for r in after] == [json.loads(x)["timestamp"] for x in before.splitlines()]


def test_judging_backend_by_certificate_and_peer_by_objective(finished):
    rows = {(r["instance"], r["solver"]): r for r in judge(load_records(finished))}
    fista, exact = rows[("tiny-lasso-2", "fista")], rows[("tiny-lasso-2", "_exact")]
    assert fista["status"] == "optimal" and fista["solved"] and fista["judged_by"] == "certificate"
    assert fista["certificate"] <= 1e-6
    assert exact["judged_by"] == "rel. objective error" and exact["solved"]
    assert abs(exact["rel_error"]) < 1e-6 and exact["reference"] == pytest.approx(fista["objective"], rel=1e-6)
    skipped = rows[("missing-data", "fista")]
    assert skipped["status"] == "skipped" and "data file not found" in skipped["message"] and not skipped["solved"]


def test_report_and_plots_are_written(finished):
    assert main(["report", str(finished)]) == 0
    text = (finished / "report.md").read_text()
    assert "## Summary" in text and "| fista |" in text and "_exact (peer)" in text
    assert "relative objective error" in text        # the judging rule is stated
    assert "data file not found" in text              # skip reasons appear
    for png in ("profile.png", "plots/conv_tiny-lasso-2.png"):
        assert (finished / png).stat().st_size > 5000
    csv_lines = (finished / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("suite,instance") and len(csv_lines) == 1 + 4


def test_cli_exit_status(tmp_path, capsys):
    assert main(["no-such-suite", "--out", str(tmp_path / "x")]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main(["selftest", "--backends", "nope", "--out", str(tmp_path / "y")]) == 2
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "quick" in out and "libsvm" in out and "cvxpy-clarabel" in out and "_sleep" not in out


def test_unregistered_backend_is_a_skip_with_a_reason(tmp_path):
    _run(tmp_path / "r", "none", backends=None, instances="tiny-lasso-2")
    recs = _by_solver(tmp_path / "r")
    assert recs["fista"]["status"] == "optimal"
    assert recs["_unregistered"]["status"] == "skipped"
    assert "not registered" in recs["_unregistered"]["message"]


def test_repeats_give_one_row_with_the_median(tmp_path):
    out = tmp_path / "r"
    _run(out, "_exact", backends="fista", repeat=3, report=True)
    recs = load_records(out)
    assert sorted((r["solver"], r["repeat"]) for r in recs) == [("_exact", 0), ("_exact", 1), ("_exact", 2),
                                                                ("fista", 0), ("fista", 1), ("fista", 2)]
    rows = [r for r in judge(recs) if r["solver"] == "fista"]
    times = sorted(r["time_to_tol"] for r in rows)
    assert all(r["time_to_tol_median"] == times[1] for r in rows)
    text = (out / "report.md").read_text()
    assert text.count("| fista | optimal |") == 1 and "repeated 3 times" in text


def test_cli_defaults_and_suite_options(tmp_path, capsys):
    from solvelab.bench.cli import _parser
    assert _parser().parse_args([]).suite == "quick"            # `solvelab bench` runs the quick suite
    assert main(["selftest", "--suite-option", "novalue", "--out", str(tmp_path / "z")]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_two_workers_run_instances_in_parallel(tmp_path):
    out = tmp_path / "r"
    _run(out, "_exact,_sleep", backends="fista", instances="tiny-lasso,tiny-lasso-2", time_limit=3.0, workers=2)
    recs = {(r["instance"], r["solver"]): r for r in load_records(out)}
    for inst in ("tiny-lasso", "tiny-lasso-2"):
        assert recs[(inst, "fista")]["status"] == "optimal" and recs[(inst, "_exact")]["status"] == "converged"
        assert recs[(inst, "_sleep")]["killed"] is True
    config = json.loads((out / "config.json").read_text())
    assert config["workers"] == 2 and len(config["worker_startup"]) >= 2   # killed workers are replaced


def test_drop_repeats_removes_only_the_later_repeats_of_that_series():
    import collections

    from solvelab.bench.runner import Task, drop_repeats
    t = [Task(suite="selftest", instance="x", kind="peer", solver="s", repeat=r, tol=1e-6, time_limit=1.0)
         for r in range(3)]
    other = Task(suite="selftest", instance="x", kind="peer", solver="other", repeat=1, tol=1e-6, time_limit=1.0)
    pending = collections.deque(t[1:] + [other])
    assert drop_repeats(pending, t[0], {"status": "converged"}) == [] and len(pending) == 3
    got = drop_repeats(pending, t[0], {"status": "time_limit"})
    assert [x.repeat for x, _ in got] == [1, 2] and all(r["status"] == "skipped" for _, r in got)
    assert list(pending) == [other]


def test_repeats_after_a_time_limit_are_skipped_not_rerun(tmp_path):
    """A run that reached the time limit is not repeated (it would only reach it again):
    the later repeats of that series get 'skipped' records; other solvers still repeat."""
    out = tmp_path / "r"
    limit = 1.0
    t0 = time.perf_counter()
    _run(out, "_sleep,_exact", time_limit=limit, repeat=3)
    elapsed = time.perf_counter() - t0
    recs = load_records(out)
    sleep = sorted((r for r in recs if r["solver"] == "_sleep"), key=lambda r: r["repeat"])
    assert [r["status"] for r in sleep] == ["time_limit", "skipped", "skipped"]
    assert "reached the time limit" in sleep[1]["message"]
    exact = [r for r in recs if r["solver"] == "_exact"]
    assert sorted(r["repeat"] for r in exact) == [0, 1, 2] and all(r["status"] == "converged" for r in exact)
    assert elapsed < 3 * limit + 25         # one kill, not three


def test_plots_survive_huge_and_infinite_errors(finished, tmp_path):
    """A reference objective near 0 gives relative errors of 1e281 (CUTEst's LEVYMONT6) and a
    failed peer an infinite one: the report still draws (log axes clamp at 1e17)."""
    import shutil
    out = tmp_path / "huge"
    shutil.copytree(finished, out)
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    for r in rows:
        if r["solver"] == "fista" and r.get("history"):
            ref = r["objective"]
            h = r["history"]
            for k, e in enumerate(h):     # from 1e281 times off down to exact: 300 decades on one axis
                e["objective"] = ref * (1.0 + (1e281 if k < len(h) // 2 else 1e-21))
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(out)]) == 0
    assert (out / "plots/conv_tiny-lasso-2.png").stat().st_size > 5000
