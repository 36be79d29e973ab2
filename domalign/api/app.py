"""The app factory: settings in, a FastAPI app (with its worker thread) out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from domalign import __version__
from domalign.api.errors import install_error_handlers
from domalign.api.routes import alignments, benchmarks, documents, evaluations, inference, models, webhooks
from domalign.config import Settings
from domalign.serve.engine import ServingEngine
from domalign.web import mount_console
from domalign.workflow import deployments
from domalign.workflow.catalog import load_catalog_model
from domalign.workflow.context import Context
from domalign.workflow.webhooks import WebhookSender


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = Context.open(settings)
        app.state.ctx = ctx
        app.state.engine = ServingEngine(lambda base_id: load_catalog_model(ctx, base_id),
                                         batch_window_s=settings.batch_window_ms / 1000,
                                         batch_max_wait_s=settings.batch_max_wait_ms / 1000,
                                         max_batch=settings.max_batch, precision=settings.serve_precision)
        deployments.recover(ctx)
        sender = WebhookSender(ctx)
        sender.start()
        workers = []
        if settings.worker_enabled:
            from domalign.workflow.worker import start_workers

            workers = start_workers(ctx)
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()
            sender.stop()
            app.state.engine.close()
            ctx.db.engine.dispose()

    app = FastAPI(title="domalign", version=__version__, lifespan=lifespan,
                  description="Self-hosted domain alignment: documents in, an aligned model out.")
    install_error_handlers(app)

    api = APIRouter(prefix="/api/v3")
    api.include_router(documents.router)
    api.include_router(benchmarks.router)
    api.include_router(alignments.build_router("/alignment"))
    api.include_router(alignments.build_router("/alignment-project"))
    api.include_router(models.router)
    api.include_router(evaluations.router)
    api.include_router(webhooks.router)
    app.include_router(api)
    app.include_router(inference.router)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    mount_console(app)

    return app
