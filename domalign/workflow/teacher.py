"""Teachers for synthesis: an OpenAI-compatible endpoint, or the base model itself.

Both have the shape ``synth.teacher.teach`` expects: a list of prompts in, a
list of replies out, ``None`` for a request that failed (or, for the model, a
reply cut off at the length limit). Both report progress and stop at a cancel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from domalign.config import Settings
from domalign.errors import Cancelled, InvalidInput

MAX_REPLY_TOKENS = 400
SELF_BATCH = 8


def endpoint_teacher(
    settings: Settings,
    on_progress: Callable[[float], None] = lambda _: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Callable[[list[str]], list[str | None]]:
    """Ask ``settings.teacher_url`` through the official client (its retries and backoff), concurrently."""
    from openai import OpenAI, OpenAIError

    if not settings.teacher_url:
        raise InvalidInput("synthesis.teacher is 'endpoint' but DOMALIGN_TEACHER_URL is not set on the server")
    key = settings.teacher_api_key.get_secret_value() if settings.teacher_api_key else "unused"
    client = OpenAI(base_url=settings.teacher_url, api_key=key, max_retries=3, timeout=120)

    def ask_many(prompts: list[str]) -> list[str | None]:
        done, lock = [0], threading.Lock()

        def ask(prompt: str) -> str | None:
            if should_stop():
                return None  # the remaining requests are skipped; the caller raises Cancelled below
            try:
                reply = client.chat.completions.create(
                    model=settings.teacher_model, messages=[{"role": "user", "content": prompt}],
                    temperature=0.7, max_tokens=MAX_REPLY_TOKENS,
                )
                text = reply.choices[0].message.content if reply.choices else None
            except OpenAIError:
                text = None
            with lock:
                done[0] += 1
                on_progress(done[0] / len(prompts))
            return text

        with ThreadPoolExecutor(max_workers=settings.teacher_concurrency) as pool:
            replies = list(pool.map(ask, prompts))
        if should_stop():
            raise Cancelled("synthesis was cancelled while the teacher was writing")
        if prompts and all(reply is None for reply in replies):
            raise InvalidInput(
                f"the teacher at {settings.teacher_url} (model {settings.teacher_model}) answered none of "
                f"{len(prompts)} requests; check DOMALIGN_TEACHER_URL, _MODEL and _API_KEY, or set synthesis.teacher "
                "to 'none'"
            )
        return replies

    return ask_many


def self_teacher(
    model: Any, tokenizer: Any, on_progress: Callable[[float], None], should_stop: Callable[[], bool]
) -> Callable[[list[str]], list[str | None]]:
    """The base model answers, greedily: no network, but a small model's output is mostly filtered out."""
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidInput("synthesis.teacher 'self' needs a base model with a chat template; choose 'none'")

    def ask_many(prompts: list[str]) -> list[str | None]:
        return model_replies(model, tokenizer, prompts, MAX_REPLY_TOKENS, on_progress, should_stop)

    return ask_many


def model_replies(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int,
    on_progress: Callable[[float], None],
    should_stop: Callable[[], bool] = lambda: False,
    batch: int = SELF_BATCH,
) -> list[str | None]:
    """Greedy chat replies of a local model, ``batch`` prompts at a time; ``None`` for one cut off at
    ``max_new_tokens``."""
    from domalign.evaluate import generate_answers

    replies: list[str | None] = []
    for start in range(0, len(prompts), batch):
        if should_stop():
            raise Cancelled(f"generation was cancelled after {len(replies)} of {len(prompts)} replies")
        chats = [[{"role": "user", "content": p}] for p in prompts[start : start + batch]]
        texts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in chats]
        ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
        replies += [text if len(logprobs) < max_new_tokens else None
                    for text, logprobs in generate_answers(model, tokenizer, ids, max_new_tokens)]
        on_progress(len(replies) / len(prompts))
    return replies
