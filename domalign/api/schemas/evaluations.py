"""Evaluation schemas: create, status with progress, results with flips, the list."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domalign.api.schemas import iso
from domalign.evaluate.metrics import EvaluationSummary
from domalign.store.tables import Evaluation
from domalign.workflow.evaluations import eta

EvaluationStatusValue = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED"]


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str = Field(description="An aligned model (`model_…`) or a base model of the catalog.")
    benchmark_id: str
    model_id_2: str | None = Field(default=None, description="A second model, scored side by side with flips.")
    grounded: bool = Field(default=False, description="Put the retrieved passages in front of each question.")


class EvaluationCreated(BaseModel):
    id: str
    status: EvaluationStatusValue


class Progress(BaseModel):
    questions_done: int
    questions_total: int = Field(description="Benchmark questions × models.")
    percent: float


class EvaluationInfo(BaseModel):
    id: str
    status: EvaluationStatusValue
    model_id: str
    model_id_2: str | None
    benchmark_id: str
    alignment_id: str | None = Field(description="Set for an alignment's own evaluation (base vs aligned).")
    grounded: bool
    progress: Progress
    estimated_completion: str | None
    error: str | None
    created_at: str
    start_time: str | None
    end_time: str | None

    @classmethod
    def of(cls, row: Evaluation) -> EvaluationInfo:
        total = row.questions_total
        return cls(
            id=row.id, status=row.status, model_id=row.model_id, model_id_2=row.model_id_2,
            benchmark_id=row.benchmark_id, alignment_id=row.alignment_id, grounded=row.grounded,
            progress=Progress(questions_done=row.questions_done, questions_total=total,
                              percent=round(100.0 * row.questions_done / total, 1) if total else 0.0),
            estimated_completion=iso(eta(row)), error=row.error, created_at=iso(row.created_at),
            start_time=iso(row.started_at), end_time=iso(row.completed_at),
        )


class Flips(BaseModel):
    wrong_to_right: int = Field(description="Questions the first model missed and the second got right.")
    right_to_wrong: int


class EvaluationResults(BaseModel):
    id: str
    model_id: str
    model_id_2: str | None
    benchmark_id: str
    grounded: bool
    summary: EvaluationSummary
    summary_2: EvaluationSummary | None = None
    flips: Flips | None = None

    @classmethod
    def of(cls, row: Evaluation) -> EvaluationResults:
        summaries = row.summary["summaries"]
        return cls(id=row.id, model_id=row.model_id, model_id_2=row.model_id_2, benchmark_id=row.benchmark_id,
                   grounded=row.grounded, summary=summaries[0], summary_2=summaries[1] if len(summaries) > 1 else None,
                   flips=row.summary.get("flips"))


class EvaluationList(BaseModel):
    evaluations: list[EvaluationInfo]
    total: int
    offset: int
    limit: int
