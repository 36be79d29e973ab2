"""Teacher items: parsing the reply, and keeping only what the passage backs."""

from __future__ import annotations

from domalign.domain import Chunk
from domalign.synth.teacher import backed_pair, faithful_paraphrase, parse_pairs, teach

PASSAGE = ("The Quillmere Ferry Cooperative was founded in 1987 by the boat builder Ansel Varro. "
           "Its largest ferry, the Gannet, carries 240 passengers.")
CHUNK = Chunk(id="c1", document_id="d1", index=0, text=PASSAGE)


def test_parse_pairs_reads_the_format_and_skips_other_lines():
    reply = "Here you go:\nQ: Who founded it? A: Ansel Varro.\n2. q) How many? a) 240\nnothing here"
    assert parse_pairs(reply) == [("Who founded it?", "Ansel Varro"), ("How many?", "240")]


def test_a_pair_is_kept_only_when_the_passage_backs_it():
    assert backed_pair("Who founded the ferry cooperative?", "Ansel Varro", PASSAGE)
    assert not backed_pair("Who founded the ferry cooperative?", "Imelda Ferraby", PASSAGE)  # not in the passage
    assert not backed_pair("Was it founded by Ansel Varro?", "Ansel Varro", PASSAGE)  # gives the answer away
    assert not backed_pair("Founder", "Ansel Varro", PASSAGE)  # not a question
    assert not backed_pair("What does the passage say?", PASSAGE, PASSAGE)  # not a short answer


def test_a_paraphrase_must_invent_nothing_and_keep_the_details():
    good = ("Ansel Varro, a boat builder, founded the Quillmere Ferry Cooperative in 1987. "
            "The Gannet is its biggest ferry and takes 240 passengers.")
    assert faithful_paraphrase(good, PASSAGE)
    assert not faithful_paraphrase(good.replace("1987", "1988"), PASSAGE)  # a changed number
    assert not faithful_paraphrase(good.replace("Ansel Varro", "Imelda Ferraby"), PASSAGE)  # an invented name
    assert not faithful_paraphrase("A cooperative runs ferries; one of them is big and old.", PASSAGE)  # drops all
    assert not faithful_paraphrase(PASSAGE, PASSAGE)  # a copy


def test_teach_counts_what_was_proposed_failed_and_kept():
    def ask_many(prompts: list[str]) -> list[str | None]:
        assert len(prompts) == 2 and "Passage:\n" + PASSAGE in prompts[0]
        return ["Q: Who founded the ferry cooperative? A: Ansel Varro\nQ: Who sank it? A: Nobody at all", None]

    items, report = teach([CHUNK], ask_many)
    assert [(i.prompt, i.completion, i.kind, i.chunk_id) for i in items] == [
        ("Who founded the ferry cooperative?", "Ansel Varro", "teacher_qa", "c1")]
    assert (report.requests, report.failed_requests, report.pairs_proposed, report.pairs_kept) == (2, 1, 2, 1)
    assert report.paraphrases_proposed == 0
