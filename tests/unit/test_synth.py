"""Teacherless synthesis: typed facts, training items, a held-out benchmark that does not leak."""

from __future__ import annotations

import pytest

from domalign.domain import BenchmarkItem, Chunk, TrainExample
from domalign.errors import InvalidInput
from domalign.ingest import split_sentences
from domalign.retrieval import GROUNDING_HEADER
from domalign.synth import (
    SynthesisConfig,
    generate_benchmark,
    ngram_overlap,
    synthesize,
)
from domalign.synth.facts import extract_facts, normalize
from domalign.synth.generators import grounded_items, sentence_items, shuffled_items
from domalign.synth.questions import phrase

# Three short fictional documents, written for this test.
DOCS = {
    "bridge": (
        "The Velmora Bridge was opened on 4 May 1921. Engineer Tamsin Oakridge designed the bridge for the "
        "Harlow Rail Company. The bridge spans 340 metres across the Quillon River. Tamsin Oakridge, a celebrated "
        "engineer, was born in Dunmere in 1884. The bridge was closed for repairs in 1967."
    ),
    "quartet": (
        "The Orbis Quartet was founded in 1962 by cellist Piet Vanderlaan. The quartet recorded 47 albums for "
        "Saltmarsh Records. Piet Vanderlaan, a gifted composer, retired to Kestrel Bay in 1999. The Orbis Quartet "
        "performed its final concert on 12 March 2001 at the Greywater Hall."
    ),
    "island": (
        "Fenwick Island is a small island in the Larkspur Sea. The island has a population of 2,300 people. "
        "The Fenwick Lighthouse was built on 9 June 1887 by the Coastal Survey Office. Mayor Elspeth Grange "
        "governs the island from the town of Port Ashby."
    ),
}
CHUNKS = [Chunk(f"{doc}-0", doc, 0, text) for doc, text in DOCS.items()]
# The most the benchmark's 8-grams may overlap training (prompts and completions, raw passages left out).
OVERLAP_BOUND = 0.2


def _training_texts(result) -> list[str]:
    return [t for ex in result.train for t in (ex.prompt or "", ex.completion)]


def test_facts_have_typed_answers_from_their_sentence():
    facts = extract_facts(CHUNKS)
    found = {(f.answer, f.answer_type) for f in facts}
    assert {
        ("4 May 1921", "date"), ("12 March 2001", "date"), ("9 June 1887", "date"),
        ("1884", "year"), ("1962", "year"), ("1999", "year"),
        ("340", "number"), ("47", "number"), ("2,300", "number"),
        ("Tamsin Oakridge", "person"), ("Piet Vanderlaan", "person"), ("Elspeth Grange", "person"),
        ("Kestrel Bay", "place"), ("Larkspur Sea", "place"), ("Dunmere", "place"),
        ("Saltmarsh Records", "organization"), ("Coastal Survey Office", "organization"),
    } <= found
    assert len(facts) >= 20
    chunk_text = {c.id: c.text for c in CHUNKS}
    for fact in facts:
        assert fact.sentence[fact.start:fact.end] == fact.answer
        assert fact.answer in chunk_text[fact.chunk_id]


def test_sentence_start_words_and_fragments_are_not_facts():
    chunks = [Chunk("c", "d", 0, "However, the weather was pleasant. Lastly, nothing happened at all. Why not?")]
    assert extract_facts(chunks) == []


def test_benchmark_mc_items_hold_answer_and_same_type_distractors():
    types = {normalize(f.answer): f.answer_type for f in extract_facts(CHUNKS)}
    items = generate_benchmark(CHUNKS, 12, seed=3)
    mc = [i for i in items if i.kind == "mc"]
    assert len(items) == 12 and mc and any(i.kind == "freeform" for i in items)
    for item in mc:
        assert item.answer in item.choices and len(item.choices) == 4
        assert len({normalize(c) for c in item.choices}) == 4
        assert {types[normalize(c)] for c in item.choices} == {item.meta["answer_type"]}
    for item in items:
        assert item.chunk_id and item.answer in DOCS[item.chunk_id.split("-")[0]]
        assert item.choices is None or item.kind == "mc"
        assert f" {normalize(item.answer)} " not in f" {normalize(item.question)} "  # no give-away


def test_too_few_distractors_falls_back_to_free_form():
    chunks = [Chunk("c", "d", 0, "The Velmora Bridge was opened on 4 May 1921. It was closed on 2 June 1967.")]
    items = generate_benchmark(chunks, 4)
    assert items and all(i.kind == "freeform" and i.choices is None for i in items)


def test_no_benchmark_question_appears_in_training():
    result = synthesize(CHUNKS, num_benchmark=10)
    texts = [f" {normalize(t)} " for t in _training_texts(result)]
    for item in result.benchmark:
        question = f" {normalize(item.question)} "
        assert not any(question in t for t in texts), item.question
    assert result.overlap["exact_duplicates"] == 0
    assert result.overlap["benchmark_ngram_overlap"] < OVERLAP_BOUND
    assert result.overlap["ngram"] == 8
    assert result.overlap["benchmark_items"] == len(result.benchmark) == 10
    assert result.overlap["train_items"] == len(result.train)


RAW_KINDS = {"raw", "shuffled", "sentence"}


def test_shuffled_renderings_keep_every_sentence_in_a_new_order():
    chunk = next(c for c in CHUNKS if len(split_sentences(c.text)) >= 3)
    sentences = split_sentences(chunk.text)
    items = shuffled_items([chunk], 2, seed=0)
    assert len(items) == 2 and len({i.completion for i in items}) == 2
    for item in items:
        assert item.prompt is None and item.chunk_id == chunk.id
        assert item.completion != " ".join(sentences)
        assert sorted(split_sentences(item.completion)) == sorted(sentences)
    assert shuffled_items([chunk], 2, seed=0) == items  # seeded
    assert shuffled_items([chunk], 0, seed=0) == []


def test_sentence_items_are_each_sentence_alone():
    items = sentence_items(CHUNKS[:2])
    expected = [s for c in CHUNKS[:2] for s in split_sentences(c.text)]
    assert [i.completion for i in items] == expected and all(i.prompt is None for i in items)


# A chunk that shares words with every document, so every question has a distractor passage.
NOISE = Chunk("noise-0", "noise", 0, "Bridge, quartet, island, lighthouse, engineer, cellist and mayor: the "
              "archive indexes each of them, founded, built, opened or recorded, by date and by place.")


def _grounded(oracle_share: float, per_chunk: int = 2) -> list[TrainExample]:
    facts = [(f, phrase(f)) for f in extract_facts(CHUNKS)]
    return grounded_items(
        [*CHUNKS, NOISE], facts, per_chunk=per_chunk, passages=2, oracle_share=oracle_share, seed=0)


def test_grounded_items_put_retrieved_passages_before_a_question_and_answer_it():
    answers = {f.answer for f in extract_facts(CHUNKS)}
    texts = {c.id: c.text for c in CHUNKS}
    with_oracle, without = _grounded(1.0), _grounded(0.0)
    assert len(with_oracle) == 2 * len(CHUNKS) and len(CHUNKS) <= len(without) <= len(with_oracle)
    for item in with_oracle:
        assert item.prompt.startswith(GROUNDING_HEADER) and item.completion in answers
        assert texts[item.chunk_id] in item.prompt and item.prompt.count("\n\n[") <= 2
    for item in without:  # the fact's own chunk is left out: the answer must come from memory
        assert texts[item.chunk_id] not in item.prompt and "[1] " in item.prompt
    assert _grounded(0.5) == _grounded(0.5) and _grounded(1.0, per_chunk=0) == []


def test_grounded_items_never_ask_a_benchmark_question():
    result = synthesize(CHUNKS, num_benchmark=6, config=SynthesisConfig(grounded_per_chunk=2))
    grounded = [ex.prompt for ex in result.train if ex.kind == "grounded"]
    assert grounded and not any(b.question in p for b in result.benchmark for p in grounded)


def test_extra_training_items_join_and_pass_the_leak_filter():
    question = synthesize(CHUNKS, num_benchmark=4).benchmark[0].question
    extra = [TrainExample("Say hi.", "Hi!", "replay"), TrainExample(f"{question} again?", "x", "replay")]
    result = synthesize(CHUNKS, num_benchmark=4, extra_train=extra)
    replayed = [ex for ex in result.train if ex.kind == "replay"]
    assert replayed == [extra[0]]  # the one that quotes a benchmark question is dropped


def test_training_covers_every_kind_and_teaches_benchmark_facts_otherwise():
    result = synthesize(CHUNKS, num_benchmark=6, config=SynthesisConfig(grounded_per_chunk=2, refusal_share=0.1))
    assert {ex.kind for ex in result.train} == {
        "qa", "cloze", "mc", "paraphrase", "raw", "shuffled", "sentence", "grounded", "refusal"}
    assert all((ex.prompt is None) == (ex.kind in RAW_KINDS) for ex in result.train)
    mc = [ex for ex in result.train if ex.kind == "mc"]
    assert all("Options:" in ex.prompt and ex.prompt.endswith("Answer:") for ex in mc)
    for item in result.benchmark:  # the fact is still taught, through other phrasings
        assert any(ex.completion.startswith(item.answer) for ex in result.train if ex.kind == "qa")


def test_user_benchmark_is_kept_and_its_questions_left_out_of_training():
    question = "When was the Velmora Bridge opened?"
    plain = synthesize(CHUNKS, num_benchmark=0, config=SynthesisConfig(seed=1))
    assert any(ex.prompt == question for ex in plain.train)  # would leak without the filter
    given = [BenchmarkItem(question, "4 May 1921"), BenchmarkItem("Who governs Fenwick Island?", "Elspeth Grange")]
    result = synthesize(CHUNKS, num_benchmark=2, config=SynthesisConfig(seed=1), benchmark=given)
    assert result.benchmark == given
    texts = [normalize(t) for t in _training_texts(result)]
    assert not any(normalize(question) in t for t in texts)
    assert result.overlap["removed_for_leakage"] >= 1 and result.overlap["exact_duplicates"] == 0


def test_same_seed_same_output_other_seed_other_output():
    first = synthesize(CHUNKS, num_benchmark=8, config=SynthesisConfig(seed=5))
    again = synthesize(CHUNKS, num_benchmark=8, config=SynthesisConfig(seed=5))
    other = synthesize(CHUNKS, num_benchmark=8, config=SynthesisConfig(seed=6))
    assert first.train == again.train and first.benchmark == again.benchmark
    assert first.overlap == again.overlap
    assert first.train != other.train
    assert generate_benchmark(CHUNKS, 8, seed=5) == first.benchmark


def test_the_same_documents_uploaded_again_give_the_same_items():
    """Draws follow the text, not the ids an upload gives, so two uploads of one corpus train alike."""
    again = [Chunk(f"upload2-{c.id}", f"upload2-{c.document_id}", c.index, c.text) for c in CHUNKS]
    first, second = (synthesize(chunks, num_benchmark=8, config=SynthesisConfig(seed=5)) for chunks in (CHUNKS, again))
    assert [(e.prompt, e.completion, e.kind) for e in first.train] == [
        (e.prompt, e.completion, e.kind) for e in second.train]
    assert [(b.question, b.answer, b.choices) for b in first.benchmark] == [
        (b.question, b.answer, b.choices) for b in second.benchmark]
    assert {e.chunk_id for e in second.train} - {None} <= {c.id for c in again}  # items name their own chunks


def test_config_switches_and_cap():
    config = SynthesisConfig(include_raw_passages=False, include_mc=False, max_train_items=25)
    result = synthesize(CHUNKS, num_benchmark=4, config=config)
    assert len(result.train) == 25
    assert not {"raw", "mc"} & {ex.kind for ex in result.train}
    fewer = synthesize(CHUNKS, num_benchmark=4, config=SynthesisConfig(paraphrases_per_fact=1, cloze_per_fact=0))
    assert "cloze" not in {ex.kind for ex in fewer.train}
    assert len(fewer.train) < len(synthesize(CHUNKS, num_benchmark=4).train)


@pytest.mark.parametrize("chunks", [[], [Chunk("c", "d", 0, "nothing here. just lowercase words without facts.")]])
def test_no_usable_fact_is_invalid_input(chunks):
    with pytest.raises(InvalidInput, match="no usable fact"):
        synthesize(chunks, num_benchmark=5)
    with pytest.raises(InvalidInput):
        generate_benchmark(chunks, 5)


def test_ngram_overlap_on_hand_made_cases():
    words = "one two three four five six seven eight nine ten"
    assert ngram_overlap([words], [words]) == 1.0
    assert ngram_overlap(["alpha beta gamma delta epsilon zeta eta theta"], [words]) == 0.0
    # 10 words hold three 8-grams; training has only the first one.
    assert ngram_overlap(["One two, three four five six seven eight!"], [words]) == pytest.approx(1 / 3)
    assert ngram_overlap([words], ["too short to count"]) == 0.0
    assert ngram_overlap(["a b c"], ["a b c"], n=3) == 1.0


def test_replay_is_asked_for_a_share_of_the_document_items_only():
    replay = [TrainExample(f"General question {i}?", "An answer.", "replay") for i in range(500)]
    asked: list[int] = []

    def answers(wanted: int) -> list[TrainExample]:
        asked.append(wanted)
        return replay  # more than asked for: the cap still holds

    result = synthesize(CHUNKS, num_benchmark=4, replay=answers, config=SynthesisConfig(replay_share=0.1))
    kept = [ex for ex in result.train if ex.kind == "replay"]
    others = len(result.train) - len(kept)
    assert asked == [len(kept)] and 0 < len(kept) <= 0.1 * others + 1 and set(kept) == set(replay[: len(kept)])
    asked.clear()
    none = synthesize(CHUNKS, num_benchmark=4, replay=answers, config=SynthesisConfig(replay_share=0.0))
    assert not [ex for ex in none.train if ex.kind == "replay"] and asked == []  # nothing generated for nothing


def test_replay_repeats_reach_the_share_with_half_the_answers():
    replay = [TrainExample(f"General question {i}?", "An answer.", "replay") for i in range(500)]
    asked: list[int] = []

    def answers(wanted: int) -> list[TrainExample]:
        asked.append(wanted)
        return replay

    once = synthesize(CHUNKS, num_benchmark=4, replay=answers, config=SynthesisConfig(replay_share=0.5))
    twice = synthesize(CHUNKS, num_benchmark=4, replay=answers,
                       config=SynthesisConfig(replay_share=0.5, replay_repeats=2))
    kept_once = [ex for ex in once.train if ex.kind == "replay"]
    kept_twice = [ex for ex in twice.train if ex.kind == "replay"]
    assert len(kept_twice) == len(kept_once) > 2  # the same share of the training set
    assert asked == [len(kept_once), (len(kept_once) + 1) // 2]  # from half as many answers
    assert set(kept_twice) == set(replay[: asked[1]]) and all(kept_twice.count(ex) <= 2 for ex in kept_twice)
    asked.clear()
    few = synthesize(CHUNKS, num_benchmark=4, replay=lambda wanted: replay[:3],  # fewer answers than asked for
                     config=SynthesisConfig(replay_share=0.5, replay_repeats=2))
    assert sorted(ex.prompt for ex in few.train if ex.kind == "replay") == sorted(2 * [r.prompt for r in replay[:3]])
    with pytest.raises(ValueError, match="replay_repeats"):
        SynthesisConfig(replay_repeats=0)
