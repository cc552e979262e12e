"""Benchmark: how fast the Temperature page responds to a T move.

1. Server side: median time of one AppTest rerun of pages/1_Temperature.py after moving T.
2. Browser: time from the key press that moves T to the new chart on screen, in headless
   Chromium against `streamlit run app.py` (skipped if Chromium/Playwright are missing).

Targets on a 2-core machine: rerun median < 100 ms, browser update < 300 ms.
Run: python benchmarks/temperature_page.py
"""

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdviz.serve import running_app  # noqa: E402


def server_side(n: int = 30) -> list[float]:
    at = AppTest.from_file(str(ROOT / "pages/1_Temperature.py"), default_timeout=60).run()
    options = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    times = []
    for i in range(n):
        at.select_slider[0].set_value(options[i % len(options)])
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception
    return times


def browser(n: int = 15) -> list[float] | None:
    chromium = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not chromium:
        return None
    with running_app() as (url, _pid):
        times = []
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = b.new_page()
            page.goto(url + "/Temperature")
            page.wait_for_selector(".js-plotly-plot", timeout=30000)
            slider = page.get_by_role("slider").first
            for i in range(n):
                js = "JSON.stringify(document.querySelectorAll('.js-plotly-plot')[0].data[1].y)"
                before = page.evaluate(js)
                slider.focus()
                start = time.perf_counter()
                page.keyboard.press("ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft")
                page.wait_for_function(f"{js} !== {before!r}", timeout=10000)
                times.append(time.perf_counter() - start)
            b.close()
        return times


def report(name: str, times: list[float] | None, target_ms: float) -> None:
    if not times:
        print(f"{name}: skipped (no Chromium/Playwright)")
        return
    med, worst = statistics.median(times) * 1000, max(times) * 1000
    verdict = "OK" if med < target_ms else "SLOW"
    print(
        f"{name}: median {med:.0f} ms, worst {worst:.0f} ms over {len(times)} moves "
        f"(target < {target_ms:.0f} ms: {verdict})"
    )


if __name__ == "__main__":
    report("server rerun after a T move", server_side(), 100)
    report("browser: key press to new chart", browser(), 300)
