"""Separate ``domalign worker`` processes on one database: every job is claimed and run exactly once."""

from __future__ import annotations

import math
import re
import subprocess
import sys

from tests.conftest import start_server, stop_server, upload_corpus, wait_for

JOBS = 4


def _wait_all(api, ids: list[str]) -> None:
    """Until every job has ended; each must have been evaluated."""
    def ended() -> list[dict] | None:
        got = [api.get(f"/alignment/status/{i}").json() for i in ids]
        return got if all(s["status"] in ("evaluated", "failed") for s in got) else None

    statuses = wait_for(ended, timeout=300, interval=1)
    assert [s["status"] for s in statuses] == ["evaluated"] * len(ids), [s["data"]["error"] for s in statuses]


def test_two_worker_processes_share_the_queue_and_run_each_job_once(tmp_path, tiny_model_dir):
    # one torch thread per worker process: two processes on two cores, not four threads fighting over them
    proc, srv = start_server(tmp_path, {"DOMALIGN_WORKER_ENABLED": "false", "DOMALIGN_NUM_THREADS": "1"})
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
            body = {"base_model": "tiny-llama", "document_ids": upload_corpus(api),
                    "training": {"max_steps": 2, "batch_size": 4}, "synthesis": {"num_benchmark_questions": 4}}
            ids = [api.post("/alignment/create", json={**body, "name": f"job {i}"}).json()["id"] for i in range(JOBS)]
            _wait_all(api, ids)
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


def test_worker_concurrency_runs_jobs_side_by_side(tmp_path, tiny_model_dir):
    proc, srv = start_server(tmp_path, {"DOMALIGN_WORKER_CONCURRENCY": "2"})
    try:
        assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
        with srv.client(srv.create_user("pair")) as api:
            body = {"base_model": "tiny-llama", "document_ids": upload_corpus(api),
                    "training": {"max_steps": 40, "batch_size": 4}, "synthesis": {"num_benchmark_questions": 4}}
            ids = [api.post("/alignment/create", json={**body, "name": f"job {i}"}).json()["id"] for i in range(2)]
            _wait_all(api, ids)
            events = [api.get(f"/alignment/{i}/events", params={"limit": 1000}).json()["events"] for i in ids]
    finally:
        stop_server(proc)
    losses = [e["data"]["loss"] for log in events for e in log if e["type"] == "train_metrics"]
    assert losses and all(math.isfinite(loss) for loss in losses)  # two models loading at once once gave NaN
    first_started = [next(e["created_at"] for e in log if e["type"] == "stage_started") for log in events]
    last_finished = [next(e["created_at"] for e in log if e["type"] == "completed") for log in events]
    assert first_started[1] < last_finished[0] and first_started[0] < last_finished[1]  # they overlapped
