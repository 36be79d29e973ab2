"""``domalign.client``: the sync and async clients against a real server, and a method for every route."""

from __future__ import annotations

import asyncio
import tarfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from domalign.api.app import create_app
from domalign.client import AsyncClient, Client
from domalign.demo.run import CORPUS
from domalign.errors import NotFound, Unauthorized

FAST = {"training": {"max_steps": 3}, "synthesis": {"num_benchmark_questions": 4}}

# every API route and the client method that calls it (a new route fails this test until the client has it)
ROUTES = {
    ("POST", "/documents"): "upload_documents", ("GET", "/documents"): "list_documents",
    ("GET", "/documents/{doc_id}"): "get_document", ("DELETE", "/documents/{doc_id}"): "delete_document",
    ("POST", "/benchmark/create"): "create_benchmark", ("POST", "/benchmark/upload"): "upload_benchmark",
    ("GET", "/benchmark/status/{benchmark_id}"): "benchmark_status", ("GET", "/benchmark/list"): "list_benchmarks",
    ("GET", "/benchmark/{benchmark_id}/data"): "benchmark_data",
    ("DELETE", "/benchmark/{benchmark_id}"): "delete_benchmark",
    ("POST", "/alignment/create"): "create_alignment", ("GET", "/alignment/status/{alignment_id}"): "alignment_status",
    ("GET", "/alignment"): "list_alignments", ("GET", "/alignment/{alignment_id}"): "get_alignment",
    ("DELETE", "/alignment/{alignment_id}"): "delete_alignment",
    ("POST", "/alignment/{alignment_id}/cancel"): "cancel_alignment",
    ("GET", "/alignment/{alignment_id}/events"): "alignment_events",
    ("GET", "/models/base"): "base_models", ("GET", "/models/aligned"): "aligned_models",
    ("POST", "/models/deploy-model/{model_id}"): "start_deployment",
    ("POST", "/models/undeploy-model/{model_id}"): "start_deployment",
    ("GET", "/models/deploy-model/{model_id}/status"): "deployment_status",
    ("GET", "/models/undeploy-model/{model_id}/status"): "deployment_status",
    ("GET", "/models/{model_id}/download"): "download_model",
    ("POST", "/evaluations"): "create_evaluation", ("GET", "/evaluations"): "list_evaluations",
    ("GET", "/evaluations/{eval_id}/status"): "evaluation_status",
    ("GET", "/evaluations/{eval_id}/results"): "evaluation_results",
    ("GET", "/evaluations/{eval_id}/download"): "evaluation_answers",
    ("POST", "/webhooks"): "create_webhook", ("GET", "/webhooks"): "list_webhooks",
    ("GET", "/webhooks/{webhook_id}"): "get_webhook", ("DELETE", "/webhooks/{webhook_id}"): "delete_webhook",
    ("GET", "/webhooks/{webhook_id}/deliveries"): "webhook_deliveries",
    ("POST", "/inference/chat/completions"): "chat",
}


def test_every_route_has_a_sync_and_an_async_method():
    paths = create_app().openapi()["paths"]
    routes = {(method.upper(), path.removeprefix("/api/v3")) for path, methods in paths.items()
              if path.startswith("/api/v3") and not path.startswith("/api/v3/alignment-project")  # an alias
              for method in methods}
    assert routes == set(ROUTES)
    for name in set(ROUTES.values()):
        assert callable(getattr(Client, name)) and callable(getattr(AsyncClient, name)), name
        assert asyncio.iscoroutinefunction(getattr(AsyncClient, name)), name


def test_sync_client_typed_answers_and_errors(server, tmp_path):
    key = server.create_user("client-sync")
    with Client(server.url, key) as api:
        doc_ids = api.upload_documents(sorted(CORPUS.glob("*.md")), ["demo"])
        assert len(doc_ids) == 4
        assert {d.id for d in api.list_documents()} == set(doc_ids)
        doc = api.get_document(doc_ids[0])
        assert doc.filename.endswith(".md") and doc.categories == ["demo"]

        items = [{"question": "What does a return ticket cost?", "answer": "25 crowns"},
                 {"question": "How often does the ferry run?", "answer": "every hour",
                  "choices": ["every hour", "twice a day", "weekly", "monthly"]}]
        bench_id = api.upload_benchmark(items, "mine")
        assert [b.id for b in api.list_benchmarks() if b.source == "uploaded"] == [bench_id]
        assert [i.answer for i in api.benchmark_data(bench_id).items] == ["25 crowns", "every hour"]

        alignment_id = api.create_alignment("typed", "tiny-llama", doc_ids, benchmark_id=bench_id, **FAST)
        events = list(api.follow_events(alignment_id))  # live until the job stops
        final = api.wait_for_alignment(alignment_id)
        assert final.status == "evaluated" and final.data.performance_metrics.accuracy_after is not None
        assert events[-1].type == "completed" and [e.id for e in api.all_events(alignment_id)] == [e.id for e in events]
        assert api.get_alignment(alignment_id).model_id == final.data.model_id
        assert alignment_id in [a.id for a in api.list_alignments().alignment_projects]

        model_id = final.data.model_id
        eval_id = api.create_evaluation("tiny-llama", bench_id, model_id)
        assert api.wait_for_evaluation(eval_id).status == "COMPLETED"
        results = api.evaluation_results(eval_id)
        assert results.summary_2 is not None and results.summary.total_questions == 2
        answers = api.evaluation_answers(eval_id)
        assert [a["expected"] for a in answers] == ["25 crowns", "every hour"] and "answer_2" in answers[0]
        assert eval_id in [e.id for e in api.list_evaluations(model_id=model_id).evaluations]

        hook = api.create_webhook("http://127.0.0.1:9/hook")
        assert len(hook.secret) >= 16 and api.get_webhook(hook.id).url == "http://127.0.0.1:9/hook"
        assert [w.id for w in api.list_webhooks()] == [hook.id]
        assert api.webhook_deliveries(hook.id).deliveries == []
        api.delete_webhook(hook.id)
        assert api.list_webhooks() == []

        saved = api.download_model(model_id, "adapter", tmp_path)
        with tarfile.open(saved) as archive:
            assert any(n.endswith("adapter_model.safetensors") for n in archive.getnames())

        with pytest.raises(NotFound, match="404"):
            api.alignment_status("alignment_doesnotexist")
        api.delete_document(doc_ids[-1])
        with pytest.raises(NotFound):
            api.get_document(doc_ids[-1])
    with Client(server.url, "da_wrong") as stranger, pytest.raises(Unauthorized, match="401"):
        stranger.list_documents()
    other = server.create_user("client-other")
    with Client(server.url, other) as api, pytest.raises(NotFound):  # someone else's id: 404, never a leak
        api.get_alignment(alignment_id)


def test_async_client_aligns_deploys_and_chats(server, tmp_path):
    key = server.create_user("client-async")

    async def scenario() -> tuple[str, str, str]:
        async with AsyncClient(server.url, key) as api:
            doc_ids = await api.upload_documents(sorted(CORPUS.glob("*.md")))
            alignment_id = await api.create_alignment("async", "tiny-llama", doc_ids, **FAST)
            seen = [e.type async for e in api.follow_events(alignment_id)]
            final = await api.wait_for_alignment(alignment_id, poll_s=0.2)
            assert final.status == "evaluated" and seen[-1] == "completed" and "train_metrics" in seen
            model_id = final.data.model_id
            assert (await api.deploy(model_id)).status == "COMPLETED"
            reply = await api.chat(model_id, [{"role": "user", "content": "Who runs the ferry?"}],
                                   max_tokens=8, temperature=0)
            streamed = "".join([piece async for piece in api.chat_stream(
                model_id, [{"role": "user", "content": "Who runs the ferry?"}], max_tokens=8, temperature=0)])
            assert reply.confidence_score is not None
            assert (await api.undeploy(model_id)).status == "COMPLETED"
            saved = await api.download_model(model_id, "adapter", tmp_path)
            return reply.choices[0].message.content, streamed, saved.name

    # a thread of its own: Playwright's sync API (tests/browser) may hold an event loop in this one
    with ThreadPoolExecutor(1) as thread:
        answer, streamed, name = thread.submit(asyncio.run, scenario()).result()
    assert streamed == answer  # greedy: the stream and the whole answer are the same text
    assert name.endswith("-adapter.tar")
