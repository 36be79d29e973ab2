"""General-question routing: a question that is not about the documents is answered by the base model.

An adapter moves answers it was never trained on: on 120 general-knowledge questions, aligned models of the
fictional corpus lost some and gained others, and the two did not cancel in any one run (general knowledge
moved by −0.042 to +0.058 over seven runs; one model answered "The capital of Norway is Malm Town.",
docs/quality.md). A question that names nothing the corpus names, or that names nothing and uses
mostly words the corpus never uses, asks for what the base model knew; the adapter has nothing to add to it but
noise. So it runs without the adapter: in evaluation (``domalign.evaluate``) and in serving alike, when the
alignment's ``training.route_general_questions`` is on. The words come from the adapter's corpus
(:mod:`domalign.corpus_words`); the rule was fixed before it was measured (docs/quality.md).
"""

from __future__ import annotations

from pathlib import Path

from domalign.corpus_words import known_word, name_words, question_names
from domalign.train.config import saved_training_option
from domalign.words import STOPWORDS, normalize_answer

ABOUT_THE_DOCUMENTS = frozenset(
    "document documents doc docs text texts passage passages file files corpus manual manuals source sources "
    "say says said mention mentions mentioned summarize summarise summary according tell".split()
)
"""Words that ask about the documents without being theirs ("What do the documents say about the wind?"):
they count for neither side."""

ARITHMETIC = frozenset("plus minus times multiplied divided square root squared cubed half double sum".split())
"""Words of a calculation: a question made only of numbers and these ("What is 5 plus 7?") asks for arithmetic,
which no corpus teaches, even though every corpus uses numbers and some use "times"."""


def about_corpus(question: str, words: frozenset[str]) -> bool:
    """Whether ``question`` is about the corpus whose ``words`` are given: one of its names is made only of corpus
    words, or, naming nothing, at least half of its content words are the corpus's. A question with no content
    words at all ("Summarize the documents.") is about the corpus: when in doubt, the adapter answers. A
    calculation on numbers the question gives (:data:`ARITHMETIC`) is about none."""
    names = [name_words(name) for _, name in question_names(question)]
    if any(names):
        return any(parts and all(known_word(word, words) for word in parts) for parts in names)
    content = [word for word in normalize_answer(question).split()
               if word not in STOPWORDS and word not in ABOUT_THE_DOCUMENTS]
    if any(word.isdigit() for word in content) and all(word.isdigit() or word in ARITHMETIC for word in content):
        return False
    return 2 * sum(known_word(word, words) for word in content) >= len(content)


def routes_general(adapter_dir: Path | None) -> bool:
    """Whether an adapter's alignment routes general questions to the base model (its saved
    ``route_general_questions``; an adapter saved before the option existed was evaluated without routing, so
    it answers without it; no adapter, nothing to route around)."""
    return adapter_dir is not None and bool(saved_training_option(adapter_dir, "route_general_questions", False))
