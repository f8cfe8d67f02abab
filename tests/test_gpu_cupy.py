"""The GPU paths on a real GPU with CuPy arrays (skipped, with the reason, without one).

What runs here needs ``pip install 'solvelab[gpu]'`` (cupy-cuda12x, numba-cuda) and an
NVIDIA GPU: CuPy arrays select the device (``device=None``), are handed to the Numba-CUDA
kernels without a copy (``__cuda_array_interface__``), and the device loops agree with
the CPU backends. The simulator's tests (tests/test_gpu_cudasim.py) cover the same
kernels without a GPU.
"""
from __future__ import annotations

import numpy as np
import pytest

from solvelab.kernels.cuda.device import cuda_status, cupy_status, simulator

_cupy_ok, _cupy_why = cupy_status()
_cuda_ok, _cuda_why = cuda_status()
pytestmark = [
    pytest.mark.skipif(not _cupy_ok, reason=f"no CuPy GPU path here: {_cupy_why}"),
    pytest.mark.skipif(_cupy_ok and (not _cuda_ok or simulator()),
                       reason=f"CuPy is present but the Numba-CUDA kernels cannot run: {_cuda_why or 'simulator on'}"),
]


@pytest.fixture
def cp():
    import cupy
    return cupy


def _ot(seed=0, n=300, m=280):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    a = rng.random(n) + 0.5
    b = rng.random(m) + 0.5
    return a / a.sum(), b / b.sum(), C


def test_array_namespace_and_device_from_cupy_inputs(cp):
    from solvelab.kernels.cuda.device import array_module, resolve_device, to_device
    x = cp.arange(4, dtype=cp.float64)
    assert array_module(x) is cp and array_module(np.zeros(2)) is np
    assert resolve_device(None, x, backend="sinkhorn") == "cuda"
    d = to_device(x)   # no copy: the same memory
    assert d.__cuda_array_interface__["data"][0] == x.__cuda_array_interface__["data"][0]


def test_sinkhorn_device_with_cupy_inputs_matches_the_cpu_backend(cp):
    from solvelab.backends.sinkhorn_device import run_sinkhorn_cuda
    from solvelab.problems import entropic_ot
    a, b, C = _ot()
    eps = 0.01
    f, g, it, err, status = run_sinkhorn_cuda(cp.asarray(a), cp.asarray(b), cp.asarray(C), eps, 1e-8, 20000, None, 10)
    assert status == "converged" and err <= 1e-8
    res = entropic_ot(a, b, C, eps).solve(backend="sinkhorn", tol=1e-8, stabilize="lse", eps_scaling=False)
    fc, gc = res.info["f"], res.info["g"]
    s = float(np.mean(f - fc))
    assert np.max(np.abs(f - fc - s)) / eps < 1e-5 and np.max(np.abs(g - gc + s)) / eps < 1e-5


def test_pdhg_device_on_a_random_lp_matches_the_cpu_halpern_scheme():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent / "families"))
    from test_lp import highs_objective, random_lp
    from solvelab.problems import linear_program
    data = random_lp(3, m=200, n=300)
    res = linear_program(*data).solve(backend="pdhg", device="cuda", tol=1e-7)
    cpu = linear_program(*data).solve(backend="pdhg", scheme="halpern", tol=1e-7)
    assert res.status == "optimal" and res.info["device"] == "cuda"
    ref = highs_objective(*data)
    assert abs(res.objective - ref) <= 1e-5 * max(1.0, abs(ref))
    # the GPU's sums run in another order: the runs agree to rounding, not bit for bit
    assert abs(res.iterations - cpu.iterations) <= 0.2 * cpu.iterations + 64
