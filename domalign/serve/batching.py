"""Request batching: chat requests to one base model that arrive together share one ``generate`` call.

A thread per base model takes the oldest waiting request and waits for more that
can share its call (same sampling settings and stop strings, no seed, one choice)
until none has come for ``window_s`` (at most ``max_wait_s`` in all: a burst of
clients never arrives in the same millisecond, and a batch left behind waits for
the whole running one), then runs up to ``max_batch`` of them at once: each row keeps its
own adapter (PEFT's per-row ``adapter_names``), token budget, cancel flag and
streamer. Streamed text goes into each request's own queue, so a slow reader
never holds the batch up; a reader that leaves sets its cancel flag and its row
stops at the next token. The rest wait for the next call, oldest first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from domalign.serve.chat import BatchEntry, ChatParams, Memory, generate_batch

log = logging.getLogger(__name__)


@dataclass
class Request:
    adapter_id: str | None
    params: ChatParams
    streamer: Any = None
    grounded: bool = False  # retrieved passages in the prompt: the adapter answers at its grounded scale
    closed_book: ChatParams | None = None  # a grounded request's question without passages: the memory view
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)
    routed_to_base: bool = False  # set when batched: a general question the base model answers (domalign.routing)

    def batch_key(self) -> tuple | None:
        """Requests with equal keys can share a call; None: this one runs alone."""
        p = self.params
        if p.n != 1 or p.seed is not None:
            return None
        return (p.temperature, p.top_p if p.temperature > 0 else None, p.stop)


class Batcher:
    """Owns generation for one base model; ``run`` is called with each batch under the base's lock."""

    def __init__(
        self, run: Callable[[list[Request]], None], *, window_s: float = 0.01, max_wait_s: float = 0.1,
        max_batch: int = 16, name: str = "",
    ) -> None:
        self._run, self.window_s, self.max_wait_s, self.max_batch = run, window_s, max_wait_s, max_batch
        self._waiting: deque[Request] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, request: Request) -> Future:
        with self._ready:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._waiting.append(request)
            self._ready.notify()
        return request.future

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=30)

    def _next_batch(self) -> list[Request] | None:
        with self._ready:
            while not self._waiting and not self._closed:
                self._ready.wait()
            if self._closed:
                return None
            first = self._waiting[0]
            key = first.batch_key()
            started = time.monotonic()
            seen, quiet_from = 0, started
            while key is not None and (count := len(self._compatible(key))) < self.max_batch:
                now = time.monotonic()
                if count > seen:  # another one came: wait a window more
                    seen, quiet_from = count, now
                remaining = min(quiet_from + self.window_s, started + self.max_wait_s) - now
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            batch = [first] if key is None else self._compatible(key)[: self.max_batch]
            for request in batch:
                self._waiting.remove(request)
        return batch

    def _compatible(self, key: tuple) -> list[Request]:
        return [r for r in self._waiting if r.batch_key() == key]

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            batch = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                self._run(batch)
            except BaseException as exc:  # every caller hears about it; the thread goes on
                log.exception("batch of %d failed", len(batch))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                    if request.streamer is not None:
                        request.streamer.end()


def run_batch(model: Any, tokenizer: Any, batch: list[Request], adapters: list[str | None],
              memories: list[Memory | None], guarded: list[bool]) -> None:
    """Generate for ``batch``, each row with its PEFT adapter from ``adapters`` (the memory view from
    ``memories`` where given, no decline where ``guarded``), and resolve each request's future with its
    ChatResult."""
    started = time.monotonic()
    results = generate_batch(model, tokenizer, [
        BatchEntry(r.params, r.streamer, r.cancel, name, memory, guard)
        for r, name, memory, guard in zip(batch, adapters, memories, guarded, strict=True)
    ])
    log.info("batch of %d in %.2f s", len(batch), time.monotonic() - started)
    for request, result in zip(batch, results, strict=True):
        result.routed_to_base = request.routed_to_base
        request.future.set_result(result)
