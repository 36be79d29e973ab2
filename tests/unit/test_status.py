"""The alignment state machine: every allowed and forbidden pair."""

from __future__ import annotations

import itertools

import pytest

from domalign.errors import Conflict
from domalign.status import AlignmentStatus as S
from domalign.status import transition

ALLOWED = {
    (S.PENDING, S.PENDING), (S.PENDING, S.EVALUATING), (S.PENDING, S.COMPLETED), (S.PENDING, S.FAILED),
    (S.EVALUATING, S.EVALUATING), (S.EVALUATING, S.EVALUATED), (S.EVALUATING, S.FAILED),
    (S.COMPLETED, S.DEPLOYING), (S.EVALUATED, S.DEPLOYING), (S.UNDEPLOYED, S.DEPLOYING),
    (S.COMPLETED, S.UNDEPLOYED), (S.EVALUATED, S.UNDEPLOYED),
    (S.DEPLOYING, S.COMPLETED), (S.DEPLOYING, S.EVALUATED), (S.DEPLOYING, S.UNDEPLOYED), (S.DEPLOYING, S.FAILED),
}


@pytest.mark.parametrize("src,dst", list(itertools.product(S, S)))
def test_transition_table(src, dst):
    if (src, dst) in ALLOWED:
        assert transition(src.value, dst.value) is dst
    else:
        with pytest.raises(Conflict, match=f"from '{src.value}' to '{dst.value}'"):
            transition(src.value, dst.value)


def test_failed_is_terminal():
    assert all((S.FAILED, dst) not in ALLOWED for dst in S)
