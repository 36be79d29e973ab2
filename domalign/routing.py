"""General-question routing: a question that is not about the documents is answered by the base model.

An adapter moves answers it was never trained on: on 120 general-knowledge questions, aligned models of the
fictional corpus lost some and gained others, and the two did not cancel in any one run (general knowledge
moved by −0.042 to +0.058 over seven runs; one model answered "The capital of Norway is Malm Town.",
docs/quality.md). A question that names nothing the corpus names, or that names nothing and uses
mostly words the corpus never uses, or that shares with the corpus only words all English shares, asks for what
the base model knew; the adapter has nothing to add to it but noise. So it runs without the adapter: in
evaluation (``domalign.evaluate``) and in serving alike, when the alignment's
``training.route_general_questions`` is on. The words and their counts come from the adapter's corpus
(:mod:`domalign.corpus_words`), English frequencies from ``wordfreq``; each part of the rule was fixed before
it was counted on a general-knowledge set written after it (docs/quality.md).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from wordfreq import word_frequency

from domalign.corpus_words import CorpusWords, known_word, name_words, question_names, word_forms
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


KEY_RATIO = 5
"""A word is the corpus's own when the corpus uses it at least this many times as often as English at large."""


def about_corpus(question: str, corpus: CorpusWords) -> bool:
    """Whether ``question`` is about ``corpus``: one of its names is made only of corpus words, or, naming
    nothing, at least half of its content words are the corpus's; and (where the corpus's word counts were saved)
    one of its words is the corpus's own (:func:`own_word`: "What is the capital of Norway?" asks the base model,
    though a football report names Norway once). A question with no content words at all ("Summarize the
    documents.") is about the corpus: when in doubt, the adapter answers. A calculation on numbers the question
    gives (:data:`ARITHMETIC`) is about none."""
    content = [word for word in normalize_answer(question).split()
               if word not in STOPWORDS and word not in ABOUT_THE_DOCUMENTS]
    if not content:
        return True
    if any(word.isdigit() for word in content) and all(word.isdigit() or word in ARITHMETIC for word in content):
        return False
    names = [name_words(name) for _, name in question_names(question)]
    if any(names):
        known = any(parts and all(known_word(word, corpus.words) for word in parts) for parts in names)
    else:
        known = 2 * sum(known_word(word, corpus.words) for word in content) >= len(content)
    # the set lookups first: the frequency test runs only for a question they keep
    return known and (corpus.counts is None or any(own_word(word, corpus) for word in content))


def own_word(word: str, corpus: CorpusWords) -> bool:
    """Whether the corpus uses ``word`` (its :func:`~domalign.corpus_words.word_forms` together)
    :data:`KEY_RATIO` times as often as English does, or uses a word English never does (an invented name).

    Every corpus uses "hour" and "capital" now and then; what a question shares with the corpus only in such
    words it shares with any English text. A small corpus makes most of its words its own (each is a large
    share of it): the rule bites on large ones, and in English only. A number counts like a word: ``wordfreq``
    knows years ("1937" is as common as "Norway"), and a number written with commas that a question shares with
    the corpus ("1,500") is likely to be the corpus's.
    """
    share = corpus.share(word)
    return share > 0 and share >= KEY_RATIO * sum(_english(form) for form in word_forms(word))


_CONTRACTIONS = ("nt", "n't"), ("m", "'m"), ("re", "'re"), ("ve", "'ve")


@lru_cache(maxsize=65536)
def _english(word: str) -> float:
    """How often English uses a normalized word, with the apostrophe normalization took from it ("dont" is
    rare, "don't" is not); cached here because ``wordfreq``'s own cache is not safe across serving threads."""
    spellings = {word} | {word[: -len(end)] + spelled for end, spelled in _CONTRACTIONS
                          if word.endswith(end) and len(word) > len(end)}
    return sum(word_frequency(spelling, "en") for spelling in spellings)


def routes_general(adapter_dir: Path | None) -> bool:
    """Whether an adapter's alignment routes general questions to the base model (its saved
    ``route_general_questions``; an adapter saved before the option existed was evaluated without routing, so
    it answers without it; no adapter, nothing to route around)."""
    return adapter_dir is not None and bool(saved_training_option(adapter_dir, "route_general_questions", False))
