"""Kill the server with SIGKILL in the middle of training: the restarted server resumes the job."""

from __future__ import annotations

import psutil
import pytest

from tests.conftest import start_server, stop_server, upload_corpus, wait_for


@pytest.fixture()
def crashable(tmp_path, tiny_model_dir):
    home = tmp_path / "home"
    home.mkdir()
    env = {"DOMALIGN_WORKER_LEASE_S": "2"}
    proc, srv = start_server(home, env)
    assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
    key = srv.create_user("crash")
    state = {"proc": proc}
    yield srv, key, state, env
    stop_server(state["proc"])


def _events(client, alignment_id):
    return client.get(f"/alignment/{alignment_id}/events", params={"limit": 1000}).json()["events"]


def _training_children(server_pid: int) -> list[psutil.Process]:
    """The server's training child processes (``train.process_executor``, started by multiprocessing)."""
    return [p for p in psutil.Process(server_pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())]


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_sigkill_mid_training_resumes_from_the_checkpoint(crashable):
    srv, key, state, env = crashable
    with srv.client(key) as client:
        doc_ids = upload_corpus(client)
        body = {"name": "crash", "base_model": "tiny-llama", "document_ids": doc_ids,
                "training": {"max_steps": 120, "batch_size": 4, "checkpoint_every": 5},
                "synthesis": {"num_benchmark_questions": 6}}
        alignment_id = client.post("/alignment/create", json=body).json()["id"]
        wait_for(lambda: any(e["type"] == "checkpoint_saved" for e in _events(client, alignment_id)), timeout=120,
                 interval=0.1)

    trainers = _training_children(state["proc"].pid)
    assert len(trainers) == 1  # the default executor trains in a child process
    state["proc"].kill()
    state["proc"].wait()
    wait_for(lambda: _gone(trainers[0]), timeout=30)  # no orphan trains on beside the restarted server
    state["proc"], srv = start_server(srv.home, env)

    with srv.client(key) as client:
        status = wait_for(lambda: (s := client.get(f"/alignment/status/{alignment_id}").json())["status"]
                          in ("evaluated", "failed") and s, timeout=240)
        assert status["status"] == "evaluated", status["data"]["error"]
        events = _events(client, alignment_id)
    types = [e["type"] for e in events]
    assert "resumed" in types
    resumed = events[types.index("resumed")]
    assert set(resumed["data"]["stages_done"]) >= {"ingest", "synthesize", "baseline"}
    started = [e["stage"] for e in events if e["type"] == "stage_started"]
    assert started.count("ingest") == started.count("synthesize") == started.count("baseline") == 1
    assert started.count("train") == 2
    train_done = next(e["data"] for e in events if e["type"] == "stage_finished" and e["stage"] == "train")
    assert train_done["resumed_from_step"] >= 5 and train_done["steps"] == 120
    progress = [e for e in events if e["type"] == "train_metrics"]
    assert progress[-1]["data"]["step"] == 120
    assert status["data"]["performance_metrics"]["accuracy_after"] is not None


# Kill points, each an event after which the server is killed (SIGKILL) and restarted.
KILL_AFTER = [
    ("stage_started", "baseline"),
    ("checkpoint_saved", "train"),
    ("stage_started", "evaluate"),
]


def test_kills_at_several_points_end_like_an_uninterrupted_run(tmp_path, tiny_model_dir):
    """One thread and fp32, so that a run is bit-for-bit repeatable and any difference is the crash's."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"DOMALIGN_WORKER_LEASE_S": "2", "DOMALIGN_NUM_THREADS": "1", "DOMALIGN_WORKER_POLL_S": "0.05"}
    proc, srv = start_server(home, env)
    try:
        assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
        key = srv.create_user("crash")
        with srv.client(key) as client:
            body = {"base_model": "tiny-llama", "document_ids": upload_corpus(client),
                    "training": {"max_steps": 30, "batch_size": 4, "checkpoint_every": 5, "precision": "fp32"},
                    "synthesis": {"num_benchmark_questions": 8}}
            reference = client.post("/alignment/create", json={**body, "name": "reference"}).json()["id"]
            wait_for(lambda: client.get(f"/alignment/status/{reference}").json()["status"] == "evaluated",
                     timeout=240)
            crashed = client.post("/alignment/create", json={**body, "name": "crashed"}).json()["id"]

        for event_type, stage in KILL_AFTER:
            with srv.client(key) as client:
                wait_for(lambda: any(e["type"] == event_type and e["stage"] == stage  # noqa: B023
                                     for e in _events(client, crashed)), timeout=240, interval=0.05)
            proc.kill()
            proc.wait()
            proc, srv = start_server(home, env)

        with srv.client(key) as client:
            done = wait_for(lambda: (s := client.get(f"/alignment/status/{crashed}").json())["status"]
                            in ("evaluated", "failed") and s, timeout=240)
            want = client.get(f"/alignment/status/{reference}").json()
            events = _events(client, crashed)
            ref_events = _events(client, reference)
            documents = client.get("/documents").json()["documents"]
            benchmarks = client.get("/benchmark/list").json()["benchmarks"]
    finally:
        stop_server(proc)

    assert done["status"] == "evaluated", done["data"]["error"]
    assert len([e for e in events if e["type"] == "resumed"]) == len(KILL_AFTER)
    assert done["data"]["performance_metrics"] == want["data"]["performance_metrics"]
    assert done["data"]["evaluation_results"] == want["data"]["evaluation_results"]
    losses = {tuple(e["data"].items()) for e in events if e["type"] == "train_metrics"}
    assert losses == {tuple(e["data"].items()) for e in ref_events if e["type"] == "train_metrics"}
    assert len(documents) == 4 and {b["status"] for b in benchmarks} == {"completed"} and len(benchmarks) == 2


def test_a_training_process_killed_for_memory_fails_the_job_and_the_server_carries_on(crashable):
    srv, key, state, _env = crashable
    with srv.client(key) as client:
        body = {"name": "oom", "base_model": "tiny-llama", "document_ids": upload_corpus(client),
                "training": {"max_steps": 100000, "batch_size": 4, "checkpoint_every": 5},
                "synthesis": {"num_benchmark_questions": 6}}
        doomed = client.post("/alignment/create", json=body).json()["id"]
        wait_for(lambda: any(e["type"] == "checkpoint_saved" for e in _events(client, doomed)), timeout=120,
                 interval=0.1)
        [trainer] = _training_children(state["proc"].pid)
        trainer.kill()  # what the kernel's out-of-memory killer does
        status = wait_for(lambda: (s := client.get(f"/alignment/status/{doomed}").json())["status"] == "failed"
                          and s, timeout=60)
        assert status["data"]["stage"] == "train"
        assert "train stage failed: the training process was killed by signal 9" in status["data"]["error"]
        assert state["proc"].poll() is None  # the server, which ran the worker, is still up

        body = {**body, "name": "after", "training": {"max_steps": 4, "batch_size": 4}}
        after = client.post("/alignment/create", json=body).json()["id"]
        done = wait_for(lambda: (s := client.get(f"/alignment/status/{after}").json())["status"]
                        in ("evaluated", "failed") and s, timeout=240)
        assert done["status"] == "evaluated", done["data"]["error"]
