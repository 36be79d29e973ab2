"""Token-level helpers shared by evaluation and serving: which ids end an answer, what each generated
token's log-probability was."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-sequence ids: the tokenizer's eos, ChatML's ``<|im_end|>``, the model's own."""
    ids = {tokenizer.eos_token_id}
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def chosen_logprobs(step_logits: Sequence[torch.Tensor], new_tokens: torch.Tensor) -> torch.Tensor:
    """``(rows, steps)``: each generated token's log-probability under its step's raw logits.

    One step at a time: stacking every step's scores first would hold rows × steps
    × vocabulary floats (1.6 GB for 32 rows of 256 tokens over SmolLM2's 49k words).
    """
    if not step_logits:
        return torch.zeros((new_tokens.shape[0], 0))
    return torch.stack([logits.float().log_softmax(dim=-1).gather(1, new_tokens[:, step, None])[:, 0]
                        for step, logits in enumerate(step_logits)], dim=1)
