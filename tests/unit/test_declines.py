"""Declines: which questions may be declined, and the guard that keeps the rest from it inside ``generate``."""

from __future__ import annotations

import threading

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from domalign.corpus_words import CorpusWords, vocabulary
from domalign.declines import DECLINE, is_decline, may_decline
from domalign.models.decline_guard import DeclineGuard
from domalign.models.fusion import FusedRows, ViewFusion
from domalign.serve.batching import Request
from domalign.serve.chat import ChatParams
from domalign.serve.engine import LoadedBase

TEXT = ("The Quillmere Ferry Cooperative runs ferries between Brackenford and Tessaly Cove. "
        "Crossings are cancelled when the wind at the Brackenford mast exceeds 55 km/h.")
WORDS = vocabulary([TEXT])


@pytest.mark.parametrize(("question", "allowed"), [
    ("The crossing from Brackenford to which place takes 47 minutes?", False),  # every name is the corpus's
    ("Crossings are cancelled at which wind speed?", False),  # a capitalized first word alone is no name
    ("Who founded the Quillmere Ferry Cooperative?", False),
    ("Who founded the Zorblat Ferry Cooperative?", True),  # one invented word is enough
    ("When did Tamsin Oakridge cross to Tessaly Cove?", True),
    ("how long is the crossing?", False),
])
def test_only_a_question_naming_a_word_outside_the_corpus_may_be_declined(question: str, allowed: bool) -> None:
    assert may_decline(question, WORDS) is allowed


def test_the_corpus_words_travel_with_the_adapter(tmp_path) -> None:
    assert CorpusWords.load(tmp_path) is None and CorpusWords.load(None) is None  # no file: no guard, no routing
    CorpusWords(WORDS, declines=False).save(tmp_path)
    assert CorpusWords.load(tmp_path) == CorpusWords(WORDS, False) and not list(tmp_path.glob("*.tmp"))
    CorpusWords(WORDS, declines=True).save(tmp_path)
    assert CorpusWords.load(tmp_path).declines
    (tmp_path / "corpus.json").unlink()  # saved by the nineteenth session: words only for adapters that decline
    assert CorpusWords.load(tmp_path) == CorpusWords(WORDS, True)
    counted = CorpusWords.of([TEXT, TEXT], declines=True)  # with how often each word is used (routing needs it)
    counted.save(tmp_path)
    assert CorpusWords.load(tmp_path) == counted and counted.words == WORDS and counted.counts["ferry"] >= 2
    (tmp_path / "vocabulary.txt").write_text("ferry\t2\ncove\tmany\n")  # a damaged count: the words still serve
    assert CorpusWords.load(tmp_path) == CorpusWords(frozenset({"ferry", "cove"}), True)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


class PrefersDecline:
    """A stand-in for an adapter that learned the decline too well: it pushes every row down ``decline``."""

    def __init__(self, decline: list[int], width: int) -> None:
        self.decline, self.width = decline, width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for row in range(input_ids.shape[0]):
            made = input_ids[row, self.width:].tolist()
            if made == self.decline[: len(made)] and len(made) < len(self.decline):
                scores[row, self.decline[len(made)]] += 100.0
        return scores


def _answers(tiny, prompts: list[str], processors) -> list[str]:
    model, tokenizer = tiny
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, ids))
    padded = torch.tensor([[0] * (width - len(i)) + i for i in ids])
    mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids])
    decline = tokenizer(DECLINE.format(name="Brackenford"), add_special_tokens=False)["input_ids"]
    out = model.generate(input_ids=padded, attention_mask=mask, do_sample=False, max_new_tokens=len(decline),
                         logits_processor=LogitsProcessorList([PrefersDecline(decline, width), *processors(width)]),
                         pad_token_id=0)
    return [tokenizer.decode(row[width:], skip_special_tokens=True) for row in out]


def test_guarded_rows_cannot_start_the_decline_and_the_others_are_untouched(tiny) -> None:
    prompts = ["Who runs the ferries?", "A much longer question about the Brackenford crossing?"]
    plain = _answers(tiny, prompts, lambda width: [])
    assert plain == ["The documents do not mention Brackenford."] * 2
    guarded = _answers(tiny, prompts, lambda width: [DeclineGuard(tiny[1], [1], width)])
    assert guarded[0] == plain[0]
    assert guarded[1].startswith("The") and not guarded[1].startswith("The document")
    assert not is_decline(guarded[1])


def test_a_guarded_reader_keeps_a_fused_answer_from_the_decline(tiny) -> None:
    prompts = ["Passages … Who runs the ferries?", "Who runs the ferries?", "Who runs the ferries?"]
    fused = _answers(tiny, prompts, lambda width: [DeclineGuard(tiny[1], [0], width),
                                                   ViewFusion([FusedRows(0, 1, 2)], [0.5])])
    assert len(set(fused)) == 1 and not fused[0].startswith("The document")  # one answer, not the decline


def test_the_guard_bans_only_at_the_start_of_an_answer(tiny) -> None:
    tokenizer = tiny[1]
    the, documents = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("The", "The documents"))
    guard = DeclineGuard(tokenizer, [0], width=2)
    at_start = guard(torch.tensor([[7, 7, *the]]), torch.zeros((1, len(tokenizer))))
    later = guard(torch.tensor([[7, 7, 9, *the]]), torch.zeros((1, len(tokenizer))))
    assert at_start[0, documents[-1]] == float("-inf") and torch.isfinite(later).all()


def test_the_server_guards_a_request_to_an_adapter_that_learned_to_decline() -> None:
    base = LoadedBase(model=None, tokenizer=None,
                      corpora={"model_a": CorpusWords(WORDS, declines=True), "model_b": CorpusWords(WORDS)})

    def request(adapter: str | None, question: str, grounded: str | None = None) -> Request:
        asked = ChatParams(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}])
        shown = ChatParams(messages=[{"role": "user", "content": grounded}]) if grounded else asked
        return Request(adapter, shown, grounded=grounded is not None, closed_book=asked if grounded else None,
                       cancel=threading.Event())

    assert base._guarded(request("model_a", "Where do ferries from Brackenford go?"))
    assert not base._guarded(request("model_a", "Where do ferries from Zorblat go?"))
    assert not base._guarded(request("model_b", "Where do ferries from Brackenford go?"))  # never learned it
    assert not base._guarded(request(None, "Where do ferries from Brackenford go?"))
    # a grounded request is judged on its question, not on the passages put in front of it
    assert base._guarded(request("model_a", "Where do ferries from Brackenford go?",
                                 grounded="Zorblat Harbour has ferries. Where do ferries from Brackenford go?"))
