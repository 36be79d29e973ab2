"""Prefixed, sortable, unguessable ids (a ULID: 48 bits of time, 80 random bits)."""

from __future__ import annotations

from ulid import ULID

PREFIXES = frozenset({"user", "doc", "alignment", "benchmark", "eval", "model", "deploy", "webhook", "delivery"})


def new_id(prefix: str) -> str:
    """Return ``prefix_<ulid>``; ids of one prefix sort by creation time."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{str(ULID()).lower()}"
