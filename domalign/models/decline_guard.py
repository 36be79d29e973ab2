"""The decline guard: rows whose question names nothing unknown cannot start a decline.

A ``generate`` logits processor. Where a question names only words its adapter's corpus uses
(:func:`domalign.declines.may_decline` is false), "The documents do not mention …" would be false, so the
guard bans "The documents" (and "The document") as the start of that row's answer
(:data:`~domalign.declines.DECLINE_OPENINGS`) and the model answers with what it would say next. It runs
before a fused answer's :class:`~domalign.models.fusion.ViewFusion`, on the reader's row, so the fused
answer cannot take the decline either. Only an adapter that learned to decline is guarded
(:attr:`~domalign.corpus_words.CorpusWords.declines`); everything else answers unguarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from domalign.declines import DECLINE_OPENINGS


def decline_openings(tokenizer: Any) -> dict[tuple[int, ...], set[int]]:
    """For each answer prefix (token ids) that leads into a decline, the tokens that would continue it."""
    banned: dict[tuple[int, ...], set[int]] = {}
    for opening in DECLINE_OPENINGS:
        ids = tokenizer(opening, add_special_tokens=False)["input_ids"]
        banned.setdefault(tuple(ids[:-1]), set()).add(ids[-1])
    return banned


class DeclineGuard:
    """Bans the decline's openings at the start of the answers of ``rows`` (batch row indices); ``width`` is
    the prompts' padded length, where every row's answer starts."""

    def __init__(self, tokenizer: Any, rows: Sequence[int], width: int) -> None:
        self.rows, self.width = list(rows), width
        self.banned = decline_openings(tokenizer) if self.rows else {}
        self.longest = max(map(len, self.banned), default=-1)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] - self.width > self.longest:  # past the start of the answers
            return scores
        for row in self.rows:
            tokens = self.banned.get(tuple(input_ids[row, self.width:].tolist()))
            if tokens:
                scores[row, list(tokens)] = float("-inf")
        return scores
