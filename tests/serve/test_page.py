"""The web page in a real headless Chromium (Debian's chromium driven by Playwright): enrol with the token,
identify an uploaded walk, the webcam path (Chromium's fake camera) with the skeleton overlay, delete (by id:
the name has a `/`)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.serve.conftest import TOKEN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI") == "true":
    raise RuntimeError("CI needs Debian's chromium (.ci/run installs it)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")


def test_page_enrol_identify_webcam_delete(server, videos):
    from playwright.sync_api import sync_playwright

    person = sorted(videos)[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
        )
        page = browser.new_page()
        page.on("dialog", lambda d: d.accept())
        page.goto(f"{server}/")
        assert page.title() == "Gait recognition"

        # admin: a wrong token is refused, the right one enrols
        page.fill("#token", "wrong-token-0123456789")
        page.click("#list-btn")
        page.wait_for_selector("#admin-status.error")
        assert "401" in page.text_content("#admin-status")
        page.fill("#token", TOKEN)
        page.fill("#enrol-name", "page/walker")
        page.set_input_files("#enrol-files", [str(v) for v in videos[person][:2]])
        page.click("#enrol-btn")
        settled = "(s => s.startsWith('Enrolled') || s.startsWith('Could'))"
        page.wait_for_function(f"{settled}(document.getElementById('admin-status').textContent)", timeout=120_000)
        assert page.text_content("#admin-status").startswith("Enrolled page/walker"), page.text_content("#admin-status")
        page.wait_for_selector("#people button[data-name='page/walker']")

        # identify an uploaded walk: the answer and the top-k table
        page.set_input_files("#video-file", str(videos[person][2]))
        page.click("#identify-btn")
        page.wait_for_function("document.getElementById('status').textContent === 'Done.'", timeout=120_000)
        assert page.text_content("#identity")
        assert ", a name from 0.5, " in page.text_content("#similarity")  # the tiny model was never evaluated
        assert "no evaluation" in page.get_attribute("#similarity", "title")
        assert page.locator("#topk tbody tr").count() >= 1
        # every person found is listed and boxed over the video with their answer
        assert page.locator("#people-found tbody tr").count() == 1
        page.wait_for_function("document.getElementById('boxes').dataset.people === '1'", timeout=30_000)

        # the webcam: Chromium's fake camera (a test pattern, nobody walking) → frames sent, a clear answer
        page.click("#camera-btn")
        page.wait_for_selector("text=Camera on.")
        page.click("#record-btn")
        page.wait_for_function(
            "(s => s === 'Done.' || s.startsWith('Could not identify'))(document.getElementById('status').textContent)",
            timeout=120_000,
        )
        assert "500" not in page.text_content("#status")
        page.wait_for_function("document.getElementById('overlay').dataset.joints === '16'", timeout=60_000)

        # delete through the admin view
        page.click("#people button[data-name='page/walker']")
        page.wait_for_selector("text=Deleted page/walker", timeout=60_000)
        assert page.locator("#people button[data-name='page/walker']").count() == 0
        browser.close()
