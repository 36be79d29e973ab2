"""LoRA training on a tiny random llama: tests that fail when training is wrong."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pydantic
import pytest
import torch
from safetensors.torch import load_file

from domalign.domain import TrainExample
from domalign.errors import Cancelled, Conflict, InvalidInput
from domalign.models.loader import load_base_model
from domalign.models.precision import tf32_products, use_bf16
from domalign.train import TrainingConfig, train_lora
from domalign.train.data import (
    IGNORE_INDEX,
    Encoded,
    collate,
    collate_packed,
    encode_example,
    epoch_batches,
    pack,
    packed_rows,
    prepare_data,
    render_chat,
)
from domalign.train.lora import (
    TIMING_STEPS,
    WarmupLinearDecay,
    _labelled_loss_sum,
    _loss_sum,
    _packing_holds,
    _pick_loss,
    attached_lora,
)

FACTS = [
    ("What colour is the Zorbex valve?", "The Zorbex valve is teal."),
    ("Who maintains pump 7?", "Pump 7 is maintained by Ilse Varga."),
    ("What pressure does line B run at?", "Line B runs at 40 bar."),
    ("When is the filter replaced?", "The filter is replaced every 90 days."),
]
EXAMPLES = [TrainExample(q, a, kind="qa") for q, a in FACTS] * 4 + [
    TrainExample(None, "Valves are inspected weekly. Pumps are inspected monthly.", kind="raw"),
    TrainExample(None, "Line B carries coolant to the north hall.", kind="raw"),
]


def small_config(**overrides) -> TrainingConfig:
    options = dict(
        max_steps=6, learning_rate=1e-2, batch_size=4, lora_r=8, lora_alpha=16,
        warmup_ratio=0.0, validation_fraction=0.0, max_seq_len=96,
        num_threads=1,  # a tiny model gains nothing from more, and OpenMP threads stall when cores are shared
    )
    return TrainingConfig(**{**options, **overrides})


@pytest.fixture
def model_and_tokenizer(tiny_model_dir, tmp_path):
    return load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")


def snapshot(model) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter_model.safetensors")


def test_training_lowers_loss_changes_lora_and_leaves_base_bit_identical(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    # A random llama's final RMSNorm bounds its logits near uniform (loss ≈ ln(vocab)) whatever
    # LoRA does; widening it gives the logit range a trained model has, so the loss can fall.
    with torch.no_grad():
        model.model.norm.weight.mul_(10)
    before = snapshot(model)
    grad_flags = {name: p.requires_grad for name, p in model.named_parameters()}
    progress = []

    result = train_lora(
        model, tokenizer, EXAMPLES, small_config(max_steps=20, validation_fraction=0.2),
        output_dir=tmp_path / "adapter", checkpoint_dir=tmp_path / "ckpt", on_progress=progress.append,
    )

    assert result.steps == 20 and len(result.losses) == 20 and result.resumed_from_step is None
    assert sum(result.losses[-5:]) / 5 < 0.8 * sum(result.losses[:5]) / 5
    assert result.validation_loss is not None and result.validation_loss > 0
    assert [p.step for p in progress] == list(range(1, 21))
    assert progress[-1].total_steps == 20 and progress[-1].epoch > 1

    files = {p.name for p in result.adapter_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "training_config.json"} <= files
    lora_b = {k: v for k, v in adapter_weights(result.adapter_dir).items() if "lora_B" in k}
    assert len(lora_b) == 2 * 7  # 2 layers × 7 target modules
    assert all(v.abs().max() > 0 for v in lora_b.values())  # PEFT initializes B to zeros

    after = snapshot(model)
    assert after.keys() == before.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any("lora" in name for name, _ in model.named_modules())
    assert {name: p.requires_grad for name, p in model.named_parameters()} == grad_flags
    assert not model.training and not hasattr(model, "peft_config")


def test_prompt_tokens_are_masked_and_raw_text_is_learned_whole(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    question, answer = FACTS[0]
    prefix, _ = render_chat(tokenizer, question, answer)

    item = encode_example(tokenizer, TrainExample(question, answer, kind="qa"), small_config())
    masked = [t for t, label in zip(item.input_ids, item.labels, strict=True) if label == IGNORE_INDEX]
    learned = [label for label in item.labels if label != IGNORE_INDEX]
    assert tokenizer.decode(masked) == prefix
    assert tokenizer.decode(learned).strip() == answer + tokenizer.eos_token
    assert item.labels[: len(masked)] == [IGNORE_INDEX] * len(masked)  # the mask is one prefix

    qa = TrainExample(question, answer, kind="qa")
    whole = encode_example(tokenizer, qa, small_config(loss_on_completion_only=False))
    assert whole.labels == whole.input_ids == item.input_ids

    raw = encode_example(tokenizer, TrainExample(None, "Line B runs at 40 bar.", kind="raw"), small_config())
    assert raw.labels == raw.input_ids and raw.input_ids[-1] == tokenizer.eos_token_id

    truncated = encode_example(tokenizer, qa, small_config(max_seq_len=len(masked)))
    assert truncated is None  # nothing of the answer left to learn


def test_grounded_items_have_their_own_length_limit(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    passages = "Line B carries coolant to the north hall. " * 12
    qa, grounded = (TrainExample(f"{passages}\nWhere does line B go?", "The north hall.", kind=kind)
                    for kind in ("qa", "grounded"))
    config = small_config(max_seq_len=64, grounded_max_seq_len=512)
    assert encode_example(tokenizer, qa, config) is None  # cut before its answer
    whole = encode_example(tokenizer, grounded, config)
    learned = [label for label in whole.labels if label != IGNORE_INDEX]
    assert 64 < len(whole.input_ids) <= 512 and "The north hall." in tokenizer.decode(learned)


def test_packed_items_are_the_templates_own_multi_turn_conversation(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    config = small_config(pack_turns=3, max_seq_len=512)
    qa = [encode_example(tokenizer, TrainExample(q, a, kind="qa"), config) for q, a in FACTS]
    raw = encode_example(tokenizer, EXAMPLES[-1], config)

    packed = pack([qa[0], qa[1], raw, qa[2], qa[3]], turns=3, max_len=512)
    assert len(packed) == 3 and packed[0] is raw  # raw text is never joined; 4 exchanges make 3 + 1
    conversation = [m for q, a in FACTS[:3] for m in ({"role": "user", "content": q},
                                                       {"role": "assistant", "content": a})]
    assert tokenizer.decode(packed[1].input_ids) == tokenizer.apply_chat_template(conversation, tokenize=False)
    learned = [t for t, label in zip(packed[1].input_ids, packed[1].labels, strict=True) if label != IGNORE_INDEX]
    assert learned == [t for item in qa[:3] for t in item.labels if t != IGNORE_INDEX]  # each answer, nothing else
    assert packed[-1].input_ids == qa[3].input_ids  # the fourth starts a conversation of its own

    one = sum(len(item.input_ids) for item in qa[:3])
    assert len(packed[1].input_ids) < one - 2 * 20  # the system head is paid once, not three times
    roomy = pack(qa, turns=3, max_len=len(qa[0].input_ids) + 5)
    assert [p.input_ids for p in roomy] == [q.input_ids for q in qa]  # max_len is never exceeded
    assert pack(qa, turns=1, max_len=512) == qa


def test_training_on_packed_conversations_lowers_the_loss(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    with torch.no_grad():
        model.model.norm.weight.mul_(10)  # as above: lets a random llama's loss fall
    result = train_lora(model, tokenizer, EXAMPLES, small_config(max_steps=20, pack_turns=4),
                        output_dir=tmp_path / "adapter", checkpoint_dir=tmp_path / "ckpt")
    assert result.steps == 20
    assert sum(result.losses[-5:]) / 5 < 0.8 * sum(result.losses[:5]) / 5


def test_length_bucketing_covers_every_example_once_and_is_seeded():
    lengths = [5, 50, 7, 48, 6, 49, 8, 47, 9, 46, 10, 45]
    batches = epoch_batches(lengths, 2, seed=3, epoch=0)
    assert sorted(i for batch in batches for i in batch) == list(range(12))
    assert all(abs(lengths[a] - lengths[b]) <= 3 for a, b in batches)  # like lengths share a batch
    assert batches == epoch_batches(lengths, 2, seed=3, epoch=0)
    assert batches != epoch_batches(lengths, 2, seed=3, epoch=1)


def test_random_batches_for_packing_cover_every_example_once_and_mix_lengths():
    lengths = [5, 50, 7, 48, 6, 49, 8, 47, 9, 46, 10, 45]
    batches = epoch_batches(lengths, 2, seed=3, epoch=0, mega_batch=1)
    assert sorted(i for batch in batches for i in batch) == list(range(12))
    assert any(abs(lengths[a] - lengths[b]) > 30 for a, b in batches)  # a short and a long one share a batch
    assert batches == epoch_batches(lengths, 2, seed=3, epoch=0, mega_batch=1)


def test_the_short_remainder_batch_closes_every_epoch():
    lengths = list(range(5, 5 + 17))  # 17 examples in batches of 4: one left over
    for mega_batch in (1, 50):
        for epoch in range(20):
            batches = epoch_batches(lengths, 4, seed=1, epoch=epoch, mega_batch=mega_batch)
            assert sorted(i for batch in batches for i in batch) == list(range(17))
            assert [len(batch) for batch in batches] == [4, 4, 4, 4, 1]
    assert len({epoch_batches(lengths, 4, seed=1, epoch=e)[-1][0] for e in range(20)}) > 1  # not always the same one


def test_packed_rows_are_balanced_and_never_split_an_item():
    items = [Encoded([1] * n, [1] * n) for n in (30, 200, 120, 90, 60, 250)]
    rows = packed_rows(items, row_tokens=256)  # 750 tokens: three rows
    assert sorted(len(item.input_ids) for row in rows for item in row) == [30, 60, 90, 120, 200, 250]
    assert sorted(sum(len(item.input_ids) for item in row) for row in rows) == [240, 250, 260]  # near-even ends
    assert len(packed_rows(items[:2], row_tokens=2048)) == 1  # a batch that fits is one row
    narrow = packed_rows(items, row_tokens=1)  # rows are never narrower than the longest item
    assert [len(row) for row in narrow] == [len(row) for row in packed_rows(items, row_tokens=250)]
    long_one = [Encoded([1] * 1000, [1] * 1000)] + [Encoded([1] * 60, [1] * 60)] * 7
    assert sorted(len(row) for row in packed_rows(long_one, row_tokens=256)) == [1, 7]  # not 7 rows of 1000

    assert collate_packed(rows, pad_token_id=7)["input_ids"].shape == (3, 260)  # 30 of 780 positions padding
    uneven = collate_packed([[items[0], items[1]], [items[2]]], pad_token_id=7)
    assert uneven["input_ids"].shape == (2, 230)
    tail = slice(120, 230)  # the second row's padding: pad ids at position 0, unlabelled
    assert (uneven["input_ids"][1, tail] == 7).all() and (uneven["position_ids"][1, tail] == 0).all()
    assert (uneven["labels"][1, tail] == IGNORE_INDEX).all()
    assert uneven["position_ids"][0, 30].item() == 0 and uneven["labels"][0, 30].item() == IGNORE_INDEX


def test_packed_items_score_as_if_padded_and_only_with_restarting_positions(model_and_tokenizer, monkeypatch):
    model, tokenizer = model_and_tokenizer
    data = prepare_data(tokenizer, EXAMPLES, small_config())
    items = data.train[:6]
    padded = collate(items, pad_token_id=0)
    packed = collate_packed(packed_rows(items, row_tokens=128), pad_token_id=0)
    assert packed["input_ids"].shape[0] < len(items)  # rows hold several items each
    labelled = [int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) for batch in (packed, padded)]
    assert labelled[0] == labelled[1]  # the same positions are learned
    with torch.no_grad():
        assert _loss_sum(model, packed).item() == pytest.approx(_loss_sum(model, padded).item(), rel=1e-5)
    assert _packing_holds(model, items, pad_id=0)

    def continuous(rows, pad_token_id):  # what a model that ignores packed position ids would compute
        tensors = collate_packed(rows, pad_token_id)
        tensors["position_ids"] = torch.arange(tensors["input_ids"].shape[1]).expand_as(tensors["input_ids"])
        return tensors

    monkeypatch.setattr("domalign.train.lora.collate_packed", continuous)
    assert not _packing_holds(model, items, pad_id=0)  # items reading each other are caught
    assert model.training is False  # restored (the fixture's model is in eval mode)


def test_training_on_a_cpu_uses_eager_attention_and_restores_the_models(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    before = model.config._attn_implementation
    seen = []
    hook = model.model.register_forward_pre_hook(lambda *_: seen.append(model.config._attn_implementation))
    train_lora(model, tokenizer, EXAMPLES, small_config(max_steps=2), output_dir=tmp_path / "adapter",
               checkpoint_dir=tmp_path / "ckpt")
    hook.remove()
    assert before != "eager" and set(seen) == {"eager"}
    assert model.config._attn_implementation == before


def test_compiled_layers_train_as_plain_ones_and_are_plain_again_after(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    runs = {}
    for setting in ("off", "on"):
        seen: list[bool] = []

        def record(layer, _, seen=seen):
            if layer.training:
                seen.append(layer._compiled_call_impl is not None)

        hook = model.model.layers[0].register_forward_pre_hook(record)
        runs[setting] = train_lora(model, tokenizer, EXAMPLES, small_config(max_steps=6, compile_layers=setting),
                                   output_dir=tmp_path / setting, checkpoint_dir=tmp_path / f"ckpt-{setting}")
        hook.remove()
        assert set(seen) == {setting == "on"}
        assert all("_compiled_call_impl" not in vars(layer) for layer in model.model.layers)
    # the same function: equal losses step after step (the weights themselves differ in the last bits,
    # which Adam's first steps magnify where a gradient is near zero)
    assert runs["on"].losses == pytest.approx(runs["off"].losses, rel=1e-4)
    assert adapter_weights(runs["on"].adapter_dir).keys() == adapter_weights(runs["off"].adapter_dir).keys()


def test_padded_batches_still_train(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    with torch.no_grad():
        model.model.norm.weight.mul_(10)  # as above: lets a random llama's loss fall
    result = train_lora(model, tokenizer, EXAMPLES, small_config(max_steps=20, packing=False),
                        output_dir=tmp_path / "adapter", checkpoint_dir=tmp_path / "ckpt")
    assert result.steps == 20
    assert sum(result.losses[-5:]) / 5 < 0.8 * sum(result.losses[:5]) / 5


def test_resumed_run_matches_an_uninterrupted_one(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    # Dropout, accumulation, warmup and several epochs all carry state across the interruption.
    config = small_config(
        gradient_accumulation=2, warmup_ratio=0.3, lora_dropout=0.1, validation_fraction=0.1
    )
    straight = train_lora(
        model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ca"
    )

    calls = iter(range(100))
    saved = []
    with pytest.raises(Cancelled, match="step 3 of 6"):
        train_lora(
            model, tokenizer, EXAMPLES, config.model_copy(update={"checkpoint_every": 1}),
            output_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb",
            should_stop=lambda: next(calls) >= 3, on_checkpoint=saved.append,
        )
    assert saved == [1, 2, 3]
    kept = sorted(p.name for p in (tmp_path / "cb").iterdir())
    assert kept == ["step-2", "step-3"]  # only the newest two
    assert not (tmp_path / "b").exists()

    resumed = train_lora(
        model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb"
    )

    assert resumed.resumed_from_step == 3 and resumed.steps == 6
    assert resumed.losses == pytest.approx(straight.losses)
    assert resumed.validation_loss == pytest.approx(straight.validation_loss)
    a, b = adapter_weights(straight.adapter_dir), adapter_weights(resumed.adapter_dir)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_should_stop_saves_a_checkpoint_then_raises_cancelled(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    before = snapshot(model)
    calls = iter(range(100))

    with pytest.raises(Cancelled):
        train_lora(
            model, tokenizer, EXAMPLES, small_config(), output_dir=tmp_path / "out",
            checkpoint_dir=tmp_path / "ckpt", should_stop=lambda: next(calls) >= 2,
        )

    checkpoint = tmp_path / "ckpt" / "step-2"
    files = {p.name for p in checkpoint.iterdir()}
    assert {"adapter_model.safetensors", "trainer_state.pt", "state.json", "training_config.json"} <= files
    state = json.loads((checkpoint / "state.json").read_text())
    assert state["step"] == 2 and state["packed"] is True  # the layout, so a resume keeps the data order
    assert all(torch.equal(before[k], v) for k, v in snapshot(model).items())  # restored on cancel too

    with pytest.raises(Conflict, match="learning_rate"):
        train_lora(
            model, tokenizer, EXAMPLES, small_config(learning_rate=1e-3),
            output_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
        )


def test_unknown_target_module_is_invalid_input(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    with pytest.raises(InvalidInput, match="target_modules"):
        train_lora(
            model, tokenizer, EXAMPLES, small_config(target_modules=["no_such_proj"]),
            output_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"learning_rate": 0},
        {"learning_rate": -1e-4},
        {"lora_r": 0},
        {"batch_size": 0},
        {"lora_dropout": 1.0},
        {"validation_fraction": 0.9},
        {"target_modules": []},
        {"max_steps": 0},
        {"optimizer": "sgd"},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(pydantic.ValidationError):
        TrainingConfig(**bad)


def test_config_defaults_are_documented_and_round_trip():
    config = TrainingConfig()
    assert TrainingConfig.model_validate_json(config.model_dump_json()) == config
    assert all(field.description for field in TrainingConfig.model_fields.values())
    assert config.target_modules[0] == "q_proj" and config.loss_on_completion_only


def test_loss_on_labelled_positions_only_equals_the_full_loss(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    config = small_config()
    data = prepare_data(tokenizer, EXAMPLES, config)
    batch = collate(data.train[:4], pad_token_id=0)
    with attached_lora(model, config) as peft_model:
        peft_model.eval()
        with torch.no_grad():
            full, labelled = _loss_sum(peft_model, batch), _labelled_loss_sum(peft_model, batch)
        assert labelled.item() == pytest.approx(full.item(), rel=1e-5)
        assert _pick_loss(peft_model, batch) is _labelled_loss_sum


def test_bf16_weights_train_too(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    model.to(torch.bfloat16)
    before = snapshot(model)
    result = train_lora(
        model, tokenizer, EXAMPLES, small_config(max_steps=3, precision="bf16"),
        output_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
    )
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    lora_b = [w for name, w in adapter_weights(result.adapter_dir).items() if "lora_B" in name]
    assert lora_b and any(w.abs().sum() > 0 for w in lora_b)  # LoRA B starts at zero: it learned
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_time_budget_counts_the_time_before_a_resume(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    config = small_config(max_steps=1_000_000, max_time_s=4.0, checkpoint_every=10_000)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        train_lora(model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
                   should_stop=lambda: time.monotonic() - started > 2.0)
    state = json.loads(next((tmp_path / "ckpt").glob("step-*/state.json")).read_text())
    assert 1.5 <= state["elapsed_s"] < 4.0 and state["planned_steps"] > state["step"]  # setup is not counted
    resumed_at = time.monotonic()
    result = train_lora(model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "out",
                        checkpoint_dir=tmp_path / "ckpt")
    assert result.resumed_from_step == state["step"] and result.steps > state["step"]
    assert time.monotonic() - resumed_at < 4.0 - state["elapsed_s"] + 1.0  # the rest of the budget, not all of it


def test_early_stopping_without_validation_examples_is_invalid(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    config = small_config(validation_fraction=0.01, early_stopping_patience=2)  # 18 examples: none held out
    with pytest.raises(InvalidInput, match="validation"):
        train_lora(model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "o", checkpoint_dir=tmp_path / "c")


def test_precision_choice():
    cpu = torch.device("cpu")
    assert use_bf16("bf16", cpu) and not use_bf16("fp32", cpu)
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert use_bf16("auto", cpu) == native


def test_tf32_products_only_on_cuda_under_bf16_and_restored_after():
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    for precision, device, inside in [("bf16", "cuda", "tf32"), ("fp32", "cuda", before), ("bf16", "cpu", before)]:
        with tf32_products(precision, torch.device(device)):
            assert matmul.fp32_precision == inside, (precision, device)
        assert matmul.fp32_precision == before
    with pytest.raises(RuntimeError), tf32_products("bf16", torch.device("cuda")):
        raise RuntimeError("a failed step")
    assert matmul.fp32_precision == before


def test_time_budget_sizes_the_schedule_so_the_rate_decays_in_time(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    seen = []
    config = small_config(max_steps=1_000_000, max_time_s=3.0, warmup_ratio=0.1, checkpoint_every=10_000)
    result = train_lora(
        model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
        on_progress=seen.append,
    )
    planned = seen[-1].total_steps
    assert TIMING_STEPS < result.steps <= planned < 1_000_000
    assert result.steps >= 0.7 * planned  # the plan was about what fit in the budget
    rates = [p.learning_rate for p in seen]
    peak = config.learning_rate
    assert max(rates) == pytest.approx(peak, rel=0.05)
    assert rates[-1] < 0.35 * peak  # decayed, instead of stopping near the peak


def test_a_longer_plan_made_at_the_end_of_the_warm_up_keeps_its_peak():
    schedule = WarmupLinearDecay(0.1, 200)  # warm-up: 20 steps
    assert schedule(19) == pytest.approx(0.95)
    schedule.resize(260, step=20)  # 26 steps at the new length: the finished warm-up keeps its 20
    assert schedule(20) == 1.0 and schedule(260) == 0.0
    early = WarmupLinearDecay(0.1, 200)
    early.resize(300, step=10)  # re-planned mid warm-up: the warm-up follows the plan
    assert early(15) == pytest.approx(0.5) and early(30) == 1.0


def test_early_stopping_ends_a_run_whose_validation_loss_stops_improving(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    # steps this large (learning rate 1, LoRA scaled by 64) make the tiny model's validation loss climb after a few
    # steps; at alpha 16 the loss kept falling to step 40 in a fresh install on 2026-12-01 (10.94 → 10.60)
    config = small_config(max_steps=40, learning_rate=1.0, lora_alpha=512, validation_fraction=0.2,
                          early_stopping_patience=2, validation_every=2)
    seen = []
    result = train_lora(model, tokenizer, EXAMPLES, config, output_dir=tmp_path / "out",
                        checkpoint_dir=tmp_path / "ckpt", on_progress=seen.append)
    checks = [p.validation_loss for p in seen if p.validation_loss is not None]
    assert result.stopped_early and result.steps < 40 and result.steps == 2 * len(checks)
    assert min(checks[-2:]) >= min(checks[:-2])  # the last two checks beat nothing before them
    assert (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_early_stopping_needs_a_validation_split():
    with pytest.raises(pydantic.ValidationError, match="validation_fraction"):
        TrainingConfig(early_stopping_patience=3, validation_fraction=0)
