from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from domalign.api.schemas import iso
from domalign.store.tables import Document


class DocumentInfo(BaseModel):
    id: str
    filename: str
    type: str
    size: int
    upload_date: str
    status: Literal["processing", "ready", "failed"]
    categories: list[str]
    uploader: str
    processing_progress: float
    chunk_count: int
    error: str | None = None

    @classmethod
    def of(cls, row: Document, uploader: str) -> DocumentInfo:
        return cls(
            id=row.id, filename=row.filename, type=row.type, size=row.size, upload_date=iso(row.upload_date),
            status=row.status, categories=row.categories, uploader=uploader,
            processing_progress=row.processing_progress, chunk_count=row.chunk_count, error=row.error,
        )


class DocumentUploadResponse(BaseModel):
    document_ids: list[str]


class DocumentList(BaseModel):
    documents: list[DocumentInfo]
