"""One BLAS thread for an optimisation.

An optimisation is a chain of small dense factorisations (500 x 500 at most), where
OpenBLAS's threads cost more in hand-offs than they save; on a machine whose cores are
busy (a Celery host, CI) its waiting threads turn a 3 ms Cholesky into 200 ms, and
efficient risk at 500 instruments from 0.6 s into 1.2 s. Process-wide while it runs
(threadpoolctl cannot limit one thread), so another thread's BLAS call in the same
moment also runs on one thread: slower at worst, never wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def single_threaded_blas(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
