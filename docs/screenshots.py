"""Retake the README's screenshots (docs/*.png, docs/lesson/*.png) against real MNIST.

Run: KDVIZ_DATA_DIR=../shared/data/mnist python docs/screenshots.py [--only temperature ... lesson]
It starts the app (kdviz.serve), drives headless Chromium (Playwright), trains the Lab's default
students and runs the quick experiments (about 5 minutes on a 2-core CPU). `lesson` teaches the
whole lesson in English, then in Chinese, on a 1280 x 720 projector with three students on phones:
the main table runs first (stored for the lesson), the races train when their step opens the Lab.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdviz import i18n  # noqa: E402
from kdviz.lesson import STEPS, marks  # noqa: E402
from kdviz.serve import running_app  # noqa: E402

SHOTS = ("temperature", "dark", "lab", "experiments", "lesson")
KEY = "screenshots-teacher-key"


def settle(page) -> None:
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120000)
    page.wait_for_timeout(2000)


def shoot(page, name: str) -> None:
    settle(page)
    page.screenshot(path=str(ROOT / "docs" / f"{name}.png"))


def say(lang: str, message: str) -> str:
    return message if lang == "en" else i18n._catalog(lang).gettext(message)


def click(page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    settle(page)


def teach(browser, url: str, lang: str, train: bool) -> None:
    """The whole lesson: three students answer each question, races train when their step opens
    the Lab (`train`), every step is revealed and shot as the projector shows it."""
    teacher = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    teacher.goto(f"{url}/Lesson?lang={lang}&present=1&key={KEY}")
    teacher.get_by_role("button", name=say(lang, "Start the lesson")).click(timeout=120000)
    teacher.wait_for_function("location.search.includes('code=')", timeout=60000)
    code = teacher.evaluate("new URLSearchParams(location.search).get('code')")
    phones = [browser.new_context(viewport={"width": 390, "height": 844}).new_page() for _ in range(3)]
    for phone in phones:
        phone.goto(f"{url}/Join?code={code}&lang={lang}")
    (ROOT / "docs" / "lesson").mkdir(exist_ok=True)
    for i, step in enumerate(STEPS):
        for j, phone in enumerate(phones):
            phone.get_by_text(say(lang, "Question {i} of {n}").format(i=i + 1, n=len(STEPS))).wait_for(
                timeout=60000
            )
            if step.choices:
                k = (j + i) % len(step.choices)
                mark = marks(step)[k]
                name = mark if mark == step.choices[k] else re.compile(rf"^{mark}\. ")
                phone.get_by_role("button", name=name).first.click()
            else:
                phone.get_by_role("textbox").last.fill(str([40, 75, 120][j] if i == 1 else [50, 200, 90][j]))
                click(phone, say(lang, "Send"))
        teacher.get_by_text(say(lang, "{n} answers").format(n=3)).wait_for(timeout=30000)
        if train and step.needs == "race":
            click(teacher, say(lang, "Open the page for this question"))
            teacher.get_by_role("button", name=say(lang, "Train students"), exact=True).click(timeout=120000)
            teacher.get_by_text(say(lang, "3. Results (this session)")).wait_for(timeout=600000)
            teacher.locator("[data-testid=stExpandSidebarButton]").click()
            teacher.get_by_role("link", name=say(lang, "Lesson")).click()
            settle(teacher)
            teacher.locator("[data-testid=stSidebarCollapseButton]").click()
        click(teacher, say(lang, "Reveal"))
        teacher.evaluate("document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
        settle(teacher)
        teacher.screenshot(path=str(ROOT / "docs" / "lesson" / f"{lang}-{i + 1}-{step.id}.png"))
        shown = teacher.locator("[data-testid=stAlertContainer]").first.inner_text()
        print(lang, i + 1, step.id, shown.replace("\n", " ")[:240])
        if i < len(STEPS) - 1:
            click(teacher, say(lang, "Next question"))
    for p in (teacher, *phones):
        p.context.close()


def main(only: list[str]) -> None:
    chromium = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium")
    # a class history of its own: the lesson's reveals read this run's races, no one else's
    env = {**os.environ, "KDVIZ_TEACHER_KEY": KEY, "KDVIZ_CACHE_DIR": tempfile.mkdtemp(prefix="kdviz-docs-")}
    with running_app(env) as (url, _pid), sync_playwright() as p:
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
        if "lesson" in only:
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.goto(url + "/Experiments?preset=quick&only=main,omit3")  # stored for the lesson
            page.get_by_role("button", name="Run experiments").click(timeout=60000)
            page.get_by_text("Done:").wait_for(timeout=1800000)
            teach(browser, url, "en", train=True)
            teach(browser, url, "zh", train=False)  # the races just run are the class's, shown again
        browser.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="+", choices=SHOTS, default=list(SHOTS))
    main(ap.parse_args().only)
