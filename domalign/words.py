"""How text becomes comparable words: SQuAD-style normalization and stopwords.

Shared by retrieval (BM25 terms), synthesis and the metrics, so that the
passages retrieved, the items generated and the answers judged all see the
same words.
"""

from __future__ import annotations

import re
import string
import unicodedata

STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from as into onto about over under
    is are was were be been being am do does did has have had having will would shall should
    can could may might must it its this that these those there here they them their
    he him his she her hers we us our you your i me my mine not no nor so than then too very
    what which who whom whose when where why how also just only such some any each all both
    """.split()
)
"""Function words ignored when checking whether an answer's content is in the corpus."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _is_dash(char: str) -> bool:
    return unicodedata.category(char) == "Pd"


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD-style normalization so that surface differences do not count as wrong.

    NFKC, every dash (``-``, ``–``, ``—``…) to a space so "1990–1995" keeps two
    tokens, lowercase, punctuation removed, the articles a/an/the dropped,
    whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if _is_dash(c) else c for c in text).lower()
    text = "".join(c for c in text if not _is_punctuation(c))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())
