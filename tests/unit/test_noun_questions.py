"""Questions that ask for an answer by its kind, as the sentence names the kind."""

from __future__ import annotations

import pytest

from domalign.domain import Chunk
from domalign.synth import SynthesisConfig, synthesize
from domalign.synth.facts import Fact, extract_facts, normalize
from domalign.synth.noun_questions import noun_question
from domalign.synth.questions import phrase

# Sentences written for this test (fictional places and names).
TEXT = (
    "The treaty was signed at a summit with the moon, Varossa. "
    "The city of Quellmark was the first to ban coal in the Tarn Valley. "
    "The Ostrel Beacon, a prominent landmark, served as the symbolic heart of the harbour. "
    "The Brindle Council was quick to impose a ban on night fishing. "
    "By the time Corvessa reached the delta, the rains had stopped. "
    "The Selk Festival opened on 4 May 1921 in the old square."
)


def _fact(answer: str) -> Fact:
    facts = extract_facts([Chunk("c0", "d0", 0, TEXT)])
    return next(f for f in facts if f.answer == answer)


@pytest.mark.parametrize(("answer", "question"), [
    ("Varossa", "The treaty was signed at a summit with which moon?"),
    ("Quellmark", "Which city was the first to ban coal in the Tarn Valley?"),
    ("Ostrel Beacon", "Which landmark served as the symbolic heart of the harbour?"),
    ("Brindle Council", "Which council was quick to impose a ban on night fishing?"),
])
def test_the_kind_comes_from_the_sentence(answer, question):
    assert noun_question(_fact(answer)) == question


def test_no_question_where_the_sentence_does_not_say_the_kind():
    assert noun_question(_fact("Corvessa")) is None  # "the time" is not what Corvessa is
    assert noun_question(_fact("4 May 1921")) is None  # dates already have "when" and "which date"


def test_phrasings_carry_it_and_it_never_gives_the_answer_away():
    facts = extract_facts([Chunk("c0", "d0", 0, TEXT)])
    nouns = {f.answer: phrase(f).noun for f in facts}
    assert nouns["Varossa"] == "The treaty was signed at a summit with which moon?"
    for fact in facts:
        question = phrase(fact).noun
        if question is not None:
            assert f" {normalize(fact.answer)} " not in f" {normalize(question)} "


def test_training_asks_by_kind_except_for_benchmark_facts():
    chunks = [Chunk("c0", "d0", 0, TEXT)]
    result = synthesize(chunks, num_benchmark=3, config=SynthesisConfig(seed=1, noun_questions=True))
    asked = {ex.prompt for ex in result.train if ex.kind == "qa"}
    facts = extract_facts(chunks)
    nouns = {phrase(f).noun: f for f in facts if phrase(f).noun}
    benchmark_answers = {normalize(item.answer) for item in result.benchmark}
    taught = {q for q in nouns if q in asked}
    assert taught, "no question by kind in the training set"
    assert all(normalize(nouns[q].answer) not in benchmark_answers for q in taught)
    off = synthesize(chunks, num_benchmark=3, config=SynthesisConfig(seed=1))  # off by default
    assert not {ex.prompt for ex in off.train} & set(nouns)
    assert len(off.train) == len(result.train) - len(taught)


def test_never_the_benchmark_wh_words():
    """The benchmark asks "which place" and "which person"; training must not (docs/workflow.md)."""
    facts = extract_facts([Chunk("c0", "d0", 0, "Harlow Vale, a quiet place, hosted the Grimsby Fair.")])
    assert noun_question(next(f for f in facts if f.answer == "Harlow Vale")) is None


@pytest.mark.parametrize(("sentence", "answer", "question"), [
    # the comma that closes "the moon, X," is not an aside to cut
    ("The moon, Tellion, was found in 1877 by Hanna Voss.", "Tellion", "Which moon was found in 1877 by Hanna Voss?"),
    # an appositive's adjective is skipped on the way to its noun
    ("Harrowgate, a strategic harbour, was rebuilt by Mira Olsen.", "Harrowgate",
     "Which harbour was rebuilt by Mira Olsen?"),
    # a role is a noun whatever its ending ("king", "general")
    ("The treaty was signed by the general Aldric Vane.", "Aldric Vane", "The treaty was signed by which general?"),
])
def test_more_sentences(sentence, answer, question):
    fact = next(f for f in extract_facts([Chunk("c0", "d0", 0, sentence)]) if f.answer == answer)
    assert noun_question(fact) == question


def test_an_appositive_after_an_object_gives_no_question():
    """Only a subject's appositive makes "Which <kind> …"; elsewhere the cut would leave "The which landmark …"."""
    fact = next(f for f in extract_facts([Chunk("c0", "d0", 0, "Crews met at Dunhallow, a landmark, which was built "
                                                            "in 1820 by Edda Brandt.")]) if f.answer == "Dunhallow")
    assert noun_question(fact) is None
