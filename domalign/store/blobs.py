"""The blob store: files under one folder, addressed by relative keys, written atomically.

Every write is atomic (``domalign.store.atomic``), so a crash never leaves a
half-written artifact behind.

With a remote store (``DOMALIGN_BLOB_URL``: an S3-compatible bucket or another
fsspec URL) the remote is the store every machine shares and the local folder is
this machine's working copy. Files are written to both and read from the remote.
Folders (adapters, checkpoints, exports) are written and read by libraries
through local paths, so their owners call ``publish`` after writing one and
``fetch`` before reading it; without a remote both are no-ops.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domalign.errors import InvalidInput
from domalign.store.atomic import write_file
from domalign.store.remote import RemoteStore


class BlobStore:
    """Files keyed by slash-separated relative paths under ``root`` (and in ``remote`` when there is one)."""

    def __init__(self, root: Path, remote: RemoteStore | None = None) -> None:
        self.root, self.remote = root, remote
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Absolute path of ``key``; refuses keys that would escape the root."""
        target = (self.root / key).resolve()
        if self.root.resolve() not in target.parents and target != self.root.resolve():
            raise InvalidInput(f"blob key {key!r} escapes the blob store")
        return target

    def exists(self, key: str) -> bool:
        """Whether file ``key`` exists (for folders, ``fetch`` and see)."""
        return self.path(key).exists() if self.remote is None else self.remote.exists(key)

    def write_bytes(self, key: str, data: bytes) -> Path:
        target = write_file(self.path(key), data)
        if self.remote is not None:
            self.remote.put_bytes(key, data)
        return target

    def read_bytes(self, key: str) -> bytes:
        if self.remote is None:
            return self.path(key).read_bytes()
        return self.remote.get_bytes(key)

    def publish(self, key: str) -> None:
        """Upload the folder the local path of ``key`` holds, so other machines can ``fetch`` it."""
        if self.remote is not None:
            self.remote.put_dir(key, self.path(key))

    def fetch(self, key: str) -> Path:
        """The local path of folder ``key``, downloaded first when another machine published it."""
        target = self.path(key)
        if self.remote is not None and not target.exists() and self.remote.has_dir(key):
            self.remote.get_dir(key, target)
        return target

    def publish_each(self, key: str) -> None:
        """Mirror folder ``key`` whose subfolders are separate units (checkpoints): upload the new ones,
        remove those gone locally."""
        if self.remote is None:
            return
        local = {p.name for p in self.path(key).iterdir() if p.is_dir() and not p.name.startswith(".")}
        remote = set(self.remote.subfolders(key))
        for name in sorted(local - remote):
            self.remote.put_dir(f"{key}/{name}", self.path(key) / name)
        for name in sorted(remote - local):
            self.remote.delete(f"{key}/{name}")

    def fetch_each(self, key: str) -> Path:
        """The local path of ``key`` with every complete remote subfolder downloaded into it."""
        target = self.path(key)
        if self.remote is not None:
            for name in self.remote.subfolders(key):
                if not (target / name).exists():
                    self.remote.get_dir(f"{key}/{name}", target / name)
        return target

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
        if self.remote is not None:
            self.remote.delete(key)
