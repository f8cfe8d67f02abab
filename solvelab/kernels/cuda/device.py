"""The array/device layer: which device a solve runs on, whether it can, and transfers.

``device`` (a backend option, ``options.extra['device']``):

    'cpu'    NumPy arrays and the CPU (Numba) kernels
    'cuda'   the whole iteration loop on an NVIDIA GPU with the Numba-CUDA kernels of
             ``kernels.cuda``; data moves to the device once at setup and the returned
             point back once at the end (the loop reads back a few scalars per check)
    None     from the input arrays: 'cuda' when any is a device array (CuPy, a Numba
             device array, anything with ``__cuda_array_interface__``), else 'cpu'

``require_cuda(backend)`` raises ``MissingDependencyError`` naming the backend and
``pip install 'solvelab[gpu]'`` when numba-cuda (or a GPU and its driver) is missing; under
Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``) it passes, so the device loops run on the CPU
in CI. ``array_module(*arrays)`` is the array namespace of the inputs: CuPy for CuPy
arrays, NumPy otherwise (CuPy is imported only when an input is one of its arrays).
Nothing here imports numba.cuda or CuPy at module level.
"""
from __future__ import annotations

import os

import numpy as np

from ...errors import InvalidDataError, MissingDependencyError

#: the values of the ``device`` option
DEVICES = ("cpu", "cuda")
#: how to install what the GPU paths need
INSTALL = "pip install 'solvelab[gpu]'"


def simulator() -> bool:
    """Whether Numba's CUDA simulator is on (it must be set before numba is imported)."""
    try:
        from numba import config
        return bool(getattr(config, "ENABLE_CUDASIM", 0))
    except ImportError:   # pragma: no cover - numba is a dependency
        return os.environ.get("NUMBA_ENABLE_CUDASIM", "") == "1"


def is_device_array(x) -> bool:
    """A GPU array: CuPy, Numba device arrays (the simulator's too), anything exposing
    ``__cuda_array_interface__``."""
    if hasattr(x, "__cuda_array_interface__"):
        return True
    mod = type(x).__module__ or ""
    return mod.startswith("cupy") or mod.startswith("numba.cuda")


def is_cupy_array(x) -> bool:
    return (type(x).__module__ or "").startswith("cupy")


def resolve_device(device, *arrays, backend: str) -> str:
    """'cpu' or 'cuda' from the option (None: from the input arrays). A bad value raises
    ``InvalidDataError`` naming the backend and the values it accepts."""
    if device is None:
        return "cuda" if any(is_device_array(a) for a in arrays if a is not None) else "cpu"
    if isinstance(device, str) and device.lower() in DEVICES:
        return device.lower()
    raise InvalidDataError(f"backend {backend!r}: device must be 'cpu', 'cuda' or None (from the input "
                           f"arrays), got {device!r}")


def device_option(extra: dict, backend: str, *arrays) -> str:
    """``resolve_device`` of ``extra['device']`` (absent: None)."""
    return resolve_device((extra or {}).get("device"), *arrays, backend=backend)


def cuda_status() -> tuple[bool, str]:
    """(whether the Numba-CUDA kernels can run here, the reason when they cannot)."""
    try:
        from numba import cuda
    except ImportError as exc:   # numba without its CUDA target
        return False, f"numba.cuda cannot be imported ({exc}); {INSTALL}"
    if simulator():
        return True, "Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run on the CPU"
    try:
        ok = bool(cuda.is_available())
    except Exception as exc:  # noqa: BLE001 - a broken driver reports itself in many ways
        return False, f"the CUDA driver failed to initialize ({type(exc).__name__}: {exc})"
    if not ok:
        return False, ("no CUDA GPU or driver was found (numba.cuda.is_available() is False); on a machine "
                       f"with an NVIDIA GPU and its driver: {INSTALL} (numba-cuda, cupy-cuda12x)")
    return True, ""


def require_cuda(backend: str):
    """The ``numba.cuda`` module when the kernels can run, else ``MissingDependencyError``
    naming the backend, why, and how to install what is missing."""
    ok, why = cuda_status()
    if not ok:
        raise MissingDependencyError(f"backend {backend!r} with device='cuda': {why}; or use device='cpu'")
    from numba import cuda
    return cuda


def cupy_status() -> tuple[bool, str]:
    """(whether CuPy is importable and sees a GPU, the reason when not)."""
    try:
        import cupy
    except ImportError as exc:
        return False, f"CuPy is not installed ({exc}); {INSTALL}"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001
        return False, f"CuPy sees no GPU ({type(exc).__name__}: {exc})"
    return (n > 0), ("" if n > 0 else "CuPy sees no GPU")


def array_module(*arrays):
    """The array namespace of the inputs: ``cupy`` when any is a CuPy array, else NumPy."""
    if any(is_cupy_array(a) for a in arrays if a is not None):
        import cupy
        return cupy
    return np


# ---- transfers: setup and the end of a solve only ---------------------------------------

def to_device(x, dtype=np.float64):
    """A device array of ``x`` (C-ordered ``dtype``): a host array is copied once; a device
    array of that dtype (CuPy, Numba) is used in place, without a copy."""
    from numba import cuda
    if is_device_array(x):
        if is_cupy_array(x):
            if x.dtype != dtype or not x.flags.c_contiguous:
                x = x.astype(dtype, order="C")
            return cuda.as_cuda_array(x)
        if getattr(x, "dtype", None) == np.dtype(dtype):
            return x
        return cuda.to_device(np.ascontiguousarray(x.copy_to_host(), dtype=dtype))
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def to_host(x) -> np.ndarray:
    """A NumPy copy of a device (or host) array."""
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def threads_per_block(default: int = 256) -> int:
    """Threads per block: ``default`` on a GPU; 4 under the simulator (each simulated
    thread is a Python thread, so padding costs). ``SOLVELAB_CUDA_TPB`` overrides (a
    power of two)."""
    env = os.environ.get("SOLVELAB_CUDA_TPB")
    if env:
        t = int(env)
        if t < 1 or t & (t - 1):
            raise InvalidDataError(f"SOLVELAB_CUDA_TPB must be a power of two, got {env!r}")
        return t
    return 4 if simulator() else int(default)


def multiprocessors() -> int:
    """Streaming multiprocessors of the current device (1 under the simulator)."""
    if simulator():
        return 1
    from numba import cuda
    try:
        return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
    except Exception:  # noqa: BLE001
        return 1


def peak_bandwidth() -> float | None:
    """The device's peak memory bandwidth in bytes/s from its attributes (2 x memory clock x
    bus width), or None under the simulator / when the attributes are missing."""
    if simulator():
        return None
    from numba import cuda
    try:
        dev = cuda.get_current_device()
        clock_khz = dev.MEMORY_CLOCK_RATE
        bus_bits = dev.GLOBAL_MEMORY_BUS_WIDTH
    except Exception:  # noqa: BLE001
        return None
    return 2.0 * clock_khz * 1e3 * bus_bits / 8.0


def synchronize() -> None:
    from numba import cuda
    cuda.synchronize()
