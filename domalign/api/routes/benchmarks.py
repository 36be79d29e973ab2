from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.routes.documents import read_limited
from domalign.api.schemas.benchmarks import (
    BenchmarkCreate,
    BenchmarkCreated,
    BenchmarkData,
    BenchmarkInfo,
    BenchmarkItemIn,
    BenchmarkItemOut,
    BenchmarkList,
)
from domalign.errors import InvalidInput
from domalign.workflow import benchmarks, documents

router = APIRouter(prefix="/benchmark", tags=["benchmarks"])

_ITEMS = TypeAdapter(list[BenchmarkItemIn])


def parse_items(data: bytes) -> list[BenchmarkItemIn]:
    """Parse an uploaded JSON array; name the first bad item's index and field in the error."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"benchmark file is not valid JSON: {exc}") from exc
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("benchmark file must be a non-empty JSON array of {question, answer, choices?}")
    try:
        return _ITEMS.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        index, *field = first["loc"]
        where = f"item {index}" + (f", field '{field[0]}'" if field else "")
        raise InvalidInput(f"benchmark {where}: {first['msg']}") from exc


@router.post("/create", status_code=status.HTTP_202_ACCEPTED)
def create_benchmark(ctx: Ctx, user: CurrentUser, body: BenchmarkCreate) -> BenchmarkCreated:
    row = benchmarks.create_generated(ctx, user.id, body.document_ids, body.num_questions, body.name)
    return BenchmarkCreated(id=row.id, status=row.status)


@router.post("/upload", status_code=status.HTTP_201_CREATED)
async def upload_benchmark(
    ctx: Ctx,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="JSON array of {question, answer, choices?}.")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    document_id: Annotated[str | None, Form()] = None,
    description: Annotated[str | None, Form()] = None,
) -> BenchmarkCreated:
    items = parse_items(await read_limited(file, ctx.settings.max_upload_bytes))
    doc_ids = [document_id] if document_id else []
    if document_id:
        documents.get_document(ctx, user.id, document_id)
    row = await run_in_threadpool(
        benchmarks.save_items, ctx, user.id, [i.to_item() for i in items], name=name, source="uploaded",
        doc_ids=doc_ids, description=description,
    )
    return BenchmarkCreated(id=row.id, status=row.status)


@router.get("/status/{benchmark_id}")
def benchmark_status(ctx: Ctx, user: CurrentUser, benchmark_id: str) -> BenchmarkInfo:
    return BenchmarkInfo.of(benchmarks.get_benchmark(ctx, user.id, benchmark_id))


@router.get("/list")
def list_benchmarks(ctx: Ctx, user: CurrentUser) -> BenchmarkList:
    return BenchmarkList(benchmarks=[BenchmarkInfo.of(b) for b in benchmarks.list_benchmarks(ctx, user.id)])


@router.get("/{benchmark_id}/data")
def benchmark_data(ctx: Ctx, user: CurrentUser, benchmark_id: str) -> BenchmarkData:
    items = benchmarks.load_items(ctx, user.id, benchmark_id)
    out = [BenchmarkItemOut(question=i.question, answer=i.answer, choices=list(i.choices) if i.choices else None,
                            kind=i.kind) for i in items]
    return BenchmarkData(id=benchmark_id, items=out)


@router.delete("/{benchmark_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_benchmark(ctx: Ctx, user: CurrentUser, benchmark_id: str) -> None:
    benchmarks.delete_benchmark(ctx, user.id, benchmark_id)
