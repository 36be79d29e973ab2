"""Two machines' blob stores sharing one S3 bucket (a real S3-compatible server over HTTP)."""

from __future__ import annotations

import pytest

from domalign.store.blobs import BlobStore
from domalign.store.remote import RemoteStore

pytestmark = pytest.mark.s3


@pytest.fixture
def machines(s3, tmp_path, request):
    """Blob stores of two machines: their own local folders, one bucket prefix."""
    prefix = f"{s3.url}/{request.node.name}"
    return (BlobStore(tmp_path / "a", RemoteStore(prefix, s3.options)),
            BlobStore(tmp_path / "b", RemoteStore(prefix, s3.options)))


def test_a_file_written_on_one_machine_is_read_on_the_other(machines):
    a, b = machines
    assert not b.exists("jobs/x/report.json")
    a.write_json("jobs/x/report.json", {"accuracy": 0.5})
    assert b.exists("jobs/x/report.json") and b.read_json("jobs/x/report.json") == {"accuracy": 0.5}
    assert not (b.root / "jobs/x/report.json").exists()  # read from the bucket, not from b's folder
    a.write_json("jobs/x/report.json", {"accuracy": 0.75})  # rewritten: b sees the new version
    assert b.read_json("jobs/x/report.json") == {"accuracy": 0.75}
    a.delete("jobs/x")
    assert not b.exists("jobs/x/report.json")
    with pytest.raises(FileNotFoundError):
        b.read_bytes("jobs/x/report.json")


def test_a_published_folder_is_fetched_whole_and_a_partial_one_not_at_all(machines):
    a, b = machines
    folder = a.path("jobs/x/adapter")
    (folder / "sub").mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"\x00" * 1000)
    (folder / "sub" / "config.json").write_text("{}")
    assert not b.fetch("jobs/x/adapter").exists()  # not published yet
    a.publish("jobs/x/adapter")
    got = b.fetch("jobs/x/adapter")
    assert got == b.path("jobs/x/adapter")
    assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()) == [
        "adapter_model.safetensors", "sub/config.json"]
    assert (got / "adapter_model.safetensors").read_bytes() == b"\x00" * 1000

    # an upload cut short (no completion mark) is invisible to readers
    a.remote.put_bytes("jobs/y/adapter/adapter_model.safetensors", b"half")
    assert not b.fetch("jobs/y/adapter").exists()


def test_checkpoints_mirror_new_and_pruned_subfolders(machines):
    a, b = machines
    root = a.path("jobs/x/checkpoints")
    for step in (1, 2):
        (root / f"step-{step}").mkdir(parents=True)
        (root / f"step-{step}" / "state.json").write_text(f'{{"step": {step}}}')
    a.publish_each("jobs/x/checkpoints")
    (root / "step-1" / "state.json").unlink()
    (root / "step-1").rmdir()  # pruned, as the trainer keeps the newest two
    (root / "step-3").mkdir()
    (root / "step-3" / "state.json").write_text('{"step": 3}')
    a.publish_each("jobs/x/checkpoints")

    assert a.remote.subfolders("jobs/x/checkpoints") == ["step-2", "step-3"]
    fetched = b.fetch_each("jobs/x/checkpoints")
    assert sorted(p.name for p in fetched.iterdir()) == ["step-2", "step-3"]
    assert (fetched / "step-3" / "state.json").read_text() == '{"step": 3}'
