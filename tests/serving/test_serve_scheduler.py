"""The scheduler's worker thread: it alone runs torch, warming up first, with the thread count it was made under."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch

from tacoglow.serving.scheduler import BatchScheduler, Job
from tacoglow.text.split import TextPiece


class Probe:
    """Records which thread synthesizes, and with how many torch threads."""

    seed = 0

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, int, list[str]]] = []
        self.fail = fail

    def synthesize(self, texts, **kwargs):
        self.calls.append((threading.current_thread().name, torch.get_num_threads(), list(texts)))
        if self.fail:
            raise RuntimeError("simulated: the model could not run")
        return []


def test_the_worker_warms_up_on_its_own_thread_with_the_thread_count_it_was_made_under():
    probe = Probe()
    torch.set_num_threads(2)  # the autouse fixture of tests/conftest.py restores the count
    scheduler = BatchScheduler(probe)
    torch.set_num_threads(1)  # later changes on the caller's thread do not reach the worker
    scheduler.start()
    scheduler.wait_ready()
    scheduler.stop(10)
    assert probe.calls == [("tacoglow-synthesis", 2, ["Ready."])]


def test_a_failed_warm_up_is_raised_by_wait_ready_and_stop_still_returns():
    scheduler = BatchScheduler(Probe(fail=True))
    scheduler.start()
    with pytest.raises(RuntimeError, match="could not run"):
        scheduler.wait_ready()
    scheduler.stop(10)
    assert not scheduler._thread.is_alive()


def test_a_lone_piece_starts_at_once_and_after_a_batch_of_n_the_worker_waits_for_n():
    scheduler = BatchScheduler(Probe(), max_wait_ms=300)
    loop = asyncio.new_event_loop()

    def queue_jobs(count: int) -> None:
        scheduler._jobs.extend(Job([TextPiece("A piece.", 0.0)], 1.0, loop) for _ in range(count))

    def timed_batch() -> tuple[int, float]:
        started = time.monotonic()
        return len(scheduler._take_batch()), time.monotonic() - started

    try:
        queue_jobs(1)
        size, waited = timed_batch()
        assert size == 1 and waited < 0.1  # a lone client's request: no wait for company
        queue_jobs(3)
        size, waited = timed_batch()
        assert size == 3 and waited < 0.1  # more than the last batch's one: starts at once
        queue_jobs(1)
        size, waited = timed_batch()
        assert size == 1 and waited >= 0.3  # after a batch of 3, waited max_wait for the others
    finally:
        loop.close()
