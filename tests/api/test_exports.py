"""Exports loaded back with the libraries a user would use; their greedy answers match the served model's."""

from __future__ import annotations

import io
import tarfile

import pytest
import torch

from tests.conftest import wait_for

PROMPTS = ["Who founded the Quillmere Ferry Cooperative?", "How many ferries are there?", "Say hello."]
NEW_TOKENS = 12


@pytest.fixture(scope="module")
def served(server, user_key, corpus_ids):
    """An aligned tiny model, deployed, and the served greedy answer to each prompt."""
    with server.client(user_key) as client:
        body = {"name": "export", "base_model": "tiny-llama", "document_ids": corpus_ids,
                "training": {"max_steps": 6, "batch_size": 4, "learning_rate": 0.02},
                "synthesis": {"num_benchmark_questions": 4}}
        alignment_id = client.post("/alignment/create", json=body).json()["id"]
        model_id = wait_for(lambda: (s := client.get(f"/alignment/status/{alignment_id}").json())["status"]
                            == "evaluated" and s["data"]["model_id"], timeout=180)
        client.post(f"/models/deploy-model/{model_id}")
        wait_for(lambda: client.get(f"/models/deploy-model/{model_id}/status").json()["status"] == "COMPLETED")
        answers = []
        for prompt in PROMPTS:
            reply = client.post("/inference/chat/completions", json={
                "model": model_id, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": NEW_TOKENS, "temperature": 0}).json()
            answers.append(reply["choices"][0]["message"]["content"])
    return model_id, answers


def _greedy(model, tokenizer) -> list[str]:
    from domalign.models.tokens import stop_token_ids

    out = []
    for prompt in PROMPTS:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            generated = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False,
                                       eos_token_id=stop_token_ids(model, tokenizer), pad_token_id=0)
        out.append(tokenizer.decode(generated[0, ids.shape[1]:], skip_special_tokens=True))
    return out


def _untar(content: bytes, where) -> None:
    with tarfile.open(fileobj=io.BytesIO(content)) as archive:
        archive.extractall(where, filter="data")


def test_adapter_export_loads_onto_the_base_with_peft(api, served, tmp_path, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id, answers = served
    response = api.get(f"/models/{model_id}/download", params={"format": "adapter"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-tar"
    assert f'filename="{model_id}-adapter.tar"' in response.headers["content-disposition"]
    _untar(response.content, tmp_path)
    assert {p.name for p in (tmp_path / "adapter").iterdir()} >= {"adapter_config.json",
                                                                   "adapter_model.safetensors"}
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    assert _greedy(model, AutoTokenizer.from_pretrained(tiny_model_dir)) == answers


def test_merged_export_loads_with_from_pretrained(api, served, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id, answers = served
    response = api.get(f"/models/{model_id}/download", params={"format": "merged"})
    assert response.status_code == 200
    _untar(response.content, tmp_path)
    folder = tmp_path / "merged"
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert _greedy(model, AutoTokenizer.from_pretrained(folder)) == answers


def test_gguf_export_loads_with_from_pretrained_gguf_file(api, served, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_id, answers = served
    response = api.get(f"/models/{model_id}/download", params={"format": "gguf"})
    assert response.status_code == 200 and response.content[:4] == b"GGUF"
    (tmp_path / "model.gguf").write_bytes(response.content)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="model.gguf").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file="model.gguf")
    assert _greedy(model, tokenizer) == answers
    again = api.get(f"/models/{model_id}/download", params={"format": "gguf"})
    assert again.content == response.content  # built once, served from the blob store


def test_export_errors(api, other_api, served):
    model_id, _ = served
    assert api.get(f"/models/{model_id}/download", params={"format": "onnx"}).status_code == 422
    assert other_api.get(f"/models/{model_id}/download").status_code == 404
    assert api.get("/models/model_unknown/download").status_code == 404
