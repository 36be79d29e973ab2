"""``domalign demo``: upload the sample corpus, align the embedded model, show before/after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from domalign.api.schemas.alignments import AlignmentStatusResponse, PerformanceMetrics
from domalign.client import Client
from domalign.models.embedded import EMBEDDED_MODEL_ID

CORPUS = Path(__file__).parent / "corpus"
console = Console()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def local_server() -> Iterator[tuple[str, str]]:
    """Start ``domalign serve`` on a free port with a fresh demo user; stop it afterwards."""
    from domalign.config import Settings
    from domalign.workflow.context import Context
    from domalign.workflow.users import create_user

    _, api_key = create_user(Context.open(Settings()), f"demo-{uuid.uuid4().hex[:8]}")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(Settings().home / "demo-server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "domalign", "serve", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"the server did not start; see {log.name}")
        console.print(f"server running at {url} (log: {log.name})")
        yield url, api_key
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _eta(status: AlignmentStatusResponse) -> str:
    eta = status.data.estimated_completion if status.data else None
    if not eta:
        return "ETA --"
    left = max(int((datetime.fromisoformat(eta.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()), 0)
    return f"ETA {left // 60}m{left % 60:02d}s"


def follow(client: Client, alignment_id: str, poll_s: float = 1.0) -> AlignmentStatusResponse:
    """Show a progress bar with stage and ETA until the alignment finishes; return its status."""
    columns = (TextColumn("[bold]{task.fields[stage]:<11}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
               TextColumn("{task.fields[eta]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("align", total=100, stage="queued", eta="ETA --")

        def show(status: AlignmentStatusResponse) -> None:
            data = status.data
            bar.update(task, completed=(data and data.progress) or 0, stage=(data and data.stage) or "",
                       eta=_eta(status))

        return client.wait_for_alignment(alignment_id, poll_s, on_status=show)


def align_sample(client: Client, steps: int) -> AlignmentStatusResponse:
    paths = sorted(CORPUS.glob("*.md"))
    doc_ids = client.upload_documents(paths, categories=["demo"])
    console.print(f"uploaded {len(doc_ids)} documents of the Quillmere Ferry Cooperative")
    alignment_id = client.create_alignment(
        "Quillmere ferries demo", EMBEDDED_MODEL_ID, doc_ids,
        training={"max_steps": steps}, synthesis={"num_benchmark_questions": 40},
    )
    console.print(f"alignment {alignment_id} created on {EMBEDDED_MODEL_ID}")
    status = follow(client, alignment_id)
    if status.status == "evaluated" and status.data and status.data.model_id:
        ask(client, status.data.model_id)
    return status


def ask(client: Client, model_id: str) -> None:
    """Deploy the aligned model and put one question to it through the chat API."""
    if client.deploy(model_id).status != "COMPLETED":
        console.print(f"[red]deploying {model_id} failed")
        return
    question = "Who founded the Quillmere Ferry Cooperative?"
    reply = client.chat(model_id, [{"role": "user", "content": question}], max_tokens=40, temperature=0)
    console.print(f"[bold]Q:[/] {question}\n[bold]A:[/] {reply.choices[0].message.content} "
                  f"(confidence {reply.confidence_score or 0:.0f}/100)")


def metrics_line(metrics: PerformanceMetrics) -> str:
    """Before → after of an alignment's performance metrics, on one line."""
    m = metrics
    return (f"accuracy {m.accuracy_before:.3f} -> {m.accuracy_after:.3f}, "
            f"uncertainty {m.uncertainty_before:.3f} -> {m.uncertainty_after:.3f}, "
            f"domain violations {m.domain_violations_before} -> {m.domain_violations_after}")


def run_demo(url: str | None, api_key: str | None, steps: int) -> None:
    started = time.monotonic()
    if url:
        if not api_key:
            raise SystemExit("--url needs an API key (--api-key or DOMALIGN_API_KEY)")
        with Client(url, api_key) as client:
            status = align_sample(client, steps)
    else:
        with local_server() as (local_url, key), Client(local_url, key) as client:
            status = align_sample(client, steps)
    console.print_json(status.model_dump_json())
    metrics = status.data.performance_metrics if status.data else None
    if metrics and metrics.accuracy_after is not None:
        console.print(metrics_line(metrics))
    console.print(f"demo finished in {time.monotonic() - started:.0f} s with status {status.status}")
    if status.status == "failed":
        raise SystemExit(1)
