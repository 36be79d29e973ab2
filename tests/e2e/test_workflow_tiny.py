"""The whole workflow on a tiny random llama, through the real server and real HTTP."""

from __future__ import annotations

import json
import time

from domalign.api.schemas.alignments import AlignmentStatusResponse

STAGES = ["ingest", "synthesize", "baseline", "train", "evaluate", "register"]


def _follow(api, alignment_id, timeout=240):
    """Poll the status endpoint; return every response seen until the job ends."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"/alignment/status/{alignment_id}")
        assert response.status_code == 200
        seen.append(response.json())
        if seen[-1]["status"] not in ("pending", "evaluating"):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"alignment still running after {timeout} s: {seen[-1]}")


def test_tiny_alignment_end_to_end(api, corpus_ids, server):
    general = [{"question": "What is the capital of Italy?", "answer": "Rome", "choices": ["Rome", "Oslo"]},
               {"question": "How many legs does a spider have?", "answer": "eight"}]
    general_id = api.post("/benchmark/upload", data={"name": "general"}, files={
        "file": ("g.json", json.dumps(general).encode(), "application/json")}).json()["id"]
    started = time.monotonic()
    body = {"name": "ferries", "base_model": "tiny-llama", "document_ids": corpus_ids,
            "training": {"max_steps": 12, "batch_size": 4, "checkpoint_every": 5},
            "synthesis": {"num_benchmark_questions": 12, "grounded_per_chunk": 1, "refusal_share": 0.05,
                          "noun_questions": True},
            "evaluation": {"grounded": True, "extra_benchmark_ids": [general_id]}}
    created = api.post("/alignment/create", json=body)
    assert created.status_code == 201 and created.json()["status"] == "pending"
    alignment_id = created.json()["id"]
    assert alignment_id.startswith("alignment_")

    seen = _follow(api, alignment_id)
    final = seen[-1]
    assert final["status"] == "evaluated", final["data"].get("error")
    assert time.monotonic() - started < 120

    for response in seen:
        AlignmentStatusResponse.model_validate(response)
    progress = [r["data"]["progress"] for r in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert {r["status"] for r in seen} <= {"pending", "evaluating", "evaluated"}

    data = final["data"]
    assert data["status"] == "EVALUATED" and data["stage"] == "done"
    assert data["model_id"].startswith("model_") and data["aligned_model_id"] == data["model_id"]
    assert data["evaluation_id"].startswith("eval_") and data["benchmark_id"].startswith("benchmark_")
    assert final["start_time"].endswith("Z") and final["end_time"].endswith("Z")
    metrics = data["performance_metrics"]
    for when in ("before", "after"):
        assert 0.0 <= metrics[f"accuracy_{when}"] <= 1.0
        assert 0.0 <= metrics[f"uncertainty_{when}"] <= 1.0
        assert 0 <= metrics[f"domain_violations_{when}"] <= data["evaluation_results"]["total_questions"]
    assert data["evaluation_results"]["total_questions"] >= 1
    synthesis = data["report"]["synthesis"]
    assert synthesis["exact_duplicates"] == 0 and synthesis["train_items"] > 0
    for run in (data["report"]["grounded"], data["report"]["extra_benchmarks"][general_id]):
        assert 0.0 <= run["before"]["accuracy"] <= 1.0 and 0.0 <= run["after"]["accuracy"] <= 1.0
    assert data["report"]["extra_benchmarks"][general_id]["after"]["total_questions"] == 2

    events = api.get(f"/alignment/{alignment_id}/events").json()["events"]
    started_stages = [e["stage"] for e in events if e["type"] == "stage_started"]
    assert started_stages == STAGES
    assert any(e["type"] == "checkpoint_saved" for e in events)
    losses = [e["data"]["loss"] for e in events if e["type"] == "train_metrics"]
    assert losses and all(loss > 0 for loss in losses)
    assert events[-1]["type"] == "completed"

    # the generated benchmark is the user's and holds no training item
    bench = api.get(f"/benchmark/{data['benchmark_id']}/data").json()["items"]
    assert len(bench) == data["evaluation_results"]["total_questions"]
    train = (server.home / "blobs" / "alignments" / alignment_id / "train.jsonl").read_text()
    assert all(item["question"] not in train for item in bench + general)
    # questions by kind ("noun_questions"): the demo corpus says three answers' kinds; benchmark facts get none
    by_kind = ["held every year on the second Saturday of March in which hall?", "designed by which architect?",
               "training course at which school before their first crossing?"]
    assert any(question in train for question in by_kind)
    adapter = server.home / "blobs" / "alignments" / alignment_id / "adapter"
    assert (adapter / "adapter_config.json").exists()
    # it carries its corpus's words, and it learned to decline: it may decline only names outside them
    assert '"kind": "refusal"' in train and "brackenford" in (adapter / "vocabulary.txt").read_text().split()
    assert json.loads((adapter / "corpus.json").read_text()) == {"declines": True}

    # the aligned grounded run fused the choice scores already computed: the base model reading, plus half of
    # the adapter's closed-book scores minus the base model's (defaults: the base model reads, weight 0.5)
    runs = {stage: json.loads((server.home / "blobs" / "alignments" / alignment_id / f"eval_{stage}.json")
                              .read_text())["runs"] for stage in ("baseline", "evaluate")}
    choice_rows = [rows for rows in zip(
        runs["baseline"]["grounded"]["results"], runs["evaluate"]["closed_book"]["results"],
        runs["baseline"]["closed_book"]["results"], runs["evaluate"]["grounded"]["results"], strict=True)
        if rows[-1]["kind"] == "mc"]
    assert choice_rows
    for reader, memory, prior, fused in choice_rows:
        assert fused["scores"] == [r + 0.5 * (m - p) for r, m, p in zip(
            reader["scores"], memory["scores"], prior["scores"], strict=True)]
    # the general question is not about the documents: after alignment it keeps the baseline's very answer
    routed = runs["evaluate"][general_id]["results"]
    assert routed and all(r["routed_to_base"] for r in routed)
    assert routed == [{**before, "routed_to_base": True} for before in runs["baseline"][general_id]["results"]]
    assert not any(r["routed_to_base"] for r in runs["evaluate"]["closed_book"]["results"])

    # finished jobs cannot be cancelled; they can be deleted
    assert api.post(f"/alignment/{alignment_id}/cancel").status_code == 409
    assert api.get(f"/alignment-project/status/{alignment_id}").json()["status"] == "evaluated"
