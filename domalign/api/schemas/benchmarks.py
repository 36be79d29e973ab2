from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domalign.api.schemas import iso
from domalign.domain import BenchmarkItem
from domalign.store.tables import Benchmark


class BenchmarkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[str] | None = Field(default=None, description="Document ids (alias of document_ids).")
    document_ids: list[str] | None = Field(default=None, description="Document ids to draw questions from.")
    num_questions: int = Field(default=50, ge=1, le=5000)
    name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_document_list(self) -> BenchmarkCreate:
        ids = self.document_ids or self.documents
        if not ids:
            raise ValueError("give 'document_ids' (or 'documents') with at least one document id")
        self.document_ids = list(dict.fromkeys(ids))
        return self


class BenchmarkItemIn(BaseModel):
    """One uploaded question; multiple choice when ``choices`` is given."""

    question: str = Field(min_length=1, description="The question, or for a cloze item the text to continue.")
    answer: str = Field(min_length=1)
    choices: list[str] | None = None
    kind: Literal["qa", "cloze"] = Field(
        default="qa", description="'cloze': the model continues `question` as raw text instead of answering it."
    )

    @model_validator(mode="after")
    def _answer_among_choices(self) -> BenchmarkItemIn:
        if self.choices is not None:
            if len(self.choices) < 2:
                raise ValueError("choices needs at least two options")
            if self.answer not in self.choices:
                raise ValueError("answer must be one of the choices")
        return self

    def to_item(self) -> BenchmarkItem:
        choices = tuple(self.choices) if self.choices else None
        kind = "cloze" if self.kind == "cloze" else ("mc" if choices else "freeform")
        return BenchmarkItem(self.question, self.answer, choices, kind)


class BenchmarkCreated(BaseModel):
    id: str
    status: str


class BenchmarkInfo(BaseModel):
    id: str
    name: str
    description: str | None
    source: Literal["generated", "uploaded", "alignment"]
    status: Literal["pending", "running", "completed", "failed"]
    document_ids: list[str]
    num_questions: int
    item_count: int
    error: str | None
    created_at: str
    completed_at: str | None

    @classmethod
    def of(cls, row: Benchmark) -> BenchmarkInfo:
        return cls(
            id=row.id, name=row.name, description=row.description, source=row.source, status=row.status,
            document_ids=row.document_ids, num_questions=row.num_questions, item_count=row.item_count,
            error=row.error, created_at=iso(row.created_at), completed_at=iso(row.completed_at),
        )


class BenchmarkList(BaseModel):
    benchmarks: list[BenchmarkInfo]


class BenchmarkItemOut(BaseModel):
    question: str
    answer: str
    choices: list[str] | None
    kind: str


class BenchmarkData(BaseModel):
    id: str
    items: list[BenchmarkItemOut]
