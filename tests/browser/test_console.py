"""The web console in real Chromium: sign in, upload, align, watch it live, read the result, deploy, chat."""

from __future__ import annotations

import re
import tarfile

import pytest
from playwright.sync_api import Page, expect

from domalign.demo.run import CORPUS

pytestmark = pytest.mark.browser

DROP = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, { type: "text/markdown" }));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"])
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
}"""


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(url)
    page.fill("#api-key", key)
    page.click("#sign-in")
    expect(page.locator("main h1")).to_have_text("Documents")


def test_whole_path_from_upload_to_chat(server, page: Page, shot, tmp_path):
    key = server.create_user("browser")
    page.goto(server.url)
    page.fill("#api-key", "not-a-key")
    page.click("#sign-in")
    expect(page.locator("#login-error")).to_contain_text("not valid")
    shot("01-sign-in")
    sign_in(page, server.url, key)

    # documents: one dropped, the rest chosen, plus one the server must refuse
    first, *rest = sorted(CORPUS.glob("*.md"))
    page.evaluate(DROP, [first.name, first.read_text()])
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ\x90\x00 not a document")
    page.set_input_files("#file-input", [str(p) for p in rest] + [str(bad)])
    for path in [first, *rest]:
        expect(page.locator(f'#uploads li[data-file="{path.name}"]')).to_contain_text("ready")
    expect(page.locator('#uploads li[data-file="tool.exe"]')).to_contain_text("failed: 415")
    expect(page.locator("#documents tbody tr")).to_have_count(4)
    shot("02-documents")

    # a new alignment on the tiny model
    page.click('nav a[data-view="alignments"]')
    page.fill("#align-name", "from the browser")
    page.select_option("#base-model", "tiny-llama")
    page.fill("#max-steps", "20")
    page.fill("#bench-questions", "4")
    expect(page.locator(".checklist input:checked")).to_have_count(4)
    shot("03-new-alignment")
    page.click("#create")
    page.wait_for_url(re.compile(r"#/alignments/alignment_\w+$"))
    alignment_id = page.url.rsplit("/", 1)[1]
    status = page.locator("#alignment-header .badge")
    expect(status).not_to_have_text("")
    assert status.inner_text() in ("pending", "evaluating"), "the page should open on a running job"
    shot("04-running")

    # it updates by itself until the end: no reload from here on
    expect(status).to_have_text("evaluated", timeout=240_000)
    expect(page.locator("#progress-text")).to_have_text("100%")
    expect(page.locator("#event-log tr[data-type=completed]")).to_have_count(1)
    assert page.locator("#event-log tr[data-type=stage_started]").count() >= 5
    assert page.locator("#event-log tr[data-type=train_metrics]").count() == 2  # every 10 steps of 20
    expect(page.locator("#loss-chart path.series-train")).to_have_count(1)
    expect(page.locator("#loss-chart circle")).not_to_have_count(0)  # the final validation loss, at least
    expect(page.locator("#alignment-header")).not_to_contain_text("null")
    expect(page.locator("#metric-charts svg")).to_have_count(3)
    expect(page.locator("#flips")).to_contain_text("4 questions")
    shot("05-result")

    with page.expect_download() as info:
        page.click('button[data-format="adapter"]')
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    with tarfile.open(saved) as archive:
        assert any(name.endswith("adapter_model.safetensors") for name in archive.getnames())

    page.click('#deployment button[data-action="deploy"]')
    expect(page.locator("#deployment .badge")).to_have_text("DEPLOYED", timeout=60_000)
    expect(page.locator("#deployment")).not_to_contain_text("false")
    model_id = page.locator("#deployment .open-chat").get_attribute("href").rsplit("/", 1)[1]
    assert model_id.startswith("model")

    # chat: streamed, with confidence; grounded, with the cited passages
    page.click("#deployment .open-chat")
    expect(page.locator("#chat-model")).to_have_value(model_id)
    page.fill("#chat-input", "How long do refunds take?")
    page.click("#send")
    expect(page.locator(".msg.assistant .confidence")).to_have_count(1, timeout=60_000)
    page.click("#new-chat")
    expect(page.locator(".msg")).to_have_count(0)
    page.check("#grounded")
    page.fill("#chat-input", "How much does the Islander Pass cost?")
    page.click("#send")
    answer = page.locator(".msg.assistant")
    expect(answer.locator(".confidence")).to_have_count(1, timeout=60_000)
    assert answer.locator(".citation").count() >= 1
    expect(answer.locator(".citation").first).to_contain_text("Islander Pass")
    shot("06-chat")

    # the models page takes it out of serving
    page.click('nav a[data-view="models"]')
    row = page.locator(f'tr[data-id="{model_id}"]')
    row.locator('button[data-action="undeploy"]').click()
    expect(row.locator(".badge")).to_have_text("UNDEPLOYED", timeout=60_000)
    shot("07-models")

    # another user sees nothing of it
    page.click("#sign-out")
    sign_in(page, server.url, server.create_user("browser-other"))
    page.goto(f"{server.url}/#/alignments/{alignment_id}")
    expect(page.locator("#view-error")).to_contain_text("404")


def test_page_and_assets_are_served_without_a_key(server, page: Page):
    response = page.goto(server.url)
    assert response is not None and response.status == 200
    expect(page.locator("#api-key")).to_be_visible()
    for asset in ("app.js", "api.js", "charts.js", "style.css"):
        assert page.request.get(f"{server.url}/console/{asset}").status == 200
    assert page.request.get(f"{server.url}/console/missing.js").status == 404
