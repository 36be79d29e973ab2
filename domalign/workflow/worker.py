"""The worker: claims queued jobs from the database and runs them, one at a time.

A claim is a compare-and-set on ``claimed_by``; a job whose worker stopped
sending heartbeats (it crashed or was killed) is taken over and resumes at its
first unfinished stage.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from domalign.errors import DomalignError, InvalidInput
from domalign.status import RUNNING
from domalign.store.tables import Alignment, Benchmark, utcnow
from domalign.workflow import benchmarks
from domalign.workflow.context import Context
from domalign.workflow.events import EventType
from domalign.workflow.job import JobRun, run_job
from domalign.workflow.stages import PIPELINE

log = logging.getLogger(__name__)


class ModelCache:
    """Keeps the last base model loaded, so consecutive jobs on it skip the load."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._key: str | None = None
        self._value: Any = None

    def get(self, base_model_id: str) -> Any:
        if self._key != base_model_id:
            from domalign.models.loader import load_base_model
            from domalign.workflow.catalog import get_base_model

            self._key, self._value = None, None  # free the previous model before loading the next
            source = get_base_model(self._ctx, base_model_id).source
            try:
                self._value = load_base_model(source, cache_dir=self._ctx.settings.model_cache_dir)
            except DomalignError:
                raise
            except Exception as exc:  # any library's error: say which model and where
                raise InvalidInput(
                    f"could not load base model '{base_model_id}' from {source} "
                    f"({type(exc).__name__}: {exc}); check its files or register it again"
                ) from exc
            self._key = base_model_id
        return self._value


class Worker:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.models = ModelCache(ctx)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="domalign-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        if self.ctx.settings.num_threads:
            import torch

            torch.set_num_threads(self.ctx.settings.num_threads)
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # a broken job must not kill the worker
                log.exception("worker %s: unexpected error", self.id)
                worked = False
            if not worked:
                self._stop.wait(self.ctx.settings.worker_poll_s)

    def run_once(self) -> bool:
        """Claim and run one job; False when the queue is empty."""
        bench_id = self._claim(Benchmark, Benchmark.status.in_(["pending", "running"]))
        if bench_id:
            self._run_benchmark(bench_id)
            return True
        alignment_id = self._claim(Alignment, Alignment.status.in_(list(RUNNING)))
        if alignment_id:
            self._run_alignment(alignment_id)
            return True
        return False

    def _claim(self, table: Any, runnable: Any) -> str | None:
        stale = utcnow() - timedelta(seconds=self.ctx.settings.worker_lease_s)
        free = or_(table.claimed_by.is_(None), table.heartbeat_at < stale)
        with self.ctx.db.session() as session:
            candidates = session.scalars(select(table.id).where(runnable, free).order_by(table.id).limit(5)).all()
            for candidate in candidates:
                claimed = session.execute(
                    update(table).where(table.id == candidate, free)
                    .values(claimed_by=self.id, heartbeat_at=utcnow())
                ).rowcount
                if claimed:
                    return candidate
        return None

    def _heartbeat(self, table: Any, row_id: str, done: threading.Event) -> None:
        interval = self.ctx.settings.worker_lease_s / 3
        while not done.wait(interval):
            with self.ctx.db.session() as session:
                session.execute(update(table).where(table.id == row_id).values(heartbeat_at=utcnow()))

    def _with_heartbeat(self, table: Any, row_id: str, work: Any) -> None:
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(table, row_id, done), daemon=True)
        beat.start()
        try:
            work()
        finally:
            done.set()
            beat.join()
            with self.ctx.db.session() as session:
                session.execute(update(table).where(table.id == row_id).values(claimed_by=None))

    def _run_benchmark(self, bench_id: str) -> None:
        def work() -> None:
            try:
                benchmarks.run_generation(self.ctx, bench_id)
            except Exception as exc:
                log.exception("benchmark %s failed", bench_id)
                benchmarks.fail_generation(self.ctx, bench_id, f"{type(exc).__name__}: {exc}")

        self._with_heartbeat(Benchmark, bench_id, work)

    def _run_alignment(self, alignment_id: str) -> None:
        job = JobRun(self.ctx, alignment_id, self.models.get)
        if self._was_started(alignment_id):
            job.event(EventType.RESUMED, stage=None, worker=self.id, stages_done=list(job.done))
        self._with_heartbeat(Alignment, alignment_id, lambda: run_job(job, list(PIPELINE)))

    def _was_started(self, alignment_id: str) -> bool:
        with self.ctx.db.session() as session:
            row = session.get(Alignment, alignment_id)
            return row.stage not in (None, "queued")
