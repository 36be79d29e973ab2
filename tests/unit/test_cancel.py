"""Cancel against a real SQLite database: a job a live worker holds is asked to stop, not failed."""

from __future__ import annotations

from domalign.config import Settings
from domalign.ids import new_id
from domalign.status import AlignmentStatus
from domalign.store.tables import Alignment, utcnow
from domalign.workflow.alignments import cancel_alignment
from domalign.workflow.context import Context
from domalign.workflow.users import create_user


def test_cancel_of_a_claimed_job_asks_its_worker_to_stop(tmp_path):
    ctx = Context.open(Settings(home=tmp_path))
    owner, _ = create_user(ctx, "alice")
    with ctx.db.session() as session:
        row = Alignment(id=new_id("alignment"), owner_id=owner, name="held", base_model="m", document_ids=[],
                        options={}, status=AlignmentStatus.PENDING.value, stage="train",
                        claimed_by="worker-1", heartbeat_at=utcnow())
        session.add(row)
    # the row read back from SQLite has a naive heartbeat; the stale-lease test must stay in SQL
    cancelled = cancel_alignment(ctx, owner, row.id)
    assert cancelled.cancel_requested and cancelled.status == AlignmentStatus.PENDING.value
    assert cancelled.claimed_by == "worker-1"
