"""Typed alignment events with stable codes, stored in the database and served as-is.

The same model feeds the events API, the CLI progress bar and the dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from domalign.status import RUNNING
from domalign.store.tables import Alignment, Event
from domalign.workflow.context import Context
from domalign.workflow.ownership import load_owned


class EventType(StrEnum):
    QUEUED = "queued"
    STAGE_STARTED = "stage_started"
    STAGE_FINISHED = "stage_finished"
    TRAIN_METRICS = "train_metrics"
    CHECKPOINT_SAVED = "checkpoint_saved"
    EVALUATION = "evaluation"
    RESUMED = "resumed"
    COMPLETED = "completed"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELLED = "cancelled"
    ERROR = "error"


class AlignmentEvent(BaseModel):
    id: int
    alignment_id: str
    created_at: datetime
    type: EventType
    stage: str | None = None
    data: dict[str, Any] = {}


def record(session: Session, alignment_id: str, type_: EventType, stage: str | None = None, **data: Any) -> None:
    session.add(Event(alignment_id=alignment_id, type=type_.value, stage=stage, data=data))


def list_events(ctx: Context, owner_id: str, alignment_id: str, after: int, limit: int) -> list[AlignmentEvent]:
    """Events with id greater than ``after``, oldest first (``after`` is the paging cursor)."""
    with ctx.db.session() as session:
        load_owned(session, Alignment, alignment_id, owner_id, "alignment")
        rows = session.scalars(
            select(Event)
            .where(Event.alignment_id == alignment_id, Event.id > after)
            .order_by(Event.id)
            .limit(limit)
        ).all()
    return [AlignmentEvent.model_validate(row, from_attributes=True) for row in rows]


def watch_events(
    ctx: Context, owner_id: str, alignment_id: str, after: int, *, poll_s: float = 0.5, idle_s: float = 15.0,
) -> Iterator[AlignmentEvent | None]:
    """Events after ``after`` as they are recorded, until the job stops running and all are sent.

    Yields ``None`` after ``idle_s`` without an event, so the caller can keep the
    connection alive. An unknown or foreign alignment raises ``NotFound`` before
    the stream starts. Polling the database, not an in-process signal: the worker
    writing the events may be another process or another machine.
    """
    with ctx.db.session() as session:
        load_owned(session, Alignment, alignment_id, owner_id, "alignment")
    return _watch(ctx, owner_id, alignment_id, after, poll_s, idle_s)


def _watch(
    ctx: Context, owner_id: str, alignment_id: str, after: int, poll_s: float, idle_s: float,
) -> Iterator[AlignmentEvent | None]:
    quiet = 0.0
    while True:
        with ctx.db.session() as session:  # status first: an event recorded after it is still read below
            running = session.get(Alignment, alignment_id).status in RUNNING
        items = list_events(ctx, owner_id, alignment_id, after, 500)
        yield from items
        after = items[-1].id if items else after
        if items:
            quiet = 0.0
            continue
        if not running:
            return
        time.sleep(poll_s)
        quiet += poll_s
        if quiet >= idle_s:
            quiet = 0.0
            yield None
