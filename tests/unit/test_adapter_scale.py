"""The grounded scale of an adapter: saved with it, applied for the duration only, 0 = the base model."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from domalign.models.adapter_scale import DEFAULT_GROUNDED_SCALE, grounded_scale, lora_scaled
from domalign.models.loader import load_base_model
from domalign.train.config import TrainingConfig


@pytest.fixture()
def model_and_ids(tiny_model_dir, tmp_path):
    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    ids = tokenizer("Who founded the Quillmere Ferry Cooperative?", return_tensors="pt").input_ids
    return get_peft_model(model, lora).eval(), ids


def _logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_scale_zero_is_the_base_model_and_the_adapter_comes_back_as_trained(model_and_ids):
    model, ids = model_and_ids
    trained = _logits(model, ids)
    with model.disable_adapter():
        base = _logits(model, ids)
    assert not torch.allclose(trained, base)  # the adapter changes the answer, so the checks below can fail
    with lora_scaled(model, 0.0):
        assert torch.allclose(_logits(model, ids), base, atol=1e-6)
    with lora_scaled(model, 0.5):
        half = _logits(model, ids)
    assert not torch.allclose(half, base) and not torch.allclose(half, trained)
    assert torch.equal(_logits(model, ids), trained)


def test_a_plain_model_is_left_alone(tiny_model_dir, tmp_path):
    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    ids = tokenizer("ferry", return_tensors="pt").input_ids
    before = _logits(model, ids)
    with lora_scaled(model, 0.0) as same:
        assert same is model and torch.equal(_logits(model, ids), before)


def test_the_scale_travels_in_the_adapters_training_config(tmp_path):
    (tmp_path / "training_config.json").write_text(TrainingConfig(grounded_adapter_scale=0.25).model_dump_json())
    assert grounded_scale(tmp_path) == 0.25
    (tmp_path / "training_config.json").write_text(json.dumps({"lora_r": 16}))  # saved before the option
    assert grounded_scale(tmp_path) == DEFAULT_GROUNDED_SCALE == 0.5
    assert grounded_scale(None) == 1.0  # no adapter: nothing to scale


def test_the_engine_answers_grounded_requests_with_the_scaled_twin(tiny_model_dir, tmp_path):
    """Closed-book, grounded and base requests in one batch: at scale 0 the grounded row is the base model's."""
    from concurrent.futures import wait

    from domalign.serve.batching import Request
    from domalign.serve.chat import ChatParams
    from domalign.serve.engine import GROUNDED_TWIN, ServingEngine

    model, _ = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")
    lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(tmp_path / "adapter")
    (tmp_path / "adapter" / "training_config.json").write_text(TrainingConfig(grounded_adapter_scale=0.0)
                                                               .model_dump_json())
    engine = ServingEngine(lambda _: load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache"),
                           precision="fp32", batch_window_s=0.2, batch_max_wait_s=1.0)
    try:
        engine.add_adapter("tiny", "a1", tmp_path / "adapter")
        params = ChatParams(messages=[{"role": "user", "content": "Who runs the ferry?"}], max_tokens=12,
                            temperature=0)
        futures = [engine.submit("tiny", Request(adapter, params, grounded=grounded))
                   for adapter, grounded in (("a1", False), ("a1", True), (None, False))]
        wait(futures, timeout=60)
        closed, grounded, base = (f.result().choices[0] for f in futures)
        assert closed.text != base.text  # the adapter changes the answer, so the next check can fail
        assert (grounded.text, grounded.confidence) == (base.text, base.confidence)
        engine.remove_adapter("tiny", "a1")
        engine.add_adapter("tiny", "a2", tmp_path / "adapter")
        engine.remove_adapter("tiny", "a3")  # never loaded: nothing happens
        peft_model = engine._base("tiny").model
        assert set(peft_model.peft_config) == {"a2", "a2" + GROUNDED_TWIN}  # a1 and its twin are gone
    finally:
        engine.close()
