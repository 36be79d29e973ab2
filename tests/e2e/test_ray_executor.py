"""An alignment whose train stage runs on Ray (DOMALIGN_EXECUTOR=ray): a local Ray instance the server starts."""

from __future__ import annotations

import pytest

from tests.conftest import align, start_server, stop_server, upload_corpus

pytestmark = pytest.mark.ray


def test_an_alignment_trains_data_parallel_on_a_local_ray_instance(tmp_path, tiny_model_dir):
    env = {"DOMALIGN_EXECUTOR": "ray", "DOMALIGN_RAY_WORKERS": "2", "DOMALIGN_NUM_THREADS": "1",
           "DOMALIGN_RAY_STORAGE": str(tmp_path / "ray-runs")}
    proc, srv = start_server(tmp_path, env)
    try:
        assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
        with srv.client(srv.create_user("ray")) as api:
            body = {"name": "on ray", "base_model": "tiny-llama", "document_ids": upload_corpus(api),
                    "training": {"max_steps": 6, "batch_size": 4, "checkpoint_every": 3},
                    "synthesis": {"num_benchmark_questions": 4}}
            alignment_id, final = align(api, body)
            events = api.get(f"/alignment/{alignment_id}/events", params={"limit": 1000}).json()["events"]
            adapter = api.get(f"/models/{final['data']['model_id']}/download", params={"format": "adapter"})
            assert adapter.status_code == 200 and len(adapter.content) > 1000  # written by the main Ray worker
    finally:
        stop_server(proc)

    train = next(e["data"] for e in events if e["type"] == "stage_finished" and e["stage"] == "train")
    assert train["executor"] == "ray" and train["workers"] == 2 and train["steps"] == 6
    assert [e["data"]["step"] for e in events if e["type"] == "checkpoint_saved"] == [3]
    metrics = [e["data"] for e in events if e["type"] == "train_metrics"]
    assert metrics[-1]["step"] == 6 and all(m["loss"] > 0 for m in metrics)
    assert final["data"]["performance_metrics"]["accuracy_after"] is not None
