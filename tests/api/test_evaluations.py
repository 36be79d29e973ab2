"""The evaluations API over real HTTP: one model or two side by side, progress, per-question download."""

from __future__ import annotations

import json

import pytest

from tests.conftest import wait_for

ITEMS = [
    {"question": "Who founded the Quillmere Ferry Cooperative?", "answer": "Ansel Varro",
     "choices": ["Ansel Varro", "Mira Holt", "Tobias Wren"]},
    {"question": "How many ferries does the cooperative run?", "answer": "four"},
    {"question": "The cooperative was founded by", "answer": "Ansel Varro", "kind": "cloze"},
]


@pytest.fixture(scope="module")
def aligned(server, user_key, corpus_ids):
    with server.client(user_key) as client:
        body = {"name": "evals", "base_model": "tiny-llama", "document_ids": corpus_ids,
                "training": {"max_steps": 4, "batch_size": 4, "grounded_adapter_scale": 0.0,
                             "grounded_memory_weight": 0.0},
                "synthesis": {"num_benchmark_questions": 6}}
        alignment_id = client.post("/alignment/create", json=body).json()["id"]
        data = wait_for(lambda: (s := client.get(f"/alignment/status/{alignment_id}").json())["status"]
                        == "evaluated" and s["data"], timeout=180)
        bench = client.post("/benchmark/upload", data={"name": "three"}, files={
            "file": ("b.json", json.dumps(ITEMS).encode(), "application/json")}).json()["id"]
    return data, bench


def _finished(api, eval_id):
    return wait_for(lambda: (s := api.get(f"/evaluations/{eval_id}/status").json())["status"]
                    in ("COMPLETED", "FAILED") and s, timeout=120)


def test_an_alignments_own_evaluation_is_base_versus_aligned(api, aligned):
    data, _ = aligned
    eval_id, metrics = data["evaluation_id"], data["performance_metrics"]
    info = api.get(f"/evaluations/{eval_id}/status").json()
    assert info["status"] == "COMPLETED" and info["alignment_id"] == data["id"]
    assert (info["model_id"], info["model_id_2"]) == ("tiny-llama", data["model_id"])
    assert info["progress"]["percent"] == 100.0
    results = api.get(f"/evaluations/{eval_id}/results").json()
    assert results["summary"]["accuracy"] == metrics["accuracy_before"]
    assert results["summary_2"]["accuracy"] == metrics["accuracy_after"]
    assert results["summary_2"]["domain_violations"] == metrics["domain_violations_after"]
    rows = api.get(f"/evaluations/{eval_id}/download").json()["questions"]
    assert len(rows) == results["summary"]["total_questions"]
    for flip in ("wrong_to_right", "right_to_wrong"):
        assert results["flips"][flip] == sum(r["flip"] == flip for r in rows)
    assert any(r["confidence"] != r["confidence_2"] for r in rows)  # closed-book, the adapter changes answers
    listed = api.get("/evaluations", params={"model_id": data["model_id"]}).json()
    assert eval_id in [e["id"] for e in listed["evaluations"]]


def test_one_model_then_two_side_by_side(api, aligned):
    data, bench = aligned
    single = api.post("/evaluations", json={"model_id": data["model_id"], "benchmark_id": bench})
    assert single.status_code == 202 and single.json()["status"] == "PENDING"
    info = _finished(api, single.json()["id"])
    assert info["status"] == "COMPLETED", info["error"]
    assert info["progress"] == {"questions_done": 3, "questions_total": 3, "percent": 100.0}
    assert info["start_time"] and info["end_time"] and info["estimated_completion"] is None
    results = api.get(f"/evaluations/{info['id']}/results").json()
    assert results["summary_2"] is None and results["flips"] is None and results["summary"]["total_questions"] == 3
    download = api.get(f"/evaluations/{info['id']}/download")
    assert download.headers["content-disposition"] == f'attachment; filename="{info["id"]}.json"'
    rows = download.json()["questions"]
    assert [r["expected"] for r in rows] == [i["answer"] for i in ITEMS]
    assert {"question", "answer", "correct", "confidence", "violation", "evidence"} <= set(rows[0])
    assert "flip" not in rows[0]
    assert results["summary"]["mc_accuracy"] == float(rows[0]["correct"])
    assert results["summary"]["freeform_accuracy"] == sum(r["correct"] for r in rows[1:]) / 2

    pair = api.post("/evaluations", json={"model_id": "tiny-llama", "model_id_2": data["model_id"],
                                          "benchmark_id": bench, "grounded": True}).json()
    info = _finished(api, pair["id"])
    assert info["status"] == "COMPLETED" and info["grounded"] and info["progress"]["questions_total"] == 6
    results = api.get(f"/evaluations/{pair['id']}/results").json()
    rows = api.get(f"/evaluations/{pair['id']}/download").json()["questions"]
    assert results["summary_2"]["total_questions"] == 3 and len(rows) == 3
    for row in rows:
        assert row["flip"] == ("wrong_to_right" if row["correct_2"] and not row["correct"] else
                               "right_to_wrong" if row["correct"] and not row["correct_2"] else None)
        assert row["evidence"] and row["evidence_2"]  # the benchmark has no documents: the aligned model's corpus
        # grounded, this adapter reads at its grounded_adapter_scale of 0 with no memory view: as the base model
        assert (row["answer_2"], row["confidence_2"]) == (row["answer"], row["confidence"])

    page = api.get("/evaluations", params={"limit": 1}).json()
    assert page["total"] >= 3 and [e["id"] for e in page["evaluations"]] == [pair["id"]]


def test_bad_requests(api, other_api, aligned):
    data, bench = aligned
    own = {"model_id": data["model_id"], "benchmark_id": bench}
    assert api.post("/evaluations", json={**own, "model_id": "no-such-model"}).status_code == 404
    assert api.post("/evaluations", json={**own, "benchmark_id": "benchmark_nope"}).status_code == 404
    assert api.post("/evaluations", json={**own, "model_id_2": data["model_id"]}).status_code == 400
    assert api.post("/evaluations", json={**own, "extra": 1}).status_code == 422
    assert other_api.post("/evaluations", json=own).status_code == 404  # neither the model nor the benchmark
    eval_id = data["evaluation_id"]
    for path in ("status", "results", "download"):
        assert other_api.get(f"/evaluations/{eval_id}/{path}").status_code == 404
        assert api.get(f"/evaluations/eval_unknown/{path}").status_code == 404
    assert other_api.get("/evaluations").json()["total"] == 0
