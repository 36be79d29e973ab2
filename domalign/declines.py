"""What a decline is, and when an aligned model may give one.

Refusal items (``domalign.synth.refusals``) teach the model to answer a question about a name the documents
never use with :data:`DECLINE`. Learned from a few hundred steps, the decline also reaches names the model
saw too rarely: on the demo's four documents the aligned model answered "The documents do not mention
Brackenford." about a town the documents name (docs/quality.md). Such a decline is false on its face, and
checkable: the server holds the corpus. So an adapter trained with refusal items carries its corpus's
words, and it may decline only a question that names a word outside them (:func:`may_decline`); for any
other question the decline's opening is banned while it answers (``domalign.models.decline_guard``). Shared
by synthesis (the items), the models layer (the guard) and the metrics (:func:`is_decline`), so the decline
trained, the decline banned and the decline scored are one thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from domalign.words import STOPWORDS, normalize_answer

DECLINE = "The documents do not mention {name}."
"""The answer a refusal item teaches."""

DECLINE_OPENINGS = ("The documents", "The document")
"""How a decline of the :data:`DECLINE` kind starts: what the guard bans at the start of an answer that must not
decline. Banning only "do not" after them is not enough: the model trained on the decline then says "The
documents are not available for …" (docs/quality.md)."""

VOCABULARY_FILE = "vocabulary.txt"
"""The words of an adapter's corpus, one per line, saved in the adapter's folder when it learned to decline."""

_DECLINE = re.compile(
    r"\b(?:do(?:es)? not|don'?t|doesn'?t) (?:mention|say|cover|contain|know)\b|\bnot mentioned\b"
    r"|\bno (?:information|mention)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![\w'’-])[A-Z][a-z]\w*(?:[ –-][A-Z]\w*)*")
_OPENERS = frozenset("during after before since despite following according although while".split())


def is_decline(answer: str) -> bool:
    """Whether an answer declines ("The documents do not mention X.", "I don't know") instead of asserting.

    A decline is never a domain violation: it asserts nothing the documents do not say. It is still wrong
    where the documents hold the answer, so accuracy shows what declining costs.
    """
    return bool(_DECLINE.search(answer))


def vocabulary(texts: Iterable[str]) -> frozenset[str]:
    """Every normalized word of ``texts``."""
    return frozenset(word for text in texts for word in normalize_answer(text).split())


def question_names(question: str) -> list[tuple[int, str]]:
    """The names in ``question`` as ``(offset, text)``: runs of capitalized words.

    A question's capitalized first word is a name only when it is not a function word and the next word is
    capitalized too ("Tsunami Zarast hit …"; not "Finally, …" or "Crossings are …", and "Which Martian moon …"
    keeps "Which").
    """
    spans = []
    for match in _NAME.finditer(question):
        start, text = match.start(), match.group(0)
        if start == 0:
            first, _, rest = text.partition(" ")
            if first.lower() in STOPWORDS or first.lower() in _OPENERS:
                start, text = start + len(first) + 1, rest
            elif not rest and "–" not in text:
                continue
        if text:
            spans.append((start, text))
    return spans


def may_decline(question: str, words: frozenset[str]) -> bool:
    """Whether ``question`` names a word the corpus (its ``words``) never uses: the only kind a decline fits."""
    return any(word not in words for _, name in question_names(question) for word in normalize_answer(name).split())


def load_vocabulary(adapter_dir: Path | None) -> frozenset[str] | None:
    """The corpus words saved with an adapter that learned to decline; None for any other (no guard)."""
    path = None if adapter_dir is None else Path(adapter_dir) / VOCABULARY_FILE
    return frozenset(path.read_text().split()) if path is not None and path.exists() else None


def save_vocabulary(adapter_dir: Path, words: frozenset[str]) -> None:
    """Write the corpus words next to the adapter (temp file, then rename: a crash leaves none or all)."""
    path = Path(adapter_dir) / VOCABULARY_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(sorted(words)) + "\n")
    tmp.replace(path)
