"""The words of an adapter's corpus, saved beside the adapter: which questions are about its documents.

Two features ask that of a question at answer time, when the documents themselves are out of reach: the decline
guard (an adapter that learned to decline may decline only a question naming a word its corpus never uses,
:mod:`domalign.declines`) and general-question routing (a question that is not about the documents is answered by
the base model, :mod:`domalign.routing`). Both read the names a question uses (:func:`question_names`) and look
their words up in the corpus's (:func:`known_word`), so the two agree on what the corpus names.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from domalign.words import STOPWORDS, normalize_answer

VOCABULARY_FILE = "vocabulary.txt"
"""The corpus's words, one per line with how often the corpus uses it (``word<TAB>count``), in the adapter's
folder; adapters saved before 2026-12-07 have the words alone."""

CORPUS_FILE = "corpus.json"
"""What else the adapter's corpus words are for: ``{"declines": bool}``, whether the adapter learned to decline.
Adapters saved before it existed have only :data:`VOCABULARY_FILE`, which was written only for those that learned
to decline."""

_CAPITALIZED = r"[A-Z](?:[a-z]\w*|['’][A-Z][a-z]\w*)(?:['’][A-Z]\w*)*"  # "Tessaly", "O'Brien"; not "Who's" whole
_NAME = re.compile(rf"(?<![\w'’-]){_CAPITALIZED}(?:[ –-][A-Z]\w*(?:['’][A-Z]\w*)*)*")
_SENTENCE_END = re.compile(r"(?:^|[.!?:])\s*$")
_OPENERS = frozenset("during after before since despite following according although while".split())


def vocabulary(texts: Iterable[str]) -> frozenset[str]:
    """Every normalized word of ``texts``."""
    return frozenset(word for text in texts for word in normalize_answer(text).split())


def question_names(question: str) -> list[tuple[int, str]]:
    """The names in ``question`` as ``(offset, text)``: runs of capitalized words ("O'Brien" is one word; a
    possessive "'s" is not part of a name).

    The capitalized first word of a sentence is a name only when it is not a function word and the next word
    is capitalized too ("Tsunami Zarast hit …"; not "Finally, …" or "Crossings are …", and "Which Martian
    moon …" gives "Martian").
    """
    spans = []
    for match in _NAME.finditer(question):
        start, text = match.start(), match.group(0)
        if _SENTENCE_END.search(question[:start]):
            first, _, rest = text.partition(" ")
            if first.lower() in STOPWORDS or first.lower() in _OPENERS:
                start, text = start + len(first) + 1, rest
            elif not rest and "–" not in text:
                continue
        if text:
            spans.append((start, text))
    return spans


def word_forms(word: str) -> list[str]:
    """``word``, its plurals, and its singular or itself without a possessive "s" ("Bronco's" and "Panther"
    where the corpus writes "Broncos" and "Panthers")."""
    return [word, f"{word}s", f"{word}es"] + ([word[:-1]] if word.endswith("s") else [])


def known_word(word: str, words: frozenset[str]) -> bool:
    """Whether the corpus uses ``word`` in one of its :func:`word_forms`."""
    return any(form in words for form in word_forms(word))


def name_words(name: str) -> list[str]:
    """The normalized words of a name that carry it: one-letter pieces (an initial, "J" of "J. Smith") do not."""
    return [word for word in normalize_answer(name).split() if len(word) > 1]


@dataclass(frozen=True)
class CorpusWords:
    """An adapter's corpus words, and whether the adapter learned to decline (then its declines are guarded)."""

    words: frozenset[str]
    declines: bool = False
    counts: Mapping[str, int] | None = None
    """How often the corpus uses each word; None for an adapter saved before the counts were (2026-12-07)."""

    @classmethod
    def of(cls, texts: Iterable[str], declines: bool = False) -> CorpusWords:
        counts = Counter(word for text in texts for word in normalize_answer(text).split())
        return cls(frozenset(counts), declines, dict(counts))

    def share(self, word: str) -> float:
        """The share of the corpus's words that are ``word`` in one of its :func:`word_forms`; 0 without counts."""
        counts = self.counts or {}
        return sum(counts.get(form, 0) for form in word_forms(word)) / max(1, self._total)

    @cached_property
    def _total(self) -> int:
        return sum(self.counts.values()) if self.counts else 0

    @classmethod
    def load(cls, adapter_dir: Path | None) -> CorpusWords | None:
        """The words saved with an adapter; None for an adapter saved without them (nothing to route or guard)."""
        folder = None if adapter_dir is None else Path(adapter_dir)
        if folder is None or not (folder / VOCABULARY_FILE).exists():
            return None
        rows = [line.split("\t") for line in (folder / VOCABULARY_FILE).read_text().splitlines() if line]
        counted = rows and all(len(row) == 2 and row[1].isdigit() for row in rows)
        counts = {row[0]: int(row[1]) for row in rows} if counted else None
        words = frozenset(row[0] for row in rows)
        info = folder / CORPUS_FILE
        return cls(words, json.loads(info.read_text()).get("declines", True) if info.exists() else True, counts)

    def save(self, adapter_dir: Path) -> None:
        """Write both files next to the adapter (each to a temp file, then renamed: a crash leaves none or all of
        each; the words go last, so a folder with words always has the right flag)."""
        folder = Path(adapter_dir)
        for name, text in ((CORPUS_FILE, json.dumps({"declines": self.declines})),
                           (VOCABULARY_FILE, "\n".join(self._lines()) + "\n")):
            tmp = (folder / name).with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(folder / name)

    def _lines(self) -> list[str]:
        if self.counts is None:
            return sorted(self.words)
        return [f"{word}\t{self.counts[word]}" for word in sorted(self.words)]
