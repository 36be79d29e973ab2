"""The ``domalign`` command against a running server: documents, alignments, chat, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from domalign.demo.run import CORPUS


def _run(server, key: str | None, *args: str, stdin: str | None = None,
         url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in server.env.items() if k != "DOMALIGN_API_KEY"}
    env["DOMALIGN_URL"] = url or server.url
    if key is not None:
        env["DOMALIGN_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "domalign", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_upload_align_follow_status_list_and_chat(server, tmp_path):
    key = server.create_user("cli")
    files = [str(p) for p in sorted(CORPUS.glob("*.md"))]
    uploaded = _run(server, key, "docs", "upload", *files, "--category", "demo")
    assert uploaded.returncode == 0, uploaded.stderr
    doc_ids = [line.split("\t")[0] for line in uploaded.stdout.splitlines()]
    assert len(doc_ids) == 4 and all(d.startswith("doc") for d in doc_ids)
    listed = json.loads(_run(server, key, "docs", "list", "--json").stdout)
    assert sorted(d["id"] for d in listed) == sorted(doc_ids)

    doc_flags = [arg for d in doc_ids for arg in ("--doc", d)]
    created = _run(server, key, "align", "create", "--base-model", "tiny-llama", *doc_flags, "--name", "from cli",
                   "--steps", "3", "--options", '{"synthesis": {"num_benchmark_questions": 4}}', "--wait")
    assert created.returncode == 0, created.stdout + created.stderr
    alignment_id = created.stdout.splitlines()[0].strip()
    assert alignment_id.startswith("alignment_")
    assert "evaluated" in created.stdout and "accuracy" in created.stdout  # the summary after the bar

    status = json.loads(_run(server, key, "align", "status", alignment_id, "--json").stdout)
    assert status["status"] == "evaluated" and status["data"]["id"] == alignment_id
    pretty = _run(server, key, "align", "status", alignment_id)
    assert pretty.returncode == 0 and status["data"]["model_id"] in pretty.stdout
    listing = _run(server, key, "align", "list")
    assert alignment_id in listing.stdout and "from cli" in listing.stdout

    model_id = status["data"]["model_id"]
    models = json.loads(_run(server, key, "models", "list", "--json").stdout)
    assert "tiny-llama" in [b["id"] for b in models["base"]]
    assert [(m["id"], m["deployment_status"]) for m in models["aligned"]] == [(model_id, "UNDEPLOYED")]
    deployed = _run(server, key, "models", "deploy", model_id)
    assert deployed.returncode == 0 and f"{model_id} deployed" in deployed.stdout, deployed.stderr
    assert f"{model_id}\taligned\ttiny-llama\tDEPLOYED" in _run(server, key, "models", "list").stdout
    downloaded = _run(server, key, "models", "download", model_id, "--format", "adapter", "--out", str(tmp_path))
    assert downloaded.returncode == 0, downloaded.stderr
    saved = Path(downloaded.stdout.strip().splitlines()[-1])
    with tarfile.open(saved) as archive:
        assert any(name.endswith("adapter_model.safetensors") for name in archive.getnames())
    aligned_chat = _run(server, key, "chat", model_id, "--message", "Who runs the ferries?", "--max-tokens", "3")
    assert aligned_chat.returncode == 0, aligned_chat.stderr
    undeployed = _run(server, key, "models", "undeploy", model_id)
    assert undeployed.returncode == 0 and f"{model_id} undeployed" in undeployed.stdout

    evaluated = _run(server, key, "eval", "run", "--model", "tiny-llama", "--benchmark", status["data"]["benchmark_id"],
                     "--model-2", model_id)
    assert evaluated.returncode == 0, evaluated.stderr
    eval_id = evaluated.stdout.splitlines()[0]
    with server.client(key) as api:
        results = api.get(f"/evaluations/{eval_id}/results").json()
    assert json.loads(_run(server, key, "eval", "results", eval_id, "--json").stdout) == results
    summary = results["summary_2"]
    assert f"{model_id}\t{summary['accuracy']:.3f}\t{summary['uncertainty']:.3f}" in evaluated.stdout
    assert f"flips: {results['flips']['wrong_to_right']} wrong -> right" in evaluated.stdout

    def answer(messages: list[dict]) -> str:
        with server.client(key) as api:
            reply = api.post("/inference/chat/completions", json={
                "model": "tiny-llama", "messages": messages, "max_tokens": 5, "temperature": 0})
        return reply.json()["choices"][0]["message"]["content"]

    one = _run(server, key, "chat", "tiny-llama", "--message", "Who runs the ferries?", "--max-tokens", "5")
    assert one.returncode == 0, one.stderr
    assert one.stdout == answer([{"role": "user", "content": "Who runs the ferries?"}]) + "\n"  # streamed whole
    # a session keeps the conversation: the second answer is the one given with the first exchange before it
    first = [{"role": "user", "content": "first question"}]
    reply = answer(first)
    second = answer([*first, {"role": "assistant", "content": reply}, {"role": "user", "content": "second one"}])
    session = _run(server, key, "chat", "tiny-llama", "--max-tokens", "5", stdin="first question\n\nsecond one\n")
    assert session.returncode == 0, session.stderr
    assert session.stdout == f"{reply}\n{second}\n"


def test_errors_are_one_line_with_their_exit_codes(server, other_key):
    unknown = _run(server, other_key, "align", "status", "alignment_nope")
    assert unknown.returncode == 4 and unknown.stderr.startswith("error: ") and len(unknown.stderr.splitlines()) == 1
    no_key = _run(server, None, "align", "list")
    assert no_key.returncode == 3 and "DOMALIGN_API_KEY" in no_key.stderr
    bad_key = _run(server, "not-a-key", "docs", "list")
    assert bad_key.returncode == 3
    unreachable = _run(server, other_key, "align", "list", url="http://127.0.0.1:9")
    assert unreachable.returncode == 6 and "cannot reach the server" in unreachable.stderr
    assert _run(server, other_key, "models", "deploy", "model_nope").returncode == 4
    bad_options = _run(server, other_key, "align", "create", "--base-model", "nope", "--doc", "doc_x")
    assert bad_options.returncode != 0 and bad_options.stderr.startswith("error: ")
