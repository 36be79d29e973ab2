"""Serving: base models with their deployed LoRA adapters in memory, and chat generation."""
