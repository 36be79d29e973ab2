from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.schemas import iso
from domalign.api.schemas.alignments import (
    AlignmentCreate,
    AlignmentCreated,
    AlignmentList,
    AlignmentProject,
    AlignmentStatusResponse,
    EventList,
)
from domalign.workflow import alignments
from domalign.workflow.alignments import AlignmentRequest
from domalign.workflow.events import AlignmentEvent, list_events, watch_events
from domalign.workflow.options import AlignmentOptions


def _project(ctx: Ctx, user: CurrentUser, alignment_id: str) -> tuple:
    row = alignments.get_alignment(ctx, user.id, alignment_id)
    return row, AlignmentProject.of(row, user.name, alignments.queue_position(ctx, row))


def _sse(events: Iterator[AlignmentEvent | None]) -> Iterator[bytes]:
    """``event`` is the event type, ``id`` the cursor, ``data`` the event as JSON; a comment while idle."""
    for item in events:
        if item is None:
            yield KEEPALIVE_COMMENT
        else:
            yield format_sse_event(data_str=item.model_dump_json(), event=item.type.value, id=str(item.id))


def build_router(prefix: str) -> APIRouter:
    """The alignment routes; mounted at /alignment and at the published /alignment-project alias."""
    router = APIRouter(prefix=prefix, tags=["alignment"])

    @router.post("/create", status_code=status.HTTP_201_CREATED)
    def create_alignment(ctx: Ctx, user: CurrentUser, body: AlignmentCreate) -> AlignmentCreated:
        options = AlignmentOptions(training=body.training, synthesis=body.synthesis, evaluation=body.evaluation)
        row = alignments.create_alignment(ctx, user.id, AlignmentRequest(
            name=body.name, base_model=body.base_model, document_ids=list(dict.fromkeys(body.document_ids)),
            options=options, benchmark_id=body.benchmark_id, workflow_id=body.workflow_id,
            description=body.description,
        ))
        return AlignmentCreated(id=row.id, status=row.status)

    @router.get("/status/{alignment_id}")
    def alignment_status(ctx: Ctx, user: CurrentUser, alignment_id: str) -> AlignmentStatusResponse:
        row, project = _project(ctx, user, alignment_id)
        return AlignmentStatusResponse(
            status=row.status, data=project, start_time=iso(row.created_at), end_time=iso(row.completed_at),
        )

    @router.get("")
    def list_alignments(
        ctx: Ctx, user: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
    ) -> AlignmentList:
        rows, total = alignments.list_alignments(ctx, user.id, offset, limit)
        return AlignmentList(alignment_projects=[AlignmentProject.of(r, user.name) for r in rows],
                             total=total, offset=offset, limit=limit)

    @router.get("/{alignment_id}")
    def get_alignment(ctx: Ctx, user: CurrentUser, alignment_id: str) -> AlignmentProject:
        return _project(ctx, user, alignment_id)[1]

    @router.delete("/{alignment_id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_alignment(ctx: Ctx, user: CurrentUser, alignment_id: str) -> None:
        alignments.delete_alignment(ctx, user.id, alignment_id)

    @router.post("/{alignment_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
    def cancel_alignment(ctx: Ctx, user: CurrentUser, alignment_id: str) -> AlignmentProject:
        alignments.cancel_alignment(ctx, user.id, alignment_id)
        return _project(ctx, user, alignment_id)[1]

    @router.get("/{alignment_id}/events", response_model=EventList, responses={200: {"content": {
        "text/event-stream": {"description": "One SSE event per alignment event, live, until the job stops"}}}})
    def alignment_events(
        ctx: Ctx, user: CurrentUser, alignment_id: str,
        after: Annotated[int, Query(ge=0, description="Return events with id above this cursor.")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        accept: Annotated[str, Header()] = "application/json",
        last_event_id: Annotated[int | None, Header(ge=0)] = None,
    ) -> EventList | EventSourceResponse:
        if "text/event-stream" in accept:  # a reconnecting EventSource sends Last-Event-ID
            start = last_event_id if last_event_id is not None else after
            return EventSourceResponse(_sse(watch_events(ctx, user.id, alignment_id, start)))
        items = list_events(ctx, user.id, alignment_id, after, limit)
        return EventList(events=items, next_after=items[-1].id if items else after)

    return router
