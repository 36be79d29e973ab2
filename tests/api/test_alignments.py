"""Alignment routes over real HTTP: validation, ownership, listing, cancel, delete."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for

FAST = {"training": {"max_steps": 4, "batch_size": 4}, "synthesis": {"num_benchmark_questions": 6}}


def create(client, doc_ids, **extra):
    body = {"name": "t", "base_model": "tiny-llama", "document_ids": doc_ids, **FAST, **extra}
    return client.post("/alignment/create", json=body)


def test_unknown_base_model_is_400(api, corpus_ids):
    response = create(api, corpus_ids, base_model="gpt-17")
    assert response.status_code == 400
    assert "gpt-17" in response.json()["detail"] and "models/base" in response.json()["detail"]


def test_unknown_or_foreign_documents_are_404(api, other_api, corpus_ids):
    assert create(api, ["doc_nope"]).status_code == 404
    assert create(other_api, corpus_ids).status_code == 404


def test_foreign_benchmark_is_404(api, other_api, corpus_ids):
    note = ("m.txt", b"Mallory's notes on the Pellam barge.", "text/plain")
    other_docs = other_api.post("/documents", files=[("files", note)])
    doc_id = other_docs.json()["document_ids"][0]
    bench = api.post("/benchmark/upload", data={"name": "a"},
                     files={"file": ("b.json", b'[{"question": "q?", "answer": "a"}]', "application/json")})
    assert create(other_api, [doc_id], benchmark_id=bench.json()["id"]).status_code == 404


@pytest.mark.parametrize("options", [
    {"training": {"learning_rate": -1}}, {"training": {"lora_r": 0}}, {"training": {"no_such_option": 1}},
    {"synthesis": {"cloze_per_fact": -1}}, {"evaluation": {"passages_per_question": 0}},
    {"synthesis": {"grounded_per_chunk": 2}, "training": {"grounded_max_seq_len": 512}},  # they need >= 1024
])
def test_invalid_options_are_422(api, corpus_ids, options):
    response = create(api, corpus_ids, **options)
    assert response.status_code == 422


def test_unknown_extra_benchmark_is_404(api, corpus_ids):
    response = create(api, corpus_ids, evaluation={"extra_benchmark_ids": ["benchmark_nope"]})
    assert response.status_code == 404 and "benchmark_nope" in response.json()["detail"]


def test_empty_document_list_is_422(api):
    assert create(api, []).status_code == 422


def test_unknown_ids_are_404_on_every_route(api):
    for method, path in [("GET", "/alignment/status/alignment_x"), ("GET", "/alignment/alignment_x"),
                         ("DELETE", "/alignment/alignment_x"), ("POST", "/alignment/alignment_x/cancel"),
                         ("GET", "/alignment/alignment_x/events"),
                         ("GET", "/alignment-project/status/alignment_x")]:
        response = api.request(method, path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "alignment 'alignment_x' not found"}


def test_queued_job_can_be_cancelled_then_not_again(api, corpus_ids):
    alignment_id = create(api, corpus_ids, training={"max_steps": 2000, "batch_size": 2}).json()["id"]
    response = api.post(f"/alignment/{alignment_id}/cancel")
    assert response.status_code == 202
    status = wait_for(lambda: (s := api.get(f"/alignment/status/{alignment_id}").json())["status"] == "failed" and s,
                      timeout=120)
    assert status["data"]["error"] == "cancelled" and status["end_time"] is not None
    assert api.post(f"/alignment/{alignment_id}/cancel").status_code == 409
    types = [e["type"] for e in api.get(f"/alignment/{alignment_id}/events").json()["events"]]
    assert types[0] == "queued" and "cancel_requested" in types and types[-1] == "cancelled"
    assert api.delete(f"/alignment/{alignment_id}").status_code == 204
    assert api.get(f"/alignment/{alignment_id}").status_code == 404


def test_list_is_paginated_newest_first_and_private(api, other_api, corpus_ids):
    ids = [create(api, corpus_ids, name=f"page-{i}").json()["id"] for i in range(3)]
    for alignment_id in ids:
        api.post(f"/alignment/{alignment_id}/cancel")
    # A cancel is asynchronous: wait until every job has settled so that two listings can be compared.
    for alignment_id in ids:
        wait_for(lambda i=alignment_id: api.get(f"/alignment/status/{i}").json()["status"] == "failed", timeout=120)
    page = api.get("/alignment", params={"limit": 2, "offset": 0}).json()
    assert [p["id"] for p in page["alignment_projects"]] == ids[::-1][:2]
    assert page["total"] >= 3 and page["limit"] == 2
    second = api.get("/alignment", params={"limit": 2, "offset": 2}).json()
    assert second["alignment_projects"][0]["id"] == ids[0]
    alias = api.get("/alignment-project", params={"limit": 2}).json()
    assert alias["alignment_projects"] == page["alignment_projects"]
    assert not set(ids) & {p["id"] for p in other_api.get("/alignment").json()["alignment_projects"]}
    for alignment_id in ids:
        assert other_api.get(f"/alignment/status/{alignment_id}").status_code == 404
        assert other_api.post(f"/alignment/{alignment_id}/cancel").status_code == 404
        assert other_api.delete(f"/alignment/{alignment_id}").status_code == 404
