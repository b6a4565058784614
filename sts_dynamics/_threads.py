"""Single-threaded BLAS while an ensemble integrates.

SciPy's Runge-Kutta steps multiply arrays of shape (n_states * n_runs, stages); OpenBLAS
splits each small product over every core, and on a busy 2-core machine the hand-offs cost
more than the work (2,000 runs of sts_core: 4.2 s with two BLAS threads, 1.0 s with one,
measured while the other core was loaded).  ``threadpoolctl`` limits BLAS to one thread inside
the block and restores the previous setting afterwards.

Finding the BLAS libraries means reading ``/proc/self/maps`` (about 3 ms), so it is done once,
at the first ensemble, when NumPy's and SciPy's BLAS are both loaded (SciPy's ODE solvers
import ``scipy.linalg``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]

_LOCK = threading.Lock()
_DEPTH = 0
_LIMITER = None
_CONTROLLER: ThreadpoolController | None = None


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (re-entrant and thread-safe)."""
    global _DEPTH, _LIMITER, _CONTROLLER
    with _LOCK:
        if _DEPTH == 0:
            if _CONTROLLER is None:
                _CONTROLLER = ThreadpoolController()
            _LIMITER = _CONTROLLER.limit(limits=1, user_api="blas")
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _LIMITER is not None:
                _LIMITER.restore_original_limits()
                _LIMITER = None
