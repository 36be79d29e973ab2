"""Webhooks against a real local HTTP receiver: signed, retried with backoff, logged, private."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import _free_port, start_server, stop_server, upload_corpus, wait_for

SECRET = "a-receiver-secret-of-32-characters"


class Receiver:
    """An HTTP server that answers 500 to its first ``failures`` requests, then 200, and keeps them all."""

    def __init__(self, failures: int) -> None:
        self.requests: list[tuple[dict, bytes, int]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if len(receiver.requests) < receiver.failures else 200
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[dict]:
        return [json.loads(body) for _, body, code in self.requests if code == 200]


@pytest.fixture()
def hook_server(tmp_path, tiny_model_dir):
    env = {"DOMALIGN_WEBHOOK_RETRY_S": "0.2", "DOMALIGN_WEBHOOK_MAX_ATTEMPTS": "3",
           "DOMALIGN_WEBHOOK_TIMEOUT_S": "2"}
    proc, srv = start_server(tmp_path, env)
    assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
    yield srv
    stop_server(proc)


def test_status_changes_are_posted_signed_retried_and_logged(hook_server):
    receiver = Receiver(failures=2)
    srv = hook_server
    with srv.client(srv.create_user("hooks")) as api, srv.client(srv.create_user("other")) as other:
        assert api.post("/webhooks", json={"url": "ftp://example.org/x"}).status_code == 422
        assert api.post("/webhooks", json={"url": receiver.url, "secret": "short"}).status_code == 422
        created = api.post("/webhooks", json={"url": receiver.url, "secret": SECRET})
        assert created.status_code == 201 and created.json()["secret"] == SECRET
        hook_id = created.json()["id"]
        dead = api.post("/webhooks", json={"url": f"http://127.0.0.1:{_free_port()}/gone"}).json()
        assert len(dead["secret"]) >= 32  # generated
        assert [h["id"] for h in api.get("/webhooks").json()["webhooks"]] == [dead["id"], hook_id]
        assert "secret" not in api.get(f"/webhooks/{hook_id}").json()
        for method in ("GET", "DELETE"):
            assert other.request(method, f"/webhooks/{hook_id}").status_code == 404
        assert other.get(f"/webhooks/{hook_id}/deliveries").status_code == 404
        assert other.get("/webhooks").json()["webhooks"] == []

        body = {"name": "hooked", "base_model": "tiny-llama", "document_ids": upload_corpus(api),
                "training": {"max_steps": 4, "batch_size": 4}, "synthesis": {"num_benchmark_questions": 6}}
        first = api.post("/alignment/create", json=body).json()["id"]
        second = api.post("/alignment/create", json=body).json()["id"]  # queued behind the first
        assert api.post(f"/alignment/{second}/cancel").json()["status"] == "FAILED"
        wait_for(lambda: api.get(f"/alignment/status/{first}").json()["status"] == "evaluated", timeout=180)

        def settled() -> list[dict] | None:
            log = api.get(f"/webhooks/{hook_id}/deliveries", params={"limit": 200}).json()["deliveries"]
            return log if log and all(d["status"] == "delivered" for d in log) else None

        log = wait_for(settled, timeout=60)

    changes = {(p["data"]["alignment_id"], p["data"]["previous_status"], p["data"]["status"])
               for p in receiver.accepted()}
    assert {(first, None, "pending"), (first, "pending", "evaluating"), (first, "evaluating", "evaluated"),
            (second, None, "pending"), (second, "pending", "failed")} <= changes
    assert len({d["id"] for d in log}) == len(log) == len({p["id"] for p in receiver.accepted()})
    retried = [d for d in log if d["attempts"] > 1]
    assert retried and all(d["last_status_code"] == 200 and d["delivered_at"] for d in log)
    assert sum(d["attempts"] - 1 for d in log) == 2  # the two 500s were retried

    for headers, body, _ in receiver.requests:
        signed = headers["x-domalign-timestamp"].encode() + b"." + body
        expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-domalign-signature"], expected)
        assert headers["x-domalign-event"] == "alignment.status_changed"
        assert headers["x-domalign-delivery"] == json.loads(body)["id"]

    with srv.client(None) as anonymous:
        assert anonymous.get("/webhooks").status_code == 401
    with srv.client(srv.create_user("third")) as api:  # a fresh user sees nothing of the others'
        assert api.get("/webhooks").json()["webhooks"] == []


def test_unreachable_receiver_fails_after_max_attempts_and_delete_drops_the_log(hook_server):
    srv = hook_server
    with srv.client(srv.create_user("lonely")) as api:
        hook_id = api.post("/webhooks", json={"url": f"http://127.0.0.1:{_free_port()}/nobody"}).json()["id"]
        body = {"name": "x", "base_model": "tiny-llama", "document_ids": upload_corpus(api),
                "training": {"max_steps": 2, "batch_size": 4}, "synthesis": {"num_benchmark_questions": 4}}
        alignment_id = api.post("/alignment/create", json=body).json()["id"]
        api.post(f"/alignment/{alignment_id}/cancel")

        def failed() -> list[dict] | None:
            log = api.get(f"/webhooks/{hook_id}/deliveries").json()["deliveries"]
            return log if log and all(d["status"] == "failed" for d in log) else None

        log = wait_for(failed, timeout=60)
        assert all(d["attempts"] == 3 and d["last_status_code"] is None and d["last_error"] for d in log)
        assert all(d["next_attempt_at"] is None for d in log)
        assert api.delete(f"/webhooks/{hook_id}").status_code == 204
        assert api.get(f"/webhooks/{hook_id}/deliveries").status_code == 404
