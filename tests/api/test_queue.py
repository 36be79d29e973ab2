"""With no worker running, jobs wait in the queue: positions, immediate cancel, in-use protection."""

from __future__ import annotations

import json

import pytest

from tests.conftest import start_server, stop_server


@pytest.fixture(scope="module")
def idle(tmp_path_factory, tiny_model_dir):
    home = tmp_path_factory.mktemp("idle-home")
    proc, srv = start_server(home, {"DOMALIGN_WORKER_ENABLED": "false"})
    assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
    key, other = srv.create_user("queued"), srv.create_user("other")
    with srv.client(key) as client, srv.client(other) as stranger:
        yield client, stranger
    stop_server(proc)


def _setup(client):
    doc = client.post("/documents", files=[("files", ("q.txt", b"The Quillmere ferry left at 6:15.", "text/plain"))])
    doc_id = doc.json()["document_ids"][0]
    bench = client.post("/benchmark/upload", data={"name": "b"}, files={"file": (
        "b.json", json.dumps([{"question": "When did the ferry leave?", "answer": "6:15"}]).encode(), "x")})
    return doc_id, bench.json()["id"]


def test_queue_positions_and_in_use_protection(idle):
    client, stranger = idle
    doc_id, bench_id = _setup(client)
    body = {"name": "q", "base_model": "tiny-llama", "document_ids": [doc_id], "benchmark_id": bench_id}
    first = client.post("/alignment/create", json=body).json()["id"]
    second = client.post("/alignment/create", json=body).json()["id"]
    one, two = (client.get(f"/alignment/status/{a}").json()["data"] for a in (first, second))
    assert (one["stage"], one["queue_position"]) == ("queued", 0)
    assert two["queue_position"] == 1 and two["progress"] == 0
    assert "aligned_model_id" not in one

    delete_doc = client.delete(f"/documents/{doc_id}")
    assert delete_doc.status_code == 409 and first in delete_doc.json()["detail"]
    assert client.delete(f"/benchmark/{bench_id}").status_code == 409
    assert client.delete(f"/alignment/{first}").status_code == 409

    missing = stranger.get("/alignment/status/alignment_00000000000000000000000000").json()["detail"]
    for method, path in [("GET", f"/alignment/status/{first}"), ("GET", f"/alignment-project/{first}"),
                         ("GET", f"/alignment/{first}/events"), ("POST", f"/alignment/{first}/cancel")]:
        foreign = stranger.request(method, path)
        assert foreign.status_code == 404
        assert foreign.json()["detail"] == missing.replace("alignment_00000000000000000000000000", first)

    cancelled = client.post(f"/alignment/{first}/cancel").json()
    assert cancelled["status"] == "FAILED" and cancelled["error"] == "cancelled"
    assert client.get(f"/alignment/status/{second}").json()["data"]["queue_position"] == 0
    client.post(f"/alignment/{second}/cancel")
    assert client.delete(f"/documents/{doc_id}").status_code == 204
    assert client.delete(f"/benchmark/{bench_id}").status_code == 204


def test_an_evaluation_waits_in_the_queue_and_its_results_are_not_ready(idle):
    client, stranger = idle
    _, bench_id = _setup(client)
    created = client.post("/evaluations", json={"model_id": "tiny-llama", "benchmark_id": bench_id})
    assert created.status_code == 202
    eval_id = created.json()["id"]
    info = client.get(f"/evaluations/{eval_id}/status").json()
    assert info["status"] == "PENDING" and info["progress"] == {"questions_done": 0, "questions_total": 1,
                                                                 "percent": 0.0}
    for path in ("results", "download"):
        response = client.get(f"/evaluations/{eval_id}/{path}")
        assert response.status_code == 400 and "not ready" in response.json()["detail"]
    assert stranger.get(f"/evaluations/{eval_id}/status").status_code == 404
