"""The Numba-CUDA kernels and device loops, run under Numba's CUDA simulator.

The simulator must be switched on (``NUMBA_ENABLE_CUDASIM=1``) before numba is imported,
and this pytest process has already imported numba without it, so the checks run in one
subprocess (``_SIM``, below) and each test reads its verdict. Sizes are tiny: every
simulated CUDA thread is a Python thread. The subprocess lowers the GIL switch interval,
which makes the simulator's barrier polling several times faster, and picks threads per
block per check with ``SOLVELAB_CUDA_TPB``.

The tests outside the subprocess check what a machine without CUDA sees: clear errors
for device='cuda', bad device values, and that ``import solvelab`` needs no CUDA.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import solvelab as sl
from solvelab.errors import InvalidDataError, MissingDependencyError
from solvelab.kernels.cuda.device import cuda_status, resolve_device, simulator

ROOT = Path(__file__).resolve().parents[1]

_SIM = textwrap.dedent(r'''
    import json, os, sys, threading, time, traceback
    sys.setswitchinterval(1e-6)
    import numpy as np
    # The simulator allocates a block's shared array on the first call from each source
    # line with an unlocked check-then-set, so two threads of a block can get different
    # arrays (more likely with the short switch interval): serialize the allocation.
    from numba.cuda.simulator import kernelapi as _ka
    _alloc, _lock = _ka.FakeCUDAShared.array, threading.Lock()
    def _locked_array(self, shape, dtype):
        if shape == 0:
            return _alloc(self, shape, dtype)
        caller = traceback.extract_stack(sys._getframe())[-2][0:2]   # the kernel's line, as the original
        with _lock:
            res = self._allocations.get(caller)
            if res is None:
                from numba import types
                from numba.np import numpy_support
                dt = numpy_support.as_dtype(dtype) if isinstance(dtype, types.Type) else dtype
                res = self._allocations[caller] = np.empty(shape, dt)
        return res
    _ka.FakeCUDAShared.array = _locked_array
    import scipy.sparse as sp
    sys.path.insert(0, os.path.join(os.environ["SOLVELAB_ROOT"], "tests", "families"))

    results = {}

    def check(name, tpb=4):
        def deco(fn):
            os.environ["SOLVELAB_CUDA_TPB"] = str(tpb)
            t = time.perf_counter()
            try:
                out = fn() or {}
                results[name] = {"ok": True, **out}
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                results[name] = {"ok": False, "error": traceback.format_exc()}
            results[name]["seconds"] = time.perf_counter() - t
            return fn
        return deco

    def rel(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))

    def random_lp(seed, m, n):
        from test_lp import random_lp as r
        return r(seed, m=m, n=n)

    @check("simulator", tpb=4)
    def _():
        from solvelab.kernels.cuda.device import cuda_status, resolve_device
        from numba import cuda
        ok, why = cuda_status()
        assert ok, why
        assert resolve_device(None, cuda.to_device(np.zeros(3)), backend="x") == "cuda"
        assert resolve_device(None, np.zeros(3), backend="x") == "cpu"

    @check("ot_kernels", tpb=8)
    def _():
        from numba import cuda
        from solvelab.kernels import ot as K
        from solvelab.kernels.cuda import ot as KO
        rng = np.random.default_rng(0)
        n, m, eps = 13, 21, 0.05
        C = rng.random((n, m))
        a = rng.random(n) + 0.1; a /= a.sum()
        b = rng.random(m) + 0.1; b /= b.sum()
        f = 0.01 * rng.standard_normal(n); g = 0.01 * rng.standard_normal(m)
        ru, cp, cf = KO.kernels(8)
        dC = cuda.to_device(C)
        df, Q = cuda.to_device(f.copy()), cuda.device_array((3, n))
        ru[n, 8](dC, cuda.to_device(g), cuda.to_device(np.log(a)), cuda.to_device(a), df, 1 / eps, eps, 1.0, Q)
        lse = np.empty(n); K.lse_rows_shift(C, g, 1 / eps, lse)
        f_cpu = eps * (np.log(a) - lse)
        err = {"row": rel(df.copy_to_host(), f_cpu)}
        K.lse_rows(C, f, g, 1 / eps, lse); r = np.exp(lse)
        Qh = Q.copy_to_host()
        err["row_terms"] = max(rel(Qh[0], np.abs(r - a)), rel(Qh[1], f * (r - a)), rel(Qh[2], f * r))
        out = np.empty(m); K.lse_rows_shift(np.ascontiguousarray(C.T), f_cpu, 1 / eps, out)
        g_cpu = eps * (np.log(b) - out)
        for chunks in (1, 3):
            pmx, ps, Qc = cuda.device_array((chunks, m)), cuda.device_array((chunks, m)), cuda.device_array((1, m))
            dg = cuda.to_device(g.copy())
            cp[(-(-m // 8), chunks), 8](dC, cuda.to_device(f_cpu), 1 / eps, pmx, ps)
            cf[-(-m // 8), 8](pmx, ps, cuda.to_device(np.log(b)), cuda.to_device(b), dg, eps, 1.0, Qc)
            err[f"col_chunks{chunks}"] = rel(dg.copy_to_host(), g_cpu)
            err[f"col_terms{chunks}"] = rel(Qc.copy_to_host()[0], g * b)
        # the one-block-per-column variant: the row kernel on C^T
        dg = cuda.to_device(g.copy())
        ru[m, 8](cuda.to_device(np.ascontiguousarray(C.T)), cuda.to_device(f_cpu), cuda.to_device(np.log(b)),
                 cuda.to_device(b), dg, 1 / eps, eps, 1.0, cuda.device_array((3, m)))
        err["col_transposed"] = rel(dg.copy_to_host(), g_cpu)
        # forbidden pairs (+inf costs) give exact zeros, as on the CPU
        C2 = C.copy(); C2[0, :5] = np.inf
        df = cuda.to_device(f.copy())
        ru[n, 8](cuda.to_device(C2), cuda.to_device(g), cuda.to_device(np.log(a)), cuda.to_device(a), df,
                 1 / eps, eps, 1.0, Q)
        K.lse_rows_shift(C2, g, 1 / eps, lse)
        err["row_inf_costs"] = rel(df.copy_to_host(), eps * (np.log(a) - lse))
        return {"errors": err}

    @check("reduce", tpb=8)
    def _():
        from numba import cuda
        from solvelab.kernels.cuda.reduce import MAX, SUM, Reducer
        rng = np.random.default_rng(1)
        X = rng.standard_normal((3, 77))
        got = Reducer(3, 77, (SUM, MAX, MAX))(cuda.to_device(X))
        two = Reducer(3, 77, (SUM, MAX, MAX), max_blocks=4)(cuda.to_device(X))
        want = [X[0].sum(), X[1].max(), X[2].max()]
        X[1, 40] = np.nan
        nan = Reducer(3, 77, (SUM, MAX, MAX))(cuda.to_device(X))
        return {"errors": {"one_stage": rel(got, want), "two_stage": rel(two, want)},
                "nan_propagates": bool(np.isnan(nan[1]))}

    @check("lp_kernels", tpb=4)
    def _():
        from numba import cuda
        from solvelab.backends.pdhg import Scaled, _HalpernRun, device_measures
        from solvelab.families.lp import measures
        from solvelab.families.lp.certificate import row_sizes
        from solvelab.kernels import pdhg as K
        from solvelab.kernels.cuda import pdhg as KD
        from solvelab.problems import linear_program
        lp = linear_program(*random_lp(1, 7, 9)).program
        S = Scaled(lp)
        run = _HalpernRun(lp, S, True)
        c, l, u, rl, ru = run.vec
        Ap, Aj, Av, Tp, Tj, Tv = S.mats
        n, m = lp.c.size, lp.rl.size
        rng = np.random.default_rng(2)
        x, y = np.clip(rng.standard_normal(n), l, u), rng.standard_normal(m)
        Ax, ATy = S.A @ x, S.AT @ y
        err = {}
        # the fused column pass (mode 0: the primal step) against primal_step
        xt = np.empty(n); K.primal_step(x, ATy, c, l, u, 0.3, xt)
        d = [cuda.to_device(v) for v in (Tp, Tj, Tv, y, x, ATy, x, ATy)]
        dxt, dATyt = cuda.device_array(n), cuda.device_array(n)
        KD.col_pass[-(-n // 4), 4](*d, dxt, dATyt, *(cuda.to_device(v) for v in (c, l, u)), 0.3, 0.0, 0.0, 0.0,
                                   0, cuda.device_array((1, n)))
        err["primal_step"] = rel(dxt.copy_to_host(), xt)
        # the fused row pass (no combination) against csr_matvec + dual_step
        Axt = np.empty(m); K.csr_matvec(Ap, Aj, Av, xt, Axt)
        yt = np.empty(m); K.dual_step(y, Ax, Axt, rl, ru, 0.7, yt)
        dyt, dAxt = cuda.device_array(m), cuda.device_array(m)
        dy, dAx = cuda.to_device(y), cuda.to_device(Ax)
        KD.row_pass[-(-m // 4), 4](*(cuda.to_device(v) for v in (Ap, Aj, Av, xt)), dy, dAx, dy, dAx, dyt, dAxt,
                                   cuda.to_device(rl), cuda.to_device(ru), 0.7, 1.0, 0.0, 0.0, False, True,
                                   cuda.device_array((1, m)))
        err["dual_step"] = rel(dyt.copy_to_host(), yt)
        err["spmv"] = rel(dAxt.copy_to_host(), Axt)
        # whole Halpern chunks against halpern_steps (restart in between)
        z = (run.x.copy(), run.y.copy(), run.Ax.copy(), run.ATy.copy())
        dev = KD.DeviceLP(S.mats, run.vec, (lp.c, lp.l, lp.u, lp.rl, lp.ru), S.dr, S.dc, S.alpha, S.beta, z)
        run.w = 1.7
        j = 0
        for count in (5, 3):
            run.steps(count)
            j = dev.steps(count, j, run.eta, run.w, run.rho)
        err["fpr"] = rel(dev.fpr(run.w), run.fpr)
        err["z"] = max(rel(a, b) for a, b in zip(dev.z_point(), (run.x, run.y, run.Ax, run.ATy)))
        err["tz"] = max(rel(a, b) for a, b in zip(dev.t_point(), run.tpoint()))
        # the certificate's parts against families.lp.measures at T z
        pt = run.original(*run.tpoint())
        cmax = float(np.max(np.abs(lp.c)))
        p, dd, g, q = device_measures(dev, cmax)
        P, Q, G, _, _ = measures(lp, *pt, reads=0.0)
        err["measures_strict"] = max(rel(p, P), rel(dd, Q), rel(g, G))
        p2 = device_measures(dev, cmax, reads=True, parts=q)[0]
        P2 = measures(lp, *pt, reads=row_sizes(lp, pt[0]))[0]
        err["measures_reads"] = rel(p2, P2)
        err["anchor_distance"] = rel(q["dx0"], float(np.sum((run.tpoint()[0] - run.anchor[0]) ** 2)))
        dev.restart_to_t()   # a restart: z = z0 = T z, on both sides
        xt_, Axt_, yt_, ATyt_ = run.tpoint()
        run.x, run.Ax, run.y, run.ATy = xt_.copy(), Axt_.copy(), yt_.copy(), ATyt_.copy()
        run.anchor = (xt_.copy(), yt_.copy(), Axt_.copy(), ATyt_.copy()); run.j = 0
        run.steps(4); dev.steps(4, 0, run.eta, run.w, 1.0)
        err["after_restart"] = max(rel(a, b) for a, b in zip(dev.z_point(), (run.x, run.y, run.Ax, run.ATy)))
        return {"errors": err}

    @check("sinkhorn_solve", tpb=2)
    def _():
        from solvelab.backends.sinkhorn_device import run_sinkhorn_cuda
        from solvelab.problems import entropic_ot
        rng = np.random.default_rng(0)
        n, m = 5, 6
        xs, ys = rng.random((n, 2)), rng.random((m, 2))
        C = ((xs[:, None] - ys[None]) ** 2).sum(-1)
        a = rng.random(n) + 0.5; a /= a.sum()
        b = rng.random(m) + 0.5; b /= b.sum()
        eps = 0.08
        info = {}
        f, g, it, err, status = run_sinkhorn_cuda(a, b, C, eps, 1e-9, 1000, None, 10, info=info)
        res = entropic_ot(a, b, C, eps).solve(backend="sinkhorn", tol=1e-9, stabilize="lse", eps_scaling=False)
        fc, gc = res.info["f"], res.info["g"]
        s = float(np.mean(f - fc))
        P = np.exp((f[:, None] + g[None] - C) / eps)
        Pc = np.exp((fc[:, None] + gc[None] - C) / eps)
        # an eps schedule ends at the same potentials (up to the shift)
        f2, g2, it2, err2, st2 = run_sinkhorn_cuda(a, b, C, eps, 1e-9, 1000, None, 20, eps_schedule=[0.3, eps])
        s2 = float(np.mean(f2 - fc))
        f3, g3, it3, err3, st3 = run_sinkhorn_cuda(a, b, C, eps, 1e-9, 15, None, 10)
        return {"status": status, "iterations": it, "cpu_status": res.status, "marginal_violation": err,
                "potential_error": max(float(np.max(np.abs(f - fc - s))), float(np.max(np.abs(g - gc + s)))) / eps,
                "plan_error": float(np.max(np.abs(P - Pc))), "row_marginal": float(np.abs(P.sum(1) - a).sum()),
                "col_marginal": float(np.abs(P.sum(0) - b).sum()), "gap_estimate": info["gap_estimate"],
                "schedule_status": st2, "schedule_error": max(float(np.max(np.abs(f2 - fc - s2))),
                                                              float(np.max(np.abs(g2 - gc + s2)))) / eps,
                "budget_status": st3, "budget_iterations": it3}

    @check("sinkhorn_backend", tpb=2)
    def _():
        from solvelab.problems import entropic_ot
        rng = np.random.default_rng(1)
        n, m = 5, 4
        xs, ys = rng.random((n, 2)), rng.random((m, 2))
        C = ((xs[:, None] - ys[None]) ** 2).sum(-1)
        a = np.array([0.3, 0.0, 0.2, 0.25, 0.25])      # a zero-mass row: solved on the support
        b = rng.random(m) + 0.5; b /= b.sum()
        prob = entropic_ot(a, b, C, 0.02 * C.max())
        res = prob.solve(backend="sinkhorn", device="cuda", tol=1e-8)
        cpu = entropic_ot(a, b, C, 0.02 * C.max()).solve(backend="sinkhorn", tol=1e-8)
        P, Pc = res.values["P"], cpu.values["P"]
        again = prob.solve(backend="sinkhorn", device="cuda", tol=1e-8)     # warm start
        short = entropic_ot(a, b, C, 0.02 * C.max()).solve(backend="sinkhorn", device="cuda", tol=1e-12,
                                                          max_iter=3)
        return {"status": res.status, "cpu_status": cpu.status, "device": res.info.get("device"),
                "cert": float(res.certificate.value), "plan_error": float(np.max(np.abs(P - Pc))),
                "zero_row": float(np.abs(P[1]).max()), "objective_error": abs(res.objective - cpu.objective)
                / abs(cpu.objective), "warm": again.info.get("warm_start"), "warm_status": again.status,
                "warm_iterations": again.iterations, "iterations": res.iterations,
                "short_status": short.status, "short_iterations": short.iterations}

    @check("lp_solve", tpb=4)
    def _():
        from test_lp import highs_objective, independent_certificate
        from solvelab.problems import linear_program
        data = random_lp(1, 6, 8)
        opts = dict(tol=1e-6, eval_every=32, restart_every=32)
        prob = linear_program(*data)
        res = prob.solve(backend="pdhg", device="cuda", **opts)
        cpu = linear_program(*data).solve(backend="pdhg", scheme="halpern", **opts)
        ref = highs_objective(*data)
        again = prob.solve(backend="pdhg", device="cuda", **opts)   # warm start
        hal = linear_program(*data).solve(backend="halpern", device="cuda", **opts)   # delegated to pdhg
        return {"status": res.status, "iterations": res.iterations, "objective": res.objective, "highs": ref,
                "kkt": float(res.certificate.value),
                "device": res.info.get("device"), "cpu_iterations": cpu.iterations, "cpu_objective": cpu.objective,
                "warm_status": again.status, "warm_iterations": again.iterations,
                "warm_flag": again.info.get("warm_start"), "halpern_status": hal.status,
                "halpern_device": hal.info.get("device"), "halpern_iterations": hal.iterations}

    @check("afiro", tpb=4)
    def _():
        from solvelab.bench.data import search_dirs
        from solvelab.problems import read_mps
        path = None
        for base in search_dirs():
            p = os.path.join(str(base), "lp", "afiro.mps.xz")
            if os.path.isfile(p):
                path = p
                break
        if path is None:
            return {"skipped": "afiro.mps.xz not found (set SOLVELAB_DATA)"}
        res = read_mps(path).solve(backend="pdhg", device="cuda", tol=1e-6, eval_every=32, restart_every=32)
        return {"status": res.status, "objective": res.objective, "iterations": res.iterations,
                "kkt": float(res.certificate.value)}

    print("@@RESULTS@@" + json.dumps(results))
''')


@pytest.fixture(scope="module")
def sim():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", SOLVELAB_ROOT=str(ROOT),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                        if p]))
    proc = subprocess.run([sys.executable, "-c", _SIM], capture_output=True, text=True, env=env, timeout=600,
                          cwd=str(ROOT))
    out = proc.stdout
    if "@@RESULTS@@" not in out:
        pytest.fail(f"the simulator subprocess failed (rc {proc.returncode}):\n{out[-4000:]}\n{proc.stderr[-4000:]}")
    return json.loads(out.split("@@RESULTS@@", 1)[1].strip().splitlines()[0])


def _ok(sim, name):
    r = sim[name]
    assert r["ok"], r.get("error")
    return r


def test_simulator_runs_and_device_arrays_select_cuda(sim):
    _ok(sim, "simulator")


def test_sinkhorn_kernels_match_the_cpu_kernels(sim):
    r = _ok(sim, "ot_kernels")
    assert max(r["errors"].values()) < 1e-12, r["errors"]


def test_block_reductions(sim):
    r = _ok(sim, "reduce")
    assert max(r["errors"].values()) < 1e-13, r["errors"]
    assert r["nan_propagates"]


def test_pdhg_kernels_match_the_cpu_kernels(sim):
    r = _ok(sim, "lp_kernels")
    assert max(r["errors"].values()) < 1e-12, r["errors"]


def test_device_sinkhorn_matches_the_cpu_backend(sim):
    r = _ok(sim, "sinkhorn_solve")
    assert r["status"] == "converged" and r["cpu_status"] == "optimal"
    assert r["marginal_violation"] <= 1e-9 and r["gap_estimate"] <= 0.5e-9
    assert r["potential_error"] < 1e-7 and r["plan_error"] < 1e-8
    assert r["row_marginal"] < 1e-8 and r["col_marginal"] < 1e-12
    assert r["schedule_status"] == "converged" and r["schedule_error"] < 1e-7
    assert r["budget_status"] == "max_iter" and r["budget_iterations"] == 15


def test_sinkhorn_backend_on_the_device_is_certified_like_the_cpu(sim):
    r = _ok(sim, "sinkhorn_backend")
    assert r["status"] == "optimal" and r["cpu_status"] == "optimal" and r["device"] == "cuda"
    assert r["cert"] <= 1e-8
    assert r["plan_error"] < 1e-8 and r["objective_error"] < 1e-8 and r["zero_row"] == 0.0
    assert r["warm"] and r["warm_status"] == "optimal" and r["warm_iterations"] < r["iterations"]
    assert r["short_status"] == "max_iter" and r["short_iterations"] == 3


def test_device_pdhg_lp_matches_highs_with_the_engines_certificate(sim):
    r = _ok(sim, "lp_solve")
    assert r["status"] == "optimal" and r["device"] == "cuda"
    assert r["kkt"] <= 1e-6
    assert abs(r["objective"] - r["highs"]) <= 1e-5 * max(1.0, abs(r["highs"]))
    # the same arithmetic as the CPU Halpern scheme with the same options
    assert r["iterations"] == r["cpu_iterations"]
    assert abs(r["objective"] - r["cpu_objective"]) <= 1e-9 * max(1.0, abs(r["cpu_objective"]))
    assert r["warm_status"] == "optimal" and r["warm_flag"] and r["warm_iterations"] < r["iterations"]
    # backend='halpern' on an LP is pdhg's Halpern scheme: device='cuda' reaches the same loop
    assert r["halpern_status"] == "optimal" and r["halpern_device"] == "cuda"
    assert r["halpern_iterations"] == r["iterations"]


def test_device_pdhg_afiro(sim):
    r = _ok(sim, "afiro")
    if "skipped" in r:
        pytest.skip(r["skipped"])
    assert r["status"] == "optimal" and r["kkt"] <= 1e-6
    assert abs(r["objective"] - (-464.7531429)) <= 1e-5 * 464.75


def test_simulator_timings_are_small(sim):
    """The whole subprocess must stay cheap (each check's seconds are in the report)."""
    total = sum(v["seconds"] for v in sim.values())
    assert total < 120, {k: round(v["seconds"], 2) for k, v in sim.items()}


# ---- without CUDA (this process: numba imported without the simulator) ------------------

no_cuda = pytest.mark.skipif(cuda_status()[0], reason="CUDA (or the simulator) is available in this process")


def _tiny_lp():
    return sl.problems.linear_program([1.0, 1.0], [[1.0, 1.0]], rl=[1.0], l=0.0)


@no_cuda
def test_pdhg_device_cuda_without_cuda_says_how_to_install():
    with pytest.raises(MissingDependencyError, match=r"pdhg.*solvelab\[gpu\]"):
        _tiny_lp().solve(backend="pdhg", device="cuda")


@no_cuda
def test_sinkhorn_device_without_cuda_says_how_to_install():
    from solvelab.backends.sinkhorn_device import run_sinkhorn_cuda
    with pytest.raises(MissingDependencyError, match=r"sinkhorn.*solvelab\[gpu\]"):
        run_sinkhorn_cuda(np.ones(2) / 2, np.ones(2) / 2, np.eye(2), 0.1, 1e-6, 10)


@no_cuda
def test_sinkhorn_backend_device_cuda_without_cuda_says_how_to_install():
    prob = sl.problems.entropic_ot(np.ones(2) / 2, np.ones(2) / 2, np.eye(2), 0.1)
    with pytest.raises(MissingDependencyError, match=r"sinkhorn.*solvelab\[gpu\].*device='cpu'"):
        prob.solve(backend="sinkhorn", device="cuda")


def test_sinkhorn_device_cuda_refuses_unbalanced_and_lazy_clearly():
    un = sl.problems.unbalanced_ot(np.ones(2) / 2, np.ones(2), np.eye(2), 0.1, 1.0)
    with pytest.raises(InvalidDataError, match="device='cuda' runs balanced OT.*unbalanced OT runs on the CPU"):
        un.solve(backend="sinkhorn", device="cuda")
    lazy = sl.problems.point_cloud_ot(np.zeros((3, 2)), np.ones((2, 2)), eps=0.1, lazy=True)
    with pytest.raises(InvalidDataError, match="lazy point-cloud program runs on the CPU only"):
        lazy.solve(backend="sinkhorn", device="cuda")
    with pytest.raises(InvalidDataError, match="device must be"):
        sl.problems.entropic_ot(np.ones(2) / 2, np.ones(2) / 2, np.eye(2), 0.1).solve(backend="sinkhorn",
                                                                                      device="gpu")


def test_bad_device_values_are_refused():
    for bad in ("tpu", 1, True):
        with pytest.raises(InvalidDataError, match="device must be 'cpu', 'cuda' or None"):
            _tiny_lp().solve(backend="pdhg", device=bad)
    with pytest.raises(InvalidDataError, match="device must be"):
        resolve_device("gpu0", backend="sinkhorn")
    assert resolve_device("CUDA", backend="x") == "cuda"
    assert resolve_device(None, np.zeros(2), backend="x") == "cpu"


def test_adaptive_scheme_is_refused_on_the_device():
    with pytest.raises(InvalidDataError, match="scheme='adaptive' runs on the CPU only"):
        _tiny_lp().solve(backend="pdhg", device="cuda", scheme="adaptive")


def test_halpern_saddle_device_cuda_is_refused_clearly():
    from solvelab.backends.halpern import _options
    with pytest.raises(InvalidDataError, match="device='cuda'"):
        _options({"device": "cuda"})
    assert _options({"device": "cpu"})["device"] == "cpu"


def test_device_cpu_is_the_cpu_path():
    res = _tiny_lp().solve(backend="pdhg", device="cpu")
    assert res.status == "optimal" and "device" not in res.info


def test_import_solvelab_needs_no_cuda():
    code = ("import sys, solvelab; solvelab.backends(); import solvelab.backends.pdhg, "
            "solvelab.backends.sinkhorn_device, solvelab.kernels.cuda.device; "
            "print('numba.cuda' in sys.modules, 'cupy' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT),
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout


def test_this_process_is_not_simulated():
    assert not simulator() or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
