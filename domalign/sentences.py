"""Sentence splitting shared by ingest (chunking) and synthesis (facts, passages).

A shared layer, like ``domain``: both stages split text the same way without
importing each other. Sentences are exact character spans of the input.
"""

from __future__ import annotations

import re

# Abbreviations after which a period does not end a sentence (lowercase, no final dot).
_ABBREVIATIONS = frozenset(
    "mr mrs ms mx dr prof sr jr st mt rev hon gen col capt lt sgt cmdr gov pres "
    "e.g i.e cf viz vs al approx ca est resp incl "
    "fig figs eq eqs ref refs sec ch vol vols ed eds art para "
    "inc ltd co corp dept univ assn bros "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# These end sentences too often ("I said no.") to be abbreviations unless a number follows.
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "p", "pp"})
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]|[A-Z]")  # "U.S", "e.g" or an initial "J"
_TERMINATOR = re.compile(r"(?:\.{3}|…|[.!?])+[\"'”’)\]]*(?=\s+(\S))|[。！？]+")
_PARAGRAPH = re.compile(r"\n\s*\n")

Span = tuple[int, int]


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, each exactly as written; a blank line always ends one."""
    return [
        text[offset + start : offset + end]
        for offset, stop in paragraph_spans(text)
        for start, end in sentence_spans(text[offset:stop])
    ]


def sentence_spans(text: str) -> list[Span]:
    """Return (start, end) spans of the sentences of ``text``, whitespace excluded."""
    spans: list[Span] = []
    start = 0
    for match in _TERMINATOR.finditer(text):
        if match.group(1) is not None and not _ends_sentence(text, match):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    return [trimmed for span in spans if (trimmed := _trim(text, span))]


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Decide whether the punctuation in ``match`` (followed by whitespace) ends a sentence."""
    following = match.group(1)
    if following[0].islower():
        return False
    if match.group(0).rstrip("\"'”’)]") != ".":
        return True  # "!", "?" and ellipses before a capital end sentences
    word_start = max(text.rfind(" ", 0, match.start()), text.rfind("\n", 0, match.start())) + 1
    word = text[word_start : match.start()].lstrip("([\"'“‘")
    lowered = word.lower()
    if lowered in _ABBREVIATIONS or _DOTTED.fullmatch(word):
        return False
    if lowered in _NUMBER_ABBREVIATIONS and following[0].isdigit():
        return False
    # A list number at the start of a line ("1. Introduction") is not a sentence.
    return not (word.isdigit() and text[word_start - 1 : word_start] in ("", "\n"))


def _trim(text: str, span: Span) -> Span | None:
    """Shrink ``span`` to exclude surrounding whitespace; None when nothing is left."""
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def paragraph_spans(text: str) -> list[Span]:
    """(start, end) of each paragraph: the text between blank lines."""
    bounds = [0, *(pos for m in _PARAGRAPH.finditer(text) for pos in m.span()), len(text)]
    return list(zip(bounds[::2], bounds[1::2], strict=True))
