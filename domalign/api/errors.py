"""The one mapping from domalign's exception tree to HTTP status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from domalign.errors import (
    Cancelled,
    Conflict,
    DomalignError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    StageFailed,
    Unauthorized,
    UnknownBaseModel,
    UnsupportedMedia,
)

STATUS_CODES: dict[type[DomalignError], int] = {
    NotFound: 404,
    Conflict: 409,
    UnknownBaseModel: 400,
    InvalidInput: 422,
    PayloadTooLarge: 413,
    UnsupportedMedia: 415,
    Unauthorized: 401,
    Cancelled: 409,
    StageFailed: 500,
}


def status_code_for(exc: DomalignError) -> int:
    """The code of the most specific class in the tree (UnknownBaseModel before InvalidInput)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomalignError)
        code = status_code_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse(status_code=code, content={"detail": exc.message}, headers=headers)

    app.add_exception_handler(DomalignError, handle)
