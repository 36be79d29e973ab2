"""The events API as Server-Sent Events: live while the job runs, resumable, private."""

from __future__ import annotations

import json

import httpx

SSE = {"Accept": "text/event-stream"}


def _read_sse(response: httpx.Response) -> list[dict]:
    """Parse an event stream into {id, event, data} dicts (comments skipped)."""
    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    return events


def test_events_stream_live_until_the_job_ends_and_resume_from_last_event_id(api, other_api, corpus_ids):
    body = {"name": "sse", "base_model": "tiny-llama", "document_ids": corpus_ids,
            "training": {"max_steps": 6, "batch_size": 4, "checkpoint_every": 3},
            "synthesis": {"num_benchmark_questions": 6}}
    alignment_id = api.post("/alignment/create", json=body).json()["id"]
    url = f"/alignment/{alignment_id}/events"

    with api.stream("GET", url, headers=SSE, timeout=240) as response:  # opened while the job is queued
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        streamed = _read_sse(response)  # returns only when the server ends the stream

    assert api.get(f"/alignment/status/{alignment_id}").json()["status"] == "evaluated"
    listed = api.get(url, params={"limit": 1000}).json()["events"]
    assert [e["data"] for e in streamed] == listed  # every event, once, in order
    assert [int(e["id"]) for e in streamed] == [e["id"] for e in listed]
    assert [e["event"] for e in streamed] == [e["type"] for e in listed]
    assert streamed[0]["event"] == "queued" and streamed[-1]["event"] == "completed"
    assert "train_metrics" in {e["event"] for e in streamed}

    cut = listed[len(listed) // 2]["id"]
    with api.stream("GET", url, headers={**SSE, "Last-Event-ID": str(cut)}) as response:
        resumed = _read_sse(response)  # the job is over: the stream sends the rest and ends
    assert [int(e["id"]) for e in resumed] == [e["id"] for e in listed if e["id"] > cut]

    assert other_api.get(url, headers=SSE).status_code == 404
    assert api.get("/alignment/alignment_unknown/events", headers=SSE).status_code == 404
