"""Take an aligned model elsewhere: the merged Hugging Face folder, or a GGUF file.

The GGUF writer uses the ``gguf`` package only (no llama.cpp binaries): its
tensor-name map gives the GGUF names, its vocab readers the tokenizer, and the
query/key rows are permuted the way llama.cpp's converter does (transformers'
GGUF loader undoes exactly that). Weights are written in fp32, so a model read
back answers as the served one does. Llama-architecture models only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from domalign.errors import InvalidInput

GGUF_ARCHITECTURES = {"llama": "LLAMA"}


def merge_adapter(base: Any, adapter_dir: Path) -> Any:
    """A plain model with the LoRA weights folded in; ``base`` is consumed (load a fresh copy)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()


def save_merged(model: Any, tokenizer: Any, target: Path) -> None:
    """config.json, model.safetensors and the tokenizer files: what ``from_pretrained`` reads."""
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def _permute(weights: Any, heads: int) -> Any:
    """llama.cpp's row order for rotary query/key projections (interleaved halves per head)."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).transpose(1, 2).reshape(
        weights.shape)


def write_gguf(folder: Path, target: Path, *, name: str, tokenizer_pre: str = "default") -> None:
    """Write ``folder`` (a merged model saved by :func:`save_merged`) as one fp32 GGUF file."""
    import gguf
    from safetensors.torch import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    arch = GGUF_ARCHITECTURES.get(config.model_type)
    if arch is None:
        raise InvalidInput(f"GGUF export supports llama-architecture models; this one is '{config.model_type}'")
    try:
        vocab = gguf.vocab.BpeVocab(folder)
    except (FileNotFoundError, ValueError) as exc:
        raise InvalidInput(f"GGUF export needs a GPT-2-style BPE tokenizer: {exc}") from exc
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer = gguf.GGUFWriter(str(target), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH[arch]])
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", None) or config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(vocab.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    tokens, _, types = zip(*vocab.all_tokens(), strict=True)
    writer.add_tokenizer_model(vocab.tokenizer_model)
    writer.add_tokenizer_pre(tokenizer_pre)
    writer.add_token_list(list(tokens))
    writer.add_token_types(list(types))
    gguf.SpecialVocab(folder, load_merges=True, n_vocab=vocab.vocab_size).add_to_gguf(writer, quiet=True)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch], config.num_hidden_layers)
    weights = {}
    for file in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(str(file)))
    if getattr(config, "tie_word_embeddings", False):
        weights.pop("lm_head.weight", None)  # the reader ties it back to the embeddings
    for hf_name, tensor in weights.items():
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise InvalidInput(f"GGUF export: no GGUF name for tensor '{hf_name}'")
        if hf_name.endswith("q_proj.weight"):
            tensor = _permute(tensor, heads)
        elif hf_name.endswith("k_proj.weight"):
            tensor = _permute(tensor, kv_heads)
        writer.add_tensor(gguf_name, tensor.float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
