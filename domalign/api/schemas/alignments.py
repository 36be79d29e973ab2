"""Alignment schemas. ``AlignmentStatusResponse`` is exactly the seed's shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domalign.api.schemas import iso
from domalign.store.tables import Alignment
from domalign.train.config import TrainingConfig
from domalign.workflow.events import AlignmentEvent
from domalign.workflow.options import EvaluationOptions, SynthesisOptions, check_grounded_fit

StatusValue = Literal["pending", "completed", "deploying", "evaluating", "undeployed", "evaluated", "failed"]
ProjectStatus = Literal["PENDING", "COMPLETED", "DEPLOYING", "EVALUATING", "UNDEPLOYED", "EVALUATED", "FAILED"]


def _omit_none(value: Any) -> bool:
    return value is None


class AlignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    base_model: str = Field(description="A base model id from GET /api/v3/models/base.")
    document_ids: list[str] = Field(min_length=1)
    workflow_id: str | None = None
    benchmark_id: str | None = Field(default=None, description="Evaluate on this benchmark instead of a generated one.")
    description: str | None = None
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    synthesis: SynthesisOptions = Field(default_factory=SynthesisOptions)
    evaluation: EvaluationOptions = Field(default_factory=EvaluationOptions)

    @model_validator(mode="after")
    def _grounded_items_fit(self) -> AlignmentCreate:
        check_grounded_fit(self.training, self.synthesis)
        return self


class AlignmentCreated(BaseModel):
    id: str
    status: StatusValue


class PerformanceMetrics(BaseModel):
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    uncertainty_before: float | None = None
    uncertainty_after: float | None = None
    domain_violations_before: int | None = None
    domain_violations_after: int | None = None


class EvaluationResults(BaseModel):
    accuracy: float | None = None
    total_questions: int | None = None
    mc_accuracy: float | None = None
    freeform_accuracy: float | None = None


class AlignmentProject(BaseModel):
    """Every field is optional so that the seed's short example validates too."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str | None = None
    description: str | None = None
    base_model: str | None = None
    status: ProjectStatus | None = None
    created_date: str | None = None
    completed_date: str | None = None
    documents: list[str] | None = None
    document_count: int | None = None
    creator: str | None = None
    progress: float | None = None
    stage: str | None = None
    estimated_completion: str | None = None
    queue_position: int | None = Field(default=None, exclude_if=_omit_none)
    error: str | None = None
    evaluation_id: str | None = None
    model_id: str | None = None
    aligned_model_id: str | None = Field(default=None, exclude_if=_omit_none)
    performance_metrics: PerformanceMetrics | None = None
    evaluation_results: EvaluationResults | None = None
    report: dict[str, Any] | None = None
    workflow_id: str | None = None
    benchmark_id: str | None = None

    @classmethod
    def of(cls, row: Alignment, creator: str, queue_position: int | None = None) -> AlignmentProject:
        return cls(
            id=row.id, name=row.name, description=row.description, base_model=row.base_model,
            status=row.status.upper(), created_date=iso(row.created_at), completed_date=iso(row.completed_at),
            documents=row.document_ids, document_count=len(row.document_ids), creator=creator,
            progress=row.progress, stage=row.stage, estimated_completion=iso(row.estimated_completion),
            queue_position=queue_position, error=row.error, evaluation_id=row.evaluation_id,
            model_id=row.model_id, aligned_model_id=row.model_id,
            performance_metrics=row.performance_metrics, evaluation_results=row.evaluation_results,
            report=row.report or None, workflow_id=row.workflow_id, benchmark_id=row.benchmark_id,
        )


class AlignmentStatusResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StatusValue
    data: AlignmentProject | None
    start_time: str | None
    end_time: str | None


class AlignmentList(BaseModel):
    alignment_projects: list[AlignmentProject]
    total: int
    offset: int
    limit: int


class EventList(BaseModel):
    events: list[AlignmentEvent]
    next_after: int
