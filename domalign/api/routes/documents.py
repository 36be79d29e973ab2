from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from starlette.concurrency import run_in_threadpool

from domalign.api.deps import Ctx, CurrentUser
from domalign.api.schemas.documents import (
    DocumentInfo,
    DocumentList,
    DocumentUploadResponse,
)
from domalign.errors import InvalidInput, PayloadTooLarge
from domalign.workflow import documents
from domalign.workflow.documents import Upload

router = APIRouter(prefix="/documents", tags=["documents"])

READ_BLOCK = 1 << 20


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    """Read an upload, stopping as soon as it passes the limit rather than buffering it all."""
    parts, size = [], 0
    while block := await upload.read(READ_BLOCK):
        size += len(block)
        if size > limit:
            raise PayloadTooLarge(
                f"file '{upload.filename}' is over {limit / 2**20:g} MB, the upload limit "
                "(raise it with DOMALIGN_MAX_UPLOAD_MB)"
            )
        parts.append(block)
    return b"".join(parts)


def _categories(raw: list[str] | None) -> list[str]:
    return [c.strip() for item in raw or [] for c in item.split(",") if c.strip()]


@router.post("", status_code=status.HTTP_200_OK)
async def upload_documents(
    ctx: Ctx,
    user: CurrentUser,
    files: Annotated[list[UploadFile], File(description="One or more txt, md, html, pdf or docx files.")],
    categories: Annotated[list[str] | None, Form(description="Labels, repeated or comma-separated.")] = None,
) -> DocumentUploadResponse:
    uploads = []
    for file in files:
        data = await read_limited(file, ctx.settings.max_upload_bytes)
        if not file.filename:
            raise InvalidInput("every uploaded file needs a filename")
        uploads.append(Upload(file.filename, file.content_type, data))
    # parsing a large PDF and fsyncing its blobs must not stall the event loop
    ids = await run_in_threadpool(documents.upload_documents, ctx, user.id, uploads, _categories(categories))
    return DocumentUploadResponse(document_ids=ids)


@router.get("")
def list_documents(ctx: Ctx, user: CurrentUser) -> DocumentList:
    return DocumentList(documents=[DocumentInfo.of(d, user.name) for d in documents.list_documents(ctx, user.id)])


@router.get("/{doc_id}")
def get_document(ctx: Ctx, user: CurrentUser, doc_id: str) -> DocumentInfo:
    return DocumentInfo.of(documents.get_document(ctx, user.id, doc_id), user.name)


@router.delete("/{doc_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(ctx: Ctx, user: CurrentUser, doc_id: str) -> None:
    documents.delete_document(ctx, user.id, doc_id)
