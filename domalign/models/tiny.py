"""Build a tiny random llama model folder for fast tests and local experiments.

It borrows the embedded model's tokenizer (and so its chat template), which is
the only real tokenizer available offline, and pairs it with a few-layer random
llama so a whole workflow runs in seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_llama(path: Path, *, hidden_size: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write a random ``LlamaForCausalLM`` with the embedded tokenizer to ``path``; return it."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from domalign.models.embedded import embedded_gguf_path

    gguf = embedded_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
