"""GPU kernels (Numba-CUDA) and the array/device layer.

Nothing here imports ``numba.cuda`` (or CuPy) when ``solvelab`` is imported: ``device``
is plain Python and imports them on first use; ``ot``, ``pdhg`` and ``reduce`` import
``numba.cuda`` at module level and are imported only by a solve that asked for
``device='cuda'`` (after ``device.require_cuda`` has checked that it can run).

    device   'cpu' | 'cuda' | None resolution, availability checks with install hints,
             host <-> device transfers (setup and the end of a solve only)
    reduce   two-stage block reductions (sum / max) of the rows of a (q, N) array
    ot       log-domain Sinkhorn: row and column log-sum-exp potential updates on a
             dense cost, fused with the row-marginal violation and gap terms
    pdhg     CSR SpMV fused with the PDHG primal / dual steps and the reflected
             Halpern combination; the LP certificate's parts on the device

Every kernel runs under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set before
numba is imported), which is how CI tests them without a GPU (tests/test_gpu_cudasim.py).
"""
