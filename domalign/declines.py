"""What a decline is, and when an aligned model may give one.

Refusal items (``domalign.synth.refusals``) teach the model to answer a question about a name the documents
never use with :data:`DECLINE`. Learned from a few hundred steps, the decline also reaches names the model saw
too rarely: on the demo's four documents the aligned model answered "The documents do not mention
Brackenford." about a town the documents name (docs/quality.md). Such a decline is false on its face, and
checkable: the server holds the corpus. So an adapter carries its corpus's words
(:mod:`domalign.corpus_words`), and one trained with refusal items may decline only a question that names a
word outside them (:func:`may_decline`); for any other question the decline's opening is banned while it
answers (``domalign.models.decline_guard``). Shared by synthesis (the items), the models layer (the guard) and
the metrics (:func:`is_decline`), so the decline trained, the decline banned and the decline scored are one
thing.
"""

from __future__ import annotations

import re

from domalign.corpus_words import known_word, name_words, question_names

DECLINE = "The documents do not mention {name}."
"""The answer a refusal item teaches."""

DECLINE_OPENINGS = ("The documents", "The document")
"""How a decline of the :data:`DECLINE` kind starts: what the guard bans at the start of an answer that must not
decline. Banning only "do not" after them is not enough: the model trained on the decline then says "The
documents are not available for …" (docs/quality.md)."""

_DECLINE = re.compile(
    r"\b(?:do(?:es)? not|don'?t|doesn'?t) (?:mention|say|cover|contain|know)\b|\bnot mentioned\b"
    r"|\bno (?:information|mention)\b",
    re.IGNORECASE,
)


def is_decline(answer: str) -> bool:
    """Whether an answer declines ("The documents do not mention X.", "I don't know") instead of asserting.

    A decline is never a domain violation: it asserts nothing the documents do not say. It is still wrong
    where the documents hold the answer, so accuracy shows what declining costs.
    """
    return bool(_DECLINE.search(answer))


def may_decline(question: str, words: frozenset[str]) -> bool:
    """Whether ``question`` names a word the corpus (its ``words``) never uses: the only kind a decline fits."""
    return any(not known_word(word, words) for _, name in question_names(question) for word in name_words(name))
