"""The evaluation metrics of DESIGN §4, as pure functions (no torch).

Every definition here is restated, with thresholds and a worked example, in
``docs/metrics.md``; the two must agree. The scorer (``scorer.py``) turns model
outputs into :class:`QuestionResult` rows and :func:`summarize` turns those into
the numbers a project reports (``accuracy``, ``uncertainty``,
``domain_violations``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from domalign.declines import is_decline
from domalign.words import STOPWORDS, normalize_answer

FREEFORM_F1_THRESHOLD = 0.5
"""A free-form answer whose token F1 with the reference reaches this is correct."""

SUPPORT_TOKEN_FRACTION = 0.5
"""An answer is supported when *more than* this fraction of its content tokens is in one chunk."""

_NUMBER_WORDS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {word: 10 * value
         for value, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}


def numbers_as_digits(normalized: str) -> str:
    """Number words of a normalized text as digits ("four legs" → "4 legs", "twenty five" → "25"), so an
    answer is not wrong for writing a number the other way. "one" alone stays a word: it is as often a
    pronoun ("one of them")."""
    out: list[str] = []
    after_tens = False
    for word in normalized.split():
        if after_tens and 0 < _NUMBER_WORDS.get(word, 0) < 10:
            out[-1] = str(int(out[-1]) + _NUMBER_WORDS[word])
            after_tens = False
            continue
        after_tens = word in _TENS
        number = _TENS.get(word, _NUMBER_WORDS.get(word) if word != "one" else None)
        out.append(word if number is None else str(number))
    return " ".join(out)


def contains_tokens(haystack: str, needle: str) -> bool:
    """Whole-token containment of normalized strings ("1" is not in "1898")."""
    return f" {needle} " in f" {haystack} "


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 of the normalized strings; 1.0 when both are empty, 0.0 when one is."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def freeform_correct(prediction: str, reference: str, *, f1_threshold: float = FREEFORM_F1_THRESHOLD) -> bool:
    """A free-form answer is right when it contains the reference or overlaps it enough.

    Containment lets a model answer in a sentence ("It was founded in 1898.");
    the F1 threshold lets it paraphrase part of a long reference. Number words count as their digits
    ("A dog has 4 legs." answers "four"). A reference that declines (a question the
    documents do not answer, :func:`is_decline`) is matched by any decline.
    """
    if is_decline(reference):
        return is_decline(prediction)
    pred, ref = (numbers_as_digits(normalize_answer(text)) for text in (prediction, reference))
    if ref and contains_tokens(pred, ref):
        return True
    return token_f1(pred, ref) >= f1_threshold


def normalized_entropy(logprobs: Sequence[float]) -> float:
    """Entropy of softmax(scores) divided by log(n): 1 for a uniform choice, 0 for a certain one.

    Dividing by log(n) makes items with 2 and 5 choices comparable.
    """
    if not logprobs:
        raise ValueError("normalized_entropy needs at least one score")
    n = len(logprobs)
    if n == 1:
        return 0.0
    probs = softmax(logprobs)
    entropy = -sum(p * math.log(p) for p in probs if p > 0.0)
    return min(1.0, max(0.0, entropy / math.log(n)))


def softmax(scores: Sequence[float]) -> list[float]:
    """Numerically stable softmax (shifts by the maximum)."""
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def answer_uncertainty(token_logprobs: Sequence[float]) -> float:
    """1 − geometric-mean token probability = 1 − exp(mean logprob); 1.0 for no tokens.

    The geometric mean does not punish long answers the way a product would.
    """
    if not token_logprobs:
        return 1.0
    mean = sum(token_logprobs) / len(token_logprobs)
    return min(1.0, max(0.0, 1.0 - math.exp(mean)))


def content_tokens(text: str) -> list[str]:
    """Normalized tokens minus :data:`STOPWORDS` (all normalized tokens if only stopwords)."""
    tokens = normalize_answer(text).split()
    return [t for t in tokens if t not in STOPWORDS] or tokens


def is_supported(answer: str, evidence: Sequence[str]) -> bool:
    """Whether one evidence chunk backs the answer: the DESIGN's "content found in the corpus".

    Supported when the normalized answer appears whole in a chunk, or when more
    than :data:`SUPPORT_TOKEN_FRACTION` of its content tokens occur in a single
    chunk (a claim is grounded when one passage says it, not when its words are
    scattered over several). An empty answer asserts nothing and is not supported.
    """
    norm = normalize_answer(answer)
    if not norm:
        return False
    wanted = set(content_tokens(answer))
    for text in evidence:
        chunk = normalize_answer(text)
        if contains_tokens(chunk, norm):
            return True
        found = wanted & set(chunk.split())
        if len(found) > SUPPORT_TOKEN_FRACTION * len(wanted):
            return True
    return False


@dataclass
class QuestionResult:
    """One benchmark question as the model answered it (a row of the evaluation download).

    ``scores``: for multiple choice, the length-normalized log-likelihood of each
    choice in order; for free-form, the log-probability of each answer token.
    ``routed_to_base``: the question is not about the documents, so the base model answered it without the
    adapter (``training.route_general_questions``, :mod:`domalign.routing`).
    """

    index: int
    question: str
    expected: str
    answer: str
    correct: bool
    confidence: float
    uncertainty: float
    kind: str
    violation: bool
    evidence: list[str]
    scores: list[float] = field(default_factory=list)
    routed_to_base: bool = False


@dataclass
class EvaluationSummary:
    """The numbers an evaluation reports; ``None`` accuracies mean "no such items"."""

    accuracy: float
    mc_accuracy: float | None
    freeform_accuracy: float | None
    uncertainty: float
    domain_violations: int
    total_questions: int
    routed_to_base: int = 0


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(results: Sequence[QuestionResult]) -> EvaluationSummary:
    """Aggregate per-question results (DESIGN §4).

    ``accuracy`` is the mean of the multiple-choice and free-form accuracies that
    exist, so a benchmark with 90 easy MC items and 10 free-form ones does not
    hide the free-form score; an empty benchmark scores 0.
    """
    mc = _mean([float(r.correct) for r in results if r.kind == "mc"])
    freeform = _mean([float(r.correct) for r in results if r.kind != "mc"])
    parts = [a for a in (mc, freeform) if a is not None]
    return EvaluationSummary(
        accuracy=_mean(parts) or 0.0,
        mc_accuracy=mc,
        freeform_accuracy=freeform,
        uncertainty=_mean([r.uncertainty for r in results]) or 0.0,
        domain_violations=sum(1 for r in results if r.violation),
        total_questions=len(results),
        routed_to_base=sum(1 for r in results if r.routed_to_base),
    )
