"""Walk the web console through the demo with the embedded model and save a screenshot of every step.

    DOMALIGN_HOME=$(mktemp -d) .venv/bin/python scripts/console_screenshots.py docs/img

It starts its own server (as ``domalign demo`` does), then does in headless Chromium what a user
would: upload the sample corpus, align SmolLM2-135M-Instruct on it (150 steps, as the demo), watch
it, deploy the result and chat with it, plain and grounded. About 7 minutes on a 2-core CPU.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from domalign.demo.run import CORPUS, local_server
from domalign.models.embedded import EMBEDDED_MODEL_ID


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with local_server() as (url, key), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)

        def shot(name: str) -> None:
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            print(f"{time.monotonic() - started:6.0f} s  {name}", flush=True)

        page.goto(url)
        shot("console-1-sign-in")
        page.fill("#api-key", key)
        page.click("#sign-in")
        page.set_input_files("#file-input", [str(p) for p in sorted(CORPUS.glob("*.md"))])
        expect(page.locator("#uploads li .ok")).to_have_count(4)
        shot("console-2-documents")

        page.click('nav a[data-view="alignments"]')
        page.fill("#align-name", "Quillmere ferries")
        page.select_option("#base-model", EMBEDDED_MODEL_ID)
        page.fill("#max-steps", "150")
        page.fill("#bench-questions", "40")
        shot("console-3-new-alignment")
        page.click("#create")
        expect(page.locator("#event-log tr[data-type=train_metrics]")).to_have_count(8, timeout=900_000)
        shot("console-4-training")
        expect(page.locator("#alignment-header .badge")).to_have_text("evaluated", timeout=900_000)
        expect(page.locator("#flips")).to_be_visible()
        shot("console-5-result")

        page.click('#deployment button[data-action="deploy"]')
        page.click("#deployment .open-chat")
        for grounded, question in ((False, "Who founded the Quillmere Ferry Cooperative?"),
                                   (True, "How much does the Islander Pass cost?")):
            if grounded:
                page.check("#grounded")
            page.fill("#chat-input", question)
            page.click("#send")
            expect(page.locator(".msg.assistant .confidence")).to_have_count(1 + grounded, timeout=120_000)
        shot("console-6-chat")
        page.click('nav a[data-view="models"]')
        expect(page.locator("tbody .badge")).to_have_text("DEPLOYED")
        shot("console-7-models")
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
