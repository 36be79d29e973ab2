"""Generated tokens' log-probabilities, taken step by step without the full-vocabulary tensor."""

from __future__ import annotations

import torch

from domalign.models.tokens import chosen_logprobs


def test_chosen_logprobs_equal_the_stacked_log_softmax():
    torch.manual_seed(0)
    steps = [torch.randn(3, 50, dtype=torch.bfloat16) * 4 for _ in range(5)]
    tokens = torch.randint(0, 50, (3, 5))
    full = torch.stack(steps, dim=1).float().log_softmax(dim=-1)
    expected = full.gather(2, tokens[:, :, None])[:, :, 0]

    picked = chosen_logprobs(steps, tokens)

    assert picked.shape == (3, 5) and picked.dtype == torch.float32
    assert torch.allclose(picked, expected, atol=1e-6)


def test_no_steps_give_empty_rows():
    assert chosen_logprobs([], torch.zeros((2, 0), dtype=torch.long)).shape == (2, 0)
