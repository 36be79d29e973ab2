"""Alignment use cases: create (queue), read, list, cancel, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update

from domalign.errors import BadRequest, Conflict
from domalign.ids import new_id
from domalign.status import FINISHED, RUNNING, AlignmentStatus
from domalign.store.tables import AlignedModel, Alignment, Benchmark, Evaluation, Event, utcnow
from domalign.workflow import events, webhooks
from domalign.workflow.catalog import get_base_model
from domalign.workflow.context import Context
from domalign.workflow.documents import require_ready_documents
from domalign.workflow.events import EventType
from domalign.workflow.options import AlignmentOptions
from domalign.workflow.ownership import load_owned


@dataclass(frozen=True)
class AlignmentRequest:
    name: str
    base_model: str
    document_ids: list[str]
    options: AlignmentOptions
    benchmark_id: str | None = None
    workflow_id: str | None = None
    description: str | None = None


def create_alignment(ctx: Context, owner_id: str, req: AlignmentRequest) -> Alignment:
    """Validate everything a job will need now, so it cannot fail later for a bad request."""
    get_base_model(ctx, req.base_model)
    require_ready_documents(ctx, owner_id, req.document_ids)
    with ctx.db.session() as session:
        for bench_id in filter(None, [req.benchmark_id, *req.options.evaluation.extra_benchmark_ids]):
            bench = load_owned(session, Benchmark, bench_id, owner_id, "benchmark")
            if bench.status != "completed":
                raise Conflict(f"benchmark '{bench_id}' is {bench.status}; wait until it is completed")
        row = Alignment(
            id=new_id("alignment"), owner_id=owner_id, name=req.name, description=req.description,
            base_model=req.base_model, document_ids=req.document_ids, benchmark_id=req.benchmark_id,
            workflow_id=req.workflow_id or "default", options=req.options.model_dump(mode="json"),
            status=AlignmentStatus.PENDING.value, stage="queued",
        )
        session.add(row)
        session.flush()
        events.record(session, row.id, EventType.QUEUED)
    return row


def get_alignment(ctx: Context, owner_id: str, alignment_id: str) -> Alignment:
    with ctx.db.session() as session:
        return load_owned(session, Alignment, alignment_id, owner_id, "alignment")


def list_alignments(ctx: Context, owner_id: str, offset: int, limit: int) -> tuple[list[Alignment], int]:
    """A page of the user's alignments, newest first, and the total count."""
    with ctx.db.session() as session:
        where = Alignment.owner_id == owner_id
        total = session.scalar(select(func.count()).select_from(Alignment).where(where))
        rows = session.scalars(
            select(Alignment).where(where).order_by(Alignment.id.desc()).offset(offset).limit(limit)
        ).all()
    return list(rows), int(total or 0)


def queue_position(ctx: Context, alignment: Alignment) -> int | None:
    """How many queued alignments were created before this one (None once it runs)."""
    if alignment.status != AlignmentStatus.PENDING or alignment.stage != "queued":
        return None
    with ctx.db.session() as session:
        return int(session.scalar(
            select(func.count()).select_from(Alignment).where(
                Alignment.status == AlignmentStatus.PENDING.value,
                Alignment.stage == "queued",
                Alignment.id < alignment.id,
            )
        ) or 0)


def cancel_alignment(ctx: Context, owner_id: str, alignment_id: str) -> Alignment:
    """Cancel a queued job at once, or ask the running worker to stop; 409 once finished.

    A job nobody works on (never claimed, or its worker's lease ran out) fails in
    one compare-and-set, so a worker cannot claim it in between.
    """
    stale = utcnow() - timedelta(seconds=ctx.settings.worker_lease_s)
    with ctx.db.session() as session:
        row = load_owned(session, Alignment, alignment_id, owner_id, "alignment")
        if row.status in FINISHED:
            raise Conflict(f"alignment '{alignment_id}' is already {row.status}; nothing to cancel")
        row.cancel_requested = True
        events.record(session, row.id, EventType.CANCEL_REQUESTED, row.stage)
        session.flush()
        unclaimed = or_(Alignment.claimed_by.is_(None), Alignment.heartbeat_at < stale)
        failed = session.execute(
            update(Alignment).where(Alignment.id == alignment_id, Alignment.status.in_(list(RUNNING)), unclaimed)
            .values(status=AlignmentStatus.FAILED.value, error="cancelled", completed_at=utcnow(), claimed_by=None)
            # no in-Python evaluation against the loaded row (SQLite hands back naive datetimes); refreshed below
            .execution_options(synchronize_session=False)
        ).rowcount
        previous = row.status
        session.refresh(row)
        if failed:  # the bulk update bypassed the session hook that queues webhooks
            events.record(session, row.id, EventType.CANCELLED, row.stage)
            webhooks.queue_status_change(session, row, previous)
    return row


def delete_alignment(ctx: Context, owner_id: str, alignment_id: str) -> None:
    """Delete a finished alignment with its files, events and evaluations; 409 while running, 400 while deployed.

    A benchmark the alignment generated stays: it is the user's, listed with their benchmarks.
    """
    with ctx.db.session() as session:
        row = load_owned(session, Alignment, alignment_id, owner_id, "alignment")
        if row.status in RUNNING or row.status == AlignmentStatus.DEPLOYING:
            raise Conflict(f"alignment '{alignment_id}' is {row.status}; cancel it before deleting")
        model = session.get(AlignedModel, row.model_id) if row.model_id else None
        if model is not None and model.deployment_status != "UNDEPLOYED":
            raise BadRequest(f"alignment '{alignment_id}' is deployed; undeploy model {model.id} first")
        if model is not None:
            session.delete(model)
        session.execute(delete(Event).where(Event.alignment_id == alignment_id))
        session.execute(delete(Evaluation).where(Evaluation.alignment_id == alignment_id))
        session.delete(row)
    ctx.blobs.delete(f"alignments/{alignment_id}")
    if model is not None:
        ctx.blobs.delete(f"exports/{model.id}")
