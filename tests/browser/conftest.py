"""The browser tests' server (the real app on tiny data) and headless Chromium (Playwright)."""

import os

import pytest

from tests.browser.helpers import CHROMIUM, TEACHER_KEY


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from kdviz.serve import running_app
    from tests.conftest import write_synthetic_mnist

    data = write_synthetic_mnist(tmp_path_factory.mktemp("mnist"), n_train=3000, n_test=500)
    env = {
        **os.environ,
        "KDVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "KDVIZ_DATA_DIR": str(data),
        "KDVIZ_EXPERIMENTS_PRESET": "tiny",  # the Experiments page offers a seconds-long preset
        "KDVIZ_TEACHER_KEY": TEACHER_KEY,
    }
    with running_app(env) as (url, _pid):
        yield url


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
