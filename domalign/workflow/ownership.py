"""The one ownership check: a missing object and another user's object are the same 404."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from domalign.errors import NotFound

T = TypeVar("T")


def load_owned(session: Session, table: type[T], object_id: str, owner_id: str, label: str) -> T:
    """Return the row ``object_id`` of ``table`` if ``owner_id`` owns it, else raise NotFound."""
    row = session.get(table, object_id)
    if row is None or row.owner_id != owner_id:
        raise NotFound(f"{label} '{object_id}' not found")
    return row
