"""One BLAS thread for an optimisation.

An optimisation is a chain of small dense factorisations (500 x 500 at most), where
OpenBLAS's threads cost more in hand-offs than they save; on a machine whose cores are
busy (a Celery host, CI) its waiting threads turned a 2 ms Cholesky of 500 x 500 into
0.2-0.3 s in a measurement on a 2-core machine. Process-wide while it runs
(threadpoolctl cannot limit one thread), so another thread's BLAS call in the same
moment also runs on one thread: slower at worst, never wrong.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# Counted, so overlapping optimisations (one abandoned at its deadline, its fallback) restore
# the process's limits once, when the last one leaves, and never to a stale state.
_lock = threading.Lock()
_active = 0
_limiter: Any = None
# threadpoolctl finds the BLAS libraries by walking every loaded shared object (about 10 ms): once, and again
# only when modules were imported since (a new extension may have brought its own BLAS), not per optimisation.
_controller: Any = None
_modules_seen = -1


def _blas_controller():
    global _controller, _modules_seen
    if _controller is None or len(sys.modules) != _modules_seen:
        from threadpoolctl import ThreadpoolController

        _controller, _modules_seen = ThreadpoolController(), len(sys.modules)
    return _controller


def single_threaded_blas(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        global _active, _limiter
        with _lock:
            if _active == 0:
                _limiter = _blas_controller().limit(limits=1, user_api="blas")
            _active += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with _lock:
                _active -= 1
                if _active == 0:
                    _limiter.restore_original_limits()
                    _limiter = None

    return wrapper
