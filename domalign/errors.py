"""The one exception tree of domalign.

    DomalignError
    ├── NotFound            missing object, or one that belongs to another user (never a leak)
    ├── Conflict            the object's state forbids the action (invalid transition, in use)
    ├── InvalidInput        a request or file that cannot be used as given
    ├── BadRequest          a request the current state of things refuses outright
    │   └── UnknownBaseModel
    ├── PayloadTooLarge     an upload over the configured limit
    ├── UnsupportedMedia    a file type domalign cannot parse
    ├── Unauthorized        missing or bad API key
    └── Cancelled           a job was cancelled (or its worker must stop) while running

HTTP status codes and CLI exit codes are mapped from this tree in exactly one
place each (``domalign.api.errors`` and ``domalign.cli``). Every message says
what was wrong and how to fix it.
"""

from __future__ import annotations


class DomalignError(Exception):
    """Base of every error domalign raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomalignError):
    """The object does not exist or is not the caller's."""


class Conflict(DomalignError):
    """The object's current state does not allow the requested action."""


class InvalidInput(DomalignError):
    """The input is well-formed HTTP but cannot be used."""


class BadRequest(DomalignError):
    """The request is refused as a whole (an unknown base model, deleting a deployed model)."""


class UnknownBaseModel(BadRequest):
    """The requested base model is not in the catalog."""


class PayloadTooLarge(DomalignError):
    """An uploaded file is larger than the configured limit."""


class UnsupportedMedia(DomalignError):
    """An uploaded file has a type domalign cannot parse."""


class Unauthorized(DomalignError):
    """Missing or invalid API key."""


class Cancelled(DomalignError):
    """A running job noticed it was cancelled and stopped."""
