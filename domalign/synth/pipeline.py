"""The synthesize stage's two entry points: a training set with its benchmark, or a benchmark alone."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from domalign.corpus_words import vocabulary
from domalign.domain import BenchmarkItem, Chunk, TrainExample
from domalign.errors import InvalidInput
from domalign.synth.facts import Fact, extract_facts
from domalign.synth.generators import (
    allowed_questions,
    distractor_pools,
    fact_items,
    grounded_items,
    raw_items,
    sentence_items,
    shuffled_items,
)
from domalign.synth.questions import Phrasings, phrase
from domalign.synth.refusals import refusal_items
from domalign.synth.split import NGRAM, leaked, ngram_overlap, select_benchmark


@dataclass(frozen=True)
class SynthesisConfig:
    """How much of each kind of training item to make; every random choice follows ``seed``."""

    seed: int = 0
    paraphrases_per_fact: int = 4  # qa and paraphrase items per fact
    cloze_per_fact: int = 4  # cloze / sentence-continuation items per fact
    include_raw_passages: bool = True  # one raw chunk per chunk, for continued pre-training
    shuffled_per_chunk: int = 2  # raw renderings of each chunk with its sentences reordered
    include_sentences: bool = True  # each sentence alone as a raw passage
    replay_share: float = 0.05  # replay items at most this share of the other items
    replay_repeats: int = 1  # copies of each replay item, to reach the share with fewer answers
    include_mc: bool = True  # one multiple-choice training item per fact with enough distractors
    noun_questions: bool = False  # one more question per fact, asking for the answer by its kind
    grounded_per_chunk: int = 0  # grounded (retrieved passages → answer) items per chunk
    grounded_passages: int = 3  # passages in each, as grounded answering retrieves them
    grounded_oracle_share: float = 0.8  # share of grounded items whose passages include the fact's chunk
    refusal_share: float = 0.0  # questions about invented names → a decline, as a share of the other items
    max_train_items: int | None = None  # sample down to this many items

    def __post_init__(self) -> None:
        if self.replay_repeats < 1:
            raise ValueError(f"replay_repeats is {self.replay_repeats}; each replay item appears at least once")
        if not 0.0 <= self.refusal_share <= 1.0:
            raise ValueError(f"refusal_share is {self.refusal_share}; it is a share between 0 and 1")


@dataclass
class SynthesisResult:
    """The training set, the held-out benchmark, and how much they overlap (see ``split``)."""

    train: list[TrainExample]
    benchmark: list[BenchmarkItem]
    overlap: dict = field(default_factory=dict)


def generate_benchmark(chunks: Sequence[Chunk], num_questions: int, *, seed: int = 0) -> list[BenchmarkItem]:
    """A held-out benchmark of up to ``num_questions`` items; the same one ``synthesize`` makes."""
    facts = _facts(chunks)
    phrasings = {f.key: phrase(f) for f in facts}
    picked = select_benchmark(facts, phrasings, num_questions, distractor_pools(facts), seed)
    return [item for _, item in picked]


def synthesize(
    chunks: Sequence[Chunk],
    *,
    num_benchmark: int,
    config: SynthesisConfig = SynthesisConfig(),
    benchmark: Sequence[BenchmarkItem] | None = None,
    exclude_questions: Sequence[str] = (),
    extra_train: Sequence[TrainExample] = (),
    replay: Callable[[int], Sequence[TrainExample]] | None = None,
) -> SynthesisResult:
    """Make the training set and, unless ``benchmark`` is given, a held-out benchmark of ``num_benchmark`` items.

    A given benchmark (uploaded by the user) is returned as is; training items
    that contain one of its questions are dropped, as are any that contain a
    generated question or one of ``exclude_questions`` (other evaluation sets).
    ``extra_train`` (e.g. teacher items) joins the set before that filter, and
    so do the items ``replay(n)`` returns, ``config.replay_repeats`` copies of each, for
    ``config.replay_share`` of the document items in all (on a small corpus a fixed number
    of general items would crowd the domain out, and fewer answers need generating).
    Raises ``InvalidInput`` when the chunks hold no fact.
    """
    facts = _facts(chunks)
    phrasings = {f.key: phrase(f) for f in facts}
    pools = distractor_pools(facts)
    if benchmark is None:
        picked = select_benchmark(facts, phrasings, num_benchmark, pools, config.seed)
        bench = [item for _, item in picked]
        held_out = {fact.key for fact, _ in picked}
    else:
        bench, held_out = list(benchmark), set()
    train = _training_items(chunks, facts, phrasings, held_out, pools, config) + list(extra_train)
    wanted = math.ceil(config.replay_share * len(train))
    if replay is not None and wanted:
        distinct = math.ceil(wanted / config.replay_repeats)
        train += (list(replay(distinct))[:distinct] * config.replay_repeats)[:wanted]
    dropped = leaked(train, [b.question for b in bench] + list(exclude_questions))
    train = [ex for i, ex in enumerate(train) if i not in dropped]
    train = _sample(train, config)
    return SynthesisResult(train, bench, _overlap_report(train, bench, len(facts), len(dropped)))


def _facts(chunks: Sequence[Chunk]) -> list[Fact]:
    facts = extract_facts(chunks)
    if not facts:
        raise InvalidInput(
            f"found no usable fact in {len(chunks)} chunk(s): synthesis needs declarative sentences that state "
            "a date, a number or a name (e.g. 'The bridge opened on 4 May 1921.'); add documents with such prose "
            "or upload a benchmark and training data made elsewhere"
        )
    return facts


def _training_items(
    chunks: Sequence[Chunk], facts: list[Fact], phrasings: dict[str, Phrasings], held_out: set[str],
    pools: dict[str, list[str]], config: SynthesisConfig,
) -> list[TrainExample]:
    """Raw passages and their renderings, then every fact's items.

    Benchmark facts lose the frame their question came from.
    """
    items = raw_items(chunks) if config.include_raw_passages else []
    items += shuffled_items(chunks, config.shuffled_per_chunk, config.seed)
    items += sentence_items(chunks) if config.include_sentences else []
    allowed = []
    for fact in facts:
        phr = phrasings[fact.key]
        if fact.key not in held_out:
            phr = replace(phr, withheld=frozenset())
        allowed.append((fact, phr))
        items += fact_items(
            fact, phr, seed=config.seed, paraphrases=config.paraphrases_per_fact,
            clozes=config.cloze_per_fact, pools=pools if config.include_mc else None,
            noun_questions=config.noun_questions,
        )
    items += grounded_items(
        chunks, allowed, per_chunk=config.grounded_per_chunk, passages=config.grounded_passages,
        oracle_share=config.grounded_oracle_share, seed=config.seed,
    )
    if config.refusal_share > 0:
        questions = [(question, fact.key) for fact, phr in allowed for question in allowed_questions(phr)[:1]]
        taken = vocabulary(chunk.text for chunk in chunks)
        items += refusal_items(questions, math.ceil(config.refusal_share * len(items)), taken, config.seed)
    seen: set[tuple[str | None, str]] = set()
    unique = []
    for item in items:
        if (item.prompt, item.completion) not in seen:
            seen.add((item.prompt, item.completion))
            unique.append(item)
    return unique


def _sample(train: list[TrainExample], config: SynthesisConfig) -> list[TrainExample]:
    """Shuffle with the seed; keep ``max_train_items`` of them when set."""
    rng = random.Random(f"{config.seed}|train-order")
    train = list(train)
    rng.shuffle(train)
    return train[: config.max_train_items] if config.max_train_items is not None else train


def _overlap_report(train: list[TrainExample], bench: list[BenchmarkItem], facts: int, dropped: int) -> dict:
    """The numbers the stage reports: n-gram overlap, verbatim copies left, sizes."""
    texts = [t for ex in train if ex.prompt is not None for t in (ex.prompt, ex.completion)]
    questions = [b.question for b in bench]
    copies = leaked(train, questions)
    return {
        "ngram": NGRAM,
        "benchmark_ngram_overlap": round(ngram_overlap(texts, questions, NGRAM), 4),
        "exact_duplicates": len(copies),
        "removed_for_leakage": dropped,
        "facts": facts,
        "train_items": len(train),
        "benchmark_items": len(bench),
    }
