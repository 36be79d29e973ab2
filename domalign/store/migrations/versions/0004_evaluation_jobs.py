"""evaluations become jobs: a second model, progress, status and claim columns

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = [
    sa.Column("model_id_2", sa.String(length=200), nullable=True),
    sa.Column("grounded", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("questions_done", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("questions_total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("claimed_by", sa.String(length=100), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        for column in COLUMNS:
            batch.add_column(column)
        batch.create_index("ix_evaluations_queue", ["status", "claimed_by"])
    _alignment_rows_become_comparisons()


def _alignment_rows_become_comparisons() -> None:
    """Rows of 0001-0003 held {"before", "after"} of an alignment: now base (model 1) vs aligned (model 2)."""
    evaluations = sa.table("evaluations", sa.column("id", sa.String), sa.column("model_id", sa.String),
                           sa.column("model_id_2", sa.String), sa.column("alignment_id", sa.String),
                           sa.column("summary", sa.JSON))
    alignments = sa.table("alignments", sa.column("id", sa.String), sa.column("base_model", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(evaluations.c.id, evaluations.c.model_id, evaluations.c.summary,
                                  alignments.c.base_model)
                        .join(alignments, alignments.c.id == evaluations.c.alignment_id)).all()
    for eval_id, model_id, summary, base_model in rows:
        if "before" in (summary or {}):
            conn.execute(evaluations.update().where(evaluations.c.id == eval_id).values(
                model_id=base_model, model_id_2=model_id, summary={"summaries": [summary["before"], summary["after"]]}))


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_index("ix_evaluations_queue")
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
