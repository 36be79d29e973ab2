"""On PostgreSQL (DOMALIGN_TEST_POSTGRES_URL): the server really keeps its data there."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES_URL, database_env

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="set DOMALIGN_TEST_POSTGRES_URL (scripts/postgres.sh prints one)"),
]


def test_the_server_keeps_documents_and_users_in_postgresql(server, corpus_ids, user_key):
    url = database_env(server.home)["DOMALIGN_DATABASE_URL"]
    assert url.startswith("postgresql")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            stored = set(conn.execute(text("SELECT id FROM documents")).scalars())
            users = set(conn.execute(text("SELECT name FROM users")).scalars())
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert set(corpus_ids) <= stored and "alice" in users and revision
