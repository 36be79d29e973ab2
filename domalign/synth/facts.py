"""Fact-bearing sentences and their typed answers.

A *fact* is one declarative sentence of a chunk with one answer span in it:

    Fact(sentence="Galaxy Music Syndicate was established in 1980.",
         answer="1980", answer_type="year", start=43, end=47, ...)

``prefix`` (the sentence before the answer) and ``suffix`` (after it) are the
context every generator rephrases. A sentence gives at most
``MAX_FACTS_PER_SENTENCE`` facts; an answer that occurs twice in its sentence,
or not at all in its chunk (runs of whitespace count as one space), is not a
fact (the question would give it away, or the answer could not be checked
against the documents).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from domalign.domain import Chunk
from domalign.sentences import split_sentences
from domalign.synth.spans import ENTITY_TYPES, WEAK_PLACE, find_spans

MAX_FACTS_PER_SENTENCE = 3
MIN_WORDS, MAX_WORDS = 5, 70
_TYPE_PRIORITY = ("person", "place", "organization")


@dataclass(frozen=True)
class Fact:
    """One answer span in one sentence of one chunk."""

    chunk_id: str
    document_id: str
    sentence: str
    answer: str
    answer_type: str
    start: int
    end: int

    @property
    def prefix(self) -> str:
        """The sentence up to the answer (trailing space kept)."""
        return self.sentence[: self.start]

    @property
    def suffix(self) -> str:
        """The sentence after the answer, without its final full stop."""
        return self.sentence[self.end :].rstrip().rstrip(".")

    @property
    def key(self) -> str:
        """An identity by content (not the chunk's id, new with every upload), used to seed per-fact random
        choices and to hold facts out of training: the same sentence elsewhere in the corpus is the same fact."""
        return f"{self.start}|{self.answer}|{self.sentence}"


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces: the form every comparison uses."""
    return " ".join(re.findall(r"\w+", text.lower()))


def extract_facts(chunks: Sequence[Chunk]) -> list[Fact]:
    """Return the facts of ``chunks`` in document order, names typed by corpus-wide vote."""
    facts: list[Fact] = []
    seen: set[tuple[str, str]] = set()
    for chunk in chunks:
        flat = " ".join(chunk.text.split())  # line wraps inside a sentence are spaces
        for sentence in split_sentences(chunk.text):
            sentence = " ".join(sentence.split())
            if not _is_declarative(sentence):
                continue
            for fact in _sentence_facts(chunk, sentence, flat):
                if (fact.sentence, fact.answer) not in seen:
                    seen.add((fact.sentence, fact.answer))
                    facts.append(fact)
    return _retype_names(facts)


def _is_declarative(sentence: str) -> bool:
    """A plain statement of reasonable length: ends in a full stop, starts like a sentence."""
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or not sentence.rstrip("\"'”’)").endswith("."):
        return False
    first = sentence.lstrip("\"'“‘(")[:1]
    return (first.isupper() or first.isdigit()) and "?" not in sentence


def _sentence_facts(chunk: Chunk, sentence: str, chunk_text: str) -> list[Fact]:
    """Up to MAX_FACTS_PER_SENTENCE facts of one sentence, in span priority order."""
    out: list[Fact] = []
    folded = sentence.lower()
    for span in find_spans(sentence):
        answer = span.text.strip()
        if len(out) == MAX_FACTS_PER_SENTENCE:
            break
        if folded.count(answer.lower()) != 1 or answer not in chunk_text:
            continue
        if span.start == 0 and span.end >= len(sentence.rstrip(".")) - 1:
            continue  # the whole sentence is the "answer"
        out.append(Fact(chunk.id, chunk.document_id, sentence, answer, span.type, span.start, span.end))
    return out


def _retype_names(facts: list[Fact]) -> list[Fact]:
    """Give every occurrence of a name the type its occurrences vote for.

    A name typed only by its own sentence is often just "name" ("Sweden" in
    "the capital of Sweden"); one sentence with a cue ("Sweden, a country")
    fixes all. A place known only from a preposition ("from Tesla") counts
    half, so that a single firm cue elsewhere outvotes several of them.
    """
    names = ENTITY_TYPES | {WEAK_PLACE}
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for fact in facts:
        if fact.answer_type in names:
            weight = 0.5 if fact.answer_type == WEAK_PLACE else 1.0
            votes[normalize(fact.answer)][fact.answer_type.rstrip("?")] += weight
    best: dict[str, str] = {}
    for name, counter in votes.items():
        typed = [(count, -_TYPE_PRIORITY.index(t)) for t, count in counter.items() if t != "name"]
        best[name] = _TYPE_PRIORITY[-max(typed)[1]] if typed else "name"
    return [replace(f, answer_type=best[normalize(f.answer)]) if f.answer_type in names else f for f in facts]
