"""Evaluations: one model, or two side by side, scored on a benchmark (the evaluations API).

A standalone evaluation is a job the worker claims like a benchmark generation.
An alignment's own evaluation is the same row and the same file, base model vs
aligned model, written by its evaluate stage (:func:`record_comparison`), so
the API reads both the same way. The file holds every model's summary and
per-question rows; the row keeps the summaries and the flip counts for listing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from domalign.corpus_words import CorpusWords
from domalign.domain import Chunk
from domalign.errors import BadRequest, NotFound
from domalign.ids import new_id
from domalign.store.tables import AlignedModel, Evaluation, utcnow
from domalign.workflow import benchmarks
from domalign.workflow.catalog import list_base_models
from domalign.workflow.context import Context
from domalign.workflow.documents import load_chunks
from domalign.workflow.job import artifact_key
from domalign.workflow.ownership import load_owned

PENDING, RUNNING, COMPLETED, FAILED = "PENDING", "RUNNING", "COMPLETED", "FAILED"
PROGRESS_WRITE_S = 1.0


@dataclass(frozen=True)
class EvaluationRequest:
    model_id: str
    benchmark_id: str
    model_id_2: str | None = None
    grounded: bool = False


@dataclass(frozen=True)
class ModelRef:
    """What to load for a model id: a catalog base model, plus an adapter for an aligned model."""

    base_id: str
    adapter_key: str | None = None
    alignment_id: str | None = None


def resolve_model(ctx: Context, owner_id: str, model_id: str) -> ModelRef:
    """An aligned model of ``owner_id`` or a catalog base model; 404 otherwise (another user's too)."""
    with ctx.db.session() as session:
        aligned = session.get(AlignedModel, model_id)
        if aligned is not None and aligned.owner_id == owner_id:
            return ModelRef(aligned.base_model, aligned.adapter_key, aligned.alignment_id)
    if any(m.id == model_id and m.alignment_ready for m in list_base_models(ctx)):
        return ModelRef(model_id)
    raise NotFound(f"model '{model_id}' not found; GET /api/v3/models/base and /models/aligned list yours")


def create_evaluation(ctx: Context, owner_id: str, request: EvaluationRequest) -> Evaluation:
    """Queue an evaluation; 404 for an unknown or foreign model or benchmark, 409 for an unfinished benchmark."""
    for model_id in filter(None, (request.model_id, request.model_id_2)):
        resolve_model(ctx, owner_id, model_id)
    items = benchmarks.load_items(ctx, owner_id, request.benchmark_id)
    if request.model_id_2 == request.model_id:
        raise BadRequest("model_id_2 is the same model as model_id; leave it out to score one model")
    eval_id = new_id("eval")
    row = Evaluation(
        id=eval_id, owner_id=owner_id, model_id=request.model_id, model_id_2=request.model_id_2,
        benchmark_id=request.benchmark_id, grounded=request.grounded, status=PENDING,
        questions_total=len(items) * (2 if request.model_id_2 else 1), details_key=f"evaluations/{eval_id}.json",
    )
    with ctx.db.session() as session:
        session.add(row)
    return row


def get_evaluation(ctx: Context, owner_id: str, eval_id: str) -> Evaluation:
    with ctx.db.session() as session:
        return load_owned(session, Evaluation, eval_id, owner_id, "evaluation")


def list_evaluations(
    ctx: Context, owner_id: str, model_id: str | None, offset: int, limit: int
) -> tuple[list[Evaluation], int]:
    """Newest first; ``model_id`` keeps those that score that model (as either model)."""
    where = [Evaluation.owner_id == owner_id]
    if model_id:
        where.append(or_(Evaluation.model_id == model_id, Evaluation.model_id_2 == model_id))
    with ctx.db.session() as session:
        total = session.scalar(select(func.count()).select_from(Evaluation).where(*where))
        rows = session.scalars(select(Evaluation).where(*where).order_by(Evaluation.id.desc())
                               .offset(offset).limit(limit)).all()
    return list(rows), total


def eta(row: Evaluation) -> datetime | None:
    """Extrapolated from the questions done since the job started; None before the first batch."""
    if row.status != RUNNING or not row.started_at or not row.questions_done or not row.questions_total:
        return None
    started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
    elapsed = (utcnow() - started).total_seconds()
    remaining = elapsed * (row.questions_total - row.questions_done) / row.questions_done
    return utcnow() + timedelta(seconds=remaining)


def get_results(ctx: Context, owner_id: str, eval_id: str) -> Evaluation:
    """A completed evaluation; 400 until then."""
    row = get_evaluation(ctx, owner_id, eval_id)
    if row.status != COMPLETED:
        raise BadRequest(f"evaluation '{eval_id}' is {row.status}; its results are not ready"
                         + (f": {row.error}" if row.error else ""))
    return row


def load_details(ctx: Context, owner_id: str, eval_id: str) -> tuple[Evaluation, dict]:
    """The evaluation and its file; 400 until it has completed."""
    row = get_results(ctx, owner_id, eval_id)
    details = ctx.blobs.read_json(row.details_key)
    if "models" not in details:
        raise BadRequest(f"evaluation '{eval_id}' was recorded by an older version: only its summary is kept "
                         "(GET …/results); per-question detail is not available")
    return row, details


def question_rows(details: dict) -> list[dict]:
    """One flat row per question: the first model's answer, then the second's and the flip, if any."""
    fields = ("answer", "correct", "confidence", "violation", "evidence")
    models = details["models"]
    rows = []
    for position, first in enumerate(models[0]["results"]):
        row = {"index": first["index"], "question": first["question"], "expected": first["expected"],
               **{name: first[name] for name in fields}}
        if len(models) > 1:
            second = models[1]["results"][position]
            row.update({f"{name}_2": second[name] for name in fields})
            row["flip"] = _flip(first["correct"], second["correct"])
        rows.append(row)
    return rows


def _flip(before: bool, after: bool) -> str | None:
    return "wrong_to_right" if after and not before else "right_to_wrong" if before and not after else None


def report_dict(report: Any) -> dict:
    """An ``EvaluationReport`` as the file stores it."""
    return {"summary": asdict(report.summary), "results": [asdict(r) for r in report.results]}


def write_details(ctx: Context, key: str, models: list[dict]) -> dict:
    """Write the file (``{"models": [{summary, results}, …]}``, in the row's model order); return the row's summary."""
    details = {"models": models}
    ctx.blobs.write_json(key, details)
    summary: dict[str, Any] = {"summaries": [m["summary"] for m in models]}
    if len(models) > 1:
        flips = [r["flip"] for r in question_rows(details)]
        summary["flips"] = {"wrong_to_right": flips.count("wrong_to_right"),
                            "right_to_wrong": flips.count("right_to_wrong")}
    return summary


def record_comparison(
    ctx: Context, *, owner_id: str, alignment_id: str, benchmark_id: str, base_model: str,
    before: dict, after: dict, replaces: str | None,
) -> str:
    """An alignment's evaluation: base model vs the aligned model, whose id ``model_id_2`` gets at registration."""
    eval_id = new_id("eval")
    key = artifact_key(alignment_id, "evaluation.json")
    summary = write_details(ctx, key, [before, after])
    total = sum(s["total_questions"] for s in summary["summaries"])
    with ctx.db.session() as session:
        if replaces and (stale := session.get(Evaluation, replaces)) is not None:  # recorded before a crash
            session.delete(stale)
        session.add(Evaluation(
            id=eval_id, owner_id=owner_id, model_id=base_model, benchmark_id=benchmark_id,
            alignment_id=alignment_id, status=COMPLETED, questions_done=total, questions_total=total,
            summary=summary, details_key=key, started_at=utcnow(), completed_at=utcnow(),
        ))
    return eval_id


@contextmanager
def with_adapter(base: Any, adapter_dir: Path | None) -> Iterator[Any]:
    """The base model, with the adapter applied when given; the base is restored afterwards (it is cached)."""
    if adapter_dir is None:
        yield base
        return
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, str(adapter_dir))
    try:
        yield model
    finally:
        model.unload()


def run_evaluation(
    ctx: Context, eval_id: str, load_model: Callable[[str], tuple[Any, Any]], interrupted: Callable[[], bool]
) -> None:
    """The worker's job: score each model in turn, write the file, mark the row completed."""
    from domalign.evaluate import evaluate_model
    from domalign.models.adapter_scale import grounded_memory_weight, grounded_scale
    from domalign.routing import routes_general

    with ctx.db.session() as session:
        row = session.get(Evaluation, eval_id)
        row.status, row.started_at, row.questions_done = RUNNING, utcnow(), 0
        owner, bench_id, grounded = row.owner_id, row.benchmark_id, row.grounded
        model_ids, key = [m for m in (row.model_id, row.model_id_2) if m], row.details_key
    items = benchmarks.load_items(ctx, owner, bench_id)
    refs = [resolve_model(ctx, owner, m) for m in model_ids]
    chunks = _evidence_chunks(ctx, owner, bench_id, refs)
    progress = _Progress(ctx, eval_id)
    reports = []
    for position, ref in enumerate(refs):
        base, tokenizer = load_model(ref.base_id)
        adapter = ctx.blobs.fetch(ref.adapter_key) if ref.adapter_key else None
        with with_adapter(base, adapter) as model:
            reports.append(report_dict(evaluate_model(
                model, tokenizer, items, chunks, grounded=grounded, should_stop=interrupted,
                adapter_scale=grounded_scale(adapter), memory_weight=grounded_memory_weight(adapter),
                corpus=CorpusWords.load(adapter), route_general=routes_general(adapter),
                on_progress=lambda done, _total, offset=position * len(items): progress(offset + done),
            )))
    summary = write_details(ctx, key, reports)
    with ctx.db.session() as session:
        row = session.get(Evaluation, eval_id)
        row.status, row.summary, row.completed_at, row.claimed_by = COMPLETED, summary, utcnow(), None
        row.questions_done = row.questions_total


def fail_evaluation(ctx: Context, eval_id: str, error: str) -> None:
    with ctx.db.session() as session:
        row = session.get(Evaluation, eval_id)
        row.status, row.error, row.completed_at, row.claimed_by = FAILED, error, utcnow(), None


class _Progress:
    """Writes questions done to the row, at most once a second."""

    def __init__(self, ctx: Context, eval_id: str) -> None:
        self.ctx, self.eval_id, self._last = ctx, eval_id, 0.0

    def __call__(self, done: int) -> None:
        if time.monotonic() - self._last < PROGRESS_WRITE_S:
            return
        self._last = time.monotonic()
        with self.ctx.db.session() as session:
            session.get(Evaluation, self.eval_id).questions_done = done


def _evidence_chunks(ctx: Context, owner_id: str, benchmark_id: str, refs: list[ModelRef]) -> list[Chunk]:
    """What violations are judged against: the benchmark's documents, else the aligned model's corpus."""
    doc_ids = benchmarks.get_benchmark(ctx, owner_id, benchmark_id).document_ids
    if doc_ids:
        return load_chunks(ctx, list(doc_ids))
    for ref in refs:
        key = artifact_key(ref.alignment_id, "chunks.jsonl") if ref.alignment_id else None
        if key and ctx.blobs.exists(key):
            return [Chunk(**row) for row in ctx.blobs.read_jsonl(key)]
    return []

