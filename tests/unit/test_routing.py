"""General-question routing: which questions are about the corpus, and the server's choice of model for each."""

from __future__ import annotations

import threading

import pytest

from domalign.corpus_words import CorpusWords, known_word, question_names, vocabulary
from domalign.routing import about_corpus, own_word, routes_general
from domalign.serve.batching import Request
from domalign.serve.chat import ChatParams
from domalign.serve.engine import LoadedBase
from domalign.train.config import TrainingConfig

TEXT = ("The Quillmere Ferry Cooperative runs ferries between Brackenford and Tessaly Cove. Ciaran O'Brien "
        "chairs it. Crossings are cancelled when the wind at the Brackenford mast exceeds 55 km/h. The Broncos "
        "ferry sails at dawn.")
WORDS = CorpusWords(vocabulary([TEXT]))  # as saved before word counts were: names and shares of words decide


@pytest.mark.parametrize(("question", "about"), [
    ("Who chairs the Quillmere Ferry Cooperative?", True),
    ("Which town do ferries from Brackenford reach?", True),
    ("What is the capital of France?", False),  # names only what the corpus never names
    ("Did Tamsin Oakridge ever visit Tessaly Cove?", True),  # one name of the corpus is enough
    ("When are crossings cancelled?", True),  # no name: its words are the corpus's
    ("How many legs does a spider have?", False),  # no name, words the corpus never uses
    ("What does Ciaran O'Brien chair?", True),  # an apostrophe inside a name
    ("When does the Bronco's ferry sail?", True),  # a possessive of a plural the corpus uses
    ("Who's Tamsin Oakridge of Brackenford?", True),  # "Who's" is no name
    ("What do the documents say about the wind?", True),  # words about the documents count for neither side
    ("Summarize the documents.", True),  # nothing to go on: the adapter answers
    ("Quick question. Where is France?", False),  # a sentence's first word is no name, wherever it starts
    ("What is 55 times 55?", False),  # a calculation, though the corpus uses 55 and "times" is common
    ("When does the wind exceed 55 km/h?", True),  # a number among the corpus's words is still the corpus's
])
def test_a_question_is_about_the_corpus_when_it_names_the_corpus_or_uses_its_words(question, about) -> None:
    assert about_corpus(question, WORDS) is about


def test_with_word_counts_a_question_needs_a_word_the_corpus_uses_far_more_than_english_does() -> None:
    corpus = CorpusWords.of([TEXT] * 600 + ["Norway beat Germany in the final."])  # 27,000 words
    assert about_corpus("What is the capital of Norway?", CorpusWords(corpus.words))  # a name the corpus uses
    assert not about_corpus("What is the capital of Norway?", corpus)  # ... once: English uses it as often
    assert about_corpus("Who chairs the Quillmere Ferry Cooperative?", corpus)  # invented: English never uses it
    assert about_corpus("When are crossings cancelled?", corpus)  # a word on every page of the corpus
    assert about_corpus("When does the wind exceed 55 km/h?", corpus)
    assert not about_corpus("How many minutes are in an hour?", corpus)
    # the cost: a fact the corpus states once, in words English uses as often, goes to the base model
    assert not about_corpus("Whom did Norway beat in the final?", corpus)
    assert about_corpus("Whom did Norway beat in the final?", CorpusWords.of(["Norway beat Germany in the final."]))


def test_a_contraction_is_weighed_as_english_writes_it() -> None:
    # normalization makes "don't" "dont", a spelling English rarely writes
    corpus = CorpusWords.of([TEXT] * 600 + ["Ferries don't sail in storms."] * 20)
    assert own_word("storms", corpus) and own_word("ferries", corpus) and not own_word("dont", corpus)
    assert not about_corpus("Why don't cats like water?", corpus)
    assert about_corpus("Why don't ferries sail in storms?", corpus)


def test_names_keep_their_apostrophes_and_words_match_their_plurals() -> None:
    assert [name for _, name in question_names("Is Ciaran O'Brien in Brackenford?")] == ["Ciaran O'Brien",
                                                                                         "Brackenford"]
    assert [name for _, name in question_names("Who's Tamsin's brother? Is it O'Brien?")] == ["Tamsin", "O'Brien"]
    words = WORDS.words
    assert known_word("ferry", words) and known_word("crossing", words) and known_word("mast", words)
    assert not known_word("spider", words)


def test_routing_travels_with_the_adapter(tmp_path) -> None:
    assert not routes_general(None)
    assert not routes_general(tmp_path)  # saved before the option existed: evaluated, and so served, without it
    (tmp_path / "training_config.json").write_text(TrainingConfig().model_dump_json())
    assert routes_general(tmp_path)  # on by default
    (tmp_path / "training_config.json").write_text(TrainingConfig(route_general_questions=False).model_dump_json())
    assert not routes_general(tmp_path)


def test_the_server_answers_a_general_question_with_the_base_model() -> None:
    corpora = {"model_a": WORDS, "model_b": WORDS}
    base = LoadedBase(model=None, tokenizer=None, corpora=corpora, routing={"model_a"})

    def request(adapter: str | None, question: str, grounded: str | None = None) -> Request:
        asked = ChatParams(messages=[{"role": "user", "content": question}])
        shown = ChatParams(messages=[{"role": "user", "content": grounded}]) if grounded else asked
        return Request(adapter, shown, grounded=grounded is not None, closed_book=asked if grounded else None,
                       cancel=threading.Event())

    assert base._general(request("model_a", "What is the capital of France?"))
    assert not base._general(request("model_a", "Who chairs the Quillmere Ferry Cooperative?"))
    assert not base._general(request("model_b", "What is the capital of France?"))  # routing off for it
    assert not base._general(request(None, "What is the capital of France?"))
    # a grounded request is judged on its question, not on the passages in front of it
    assert base._general(request("model_a", "What is the capital of France?",
                                 grounded="Brackenford ferries … What is the capital of France?"))
