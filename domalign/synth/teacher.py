"""Items written by a teacher model: questions with answers, and paraphrased passages.

A teacher is any function ``ask(prompt) -> reply text``: an OpenAI-compatible
endpoint, or the base model itself with the passage in its prompt
(self-distillation, no network). This module writes the prompts, parses the
replies and keeps only what the passage backs, whatever the teacher's size:

    a question/answer pair   the answer occurs in the passage (normalized), the
                             question does not give it away, and reads as a question
    a paraphrase             every number and name in it occurs in the passage (it
                             invents nothing) and it keeps most of the passage's
                             numbers and names (it drops little)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from domalign.domain import Chunk, TrainExample
from domalign.synth.facts import normalize

QUESTIONS_PER_PASSAGE = 5
MAX_ANSWER_WORDS = 12
MIN_KEPT_DETAILS = 0.6  # share of the passage's numbers and names a paraphrase must keep

QUESTION_PROMPT = (
    "Write {n} questions that a reader could ask about the passage below, each followed by its short "
    "answer copied word for word from the passage. Use this format, one pair per line:\n"
    "Q: <question> A: <answer>\n\nPassage:\n{passage}"
)
PARAPHRASE_PROMPT = (
    "Rewrite the passage below in your own words. Keep every name, date and number exactly as written "
    "and add nothing.\n\nPassage:\n{passage}"
)

_PAIR = re.compile(r"Q\s*[:.)]\s*(?P<q>.+?)\s*A\s*[:.)]\s*(?P<a>.+)", re.IGNORECASE)
_DETAIL = re.compile(r"\b(?:\d[\d,.]*\d|\d|[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*)\b")


@dataclass
class TeacherReport:
    """What the teacher proposed and what survived the filters (goes into the alignment's report)."""

    requests: int = 0
    failed_requests: int = 0
    pairs_proposed: int = 0
    pairs_kept: int = 0
    paraphrases_proposed: int = 0
    paraphrases_kept: int = 0


def parse_pairs(reply: str) -> list[tuple[str, str]]:
    """(question, answer) pairs of a reply in the ``Q: … A: …`` format; other lines are ignored."""
    pairs = []
    for line in reply.splitlines():
        match = _PAIR.search(line.strip())
        if match:
            pairs.append((match["q"].strip(), match["a"].strip().rstrip(".").strip()))
    return pairs


def backed_pair(question: str, answer: str, passage: str) -> bool:
    """Whether the passage backs the answer and the question is a real question that hides it."""
    q, a, p = f" {normalize(question)} ", f" {normalize(answer)} ", f" {normalize(passage)} "
    return (
        bool(a.strip())
        and len(a.split()) <= MAX_ANSWER_WORDS
        and a in p
        and a not in q
        and question.rstrip().endswith("?")
        and len(q.split()) >= 4
    )


def details(text: str) -> set[str]:
    """Numbers and capitalized words (names, places, months): what a paraphrase must not change."""
    return {m.group(0).rstrip(".,") for m in _DETAIL.finditer(text)}


def faithful_paraphrase(paraphrase: str, passage: str) -> bool:
    """Invents no number or name, keeps most of them, and is of a comparable length."""
    own, source = details(paraphrase), details(passage)
    if not paraphrase.strip() or not 0.5 <= len(paraphrase) / max(len(passage), 1) <= 2.0:
        return False
    if normalize(paraphrase) == normalize(passage):
        return False  # a copy teaches no new phrasing
    invented = {d for d in own if d not in source and d.lower() not in passage.lower()}
    kept = len(own & source) / len(source) if source else 1.0
    return not invented and kept >= MIN_KEPT_DETAILS


def teach(
    chunks: Sequence[Chunk], ask_many: Callable[[list[str]], list[str | None]]
) -> tuple[list[TrainExample], TeacherReport]:
    """Ask the teacher about every chunk; return the items that passed the filters, and the counts.

    ``ask_many`` answers a list of prompts at once (so a teacher can batch or
    run them concurrently), with ``None`` for a request that failed.
    """
    prompts = [QUESTION_PROMPT.format(n=QUESTIONS_PER_PASSAGE, passage=c.text) for c in chunks]
    prompts += [PARAPHRASE_PROMPT.format(passage=c.text) for c in chunks]
    replies = ask_many(prompts)
    report, items = TeacherReport(requests=len(prompts)), []
    report.failed_requests = sum(reply is None for reply in replies)
    for chunk, reply in zip(chunks, replies[: len(chunks)], strict=True):
        pairs = parse_pairs(reply or "")
        report.pairs_proposed += len(pairs)
        for question, answer in pairs:
            if backed_pair(question, answer, chunk.text):
                items.append(TrainExample(question, answer, "teacher_qa", chunk.id))
                report.pairs_kept += 1
    for chunk, reply in zip(chunks, replies[len(chunks) :], strict=True):
        if reply is None:
            continue
        report.paraphrases_proposed += 1
        if faithful_paraphrase(reply, chunk.text):
            items.append(TrainExample(None, reply.strip(), "teacher_paraphrase", chunk.id))
            report.paraphrases_kept += 1
    return items, report
