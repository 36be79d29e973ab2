"""Deploy, chat through the official openai client (streaming too), undeploy — real server, real HTTP."""

from __future__ import annotations

import concurrent.futures
import re

import httpx
import openai
import pytest

from domalign.retrieval import GROUNDED_PASSAGES, grounded_question
from tests.conftest import start_server, stop_server, wait_for

FAST = {"max_steps": 6, "batch_size": 4, "learning_rate": 0.02}
PROMPT = [{"role": "user", "content": "Who founded the Quillmere Ferry Cooperative?"}]


def _align(client: httpx.Client, doc_ids: list[str], seed: int, refusal_share: float = 0.0, **training) -> dict:
    body = {"name": f"serve-{seed}", "base_model": "tiny-llama", "document_ids": doc_ids,
            "training": {**FAST, "seed": seed, **training},
            "synthesis": {"num_benchmark_questions": 4, "seed": seed, "refusal_share": refusal_share}}
    alignment_id = client.post("/alignment/create", json=body).json()["id"]
    return wait_for(lambda: (s := client.get(f"/alignment/status/{alignment_id}").json())["status"] == "evaluated"
                    and s["data"], timeout=180)


def _operate(client: httpx.Client, action: str, model_id: str) -> dict:
    started = client.post(f"/models/{action}-model/{model_id}")
    assert started.status_code == 202, started.text
    return wait_for(lambda: (s := client.get(f"/models/{action}-model/{model_id}/status").json())["status"]
                    != "PENDING" and s, timeout=120)


@pytest.fixture(scope="module")
def deployed(server, user_key, corpus_ids):
    with server.client(user_key) as client:
        # the first learned to decline (its requests run guarded, beside the others'); the second answers grounded
        # requests as the base model would (grounded_adapter_scale 0, no memory view)
        projects = [_align(client, corpus_ids, 1, refusal_share=0.05),
                    _align(client, corpus_ids, 2, grounded_adapter_scale=0.0, grounded_memory_weight=0.0)]
        for project in projects:
            assert _operate(client, "deploy", project["model_id"])["status"] == "COMPLETED"
    return projects


@pytest.fixture()
def oai(server, user_key):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=user_key, max_retries=0)


def test_deploy_shows_on_the_model_and_the_project(api, deployed):
    models = {m["id"]: m for m in api.get("/models/aligned").json()["models"]}
    for project in deployed:
        assert models[project["model_id"]]["deployment_status"] == "DEPLOYED"
        assert api.get(f"/alignment/status/{project['id']}").json()["status"] == "evaluated"
        assert api.post(f"/models/deploy-model/{project['model_id']}").status_code == 409
        assert api.delete(f"/alignment/{project['id']}").status_code == 400


def test_official_client_lists_and_chats(oai, deployed):
    listed = {m.id for m in oai.models.list()}
    assert {"tiny-llama", "smollm2-135m-instruct"} <= listed
    assert {p["model_id"] for p in deployed} <= listed
    reply = oai.chat.completions.create(model=deployed[0]["model_id"], messages=PROMPT, max_tokens=8, temperature=0)
    assert reply.object == "chat.completion" and len(reply.choices) == 1
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.choices[0].finish_reason in ("stop", "length")
    # a few training steps can make the adapter's first greedy token the stop token: 0 is a valid count
    assert 0 <= reply.usage.completion_tokens <= 8 and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert 0 <= reply.model_extra["confidence_score"] <= 100
    base = oai.chat.completions.create(model="tiny-llama", messages=PROMPT, max_tokens=4, temperature=0)
    assert base.model_extra.get("confidence_score") is None
    assert 0 < base.usage.completion_tokens <= 4  # the base model's weights are fixed: this does not vary


def test_a_general_question_is_answered_by_the_base_model(oai, deployed):
    """Routing (on by default): a question that is not about the documents gets the base model's answer, and the
    response says so; a question about them gets the adapter."""
    general = [{"role": "user", "content": "What is the capital of France?"}]
    kwargs = {"max_tokens": 8, "temperature": 0}
    routed = oai.chat.completions.create(model=deployed[1]["model_id"], messages=general, **kwargs)
    base = oai.chat.completions.create(model="tiny-llama", messages=general, **kwargs)
    assert routed.model_extra["routed_to_base"] is True and base.model_extra.get("routed_to_base") is None
    assert routed.choices[0].message.content == base.choices[0].message.content
    domain = oai.chat.completions.create(model=deployed[1]["model_id"], messages=PROMPT, **kwargs)
    assert domain.model_extra["routed_to_base"] is False
    chunks = list(oai.chat.completions.create(model=deployed[1]["model_id"], messages=general, stream=True, **kwargs))
    assert [c.model_extra.get("routed_to_base") for c in chunks if c.choices and c.choices[0].finish_reason] == [True]


def test_streaming_matches_the_whole_answer(oai, deployed):
    kwargs = {"model": deployed[0]["model_id"], "messages": PROMPT, "max_tokens": 12, "temperature": 0}
    reply = oai.chat.completions.create(**kwargs)
    whole = reply.choices[0].message.content
    chunks = list(oai.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes in (["stop"], ["length"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == reply.usage.completion_tokens


def test_stop_strings_cut_the_answer(oai):
    kwargs = {"model": "tiny-llama", "messages": PROMPT, "max_tokens": 24, "temperature": 1.0, "seed": 3}
    whole = oai.chat.completions.create(**kwargs).choices[0].message.content
    # a visible two-character stop string whose first occurrence is in the middle of the answer
    starts = [i for i in range(1, len(whole) - 1) if whole[i:i + 2].strip() and whole.find(whole[i:i + 2]) == i]
    assert starts, f"the answer {whole!r} has no usable stop string"
    stop = whole[starts[len(starts) // 2]: starts[len(starts) // 2] + 2]
    cut = oai.chat.completions.create(**kwargs, stop=[stop]).choices[0]
    assert cut.message.content == whole[: whole.find(stop)] and cut.finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in
                       oai.chat.completions.create(**kwargs, stop=[stop], stream=True) if c.choices)
    assert streamed == cut.message.content


def test_sampling_with_a_seed_is_reproducible_and_n_gives_n_choices(oai, deployed):
    kwargs = {"model": deployed[0]["model_id"], "messages": PROMPT, "max_tokens": 8, "temperature": 1.0,
              "seed": 7, "n": 3}
    first, second = (oai.chat.completions.create(**kwargs) for _ in range(2))
    assert len(first.choices) == 3 and [c.index for c in first.choices] == [0, 1, 2]
    assert [c.message.content for c in first.choices] == [c.message.content for c in second.choices]


def test_concurrent_requests_never_use_the_wrong_adapter(oai, deployed):
    models = [p["model_id"] for p in deployed] + ["tiny-llama"]

    def ask(model: str) -> str:
        # seeded sampling: reproducible per model, and unlike greedy it tells near-identical models apart
        return oai.chat.completions.create(model=model, messages=PROMPT, max_tokens=10, temperature=1.0,
                                           seed=11).choices[0].message.content

    reference = {m: ask(m) for m in models}
    assert len(set(reference.values())) == len(models), "the adapters must answer differently for this test"
    order = models * 4
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(ask, order))
    assert answers == [reference[m] for m in order]


CANDIDATES = ["Who founded the Quillmere Ferry Cooperative?", "Tell me about the ferries.", "Hello!",
              "What does the cooperative do in winter?", "List three harbours.", "Write a sentence about boats."]


def test_requests_that_arrive_together_are_batched_each_with_its_adapter(server, api, deployed):
    models = [p["model_id"] for p in deployed] + ["tiny-llama"]  # two adapters and their base, in one batch

    def ask(model: str, prompt: str) -> tuple[str, float | None]:
        reply = api.post("/inference/chat/completions", json={
            "model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8,
            "temperature": 0}).json()
        return reply["choices"][0]["message"]["content"], reply["confidence_score"]

    # greedy answers alone (batches of one); the prompt on which the models differ most (a few training
    # steps often make an adapter's first greedy token the stop token, while the base model talks)
    alone = {p: {m: ask(m, p) for m in models} for p in CANDIDATES}
    prompt = max(CANDIDATES, key=lambda p: len(set(alone[p].values())))
    reference = alone[prompt]
    assert len(set(reference.values())) >= 2, "the models must answer differently for this test"
    log = server.home / "server.log"
    before = len(re.findall(r"batch of (\d+)", log.read_text()))
    order = models * 5
    with concurrent.futures.ThreadPoolExecutor(max_workers=15) as pool:
        answers = list(pool.map(lambda m: ask(m, prompt), order))
    for model, (text, confidence) in zip(order, answers, strict=True):
        assert text == reference[model][0]
        assert confidence == reference[model][1] or abs(confidence - reference[model][1]) < 0.01
    sizes = [int(n) for n in re.findall(r"batch of (\d+)", log.read_text())]
    assert len(sizes) > before and max(sizes[before:]) > 1  # some requests shared a generate call


def test_bad_requests(server, oai, deployed, other_key):
    with pytest.raises(openai.NotFoundError, match="nope"):
        oai.chat.completions.create(model="nope", messages=PROMPT)
    stranger = openai.OpenAI(base_url=f"{server.url}/v1", api_key=other_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        stranger.chat.completions.create(model=deployed[0]["model_id"], messages=PROMPT)
    assert deployed[0]["model_id"] not in {m.id for m in stranger.models.list()}
    with pytest.raises(openai.BadRequestError, match="context"):
        oai.chat.completions.create(model="tiny-llama", messages=PROMPT, max_tokens=5000)
    raw = httpx.post(f"{server.url}/api/v3/inference/chat/completions", json={"model": "tiny-llama"},
                     headers={"Authorization": f"Bearer {oai.api_key}"})
    assert raw.status_code == 422
    assert httpx.post(f"{server.url}/v1/chat/completions", json={"model": "x", "messages": PROMPT}).status_code == 401


def test_long_prompt_is_truncated_from_the_left(server, user_key):
    long = [{"role": "user", "content": "ferry " * 3000}]
    response = httpx.post(f"{server.url}/api/v3/inference/chat/completions", timeout=120,
                          json={"model": "tiny-llama", "messages": long, "max_tokens": 4, "temperature": 0},
                          headers={"Authorization": f"Bearer {user_key}"})
    assert response.status_code == 200 and response.json()["prompt_truncated"] is True
    assert response.json()["usage"]["prompt_tokens"] == 1024 - 4


def test_grounded_answers_cite_passages_of_the_models_documents(server, oai, deployed, corpus_ids, other_key):
    grounded = {"grounded": True, "passages": 2}
    kwargs = {"model": deployed[0]["model_id"], "messages": PROMPT, "max_tokens": 6, "temperature": 0}
    reply = oai.chat.completions.create(**kwargs, extra_body=grounded)
    cites = reply.model_extra["citations"]
    assert len(cites) == 2 and all(c["document_id"] in corpus_ids for c in cites)
    assert "Ansel Varro" in cites[0]["text"] and cites[0]["score"] >= cites[1]["score"] > 0
    plain = oai.chat.completions.create(**kwargs)
    assert plain.model_extra.get("citations") is None
    assert reply.usage.prompt_tokens > plain.usage.prompt_tokens + 40  # the passages went into the prompt
    chunks = list(oai.chat.completions.create(**kwargs, stream=True, extra_body=grounded))
    assert [c.model_extra.get("citations") for c in chunks if c.choices and c.choices[0].finish_reason] == [cites]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content

    # more passages than fit the 1024-token context: the worst are dropped, not the best cut off
    every = {"grounded": True, "passages": 20}
    roomy = oai.chat.completions.create(**{**kwargs, "max_tokens": 4}, extra_body=every).model_extra
    crowded = oai.chat.completions.create(**{**kwargs, "max_tokens": 500}, extra_body=every).model_extra
    assert 1 <= len(crowded["citations"]) < len(roomy["citations"]) and crowded["prompt_truncated"] is False
    kept = crowded["citations"]
    assert kept == roomy["citations"][: len(kept)] and kept[0] == cites[0]

    base = {"model": "tiny-llama", "messages": PROMPT, "max_tokens": 2}
    with pytest.raises(openai.BadRequestError, match="document_ids"):
        oai.chat.completions.create(**base, extra_body={"grounded": True})
    picked = oai.chat.completions.create(**base, extra_body={"grounded": True, "document_ids": corpus_ids[:1]})
    assert {c["document_id"] for c in picked.model_extra["citations"]} == {corpus_ids[0]}
    assert len(picked.model_extra["citations"]) == GROUNDED_PASSAGES  # the default number of passages
    stranger = openai.OpenAI(base_url=f"{server.url}/v1", api_key=other_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):  # someone else's documents do not exist for you
        stranger.chat.completions.create(**base, extra_body={"grounded": True, "document_ids": corpus_ids[:1]})


def test_grounded_requests_use_the_adapters_grounded_scale(oai, deployed, corpus_ids):
    aligned, kwargs = deployed[1]["model_id"], {"max_tokens": 16, "temperature": 0}
    reply = oai.chat.completions.create(model=aligned, messages=PROMPT, **kwargs,
                                        extra_body={"grounded": True, "passages": 2})
    passages = [c["text"] for c in reply.model_extra["citations"]]
    # the very prompt the grounded request sent, asked closed-book: the adapter then speaks at full strength
    same = [{"role": "user", "content": grounded_question(PROMPT[0]["content"], passages)}]
    full = oai.chat.completions.create(model=aligned, messages=same, **kwargs)
    assert full.usage.prompt_tokens == reply.usage.prompt_tokens
    # (a few steps barely move this random model's answers: tests/unit/test_adapter_scale.py tells the scales apart)
    base = oai.chat.completions.create(model="tiny-llama", messages=same, **kwargs)
    assert reply.choices[0].message.content == base.choices[0].message.content  # at scale 0: the base model
    streamed = oai.chat.completions.create(model=aligned, messages=PROMPT, **kwargs, stream=True,
                                           extra_body={"grounded": True, "passages": 2})
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content
    assert [c.model_extra.get("confidence_score") for c in chunks if c.choices and c.choices[0].finish_reason] == [
        reply.model_extra["confidence_score"]]


def test_undeploy_frees_the_model(api, oai, deployed, other_api):
    project = deployed[1]
    assert other_api.post(f"/models/undeploy-model/{project['model_id']}").status_code == 404
    assert _operate(api, "undeploy", project["model_id"])["status"] == "COMPLETED"
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model=project["model_id"], messages=PROMPT, max_tokens=2)
    assert api.get(f"/alignment/status/{project['id']}").json()["status"] == "undeployed"
    assert api.post(f"/models/undeploy-model/{project['model_id']}").status_code == 409
    assert oai.chat.completions.create(model=deployed[0]["model_id"], messages=PROMPT, max_tokens=2).choices


def test_auto_precision_serves_bf16_where_the_cpu_computes_it_natively(tmp_path, tiny_model_dir):
    import torch

    from domalign.models.precision import use_bf16

    proc, srv = start_server(tmp_path, {"DOMALIGN_SERVE_PRECISION": "auto"})
    try:
        assert srv.cli("models", "add", "tiny-llama", str(tiny_model_dir)).returncode == 0
        with srv.client(srv.create_user("bf16")) as client:
            reply = client.post("/inference/chat/completions", json={"model": "tiny-llama", "messages": PROMPT,
                                                                     "max_tokens": 3})
        assert reply.status_code == 200, reply.text
    finally:
        stop_server(proc)
    expected = torch.bfloat16 if use_bf16("auto", torch.device("cpu")) else torch.float32
    assert f"serving tiny-llama in {expected}" in (tmp_path / "server.log").read_text()


def test_a_client_that_disconnects_mid_stream_stops_its_generation(server, api, user_key):
    body = {"model": "tiny-llama", "messages": PROMPT, "max_tokens": 900, "temperature": 0}  # ~1.3 s in full
    log = server.home / "server.log"

    def last_batch_seconds() -> float:
        return float(re.findall(r"batch of 1 in ([0-9.]+) s", log.read_text())[-1])

    full = api.post("/inference/chat/completions", json=body).json()
    assert full["usage"]["completion_tokens"] == 900, "the test needs an answer that runs to max_tokens"
    whole = last_batch_seconds()
    batches = len(re.findall(r"batch of 1 in", log.read_text()))
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {user_key}"}, timeout=60) as client:
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
            next(response.iter_lines())  # the first chunk, then hang up
    wait_for(lambda: len(re.findall(r"batch of 1 in", log.read_text())) > batches, timeout=60)
    assert last_batch_seconds() < whole / 4  # the row stopped soon after the client left (~0.01 s here)


def test_grounded_answers_with_the_memory_view_stream_the_same_answer(oai, deployed):
    """The first model fuses its closed-book view into grounded answers (the default): streamed or not, greedy
    decoding gives one answer with one confidence."""
    kwargs = {"model": deployed[0]["model_id"], "messages": PROMPT, "max_tokens": 16, "temperature": 0,
              "extra_body": {"grounded": True, "passages": 2}}
    reply = oai.chat.completions.create(**kwargs)
    assert reply.model_extra["citations"]  # a random tiny model may stop at once: the answer can be empty
    chunks = list(oai.chat.completions.create(**kwargs, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content
    assert [c.model_extra.get("confidence_score") for c in chunks if c.choices and c.choices[0].finish_reason] == [
        reply.model_extra["confidence_score"]]
