"""Replay prompts: packaged, clean, and kept away from every evaluation set of ours."""

from __future__ import annotations

import json
from pathlib import Path

from domalign.synth import ngram_overlap
from domalign.synth.facts import normalize
from domalign.synth.replay import replay_items, replay_prompts

GENERAL_KNOWLEDGE = Path(__file__).parents[2] / "bench" / "data" / "general_knowledge.json"


def test_replay_prompts_are_packaged_and_distinct():
    prompts = replay_prompts(1000)
    assert len(prompts) >= 60 and len(set(prompts)) == len(prompts)
    assert not any(p.startswith("#") for p in prompts)
    assert replay_prompts(5) == prompts[:5]


def test_replay_prompts_share_no_question_with_the_forgetting_benchmark():
    questions = [row["question"] for row in json.loads(GENERAL_KNOWLEDGE.read_text())]
    prompts = {normalize(p) for p in replay_prompts(1000)}
    assert not prompts & {normalize(q) for q in questions}
    assert ngram_overlap(replay_prompts(1000), questions, 6) == 0.0


def test_replay_items_skip_missing_answers():
    items = replay_items(["a?", "b?", "c?"], ["A.", None, "  "])
    assert [(i.prompt, i.completion, i.kind) for i in items] == [("a?", "A.", "replay")]
