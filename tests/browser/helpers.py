"""What the browser tests share: where Chromium is, the teacher's key, waiting for a page to settle."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
TEACHER_KEY = "browser-test-key"
BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM, reason="no Chromium found (apt-get install -y chromium, or set KDVIZ_CHROMIUM)"
    ),
]


def wait_idle(page) -> None:
    """Wait until Streamlit has no script run in flight (its status widget is gone), then settle."""
    page.wait_for_timeout(300)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30000)
    page.wait_for_timeout(700)


def open_page(page, url: str) -> None:
    """Go to `url` and wait until the page's script has drawn it (a title or a widget) and settled."""
    page.goto(url)
    page.wait_for_selector(
        "[data-testid=stMain] h1, [data-testid=stMain] [data-testid=stWidgetLabel]", timeout=60000
    )
    wait_idle(page)
