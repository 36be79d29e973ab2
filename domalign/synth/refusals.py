"""Refusal items: questions about entities the documents never name, answered with a decline.

A model tuned only on answerable questions answers every question, and about a name it never read it makes
something up (a domain violation, DESIGN §4). So a training question of a real fact is asked again with its
names replaced by invented ones ("When was the Quorvel–Drapio Pact signed?") and answered with
:data:`DECLINE`. Every name is replaced, not one: a question that still names a real entity may still be
answerable ("Which place did Tsunami Zarast hit in Quorvel?"), and declining it would teach the model to
decline what it knows. The invented words are random syllables checked against the corpus vocabulary, so no
invented name is one the documents use; the rest of the question is the corpus's own, so the model has to
notice the name, not the style. :func:`~domalign.declines.is_decline` recognizes the decline; the
evaluation never counts one as a violation (it asserts nothing), and a benchmark question whose reference
answer is a decline wants one. An adapter trained on them declines only questions that name a word the corpus
never uses (:mod:`domalign.declines`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from domalign.corpus_words import question_names
from domalign.declines import DECLINE
from domalign.domain import TrainExample

REFUSAL_KIND = "refusal"

_ONSETS = "b br c d dr f g gr h k kl l m n p pr qu r s st t tr v w z".split()
_VOWELS = "a e i o u ae ia io ou".split()
_CODAS = ["", "", "n", "r", "l", "s", "th", "x", "m"]


def invented_word(rng: random.Random, taken: frozenset[str]) -> str:
    """A capitalized word of two or three random syllables that is not in ``taken``."""
    while True:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3)))
        word += rng.choice(_CODAS)
        if word not in taken:
            return word.capitalize()


def invented_question(question: str, taken: frozenset[str], rng: random.Random) -> tuple[str, str] | None:
    """``question`` with every name in it made up (:func:`~domalign.corpus_words.question_names`): ``(question,
    first invented name)``; None when the question names nothing."""
    spans = question_names(question)
    if not spans:
        return None
    parts, invented, end = [], [], 0
    for start, text in spans:
        words = re.split(r"([ –-])", text)
        made = "".join(w if i % 2 else invented_word(rng, taken) for i, w in enumerate(words))
        parts += [question[end:start], made]
        invented.append(made)
        end = start + len(text)
    return "".join([*parts, question[end:]]), invented[0]


def refusal_items(questions: Sequence[tuple[str, str]], count: int, taken: frozenset[str],
                  seed: int) -> list[TrainExample]:
    """Up to ``count`` refusal items from ``(question, key)`` pairs, each drawn with a generator seeded by its key
    (a fact's text), so the same documents give the same items."""
    order = sorted(questions, key=lambda pair: random.Random(f"{seed}|refusal-order|{pair[1]}").random())
    items = []
    for question, key in order:
        if len(items) >= count:
            break
        made = invented_question(question, taken, random.Random(f"{seed}|refusal|{key}"))
        if made is not None:
            items.append(TrainExample(made[0], DECLINE.format(name=made[1]), REFUSAL_KIND))
    return items
