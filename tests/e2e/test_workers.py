"""Separate ``domalign worker`` processes on one database: every job is claimed and run exactly once."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import start_server, stop_server, wait_for

JOBS = 4


def test_two_worker_processes_share_the_queue_and_run_each_job_once(tmp_path, tiny_model_dir):
    proc, srv = start_server(tmp_path, {"DOMALIGN_WORKER_ENABLED": "false"})
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = []
    try:
        assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
        for log in logs:
            with open(log, "wb") as out:
                workers.append(subprocess.Popen([sys.executable, "-m", "domalign", "worker"], env=srv.env,
                                                stdout=out, stderr=subprocess.STDOUT))
        wait_for(lambda: all("worker started" in log.read_text() for log in logs), timeout=60)
        with srv.client(srv.create_user("queue")) as api:
            from domalign.demo.run import CORPUS

            files = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in sorted(CORPUS.glob("*.md"))]
            doc_ids = api.post("/documents", files=files).json()["document_ids"]
            body = {"base_model": "tiny-llama", "document_ids": doc_ids,
                    "training": {"max_steps": 2, "batch_size": 4}, "synthesis": {"num_benchmark_questions": 4}}
            ids = [api.post("/alignment/create", json={**body, "name": f"job {i}"}).json()["id"] for i in range(JOBS)]
            done = lambda: all(api.get(f"/alignment/status/{i}").json()["status"] == "evaluated" for i in ids)  # noqa: E731
            wait_for(done, timeout=300, interval=1)
            for alignment_id in ids:
                events = api.get(f"/alignment/{alignment_id}/events", params={"limit": 1000}).json()["events"]
                started = [e["stage"] for e in events if e["type"] == "stage_started"]
                assert started == ["ingest", "synthesize", "baseline", "train", "evaluate", "register"]
                assert not [e for e in events if e["type"] == "resumed"]
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
        stop_server(proc)

    runs = [re.findall(r"runs (alignment_\w+)", log.read_text()) for log in logs]
    assert sorted(runs[0] + runs[1]) == sorted(ids)  # each job once, by one worker
    assert runs[0] and runs[1]  # both took part
