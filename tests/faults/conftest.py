"""Fixtures of the fault tests: the desk (web, beat, worker subprocesses) on a Redis of the
test's own, over the test database, and a trader with books of their own."""

from __future__ import annotations

import pytest

from tests.faults.harness import Api, OwnRedis, Worker, make_books, stack_env, token_for
from tests.orders.conftest import book, enqueued, stepped_clock  # noqa: F401  (the in-process venue tests)


@pytest.fixture
def own_redis():
    r = OwnRedis().start()
    yield r
    r.close()


@pytest.fixture
def desk_data(demo_small):
    from django.contrib.auth import get_user_model

    trader = get_user_model().objects.get(username="trader")
    return trader


class Desk:
    """The running desk of one test: its web server, beat, workers, API client and books."""

    def __init__(self, stack, env, api, books, trader):
        self.stack, self.env, self.api, self.books, self.trader = stack, env, api, books, trader
        self.workers: list[Worker] = []

    def worker(self) -> Worker:
        w = Worker(self.stack.env, name="faults").start()
        self.workers.append(w)
        return w


def start_desk(*, redis_url: str, trader, database_url: str | None = None, n_books: int = 4, worker: bool = True):
    from tests.live_stack import LiveStack

    env = stack_env(redis_url=redis_url, database_url=database_url)
    stack = LiveStack(beat=True, worker=False, extra_env=env).__enter__()
    desk = Desk(stack, env, Api(stack.url, token_for(trader)), make_books(n_books, trader), trader)
    if worker:
        desk.worker()
    return desk


def stop_desk(desk: Desk) -> None:
    for w in desk.workers:
        w.stop()
    desk.stack.__exit__(None, None, None)


@pytest.fixture
def desk(own_redis, desk_data):
    d = start_desk(redis_url=own_redis.url, trader=desk_data)
    yield d
    stop_desk(d)
