"""A teacher endpoint during synthesis: real HTTP both ways, the official client in between.

No large model can run here, so the teacher is a scripted OpenAI-compatible
server: it answers question prompts with one pair the passage backs (a year
from it) and one it does not, and paraphrase prompts with the passage's
sentences in reverse order. The real domalign server is also used as a teacher
(tiny model, real generation) to check the client side against our own API.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from domalign.config import Settings
from domalign.errors import InvalidInput
from domalign.ingest import split_sentences
from domalign.workflow.teacher import endpoint_teacher
from tests.conftest import start_server, stop_server, upload_corpus, wait_for

TEACHER_KEY = "teacher-secret"


def scripted_reply(prompt: str) -> str:
    passage = prompt.split("Passage:\n", 1)[1]
    if prompt.startswith("Rewrite"):
        return " ".join(reversed(split_sentences(passage)))
    pairs = ["Q: What colour was the sky over the harbour that day? A: ultraviolet"]  # not in the passage
    for sentence in split_sentences(passage):
        year = re.search(r"\b(1[89]\d\d|20\d\d)\b", sentence)
        if year:
            question = sentence.replace(year.group(1), "which year").rstrip(".")
            pairs.append(f"Q: {question}? A: {year.group(1)}")
    return "\n".join(pairs)


class _Teacher(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Teacher.seen.append({"auth": self.headers.get("Authorization"), "model": body["model"]})
        content = scripted_reply(body["messages"][-1]["content"])
        reply = {"id": "t", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def teacher_url() -> Iterator[str]:
    _Teacher.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Teacher)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_alignment_with_a_teacher_keeps_only_backed_items(tmp_path, teacher_url, tiny_model_dir):
    env = {"DOMALIGN_TEACHER_URL": teacher_url, "DOMALIGN_TEACHER_MODEL": "big-teacher",
           "DOMALIGN_TEACHER_API_KEY": TEACHER_KEY}
    proc, server = start_server(tmp_path, env)
    try:
        assert server.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
        key = server.create_user("teacher-user")
        with server.client(key) as api:
            doc_ids = upload_corpus(api)
            body = {"name": "taught", "base_model": "tiny-llama", "document_ids": doc_ids,
                    "training": {"max_steps": 2}, "synthesis": {"num_benchmark_questions": 4, "replay_items": 0}}
            alignment_id = api.post("/alignment/create", json=body).json()["id"]
            status = wait_for(lambda: (s := api.get(f"/alignment/status/{alignment_id}").json())["status"]
                              in ("evaluated", "failed") and s, timeout=240)
            assert status["status"] == "evaluated", status["data"]["error"]
            report = api.get(f"/alignment/{alignment_id}").json()["report"]
    finally:
        stop_server(proc)

    chunks = sum(1 for _ in (tmp_path / "blobs" / "alignments" / alignment_id / "chunks.jsonl").open())
    teacher = report["teacher"]
    assert teacher["teacher"] == "endpoint" and teacher["requests"] == 2 * chunks == len(_Teacher.seen)
    assert teacher["failed_requests"] == 0
    assert all(s == {"auth": f"Bearer {TEACHER_KEY}", "model": "big-teacher"} for s in _Teacher.seen)
    assert 0 < teacher["pairs_kept"] <= teacher["pairs_proposed"] - chunks  # each "ultraviolet" pair dropped
    assert 0 < teacher["paraphrases_kept"] <= teacher["paraphrases_proposed"] == chunks
    train = [json.loads(line) for line in (tmp_path / "blobs" / "alignments" / alignment_id / "train.jsonl").open()]
    taught = [row for row in train if row["kind"] == "teacher_qa"]
    assert taught and all(re.fullmatch(r"\d{4}", row["completion"]) for row in taught)
    assert not any("ultraviolet" in row["completion"] for row in train)


def test_endpoint_teacher_talks_to_a_real_openai_compatible_server(server, user_key):
    settings = Settings(teacher_url=f"{server.url}/v1", teacher_model="tiny-llama", teacher_api_key=user_key)
    replies = endpoint_teacher(settings)(["Say something.", "Say something else."])
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)
    wrong = Settings(teacher_url=f"{server.url}/v1", teacher_model="no-such-model", teacher_api_key=user_key)
    with pytest.raises(InvalidInput, match="answered none of 1 requests"):
        endpoint_teacher(wrong)(["Say something."])
