"""Document use cases: upload (parse, dedupe, chunk, store), list, get, delete."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from domalign.domain import Chunk
from domalign.errors import Conflict
from domalign.ids import new_id
from domalign.ingest import chunk_text, parse_document
from domalign.status import RUNNING
from domalign.store.tables import Alignment, ChunkRow, Document
from domalign.workflow.context import Context
from domalign.workflow.ownership import load_owned


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str | None
    data: bytes


def upload_documents(ctx: Context, owner_id: str, files: list[Upload], categories: list[str]) -> list[str]:
    """Store each file once per user; return ids in upload order.

    Every file is parsed before anything is written, so one bad file rejects the
    whole request and leaves no partial state behind.
    """
    prepared = []
    for upload in files:
        digest = hashlib.sha256(upload.data).hexdigest()
        parsed = parse_document(upload.filename, upload.content_type, upload.data)
        prepared.append((upload, digest, parsed))
    ids: list[str] = []
    with ctx.db.session() as session:
        for upload, digest, parsed in prepared:
            existing = session.scalar(
                select(Document).where(Document.owner_id == owner_id, Document.content_sha256 == digest)
            )
            if existing is not None:
                ids.append(existing.id)
                continue
            doc_id = new_id("doc")
            chunks = chunk_text(doc_id, parsed.text)
            ctx.blobs.write_bytes(f"documents/{doc_id}/original", upload.data)
            ctx.blobs.write_bytes(f"documents/{doc_id}/text.txt", parsed.text.encode())
            session.add(
                Document(
                    id=doc_id, owner_id=owner_id, filename=upload.filename, type=parsed.type,
                    size=len(upload.data), content_sha256=digest, categories=categories,
                    status="ready", processing_progress=100.0, chunk_count=len(chunks),
                )
            )
            session.flush()
            session.add_all(ChunkRow(id=c.id, document_id=doc_id, index=c.index, text=c.text) for c in chunks)
            session.flush()
            ids.append(doc_id)
    return ids


def list_documents(ctx: Context, owner_id: str) -> list[Document]:
    with ctx.db.session() as session:
        query = select(Document).where(Document.owner_id == owner_id).order_by(Document.id.desc())
        return list(session.scalars(query).all())


def get_document(ctx: Context, owner_id: str, doc_id: str) -> Document:
    with ctx.db.session() as session:
        return load_owned(session, Document, doc_id, owner_id, "document")


def require_ready_documents(ctx: Context, owner_id: str, doc_ids: list[str]) -> None:
    """Raise NotFound for a missing or foreign id, Conflict for a document that is not ready."""
    with ctx.db.session() as session:
        for doc_id in doc_ids:
            doc = load_owned(session, Document, doc_id, owner_id, "document")
            if doc.status != "ready":
                raise Conflict(f"document '{doc_id}' is {doc.status}, not ready")


def load_chunks(ctx: Context, doc_ids: list[str]) -> list[Chunk]:
    """All chunks of the given documents, in document order then chunk order."""
    with ctx.db.session() as session:
        rows = session.scalars(select(ChunkRow).where(ChunkRow.document_id.in_(doc_ids))).all()
    order = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    rows = sorted(rows, key=lambda r: (order[r.document_id], r.index))
    return [Chunk(id=r.id, document_id=r.document_id, index=r.index, text=r.text) for r in rows]


def delete_document(ctx: Context, owner_id: str, doc_id: str) -> None:
    """Delete a document, unless an alignment that is still running uses it (409)."""
    with ctx.db.session() as session:
        doc = load_owned(session, Document, doc_id, owner_id, "document")
        running = session.scalars(
            select(Alignment).where(Alignment.owner_id == owner_id, Alignment.status.in_(list(RUNNING)))
        ).all()
        users = [a.id for a in running if doc_id in a.document_ids]
        if users:
            raise Conflict(f"document '{doc_id}' is used by running alignment {users[0]}; cancel it first")
        session.query(ChunkRow).filter(ChunkRow.document_id == doc_id).delete()
        session.delete(doc)
    ctx.blobs.delete(f"documents/{doc_id}")


