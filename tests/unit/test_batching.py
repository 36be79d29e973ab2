"""How the batcher groups requests that arrive over time (the run function records batch sizes)."""

from __future__ import annotations

import threading
import time

from domalign.serve.batching import Batcher, Request
from domalign.serve.chat import ChatParams


def _record(sizes: list[int]):
    def run(batch: list[Request]) -> None:
        sizes.append(len(batch))
        for request in batch:
            request.future.set_result(None)
    return run


def _trickle(batcher: Batcher, count: int, gap_s: float, params: ChatParams | None = None) -> list:
    futures = []
    for _ in range(count):
        futures.append(batcher.submit(Request(None, params or ChatParams([], temperature=0.0))))
        time.sleep(gap_s)
    return futures


def test_a_burst_that_trickles_in_faster_than_the_window_is_one_batch():
    sizes: list[int] = []
    batcher = Batcher(_record(sizes), window_s=0.05, max_wait_s=2.0, max_batch=16)
    try:
        for future in _trickle(batcher, 8, 0.01):  # 80 ms in all: longer than one window
            future.result(timeout=5)
    finally:
        batcher.close()
    assert sizes == [8]


def test_a_quiet_window_ends_the_batch_and_max_wait_bounds_it():
    sizes: list[int] = []
    batcher = Batcher(_record(sizes), window_s=0.05, max_wait_s=2.0, max_batch=16)
    try:
        first = _trickle(batcher, 3, 0.0)
        time.sleep(0.3)  # quiet for six windows
        second = _trickle(batcher, 2, 0.0)
        for future in first + second:
            future.result(timeout=5)
    finally:
        batcher.close()
    assert sizes == [3, 2]

    sizes.clear()
    batcher = Batcher(_record(sizes), window_s=0.05, max_wait_s=0.1, max_batch=64)
    try:
        for future in _trickle(batcher, 30, 0.01):  # a steady stream for 300 ms
            future.result(timeout=5)
    finally:
        batcher.close()
    assert len(sizes) >= 2 and sum(sizes) == 30 and sizes[0] <= 15  # cut at about 100 ms, not at the end


def test_max_batch_and_incompatible_requests_split_batches():
    sizes: list[int] = []
    started = threading.Event()

    def run(batch: list[Request]) -> None:
        started.wait(5)  # hold the first batch until all requests are queued
        _record(sizes)(batch)

    batcher = Batcher(run, window_s=0.05, max_wait_s=1.0, max_batch=4)
    try:
        futures = _trickle(batcher, 6, 0.0) + _trickle(batcher, 2, 0.0, ChatParams([], temperature=0.7))
        started.set()
        for future in futures:
            future.result(timeout=5)
    finally:
        batcher.close()
    assert sorted(sizes) == [2, 2, 4]
