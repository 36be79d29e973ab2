"""Chat generation: prompt building, sampling, stop strings, usage, confidence; one request or a batch.

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
from domalign.models.adapter_scale import BASE_MODEL
from domalign.models.decline_guard import DeclineGuard
from domalign.models.fusion import FusedRows, ViewFusion
from domalign.models.prefill import grouped_prefill, left_padded
from domalign.models.tokens import chosen_logprobs, stop_token_ids

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
    routed_to_base: bool = False  # a general question the base model answered (domalign.routing)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)


@dataclass(frozen=True)
class Memory:
    """The closed-book view of a grounded request: its question without passages, answered by ``adapter`` as
    trained and by the base model, their difference added at ``weight`` (:mod:`domalign.models.fusion`)."""

    params: ChatParams
    adapter: str | None
    weight: float


@dataclass(frozen=True)
class BatchEntry:
    """One request of a batch: its params, streamer, cancel flag, PEFT adapter (None: the base), memory view, and
    whether its answers must not decline (:mod:`domalign.models.decline_guard`)."""

    params: ChatParams
    streamer: Any
    cancel: threading.Event
    adapter: str | None = None
    memory: Memory | None = None
    guarded: bool = False


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


@dataclass
class Row:
    """One sequence of a batched ``generate`` call: a request's prompt, budget, cancel flag and streamer."""

    ids: list[int]
    max_new: int
    cancel: threading.Event
    streamer: Any = None  # receives this row's tokens as they come (a TextIteratorStreamer), or None
    length: int = 0  # tokens generated for this row, its stop token included
    finished: bool = False


class _RowStops:
    """Per-row stopping: a row ends at its own token budget or when its client went away."""

    def __init__(self, rows: list[Row], prompt_len: int) -> None:
        self.rows, self.prompt_len = rows, prompt_len

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
        produced = input_ids.shape[1] - self.prompt_len
        done = [row.cancel.is_set() or produced >= row.max_new for row in self.rows]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _RowStreamer:
    """Hands each row's new token to that row's streamer until the row has stopped."""

    def __init__(self, rows: list[Row], stops: list[int]) -> None:
        self.rows, self.stops, self._prompt_seen = rows, set(stops), False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate sends the prompt first
            self._prompt_seen = True
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):
            if row.finished:  # generate pads a finished row with a stop token
                continue
            row.length += 1
            if token in self.stops or row.cancel.is_set() or row.length >= row.max_new:
                row.finished = True
            if token not in self.stops and row.streamer is not None:
                row.streamer.put(torch.tensor([token]))

    def end(self) -> None:
        for row in self.rows:
            if row.streamer is not None:
                row.streamer.end()


def generate_rows(
    model: Any, tokenizer: Any, rows: list[Row], params: ChatParams, adapter_names: list[str] | None = None,
    fused: list[tuple[FusedRows, float]] = (), guarded: list[int] = (),
) -> tuple[list[list[int]], list[list[float]]]:
    """One ``generate`` call for all ``rows`` (left-padded), sharing ``params``' sampling settings and stop
    strings; per-row budgets, cancel flags, streamers and (PEFT) adapters. The ``fused`` triples of rows, each
    with its weight, decode as one answer each (:class:`~domalign.models.fusion.ViewFusion`); ``guarded`` rows
    (a triple's reader) cannot start a decline. Returns each row's new tokens and the log-probability of each
    (the fused one for a triple's rows)."""
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

    stops = stop_token_ids(model, tokenizer)
    pad = stops[0]  # a stop token, so the rows generate finishes early read as stopped
    sample = params.temperature > 0
    config = GenerationConfig(
        do_sample=sample, temperature=params.temperature if sample else None,
        top_p=params.top_p if sample else None, top_k=None, max_new_tokens=max(row.max_new for row in rows),
        eos_token_id=stops, pad_token_id=pad, stop_strings=list(params.stop) or None,
        return_dict_in_generate=True, output_logits=True,
    )
    if params.seed is not None:
        torch.manual_seed(params.seed)
    device = next(model.parameters()).device
    input_ids, mask = left_padded([r.ids for r in rows], pad)
    width = input_ids.shape[1]
    extra: dict[str, Any] = {"adapter_names": adapter_names} if adapter_names is not None else {}
    fusion = ViewFusion([triple for triple, _ in fused], [w for _, w in fused], params.temperature, params.top_p)
    guard = DeclineGuard(tokenizer, guarded, width)  # ahead of the fusion and of generate's own warpers
    extra["logits_processor"] = LogitsProcessorList([guard, fusion] if fused else [guard])
    with torch.inference_mode():
        if fused:  # grounded rows with closed-book twins: prefill each adapter's rows at their own width
            closed = {row for triple, _ in fused for row in triple[1:]}  # closed-book prompts are short
            cache = grouped_prefill(model, [r.ids for r in rows], adapter_names or [None] * len(rows), pad,
                                    groups=[i in closed for i in range(len(rows))])
            if cache is not None:
                extra["past_key_values"] = cache  # later transformers 5 releases call it `cache`
        out = model.generate(
            input_ids=input_ids.to(device), attention_mask=mask.to(device), generation_config=config,
            tokenizer=tokenizer,
            streamer=_RowStreamer(rows, stops), stopping_criteria=StoppingCriteriaList([_RowStops(rows, width)]),
            **extra,
        )
    logprobs = chosen_logprobs(out.logits, out.sequences[:, width:]).tolist()
    tokens = [out.sequences[i, width : width + row.length].tolist() for i, row in enumerate(rows)]
    reader_of = {row: triple.reader for triple, _ in fused for row in triple}
    picked = []
    for i, row_tokens in enumerate(tokens):
        chosen = fusion.picked.get(reader_of.get(i, i))
        picked.append((chosen if chosen is not None else logprobs[i])[: len(row_tokens)])
    return tokens, picked


def generate_batch(model: Any, tokenizer: Any, requests: list[BatchEntry]) -> list[ChatResult]:
    """Requests that share sampling settings and stop strings, in one call; adapter None for the base model
    (PEFT's ``__base__``) when the model carries adapters. A request with a memory view adds, for each of its
    rows, two closed-book rows (the adapter and the base model) that decode with it as one answer."""
    context = context_length(model.config)
    rows, owners, prompts, names, fused, guarded = [], [], [], [], [], []
    for index, entry in enumerate(requests):
        ids, max_new, truncated = prompt_ids(tokenizer, entry.params, context)
        prompts.append((len(ids), truncated))
        memory_ids = prompt_ids(tokenizer, entry.memory.params, context)[0] if entry.memory else None
        for _ in range(entry.params.n):
            rows.append(Row(ids, max_new, entry.cancel, entry.streamer))
            guarded += [len(rows) - 1] * entry.guarded
            owners.append(index)
            names.append(entry.adapter or BASE_MODEL)
            if entry.memory is not None:
                fused.append((FusedRows(len(rows) - 1, len(rows), len(rows) + 1), entry.memory.weight))
                for adapter in (entry.memory.adapter or BASE_MODEL, BASE_MODEL):
                    rows.append(Row(memory_ids, max_new, entry.cancel))
                    owners.append(None)  # answers nothing of its own
                    names.append(adapter)
    tokens, picked = generate_rows(model, tokenizer, rows, requests[0].params,
                                   names if _has_adapters(model) else None, fused, guarded)
    stops = stop_token_ids(model, tokenizer)
    results = []
    for index, entry in enumerate(requests):
        choices = [_choice(tokenizer, tokens[r], picked[r], stops, entry.params, rows[r].max_new)
                   for r, owner in enumerate(owners) if owner == index]
        results.append(ChatResult(choices, prompt_tokens=prompts[index][0], prompt_truncated=prompts[index][1],
                                  cancel=entry.cancel))
    return results


def _has_adapters(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _choice(tokenizer: Any, tokens: list[int], logprobs: list[float], stops: list[int], params: ChatParams,
            max_new: int) -> ChatChoice:
    length = next((i for i, t in enumerate(tokens) if t in stops), len(tokens))
    hit_eos = length < len(tokens)
    text = tokenizer.decode(tokens[:length], skip_special_tokens=True)
    cut = min((text.find(s) for s in params.stop if s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    picked = logprobs[:length]
    confidence = 100.0 * math.exp(sum(picked) / len(picked)) if picked else 0.0
    finish = "stop" if hit_eos or cut >= 0 or length < max_new else "length"
    return ChatChoice(text, finish, length, round(confidence, 2))
