"""Chat generation for one request: prompt building, sampling, stop strings, usage, confidence.

The request's ``messages`` go through the model's chat template. A prompt that
does not fit beside ``max_tokens`` in the context is cut from the left (oldest
tokens first) and the result says so; ``max_tokens`` beyond the context is refused.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import torch

from domalign.errors import BadRequest
from domalign.models.tokens import stop_token_ids

DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class ChatParams:
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None


@dataclass
class ChatChoice:
    text: str
    finish_reason: str  # "stop" | "length"
    completion_tokens: int
    confidence: float  # 0-100: geometric-mean probability of the generated tokens


@dataclass
class ChatResult:
    choices: list[ChatChoice]
    prompt_tokens: int
    prompt_truncated: bool
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)


def context_length(config: Any) -> int:
    return int(getattr(config, "max_position_embeddings", 2048))


def prompt_ids(tokenizer: Any, params: ChatParams, context: int) -> tuple[list[int], int, bool]:
    """(prompt ids, max new tokens, truncated?) for this request and context length."""
    if params.max_tokens is not None and params.max_tokens >= context:
        raise BadRequest(
            f"max_tokens is {params.max_tokens} but the model's context is {context} tokens; ask for fewer"
        )
    text = tokenizer.apply_chat_template(params.messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    max_new = params.max_tokens or min(DEFAULT_MAX_TOKENS, max(context - len(ids), 1))
    room = context - max_new
    return (ids[-room:], max_new, True) if len(ids) > room else (ids, max_new, False)


class _Cancel:
    """A stopping criterion that ends generation once ``event`` is set (client went away)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def generate(
    model: Any, tokenizer: Any, params: ChatParams, *, streamer: Any = None, cancel: threading.Event | None = None
) -> ChatResult:
    """Run one request; with ``streamer``, text is pushed to it as it is generated (n must be 1)."""
    from transformers import GenerationConfig, StoppingCriteriaList

    cancel = cancel or threading.Event()
    ids, max_new, truncated = prompt_ids(tokenizer, params, context_length(model.config))
    stops = stop_token_ids(model, tokenizer)
    sample = params.temperature > 0
    config = GenerationConfig(
        do_sample=sample, temperature=params.temperature if sample else None,
        top_p=params.top_p if sample else None, top_k=None, max_new_tokens=max_new, eos_token_id=stops,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0],
        stop_strings=list(params.stop) or None, return_dict_in_generate=True, output_logits=True,
    )
    if params.seed is not None:
        torch.manual_seed(params.seed)
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model.generate(  # n choices = the prompt n times in one batch
            input_ids=torch.tensor([ids] * params.n, device=device),
            attention_mask=torch.ones(params.n, len(ids), dtype=torch.long, device=device),
            generation_config=config, tokenizer=tokenizer, streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_Cancel(cancel)]),
        )
    logprobs = torch.stack(out.logits, dim=1).float().log_softmax(dim=-1)
    choices = [_choice(tokenizer, out.sequences[row, len(ids):].tolist(), logprobs[row], stops, params, max_new)
               for row in range(out.sequences.shape[0])]
    return ChatResult(choices, prompt_tokens=len(ids), prompt_truncated=truncated, cancel=cancel)


def _choice(tokenizer: Any, tokens: list[int], logprobs: torch.Tensor, stops: list[int], params: ChatParams,
            max_new: int) -> ChatChoice:
    length = next((i for i, t in enumerate(tokens) if t in stops), len(tokens))
    hit_eos = length < len(tokens)
    text = tokenizer.decode(tokens[:length], skip_special_tokens=True)
    cut = min((text.find(s) for s in params.stop if s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    picked = [logprobs[i, tokens[i]].item() for i in range(length)]
    confidence = 100.0 * math.exp(sum(picked) / len(picked)) if picked else 0.0
    finish = "stop" if hit_eos or cut >= 0 or length < max_new else "length"
    return ChatChoice(text, finish, length, round(confidence, 2))
