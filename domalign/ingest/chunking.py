"""Chunking along paragraph and sentence boundaries (sentences: ``domalign.sentences``).

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
from domalign.sentences import paragraph_spans, sentence_spans, split_sentences

__all__ = ["chunk_text", "split_sentences"]

_WORD = re.compile(r"\S+")


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
    for paragraph, (offset, stop) in enumerate(paragraph_spans(text)):
        block = text[offset:stop]
        for start, end in sentence_spans(block):
            words = [m.span() for m in _WORD.finditer(block, start, end)]
            for i in range(0, len(words), max_words):
                window = words[i : i + max_words]
                units.append(
                    _Unit(paragraph, offset + window[0][0], offset + window[-1][1], len(window))
                )
    return units


def _words(units: list[_Unit]) -> int:
    return sum(unit.words for unit in units)


def _render(text: str, units: list[_Unit]) -> str:
    """Chunk text: each paragraph's run of units exactly as in ``text``, joined by blank lines."""
    runs = (list(group) for _, group in groupby(units, key=attrgetter("paragraph")))
    return "\n\n".join(text[run[0].start : run[-1].end] for run in runs)
