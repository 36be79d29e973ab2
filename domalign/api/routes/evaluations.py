from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.schemas.evaluations import (
    EvaluationCreate,
    EvaluationCreated,
    EvaluationInfo,
    EvaluationList,
    EvaluationResults,
)
from domalign.workflow import evaluations
from domalign.workflow.evaluations import EvaluationRequest

router = APIRouter(prefix="/evaluations", tags=["evaluations"])


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def create_evaluation(ctx: Ctx, user: CurrentUser, body: EvaluationCreate) -> EvaluationCreated:
    row = evaluations.create_evaluation(ctx, user.id, EvaluationRequest(**body.model_dump()))
    return EvaluationCreated(id=row.id, status=row.status)


@router.get("")
def list_evaluations(
    ctx: Ctx, user: CurrentUser, model_id: Annotated[str | None, Query(description="Only those scoring it.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
) -> EvaluationList:
    rows, total = evaluations.list_evaluations(ctx, user.id, model_id, offset, limit)
    return EvaluationList(evaluations=[EvaluationInfo.of(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/{eval_id}/status")
def evaluation_status(ctx: Ctx, user: CurrentUser, eval_id: str) -> EvaluationInfo:
    return EvaluationInfo.of(evaluations.get_evaluation(ctx, user.id, eval_id))


@router.get("/{eval_id}/results")
def evaluation_results(ctx: Ctx, user: CurrentUser, eval_id: str) -> EvaluationResults:
    return EvaluationResults.of(evaluations.get_results(ctx, user.id, eval_id))


@router.get("/{eval_id}/download", responses={200: {"content": {"application/json": {}}}})
def evaluation_download(ctx: Ctx, user: CurrentUser, eval_id: str) -> Response:
    """Per-question rows as a JSON file: question, expected, answer, correct, confidence, violation, evidence
    (and ``…_2`` with ``flip`` for a comparison)."""
    row, details = evaluations.load_details(ctx, user.id, eval_id)
    body = {"id": row.id, "model_id": row.model_id, "model_id_2": row.model_id_2, "benchmark_id": row.benchmark_id,
            "questions": evaluations.question_rows(details)}
    return Response(json.dumps(body, indent=1), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{row.id}.json"'})
