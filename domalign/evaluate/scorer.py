"""Score a causal LM on a benchmark: the model-facing half of DESIGN §4.

Multiple-choice items are scored by the length-normalized log-likelihood of each
choice as the assistant's reply (no generation, so a small model is not judged
on its formatting); free-form items by batched greedy generation. Every question
is then checked against the corpus with BM25 to count domain violations. The
metric definitions live in ``metrics.py`` and ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import zip_longest
from typing import Any, NamedTuple

import torch

from domalign.corpus_words import CorpusWords
from domalign.declines import may_decline
from domalign.domain import BenchmarkItem, Chunk
from domalign.errors import Cancelled, InvalidInput
from domalign.evaluate.metrics import (
    EvaluationSummary,
    QuestionResult,
    answer_uncertainty,
    freeform_correct,
    is_decline,
    is_supported,
    normalized_entropy,
    softmax,
    summarize,
)
from domalign.models.adapter_scale import BASE_MODEL, active_adapter, grounded_twin
from domalign.models.decline_guard import DeclineGuard
from domalign.models.fusion import FusedRows, ViewFusion, fuse_scores
from domalign.models.precision import Precision, autocast
from domalign.models.prefill import RowCache, grouped_prefill, left_padded, prompt_cache
from domalign.models.tokens import chosen_logprobs, stop_token_ids
from domalign.retrieval import GROUNDED_PASSAGES, BM25Index, grounded_question
from domalign.routing import about_corpus

ANSWER_INSTRUCTION = "Answer in a few words."
"""Appended to every question: short answers suit both choice scoring and token F1."""

EVIDENCE_CHUNKS = 3
"""How many best-matching chunks an answer is checked against for domain violations."""


@dataclass
class EvaluationReport:
    """The summary numbers and the per-question rows they were computed from."""

    summary: EvaluationSummary
    results: list[QuestionResult]


@dataclass(frozen=True)
class KnownScores:
    """Choice scores other evaluations of the same items already computed, by benchmark index.

    A grounded run fuses three views whose multiple-choice scores are on hand: ``reader``, the base
    model on the same passages (the baseline's grounded run), used where the reader is the base model
    (scale 0); ``memory``, the adapter on the question alone (this stage's closed-book run); ``prior``, the
    base model on the question alone (the baseline's closed-book run). A reused score is the same quantity
    up to bf16 rounding (batches differ); reusing them saves the grounded run's choice scoring (115 of
    291 s on the probes, docs/performance.md).
    """

    reader: dict[int, list[float]] = field(default_factory=dict)
    memory: dict[int, list[float]] = field(default_factory=dict)
    prior: dict[int, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Views:
    """Which PEFT adapters answer: ``reader`` the prompt as given; ``memory`` and ``prior`` the question alone,
    their difference added at ``memory_weight`` (:mod:`domalign.models.fusion`). ``None``: the model as it is."""

    reader: str | None = None
    memory: str | None = None
    memory_weight: float = 0.0
    prior: str = BASE_MODEL

    @property
    def fused(self) -> bool:
        return self.memory is not None and self.memory_weight > 0.0


BASE_VIEWS = Views(reader=BASE_MODEL)
"""The base model alone, as a PEFT model answers a question routed away from its adapter."""


class PromptCaches:
    """The caches of long prompts a multiple-choice item has run that a free-form item will run again.

    A question set scored both ways (every probe and natural question here) asks the same question, behind the
    same passages, once as multiple choice and once free-form. The choice scoring runs the prompt once
    (:func:`score_shared_prompt`); its cache, kept here, starts the free-form answer, so the passages are not
    prefilled a second time. Keyed by (adapter, prompt ids); at most ``limit`` are kept at once, and each is
    handed out once.
    """

    def __init__(self, wanted: Iterable[tuple[str | None, list[int]]], limit: int) -> None:
        self._wanted = {(adapter, tuple(prompt)) for adapter, prompt in wanted}
        self._kept: dict[tuple[str | None, tuple[int, ...]], RowCache] = {}
        self._limit = limit

    def keep(self, adapter: str | None, prompt: list[int], cache: Any) -> None:
        """Keep the one-row model ``cache`` of ``prompt`` if a free-form item will need it and there is room."""
        key = (adapter, tuple(prompt))
        if key in self._wanted and key not in self._kept and len(self._kept) < self._limit:
            row = prompt_cache(cache, len(prompt) - 1)  # generate runs the prompt's last token itself
            if row is not None:
                self._kept[key] = row

    def take(self, adapter: str | None, prompt: list[int]) -> RowCache | None:
        return self._kept.pop((adapter, tuple(prompt)), None)


@contextmanager
def grounded_views(model: Any, grounded: bool, adapter_scale: float, memory_weight: float) -> Iterator[Views]:
    """Closed-book, or a model without an adapter: the model as it is. Grounded with an adapter: the adapter
    at ``adapter_scale`` reads the passages (at 0 the base model does: PEFT's ``__base__``, no copy needed; a
    copy of the adapter otherwise) and, when ``memory_weight`` > 0, what the adapter as trained remembers beyond
    the base model is added."""
    adapter = active_adapter(model) if grounded else None
    if adapter is None or (adapter_scale == 1.0 and memory_weight == 0.0):
        yield Views()
        return
    if adapter_scale == 0.0:
        yield Views(BASE_MODEL, adapter if memory_weight > 0.0 else None, memory_weight)
        return
    with grounded_twin(model, adapter, adapter_scale) as twin:
        yield Views(twin, adapter if memory_weight > 0.0 else None, memory_weight)


def prompt_ids(tokenizer: Any, question: str) -> list[int]:
    """Token ids of the prompt, ending where the assistant's answer starts.

    The chat template when the tokenizer has one (instruct and aligned models);
    a plain "Question: … Answer:" for a base model that has none.
    """
    content = f"{question}\n{ANSWER_INSTRUCTION}"
    if not getattr(tokenizer, "chat_template", None):  # no template: the tokenizer adds BOS itself
        return tokenizer(f"Question: {content}\nAnswer:\n")["input_ids"]
    messages = [{"role": "user", "content": content}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]  # the template wrote any BOS


def item_prompt_ids(tokenizer: Any, item: BenchmarkItem, passages: Sequence[str] = ()) -> list[int]:
    """A cloze item is continued as raw text (passages first); any other item is a chat question."""
    if item.kind == "cloze":
        text = "".join(f"{p}\n\n" for p in passages) + item.question
        return tokenizer(text)["input_ids"]
    return prompt_ids(tokenizer, grounded_question(item.question, passages) if passages else item.question)


def _choice_ids(tokenizer: Any, item: BenchmarkItem, choice: str) -> list[int]:
    """A cloze continuation starts with a space (the prefix ends on a word); a reply does not."""
    text = f" {choice}" if item.kind == "cloze" else choice
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _adapter_kwargs(adapter: str | None, rows: int) -> dict[str, Any]:
    """PEFT's per-row ``adapter_names`` for ``rows`` rows of one adapter; nothing for the model as it is."""
    return {} if adapter is None else {"adapter_names": [adapter] * rows}


def score_continuations(
    model: Any, sequences: Sequence[tuple[list[int], int]], batch_size: int, adapter: str | None = None
) -> list[float]:
    """Mean log-probability of ``ids[start:]`` given ``ids[:start]``, for each ``(ids, start)``.

    Right padding keeps every real token at its unpadded position, so a batched
    score equals the one-at-a-time score up to float rounding. ``adapter`` names
    the PEFT adapter to score with (None: the model as it is).
    """
    device, scores = _device(model), []
    for begin in range(0, len(sequences), batch_size):
        batch = sequences[begin : begin + batch_size]
        width = max(len(ids) for ids, _ in batch)
        skipped = min(start for _, start in batch) - 1  # positions before any continuation: no logits needed
        input_ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, _) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False,
                       logits_to_keep=width - skipped, **_adapter_kwargs(adapter, len(batch))).logits
        offset = width - logits.shape[1]  # `skipped`, or 0 from a model that returns every position
        for row, (ids, start) in enumerate(batch):
            logprobs = torch.log_softmax(logits[row, start - 1 - offset : len(ids) - 1 - offset].float(), dim=-1)
            targets = torch.tensor(ids[start:], device=logprobs.device)
            scores.append(logprobs.gather(1, targets[:, None]).mean().item())
    return scores


SHARED_PROMPT_MIN_TOKENS = 192
"""From this prompt length on, a multiple-choice item runs its prompt once and its choices on the cache."""


def score_shared_prompt(
    model: Any, prompt: list[int], choices: Sequence[list[int]], adapter: str | None = None,
    caches: PromptCaches | None = None,
) -> list[float]:
    """Mean log-probability of each choice after one shared prompt, which is run only once.

    Grounded prompts carry hundreds of tokens of passages; running them once per
    item instead of once per choice divides the work by the number of choices.
    The prompt's cache goes to ``caches`` where a free-form item will need it.
    """
    device = _device(model)
    out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1,
                **_adapter_kwargs(adapter, 1))
    first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts every choice's first token
    cache = out.past_key_values
    if caches is not None:
        caches.keep(adapter, prompt, cache)  # before the choices extend the cache
    cache.batch_repeat_interleave(len(choices))
    width = max(len(c) for c in choices)
    input_ids = torch.zeros((len(choices), width), dtype=torch.long)
    mask = torch.zeros((len(choices), len(prompt) + width), dtype=torch.long)
    mask[:, : len(prompt)] = 1
    for row, ids in enumerate(choices):  # right padding: real tokens keep their positions
        input_ids[row, : len(ids)] = torch.tensor(ids)
        mask[row, len(prompt) : len(prompt) + len(ids)] = 1
    logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device), past_key_values=cache,
                   use_cache=True, **_adapter_kwargs(adapter, len(choices))).logits
    scores = []
    for row, ids in enumerate(choices):
        rest = torch.log_softmax(logits[row, : len(ids) - 1].float(), dim=-1)
        picked = [first[ids[0]].item()] + [rest[i - 1, ids[i]].item() for i in range(1, len(ids))]
        scores.append(sum(picked) / len(picked))
    return scores


def generate_answers(
    model: Any, tokenizer: Any, prompts: Sequence[list[int]], max_new_tokens: int,
    views: Views | None = None, memory_prompts: Sequence[list[int]] | None = None,
    known: Sequence[RowCache | None] | None = None, guarded: Sequence[bool] | None = None,
) -> list[tuple[str, list[float]]]:
    """Greedy answers with the log-probability of each answer token (stop token excluded).

    Log-probabilities come from the raw logits, so they measure the model itself
    and not whatever logits processors its generation config adds. With
    ``views`` fusing a memory view, each prompt is decoded beside its closed-book
    ``memory_prompts`` twin, asked of the adapter and of the base model, as one answer
    (:class:`~domalign.models.fusion.ViewFusion`), and the log-probabilities are the fused ones. ``known``
    caches of prompts (one per prompt, or None; :class:`PromptCaches`) are not prefilled again. A prompt
    ``guarded`` (one flag per prompt) cannot be answered with a decline (:mod:`domalign.models.decline_guard`).
    """
    from transformers import GenerationConfig, LogitsProcessorList

    fusion = memory_prompts is not None
    if fusion and (views is None or not views.fused):
        raise ValueError("memory_prompts are for views that fuse a memory view")
    rows = [p for prompt, closed in zip(prompts, memory_prompts, strict=True) for p in (prompt, closed, closed)] \
        if fusion else prompts
    known = list(known) if known is not None else [None] * len(prompts)
    stops = stop_token_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    input_ids, mask = left_padded(rows, pad)
    width = input_ids.shape[1]
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=stops,
        pad_token_id=pad,
        return_dict_in_generate=True,
        output_logits=not fusion,  # a fused answer's log-probabilities come from the fusion itself
    )
    extra: dict[str, Any] = {}
    guard = DeclineGuard(tokenizer, [3 * i if fusion else i for i, g in enumerate(guarded or ()) if g], width)
    if fusion:
        fuse = ViewFusion([FusedRows(3 * i, 3 * i + 1, 3 * i + 2) for i in range(len(prompts))],
                          [views.memory_weight] * len(prompts))
        names = [views.reader, views.memory, views.prior] * len(prompts)
        extra = {"logits_processor": LogitsProcessorList([guard, fuse]), "adapter_names": names}
        fused_known = [cache for reader in known for cache in (reader, None, None)]  # closed-book prompts are short
        closed_book = [row % 3 > 0 for row in range(len(rows))]
        cache = grouped_prefill(model, rows, names, pad, fused_known, closed_book)  # not at the passages' width
        if cache is not None:
            extra["past_key_values"] = cache  # later transformers 5 releases call it `cache`
    else:
        reader = views.reader if views is not None else None
        extra = {**_adapter_kwargs(reader, len(rows)), "logits_processor": LogitsProcessorList([guard])}
        if any(c is not None for c in known):
            cache = grouped_prefill(model, rows, [reader] * len(rows), pad, known)
            if cache is not None:
                extra["past_key_values"] = cache
    device = _device(model)
    out = model.generate(
        input_ids=input_ids.to(device), attention_mask=mask.to(device), generation_config=config, **extra
    )
    steps = None if fusion else chosen_logprobs(out.logits, out.sequences[:, width:]).tolist()
    answers = []
    for index in range(len(prompts)):
        row = 3 * index if fusion else index
        tokens = out.sequences[row, width:].tolist()
        length = next((i for i, t in enumerate(tokens) if t in stops), len(tokens))
        if fusion:
            logprobs = fuse.picked[row][:length]
        else:
            logprobs = steps[row][:length]
        text = tokenizer.decode(tokens[:length], skip_special_tokens=True).strip()
        answers.append((text, logprobs))
    return answers


def _validate(items: Sequence[BenchmarkItem]) -> None:
    """Refuse unusable items before any model work, so a long run does not fail late."""
    for index, item in enumerate(items):
        if item.choices is None:
            continue
        if not item.choices or any(not c.strip() for c in item.choices):
            raise InvalidInput(f"benchmark item {index} has an empty choice list or choice; give each choice text")
        if item.answer not in item.choices:
            raise InvalidInput(f"benchmark item {index}: answer {item.answer!r} is not among its choices; add it")


@dataclass(frozen=True)
class _Prompts:
    """Each item's prompt token ids, tokenized once per evaluation: ``reader`` as asked (with its passages when
    grounded) and ``closed_book`` (the question alone) for the closed-book views of a fused answer."""

    reader: list[list[int]]
    closed_book: list[list[int]]

    @classmethod
    def of(cls, tokenizer: Any, items: Sequence[BenchmarkItem], passages: Sequence[list[str]], *,
           closed_book: bool) -> _Prompts:
        reader = [item_prompt_ids(tokenizer, item, context) for item, context in zip(items, passages, strict=True)]
        closed = [item_prompt_ids(tokenizer, item) if context else prompt
                  for item, context, prompt in zip(items, passages, reader, strict=True)] if closed_book else reader
        return cls(reader, closed)

    def subset(self, indices: Sequence[int]) -> _Prompts:
        return _Prompts([self.reader[i] for i in indices], [self.closed_book[i] for i in indices])


class _Answer(NamedTuple):
    text: str
    correct: bool
    confidence: float
    uncertainty: float
    scores: list[float]


def _choice_scores(
    model: Any, tokenizer: Any, items: list[BenchmarkItem], prompts: list[list[int]], batch_size: int,
    adapter: str | None, caches: PromptCaches | None = None,
) -> list[list[float]]:
    """Each item's mean token log-probability of each of its choices after its prompt, in order (long prompts'
    caches to ``caches``)."""
    sequences, shared = [], {}
    for index, (item, prompt) in enumerate(zip(items, prompts, strict=True)):
        choice_ids = [_choice_ids(tokenizer, item, c) for c in item.choices or ()]
        if len(prompt) >= SHARED_PROMPT_MIN_TOKENS:
            shared[index] = score_shared_prompt(model, prompt, choice_ids, adapter, caches)
        else:
            sequences += [(prompt + ids, len(prompt)) for ids in choice_ids]
    flat = iter(score_continuations(model, sequences, batch_size, adapter))
    return [shared[i] if i in shared else [next(flat) for _ in item.choices or ()] for i, item in enumerate(items)]


def _view_scores(
    model: Any, tokenizer: Any, items: list[BenchmarkItem], prompts: list[list[int]], batch_size: int,
    adapter: str | None, known: list[list[float] | None], caches: PromptCaches | None = None,
) -> list[list[float]]:
    """``_choice_scores`` for the items whose scores are not ``known`` already (one per item, or None)."""
    todo = [i for i, (item, scores) in enumerate(zip(items, known, strict=True))
            if scores is None or len(scores) != len(item.choices or ())]
    fresh = dict(zip(todo, _choice_scores(model, tokenizer, [items[i] for i in todo], [prompts[i] for i in todo],
                                          batch_size, adapter, caches), strict=True))
    return [fresh[i] if i in fresh else list(scores) for i, scores in enumerate(known)]


def _mc_answers(
    model: Any, tokenizer: Any, items: list[BenchmarkItem], prompts: _Prompts, batch_size: int,
    views: Views, known: tuple[list[list[float] | None], ...], caches: PromptCaches,
) -> list[_Answer]:
    """Pick each item's choice with the highest mean token log-probability (fused over the views).

    ``known`` holds scores already computed for the reader, memory and prior views (None where not); the
    reader's long prompts go to ``caches``."""
    scored = _view_scores(model, tokenizer, items, prompts.reader, batch_size, views.reader, known[0], caches)
    if views.fused:
        closed = prompts.closed_book
        memory = _view_scores(model, tokenizer, items, closed, batch_size, views.memory, known[1])
        prior = _view_scores(model, tokenizer, items, closed, batch_size, views.prior, known[2])
        scored = [fuse_scores(r, m, p, views.memory_weight) for r, m, p in zip(scored, memory, prior, strict=True)]
    answers = []
    for item, scores in zip(items, scored, strict=True):
        choices = item.choices or ()
        best = max(range(len(scores)), key=scores.__getitem__)
        confidence, uncertainty = softmax(scores)[best], normalized_entropy(scores)
        answers.append(_Answer(choices[best], choices[best] == item.answer, confidence, uncertainty, scores))
    return answers


def _freeform_answers(
    model: Any, tokenizer: Any, items: list[BenchmarkItem], prompts: _Prompts, max_new_tokens: int,
    views: Views, caches: PromptCaches, vocabulary: frozenset[str] | None,
) -> list[_Answer]:
    """Greedy-answer a batch, starting from the ``caches`` of prompts a multiple-choice twin ran; confidence is
    the geometric-mean token probability. With the corpus ``vocabulary`` of an adapter that learned to decline,
    only questions naming a word outside it may be declined."""
    answers = []
    guarded = [vocabulary is not None and not may_decline(item.question, vocabulary) for item in items]
    generated = generate_answers(model, tokenizer, prompts.reader, max_new_tokens, views,
                                 prompts.closed_book if views.fused else None,
                                 [caches.take(views.reader, prompt) for prompt in prompts.reader], guarded)
    for item, (text, logprobs) in zip(items, generated, strict=True):
        uncertainty = answer_uncertainty(logprobs)
        answers.append(_Answer(text, freeform_correct(text, item.answer), 1.0 - uncertainty, uncertainty, logprobs))
    return answers


def _result(index: int, item: BenchmarkItem, kind: str, answer: _Answer, bm25: BM25Index,
            routed: bool = False) -> QuestionResult:
    """The question's row, with its evidence and whether it is a domain violation: wrong, unbacked and not a
    decline; or any answer but a decline to a question the documents do not answer (one whose reference
    declines)."""
    hits = bm25.search(f"{item.question} {answer.text}", k=EVIDENCE_CHUNKS)
    supported = is_supported(answer.text, [chunk.text for chunk, _ in hits])
    unanswerable = item.choices is None and is_decline(item.answer)
    return QuestionResult(
        index=index,
        question=item.question,
        expected=item.answer,
        answer=answer.text,
        correct=answer.correct,
        confidence=answer.confidence,
        uncertainty=answer.uncertainty,
        kind=kind,
        violation=not answer.correct and (unanswerable or (not supported and not is_decline(answer.text))),
        evidence=[chunk.id for chunk, _ in hits],
        scores=answer.scores,
        routed_to_base=routed,
    )


def _base_answered(items: Sequence[BenchmarkItem], routed: Sequence[bool],
                   base_results: Sequence[QuestionResult]) -> list[QuestionResult]:
    """The routed items' results taken from the base model's, where it answered the same item (the question,
    reference and kind must match: a benchmark edited since the baseline is answered again)."""
    by_index = {r.index: r for r in base_results if not r.routed_to_base}
    taken = []
    for index, item in enumerate(items):
        base = by_index.get(index) if routed[index] else None
        if base is not None and (base.question, base.expected, base.kind) == (
                item.question, item.answer, "mc" if item.choices is not None else "freeform"):
            taken.append(replace(base, routed_to_base=True))
    return taken


def _passages(bm25: BM25Index, item: BenchmarkItem, k: int) -> list[str]:
    return [chunk.text for chunk, _ in bm25.search(item.question, k=k)] if k else []


def _plan(
    items: Sequence[BenchmarkItem], passages: Sequence[list[str]], batch_size: int, routed: Sequence[bool],
    skip: Container[int] = (),
) -> list[tuple[str, bool, list[int]]]:
    """Batches ``(kind, routed, indices)`` of item indices of one kind and route each, multiple-choice and
    free-form taking turns.

    Within a kind, items run shortest prompt first: a batch is padded to its longest prompt, and grounded
    prompts (three passages each) vary by hundreds of tokens, so batching them in the benchmark's order
    padded 13-27 % of the prompt tokens on our sets, against 2-4 % sorted (docs/performance.md). Taking
    turns puts a free-form batch right after the multiple-choice batch of the same rank, which holds the
    same questions where a set asks each both ways, so their prompt caches (:class:`PromptCaches`) are
    used before more are made. Questions ``routed`` to the base model come last, in batches of their own.
    Items at the indices in ``skip`` are answered already.
    """
    size = [len(item.question) + sum(map(len, context)) for item, context in zip(items, passages, strict=True)]
    plan = []
    for route in (False, True):
        by_kind: dict[str, list[int]] = {"mc": [], "freeform": []}
        for index, item in enumerate(items):
            if routed[index] == route and index not in skip:
                by_kind["mc" if item.choices is not None else "freeform"].append(index)
        batches: dict[str, list[tuple[str, bool, list[int]]]] = {}
        for kind, indices in by_kind.items():
            indices.sort(key=size.__getitem__)
            batches[kind] = [(kind, route, indices[begin : begin + batch_size])
                             for begin in range(0, len(indices), batch_size)]
        plan += [batch for turn in zip_longest(batches["mc"], batches["freeform"]) for batch in turn if batch]
    return plan


def _prompt_caches(
    items: Sequence[BenchmarkItem], prompts: Sequence[list[int]], passages: Sequence[list[str]], reader: str | None,
    batch_size: int,
) -> PromptCaches:
    """A store for the long grounded prompts both a multiple-choice and a free-form item run, at most two
    batches' worth (a 650-token prompt's cache is about 25 MB on the embedded model)."""
    by_kind: dict[str, set[tuple[int, ...]]] = {"mc": set(), "freeform": set()}
    for item, prompt, context in zip(items, prompts, passages, strict=True):
        if context and len(prompt) >= SHARED_PROMPT_MIN_TOKENS:
            by_kind["mc" if item.choices is not None else "freeform"].add(tuple(prompt))
    return PromptCaches([(reader, list(p)) for p in by_kind["mc"] & by_kind["freeform"]], limit=2 * batch_size)


def _known_for(known: KnownScores | None, views: Views, batch: list[int]) -> tuple[list[list[float] | None], ...]:
    """The batch's known reader, memory and prior scores, only where those views are the ones ``known``
    describes."""
    reader = known.reader if known is not None and views.reader == BASE_MODEL else {}
    memory, prior = (known.memory, known.prior) if known is not None and views.fused else ({}, {})
    return tuple([scores.get(i) for i in batch] for scores in (reader, memory, prior))


def evaluate_model(
    model: Any,
    tokenizer: Any,
    items: Sequence[BenchmarkItem],
    chunks: Sequence[Chunk],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    grounded: bool = False,
    passages_per_question: int = GROUNDED_PASSAGES,
    adapter_scale: float = 1.0,
    memory_weight: float = 0.0,
    precision: Precision = "auto",
    known: KnownScores | None = None,
    corpus: CorpusWords | None = None,
    route_general: bool = False,
    base_results: Sequence[QuestionResult] = (),
) -> EvaluationReport:
    """Answer every benchmark item with ``model`` and measure it (DESIGN §4).

    Items run in batches of ``batch_size`` (multiple-choice first, then
    free-form, each shortest prompt first); ``on_progress(done, total)`` follows each batch and
    ``should_stop()`` is asked before each, raising :class:`Cancelled`. A PEFT
    model works as is; its train/eval mode is restored afterwards. Results come
    back in the items' order. ``grounded`` puts the ``passages_per_question``
    chunks that BM25 ranks best for each question in front of it (retrieval-
    augmented answering); closed-book otherwise. A grounded PEFT model reads them
    with its adapter at ``adapter_scale`` and adds what the adapter changed in its closed-book answer at
    ``memory_weight`` (``training.grounded_adapter_scale`` and
    ``grounded_memory_weight``; a plain model reads alone). ``precision`` as in training
    (bf16 autocast where native: 1.8× faster on grounded items here, same answers
    on the 32 we compared; docs/quality.md). ``known`` choice scores are used, not computed again,
    where the view they belong to answers: the reader's where the base model reads a PEFT model's passages
    (``adapter_scale`` 0), the memory's and the prior's where a memory view is fused in. ``corpus``: the words
    of the adapter's corpus (:meth:`CorpusWords.load`); they guard the free-form answers of an adapter that
    learned to decline, and with ``route_general`` a question that is not about the corpus
    (:func:`~domalign.routing.about_corpus`) is answered by the base model alone (``routed_to_base``).
    ``base_results``: the base model's results on these very items, asked the same way (the baseline's run);
    a routed question takes its result from there rather than being answered again, so it is the base model's
    answer exactly (batches padded differently move a few answers in a hundred) and costs nothing.
    """
    if batch_size < 1:
        raise InvalidInput(f"batch_size is {batch_size}; it must be at least 1")
    _validate(items)
    bm25 = BM25Index(chunks)
    was_training = model.training
    model.eval()
    try:
        with grounded_views(model, grounded, adapter_scale, memory_weight) as views, torch.inference_mode(), \
                autocast(precision, _device(model)):
            passages = [_passages(bm25, item, passages_per_question if grounded else 0) for item in items]
            prompts = _Prompts.of(tokenizer, items, passages, closed_book=views.fused)
            caches = _prompt_caches(items, prompts.reader, passages, views.reader, batch_size)
            routes = route_general and corpus is not None and active_adapter(model) is not None
            routed = [routes and not about_corpus(item.question, corpus) for item in items]
            results = _base_answered(items, routed, base_results)
            done = len(results)
            if done and on_progress is not None:
                on_progress(done, len(items))
            guard = corpus.words if corpus is not None and corpus.declines else None
            for kind, to_base, batch in _plan(items, passages, batch_size, routed, {r.index for r in results}):
                if should_stop is not None and should_stop():
                    raise Cancelled(f"evaluation cancelled after {done} of {len(items)} questions")
                batch_items, batch_prompts = [items[i] for i in batch], prompts.subset(batch)
                batch_views = BASE_VIEWS if to_base else views
                if kind == "mc":
                    answers = _mc_answers(model, tokenizer, batch_items, batch_prompts, batch_size, batch_views,
                                          _known_for(known, batch_views, batch), caches)
                else:
                    answers = _freeform_answers(model, tokenizer, batch_items, batch_prompts, max_new_tokens,
                                                batch_views, caches, None if to_base else guard)
                results += [_result(i, items[i], kind, a, bm25, to_base) for i, a in zip(batch, answers, strict=True)]
                done += len(batch)
                if on_progress is not None:
                    on_progress(done, len(items))
    finally:
        model.train(was_training)
    results.sort(key=lambda r: r.index)
    return EvaluationReport(summary=summarize(results), results=results)
