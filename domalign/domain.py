"""Value types that flow between pipeline stages.

They are plain frozen dataclasses so that every stage (ingest, synth, train,
evaluate) can exchange them without importing each other or the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chunk:
    """A contiguous piece of a document's text; ``id`` is stable across re-chunking."""

    id: str
    document_id: str
    index: int
    text: str

    @property
    def fingerprint(self) -> str:
        """A digest of the text. Synthesis seeds its random draws with it rather than the id, which is new with
        every upload, so the same documents give the same training set each time."""
        return hashlib.blake2b(self.text.encode(), digest_size=8).hexdigest()


GROUNDED_KIND = "grounded"
"""The kind of a training item whose prompt carries retrieved passages; training gives it its own length limit."""


@dataclass(frozen=True)
class TrainExample:
    """One supervised item. ``prompt is None`` means raw text for continued pre-training."""

    prompt: str | None
    completion: str
    kind: str
    chunk_id: str | None = None


@dataclass(frozen=True)
class BenchmarkItem:
    """One evaluation question; ``choices`` (which include ``answer``) make it multiple choice."""

    question: str
    answer: str
    choices: tuple[str, ...] | None = None
    kind: str = "qa"
    chunk_id: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def benchmark_item_to_dict(item: BenchmarkItem) -> dict:
    return {
        "question": item.question,
        "answer": item.answer,
        "choices": list(item.choices) if item.choices else None,
        "kind": item.kind,
        "chunk_id": item.chunk_id,
        "meta": item.meta,
    }


def benchmark_item_from_dict(row: dict) -> BenchmarkItem:
    choices = row.get("choices")
    return BenchmarkItem(
        question=row["question"],
        answer=row["answer"],
        choices=tuple(choices) if choices else None,
        kind=row.get("kind") or ("mc" if choices else "freeform"),
        chunk_id=row.get("chunk_id"),
        meta=row.get("meta") or {},
    )
