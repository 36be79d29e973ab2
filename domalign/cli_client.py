"""CLI commands that talk to a running server over HTTP (``DOMALIGN_URL``, ``DOMALIGN_API_KEY``).

They go through ``domalign.client.Client``, so every HTTP error arrives as the
matching ``DomalignError`` and ``domalign.cli.main`` prints it as one line with its
exit code.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from domalign.api.schemas.alignments import AlignmentProject, AlignmentStatusResponse
from domalign.api.schemas.evaluations import EvaluationResults
from domalign.api.schemas.models import DeploymentStatus
from domalign.client import RUNNING, Client
from domalign.errors import Unauthorized

DEFAULT_URL = "http://127.0.0.1:8000"

docs_app = typer.Typer(help="Documents on a domalign server (DOMALIGN_URL, DOMALIGN_API_KEY).", no_args_is_help=True)
align_app = typer.Typer(help="Alignments on a domalign server (DOMALIGN_URL, DOMALIGN_API_KEY).",
                        no_args_is_help=True)
eval_app = typer.Typer(help="Evaluations on a domalign server: one model, or two side by side.", no_args_is_help=True)
console = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON response.")]


def client() -> Client:
    """A client for the server at DOMALIGN_URL with DOMALIGN_API_KEY."""
    key = os.environ.get("DOMALIGN_API_KEY")
    if not key:
        raise Unauthorized("set DOMALIGN_API_KEY to your API key (`domalign users create NAME` prints one)")
    return Client(os.environ.get("DOMALIGN_URL", DEFAULT_URL), key)


def _print_json(value: BaseModel | list[BaseModel] | dict[str, list[BaseModel]]) -> None:
    """The answer as the API sent it (typed models back to JSON)."""
    typer.echo(json.dumps(_plain(value), indent=2))


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _show(value: BaseModel, as_json: bool, pretty: Callable[[Any], None]) -> None:
    """The answer as JSON with ``--json``, else the way ``pretty`` prints it."""
    if as_json:
        _print_json(value)
    else:
        pretty(value)


def _print_rows(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A table in a terminal; tab-separated lines, never cut, when piped."""
    if not console.is_terminal:
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@docs_app.command("upload")
def docs_upload(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Files to upload.")],
    category: Annotated[list[str] | None, typer.Option(help="Category (repeat for several).")] = None,
) -> None:
    """Upload documents (txt, md, html, pdf, docx); prints one id per file."""
    with client() as api:
        ids = api.upload_documents(paths, category)
    for path, doc_id in zip(paths, ids, strict=True):
        typer.echo(f"{doc_id}\t{path.name}")


@docs_app.command("list")
def docs_list(as_json: JsonFlag = False) -> None:
    """List your documents."""
    with client() as api:
        documents = api.list_documents()
    if as_json:
        _print_json(documents)
        return
    _print_rows(("id", "file", "status", "chunks"),
                [(d.id, d.filename, d.status, str(d.chunk_count)) for d in documents])


@align_app.command("create")
def align_create(
    base_model: Annotated[str, typer.Option(help="Base model id (GET /models/base lists them).")],
    doc: Annotated[list[str], typer.Option(help="Document id (repeat for several).")],
    name: Annotated[str, typer.Option(help="Name of the alignment.")] = "alignment",
    steps: Annotated[int | None, typer.Option(help="Training steps (default: the server's epochs).")] = None,
    benchmark: Annotated[str | None, typer.Option(help="A benchmark id to evaluate on.")] = None,
    options: Annotated[str | None, typer.Option(help="More options as JSON, e.g. '{\"training\": {...}}'.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar until it ends.")] = False,
) -> None:
    """Create an alignment; prints its id (with --wait: a live progress bar, then the metrics)."""
    from domalign.demo.run import follow

    extra = json.loads(options) if options else {}
    if steps is not None:
        extra.setdefault("training", {})["max_steps"] = steps
    if benchmark is not None:
        extra["benchmark_id"] = benchmark
    with client() as api:
        alignment_id = api.create_alignment(name, base_model, doc, **extra)
        typer.echo(alignment_id)
        if not wait:
            return
        status = follow(api, alignment_id)
    _print_summary(status)
    if status.status != "evaluated":
        raise typer.Exit(1)


def _print_summary(status: AlignmentStatusResponse) -> None:
    data = status.data or AlignmentProject()
    console.print(f"[bold]{data.id or ''}[/] {status.status} (stage {data.stage}, {data.progress or 0:.0f} %)")
    if data.queue_position:
        console.print(f"queue position {data.queue_position}")
    if data.estimated_completion and status.status in RUNNING:
        console.print(f"estimated completion {data.estimated_completion}")
    if data.error:
        console.print(f"[red]error:[/] {data.error}")
    if data.performance_metrics and data.performance_metrics.accuracy_after is not None:
        from domalign.demo.run import metrics_line

        console.print(metrics_line(data.performance_metrics))
    if data.model_id:
        console.print(f"model {data.model_id}")


@align_app.command("status")
def align_status(alignment_id: str, as_json: JsonFlag = False) -> None:
    """Status of one alignment: stage, progress, ETA, metrics."""
    with client() as api:
        _show(api.alignment_status(alignment_id), as_json, _print_summary)


@align_app.command("list")
def align_list(as_json: JsonFlag = False, limit: int = 50) -> None:
    """Your alignments, newest first."""
    with client() as api:
        listing = api.list_alignments(limit=limit)
    if as_json:
        _print_json(listing)
        return
    _print_rows(("id", "name", "status", "stage", "progress", "model"),
                [(r.id or "", r.name or "", r.status or "", r.stage or "", f"{r.progress or 0:.0f} %",
                  r.model_id or "") for r in listing.alignment_projects])


@align_app.command("cancel")
def align_cancel(alignment_id: str) -> None:
    """Cancel a queued or running alignment."""
    with client() as api:
        api.cancel_alignment(alignment_id)
    typer.echo(f"cancel requested for {alignment_id}")


def chat(
    model: Annotated[str, typer.Argument(help="A base model id or your deployed aligned model's id.")],
    message: Annotated[str | None, typer.Option(help="Ask this one question and exit.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 256,
    temperature: Annotated[float, typer.Option(help="0 answers greedily.")] = 0.0,
) -> None:
    """Chat with a model, streaming the answers; without --message, one question per line until EOF."""
    history: list[dict] = []
    with client() as api:
        questions = [message] if message is not None else _lines()
        for question in questions:
            history.append({"role": "user", "content": question})
            answer = ""
            for piece in api.chat_stream(model, history, max_tokens=max_tokens, temperature=temperature):
                answer += piece
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            history.append({"role": "assistant", "content": answer})


def _lines():
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            sys.stdout.write("> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return
        if line.strip():
            yield line.strip()


def models_list(as_json: JsonFlag = False) -> None:
    """The base models you can align and your aligned models with their deployment status."""
    with client() as api:
        bases, aligned = api.base_models(), api.aligned_models()
    if as_json:
        _print_json({"base": bases, "aligned": aligned})
        return
    _print_rows(("model", "kind", "base", "status"),
                [(b.id, "base", "", "ready" if b.alignment_ready else "missing") for b in bases]
                + [(m.id, "aligned", m.base_model, m.deployment_status) for m in aligned])


def models_deploy(model_id: str) -> None:
    """Deploy an aligned model for chat (waits until it is loaded)."""
    with client() as api:
        op = api.deploy(model_id)
    _print_operation(op)


def models_undeploy(model_id: str) -> None:
    """Take a deployed model out of serving."""
    with client() as api:
        op = api.undeploy(model_id)
    _print_operation(op)


def _print_operation(op: DeploymentStatus) -> None:
    if op.status != "COMPLETED":
        typer.secho(f"error: {op.action} of {op.model_id} {op.status.lower()}: {(op.result or {}).get('error', '')}",
                    err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"{op.model_id} {op.action}ed")  # deployed, undeployed


def models_download(
    model_id: str,
    fmt: Annotated[str, typer.Option("--format", help="adapter (PEFT, tar), merged (tar) or gguf.")] = "adapter",
    out: Annotated[Path, typer.Option(file_okay=False, help="Folder to save the file in.")] = Path("."),
) -> None:
    """Download an aligned model's adapter, merged model or GGUF file, with a progress bar."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    out.mkdir(parents=True, exist_ok=True)
    with client() as api, Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                                   console=Console(stderr=True)) as bar:
        task = bar.add_task(f"{model_id} ({fmt})", total=None)

        def advance(size: int, total: int | None) -> None:
            bar.update(task, advance=size, total=total)

        target = api.download_model(model_id, fmt, out, advance)
    typer.echo(str(target))


@eval_app.command("run")
def eval_run(
    model: Annotated[str, typer.Option(help="An aligned model id or a base model id.")],
    benchmark: Annotated[str, typer.Option(help="Benchmark id.")],
    model_2: Annotated[str | None, typer.Option(help="A second model, scored side by side with flips.")] = None,
    grounded: Annotated[bool, typer.Option(help="Retrieved passages in front of each question.")] = False,
    wait: Annotated[bool, typer.Option(help="Show progress until done, then the results.")] = True,
) -> None:
    """Score a model (or two) on a benchmark; prints the evaluation id, then (with --wait) the results."""
    from rich.progress import Progress

    with client() as api:
        eval_id = api.create_evaluation(model, benchmark, model_2, grounded)
        typer.echo(eval_id)
        if not wait:
            return
        with Progress(console=Console(stderr=True)) as bar:
            task = bar.add_task("evaluating", total=100)
            status = api.wait_for_evaluation(eval_id,
                                             on_status=lambda s: bar.update(task, completed=s.progress.percent))
        if status.status != "COMPLETED":
            typer.secho(f"error: evaluation {eval_id} failed: {status.error}", err=True, fg="red")
            raise typer.Exit(1)
        _print_results(api.evaluation_results(eval_id))


@eval_app.command("results")
def eval_results(eval_id: str, as_json: JsonFlag = False) -> None:
    """Results of a finished evaluation (400 until it is)."""
    with client() as api:
        _show(api.evaluation_results(eval_id), as_json, _print_results)


def _print_results(results: EvaluationResults) -> None:
    rows = [(results.model_id, results.summary)]
    if results.summary_2 is not None and results.model_id_2:
        rows.append((results.model_id_2, results.summary_2))
    _print_rows(("model", "accuracy", "uncertainty", "violations"),
                [(m, f"{s.accuracy:.3f}", f"{s.uncertainty:.3f}", str(s.domain_violations)) for m, s in rows])
    if results.flips:
        flips = results.flips
        typer.echo(f"flips: {flips.wrong_to_right} wrong -> right, {flips.right_to_wrong} right -> wrong")
