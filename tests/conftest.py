"""Shared fixtures: a tiny random llama, and a real server process talking real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from domalign.models.tiny import build_tiny_llama

UPLOAD_LIMIT_MB = 1


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    home: Path
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run the real ``domalign`` command against this server's home."""
        return subprocess.run([sys.executable, "-m", "domalign", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)

    def create_user(self, name: str) -> str:
        result = self.cli("users", "create", name)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def client(self, api_key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=f"{self.url}/api/v3", headers=headers, timeout=60)


POSTGRES_URL = os.environ.get("DOMALIGN_TEST_POSTGRES_URL")
"""When set (``scripts/postgres.sh`` prints one), every test server runs on PostgreSQL instead of SQLite."""


def _postgres(sql: str, **params: str) -> list:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql), params)
            return list(result.scalars()) if result.returns_rows else []
    finally:
        engine.dispose()


def database_env(home: Path) -> dict[str, str]:
    """A server home's own PostgreSQL database (made on first use, so a restarted server finds its data)."""
    if not POSTGRES_URL:
        return {}
    name = f"test_{os.getpid()}_{hashlib.sha256(str(home).encode()).hexdigest()[:12]}"
    if not _postgres("SELECT 1 FROM pg_database WHERE datname = :name", name=name):
        _postgres(f'CREATE DATABASE "{name}"')
    return {"DOMALIGN_DATABASE_URL": make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)}


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Drop this session's databases at the end (the servers are stopped by then)."""
    yield
    if POSTGRES_URL:
        for name in _postgres("SELECT datname FROM pg_database WHERE datname LIKE :p", p=f"test_{os.getpid()}_%"):
            _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server(home: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Server]:
    env = {**os.environ, "DOMALIGN_HOME": str(home), "DOMALIGN_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB),
           "DOMALIGN_WORKER_POLL_S": "0.2", "HF_HUB_OFFLINE": "1",
           # fp32 serving, so exports loaded back in fp32 must answer exactly as served (bf16: test_serving)
           "DOMALIGN_SERVE_PRECISION": "fp32", **database_env(home), **(extra_env or {})}
    port = _free_port()
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "domalign", "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, Server(url, home, env)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError((home / "server.log").read_text())


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("home")
    proc, srv = start_server(home)
    added = srv.cli("models", "add", "tiny-llama", str(tiny_model_dir))
    assert added.returncode == 0, added.stderr
    yield srv
    stop_server(proc)


@pytest.fixture(scope="session")
def user_key(server: Server) -> str:
    return server.create_user("alice")


@pytest.fixture(scope="session")
def other_key(server: Server) -> str:
    return server.create_user("mallory")


@pytest.fixture()
def api(server: Server, user_key: str) -> Iterator[httpx.Client]:
    with server.client(user_key) as client:
        yield client


@pytest.fixture()
def other_api(server: Server, other_key: str) -> Iterator[httpx.Client]:
    with server.client(other_key) as client:
        yield client


def upload_corpus(client: httpx.Client) -> list[str]:
    """Upload the demo corpus (four short documents) for the client's user; return the document ids."""
    from domalign.demo.run import CORPUS

    files = [("files", (p.name, p.read_bytes(), "text/markdown")) for p in sorted(CORPUS.glob("*.md"))]
    response = client.post("/documents", files=files)
    assert response.status_code == 200, response.text
    return response.json()["document_ids"]


@pytest.fixture(scope="session")
def corpus_ids(server: Server, user_key: str) -> list[str]:
    """The demo corpus uploaded once for alice."""
    with server.client(user_key) as client:
        return upload_corpus(client)


def wait_for(predicate: Callable[[], object], timeout: float = 120, interval: float = 0.3) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@dataclass
class S3:
    """A real S3-compatible HTTP server (moto's) with one bucket, and the settings that point at it."""

    url: str
    options: dict[str, str]

    def env(self, prefix: str) -> dict[str, str]:
        return {"DOMALIGN_BLOB_URL": f"{self.url}/{prefix}", "DOMALIGN_BLOB_OPTIONS": json.dumps(self.options),
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "test", "secret": "test"}
    httpx.put(f"http://127.0.0.1:{port}/domalign-test").raise_for_status()  # create the bucket
    try:
        yield S3("s3://domalign-test", options)
    finally:
        server.stop()


def align(client: httpx.Client, body: dict, timeout: float = 300) -> tuple[str, dict]:
    """Create an alignment and wait until it ends; it must end evaluated. Returns (id, final status)."""
    created = client.post("/alignment/create", json=body)
    assert created.status_code == 201, created.text
    alignment_id = created.json()["id"]
    final = wait_for(lambda: (s := client.get(f"/alignment/status/{alignment_id}").json())["status"]
                     in ("evaluated", "failed") and s, timeout=timeout, interval=1)
    assert final["status"] == "evaluated", final["data"]["error"]
    return alignment_id, final
