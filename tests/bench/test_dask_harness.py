"""The harness on a Dask LocalCluster (two worker processes on loopback): the same hard
time limits, crash and error records, resume and record contents as a local run."""
import json
import time

import pytest

pytest.importorskip("distributed", reason="the Dask executor needs dask.distributed (pip install 'solvelab[dask]')")

from solvelab.bench.cli import main  # noqa: E402
from solvelab.bench.dask_executor import parse_target  # noqa: E402
from solvelab.bench.harness import run_suite  # noqa: E402
from solvelab.bench.report import load_records  # noqa: E402
from solvelab.bench.suite import SuiteError  # noqa: E402


def _run(out, peers, backends="", instances="tiny-lasso-2", resume=False, time_limit=5.0, log=None,
         dask="local:2", workers=1):
    return run_suite("selftest", backends=backends, peers=peers, instances=instances, time_limit=time_limit,
                     out=out, resume=resume, progress=False, report=False, log=log or (lambda m: None),
                     dask=dask, workers=workers)


def _by_solver(out):
    return {r["solver"]: r for r in load_records(out)}


def test_dask_run_kills_crashes_errors_and_resumes(tmp_path):
    out = tmp_path / "r"
    t0 = time.perf_counter()
    _run(out, "_sleep,_crash,_raise,_exact", backends="fista", time_limit=1.5)
    assert time.perf_counter() - t0 < 120
    recs = _by_solver(out)
    sleep = recs["_sleep"]
    assert sleep["status"] == "time_limit" and sleep["killed"] is True
    assert 1.5 <= sleep["time"] < 6.0                     # killed at the limit + grace, not after an hour
    assert [h["objective"] for h in sleep["history"]] == [1.0, 0.5, 1 / 3]   # streamed over Dask events
    assert recs["_crash"]["status"] == "crashed" and "worker" in recs["_crash"]["message"]
    assert recs["_raise"]["status"] == "error" and "boom" in recs["_raise"]["message"]
    assert recs["_exact"]["status"] == "converged" and recs["fista"]["status"] == "optimal"
    assert recs["fista"]["certificate"] <= 1e-6
    config = json.loads((out / "config.json").read_text())
    assert config["dask"] == "local:2" and len(config["worker_startup"]) == 2
    msgs = []
    _run(out, "_sleep,_crash,_raise,_exact", backends="fista", time_limit=1.5, resume=True, log=msgs.append)
    assert any("2 finished run(s) kept, 3 to run" in m for m in msgs), msgs   # failures never cached


def test_dask_records_match_a_local_run(tmp_path):
    kw = dict(peers="_exact", backends="fista", instances="tiny-lasso,tiny-lasso-2")
    _run(tmp_path / "dask", **kw)
    _run(tmp_path / "local", dask=None, **kw)
    keys = ("instance", "solver", "status", "iterations", "family", "size", "killed")

    def content(out):
        return sorted((tuple(r[k] for k in keys), r["objective"], r["certificate"]) for r in load_records(out))

    d, l_ = content(tmp_path / "dask"), content(tmp_path / "local")
    assert [row[0] for row in d] == [row[0] for row in l_]
    for (_, od, cd), (_, ol, cl) in zip(d, l_):
        assert od == pytest.approx(ol, rel=1e-12, abs=0.0)
        assert (cd is None and cl is None) or cd == pytest.approx(cl, rel=1e-9)


def test_bad_dask_targets_are_harness_errors(tmp_path, capsys):
    for bad in ("local:zero", "local:0", "  "):
        with pytest.raises(ValueError):
            parse_target(bad)
    assert parse_target("local:3") == ("local", 3) and parse_target("tcp://h:8786") == ("address", "tcp://h:8786")
    with pytest.raises(SuiteError, match="local:N"):
        _run(tmp_path / "x", "_exact", dask="local:-1")
    assert not (tmp_path / "x").exists()                 # nothing written for a bad target
    assert main(["selftest", "--peers", "_exact", "--dask", "local:x", "--out", str(tmp_path / "y")]) == 2
    assert "local:N" in capsys.readouterr().err
