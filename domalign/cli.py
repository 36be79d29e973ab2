"""The ``domalign`` command: server, accounts, model catalog, demo.

Errors are mapped to one-line messages and exit codes here, in one place.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from domalign.cli_client import (
    align_app,
    chat,
    docs_app,
    eval_app,
    models_deploy,
    models_download,
    models_list,
    models_undeploy,
)
from domalign.errors import (
    Conflict,
    DomalignError,
    InvalidInput,
    NotFound,
    Unauthorized,
)

app = typer.Typer(help="domalign: align a language model to your documents.", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts and API keys.", no_args_is_help=True)
models_app = typer.Typer(help="The base-model catalog (add) and models on a server (list, deploy, undeploy, "
                         "download).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(models_app, name="models")
app.add_typer(docs_app, name="docs")
app.add_typer(align_app, name="align")
app.add_typer(eval_app, name="eval")
app.command()(chat)

EXIT_CODES: dict[type[DomalignError], int] = {InvalidInput: 2, Unauthorized: 3, NotFound: 4, Conflict: 5}
EXIT_UNREACHABLE = 6  # the server at DOMALIGN_URL did not answer


def exit_code_for(exc: DomalignError) -> int:
    return next((EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES), 1)


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _context():
    from domalign.config import Settings
    from domalign.workflow.context import Context

    return Context.open(Settings())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the API server (with its workflow worker)."""
    import uvicorn

    from domalign.api.app import create_app

    _log_to_stderr()
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@app.command()
def worker() -> None:
    """Run a workflow worker without the HTTP server (shares the database and blob folder); it sends webhooks too."""
    from domalign.workflow.webhooks import WebhookSender
    from domalign.workflow.worker import start_workers

    _log_to_stderr()
    ctx = _context()
    sender = WebhookSender(ctx)
    sender.start()
    workers = start_workers(ctx)
    typer.echo(f"worker started ({len(workers)} at once); Ctrl-C stops it")
    try:
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        for worker in workers:
            worker.stop()
        sender.stop()


@users_app.command("create")
def users_create(name: str) -> None:
    """Create a user and print its API key (shown only this once)."""
    from domalign.workflow.users import create_user

    user_id, api_key = create_user(_context(), name)
    typer.echo(f"user {name} ({user_id}) created. API key (shown once, keep it):")
    typer.echo(api_key)


@models_app.command("add")
def models_add(
    model_id: str,
    path: Path,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Register a local Hugging Face model folder or GGUF file as a base model."""
    from domalign.workflow.catalog import add_base_model

    info = add_base_model(_context(), model_id, path, name)
    typer.echo(f"registered base model {info.id} ({info.parameters:,} parameters) from {info.source}")


for name, command in (("list", models_list), ("deploy", models_deploy), ("undeploy", models_undeploy),
                      ("download", models_download)):
    models_app.command(name)(command)


@app.command()
def demo(
    url: Annotated[str | None, typer.Option(envvar="DOMALIGN_URL", help="Use this running server.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="DOMALIGN_API_KEY", help="Key for --url.")] = None,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 150,
) -> None:
    """Align the embedded model on a sample corpus and print before/after metrics."""
    from domalign.demo.run import run_demo

    run_demo(url=url, api_key=api_key, steps=steps)


def main() -> None:
    import httpx

    try:
        app()
    except DomalignError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg="red")
        sys.exit(exit_code_for(exc))
    except httpx.TransportError as exc:
        typer.secho(f"error: cannot reach the server at {exc.request.url.copy_with(path='/')} ({exc}); "
                    "start it with `domalign serve` or set DOMALIGN_URL", err=True, fg="red")
        sys.exit(EXIT_UNREACHABLE)


if __name__ == "__main__":
    main()
