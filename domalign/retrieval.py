"""Okapi BM25 over chunks, and the grounded prompt built from what it finds.

It finds the passages a domain violation is judged against, the passages a
grounded answer reads (evaluation and chat), and those of grounded training items.

Pure Python on purpose: a benchmark's corpus is a few thousand chunks at most,
searched once per question, so a dependency (or an embedding model) would buy
nothing. Tokens are those of :func:`~domalign.words.normalize_answer`
minus stopwords, so retrieval and :func:`~domalign.evaluate.metrics.is_supported`
see the same words.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from domalign.domain import Chunk
from domalign.words import STOPWORDS, normalize_answer

K1 = 1.5
"""Term-frequency saturation: a word's 2nd occurrence counts, its 20th barely."""

B = 0.75
"""Length normalization: long chunks do not win just by containing more words."""

GROUNDED_PASSAGES = 1
"""Passages a grounded answer reads by default. The 135M reader answers from one passage better than from
several: chosen on documents the quality benchmark does not report, where 1 chunk gave 0.333 free-form on 150
xquad-en questions (paragraphs 21-60) and 2 or 3 gave 0.240, and 0.765 against 0.740 on the fictional
paraphrase probes of documents 21-40 (docs/quality.md)."""


def _terms(text: str) -> list[str]:
    return [t for t in normalize_answer(text).split() if t not in STOPWORDS]


class BM25Index:
    """An in-memory BM25 index of chunks, built once per evaluation."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self._chunks = list(chunks)
        self._freqs = [Counter(_terms(c.text)) for c in self._chunks]
        self._lengths = [sum(f.values()) for f in self._freqs]
        self._avg_length = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        doc_freq: Counter[str] = Counter()
        for freqs in self._freqs:
            doc_freq.update(freqs.keys())
        n = len(self._chunks)
        # Lucene's idf, log(1 + (N - df + .5) / (df + .5)), stays positive for common words.
        self._idf = {t: math.log(1.0 + (n - df + 0.5) / (df + 0.5)) for t, df in doc_freq.items()}

    def __len__(self) -> int:
        return len(self._chunks)

    def _score(self, position: int, query: Counter[str]) -> float:
        freqs = self._freqs[position]
        norm = K1 * (1.0 - B + B * self._lengths[position] / (self._avg_length or 1.0))
        score = 0.0
        for term, count in query.items():
            tf = freqs.get(term, 0)
            if tf:
                score += count * self._idf[term] * tf * (K1 + 1.0) / (tf + norm)
        return score

    def search(self, query: str, k: int = GROUNDED_PASSAGES) -> list[tuple[Chunk, float]]:
        """The ``k`` best chunks for ``query``, best first; chunks sharing no term are left out.

        Ties keep corpus order, so results are deterministic.
        """
        terms = Counter(_terms(query))
        if not terms or k <= 0:
            return []
        scored = [(self._score(i, terms), i) for i in range(len(self._chunks))]
        ranked = sorted((pair for pair in scored if pair[0] > 0.0), key=lambda p: (-p[0], p[1]))
        return [(self._chunks[i], score) for score, i in ranked[:k]]


GROUNDING_HEADER = "Answer from these passages of the documents."
"""Opens a grounded prompt; the retrieved passages follow, numbered, then the question."""


def grounded_question(question: str, passages: Sequence[str]) -> str:
    """The question with retrieved passages in front, as a grounded (RAG) prompt asks it."""
    numbered = "\n\n".join(f"[{i}] {text}" for i, text in enumerate(passages, start=1))
    return f"{GROUNDING_HEADER}\n\n{numbered}\n\nQuestion: {question}"
