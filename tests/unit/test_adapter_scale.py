"""The grounded scale and memory weight of an adapter: saved with it; the scaled twin and fused answers."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from domalign.models.adapter_scale import (
    GROUNDED_TWIN,
    grounded_memory_weight,
    grounded_scale,
    grounded_twin,
    lora_layers,
)
from domalign.models.loader import load_base_model
from domalign.train.config import TrainingConfig


@pytest.fixture()
def model_and_ids(tiny_model_dir, tmp_path):
    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    ids = tokenizer("Who founded the Quillmere Ferry Cooperative?", return_tensors="pt").input_ids
    return get_peft_model(model, lora).eval(), ids


def _logits(model, ids, adapter=None) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, **({"adapter_names": [adapter]} if adapter else {})).logits


def test_the_twin_at_scale_zero_is_the_base_model_and_goes_away_after(model_and_ids):
    model, ids = model_and_ids
    trained = _logits(model, ids)
    with model.disable_adapter():
        base = _logits(model, ids)
    assert not torch.allclose(trained, base)  # the adapter changes the answer, so the checks below can fail
    with grounded_twin(model, "default", 0.0) as twin:
        assert twin == "default" + GROUNDED_TWIN
        assert torch.allclose(_logits(model, ids, twin), base, atol=1e-6)
        assert torch.equal(_logits(model, ids, "default"), trained)  # the adapter itself is untouched
    with grounded_twin(model, "default", 0.5) as twin:
        half = _logits(model, ids, twin)
    assert not torch.allclose(half, base) and not torch.allclose(half, trained)
    assert set(model.peft_config) == {"default"} and model.active_adapters == ["default"]
    assert torch.equal(_logits(model, ids), trained)


def test_the_scale_and_weight_travel_in_the_adapters_training_config(tmp_path):
    config = TrainingConfig(grounded_adapter_scale=0.25, grounded_memory_weight=0.75)
    (tmp_path / "training_config.json").write_text(config.model_dump_json())
    assert (grounded_scale(tmp_path), grounded_memory_weight(tmp_path)) == (0.25, 0.75)
    (tmp_path / "training_config.json").write_text(json.dumps({"lora_r": 16}))  # saved before the options
    assert grounded_scale(tmp_path) == TrainingConfig().grounded_adapter_scale == 0.0
    assert grounded_memory_weight(tmp_path) == TrainingConfig().grounded_memory_weight == 0.5
    assert (grounded_scale(None), grounded_memory_weight(None)) == (1.0, 0.0)  # no adapter: nothing to change


def _engine_with_adapter(tiny_model_dir, tmp_path, **config):
    from domalign.serve.engine import ServingEngine

    model, _ = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(tmp_path / "adapter")
    (tmp_path / "adapter" / "training_config.json").write_text(TrainingConfig(**config).model_dump_json())
    engine = ServingEngine(lambda _: load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache"),
                           precision="fp32", batch_window_s=0.2, batch_max_wait_s=1.0)
    engine.add_adapter("tiny", "a1", tmp_path / "adapter")
    return engine


def _answers(engine, requests):
    from concurrent.futures import wait

    futures = [engine.submit("tiny", r) for r in requests]
    wait(futures, timeout=60)
    return [f.result().choices[0] for f in futures]


QUESTION = [{"role": "user", "content": "Who runs the ferry?"}]
GROUNDED = [{"role": "user", "content": "Answer from these passages.\n\n[1] Mira Okafor runs the ferry.\n\n"
                                        "Question: Who runs the ferry?"}]


def test_the_engine_answers_grounded_requests_at_the_adapters_grounded_scale(tiny_model_dir, tmp_path):
    """Closed-book, grounded and base requests in one batch: at scale 0 the grounded row is the base model's,
    with no copy of the adapter; between 0 and 1 a scaled twin is loaded beside it and unloaded with it."""
    from domalign.serve.batching import Request
    from domalign.serve.chat import ChatParams

    engine = _engine_with_adapter(tiny_model_dir, tmp_path, grounded_adapter_scale=0.0)
    try:
        params = ChatParams(messages=QUESTION, max_tokens=12, temperature=0)
        closed, grounded, base = _answers(engine, [Request(adapter, params, grounded=grounded)
                                                   for adapter, grounded in (("a1", False), ("a1", True),
                                                                             (None, False))])
        assert closed.text != base.text  # the adapter changes the answer, so the next check can fail
        assert (grounded.text, grounded.confidence) == (base.text, base.confidence)
        peft_model = engine._base("tiny").model
        assert set(peft_model.peft_config) == {"a1"}  # the base model reads: no twin
        engine.remove_adapter("tiny", "a1")
        config = TrainingConfig(grounded_adapter_scale=0.5)
        (tmp_path / "adapter" / "training_config.json").write_text(config.model_dump_json())
        assert not lora_layers(engine._base("tiny").model)  # removing the last adapter gave back the plain model
        engine.add_adapter("tiny", "a2", tmp_path / "adapter")
        engine.remove_adapter("tiny", "a3")  # never loaded: nothing happens
        peft_model = engine._base("tiny").model
        assert set(peft_model.peft_config) == {"a2", "a2" + GROUNDED_TWIN}  # a1 is gone; a2 at 0.5 has a twin
        grounded_a2 = Request("a2", params, grounded=True)
        assert engine._base("tiny")._peft_name(grounded_a2) == "a2" + GROUNDED_TWIN
        assert _answers(engine, [grounded_a2])[0].completion_tokens > 0  # the twin answers
        engine.add_adapter("tiny", "a4", tmp_path / "adapter")
        engine.remove_adapter("tiny", "a2")
        assert set(peft_model.peft_config) == {"a4", "a4" + GROUNDED_TWIN}  # a2's twin went with it
    finally:
        engine.close()


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_the_memory_weight_adds_what_the_adapter_learned_to_a_grounded_answer(tiny_model_dir, tmp_path, weight):
    """Weight 0: the grounded answer is the base model's reading alone. Weight 1 on a request without passages
    (its reader is then the base model's closed-book view, which the fusion subtracts): the adapter's
    closed-book answer. Batched with the plain requests it is compared against, so fused and plain rows share
    one call."""
    from domalign.serve.batching import Request
    from domalign.serve.chat import ChatParams

    engine = _engine_with_adapter(tiny_model_dir, tmp_path, grounded_adapter_scale=0.0, grounded_memory_weight=weight)
    try:
        closed_params = ChatParams(messages=QUESTION, max_tokens=12, temperature=0)
        grounded_params = ChatParams(messages=GROUNDED, max_tokens=12, temperature=0)
        read = grounded_params if weight == 0.0 else closed_params
        closed, base_reading, fused = _answers(engine, [
            Request("a1", closed_params),
            Request(None, read),
            Request("a1", read, grounded=True, closed_book=closed_params),
        ])
        assert closed.text != base_reading.text  # the two views differ, so the check can fail
        expected = closed if weight == 1.0 else base_reading
        assert fused.text == expected.text
        assert fused.confidence == pytest.approx(expected.confidence, abs=0.05)
    finally:
        engine.close()


def test_the_twin_keeps_the_models_eval_mode_and_its_frozen_weights(tiny_model_dir, tmp_path):
    """An adapter trained with dropout: its twin must not drop out in evaluation (its new modules start in
    training mode), and a model loaded for inference stays frozen."""
    from peft import PeftModel

    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.5,
                      init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(tmp_path / "adapter")
    model, _ = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache2")
    loaded = PeftModel.from_pretrained(model, str(tmp_path / "adapter")).eval()
    ids = tokenizer("ferry", return_tensors="pt").input_ids
    with grounded_twin(loaded, "default", 1.0) as twin:
        assert not any(m.training for m in loaded.modules())
        assert torch.allclose(_logits(loaded, ids, twin), _logits(loaded, ids, "default"), atol=1e-6)
    assert not any(p.requires_grad for p in loaded.parameters())
