"""Refusal items: questions about invented names, answered with a decline the metrics recognize."""

from __future__ import annotations

import random

from domalign.corpus_words import vocabulary
from domalign.declines import DECLINE
from domalign.domain import BenchmarkItem, Chunk
from domalign.evaluate import freeform_correct, is_decline
from domalign.evaluate.scorer import _Answer as Answer
from domalign.evaluate.scorer import _result
from domalign.retrieval import BM25Index
from domalign.synth import SynthesisConfig, synthesize
from domalign.synth.refusals import invented_question, refusal_items
from domalign.words import normalize_answer

TEXT = ("The Harlow Pact, a treaty between two rail companies, was signed in 1931 in Dunmere. "
        "Tamsin Oakridge designed the Velmora Bridge for the Harlow Rail Company in 1921. "
        "The Quillon River floods every spring, and Mayor Elspeth Grange governs Port Ashby since 2004.")
CHUNKS = [Chunk("c0", "d0", 0, TEXT)]


def test_every_name_in_the_question_is_invented_and_unknown_to_the_corpus():
    taken = vocabulary([TEXT])
    question = "Who designed the Velmora Bridge for the Harlow Rail Company?"
    made, name = invented_question(question, taken, random.Random(0))
    assert made.startswith("Who designed the ") and " for the " in made and made.endswith("?")
    assert name in made and len(name.split()) == 2  # "Velmora Bridge" → two invented words
    invented = set(normalize_answer(made).split()) - set(normalize_answer(question).split())
    assert len(invented) == 5 and not invented & taken  # Velmora Bridge, Harlow Rail Company: all new
    assert "velmora" not in normalize_answer(made) and "harlow" not in normalize_answer(made)
    assert invented_question("Tsunami Zarast hit which place?", taken, random.Random(0))[1].count(" ") == 1
    assert invented_question("Finally, what happened in 1931?", taken, random.Random(0)) is None  # no name
    made, name = invented_question("Which Martian moon did Calidus visit?", taken, random.Random(0))
    assert made.startswith("Which ") and " moon did " in made and "Martian" not in made and "Calidus" not in made


def test_refusal_items_decline_and_follow_the_text_not_the_order():
    taken = vocabulary([TEXT])
    pairs = [("When was the Harlow Pact signed?", "a"), ("Who governs Port Ashby?", "b"), ("what year?", "c")]
    items = refusal_items(pairs, 5, taken, seed=0)
    assert len(items) == 2 and all(item.kind == "refusal" for item in items)
    for item in items:
        name = item.completion.removeprefix("The documents do not mention ").removesuffix(".")
        assert item.completion == DECLINE.format(name=name) and name in item.prompt
        assert is_decline(item.completion)
    assert refusal_items(list(reversed(pairs)), 5, taken, seed=0) == items
    assert refusal_items(pairs, 1, taken, seed=0)[0] in items


def test_synthesis_adds_the_share_asked_for_and_none_by_default():
    plain = synthesize(CHUNKS, num_benchmark=1)
    asked = synthesize(CHUNKS, num_benchmark=1, config=SynthesisConfig(refusal_share=0.2))
    refusals = [ex for ex in asked.train if ex.kind == "refusal"]
    assert not [ex for ex in plain.train if ex.kind == "refusal"]
    others = len(asked.train) - len(refusals)
    assert refusals and len(refusals) <= -(-0.2 * others // 1) and others == len(plain.train)


def test_a_decline_is_wrong_but_never_a_violation():
    index, item = BM25Index(CHUNKS), BenchmarkItem("When was the Harlow Pact signed?", "1931")
    decline = _result(0, item, "freeform", Answer("The documents do not mention that.", False, 0.5, 0.5, []), index)
    invented = _result(0, item, "freeform", Answer("It was signed in 1950 in Lyon.", False, 0.5, 0.5, []), index)
    assert not decline.correct and not decline.violation
    assert invented.violation



def test_a_question_the_documents_do_not_answer_wants_a_decline():
    index = BM25Index(CHUNKS)
    item = BenchmarkItem("When was the Quorvel Pact signed?", "The documents do not mention it.")
    declined = _result(0, item, "freeform", Answer("I don't know.", freeform_correct("I don't know.", item.answer),
                                                   0.5, 0.5, []), index)
    supported = "It was signed in 1931 in Dunmere."  # backed by a chunk, but about another pact
    answered = _result(0, item, "freeform", Answer(supported, freeform_correct(supported, item.answer), 0.5, 0.5, []),
                       index)
    assert declined.correct and not declined.violation
    assert not answered.correct and answered.violation
