"""Sentence splitting and chunking along paragraph and sentence boundaries.

Chunks are built from exact character spans of the input, so every sentence
of a document appears verbatim in some chunk and re-chunking the same text
with the same parameters yields the same chunks and ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter

from domalign.domain import Chunk
from domalign.errors import InvalidInput

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
_WORD = re.compile(r"\S+")

Span = tuple[int, int]


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, each exactly as written; a blank line always ends one."""
    return [
        text[offset + start : offset + end]
        for offset, stop in _paragraph_spans(text)
        for start, end in _sentence_spans(text[offset:stop])
    ]


def _sentence_spans(text: str) -> list[Span]:
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


def chunk_text(
    document_id: str, text: str, *, max_words: int = 180, overlap_sentences: int = 1
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_words`` words.

    Paragraph breaks inside a chunk are kept; a chunk repeats up to
    ``overlap_sentences`` sentences from the end of the previous one for
    context. A sentence longer than ``max_words`` is cut into word windows:
    the only case where a chunk starts or ends mid-sentence.
    """
    if max_words < 1:
        raise InvalidInput(f"max_words must be at least 1, got {max_words}")
    if overlap_sentences < 0:
        raise InvalidInput(f"overlap_sentences must be 0 or more, got {overlap_sentences}")
    units = _units(text, max_words)
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        if current and _words(current) + unit.words > max_words:
            chunks.append(current)
            current = current[len(current) - min(overlap_sentences, len(current)) :]
            while current and _words(current) + unit.words > max_words:
                current = current[1:]
        current.append(unit)
    if current:
        chunks.append(current)
    return [
        Chunk(id=f"{document_id}:c{i:04d}", document_id=document_id, index=i, text=_render(text, c))
        for i, c in enumerate(chunks)
    ]


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence, or a word window of an overlong one, as a span of the document."""

    paragraph: int
    start: int
    end: int
    words: int


def _units(text: str, max_words: int) -> list[_Unit]:
    """Split ``text`` into paragraphs, sentences and, where needed, word windows."""
    units: list[_Unit] = []
    for paragraph, (offset, stop) in enumerate(_paragraph_spans(text)):
        block = text[offset:stop]
        for start, end in _sentence_spans(block):
            words = [m.span() for m in _WORD.finditer(block, start, end)]
            for i in range(0, len(words), max_words):
                window = words[i : i + max_words]
                units.append(
                    _Unit(paragraph, offset + window[0][0], offset + window[-1][1], len(window))
                )
    return units


def _paragraph_spans(text: str) -> list[Span]:
    """(start, end) of each paragraph: the text between blank lines."""
    bounds = [0, *(pos for m in _PARAGRAPH.finditer(text) for pos in m.span()), len(text)]
    return list(zip(bounds[::2], bounds[1::2], strict=True))


def _words(units: list[_Unit]) -> int:
    return sum(unit.words for unit in units)


def _render(text: str, units: list[_Unit]) -> str:
    """Chunk text: each paragraph's run of units exactly as in ``text``, joined by blank lines."""
    runs = (list(group) for _, group in groupby(units, key=attrgetter("paragraph")))
    return "\n\n".join(text[run[0].start : run[-1].end] for run in runs)
