"""The blob store: files under one folder, addressed by relative keys, written atomically.

Every write is atomic (``domalign.store.atomic``), so a crash never leaves a
half-written artifact behind.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domalign.errors import InvalidInput
from domalign.store.atomic import write_file


class BlobStore:
    """Files keyed by slash-separated relative paths under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Absolute path of ``key``; refuses keys that would escape the root."""
        target = (self.root / key).resolve()
        if self.root.resolve() not in target.parents and target != self.root.resolve():
            raise InvalidInput(f"blob key {key!r} escapes the blob store")
        return target

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def write_bytes(self, key: str, data: bytes) -> Path:
        return write_file(self.path(key), data)

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write_json(self, key: str, value: Any) -> Path:
        return self.write_bytes(key, json.dumps(value, ensure_ascii=False, indent=1).encode())

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def cached_json(self, key: str, compute: Callable[[], Any]) -> Any:
        """The JSON at ``key``; computed and written first when missing (a cache of costly results)."""
        if self.exists(key):
            return self.read_json(key)
        value = compute()
        self.write_json(key, value)
        return value

    def write_jsonl(self, key: str, rows: list[dict]) -> Path:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return self.write_bytes(key, text.encode())

    def read_jsonl(self, key: str) -> list[dict]:
        return [json.loads(line) for line in self.read_bytes(key).decode().splitlines() if line]

    def delete(self, key: str) -> None:
        """Remove a file or a whole folder; missing keys are fine."""
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
