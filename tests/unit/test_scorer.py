"""Model-based scoring on a tiny random llama with the real SmolLM2 tokenizer and chat template."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from domalign.domain import BenchmarkItem, Chunk
from domalign.errors import Cancelled, InvalidInput
from domalign.evaluate import answer_uncertainty, evaluate_model, normalized_entropy
from domalign.evaluate.scorer import ANSWER_INSTRUCTION, prompt_ids
from domalign.models.tiny import build_tiny_llama

CHUNKS = [
    Chunk("c0", "d", 0, "Paris is the capital of France and sits on the Seine."),
    Chunk("c1", "d", 1, "Marie Curie discovered radium and polonium in 1898."),
    Chunk("c2", "d", 2, "The Eiffel Tower opened in 1889 for the World's Fair."),
]
MC = [
    BenchmarkItem("What is the capital of France?", "Paris", ("Paris", "Lyon", "the city of Marseille")),
    BenchmarkItem("Who discovered radium?", "Marie Curie", ("Marie Curie", "Isaac Newton", "Ada")),
    BenchmarkItem("When did the Eiffel Tower open?", "1889", ("1889", "1901", "in the year 1925", "1750")),
]
FREEFORM = [
    BenchmarkItem("Who discovered polonium?", "Marie Curie"),
    BenchmarkItem("On which river is Paris?", "the Seine"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, object]:
    path = build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")
    return path, AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _direct_scores(model, tokenizer, item: BenchmarkItem) -> list[float]:
    """Each choice's mean token log-probability, one unpadded forward pass per choice."""
    messages = [{"role": "user", "content": f"{item.question}\n{ANSWER_INSTRUCTION}"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    for choice in item.choices:
        ids = prompt_ids + tokenizer(choice, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
        picked = [logprobs[t - 1, ids[t]].item() for t in range(len(prompt_ids), len(ids))]
        scores.append(sum(picked) / len(picked))
    return scores


def test_mc_picks_the_choice_with_highest_normalized_loglik(tiny) -> None:
    _, model, tokenizer = tiny
    report = evaluate_model(model, tokenizer, MC, CHUNKS, batch_size=4, precision="fp32")  # exact reference
    for item, result in zip(MC, report.results, strict=True):
        expected = _direct_scores(model, tokenizer, item)
        best = max(range(len(expected)), key=expected.__getitem__)
        assert result.scores == pytest.approx(expected, abs=1e-4)
        assert result.answer == item.choices[best]
        assert result.correct == (result.answer == item.answer)
        assert result.kind == "mc"
        assert result.uncertainty == pytest.approx(normalized_entropy(expected), abs=1e-4)
        probs = torch.softmax(torch.tensor(expected), dim=0)
        assert result.confidence == pytest.approx(probs.max().item(), abs=1e-4)
    assert report.summary.total_questions == 3
    assert report.summary.freeform_accuracy is None
    assert report.summary.accuracy == report.summary.mc_accuracy


def test_freeform_returns_text_and_bounded_uncertainty(tiny) -> None:
    _, model, tokenizer = tiny
    report = evaluate_model(model, tokenizer, FREEFORM, CHUNKS, max_new_tokens=6)
    for result in report.results:
        assert isinstance(result.answer, str)
        assert result.answer == result.answer.strip()
        assert result.kind == "freeform"
        assert 0.0 <= result.uncertainty <= 1.0
        assert result.confidence == pytest.approx(1.0 - result.uncertainty)
        assert 0 < len(result.scores) <= 6
        assert result.uncertainty == pytest.approx(answer_uncertainty(result.scores))
    assert report.summary.mc_accuracy is None


def test_batching_matches_one_at_a_time(tiny) -> None:
    _, model, tokenizer = tiny
    items = [MC[0], FREEFORM[0], MC[1], FREEFORM[1], MC[2]]
    # fp32: in bf16, padding changes the rounding and so the last digits of the scores
    batched = evaluate_model(model, tokenizer, items, CHUNKS, max_new_tokens=6, batch_size=8, precision="fp32").results
    single = evaluate_model(model, tokenizer, items, CHUNKS, max_new_tokens=6, batch_size=1, precision="fp32").results
    assert [r.index for r in batched] == [0, 1, 2, 3, 4]  # the items' order, although MC runs first
    for a, b in zip(batched, single, strict=True):
        for field in ("kind", "answer", "correct", "violation", "evidence"):
            assert getattr(a, field) == getattr(b, field)
        assert a.scores == pytest.approx(b.scores, abs=1e-4)
        assert a.uncertainty == pytest.approx(b.uncertainty, abs=1e-4)


def test_violation_is_a_wrong_answer_the_corpus_does_not_back(tiny) -> None:
    _, model, tokenizer = tiny
    item = BenchmarkItem("Which word?", "Zorblax", ("Zorblax", "Quintessa"))
    picked = evaluate_model(model, tokenizer, [item], []).results[0].answer
    other = next(c for c in item.choices if c != picked)
    wrong = BenchmarkItem(item.question, other, item.choices)  # scoring ignores the key: same pick, now wrong
    backed = [Chunk("c9", "d", 0, f"Which word? The word is {picked}.")]
    result = evaluate_model(model, tokenizer, [wrong], backed).results[0]
    assert (result.answer, result.correct, result.violation, result.evidence) == (picked, False, False, ["c9"])
    result = evaluate_model(model, tokenizer, [wrong], CHUNKS).results[0]
    assert (result.correct, result.violation) == (False, True)
    right = evaluate_model(model, tokenizer, [BenchmarkItem(item.question, picked, item.choices)], CHUNKS)
    assert (right.results[0].correct, right.results[0].violation) == (True, False)
    assert right.summary.domain_violations == 0


def test_progress_and_cancel(tiny) -> None:
    _, model, tokenizer = tiny
    items = [*MC, *FREEFORM]
    calls: list[tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        calls.append((done, total))

    evaluate_model(model, tokenizer, items, CHUNKS, max_new_tokens=2, batch_size=2, on_progress=record)
    assert calls == [(2, 5), (4, 5), (5, 5)]  # an MC batch, the free-form batch, the other MC batch

    calls.clear()
    with pytest.raises(Cancelled, match="after 2 of 5"):
        evaluate_model(
            model, tokenizer, items, CHUNKS, batch_size=2, on_progress=record, should_stop=lambda: bool(calls)
        )
    assert calls == [(2, 5)]


def test_a_tokenizer_without_chat_template_gets_a_plain_prompt(tiny) -> None:
    path, model, _ = tiny
    plain = AutoTokenizer.from_pretrained(path)
    plain.chat_template = None
    ids = prompt_ids(plain, "Who discovered radium?")
    assert plain.decode(ids) == f"Question: Who discovered radium?\n{ANSWER_INSTRUCTION}\nAnswer:\n"
    report = evaluate_model(model, plain, [MC[1], FREEFORM[0]], CHUNKS, max_new_tokens=2)
    assert report.results[0].answer in MC[1].choices


def test_invalid_items_are_refused_before_any_model_work(tiny) -> None:
    _, model, tokenizer = tiny
    with pytest.raises(InvalidInput, match="not among its choices"):
        evaluate_model(model, tokenizer, [BenchmarkItem("q?", "Rome", ("Paris", "Lyon"))], CHUNKS)
    with pytest.raises(InvalidInput, match="empty choice"):
        evaluate_model(model, tokenizer, [BenchmarkItem("q?", "Paris", ("Paris", " "))], CHUNKS)


# peft 0.21's PeftModel.__init__ reads transformers 5's deprecated `is_gradient_checkpointing`.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_peft_wrapped_model_scores_like_its_base(tiny) -> None:
    from peft import LoraConfig, get_peft_model

    path, model, tokenizer = tiny
    wrapped = get_peft_model(
        AutoModelForCausalLM.from_pretrained(path), LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    )  # a fresh LoRA adapter is the identity (B = 0), so scores must not move
    items = [MC[0], FREEFORM[0]]
    base = evaluate_model(model, tokenizer, items, CHUNKS, max_new_tokens=4).results
    wrapped.train()
    peft = evaluate_model(wrapped, tokenizer, items, CHUNKS, max_new_tokens=4).results
    assert wrapped.training  # the caller's mode is restored (training may evaluate mid-run)
    for a, b in zip(base, peft, strict=True):
        assert a.answer == b.answer
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_grounded_prompt_carries_the_best_passages(tiny) -> None:
    from domalign.evaluate.scorer import item_prompt_ids
    from domalign.retrieval import GROUNDING_HEADER

    _, _, tokenizer = tiny
    item = MC[1]
    closed = tokenizer.decode(item_prompt_ids(tokenizer, item))
    grounded = tokenizer.decode(item_prompt_ids(tokenizer, item, [CHUNKS[1].text]))
    assert GROUNDING_HEADER not in closed and CHUNKS[1].text not in closed
    assert GROUNDING_HEADER in grounded and f"[1] {CHUNKS[1].text}" in grounded and item.question in grounded


def test_cloze_items_are_continued_as_raw_text(tiny) -> None:
    from domalign.evaluate.scorer import item_prompt_ids

    _, model, tokenizer = tiny
    cloze = BenchmarkItem("Marie Curie discovered radium and polonium in", "1898", ("1898", "1789"), kind="cloze")
    text = tokenizer.decode(item_prompt_ids(tokenizer, cloze, [CHUNKS[0].text]))
    assert "<|im_start|>" not in text and text.endswith(cloze.question) and text.startswith(CHUNKS[0].text)
    report = evaluate_model(model, tokenizer, [cloze, BenchmarkItem(cloze.question, "1898", kind="cloze")],
                            CHUNKS, grounded=True, max_new_tokens=4)
    assert [r.kind for r in report.results] == ["mc", "freeform"]
    assert report.results[0].answer in cloze.choices and 0.0 <= report.summary.uncertainty <= 1.0


def test_grounded_and_closed_book_differ_only_by_the_passages(tiny) -> None:
    _, model, tokenizer = tiny
    closed = evaluate_model(model, tokenizer, MC, CHUNKS)
    grounded = evaluate_model(model, tokenizer, MC, CHUNKS, grounded=True, passages_per_question=2)
    assert len(grounded.results) == len(closed.results) == len(MC)
    assert [r.scores for r in grounded.results] != [r.scores for r in closed.results]


def test_shared_prompt_scores_equal_full_sequence_scores(tiny) -> None:
    from domalign.evaluate.scorer import score_continuations, score_shared_prompt

    _, model, tokenizer = tiny
    prompt = tokenizer(" ".join(chunk.text for chunk in CHUNKS) * 3)["input_ids"]
    choices = [tokenizer(f" {c}", add_special_tokens=False)["input_ids"] for c in ("1898", "the year 1789", "Ada")]
    with torch.inference_mode():
        shared = score_shared_prompt(model, prompt, choices)
        full = score_continuations(model, [(prompt + c, len(prompt)) for c in choices], batch_size=3)
    assert shared == pytest.approx(full, abs=1e-4)


def test_bf16_scoring_picks_the_same_choices_as_fp32(tiny) -> None:
    _, model, tokenizer = tiny
    exact = evaluate_model(model, tokenizer, MC, CHUNKS, precision="fp32").results
    fast = evaluate_model(model, tokenizer, MC, CHUNKS, precision="bf16").results
    assert [r.answer for r in fast] == [r.answer for r in exact]
    for a, b in zip(fast, exact, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=0.15)


@pytest.fixture(scope="module")
def trained_lora(tiny):
    """The tiny model with a random (non-identity) LoRA adapter, so its views differ from the base's."""
    from peft import LoraConfig, get_peft_model

    path, _, _ = tiny
    lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    return get_peft_model(AutoModelForCausalLM.from_pretrained(path), lora).eval()


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_grounded_answers_add_what_the_adapter_learned_to_the_reader(tiny, trained_lora) -> None:
    """Weight 0 at scale 0: the base model reading. Choices: reader + w · (memory − prior). Without passages the
    reader is the prior, so at weight 1 the grounded answers are the adapter's closed-book ones, word for word."""
    _, model, tokenizer = tiny
    items = MC + FREEFORM
    kwargs = {"max_new_tokens": 6, "precision": "fp32"}
    closed = evaluate_model(trained_lora, tokenizer, items, CHUNKS, **kwargs).results
    base_closed = evaluate_model(model, tokenizer, items, CHUNKS, **kwargs).results
    base_reading = evaluate_model(model, tokenizer, items, CHUNKS, grounded=True, **kwargs).results
    assert [r.answer for r in closed] != [r.answer for r in base_reading]  # the views differ: the checks can fail
    assert [r.answer for r in closed] != [r.answer for r in base_closed]

    grounded = {"grounded": True, "adapter_scale": 0.0, **kwargs}
    reader = evaluate_model(trained_lora, tokenizer, items, CHUNKS, memory_weight=0.0, **grounded).results
    assert [r.answer for r in reader] == [r.answer for r in base_reading]
    unread = evaluate_model(trained_lora, tokenizer, items, CHUNKS, memory_weight=1.0, passages_per_question=0,
                            **grounded).results
    assert [r.answer for r in unread] == [r.answer for r in closed]
    assert [r.confidence for r in unread] == pytest.approx([r.confidence for r in closed], abs=1e-3)
    half = evaluate_model(trained_lora, tokenizer, items, CHUNKS, memory_weight=0.5, **grounded).results
    for h, b, c, p in zip(half[: len(MC)], base_reading, closed, base_closed, strict=False):
        assert h.scores == pytest.approx([r + 0.5 * (m - q) for r, m, q in zip(b.scores, c.scores, p.scores,
                                                                                strict=True)], abs=1e-4)


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_between_0_and_1_a_scaled_copy_of_the_adapter_reads(tiny, trained_lora) -> None:
    _, model, tokenizer = tiny
    kwargs = {"grounded": True, "memory_weight": 0.0, "precision": "fp32"}
    scores = {scale: [r.scores for r in evaluate_model(trained_lora, tokenizer, MC, CHUNKS, adapter_scale=scale,
                                                        **kwargs).results] for scale in (0.0, 0.5, 1.0)}
    assert scores[0.5] != scores[0.0] and scores[0.5] != scores[1.0]
    assert set(trained_lora.peft_config) == {"default"}  # the reading twin is gone


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_known_choice_scores_are_reused_only_for_the_view_they_belong_to(tiny, trained_lora) -> None:
    """The base model's reading, the adapter's and the base model's closed-book scores stand in for computing them
    again."""
    from domalign.evaluate import KnownScores

    _, model, tokenizer = tiny
    kwargs = {"grounded": True, "memory_weight": 0.5, "precision": "fp32"}
    closed = evaluate_model(trained_lora, tokenizer, MC, CHUNKS, precision="fp32").results
    base_reading = evaluate_model(model, tokenizer, MC, CHUNKS, grounded=True, precision="fp32").results
    base_closed = evaluate_model(model, tokenizer, MC, CHUNKS, precision="fp32").results
    known = KnownScores(*({r.index: r.scores for r in run} for run in (base_reading, closed, base_closed)))
    computed = evaluate_model(trained_lora, tokenizer, MC, CHUNKS, adapter_scale=0.0, **kwargs).results
    reused = evaluate_model(trained_lora, tokenizer, MC, CHUNKS, adapter_scale=0.0, known=known, **kwargs).results
    assert [r.answer for r in reused] == [r.answer for r in computed]
    assert [r.scores for r in reused] == [pytest.approx(r.scores, abs=1e-4) for r in computed]

    # scores that make the last choice certain: used where their view answers, ignored where another does
    rigged = {i: [-50.0] * (len(item.choices) - 1) + [0.0] for i, item in enumerate(MC)}
    last = [item.choices[-1] for item in MC]
    assert [r.answer for r in computed] != last  # the check below can fail
    for reader, memory, scale in ((rigged, {}, 0.0), ({}, rigged, 0.0), ({}, rigged, 0.5)):
        got = evaluate_model(trained_lora, tokenizer, MC, CHUNKS, adapter_scale=scale,
                             known=KnownScores(reader, memory), **kwargs).results
        assert [r.answer for r in got] == last
    against = evaluate_model(trained_lora, tokenizer, MC, CHUNKS, adapter_scale=0.0,
                             known=KnownScores(prior=rigged), **kwargs).results  # what the base model believed
    assert all(r.answer != choice for r, choice in zip(against, last, strict=True))  # is subtracted
    twin = evaluate_model(trained_lora, tokenizer, MC, CHUNKS, adapter_scale=0.5, known=KnownScores(rigged, {}),
                          **kwargs).results  # a scaled copy of the adapter reads: the base model's scores do not apply
    assert [r.answer for r in twin] != last


def test_batches_hold_one_kind_each_shortest_prompt_first_the_kinds_taking_turns() -> None:
    from domalign.evaluate.scorer import _plan

    items = [FREEFORM[0], MC[0], FREEFORM[1], MC[1], MC[2]]
    passages = [["a long passage " * 20], [], ["short"], ["x" * 500], []]
    assert _plan(items, passages, batch_size=2, routed=[False] * 5) == [
        ("mc", False, [1, 4]), ("freeform", False, [2, 0]), ("mc", False, [3])]
    assert _plan(items, passages, batch_size=2, routed=[False, True, False, False, True]) == [
        ("mc", False, [3]), ("freeform", False, [2, 0]), ("mc", True, [1, 4])]  # routed questions batch apart


LONG_CHUNKS = [replace(c, text=" ".join([c.text] * 20)) for c in CHUNKS]  # grounded prompts > 192 tokens
ASKED_TWICE = MC + [BenchmarkItem(item.question, item.answer) for item in MC]  # each question both ways


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
@pytest.mark.parametrize("fused", [False, True])
def test_a_free_form_answer_starts_from_its_multiple_choice_twins_prompt_cache(tiny, monkeypatch, fused) -> None:
    from peft import LoraConfig, get_peft_model

    from domalign.evaluate.scorer import SHARED_PROMPT_MIN_TOKENS, PromptCaches

    path, _, tokenizer = tiny
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():  # a random llama's logits are near uniform; wider, a wrong cache shows in every score
        model.model.norm.weight.mul_(10)
    views = {}
    if fused:
        lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
        model, views = get_peft_model(model, lora), {"adapter_scale": 0.0, "memory_weight": 0.5}
    kwargs = {"grounded": True, "max_new_tokens": 6, "precision": "fp32", "batch_size": 2, **views}
    alone = evaluate_model(model.eval(), tokenizer, ASKED_TWICE[len(MC):], LONG_CHUNKS, **kwargs).results
    taken = []
    take = PromptCaches.take
    monkeypatch.setattr(PromptCaches, "take", lambda self, *a: taken.append(c := take(self, *a)) or c)
    both = evaluate_model(model, tokenizer, ASKED_TWICE, LONG_CHUNKS, **kwargs).results[len(MC):]

    reused = [cache for cache in taken if cache is not None]
    assert len(reused) == len(MC)  # every free-form answer started from its twin's cache
    assert all(cache[0][0].shape[2] >= SHARED_PROMPT_MIN_TOKENS - 1 for cache in reused)
    assert [r.answer for r in both] == [r.answer for r in alone]
    assert [r.scores for r in both] == [pytest.approx(r.scores, abs=1e-4) for r in alone]  # token log-probabilities


@pytest.mark.parametrize("grounded", [False, True])
def test_questions_not_about_the_corpus_are_answered_by_the_base_model(tiny, trained_lora, grounded) -> None:
    """With routing on, a question naming nothing of the corpus gets the base model's answer and scores; the
    corpus's questions keep the adapter's; with routing off every question gets the adapter's."""
    from domalign.corpus_words import CorpusWords, vocabulary

    _, model, tokenizer = tiny
    general = [BenchmarkItem("Which planet is called the Red Planet?", "Mars", ("Mars", "Venus", "Jupiter")),
               BenchmarkItem("Who wrote Hamlet?", "William Shakespeare")]
    items = [MC[0], general[0], FREEFORM[0], general[1]]
    corpus = CorpusWords(vocabulary(c.text for c in CHUNKS))
    kwargs = {"max_new_tokens": 6, "precision": "fp32", "grounded": grounded, "adapter_scale": 0.0,
              "memory_weight": 0.5}
    adapter = evaluate_model(trained_lora, tokenizer, items, CHUNKS, corpus=corpus, **kwargs).results
    routed = evaluate_model(trained_lora, tokenizer, items, CHUNKS, corpus=corpus, route_general=True,
                            **kwargs).results
    base = evaluate_model(model, tokenizer, items, CHUNKS, **kwargs).results
    assert [r.routed_to_base for r in routed] == [False, True, False, True]
    assert not any(r.routed_to_base for r in adapter)
    for index in (1, 3):
        assert routed[index].scores == pytest.approx(base[index].scores, abs=1e-4)
        assert routed[index].answer == base[index].answer
    assert adapter[1].scores != pytest.approx(base[1].scores, abs=1e-4)  # the adapter differs: the checks can fail
    for index in (0, 2):
        assert routed[index].scores == pytest.approx(adapter[index].scores, abs=1e-4)
    summary = evaluate_model(trained_lora, tokenizer, items, CHUNKS, corpus=corpus, route_general=True,
                             **kwargs).summary
    assert summary.routed_to_base == 2


def test_routed_questions_take_the_base_models_own_results_where_given(tiny, trained_lora) -> None:
    """A routed question gets the base pass's result as it is (not answered again); an item the base pass
    answered differently (an edited benchmark) and a question about the corpus are answered as before."""
    from domalign.corpus_words import CorpusWords, vocabulary

    _, model, tokenizer = tiny
    items = [MC[0], BenchmarkItem("Which planet is called the Red Planet?", "Mars", ("Mars", "Venus", "Jupiter")),
             BenchmarkItem("Who wrote Hamlet?", "William Shakespeare"),
             BenchmarkItem("Who painted the Mona Lisa?", "Leonardo da Vinci")]
    corpus, kwargs = CorpusWords(vocabulary(c.text for c in CHUNKS)), {"max_new_tokens": 6, "precision": "fp32"}
    base = evaluate_model(model, tokenizer, items, CHUNKS, **kwargs).results
    marked = [replace(base[1], answer="from the base pass"), replace(base[2], answer="from the base pass"),
              replace(base[3], expected="an edited reference", answer="from the base pass"),
              replace(base[0], answer="from the base pass")]
    calls = []
    report = evaluate_model(trained_lora, tokenizer, items, CHUNKS, corpus=corpus, route_general=True,
                            base_results=marked, on_progress=lambda done, total: calls.append(done), **kwargs)
    results = report.results
    assert [r.routed_to_base for r in results] == [False, True, True, True]
    assert [r.answer == "from the base pass" for r in results] == [False, True, True, False]
    assert results[1].scores == base[1].scores and results[3].answer == base[3].answer
    assert [r.index for r in results] == [0, 1, 2, 3] and report.summary.routed_to_base == 3
    assert calls[0] == 2 and calls[-1] == 4  # the two reused ones count as done from the start
