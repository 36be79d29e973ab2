"""Base-model loading: local folders, GGUF files (dequantized once, then cached) and bad sources."""

from __future__ import annotations

import time

import pytest
import torch

from domalign.errors import InvalidInput
from domalign.models.embedded import embedded_gguf_path
from domalign.models.loader import gguf_cache_key, load_base_model, resolve_source


def test_tiny_folder_loads_in_eval_mode_with_pad_token(tiny_model_dir, tmp_path):
    model, tokenizer = load_base_model(str(tiny_model_dir), cache_dir=tmp_path / "cache")

    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.dtype == torch.float32
    assert not model.training
    assert tokenizer.pad_token is not None
    assert tokenizer.chat_template
    assert not (tmp_path / "cache").exists()  # only GGUF files are cached


def test_dtype_is_applied_and_checked(tiny_model_dir, tmp_path):
    model, _ = load_base_model(str(tiny_model_dir), cache_dir=tmp_path, dtype="bfloat16")
    assert model.dtype == torch.bfloat16

    with pytest.raises(InvalidInput, match="float32"):
        load_base_model(str(tiny_model_dir), cache_dir=tmp_path, dtype="int3")


def test_missing_pad_token_falls_back_to_eos(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    folder = tmp_path / "nopad"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).symlink_to(tiny_model_dir / name)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).pad_token is None

    _, loaded = load_base_model(str(folder), cache_dir=tmp_path)
    assert loaded.pad_token == loaded.eos_token


def test_resolve_source_classifies_sources(tiny_model_dir, tmp_path):
    assert resolve_source(str(tiny_model_dir)).kind == "folder"
    assert resolve_source(str(embedded_gguf_path())).kind == "gguf"
    hub = resolve_source("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (hub.kind, hub.location) == ("hub", "HuggingFaceTB/SmolLM2-135M-Instruct")


@pytest.mark.parametrize("name", ["missing-dir/model/x", "./missing", "/no/such/model", "missing.gguf"])
def test_missing_path_is_invalid_input(tmp_path, name):
    with pytest.raises(InvalidInput, match="does not exist"):
        resolve_source(name if not name.startswith("missing-") else str(tmp_path / name))


def test_folder_without_config_and_non_gguf_file_are_refused(tmp_path):
    with pytest.raises(InvalidInput, match="config.json"):
        load_base_model(str(tmp_path), cache_dir=tmp_path / "cache")
    text = tmp_path / "weights.bin"
    text.write_bytes(b"not a model")
    with pytest.raises(InvalidInput, match=".gguf"):
        resolve_source(str(text))


@pytest.mark.slow
def test_embedded_gguf_is_dequantized_once_then_loaded_from_cache(tmp_path):
    gguf = embedded_gguf_path()
    cache = tmp_path / "cache"

    start = time.perf_counter()
    first, tokenizer = load_base_model(str(gguf), cache_dir=cache)
    first_s = time.perf_counter() - start
    cached = cache / gguf_cache_key(gguf)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in cached.iterdir()}
    assert [p.name for p in cache.iterdir()] == [cached.name]  # no temporary folder left behind
    first_weights = {k: v.clone() for k, v in first.state_dict().items()}
    del first

    start = time.perf_counter()
    second, tokenizer2 = load_base_model(str(gguf), cache_dir=cache)
    second_s = time.perf_counter() - start

    print(f"embedded model: first load {first_s:.1f} s, cached load {second_s:.1f} s")
    assert second_s < first_s / 2
    assert sum(p.numel() for p in second.parameters()) == 134_515_008
    assert all(torch.equal(first_weights[k], v) for k, v in second.state_dict().items())
    assert tokenizer2.chat_template == tokenizer.chat_template
    assert tokenizer2.pad_token is not None
