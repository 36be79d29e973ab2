"""Replay prompts: packaged, clean, and kept away from every evaluation set of ours."""

from __future__ import annotations

import json
from pathlib import Path

from domalign.synth import ngram_overlap
from domalign.synth.facts import normalize
from domalign.synth.replay import collect_replay, replay_items, replay_prompts

GENERAL_KNOWLEDGE = sorted((Path(__file__).parents[2] / "bench" / "data").glob("general_knowledge*.json"))


def test_replay_prompts_are_packaged_and_distinct():
    prompts = replay_prompts(1000)
    assert len(prompts) >= 60 and len(set(prompts)) == len(prompts)
    assert not any(p.startswith("#") for p in prompts)
    assert replay_prompts(5) == prompts[:5]


def test_replay_prompts_share_no_question_with_the_forgetting_benchmark():
    assert len(GENERAL_KNOWLEDGE) == 4
    questions = [row["question"] for path in GENERAL_KNOWLEDGE for row in json.loads(path.read_text())]
    prompts = {normalize(p) for p in replay_prompts(1000)}
    assert not prompts & {normalize(q) for q in questions}
    assert ngram_overlap(replay_prompts(1000), questions, 6) == 0.0


def test_replay_items_skip_missing_answers():
    items = replay_items(["a?", "b?", "c?"], ["A.", None, "  "])
    assert [(i.prompt, i.completion, i.kind) for i in items] == [("a?", "A.", "replay")]


def test_collect_replay_stops_once_it_has_enough_and_reuses_known_answers():
    prompts = [f"q{i}?" for i in range(40)]
    asked: list[list[str]] = []

    def answer(batch: list[str]) -> list[str | None]:
        asked.append(batch)
        return [None if int(p[1:-1]) % 2 else p.upper() for p in batch]  # every other answer is cut off

    known: dict[str, str | None] = {"q0?": "Known."}
    saves: list[int] = []
    items = collect_replay(prompts, 6, known, answer, batch=4, saved=saves.append)
    assert [i.completion for i in items] == ["Known.", "Q2?", "Q4?", "Q6?", "Q8?", "Q10?"]
    assert asked == [["q1?", "q2?", "q3?"], ["q4?", "q5?", "q6?", "q7?"], ["q8?", "q9?", "q10?", "q11?"]]
    assert saves == [2, 4, 6] and len(known) == 12
    again: list[list[str]] = []
    assert collect_replay(prompts, 6, known, lambda b: again.append(b) or [], batch=4) == items and again == []


def test_collect_replay_gives_up_after_twice_the_wanted_prompts():
    prompts = [f"q{i}?" for i in range(400)]
    asked: list[str] = []

    def cut_off(batch: list[str]) -> list[str | None]:
        asked.extend(batch)
        return [None] * len(batch)

    assert collect_replay(prompts, 5, {}, cut_off, batch=8) == []
    assert asked == prompts[:10]
    asked.clear()
    assert collect_replay(prompts, 1, {}, cut_off, batch=8) == [] and asked == prompts[:8]  # one batch at least
