"""Request dependencies: the process context and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domalign.errors import Unauthorized
from domalign.store.tables import User
from domalign.workflow.context import Context
from domalign.workflow.users import authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key from `domalign users create NAME`.")


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


def current_user(
    ctx: Annotated[Context, Depends(get_ctx)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing API key: send 'Authorization: Bearer <api_key>'")
    return authenticate(ctx, credentials.credentials)


Ctx = Annotated[Context, Depends(get_ctx)]
CurrentUser = Annotated[User, Depends(current_user)]
