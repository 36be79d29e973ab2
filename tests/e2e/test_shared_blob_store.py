"""Two machines that share only a database and an S3 bucket: a worker trains, the API machine serves."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import align, start_server, stop_server, upload_corpus, wait_for

pytestmark = pytest.mark.s3


def test_a_job_trained_on_one_machine_is_served_and_exported_by_another(tmp_path, tiny_model_dir, s3):
    api_home, worker_home = tmp_path / "api-machine", tmp_path / "worker-machine"
    api_home.mkdir(), worker_home.mkdir()
    blobs = s3.env(tmp_path.name)
    proc, srv = start_server(api_home, {"DOMALIGN_WORKER_ENABLED": "false", **blobs})
    worker_env = {**srv.env, "DOMALIGN_HOME": str(worker_home)}
    worker_env.setdefault("DOMALIGN_DATABASE_URL", f"sqlite:///{api_home / 'domalign.db'}")
    worker_log = tmp_path / "worker.log"
    worker = None
    try:
        assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
        with open(worker_log, "wb") as out:
            worker = subprocess.Popen([sys.executable, "-m", "domalign", "worker"], env=worker_env,
                                      stdout=out, stderr=subprocess.STDOUT)
        with srv.client(srv.create_user("s3")) as api:
            body = {"name": "shared", "base_model": "tiny-llama", "document_ids": upload_corpus(api),
                    "training": {"max_steps": 4, "batch_size": 4, "checkpoint_every": 2},
                    "synthesis": {"num_benchmark_questions": 4}}
            alignment_id, final = align(api, body)
            assert f"runs {alignment_id}" in worker_log.read_text()
            # the API machine's own folder never held the adapter: it comes from the bucket
            assert not list((api_home / "blobs").rglob("adapter_model.safetensors"))

            model_id = final["data"]["model_id"]
            assert api.post(f"/models/deploy-model/{model_id}").status_code == 202
            wait_for(lambda: api.get(f"/models/deploy-model/{model_id}/status").json()["status"] != "PENDING")
            assert api.get(f"/models/deploy-model/{model_id}/status").json()["status"] == "COMPLETED"
            chat = api.post("/inference/chat/completions", json={
                "model": model_id, "messages": [{"role": "user", "content": "Which ferry sails first?"}],
                "max_tokens": 4})
            assert chat.status_code == 200, chat.text
            assert list((api_home / "blobs").rglob("adapter_model.safetensors"))  # fetched for serving

            export = api.get(f"/models/{model_id}/download", params={"format": "adapter"})
            assert export.status_code == 200 and len(export.content) > 1000
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        stop_server(proc)
    # the worker machine's checkpoints reached the bucket as well
    from domalign.store.remote import RemoteStore

    remote = RemoteStore(blobs["DOMALIGN_BLOB_URL"], s3.options)
    assert remote.subfolders(f"alignments/{alignment_id}/checkpoints") == ["step-2"]
