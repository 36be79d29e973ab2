"""The real embedded SmolLM2-135M-Instruct, end to end through the server (a few minutes)."""

from __future__ import annotations

import pytest

from domalign.api.schemas.alignments import AlignmentStatusResponse
from tests.conftest import wait_for


@pytest.mark.slow
def test_embedded_model_alignment(api, corpus_ids):
    body = {"name": "embedded", "base_model": "smollm2-135m-instruct", "document_ids": corpus_ids,
            "training": {"max_steps": 8, "checkpoint_every": 4}, "synthesis": {"num_benchmark_questions": 10}}
    created = api.post("/alignment/create", json=body)
    assert created.status_code == 201
    alignment_id = created.json()["id"]
    status = wait_for(
        lambda: (s := api.get(f"/alignment/status/{alignment_id}").json())["status"] in ("evaluated", "failed") and s,
        timeout=900, interval=2,
    )
    AlignmentStatusResponse.model_validate(status)
    data = status["data"]
    assert status["status"] == "evaluated", data["error"]
    metrics = data["performance_metrics"]
    assert 0 <= metrics["accuracy_before"] <= 1 and 0 <= metrics["accuracy_after"] <= 1
    assert 0 < metrics["uncertainty_before"] < 1 and 0 < metrics["uncertainty_after"] < 1
    assert data["evaluation_results"]["total_questions"] == 10
    events = api.get(f"/alignment/{alignment_id}/events").json()["events"]
    losses = [e["data"]["loss"] for e in events if e["type"] == "train_metrics"]
    assert losses and all(0 < loss < 20 for loss in losses)
    # a checkpoint every 4 steps; the last step writes the final adapter instead
    assert [e["data"]["step"] for e in events if e["type"] == "checkpoint_saved"] == [4]
