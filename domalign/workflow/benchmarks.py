"""Benchmark use cases: generate from documents (a queued job), upload, read, delete."""

from __future__ import annotations

from sqlalchemy import select

from domalign.domain import (
    BenchmarkItem,
    benchmark_item_from_dict,
    benchmark_item_to_dict,
)
from domalign.errors import Conflict
from domalign.ids import new_id
from domalign.status import RUNNING
from domalign.store.tables import Alignment, Benchmark, utcnow
from domalign.workflow.context import Context
from domalign.workflow.documents import load_chunks, require_ready_documents
from domalign.workflow.ownership import load_owned


def _items_key(benchmark_id: str) -> str:
    return f"benchmarks/{benchmark_id}/items.json"


def create_generated(
    ctx: Context, owner_id: str, doc_ids: list[str], num_questions: int, name: str | None
) -> Benchmark:
    """Queue the generation of a benchmark from documents; the worker fills it in."""
    require_ready_documents(ctx, owner_id, doc_ids)
    row = Benchmark(
        id=new_id("benchmark"), owner_id=owner_id, name=name or "generated benchmark",
        source="generated", status="pending", document_ids=doc_ids, num_questions=num_questions,
    )
    with ctx.db.session() as session:
        session.add(row)
    return row


def save_items(
    ctx: Context, owner_id: str, items: list[BenchmarkItem], *, name: str, source: str,
    doc_ids: list[str], description: str | None = None,
) -> Benchmark:
    """Store a finished benchmark (uploaded, or made by an alignment)."""
    row = Benchmark(
        id=new_id("benchmark"), owner_id=owner_id, name=name, description=description, source=source,
        status="completed", document_ids=doc_ids, num_questions=len(items), item_count=len(items),
        completed_at=utcnow(),
    )
    ctx.blobs.write_json(_items_key(row.id), [benchmark_item_to_dict(i) for i in items])
    with ctx.db.session() as session:
        session.add(row)
    return row


def run_generation(ctx: Context, benchmark_id: str) -> None:
    """The worker's job for a generated benchmark: synthesize items and mark it completed."""
    from domalign.synth import generate_benchmark

    with ctx.db.session() as session:
        row = session.get(Benchmark, benchmark_id)
        row.status = "running"
        doc_ids, count = list(row.document_ids), row.num_questions
    items = generate_benchmark(load_chunks(ctx, doc_ids), count)
    ctx.blobs.write_json(_items_key(benchmark_id), [benchmark_item_to_dict(i) for i in items])
    with ctx.db.session() as session:
        row = session.get(Benchmark, benchmark_id)
        row.status, row.item_count, row.completed_at, row.claimed_by = "completed", len(items), utcnow(), None


def fail_generation(ctx: Context, benchmark_id: str, error: str) -> None:
    with ctx.db.session() as session:
        row = session.get(Benchmark, benchmark_id)
        row.status, row.error, row.completed_at, row.claimed_by = "failed", error, utcnow(), None


def get_benchmark(ctx: Context, owner_id: str, benchmark_id: str) -> Benchmark:
    with ctx.db.session() as session:
        return load_owned(session, Benchmark, benchmark_id, owner_id, "benchmark")


def list_benchmarks(ctx: Context, owner_id: str) -> list[Benchmark]:
    with ctx.db.session() as session:
        query = select(Benchmark).where(Benchmark.owner_id == owner_id).order_by(Benchmark.id.desc())
        return list(session.scalars(query).all())


def load_items(ctx: Context, owner_id: str, benchmark_id: str) -> list[BenchmarkItem]:
    """Items of a completed benchmark; Conflict while it is still being generated."""
    row = get_benchmark(ctx, owner_id, benchmark_id)
    if row.status != "completed":
        raise Conflict(f"benchmark '{benchmark_id}' is {row.status}; its data is not ready yet")
    return [benchmark_item_from_dict(r) for r in ctx.blobs.read_json(_items_key(benchmark_id))]


def delete_benchmark(ctx: Context, owner_id: str, benchmark_id: str) -> None:
    """Delete a benchmark unless a running alignment evaluates on it (409)."""
    with ctx.db.session() as session:
        row = load_owned(session, Benchmark, benchmark_id, owner_id, "benchmark")
        running = session.scalars(
            select(Alignment).where(Alignment.owner_id == owner_id, Alignment.status.in_(list(RUNNING)))
        ).all()
        in_use = [a.id for a in running if benchmark_id == a.benchmark_id
                  or benchmark_id in a.options.get("evaluation", {}).get("extra_benchmark_ids", [])]
        if in_use:
            raise Conflict(f"benchmark '{benchmark_id}' is used by running alignment {in_use[0]}; cancel it first")
        if row.status in ("pending", "running"):
            raise Conflict(f"benchmark '{benchmark_id}' is still being generated")
        session.delete(row)
    ctx.blobs.delete(f"benchmarks/{benchmark_id}")
