"""A cache prefilled one adapter group at a time gives generate the answers of its own prefill."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from domalign.models.prefill import grouped_prefill, left_padded


def _two_adapter_model(tiny_model_dir):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    model = get_peft_model(base, config, adapter_name="reader")
    model.add_adapter("memory", LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"],
                                           init_lora_weights=False))
    return model.eval()


def _generate(model, rows, names, cache):
    ids, mask = left_padded(rows, pad=0)
    return model.generate(input_ids=ids, attention_mask=mask, adapter_names=names, do_sample=False, max_new_tokens=6,
                          pad_token_id=0, eos_token_id=None, return_dict_in_generate=True, output_logits=True,
                          **({"past_key_values": cache} if cache is not None else {}))


@pytest.mark.parametrize("names, groups", [
    (["reader", "memory", "reader", "memory"], None),  # one group per adapter
    (["reader", "reader", "reader", "memory"], ["long", "short", "long", "short"]),  # split within an adapter
])
def test_grouped_prefill_matches_a_joint_prefill(tiny_model_dir, names, groups):
    model = _two_adapter_model(tiny_model_dir)
    torch.manual_seed(1)
    long_rows = [torch.randint(3, 200, (n,)).tolist() for n in (40, 33)]
    short_rows = [torch.randint(3, 200, (n,)).tolist() for n in (5, 9)]
    rows = [long_rows[0], short_rows[0], long_rows[1], short_rows[1]]
    with torch.inference_mode():
        cache = grouped_prefill(model, rows, names, pad=0, groups=groups)
        assert cache is not None and cache.get_seq_length() == 39  # the widest row but its last token
        grouped = _generate(model, rows, names, cache)
        joint = _generate(model, rows, names, None)
    assert torch.equal(grouped.sequences, joint.sequences)
    for a, b in zip(grouped.logits, joint.logits, strict=True):
        assert torch.allclose(a, b, atol=1e-4)


def test_nothing_to_prefill_leaves_it_to_generate(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.inference_mode():
        assert grouped_prefill(model, [[5], [7]], [None, None], pad=0) is None
        assert grouped_prefill(model, [[5, 6, 7], [7]], [None, None], pad=0) is not None
