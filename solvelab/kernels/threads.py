"""Thread limits for the compiled passes: at most N BLAS threads (threadpoolctl) and N
Numba threads inside a ``with threads(...)`` block.

Why: on a busy machine, OpenBLAS's spin-waiting worker threads turn a small matrix product
into milliseconds of waiting. Measured on the 2-core development box with the other core
busy: Sinkhorn iterations 10-20x slower, and the dense proximal-Newton Hessians of ``cd``
23x slower (huber-1000x200: 0.70 s with 2 BLAS threads, 0.03 s with one). The passes are
memory-bound or small, so extra threads buy little even on an idle machine.
"""
from __future__ import annotations

_CONTROLLER: list = []


def blas_controller():
    """One ``threadpoolctl.ThreadpoolController`` per process (None without threadpoolctl).
    Building one scans every loaded library (~5 ms), which ``threadpool_limits`` did on
    each call, i.e. on every solve."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER.append(ThreadpoolController())
        except ImportError:
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


class threads:
    """Context manager: at most ``blas`` BLAS threads (threadpoolctl) and ``numba`` Numba
    threads inside. None leaves a setting alone."""

    def __init__(self, blas: int | None = 1, numba_threads: int | None = None):
        self.blas, self.numba_threads = blas, numba_threads
        self._limiter = None
        self._old_numba = None

    def __enter__(self):
        if self.blas is not None:
            ctl = blas_controller()
            # threadpoolctl comes with scikit-learn; without it, no limit
            self._limiter = None if ctl is None else ctl.limit(limits=int(self.blas), user_api="blas")
        if self.numba_threads is not None:
            import numba
            self._old_numba = numba.get_num_threads()
            numba.set_num_threads(max(1, min(int(self.numba_threads), numba.config.NUMBA_NUM_THREADS)))
        return self

    def __exit__(self, *exc):
        if self._limiter is not None:
            self._limiter.unregister()
        if self._old_numba is not None:
            import numba
            numba.set_num_threads(self._old_numba)
        return False
