"""Retake the README's screenshots (docs/*.png) against real MNIST and a cached default teacher.

Run: KDVIZ_DATA_DIR=../shared/data/mnist python docs/screenshots.py [--only temperature dark lab experiments]
It starts the app (kdviz.serve), drives headless Chromium (Playwright), trains the Lab's default
students and runs the quick experiments (about 5 minutes on a 2-core CPU).
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdviz.serve import running_app  # noqa: E402

SHOTS = ("temperature", "dark", "lab", "experiments")


def settle(page) -> None:
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120000)
    page.wait_for_timeout(2000)


def shoot(page, name: str) -> None:
    settle(page)
    page.screenshot(path=str(ROOT / "docs" / f"{name}.png"))


def main(only: list[str]) -> None:
    chromium = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium")
    with running_app() as (url, _pid), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        # Streamlit scrolls inside its own container, so a shot is only as tall as the window:
        # each page gets a window tall enough for what it shows.
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        if "temperature" in only:
            page.goto(url + "/Temperature?T=12")  # a shared link as the first visit
            page.wait_for_selector(".js-plotly-plot", timeout=60000)
            shoot(page, "temperature")
        if "dark" in only:
            page.goto(url + "/Dark_Knowledge")
            page.wait_for_selector(".js-plotly-plot", timeout=120000)
            shoot(page, "dark-knowledge")
        if "lab" in only:
            page.set_viewport_size({"width": 1400, "height": 2300})
            page.goto(url + "/Distillation_Lab")
            page.get_by_role("button", name="Train students").click(timeout=120000)
            page.get_by_text("The distilled student made").wait_for(timeout=600000)
            shoot(page, "lab")
        if "experiments" in only:
            page.set_viewport_size({"width": 1400, "height": 4300})
            page.goto(url + "/Experiments")
            page.get_by_role("button", name="Run experiments").click(timeout=60000)
            done = page.get_by_text("Done:")
            done.wait_for(timeout=1800000)
            print(done.inner_text())  # the run's own account of its time
            shoot(page, "experiments")
        browser.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="+", choices=SHOTS, default=list(SHOTS))
    main(ap.parse_args().only)
