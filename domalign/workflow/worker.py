"""The worker: claims queued jobs (benchmark generations, evaluations, alignments) and runs them, one at a time.

A claim is a compare-and-set on ``claimed_by``; a job whose worker stopped
sending heartbeats (it crashed or was killed) is taken over and resumes at its
first unfinished stage.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from domalign.errors import Cancelled
from domalign.status import RUNNING, AlignmentStatus
from domalign.store.tables import Alignment, Benchmark, Evaluation, utcnow
from domalign.workflow import benchmarks, evaluations
from domalign.workflow.catalog import load_catalog_model
from domalign.workflow.context import Context
from domalign.workflow.events import EventType
from domalign.workflow.job import JobRun, fail_job, run_job
from domalign.workflow.stages import PIPELINE

log = logging.getLogger(__name__)


class ModelCache:
    """Keeps the last base model loaded, so consecutive jobs on it skip the load."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._key: str | None = None
        self._value: Any = None

    def clear(self) -> None:
        """Drop the model, and give its memory back where torch keeps a cache of it (GPUs)."""
        if self._value is None:
            return
        self._key, self._value = None, None
        gc.collect()  # the model's modules refer to each other: free them now, not at the next collection
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def get(self, base_model_id: str) -> Any:
        if self._key != base_model_id:
            self._key, self._value = None, None  # free the previous model before loading the next
            self._value = load_catalog_model(self._ctx, base_model_id)
            self._key = base_model_id
        return self._value


def start_workers(ctx: Context) -> list[Worker]:
    """``worker_concurrency`` workers, each on its own thread."""
    workers = [Worker(ctx) for _ in range(ctx.settings.worker_concurrency)]
    for worker in workers:
        worker.start()
    return workers


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
        threads = self.ctx.settings.num_threads
        if threads is None and self.ctx.settings.worker_concurrency > 1:  # jobs side by side share the cores
            threads = max(1, (os.cpu_count() or 1) // self.ctx.settings.worker_concurrency)
        if threads:
            import torch

            torch.set_num_threads(threads)
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
        eval_id = self._claim(Evaluation, Evaluation.status.in_([evaluations.PENDING, evaluations.RUNNING]))
        if eval_id:
            self._run_evaluation(eval_id)
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
                    update(table).where(table.id == candidate, free, runnable)
                    .values(claimed_by=self.id, heartbeat_at=utcnow())
                ).rowcount
                if claimed:
                    return candidate
        return None

    def _heartbeat(self, table: Any, row_id: str, done: threading.Event, lost: threading.Event) -> None:
        """Renew the claim; if another worker took the job over, say so through ``lost``."""
        interval = self.ctx.settings.worker_lease_s / 3
        while not done.wait(interval):
            try:
                with self.ctx.db.session() as session:
                    renewed = session.execute(update(table).where(table.id == row_id, table.claimed_by == self.id)
                                              .values(heartbeat_at=utcnow())).rowcount
            except Exception:  # a busy database must not end the heartbeat for good
                log.exception("heartbeat of %s failed", row_id)
                continue
            if not renewed:
                lost.set()
                return

    def _with_heartbeat(self, table: Any, row_id: str, work: Callable[[threading.Event], None]) -> None:
        done, lost = threading.Event(), threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(table, row_id, done, lost), daemon=True)
        beat.start()
        try:
            work(lost)
        finally:
            done.set()
            beat.join()
            with self.ctx.db.session() as session:
                session.execute(update(table).where(table.id == row_id, table.claimed_by == self.id)
                                .values(claimed_by=None))

    def _run_benchmark(self, bench_id: str) -> None:
        def work(_lost: threading.Event) -> None:
            try:
                benchmarks.run_generation(self.ctx, bench_id)
            except Exception as exc:
                log.exception("benchmark %s failed", bench_id)
                benchmarks.fail_generation(self.ctx, bench_id, f"{type(exc).__name__}: {exc}")

        self._with_heartbeat(Benchmark, bench_id, work)

    def _run_evaluation(self, eval_id: str) -> None:
        def work(lost: threading.Event) -> None:
            try:
                evaluations.run_evaluation(self.ctx, eval_id, self.models.get,
                                           lambda: lost.is_set() or self._stop.is_set())
            except Cancelled:  # the lease was lost or the worker is stopping: the next claim starts it again
                log.info("evaluation %s interrupted", eval_id)
            except Exception as exc:
                log.exception("evaluation %s failed", eval_id)
                evaluations.fail_evaluation(self.ctx, eval_id, f"{type(exc).__name__}: {exc}")
                self.models.clear()  # it may have failed with an adapter applied

        self._with_heartbeat(Evaluation, eval_id, work)

    def _run_alignment(self, alignment_id: str) -> None:
        log.info("worker %s runs %s", self.id, alignment_id)

        def work(lost: threading.Event) -> None:
            interrupted = lambda: lost.is_set() or self._stop.is_set()  # noqa: E731
            try:
                job = JobRun(self.ctx, alignment_id, self.models, interrupted)
            except Exception as exc:  # e.g. options saved by an older version no longer validate
                log.exception("alignment %s cannot start", alignment_id)
                fail_job(self.ctx, alignment_id, f"the job cannot start: {type(exc).__name__}: {exc}")
                return
            if self._was_started(alignment_id):
                job.event(EventType.RESUMED, stage=None, worker=self.id, stages_done=list(job.done))
            if run_job(job, list(PIPELINE)) == AlignmentStatus.FAILED:
                self.models.clear()  # a failure may have left adapter layers in the cached model

        self._with_heartbeat(Alignment, alignment_id, work)

    def _was_started(self, alignment_id: str) -> bool:
        with self.ctx.db.session() as session:
            row = session.get(Alignment, alignment_id)
            return row.stage not in (None, "queued")
