"""Both example responses of the seed document validate against our status response model."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from domalign.api.schemas.alignments import AlignmentStatusResponse

COMPLETED_EXAMPLE = {
    "status": "completed",  # the seed prints a truncated "c"
    "data": {
        "aligned_model_id": "alignment-xyz789",
        "base_model": "nugen-flash-instruct",
        "name": "Customer Support Domain Alignment",
        "evaluation_results": {"accuracy": 0.92, "total_questions": 50},
    },
    "start_time": "2024-01-15T10:30:00Z",
    "end_time": "2024-01-15T14:45:00Z",
}

FULL_DATA_EXAMPLE = {
    "status": "pending",
    "data": {
        "base_model": "nugen-flash-instruct", "completed_date": "2024-01-15T12:45:00Z",
        "created_date": "2024-01-15T10:30:00Z", "creator": "user@example.com", "document_count": 3,
        "documents": ["doc-abc123", "doc-def456", "doc-ghi789"], "evaluation_id": "eval-xyz789",
        "id": "alignment-abc123", "model_id": "alignment-abc123-deployed", "name": "Customer Support Model",
        "performance_metrics": {"accuracy_after": 0.92, "accuracy_before": 0.75, "domain_violations_after": 2,
                                "domain_violations_before": 12, "uncertainty_after": 0.15,
                                "uncertainty_before": 0.35},
        "progress": 100, "status": "COMPLETED",
    },
    "start_time": "2024-01-15T10:30:00Z",
    "end_time": "2024-01-15T12:30:00Z",
}


@pytest.mark.parametrize("example", [COMPLETED_EXAMPLE, FULL_DATA_EXAMPLE])
def test_seed_examples_validate(example):
    parsed = AlignmentStatusResponse.model_validate(example)
    dumped = json.loads(parsed.model_dump_json(exclude_unset=True))
    assert dumped == example


def test_every_status_of_the_seed_enum_is_accepted():
    for value in ["pending", "completed", "deploying", "evaluating", "undeployed", "evaluated", "failed"]:
        AlignmentStatusResponse(status=value, data=None, start_time=None, end_time=None)


def test_truncated_or_unknown_status_and_extra_keys_are_rejected():
    with pytest.raises(ValidationError):
        AlignmentStatusResponse.model_validate({**COMPLETED_EXAMPLE, "status": "c"})
    with pytest.raises(ValidationError):
        AlignmentStatusResponse.model_validate({**COMPLETED_EXAMPLE, "progress": 3})
