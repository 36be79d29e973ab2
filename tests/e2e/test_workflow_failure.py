"""A stage that fails leaves a readable error naming the stage, and the worker carries on."""

from __future__ import annotations

import shutil

from tests.conftest import wait_for


def test_broken_weights_fail_in_the_first_stage_that_loads_them(api, server, corpus_ids, tiny_model_dir, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model_dir, broken)
    assert server.cli("models", "add", "broken-llama", str(broken)).returncode == 0
    (broken / "model.safetensors").write_bytes(b"these are not weights")

    body = {"name": "doomed", "base_model": "broken-llama", "document_ids": corpus_ids,
            "training": {"max_steps": 2}, "synthesis": {"num_benchmark_questions": 4}}
    alignment_id = api.post("/alignment/create", json=body).json()["id"]
    status = wait_for(lambda: (s := api.get(f"/alignment/status/{alignment_id}").json())["status"] == "failed" and s,
                      timeout=120)
    data = status["data"]
    # synthesis loads the base model to answer the replay prompts (see synth.replay)
    assert data["status"] == "FAILED" and data["stage"] == "synthesize"
    assert data["error"].startswith("synthesize stage failed: ") and "broken-model" in data["error"]
    assert status["end_time"] is not None
    events = api.get(f"/alignment/{alignment_id}/events").json()["events"]
    assert [e["stage"] for e in events if e["type"] == "stage_finished"] == ["ingest"]
    assert events[-1]["type"] == "error" and events[-1]["stage"] == "synthesize"
    # a failed job is finished: it cannot be cancelled, but it can be deleted
    assert api.post(f"/alignment/{alignment_id}/cancel").status_code == 409
    assert api.delete(f"/alignment/{alignment_id}").status_code == 204
