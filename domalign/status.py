"""The alignment status state machine: the seed's enum and its one transition function.

    pending ──> evaluating ──> evaluated ⇄ deploying      evaluated ──> undeployed ──> deploying
       │            │                                    (undeploy)     (redeploy)
       ├──> completed ⇄ deploying                         completed ──> undeployed
       └────────────┴──> failed        (error, or error "cancelled")

``pending`` covers queued and running (ingest → synthesize → baseline → train).
A deployed model is reported by the model's ``deployment_status``; the project
returns to completed/evaluated once deploying ends, and is ``undeployed`` after
an undeploy.
"""

from __future__ import annotations

from enum import StrEnum

from domalign.errors import Conflict


class AlignmentStatus(StrEnum):
    PENDING = "pending"
    EVALUATING = "evaluating"
    COMPLETED = "completed"
    EVALUATED = "evaluated"
    DEPLOYING = "deploying"
    UNDEPLOYED = "undeployed"
    FAILED = "failed"


S = AlignmentStatus

ALLOWED: dict[AlignmentStatus, frozenset[AlignmentStatus]] = {
    S.PENDING: frozenset({S.PENDING, S.EVALUATING, S.COMPLETED, S.FAILED}),
    S.EVALUATING: frozenset({S.EVALUATING, S.EVALUATED, S.FAILED}),
    S.COMPLETED: frozenset({S.DEPLOYING, S.UNDEPLOYED}),
    S.EVALUATED: frozenset({S.DEPLOYING, S.UNDEPLOYED}),
    S.DEPLOYING: frozenset({S.COMPLETED, S.EVALUATED, S.UNDEPLOYED, S.FAILED}),
    S.UNDEPLOYED: frozenset({S.DEPLOYING}),
    S.FAILED: frozenset(),
}

RUNNING = frozenset({S.PENDING, S.EVALUATING})
FINISHED = frozenset({S.COMPLETED, S.EVALUATED, S.UNDEPLOYED, S.FAILED})


def transition(current: str, target: str) -> AlignmentStatus:
    """Return ``target`` if the move is allowed, else raise Conflict (HTTP 409)."""
    src, dst = AlignmentStatus(current), AlignmentStatus(target)
    if dst not in ALLOWED[src]:
        raise Conflict(f"an alignment cannot go from '{src}' to '{dst}'")
    return dst
