"""Persistence: the database (SQLAlchemy 2 + Alembic) and the blob folder."""
