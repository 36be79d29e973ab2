"""Triples of rows decoded as one answer: the fused token, the same for all three rows, and rows left alone."""

from __future__ import annotations

import pytest
import torch

from domalign.models.fusion import FusedRows, ViewFusion, fuse_scores


def _scores(rows: int, vocab: int = 50, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def test_a_triple_takes_the_argmax_of_the_reader_plus_what_the_adapter_learned_and_other_rows_pass_through() -> None:
    scores = _scores(4, seed=3)
    fusion = ViewFusion([FusedRows(0, 2, 3)], [0.25])
    out = fusion(torch.zeros((4, 1), dtype=torch.long), scores)
    reader, memory, prior = (scores[i].log_softmax(-1) for i in (0, 2, 3))
    fused = (reader + 0.25 * (memory - prior)).log_softmax(-1)
    token = int(fused.argmax())
    assert token != int(reader.argmax())  # the learned difference changed the token: the check can fail
    for row in (0, 2, 3):
        assert int(out[row].argmax()) == token and torch.isinf(out[row]).sum() == scores.shape[1] - 1
    assert torch.equal(out[1], scores[1])
    assert fusion.picked[0] == [pytest.approx(fused[token].item())]


def test_weight_zero_is_the_reader_alone_and_a_reader_with_the_priors_prompt_gets_the_memorys_token() -> None:
    scores = _scores(3, seed=1)
    out = ViewFusion([FusedRows(0, 1, 2)], [0.0])(torch.zeros((3, 1), dtype=torch.long), scores.clone())
    assert int(out[0].argmax()) == int(scores[0].argmax())
    scores[2] = scores[0]  # the reader saw no passages: it is the base model on the closed-book prompt
    out = ViewFusion([FusedRows(0, 1, 2)], [1.0])(torch.zeros((3, 1), dtype=torch.long), scores.clone())
    assert int(out[0].argmax()) == int(scores[1].argmax()) != int(scores[0].argmax())


def test_sampling_keeps_a_triple_on_one_token_and_follows_top_p() -> None:
    torch.manual_seed(0)
    fusion = ViewFusion([FusedRows(0, 1, 2), FusedRows(3, 4, 5)], [0.5, 0.5], temperature=1.0, top_p=0.9)
    tokens = set()
    for seed in range(40):
        out = fusion(torch.zeros((6, 1), dtype=torch.long), _scores(6, vocab=8, seed=seed) / 3)
        picked = out.argmax(dim=-1).tolist()
        assert len(set(picked[:3])) == 1 and len(set(picked[3:])) == 1
        tokens.add(picked[0])
    assert len(tokens) > 1  # it samples rather than always taking the argmax


def test_weights_are_checked_and_choice_scores_fuse_the_same_way() -> None:
    with pytest.raises(ValueError, match="one memory weight"):
        ViewFusion([FusedRows(0, 1, 2)], [1.5])
    with pytest.raises(ValueError, match="one memory weight"):
        ViewFusion([FusedRows(0, 1, 2), FusedRows(3, 4, 5)], [0.5])
    assert fuse_scores([-1.0, -3.0], [-2.0, -1.0], [-1.0, -4.0], 0.5) == [-1.5, -1.5]


def test_a_token_masked_before_fusion_stays_impossible_at_any_weight() -> None:
    scores = _scores(3, seed=2)
    best = int(scores[0].argmax())
    scores[1, best] = scores[2, best] = float("-inf")  # the closed-book rows' processors ruled out the reader's best
    for weight in (0.0, 0.5, 1.0):
        out = ViewFusion([FusedRows(0, 1, 2)], [weight])(torch.zeros((3, 1), dtype=torch.long), scores.clone())
        assert not out.isnan().any() and int(out[0].argmax()) != best
