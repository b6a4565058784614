"""Run ensembles with single-threaded BLAS.

SciPy's Runge-Kutta steps call ``numpy.dot`` on arrays of shape (n_states * n_runs, stages).
OpenBLAS splits each of these small products over all cores, and the thread hand-offs cost
more than the work: on a 2-core machine 2,000 runs of sts_core take 4.2 s with two BLAS threads
and 1.0 s with one.  :func:`single_threaded_blas` limits BLAS to one thread while an ensemble
runs (through threadpoolctl when it is installed, else through the thread-count functions of
the OpenBLAS library NumPy loaded) and restores the previous count afterwards.  Where neither
is available it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from collections.abc import Iterator

__all__ = ["single_threaded_blas"]

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED: list = []
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")
_LIBS: list | None = None


def _openblas_libs() -> list:
    """(get, set) function pairs of the OpenBLAS libraries this process has loaded."""
    global _LIBS
    if _LIBS is not None:
        return _LIBS
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                p = line.split()[-1] if line.strip() else ""
                if "openblas" in os.path.basename(p).lower() and p not in paths:
                    paths.append(p)
    except OSError:
        import numpy

        base = os.path.dirname(numpy.__file__)
        for folder in (base + ".libs", os.path.join(base, ".dylibs")):
            paths.extend(glob.glob(os.path.join(folder, "*openblas*")))
    libs = []
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        get = next((getattr(lib, s) for s in _GETTERS if hasattr(lib, s)), None)
        put = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
        if get is not None and put is not None:
            get.restype = ctypes.c_int
            put.argtypes = [ctypes.c_int]
            libs.append((get, put))
    _LIBS = libs
    return libs


def _enter() -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        _SAVED.append(threadpool_limits(limits=1, user_api="blas"))
        return
    saved = []
    for get, put in _openblas_libs():
        saved.append((put, int(get())))
        put(1)
    _SAVED.append(saved)


def _exit() -> None:
    saved = _SAVED.pop() if _SAVED else None
    if saved is None:
        return
    if hasattr(saved, "restore_original_limits"):
        saved.restore_original_limits()
        return
    for put, n in saved:
        put(n)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (re-entrant and thread-safe)."""
    global _DEPTH
    with _LOCK:
        if _DEPTH == 0:
            try:
                _enter()
            except Exception:  # noqa: BLE001 - a speed-up only; never fail a run over it
                _SAVED.append(None)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                try:
                    _exit()
                except Exception:  # noqa: BLE001
                    pass
