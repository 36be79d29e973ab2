"""Authentication and the server's public routes, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

PROTECTED = [
    ("GET", "/documents"), ("POST", "/documents"), ("GET", "/documents/doc_x"),
    ("GET", "/benchmark/list"), ("POST", "/benchmark/create"), ("GET", "/benchmark/status/benchmark_x"),
    ("GET", "/alignment"), ("POST", "/alignment/create"), ("GET", "/alignment/status/alignment_x"),
    ("GET", "/alignment-project/status/alignment_x"), ("POST", "/alignment/alignment_x/cancel"),
    ("GET", "/alignment/alignment_x/events"), ("GET", "/models/base"),
]


@pytest.mark.parametrize("method,path", PROTECTED)
def test_every_route_needs_a_valid_key(server, method, path):
    for key in (None, "da_not-a-real-key"):
        with server.client(key) as client:
            response = client.request(method, path)
        assert response.status_code == 401, (method, path, key, response.text)
        assert "API key" in response.json()["detail"]


def test_health_openapi_and_docs_are_public(server):
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert "/api/v3/alignment/status/{alignment_id}" in spec["paths"]
    assert "/api/v3/alignment-project/status/{alignment_id}" in spec["paths"]
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_user_names_are_unique(server, user_key):
    again = server.cli("users", "create", "alice")
    assert again.returncode == 5
    assert "already exists" in again.stderr


def test_base_model_catalog_lists_embedded_and_registered(api):
    models = {m["id"]: m for m in api.get("/models/base").json()["models"]}
    assert models["smollm2-135m-instruct"]["alignment_ready"] is True
    assert models["smollm2-135m-instruct"]["parameters"] == 134_515_008
    assert models["tiny-llama"]["parameters"] > 1_000_000


def test_models_add_rejects_a_folder_without_a_model(server, tmp_path):
    result = server.cli("models", "add", "broken", str(tmp_path))
    assert result.returncode == 2
    assert "config.json" in result.stderr
