"""One run of an alignment job: the state a stage sees, and the runner that drives the stages.

The runner, not the stages, decides what happens: it skips stages already done
(their artifacts are on disk), turns exceptions into ``failed`` with the stage
name, and turns a cancel request into ``failed`` with ``error: "cancelled"``.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from domalign.errors import Cancelled, DomalignError
from domalign.status import AlignmentStatus, transition
from domalign.store.tables import Alignment, utcnow
from domalign.workflow import events
from domalign.workflow.context import Context
from domalign.workflow.events import EventType
from domalign.workflow.options import AlignmentOptions
from domalign.workflow.progress import EtaEstimator, overall_progress

log = logging.getLogger(__name__)

WRITE_INTERVAL_S = 1.0


@dataclass(frozen=True)
class JobSpec:
    """The immutable inputs of a job, read once from its row."""

    id: str
    owner_id: str
    base_model: str
    document_ids: list[str]
    options: AlignmentOptions


def artifact_key(alignment_id: str, name: str) -> str:
    """Blob key of one artifact of an alignment (``chunks.jsonl``, ``adapter``, ...)."""
    return f"alignments/{alignment_id}/{name}"


class Models(Protocol):
    """The worker's loaded base models (``worker.ModelCache``)."""

    def get(self, base_model_id: str) -> Any: ...

    def clear(self) -> None: ...


class JobRun:
    """What a stage may do: read its inputs, report progress, check for cancel, record events."""

    def __init__(
        self, ctx: Context, alignment_id: str, models: Models, interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        self.ctx = ctx
        self._models = models
        self.interrupted = interrupted  # the worker is stopping or lost its claim: leave the job to the next one
        with ctx.db.session() as session:
            row = session.get(Alignment, alignment_id)
            self.spec = JobSpec(
                row.id, row.owner_id, row.base_model, list(row.document_ids),
                AlignmentOptions.model_validate(row.options),
            )
            self.done = list(row.stages_done)
            self.benchmark_id = row.benchmark_id
            self._progress = row.progress
            if row.started_at is None:
                row.started_at = utcnow()
        self._eta = EtaEstimator(self._progress, utcnow())
        self._last_write = 0.0
        self._last_cancel_check = 0.0
        self._cancelled = False

    def key(self, name: str) -> str:
        """Blob key of one of this job's artifacts."""
        return artifact_key(self.spec.id, name)

    def base_model(self) -> Any:
        """(model, tokenizer) of the job's base model, loaded once per worker."""
        return self._models.get(self.spec.base_model)

    def release_base_model(self) -> None:
        """Let the worker free its copy of the base model (another process is about to load one)."""
        self._models.clear()

    def event(self, type_: EventType, stage: str | None = None, **data: Any) -> None:
        with self.ctx.db.session() as session:
            events.record(session, self.spec.id, type_, stage, **data)

    def report(self, stage: str, fraction: float, *, force: bool = False) -> None:
        """Move progress forward (never backwards); writes are throttled unless forced."""
        self._progress = max(self._progress, overall_progress(stage, fraction))
        now = time.monotonic()
        if not force and now - self._last_write < WRITE_INTERVAL_S:
            return
        self._last_write = now
        eta = self._eta.estimate(self._progress, utcnow())
        with self.ctx.db.session() as session:
            row = session.get(Alignment, self.spec.id)
            row.progress, row.heartbeat_at = self._progress, utcnow()
            if eta is not None:
                row.estimated_completion = eta

    def should_stop(self) -> bool:
        """True once the user asked to cancel or the worker must let go; polled at most once a second."""
        if self.interrupted():
            return True
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= 1.0:
            self._last_cancel_check = now
            with self.ctx.db.session() as session:
                self._cancelled = bool(session.get(Alignment, self.spec.id).cancel_requested)
        return self._cancelled

    def check_cancel(self) -> None:
        self._last_cancel_check = 0.0
        if self.should_stop():
            raise Cancelled("cancelled")

    def update_row(self, **fields: Any) -> None:
        with self.ctx.db.session() as session:
            row = session.get(Alignment, self.spec.id)
            for name, value in fields.items():
                setattr(row, name, value)

    def set_status(self, status: AlignmentStatus, **fields: Any) -> None:
        with self.ctx.db.session() as session:
            row = session.get(Alignment, self.spec.id)
            if row.status == status == AlignmentStatus.FAILED:
                return  # already failed (cancelled while queued): keep the first reason
            row.status = transition(row.status, status).value
            for name, value in fields.items():
                setattr(row, name, value)


def fail_job(ctx: Context, alignment_id: str, error: str) -> None:
    """Mark a job failed from outside the runner (it could not even start)."""
    with ctx.db.session() as session:
        row = session.get(Alignment, alignment_id)
        if row.status != AlignmentStatus.FAILED:
            row.status = transition(row.status, AlignmentStatus.FAILED).value
            row.error, row.completed_at = error, utcnow()
            events.record(session, alignment_id, EventType.ERROR, row.stage, message=error)


def run_job(job: JobRun, stages: list) -> AlignmentStatus | None:
    """Run every stage not yet done, then mark the job evaluated; never raises.

    Returns the final status, or None when the worker let go of an unfinished job
    (shutdown or lost claim): it stays queued and resumes at its first unfinished stage.
    """
    current = None
    try:
        for stage in stages:
            if stage.name in job.done:
                continue
            current = stage.name
            job.check_cancel()
            job.set_status(stage.status, stage=stage.name)
            job.event(EventType.STAGE_STARTED, stage.name)
            job.report(stage.name, 0.0, force=True)
            summary = stage.run(job) or {}
            job.done.append(stage.name)
            job.update_row(stages_done=list(job.done))
            job.report(stage.name, 1.0, force=True)
            job.event(EventType.STAGE_FINISHED, stage.name, **summary)
        job.set_status(AlignmentStatus.EVALUATED, stage="done", progress=100.0,
                       completed_at=utcnow(), estimated_completion=utcnow())
        job.event(EventType.COMPLETED)
        return AlignmentStatus.EVALUATED
    except Cancelled:
        if job.interrupted():
            log.info("alignment %s interrupted in %s; it will resume", job.spec.id, current)
            return None
        job.set_status(AlignmentStatus.FAILED, error="cancelled", completed_at=utcnow())
        job.event(EventType.CANCELLED, current)
        return AlignmentStatus.FAILED
    except Exception as exc:  # the runner turns every failure into a readable status
        message = exc.message if isinstance(exc, DomalignError) else f"{type(exc).__name__}: {exc}"
        log.error("alignment %s failed in %s:\n%s", job.spec.id, current, traceback.format_exc())
        job.set_status(AlignmentStatus.FAILED, error=f"{current} stage failed: {message}",
                       completed_at=utcnow())
        job.event(EventType.ERROR, current, message=message)
        return AlignmentStatus.FAILED
