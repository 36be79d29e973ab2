"""The web console: static pages served at ``/`` that talk to the same JSON API as every other client.

Nothing here reaches into the workflow or the store. The page is plain HTML, CSS and ES modules with no
third-party code, so it needs no build step and no network beyond this server.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(str(files("domalign.web") / "static"))


def mount_console(app: FastAPI) -> None:
    """Serve the console's page at ``/`` and its assets under ``/console``."""
    app.mount("/console", StaticFiles(directory=STATIC), name="console")

    @app.get("/", include_in_schema=False)
    def console() -> FileResponse:
        # no-cache: the page is tiny, and a stale one after an upgrade would call routes that moved
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
