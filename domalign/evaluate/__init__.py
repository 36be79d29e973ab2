"""Evaluation stage: measure a model on a benchmark (DESIGN §4, ``docs/metrics.md``).

``metrics`` (pure definitions) imports no torch; ``scorer`` runs the model and is
imported on first use of ``evaluate_model`` / ``EvaluationReport``, so importing
this package stays light. BM25 retrieval is shared: :mod:`domalign.retrieval`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domalign.evaluate.metrics import (
    EvaluationSummary,
    QuestionResult,
    answer_uncertainty,
    freeform_correct,
    is_decline,
    is_supported,
    normalize_answer,
    normalized_entropy,
    summarize,
    token_f1,
)

if TYPE_CHECKING:
    from domalign.evaluate.scorer import EvaluationReport, KnownScores, evaluate_model, generate_answers

__all__ = [
    "EvaluationReport",
    "EvaluationSummary",
    "KnownScores",
    "QuestionResult",
    "answer_uncertainty",
    "evaluate_model",
    "freeform_correct",
    "generate_answers",
    "is_decline",
    "is_supported",
    "normalize_answer",
    "normalized_entropy",
    "summarize",
    "token_f1",
]

_LAZY = {"EvaluationReport", "KnownScores", "evaluate_model", "generate_answers"}


def __getattr__(name: str) -> Any:
    """Import the torch-backed scorer only when its names are asked for."""
    if name in _LAZY:
        from domalign.evaluate import scorer

        return getattr(scorer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
