"""The class answers live: N students answer one question within 10 s; how soon does the teacher see it all?

One `streamlit run app.py` server. The teacher's page (headless Chromium, 1280 x 720, projector
mode) starts a lesson. N student sessions, each its own Chromium context on the join page (real
sessions: the Streamlit page, its websocket, its fragment polling), answer the first question at
moments spread evenly over `--spread` seconds. Reported:
  - tally delay: from the last answer's click to the teacher's tally showing all N answers
    (target: under 2 s for 30 students within 10 s, on a 2-core machine);
  - each student's own wait: click to "Your answer: ..." on their phone (median, worst);
  - every answer counted: the teacher's bars against the answers given;
  - the server's CPU seconds and peak memory (VmHWM).
On one 2-core machine the N Chromium renderers run beside the server on the same cores (in class
they run on the students' phones), so these are upper bounds for the server's part.

Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/lesson_poll.py [--students 30] [--spread 10]
"""

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.classroom_load import cpu_seconds, peak_rss_mb  # noqa: E402
from kdviz.serve import running_app  # noqa: E402

KEY = "benchmark-teacher-key"
IDLE = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
TALLY = (
    "(() => { const p = [...document.querySelectorAll('.js-plotly-plot')].pop();"
    " return p && p.data ? p.data[0].y.map(Number) : []; })()"
)


async def loaded(page, url: str) -> None:
    await page.goto(url, timeout=180000)
    await page.wait_for_selector("[data-testid=stMain] h1", timeout=180000)
    await page.wait_for_function(IDLE, timeout=180000)


async def join(browser, url: str, gate: asyncio.Semaphore):
    """A student's phone on the join page, its first answer button shown (a few load at a time:
    30 renderers starting at once on 2 cores is not what a class does)."""
    async with gate:
        ctx = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await ctx.new_page()
        await loaded(page, url)
        await page.get_by_role("button", name="A. ").first.wait_for(timeout=60000)
        return ctx, page


async def answer(page, at: float, choice: int, clicks: list, waits: list, errors: list) -> None:
    try:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        start = time.perf_counter()
        await page.get_by_role("button", name=f"{'ABCD'[choice]}. ").first.click()
        clicks.append(time.perf_counter())
        await page.get_by_text("Your answer:").wait_for(timeout=30000)
        waits.append(time.perf_counter() - start)
    except Exception as e:  # count it and go on: a lost answer shows in the tally check too
        errors.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")


async def main(n: int, spread: float) -> None:
    chromium = os.environ.get("KDVIZ_CHROMIUM") or shutil.which("chromium")
    env = {**os.environ, "KDVIZ_TEACHER_KEY": KEY, "KDVIZ_CACHE_DIR": tempfile.mkdtemp(prefix="kdviz-poll-")}
    with running_app(env) as (url, server):
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            teacher = await (await browser.new_context(viewport={"width": 1280, "height": 720})).new_page()
            await loaded(teacher, f"{url}/Lesson?present=1&key={KEY}")
            await teacher.get_by_role("button", name="Start the lesson").click()
            await teacher.wait_for_function("location.search.includes('code=')", timeout=60000)
            code = (await teacher.evaluate("new URLSearchParams(location.search).get('code')")).strip()
            gate = asyncio.Semaphore(4)
            phones = await asyncio.gather(*(join(browser, f"{url}/Join?code={code}", gate) for _ in range(n)))
            cpu0 = cpu_seconds(server)
            clicks, waits, errors = [], [], []
            begin = time.perf_counter() + 1
            await asyncio.gather(
                *(
                    answer(page, begin + spread * i / n, i % 4, clicks, waits, errors)
                    for i, (_ctx, page) in enumerate(phones)
                )
            )
            last = max(clicks) if clicks else time.perf_counter()
            try:
                await teacher.wait_for_function(f"{TALLY}.reduce((a, b) => a + b, 0) >= {n}", timeout=30000)
                seen = time.perf_counter()
            except Exception:
                seen = float("nan")
            counts = await teacher.evaluate(TALLY)
            expected = [sum(1 for i in range(n) if i % 4 == c) for c in range(4)]
            cpu = cpu_seconds(server) - cpu0
            print(f"students {n}, answers spread over {spread:g} s, {os.cpu_count()} cores")
            print(f"tally complete {seen - last:.2f} s after the last answer (target < 2 s)")
            if waits:
                median, worst = statistics.median(waits), max(waits)
                print(f"a student's own wait: median {median:.2f} s, worst {worst:.2f} s")
            verdict = "all counted" if counts == expected else "MISMATCH"
            print(f"tally {counts}, answers given {expected}: {verdict}")
            print(f"errors {len(errors)}: {errors[:3]}")
            print(f"server CPU {cpu:.1f} s over the answering, peak memory {peak_rss_mb(server):.0f} MB")
            for ctx, _page in phones:
                await ctx.close()
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--spread", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.students, args.spread))
