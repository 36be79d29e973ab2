"""Pairs of rows decoded as one answer: the fused token, the same for both rows, and rows left alone."""

from __future__ import annotations

import pytest
import torch

from domalign.models.fusion import PairFusion, fuse_scores


def _scores(rows: int, vocab: int = 50, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def test_a_pair_takes_the_argmax_of_the_weighted_mean_and_other_rows_pass_through() -> None:
    scores = _scores(3)
    fusion = PairFusion([(0, 2)], [0.25])
    out = fusion(torch.zeros((3, 1), dtype=torch.long), scores)
    fused = (0.75 * scores[0].log_softmax(-1) + 0.25 * scores[2].log_softmax(-1)).log_softmax(-1)
    token = int(fused.argmax())
    for row in (0, 2):
        assert int(out[row].argmax()) == token and torch.isinf(out[row]).sum() == scores.shape[1] - 1
    assert torch.equal(out[1], scores[1])
    assert fusion.picked[0] == [pytest.approx(fused[token].item())]


@pytest.mark.parametrize("weight, row", [(0.0, 0), (1.0, 1)])
def test_weight_zero_or_one_is_one_view_alone(weight: float, row: int) -> None:
    scores = _scores(2, seed=1)
    out = PairFusion([(0, 1)], [weight])(torch.zeros((2, 1), dtype=torch.long), scores)
    assert int(out[0].argmax()) == int(scores[row].argmax())


def test_sampling_keeps_a_pair_on_one_token_and_follows_top_p() -> None:
    torch.manual_seed(0)
    fusion = PairFusion([(0, 1), (2, 3)], [0.5, 0.5], temperature=1.0, top_p=0.9)
    tokens = set()
    for seed in range(40):
        out = fusion(torch.zeros((4, 1), dtype=torch.long), _scores(4, vocab=8, seed=seed) / 3)
        picked = out.argmax(dim=-1).tolist()
        assert picked[0] == picked[1] and picked[2] == picked[3]
        tokens.add(picked[0])
    assert len(tokens) > 1  # it samples rather than always taking the argmax


def test_weights_are_checked_and_choice_scores_fuse_the_same_way() -> None:
    with pytest.raises(ValueError, match="one memory weight"):
        PairFusion([(0, 1)], [1.5])
    with pytest.raises(ValueError, match="one memory weight"):
        PairFusion([(0, 1), (2, 3)], [0.5])
    assert fuse_scores([-1.0, -3.0], [-2.0, -1.0], 0.5) == [-1.5, -2.0]


def test_a_token_masked_before_fusion_stays_impossible_at_any_weight() -> None:
    scores = _scores(2, seed=2)
    scores[1, int(scores[0].argmax())] = float("-inf")  # the memory row's processors ruled out the reader's best
    for weight in (0.0, 0.5, 1.0):
        out = PairFusion([(0, 1)], [weight])(torch.zeros((2, 1), dtype=torch.long), scores.clone())
        assert not out.isnan().any() and int(out[0].argmax()) != int(scores[0].argmax())
