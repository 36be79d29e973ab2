"""A shared blob store behind any fsspec URL: an S3-compatible bucket (``s3://bucket/prefix``, through
s3fs), a mounted path (``file:///mnt/shared``), or any other filesystem fsspec knows.

Single objects are written whole (an S3 PUT is atomic). A folder is uploaded
file by file and then marked complete with a ``.complete`` object, and only
complete folders are downloaded, so a reader never gets half an adapter.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from domalign.store.atomic import atomic_dir

COMPLETE = ".complete"


class RemoteStore:
    """Keys under ``url``; ``options`` go to the fsspec filesystem (e.g. ``endpoint_url`` for s3fs)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        import fsspec

        self.url = url
        self.fs, self.prefix = fsspec.core.url_to_fs(url, **(options or {}))
        self.fs.makedirs(self.prefix, exist_ok=True)

    def _path(self, key: str) -> str:
        return posixpath.join(self.prefix, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when it is missing."""
        return self.fs.cat_file(self._path(key))

    def exists(self, key: str) -> bool:
        self.fs.invalidate_cache()  # another machine may have written it since this one last listed
        return self.fs.exists(self._path(key))

    def delete(self, key: str) -> None:
        path = self._path(key)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
        self.fs.invalidate_cache()

    def put_dir(self, key: str, local: Path) -> None:
        """Upload ``local`` as folder ``key``; it counts as present once its last file is up."""
        self.delete(key)  # a re-upload replaces the folder, never merges into it
        for item in sorted(p for p in local.rglob("*") if p.is_file()):
            self.fs.put_file(str(item), self._path(f"{key}/{item.relative_to(local).as_posix()}"))
        self.put_bytes(f"{key}/{COMPLETE}", b"")

    def has_dir(self, key: str) -> bool:
        return self.exists(f"{key}/{COMPLETE}")

    def get_dir(self, key: str, local: Path) -> None:
        """Download complete folder ``key`` into ``local`` (atomically: all of it or nothing)."""
        root = self._path(key).rstrip("/")
        self.fs.invalidate_cache()
        with atomic_dir(local) as tmp:
            for remote in self.fs.find(root):
                relative = posixpath.relpath(remote, root)
                if relative == COMPLETE:
                    continue
                target = tmp / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(target))

    def subfolders(self, key: str) -> list[str]:
        """Names of the complete folders directly under ``key``."""
        root = self._path(key)
        if not self.exists(key):
            return []
        names = [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(root, detail=False)]
        return sorted(name for name in names if self.has_dir(f"{key}/{name}"))
