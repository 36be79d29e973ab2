"""The one mapping from domalign's exception tree to HTTP status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from domalign.errors import (
    BadRequest,
    Conflict,
    DomalignError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMedia,
)

STATUS_CODES: dict[type[DomalignError], int] = {
    NotFound: 404,
    Conflict: 409,
    BadRequest: 400,
    InvalidInput: 422,
    PayloadTooLarge: 413,
    UnsupportedMedia: 415,
    Unauthorized: 401,
}


def status_code_for(exc: DomalignError) -> int:
    """The code of the most specific class in the tree."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def _openai_path(path: str) -> bool:
    return path.startswith(("/v1/", "/api/v3/inference/"))


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomalignError)
        code = status_code_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        content: dict = {"detail": exc.message}
        if _openai_path(request.url.path):  # OpenAI clients read error.message
            content["error"] = {"message": exc.message, "type": type(exc).__name__, "code": code}
        return JSONResponse(status_code=code, content=content, headers=headers)

    app.add_exception_handler(DomalignError, handle)
