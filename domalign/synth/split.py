"""The held-out benchmark: which facts it asks about, and how far training overlaps it.

``benchmark_ngram_overlap`` is the share of the benchmark's distinct word
8-grams (lowercased ``\\w+`` tokens) that also occur in a training prompt or
completion; raw passages are left out, since they are the documents the
benchmark is about. A question shorter than 8 words has no 8-gram: verbatim
copies of those are caught by ``leaked`` instead, which looks for each whole
question (normalized) inside every training text.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence

from domalign.domain import BenchmarkItem, TrainExample
from domalign.synth.facts import Fact, normalize
from domalign.synth.generators import fact_rng, pick_distractors, shuffled_choices
from domalign.synth.questions import Phrasings

NGRAM = 8
# Shorter questions ("Who?", "Why so?") occur in any text; finding them there says nothing.
MIN_LEAK_WORDS = 3
# Benchmark frames in order of preference: fronted and subject questions read best.
_FRAME_RANK = {"front": 0, "subject": 0, "insitu": 1, "gap": 2}


def ngram_overlap(train_texts: Iterable[str], bench_texts: Iterable[str], n: int = NGRAM) -> float:
    """Fraction of the distinct word n-grams of ``bench_texts`` that occur in ``train_texts``.

    0.0 when the benchmark has no n-gram at all (every text shorter than ``n`` words).
    """
    wanted = set()
    for text in bench_texts:
        wanted |= _ngrams(text, n)
    if not wanted:
        return 0.0
    found = set()
    for text in train_texts:
        found |= _ngrams(text, n) & wanted
    return len(found) / len(wanted)


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def select_benchmark(
    facts: Sequence[Fact], phrasings: dict[str, Phrasings], count: int, pools: dict[str, list[str]], seed: int,
) -> list[tuple[Fact, BenchmarkItem]]:
    """Pick up to ``count`` facts, one per sentence, spread over documents; alternate mc and free-form.

    Within a document, facts are taken best first (see ``_rank``), ties broken
    by the seed; documents take turns so that a small benchmark covers many.
    """
    rng = random.Random(f"{seed}|benchmark")
    by_doc: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        if phrasings[fact.key].bench:
            by_doc[fact.document_id].append(fact)
    for doc_facts in by_doc.values():
        doc_facts.sort(key=lambda f: (*_rank(f, phrasings[f.key]), rng.random()))
    order = sorted(by_doc)
    picked: list[tuple[Fact, BenchmarkItem]] = []
    used_sentences, used_questions = set(), set()
    while len(picked) < count and any(by_doc.values()):
        for doc in order:
            while by_doc[doc] and len(picked) < count:
                fact = by_doc[doc].pop(0)
                question = phrasings[fact.key].bench
                if fact.sentence in used_sentences or normalize(question) in used_questions:
                    continue
                used_sentences.add(fact.sentence)
                used_questions.add(normalize(question))
                picked.append((fact, _item(fact, question, pools, seed, want_mc=len(picked) % 2 == 0)))
                break
    return picked


def _rank(fact: Fact, phr: Phrasings) -> tuple[bool, int]:
    """Lower is better: questions that copy no 8-word run of their sentence, then clean frames
    before in-place ones, typed answers before plain names."""
    copies = ngram_overlap([fact.sentence], [phr.bench or ""]) > 0
    return copies, _FRAME_RANK[phr.bench_frame] + (1 if fact.answer_type == "name" else 0)


def _item(fact: Fact, question: str, pools: dict[str, list[str]], seed: int, want_mc: bool) -> BenchmarkItem:
    """A multiple-choice item when asked for and same-type distractors exist, else free-form."""
    meta = {"answer_type": fact.answer_type}
    if want_mc:
        rng = fact_rng(seed, fact, "bench-mc")
        distractors = pick_distractors(fact, pools, rng)
        if distractors:
            choices = shuffled_choices(fact.answer, distractors, rng)
            return BenchmarkItem(question, fact.answer, choices, "mc", fact.chunk_id, meta)
    return BenchmarkItem(question, fact.answer, None, "freeform", fact.chunk_id, meta)


def leaked(train: Sequence[TrainExample], questions: Iterable[str]) -> set[int]:
    """Indexes of non-raw training items whose prompt or completion contains a question verbatim.

    Texts and questions are compared normalized (lowercase words), so case and
    punctuation changes do not hide a copy; questions under MIN_LEAK_WORDS words
    are not looked for.
    """
    texts = {i: f" {normalize(ex.prompt or '')} | {normalize(ex.completion)} " for i, ex in enumerate(train)
             if ex.prompt is not None}
    postings: dict[str, set[int]] = defaultdict(set)
    for i, text in texts.items():
        for word in text.split():
            postings[word].add(i)
    hits: set[int] = set()
    for question in questions:
        words = normalize(question).split()
        if len(words) < MIN_LEAK_WORDS:
            continue
        sets = sorted((postings.get(w, set()) for w in set(words)), key=len)
        candidates = set.intersection(*sets) if sets else set()
        needle = f" {' '.join(words)} "
        hits |= {i for i in candidates if needle in texts[i]}
    return hits
