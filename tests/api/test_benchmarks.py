"""Benchmark routes over real HTTP: upload validation, generation, ownership."""

from __future__ import annotations

import json

from tests.conftest import wait_for

GOOD = [
    {"question": "Who founded the cooperative?", "answer": "Ansel Varro"},
    {"question": "How many ferries?", "answer": "four", "choices": ["two", "four", "six"]},
    {"question": "The cooperative was founded by", "answer": "Ansel Varro", "kind": "cloze"},
]


def upload(client, items, name="mine"):
    return client.post("/benchmark/upload", data={"name": name},
                       files={"file": ("bench.json", json.dumps(items).encode(), "application/json")})


def test_upload_list_data_delete(api):
    response = upload(api, GOOD)
    assert response.status_code == 201, response.text
    bench_id = response.json()["id"]
    assert bench_id.startswith("benchmark_") and response.json()["status"] == "completed"
    data = api.get(f"/benchmark/{bench_id}/data").json()
    assert [i["question"] for i in data["items"]] == [i["question"] for i in GOOD]
    assert data["items"][1]["choices"] == ["two", "four", "six"] and data["items"][1]["kind"] == "mc"
    assert [i["kind"] for i in data["items"]] == ["freeform", "mc", "cloze"]
    assert bench_id in [b["id"] for b in api.get("/benchmark/list").json()["benchmarks"]]
    assert api.get(f"/benchmark/status/{bench_id}").json()["item_count"] == 3
    assert api.delete(f"/benchmark/{bench_id}").status_code == 204
    assert api.get(f"/benchmark/status/{bench_id}").status_code == 404


def test_bad_item_is_422_naming_its_index(api):
    bad = [GOOD[0], {"question": "Q?", "answer": "x", "choices": ["a", "b"]}]
    response = upload(api, bad)
    assert response.status_code == 422
    assert "item 1" in response.json()["detail"] and "choices" in response.json()["detail"]
    missing = upload(api, [GOOD[0], GOOD[1], {"question": "no answer"}])
    assert missing.status_code == 422 and "item 2" in missing.json()["detail"]
    assert "answer" in missing.json()["detail"]


def test_malformed_json_and_empty_array_are_422(api):
    response = api.post("/benchmark/upload", data={"name": "x"}, files={"file": ("b.json", b"{not json", "x")})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]
    assert upload(api, []).status_code == 422


def test_generated_benchmark_from_documents(api, corpus_ids):
    response = api.post("/benchmark/create", json={"document_ids": corpus_ids, "num_questions": 12})
    assert response.status_code == 202
    bench_id = response.json()["id"]
    wait_for(lambda: api.get(f"/benchmark/status/{bench_id}").json()["status"] == "completed", timeout=60)
    items = api.get(f"/benchmark/{bench_id}/data").json()["items"]
    assert 1 <= len(items) <= 12
    for item in items:
        if item["choices"]:
            assert item["answer"] in item["choices"]


def test_create_needs_documents_that_exist_and_are_yours(api, other_api, corpus_ids):
    assert api.post("/benchmark/create", json={"num_questions": 3}).status_code == 422
    missing = api.post("/benchmark/create", json={"document_ids": ["doc_missing"], "num_questions": 3})
    assert missing.status_code == 404
    foreign = other_api.post("/benchmark/create", json={"document_ids": corpus_ids[:1], "num_questions": 3})
    assert foreign.status_code == 404


def test_other_users_benchmark_is_404(api, other_api):
    bench_id = upload(api, GOOD).json()["id"]
    missing = other_api.get("/benchmark/status/benchmark_missing").json()["detail"]
    for path in (f"/benchmark/status/{bench_id}", f"/benchmark/{bench_id}/data"):
        foreign = other_api.get(path)
        assert foreign.status_code == 404
        assert foreign.json()["detail"] == missing.replace("benchmark_missing", bench_id)
    assert other_api.delete(f"/benchmark/{bench_id}").status_code == 404
    assert bench_id not in [b["id"] for b in other_api.get("/benchmark/list").json()["benchmarks"]]
