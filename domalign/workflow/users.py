"""Accounts: API keys are shown once at creation and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from domalign.errors import Conflict, Unauthorized
from domalign.ids import new_id
from domalign.store.tables import User
from domalign.workflow.context import Context


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_user(ctx: Context, name: str) -> tuple[str, str]:
    """Create user ``name``; return ``(user_id, api_key)``. The key cannot be recovered later."""
    api_key = "da_" + secrets.token_urlsafe(32)
    with ctx.db.session() as session:
        if session.scalar(select(User).where(User.name == name)) is not None:
            raise Conflict(f"user '{name}' already exists; pick another name")
        user = User(id=new_id("user"), name=name, api_key_hash=_hash(api_key))
        session.add(user)
    return user.id, api_key


def authenticate(ctx: Context, api_key: str) -> User:
    """Return the user owning ``api_key`` or raise Unauthorized."""
    with ctx.db.session() as session:
        user = session.scalar(select(User).where(User.api_key_hash == _hash(api_key)))
    if user is None:
        raise Unauthorized("invalid API key; create one with `domalign users create NAME`")
    return user
