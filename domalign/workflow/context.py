"""What every use case and job needs: settings, database and blob store, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from domalign.config import Settings
from domalign.store.blobs import BlobStore
from domalign.store.db import Database
from domalign.store.remote import RemoteStore


@dataclass(frozen=True)
class Context:
    settings: Settings
    db: Database
    blobs: BlobStore

    @classmethod
    def open(cls, settings: Settings) -> Context:
        """Create the home folder, connect, migrate the schema to the newest revision, hook up webhooks."""
        settings.home.mkdir(parents=True, exist_ok=True)
        from domalign.workflow.webhooks import track_status_changes  # it needs Context itself

        db = Database(settings.resolved_database_url)
        db.migrate()
        remote = RemoteStore(settings.blob_url, settings.blob_options) if settings.blob_url else None
        ctx = cls(settings=settings, db=db, blobs=BlobStore(settings.blob_dir, remote))
        track_status_changes(ctx)
        return ctx
